// `warden chaos` end to end: the real binary runs short scenarios against 3-node clusters
// it starts itself (docs/chaos.md). Each test reads the run directory it wrote and checks
// the verdict against what the files show: the ledger's own file for lost ids, the
// nodes' logs for claims, events and restarts. Seeds are fixed in the scenarios; a failing
// test prints the tool's summary (with the seed and the rerun command).
//
// Numbered from simple to complex: 1 bad input, 2 verdicts that must fail, 3 a service
// actor killed by its child path, and kill -9 of the ledger's node, 4 SIGSTOP of it, 5 a partition that leaves it in the minority (the
// oracle of "I am active" claims), then heal and rejoin; 6 a cluster the tool did not start;
// 7 an overload of a regulated service.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "support/node_cluster.hpp"
#include "warden_process.hpp"

namespace {

using namespace warden::it;

// The ledger lands on n3 of n1..n3 in every run: placement hashes names.
constexpr const char* ledger_owner = "n3";

constexpr const char* tree_text = R"(
name = "app"

[[children]]
id = "worker"
service = "echo"

[[children]]
id = "ledger"
service = "ledger"
name = "ledger"
cluster = "singleton"

[[children]]
id = "echo"
service = "echo"
name = "echo"
cluster = "spread"
instances = 3
)";

/// A scenario of `duration_s` over 3 nodes with the ledger and echo as hypothesis and
/// workload; `rest` adds bounds and faults.
std::string scenario(int duration_s, const std::string& rest) {
  return "name = \"test\"\nseed = 11\nduration_s = " + std::to_string(duration_s) + R"(
[cluster]
nodes = 3
tree = "tree.toml"
[hypothesis]
services = ["ledger", "echo"]
settle_s = 10
[workload]
services = ["ledger", "echo"]
rate_per_s = 100
)" + rest;
}

std::vector<json> read_jsonl(const std::string& path) {
  std::vector<json> out;
  std::ifstream in{path};
  std::string line;
  while (std::getline(in, line))
    if (!line.empty())
      out.push_back(json::parse(line));
  return out;
}

json read_json(const std::string& path) {
  std::ifstream in{path};
  return json::parse(in);
}

std::string read_text(const std::string& path) {
  std::ifstream in{path};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const json* check(const json& results, const std::string& prefix) {
  for (auto& c : results["checks"])
    if (c["name"].get<std::string>().starts_with(prefix))
      return &c;
  return nullptr;
}

/// One `warden chaos` run in a fresh directory.
struct chaos_run {
  temp_dir dir;
  std::optional<int> rc;
  std::string out;

  explicit chaos_run(const std::string& scenario_text, std::vector<std::string> extra = {},
                     const std::string& tree = tree_text) {
    dir.write("tree.toml", tree);
    auto file = dir.write("scenario.toml", scenario_text);
    std::vector<std::string> args{"chaos", file, "--out", dir.file("out"), "--quiet"};
    args.insert(args.end(), extra.begin(), extra.end());
    warden_process p{args};
    rc = p.wait(180s);
    out = p.out() + p.err();
  }

  std::string file(const std::string& name) const { return dir.file("out/" + name); }
  json results() const { return read_json(file("results.json")); }

  /// The ids of ok answers from `service`, from history.jsonl.
  std::set<uint64_t> acknowledged(const std::string& service) const {
    std::set<uint64_t> out;
    for (auto& op : read_jsonl(file("history.jsonl")))
      if (op["kind"] == "ok" && op["service"] == service)
        out.insert(op["id"].get<uint64_t>());
    return out;
  }

  /// The ids in the ledger's own file (the resource, not the tool's read of it).
  std::set<uint64_t> stored(std::string data_dir = {}) const {
    if (data_dir.empty())
      data_dir = file("data");
    std::set<uint64_t> out;
    std::ifstream in{data_dir + "/ledger.ids"};
    uint64_t id = 0;
    while (in >> id)
      out.insert(id);
    return out;
  }

  /// (node, epoch) of every claim of the ledger, in the order the samples first show it.
  std::vector<std::pair<std::string, uint64_t>> ledger_claims() const {
    std::vector<std::pair<std::string, uint64_t>> out;
    for (auto& s : read_jsonl(file("copies.jsonl"))) {
      if (s["key"] != "ledger")
        continue;
      for (size_t i = 0; i < s["nodes"].size(); ++i) {
        std::pair claim{s["nodes"][i].get<std::string>(), s["epochs"][i].get<uint64_t>()};
        if (std::find(out.begin(), out.end(), claim) == out.end())
          out.push_back(claim);
      }
    }
    return out;
  }

  /// Events named `name` about `node`.
  std::vector<json> events(const std::string& name, const std::string& node) const {
    std::vector<json> out;
    for (auto& e : read_jsonl(file("events.jsonl")))
      if (e["name"] == name && e["node"] == node)
        out.push_back(e);
    return out;
  }
};

/// Every id acknowledged to the workload is in the ledger's file, and the tool says so.
void expect_nothing_lost(const chaos_run& run, const std::string& data_dir = {}) {
  auto acked = run.acknowledged("ledger");
  auto stored = run.stored(data_dir);
  EXPECT_GT(acked.size(), 100u) << run.out;
  std::vector<uint64_t> lost;
  std::set_difference(acked.begin(), acked.end(), stored.begin(), stored.end(),
                      std::back_inserter(lost));
  EXPECT_TRUE(lost.empty()) << lost.size() << " acknowledged ids missing from the file\n" << run.out;
  auto r = run.results();
  auto* c = check(r, "lost_acknowledged");
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE((*c)["ok"].get<bool>()) << (*c)["detail"];
}

/// The ledger ran on n3 first, then on another node with a higher epoch.
void expect_ledger_moved_off_the_owner(const chaos_run& run) {
  auto claims = run.ledger_claims();
  ASSERT_GE(claims.size(), 2u) << run.out;
  EXPECT_EQ(claims[0].first, ledger_owner);
  EXPECT_NE(claims[1].first, ledger_owner);
  EXPECT_GT(claims[1].second, claims[0].second);
}

// --- 1. bad input ------------------------------------------------------------------------

TEST(chaos_1, bad_scenario_exits_2_with_file_line_and_field) {
  chaos_run run{scenario(5, "[[faults]]\nat_s = 1\nkind = \"kill_node\"\nnode = \"n7\"\n")};
  EXPECT_EQ(run.rc, 2) << run.out;
  EXPECT_NE(run.out.find("scenario.toml:"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("n7"), std::string::npos) << run.out;
  EXPECT_FALSE(std::filesystem::exists(run.file("results.json")));
}

TEST(chaos_1, kill_service_of_a_child_the_tree_lacks_exits_2_naming_it) {
  chaos_run run{scenario(5, "[[faults]]\nat_s = 1\nkind = \"kill_service\"\nnode = \"n1\"\n"
                            "service = \"app/nobody\"\n")};
  EXPECT_EQ(run.rc, 2) << run.out;
  EXPECT_NE(run.out.find("kill_service at 1000 ms"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("nobody"), std::string::npos) << run.out;
  EXPECT_FALSE(std::filesystem::exists(run.file("results.json")));
}

TEST(chaos_1, overload_of_a_service_the_tree_lacks_exits_2_naming_it) {
  chaos_run run{scenario(5, "[[faults]]\nat_s = 1\nkind = \"overload\"\nservice = \"nobody\"\n"
                            "rate_per_s = 100\nfor_s = 1\n")};
  EXPECT_EQ(run.rc, 2) << run.out;
  EXPECT_NE(run.out.find("overload at 1000 ms: service \"nobody\" is not a cluster service"),
            std::string::npos)
    << run.out;
  EXPECT_FALSE(std::filesystem::exists(run.file("results.json")));
}

// --- 2. verdicts that must fail ----------------------------------------------------------

TEST(chaos_2, a_hypothesis_that_cannot_hold_fails_before_any_fault) {
  auto text = scenario(5, "[[faults]]\nat_s = 1\nkind = \"kill_node\"\nnode = \"n3\"\n");
  text.replace(text.find("services = [\"ledger\", \"echo\"]\nsettle_s"), 29,
               "services = [\"no_such_service\"]");
  chaos_run run{text, {"--start-timeout-ms", "5000"}};
  EXPECT_EQ(run.rc, 1) << run.out;
  auto r = run.results();
  EXPECT_FALSE(r["valid"].get<bool>());
  auto* before = check(r, "hypothesis_before");
  ASSERT_NE(before, nullptr);
  EXPECT_FALSE((*before)["ok"].get<bool>());
  EXPECT_NE((*before)["detail"].get<std::string>().find("no_such_service"), std::string::npos)
    << (*before)["detail"];
  EXPECT_TRUE(r["faults"].empty()) << "no fault is injected without the steady state";
}

TEST(chaos_2, a_recovery_bound_nobody_meets_fails_the_recovery_checks_only) {
  chaos_run run{scenario(7, R"(
[bounds]
kill_node_recovery_ms = 1
[[faults]]
at_s = 3
kind = "kill_node"
node = "n3"
restart_after_s = 2
)")};
  EXPECT_EQ(run.rc, 1) << run.out;
  auto r = run.results();
  EXPECT_FALSE(r["valid"].get<bool>());
  for (auto& c : r["checks"]) {
    if (!c["name"].get<std::string>().starts_with("recovery ")) {
      EXPECT_TRUE(c["ok"].get<bool>()) << c.dump();
    }
  }
  auto* kill = check(r, "recovery kill_node n3");
  ASSERT_NE(kill, nullptr);
  EXPECT_FALSE((*kill)["ok"].get<bool>());
  EXPECT_NE(read_text(run.file("summary.txt")).find("--seed 11"), std::string::npos);
}

// --- 3. kill a service actor, then kill -9 of the ledger's node --------------------------

TEST(chaos_3, kill_service_by_child_path_kills_it_on_that_node_and_its_supervisor_restarts_it) {
  chaos_run run{scenario(4, "[[faults]]\nat_s = 1\nkind = \"kill_service\"\nnode = \"n2\"\n"
                            "service = \"app/worker\"\n")};
  ASSERT_EQ(run.rc, 0) << run.out;
  EXPECT_TRUE(run.events("kill_service_missed", "n2").empty()) << run.out;
  auto of_worker = [&](const std::string& event, const std::string& node) {
    std::vector<json> out;
    for (auto& e : run.events(event, node))
      if (e["detail"]["child"] == "worker")
        out.push_back(e["detail"]);
    return out;
  };
  auto killed = of_worker("child_terminated", "n2");
  ASSERT_EQ(killed.size(), 1u) << run.out;
  EXPECT_EQ(killed[0]["reason"], "killed");
  auto restarted = of_worker("child_restarted", "n2");
  ASSERT_EQ(restarted.size(), 1u) << run.out;
  EXPECT_EQ(restarted[0]["restart_count"], 1);
  for (auto* other : {"n1", "n3"}) {
    EXPECT_TRUE(of_worker("child_terminated", other).empty()) << other;
  }
}

TEST(chaos_3, kill_9_of_the_owner_fails_over_fast_and_loses_nothing) {
  chaos_run run{scenario(8, R"(
[bounds]
kill_node_recovery_ms = 500
[[faults]]
at_s = 3
kind = "kill_node"
node = "n3"
restart_after_s = 3
)")};
  ASSERT_EQ(run.rc, 0) << run.out;
  auto r = run.results();
  EXPECT_TRUE(r["valid"].get<bool>());
  expect_nothing_lost(run);
  // The ledger ran on n3, then on a survivor with a higher epoch.
  expect_ledger_moved_off_the_owner(run);
  // The survivors saw the process gone (the probe, not the slow path), and n3 came back.
  // (Seen first hand, or from another survivor's notice: "process gone (by ...)".)
  auto down = run.events("node_down", ledger_owner);
  ASSERT_FALSE(down.empty());
  for (auto& e : down)
    EXPECT_TRUE(e["detail"]["reason"].get<std::string>().starts_with("process gone")) << e;
  EXPECT_FALSE(run.events("node_restarted", ledger_owner).empty());
  EXPECT_TRUE(std::filesystem::exists(run.file("nodes/n3.1.log")));
  auto html = read_text(run.file("timeline.html"));
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
}

// --- 4. SIGSTOP of the ledger's node ------------------------------------------------------

TEST(chaos_4, a_paused_owner_is_fenced_and_replaced_within_the_hang_bound) {
  chaos_run run{scenario(10, R"(
[bounds]
pause_node_recovery_ms = 3000
[[faults]]
at_s = 3
kind = "pause_node"
node = "n3"
for_s = 4
)")};
  ASSERT_EQ(run.rc, 0) << run.out;
  expect_nothing_lost(run);
  expect_ledger_moved_off_the_owner(run);
  auto r = run.results();
  auto* copies = check(r, "singleton_copies");
  ASSERT_NE(copies, nullptr);
  EXPECT_EQ((*copies)["figure"], "max 1 at once");
  // Resumed, n3 rejoined without a restart.
  EXPECT_FALSE(std::filesystem::exists(run.file("nodes/n3.1.log")));
}

// --- 5. a partition with the ledger in the minority: the claims oracle --------------------

TEST(chaos_5, the_minority_stops_its_copy_before_the_majority_starts_one_then_heals) {
  chaos_run run{scenario(12, R"(
[bounds]
partition_recovery_ms = 3000
[[faults]]
at_s = 3
kind = "partition"
groups = [["n1", "n2"], ["n3"]]
for_s = 5
)")};
  ASSERT_EQ(run.rc, 0) << run.out;
  expect_nothing_lost(run);
  // Every "I am active" claim from the nodes' logs: n3's ends (its lease) before the
  // majority's starts; the tool's oracle found never two at once.
  expect_ledger_moved_off_the_owner(run);
  auto r = run.results();
  auto* copies = check(r, "singleton_copies");
  ASSERT_NE(copies, nullptr);
  EXPECT_TRUE((*copies)["ok"].get<bool>()) << (*copies)["detail"];
  std::map<std::string, int> stops;
  std::ifstream in{run.file("nodes/n3.log")};
  std::string line;
  while (std::getline(in, line)) {
    auto j = json::parse(line, nullptr, false);
    if (j.is_object() && j.value("event", "") == "cluster_service_stopped"
        && j.value("name", "") == "ledger")
      ++stops[j.value("reason", "")];
  }
  EXPECT_GE(stops["lease lost"], 1) << "n3 fenced itself";
  // Healed: n3 is up again in the majority's view, same process (no n3.1.log).
  bool seen_up_after_heal = false;
  for (auto& e : run.events("node_up", ledger_owner))
    if (e["time_ms"].get<double>() > 8000 && e["detail"]["observer"] == "n1")
      seen_up_after_heal = true;
  EXPECT_TRUE(seen_up_after_heal) << run.out;
  EXPECT_FALSE(std::filesystem::exists(run.file("nodes/n3.1.log")));
  auto* after = check(r, "hypothesis_after");
  ASSERT_NE(after, nullptr);
  EXPECT_TRUE((*after)["ok"].get<bool>());
}

// --- 6. a cluster already running ----------------------------------------------------------

// The tool attaches to three nodes it did not start (the test starts them): it joins with
// the secret from the environment, learns the services' types by probing and "echo"'s
// instances from the registry, samples the claims over HTTP, and kills n3 (the ledger's
// node) by the PID listening on its port. n3 stays dead (no restart with attach), so the
// hypothesis asks only that the services answer.
TEST(chaos_6, attached_to_a_running_cluster_it_kills_the_owner_by_pid) {
  warden::test::test_cluster c{WARDEN_BIN, 3, {.start = false}};
  auto tree = c.write_file("tree.toml", tree_text);
  for (auto& name : c.names()) {
    c.node(name).options().tree = tree;
    c.node(name).options().env["WARDEN_DATA_DIR"] = c.dir() + "/data";
  }
  c.start_all();
  ASSERT_TRUE(c.wait_all_ready(20s));
  ASSERT_TRUE(c.wait_converged(20s));
  // Attach to a settled cluster: every node holds the ledger and the 3 echo instances.
  ASSERT_TRUE(c.wait_until(
    [&] {
      for (auto& name : c.names()) {
        auto r = c.node(name).http_get("/cluster/names");
        if (!r)
          return false;
        std::set<std::string> held;
        for (auto& x : r->second["names"])
          held.insert(x["name"].get<std::string>());
        for (auto* want : {"ledger", "echo#0", "echo#1", "echo#2"})
          if (held.count(want) == 0)
            return false;
      }
      return true;
    },
    20s, "every node lists ledger, echo#0, echo#1, echo#2"));
  ::setenv("WARDEN_CLUSTER_SECRET", "test-secret", 1);
  ::setenv("WARDEN_CLUSTER_NAME", "test", 1);
  chaos_run run{"name = \"attached\"\nseed = 5\nduration_s = 7\n[cluster]\nattach = [\""
                + c.node("n1").address() + "\", \"" + c.node("n2").address() + "\", \""
                + c.node("n3").address() + R"("]
[hypothesis]
all_members_up = false
services = ["ledger", "echo"]
settle_s = 10
[workload]
services = ["ledger", "echo"]
rate_per_s = 100
[bounds]
kill_node_recovery_ms = 500
[[faults]]
at_s = 3
kind = "kill_node"
node = "n3"
)"};
  ::unsetenv("WARDEN_CLUSTER_SECRET");
  ::unsetenv("WARDEN_CLUSTER_NAME");
  ASSERT_EQ(run.rc, 0) << run.out;
  EXPECT_EQ(c.node("n3").exit_status(), 128 + SIGKILL) << "the tool killed n3's process";
  EXPECT_TRUE(c.node("n1").running());
  expect_nothing_lost(run, c.dir() + "/data");
  expect_ledger_moved_off_the_owner(run);
  EXPECT_FALSE(run.acknowledged("echo#2").empty()) << "echo stands for its instances";
  auto down = run.events("node_down", ledger_owner);
  ASSERT_FALSE(down.empty()) << "the client member's own view";
  EXPECT_EQ(down[0]["detail"]["observer"], "chaos");
}

// --- 7. overload of a regulated service ----------------------------------------------------

// 2.5x the capacity of a slow singleton behind a regulator (kept small: it shares the
// machine with the other cluster tests): every request is answered before the caller's
// timeout, the excess refused at once by name, and the sink answers as before afterwards.
TEST(chaos_7, an_overloaded_regulated_service_refuses_the_excess_at_once_and_recovers) {
  auto tree = std::string{tree_text} + R"(
[[children]]
id = "sink"
service = "slow"
name = "sink"
cluster = "singleton"
params = {work_ms = 10}
[children.regulator]
limit = 4
max_size = 20
max_time_ms = 100
)";
  auto text = scenario(8, R"(
[[faults]]
at_s = 2
kind = "overload"
service = "sink"
rate_per_s = 1000
for_s = 4
)");
  text.replace(text.find("services = [\"ledger\", \"echo\"]\nsettle_s"), 29,
               "services = [\"ledger\", \"echo\", \"sink\"]");
  chaos_run run{text, {}, tree};
  ASSERT_EQ(run.rc, 0) << run.out;
  auto r = run.results();
  EXPECT_TRUE(r["valid"].get<bool>());
  auto* over = check(r, "overload sink at 1000/s");
  ASSERT_NE(over, nullptr) << r["checks"].dump();
  EXPECT_TRUE((*over)["ok"].get<bool>()) << over->dump();
  size_t ok = 0;
  size_t rejected = 0;
  for (auto& op : read_jsonl(run.file("history.jsonl")))
    if (op["service"] == "sink") {
      ok += op["kind"] == "ok";
      rejected += op["kind"] == "fail" && op["error"] == "rejected";
    }
  EXPECT_GT(ok, 800u) << "the sink went on serving near its capacity (~400/s)";
  EXPECT_GT(rejected, 1000u) << "the excess was refused by name";
  expect_nothing_lost(run);
}

} // namespace
