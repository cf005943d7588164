// The chaos run's verdict and report files, on hand-made records: every check passing and
// failing, recovery figures, JSON round trips, the recorder, and the files in a temp dir.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "warden/chaos_report.hpp"

using namespace warden::chaos;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

/// A fresh directory, removed with everything in it when the test ends.
class temp_dir {
public:
  temp_dir() {
    auto pattern = (fs::temp_directory_path() / "warden-chaos-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr)
      throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const fs::path& path() const { return path_; }

private:
  fs::path path_;
};

std::string read_all(const fs::path& p) {
  std::ifstream in{p, std::ios::binary};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1))
    ++n;
  return n;
}

/// One request: its invoke line and its outcome `took` ms later.
void request(chaos_record& run, uint64_t id, const std::string& service, const std::string& node,
             double sent, double took, bool ok, const std::string& error = "node_down") {
  run.history.push_back({id, service, op_kind::invoke, node, sent, {}, 0});
  if (ok)
    run.history.push_back({id, service, op_kind::ok, node, sent + took, {}, took});
  else
    run.history.push_back({id, service, op_kind::fail, node, sent + took, error, 0});
}

/// Three nodes; n2 (the counter's owner) is killed at 3 s; calls to the counter from n1 and
/// n3 every 100 ms fail from 3000 until the copy on n1 answers at 3305 (305 ms).
chaos_record clean_run() {
  chaos_record run;
  run.scenario = "kill-owner";
  run.seed = 42;
  run.duration_ms = 6000;
  run.nodes = {"n1", "n2", "n3"};
  for (auto phase : {hypothesis_phase::before, hypothesis_phase::after}) {
    run.hypothesis.push_back({phase, "all_members_up", true, "3/3 up"});
    run.hypothesis.push_back({phase, "services_answer", true, "1/1 answer"});
  }
  acknowledged_read read{"counter", {}};
  uint64_t id = 1;
  for (double t = 0; t < 6000; t += 100) {
    for (auto* node : {"n1", "n3"}) {
      bool ok = t < 3000 || t >= 3300;
      request(run, id, "counter", node, t, 5, ok);
      if (ok)
        read.ids.insert(id);
      ++id;
    }
  }
  read.ids.insert(65);  // failed (t = 3200 ms) but applied anyway: not a loss
  run.final_reads.push_back(read);
  run.faults.push_back({"kill_node", "n2", 3000, 3000});
  for (auto* n : {"n1", "n2", "n3"})
    run.events.push_back({0, n, "node_up", {{"observer", "n1"}}});
  run.events.push_back({3005, "n2", "node_down", {{"observer", "n1"}, {"reason", "process gone"}}});
  run.events.push_back({3250, "n1", "child_restarted", {{"child", "counter"}}});
  for (double t = 0; t < 6000; t += 250) {
    if (t < 3000)
      run.copies.push_back({t, "counter", {"n2"}, {1}});
    else if (t < 3250)
      run.copies.push_back({t, "counter", {}, {}});
    else
      run.copies.push_back({t, "counter", {"n1"}, {2}});
  }
  return run;
}

const check_result& get(const chaos_verdict& v, const std::string& name) {
  auto* c = v.find(name);
  if (!c)
    throw std::runtime_error("no check " + name);
  return *c;
}

} // namespace

TEST(chaos_verdict, clean_run_passes_every_check) {
  auto v = evaluate(clean_run(), {});
  for (auto& c : v.checks)
    EXPECT_TRUE(c.ok) << c.name << ": " << c.figure << " " << c.detail;
  EXPECT_TRUE(v.ok);
  std::vector<std::string> names;
  for (auto& c : v.checks)
    names.push_back(c.name);
  EXPECT_EQ(names, (std::vector<std::string>{"hypothesis_before", "hypothesis_after",
                                             "lost_acknowledged", "singleton_copies",
                                             "recovery kill_node n2 @3000ms", "availability",
                                             "latency"}));
  EXPECT_EQ(get(v, "hypothesis_before").figure, "2/2 hold");
  EXPECT_EQ(get(v, "lost_acknowledged").figure, "0 lost");
  EXPECT_EQ(get(v, "singleton_copies").figure, "max 1 at once");
  EXPECT_EQ(get(v, "recovery kill_node n2 @3000ms").figure, "305 ms");
  EXPECT_EQ(get(v, "availability").figure, "95.00% (114/120)");
  EXPECT_EQ(get(v, "latency").figure, "p50 5.0 ms, p99 5.0 ms");
}

TEST(chaos_verdict, lost_acknowledged_request_fails_naming_its_id) {
  auto run = clean_run();
  run.final_reads[0].ids.erase(17);
  auto v = evaluate(run, {});
  EXPECT_FALSE(v.ok);
  auto& c = get(v, "lost_acknowledged");
  EXPECT_FALSE(c.ok);
  EXPECT_EQ(c.figure, "1 lost");
  EXPECT_EQ(c.detail, "counter: 17");
}

TEST(chaos_verdict, services_without_final_read_are_named_not_checked) {
  auto run = clean_run();
  request(run, 1000, "echo", "n1", 10, 1, true);
  auto c = get(evaluate(run, {}), "lost_acknowledged");
  EXPECT_TRUE(c.ok);
  EXPECT_EQ(c.detail, "not checked (no final read): echo");
}

TEST(chaos_verdict, two_copies_at_one_instant_fail_naming_nodes_and_epochs) {
  auto run = clean_run();
  run.copies.push_back({3100, "counter", {"n2", "n1"}, {1, 2}});
  run.copies.push_back({3200, "counter", {"n2", "n1"}, {1, 2}});
  auto v = evaluate(run, {});
  EXPECT_FALSE(v.ok);
  auto& c = get(v, "singleton_copies");
  EXPECT_FALSE(c.ok);
  EXPECT_EQ(c.figure, "max 2 at once");
  EXPECT_EQ(c.detail, "2 copies of 'counter' at 3100 ms: n2 (epoch 1), n1 (epoch 2); "
                      "2 of 26 samples had more than one");
}

TEST(chaos_verdict, missing_or_failed_hypothesis_fails) {
  auto run = clean_run();
  run.hypothesis.erase(run.hypothesis.begin(), run.hypothesis.begin() + 2);  // the before ones
  run.hypothesis[1].ok = false;
  run.hypothesis[1].figure = "0/1 answer";
  auto v = evaluate(run, {});
  EXPECT_FALSE(v.ok);
  EXPECT_FALSE(get(v, "hypothesis_before").ok);
  EXPECT_EQ(get(v, "hypothesis_before").figure, "not checked");
  auto& after = get(v, "hypothesis_after");
  EXPECT_FALSE(after.ok);
  EXPECT_EQ(after.figure, "1/2 hold");
  EXPECT_EQ(after.detail, "services_answer: 0/1 answer");
}

TEST(chaos_verdict, recovery_per_fault_on_a_hand_made_history) {
  chaos_record run;
  run.duration_ms = 12000;
  // kill at 1000: s fails at 1010 and 1100, a request sent at 1400 answers at 1450.
  run.faults.push_back({"kill_node", "n2", 1000, 1000});
  request(run, 1, "s", "n1", 900, 5, true);
  request(run, 2, "s", "n1", 1000, 10, false);
  request(run, 3, "s", "n3", 1050, 50, false, "call_timeout");
  request(run, 4, "s", "n1", 1400, 50, true);
  request(run, 5, "t", "n1", 1200, 5, true);  // t never failed: not part of the figure
  // pause at 5000 for 3 s: s's request sent at 5100 fails, one answers at 7600 (out for
  // 2500 ms from that send); t's sent at 5250 fails, one answers at 6000 (750 ms).
  run.faults.push_back({"pause_node", "n1", 5000, 8000});
  request(run, 6, "s", "n3", 5100, 100, false);
  request(run, 7, "t", "n3", 5250, 50, false);
  request(run, 8, "t", "n3", 5990, 10, true);
  request(run, 9, "s", "n3", 7590, 10, true);
  // latency at 4000: nothing failed before the next fault started.
  run.faults.push_back({"latency", "n1->n3", 4000, 4500});
  // partition at 9000, never healed: s fails at 9100 and never answers again.
  run.faults.push_back({"partition", "n1 | n2,n3", 9000, std::nullopt});
  request(run, 10, "s", "n1", 9000, 100, false);

  chaos_bounds bounds;
  bounds.max_recovery_for["kill_node"] = 500ms;
  auto v = evaluate(run, bounds);
  auto& kill = get(v, "recovery kill_node n2 @1000ms");
  EXPECT_TRUE(kill.ok);
  EXPECT_EQ(kill.figure, "450 ms");
  EXPECT_EQ(kill.detail, "s 450 ms (n1 450 ms, n3 6550 ms); bound 500 ms");
  auto& pause = get(v, "recovery pause_node n1 @5000ms");
  EXPECT_TRUE(pause.ok);
  EXPECT_EQ(pause.figure, "2500 ms");
  EXPECT_EQ(pause.detail, "s 2500 ms (n3 2500 ms); t 750 ms (n3 750 ms); bound 3000 ms");
  auto& latency = get(v, "recovery latency n1->n3 @4000ms");
  EXPECT_TRUE(latency.ok);
  EXPECT_EQ(latency.figure, "no failed requests");
  auto& part = get(v, "recovery partition n1 | n2,n3 @9000ms");
  EXPECT_FALSE(part.ok);
  EXPECT_EQ(part.figure, "not recovered");
  EXPECT_EQ(part.detail, "s not recovered (n1 not recovered); bound 3000 ms");

  bounds.max_recovery_for["kill_node"] = 400ms;
  bounds.max_recovery = 2400ms;
  v = evaluate(run, bounds);
  EXPECT_FALSE(get(v, "recovery kill_node n2 @1000ms").ok);
  EXPECT_FALSE(get(v, "recovery pause_node n1 @5000ms").ok);
}

// Partition n1 | n2,n3 for 4 s. The service first lives on n1 (the minority): n1's client
// is answered locally until n1's lease fences it, n2 and n3's fail until the majority runs
// its own copy at 2.6 s. Neither n1's early answers nor its failures until the heal are the
// service's recovery: the first client answered again is.
TEST(chaos_verdict, recovery_after_a_partition_is_the_first_client_answered_again) {
  chaos_record run;
  run.faults.push_back({"partition", "n1 | n2,n3", 0, 4000});
  uint64_t id = 1;
  for (double t = 0; t < 5000; t += 100) {
    request(run, id++, "s", "n1", t, 5, t < 1000 || t >= 4100, "service_unavailable");
    for (auto* node : {"n2", "n3"})
      request(run, id++, "s", node, t, 50, t >= 2600, "call_timeout");
    // A service on the majority side: only the cut-off client fails.
    request(run, id++, "m", "n1", t, 5, t >= 4100, "node_unavailable");
    request(run, id++, "m", "n2", t, 5, true);
  }
  auto c = get(evaluate(run, {}), "recovery partition n1 | n2,n3 @0ms");
  EXPECT_TRUE(c.ok);
  EXPECT_EQ(c.figure, "2650 ms");
  EXPECT_EQ(c.detail, "m 0.0 ms (n1 4105 ms, n2 unaffected); "
                      "s 2650 ms (n1 3105 ms, n2 2650 ms, n3 2650 ms); bound 3000 ms");
}

// The end of a lasting fault is an episode of its own: a service unaffected by the
// partition moves back when it heals (a 60 ms blip at 4 s). That blip is the heal's, counted
// from the heal, not 4 s of the partition's recovery.
TEST(chaos_verdict, the_end_of_a_lasting_fault_has_its_own_recovery) {
  chaos_record run;
  run.faults.push_back({"partition", "n1 | n2,n3", 0, 4000});
  uint64_t id = 1;
  for (double t = 0; t < 5000; t += 20)
    request(run, id++, "echo#2", "chaos", t, 1, t < 4000 || t >= 4060, "unknown_name");
  auto v = evaluate(run, {});
  EXPECT_EQ(get(v, "recovery partition n1 | n2,n3 @0ms").figure, "no failed requests");
  auto heal = get(v, "recovery end of partition n1 | n2,n3 @4000ms");
  EXPECT_TRUE(heal.ok);
  EXPECT_EQ(heal.figure, "61.0 ms");
  // A move much later in the window (a node back from its quarantine 8 s after the heal)
  // is an outage of its own length, counted from the failed request's send.
  for (double t = 5000; t < 13000; t += 20)
    request(run, id++, "ledger", "chaos", t, 1, t < 12000 || t >= 12080, "unknown_name");
  EXPECT_EQ(get(evaluate(run, {}), "recovery end of partition n1 | n2,n3 @4000ms").detail,
            "echo#2 61.0 ms (chaos 61.0 ms); ledger 81.0 ms (chaos 81.0 ms); bound 3000 ms");
}

TEST(chaos_verdict, availability_and_latency_bounds) {
  chaos_record run;
  for (uint64_t i = 1; i <= 100; ++i)
    request(run, i, "s", "n1", static_cast<double>(i) * 10, static_cast<double>(i), i <= 90,
            i <= 97 ? "node_down" : "rejected");
  run.history.push_back({101, "s", op_kind::invoke, "n1", 2000, {}, 0});  // never answered
  chaos_bounds bounds;
  auto v = evaluate(run, bounds);
  EXPECT_TRUE(get(v, "availability").ok);  // no bound: reported only
  EXPECT_EQ(get(v, "availability").figure, "89.11% (90/101)");
  EXPECT_EQ(get(v, "availability").detail, "10 failed (7 node_down, 3 rejected), 1 without an answer");
  EXPECT_EQ(get(v, "latency").figure, "p50 45.0 ms, p99 90.0 ms");  // ok latencies 1..90

  bounds.min_availability = 0.9;
  bounds.max_p99_ms = 89;
  v = evaluate(run, bounds);
  EXPECT_FALSE(get(v, "availability").ok);
  EXPECT_FALSE(get(v, "latency").ok);
  bounds.min_availability = 0.89;
  bounds.max_p99_ms = 90;
  v = evaluate(run, bounds);
  EXPECT_TRUE(get(v, "availability").ok);
  EXPECT_TRUE(get(v, "latency").ok);
}

TEST(chaos_verdict, an_overload_passes_when_every_request_is_answered_in_time) {
  chaos_record run;
  run.duration_ms = 5000;
  run.faults.push_back({"overload", "sink at 100/s", 1000, 3000});
  uint64_t id = 1;
  // Before and after the fault: not counted. During it: 200 requests, 150 refused at once.
  request(run, id++, "sink", "chaos", 500, 1, true);
  for (double t = 1000; t < 3000; t += 10)
    request(run, id++, "sink", "chaos", t, 1, static_cast<int>(t) % 40 == 0, "rejected");
  request(run, id++, "sink", "chaos", 3500, 1, false, "call_timeout");
  request(run, id++, "echo", "chaos", 2000, 1, false, "call_timeout");  // another service
  auto v = evaluate(run, {});
  auto& c = get(v, "overload sink at 100/s @1000ms");
  EXPECT_TRUE(c.ok) << c.figure;
  EXPECT_EQ(c.figure, "200 sent, 50 ok (25/s), 150 refused, 0 timed out or unanswered");
  EXPECT_EQ(c.detail, "answers: 50 ok, 150 rejected");
  // A request the caller gave up on, or one never answered, fails it.
  request(run, id++, "sink#1", "chaos", 2500, 1000, false, "call_timeout");
  run.history.push_back({id++, "sink", op_kind::invoke, "chaos", 2600, {}, 0});
  auto v2 = evaluate(run, {});
  auto& failed = get(v2, "overload sink at 100/s @1000ms");
  EXPECT_FALSE(failed.ok);
  EXPECT_EQ(failed.figure, "202 sent, 50 ok (25/s), 150 refused, 2 timed out or unanswered");
  // No request at all during the fault: nothing was shown.
  chaos_record idle;
  idle.faults.push_back({"overload", "sink at 100/s", 1000, 3000});
  auto v3 = evaluate(idle, {});
  EXPECT_FALSE(get(v3, "overload sink at 100/s @1000ms").ok);
}

TEST(chaos_records, json_round_trip_of_every_record) {
  auto round_trip = [](const auto& x) {
    auto line = json(x).dump();
    EXPECT_EQ(line.find('\n'), std::string::npos);
    return json::parse(line).get<std::decay_t<decltype(x)>>();
  };
  operation invoke{7, "counter", op_kind::invoke, "n1", 12.5, {}, 0};
  operation ok{7, "counter", op_kind::ok, "n1", 15.25, {}, 2.75};
  operation fail{8, "counter", op_kind::fail, "n3", 20, "call_timeout", 0};
  EXPECT_EQ(round_trip(invoke), invoke);
  EXPECT_EQ(round_trip(ok), ok);
  EXPECT_EQ(round_trip(fail), fail);
  EXPECT_EQ(json(ok).dump(),
            R"({"id":7,"kind":"ok","latency_ms":2.75,"node":"n1","service":"counter","time":15.25})");
  EXPECT_FALSE(json(invoke).contains("error"));
  EXPECT_EQ(json(fail)["error"], "call_timeout");

  fault closed{"partition", "n1,n2 | n3", 1000, 4000.5};
  fault open{"pause_node", "n2", 5000, std::nullopt};
  EXPECT_EQ(round_trip(closed), closed);
  EXPECT_EQ(round_trip(open), open);
  EXPECT_TRUE(json(open)["end_ms"].is_null());

  event ev{3005, "n2", "node_down", {{"observer", "n1"}, {"reason", "process gone"}}};
  EXPECT_EQ(round_trip(ev), ev);
  copies_sample sample{3100, "counter", {"n1", "n2"}, {2, 1}};
  EXPECT_EQ(round_trip(sample), sample);
  hypothesis_check check{hypothesis_phase::after, "p99_under_bound", true, "p99 12.5 ms"};
  EXPECT_EQ(round_trip(check), check);
  EXPECT_EQ(json(check)["phase"], "after");
  acknowledged_read read{"counter", {1, 2, 40}};
  EXPECT_EQ(round_trip(read), read);
  check_result result{"singleton_copies", false, "max 2 at once", "n1 (epoch 2)"};
  EXPECT_EQ(round_trip(result), result);

  EXPECT_THROW(json::parse(R"({"id":1,"service":"s","kind":"maybe","node":"n1","time":0})")
                 .get<operation>(),
               std::invalid_argument);
  EXPECT_ANY_THROW(json::parse(R"({"id":1,"kind":"ok"})").get<operation>());
}

TEST(chaos_records, recorder_pairs_outcomes_with_their_requests) {
  double now = 0;
  chaos_recorder rec{"scenario", 7, [&] { return now; }};
  rec.add_node("n1");
  rec.add_node("n1");
  auto a = rec.invoke("counter", "n1");
  now = 10;
  auto b = rec.invoke("counter", "n2");
  now = 25;
  EXPECT_TRUE(rec.ok(a));
  EXPECT_FALSE(rec.ok(a));  // answered already
  auto f = rec.fault_started("kill_node", "n2");
  now = 40;
  EXPECT_TRUE(rec.fail(b, "node_down"));
  rec.fault_ended(f);
  rec.add_event("n2", "node_down", {{"observer", "n1"}});
  rec.add_sample("counter", {"n1"}, {2});
  rec.add_check(hypothesis_phase::before, "all_members_up", true, "2/2 up");
  rec.set_final_read("counter", {a});
  rec.set_final_read("counter", {a, b});
  now = 50;
  auto run = rec.finish();
  EXPECT_EQ(run.scenario, "scenario");
  EXPECT_EQ(run.seed, 7u);
  EXPECT_EQ(run.duration_ms, 50);
  EXPECT_EQ(run.nodes, std::vector<std::string>{"n1"});
  ASSERT_EQ(run.history.size(), 4u);
  EXPECT_EQ(run.history[2], (operation{a, "counter", op_kind::ok, "n1", 25, {}, 25}));
  EXPECT_EQ(run.history[3], (operation{b, "counter", op_kind::fail, "n2", 40, "node_down", 0}));
  ASSERT_EQ(run.faults.size(), 1u);
  EXPECT_EQ(run.faults[0], (fault{"kill_node", "n2", 25, 40.0}));
  EXPECT_EQ(run.events.size(), 1u);
  EXPECT_EQ(run.copies.size(), 1u);
  EXPECT_EQ(run.hypothesis.size(), 1u);
  ASSERT_EQ(run.final_reads.size(), 1u);
  EXPECT_EQ(run.final_reads[0].ids, (std::set<uint64_t>{a, b}));
}

TEST(chaos_files, every_file_is_written_and_results_json_has_every_check) {
  temp_dir tmp;
  auto dir = tmp.path() / "run-1";  // created by the writer
  auto run = clean_run();
  run.rerun = "warden chaos kill-owner.toml --seed 42";
  auto v = evaluate(run, {});
  ASSERT_EQ(write_chaos_results(dir, run, v), std::nullopt);
  for (auto* name : {"results.json", "history.jsonl", "events.jsonl", "copies.jsonl",
                     "summary.txt", "timeline.html"})
    EXPECT_TRUE(fs::is_regular_file(dir / name)) << name;

  auto results = json::parse(read_all(dir / "results.json"));
  EXPECT_EQ(results["valid"], true);
  EXPECT_EQ(results["seed"], 42);
  EXPECT_EQ(results["scenario"], "kill-owner");
  EXPECT_EQ(results["checks"].get<std::vector<check_result>>(), v.checks);
  EXPECT_EQ(results["faults"].get<std::vector<fault>>(), run.faults);
  EXPECT_EQ(results["final_reads"].get<std::vector<acknowledged_read>>(), run.final_reads);
  EXPECT_EQ(results["counts"]["requests"], 120);

  std::vector<operation> history;
  std::istringstream lines{read_all(dir / "history.jsonl")};
  for (std::string line; std::getline(lines, line);)
    history.push_back(json::parse(line).get<operation>());
  EXPECT_EQ(history, run.history);
  EXPECT_EQ(count_of(read_all(dir / "events.jsonl"), "\n"), run.events.size());
  EXPECT_EQ(count_of(read_all(dir / "copies.jsonl"), "\n"), run.copies.size());

  auto summary = read_all(dir / "summary.txt");
  EXPECT_NE(summary.find("chaos run \"kill-owner\": VALID"), std::string::npos) << summary;
  EXPECT_NE(summary.find("seed 42, duration 6.0 s"), std::string::npos) << summary;
  EXPECT_NE(summary.find("PASS  recovery kill_node n2 @3000ms  305 ms"), std::string::npos)
    << summary;
  EXPECT_NE(summary.find("rerun: warden chaos kill-owner.toml --seed 42"), std::string::npos);
  EXPECT_EQ(count_of(summary, "PASS"), v.checks.size());
}

TEST(chaos_files, summary_names_failures_and_the_seed) {
  auto run = clean_run();
  run.final_reads[0].ids.erase(3);
  auto text = summary_text(run, evaluate(run, {}));
  EXPECT_NE(text.find("INVALID (1 of 7 checks failed)"), std::string::npos) << text;
  EXPECT_NE(text.find("FAIL  lost_acknowledged"), std::string::npos) << text;
  EXPECT_NE(text.find("1 lost  -- counter: 3"), std::string::npos) << text;
  EXPECT_NE(text.find("rerun: the same scenario with seed 42"), std::string::npos) << text;
}

TEST(chaos_files, timeline_is_self_contained_and_escapes_names) {
  auto run = clean_run();
  request(run, 5000, "<script>alert(1)</script>", "n1", 100, 5, false);
  run.faults.push_back({"cut_link", "n1 -> \"n3\" & <b>", 4000, std::nullopt});
  run.events.push_back({4100, "n3", "child_restarted", {{"child", "<img src=x>"}}});
  run.copies.push_back({3100, "counter", {"n2", "n1"}, {1, 2}});
  auto html = timeline_html(run, evaluate(run, {}));

  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(count_of(html, "<svg"), 1u);
  EXPECT_EQ(count_of(html, "</svg>"), 1u);
  EXPECT_EQ(count_of(html, "</html>"), 1u);
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_EQ(html.find("<b>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("n1 -&gt; &quot;n3&quot; &amp; &lt;b&gt;"), std::string::npos);
  // Every lane and layer is there, with hover titles.
  for (auto* what : {">n1</text>", ">n2</text>", ">n3</text>", ">counter</text>",
                     "class=\"st up\"", "class=\"st down\"", "class=\"restart\"",
                     "class=\"fault\"", "class=\"ok\"", "class=\"bad\"", "class=\"copies\"",
                     "n1 e2", "<title>counter: n2 epoch 1"})
    EXPECT_NE(html.find(what), std::string::npos) << what;
  EXPECT_EQ(count_of(html, "<title>"), count_of(html, "</title>"));
}
