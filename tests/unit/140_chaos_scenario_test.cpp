// The chaos scenario file: every field parsed, every rule's error with its line and field,
// the fault schedule (deterministic per seed, gremlin ranges, no overlap on a node, live
// nodes always a strict majority) and the shipped scenarios in demo/chaos.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "warden/builtin_services.hpp"
#include "warden/chaos_scenario.hpp"
#include "warden/tree_file.hpp"

using namespace warden::chaos;
using namespace std::chrono_literals;

namespace {

// Lines 1-4 of most test files; what a test appends starts at line 5.
const std::string head = "duration_s = 60\n"
                         "[cluster]\n"
                         "nodes = 3\n"
                         "tree = \"tree.toml\"\n";

chaos_scenario parse_ok(const std::string& text) {
  auto res = parse_chaos_scenario(text, "dir/s.toml");
  if (!res)
    ADD_FAILURE() << warden::config_error_text(res.error());
  return res ? *res : chaos_scenario{};
}

// The error text, "" when it parsed.
std::string error_of(const std::string& text) {
  auto res = parse_chaos_scenario(text, "s.toml");
  return res ? std::string{} : warden::config_error_text(res.error());
}

#define EXPECT_ERROR(text, prefix, what)                                                   \
  do {                                                                                     \
    auto e_ = error_of(text);                                                              \
    EXPECT_EQ(e_.rfind(prefix, 0), 0u) << e_;                                             \
    EXPECT_NE(e_.find(what), std::string::npos) << e_;                                     \
  } while (false)

std::string fsec(const std::string& body) {
  return "[[faults]]\n" + body;
}

} // namespace

// --- parsing -----------------------------------------------------------------------------

TEST(chaos_scenario, parses_every_field) {
  auto sc = parse_ok(R"(name = "all"
seed = 42
duration_s = 60.5
[cluster]
nodes = 4
tree = "../trees/t.toml"
[hypothesis]
all_members_up = false
services = ["ledger", "echo"]
p99_ms = 50
settle_s = 2.5
[workload]
services = ["ledger"]
rate_per_s = 20.5
timeout_ms = 700
[bounds]
max_recovery_ms = 2000
kill_node_recovery_ms = 500
partition_recovery_ms = 2500
min_availability = 0.9
max_p99_ms = 80
[[faults]]
at_s = 1
kind = "kill_node"
node = "n2"
restart_after_s = 3
[[faults]]
at_s = 5
kind = "partition"
groups = [["n1", "n2"], ["n3", "n4"]]
for_s = 2
[[faults]]
at_s = 8
kind = "partition"
halves = true
for_s = 1
[[faults]]
at_s = 10
kind = "pause_node"
node = "n3"
for_s = 1
[[faults]]
at_s = 12
kind = "cut_link"
link = ["n1", "n2"]
for_s = 1
[[faults]]
at_s = 14
kind = "latency"
link = ["n1", "n3"]
ms = 200
for_s = 1
[[faults]]
at_s = 16
kind = "jitter"
link = ["n2", "n3"]
ms = 30
for_s = 1
[[faults]]
at_s = 18
kind = "loss"
link = ["n3", "n4"]
probability = 0.2
for_s = 1
[[faults]]
at_s = 20
kind = "reset"
link = ["n1", "n4"]
[[faults]]
at_s = 21
kind = "kill_service"
node = "n4"
service = "ledger"
[gremlin]
from_s = 25
until_s = 55
every_s = [2, 4]
kinds = ["pause_node", "loss"]
for_s = [0.5, 1.5]
ms = [10, 20]
probability = [0.05, 0.25]
)");
  EXPECT_EQ(sc.name, "all");
  EXPECT_EQ(sc.source, "dir/s.toml");
  EXPECT_EQ(sc.seed, 42u);
  EXPECT_EQ(sc.duration_ms, 60500);
  EXPECT_EQ(sc.cluster.nodes, 4u);
  EXPECT_EQ(sc.cluster.tree, "trees/t.toml");  // relative to dir/
  EXPECT_TRUE(sc.cluster.attach.empty());
  EXPECT_FALSE(sc.hypothesis.all_members_up);
  EXPECT_EQ(sc.hypothesis.services, (std::vector<std::string>{"ledger", "echo"}));
  EXPECT_EQ(sc.hypothesis.p99_ms, 50.0);
  EXPECT_EQ(sc.hypothesis.settle, 2500ms);
  EXPECT_EQ(sc.workload.services, std::vector<std::string>{"ledger"});
  EXPECT_EQ(sc.workload.rate_per_s, 20.5);
  EXPECT_EQ(sc.workload.timeout, 700ms);
  EXPECT_EQ(sc.bounds.max_recovery, 2000ms);
  EXPECT_EQ(sc.bounds.max_recovery_for.at("kill_node"), 500ms);
  EXPECT_EQ(sc.bounds.max_recovery_for.at("partition"), 2500ms);
  EXPECT_EQ(sc.bounds.min_availability, 0.9);
  EXPECT_EQ(sc.bounds.max_p99_ms, 80.0);
  ASSERT_EQ(sc.faults.size(), 10u);
  auto& k = sc.faults[0];
  EXPECT_EQ(k.kind, fault_kind::kill_node);
  EXPECT_EQ(k.at_ms, 1000);
  EXPECT_EQ(k.node, "n2");
  EXPECT_EQ(k.restart_after_ms, 3000);
  EXPECT_EQ(k.line, 22);
  EXPECT_EQ(sc.faults[1].groups,
            (std::vector<std::vector<std::string>>{{"n1", "n2"}, {"n3", "n4"}}));
  EXPECT_EQ(sc.faults[1].for_ms, 2000);
  EXPECT_TRUE(sc.faults[2].halves);
  EXPECT_EQ(sc.faults[3].node, "n3");
  EXPECT_EQ(sc.faults[4].link, (std::vector<std::string>{"n1", "n2"}));
  EXPECT_EQ(sc.faults[5].ms, 200);
  EXPECT_EQ(sc.faults[6].kind, fault_kind::jitter);
  EXPECT_EQ(sc.faults[7].probability, 0.2);
  EXPECT_EQ(sc.faults[8].kind, fault_kind::reset);
  EXPECT_FALSE(sc.faults[8].for_ms);
  EXPECT_EQ(sc.faults[9].service, "ledger");
  ASSERT_TRUE(sc.gremlin);
  auto& g = *sc.gremlin;
  EXPECT_EQ(g.from_ms, 25000);
  EXPECT_EQ(g.until_ms, 55000);
  EXPECT_EQ(g.every_ms, (draw_range<int64_t>{2000, 4000}));
  EXPECT_EQ(g.kinds, (std::vector<fault_kind>{fault_kind::pause_node, fault_kind::loss}));
  EXPECT_EQ(g.for_ms, (draw_range<int64_t>{500, 1500}));
  EXPECT_EQ(g.ms, (draw_range<double>{10, 20}));
  EXPECT_EQ(g.probability, (draw_range<double>{0.05, 0.25}));

  auto sched = expand_faults(sc, 1);
  ASSERT_GE(sched.size(), 10u);
  EXPECT_EQ(sched[0].end_ms, 4000);  // restart after 3 s
  EXPECT_TRUE(sched[0].restart);
  EXPECT_EQ(sched[2].groups, (std::vector<std::vector<std::string>>{{"n1", "n2"}, {"n3", "n4"}}));
  EXPECT_EQ(sched[2].target_text(), "n1,n2 | n3,n4");
  EXPECT_EQ(sched[5].target_text(), "n1<->n3");
  EXPECT_EQ(sched[9].target_text(), "n4:ledger");
  auto rf = to_report_fault(sched[0]);
  EXPECT_EQ(rf.name, "kill_node");
  EXPECT_EQ(rf.target, "n2");
  EXPECT_EQ(rf.start_ms, 1000);
  EXPECT_EQ(rf.end_ms, 4000.0);  // a kill with a restart lasts until the restart
  EXPECT_EQ(to_report_fault(sched[1]).end_ms, 7000.0);
}

TEST(chaos_scenario, defaults) {
  auto sc = parse_ok("duration_s = 10\n[cluster]\ntree = \"/abs/t.toml\"\n[gremlin]\n");
  EXPECT_EQ(sc.name, "s");  // the file's stem
  EXPECT_FALSE(sc.seed);
  EXPECT_EQ(sc.cluster.nodes, 3u);
  EXPECT_EQ(sc.cluster.tree, "/abs/t.toml");
  EXPECT_TRUE(sc.hypothesis.all_members_up);
  EXPECT_TRUE(sc.hypothesis.services.empty());
  EXPECT_FALSE(sc.hypothesis.p99_ms);
  EXPECT_EQ(sc.hypothesis.settle, 5000ms);
  EXPECT_TRUE(sc.workload.services.empty());
  EXPECT_EQ(sc.workload.rate_per_s, 100);
  EXPECT_EQ(sc.workload.timeout, 1000ms);
  EXPECT_EQ(sc.bounds.max_recovery, 3000ms);
  EXPECT_TRUE(sc.faults.empty());
  ASSERT_TRUE(sc.gremlin);
  EXPECT_EQ(sc.gremlin->from_ms, 0);
  EXPECT_FALSE(sc.gremlin->until_ms);
  EXPECT_EQ(sc.gremlin->every_ms, (draw_range<int64_t>{5000, 15000}));
  EXPECT_EQ(sc.gremlin->kinds.size(), 4u);
  EXPECT_EQ(sc.gremlin->for_ms, (draw_range<int64_t>{1000, 8000}));
}

TEST(chaos_scenario, attach) {
  auto sc = parse_ok("duration_s = 10\n[cluster]\nattach = [\"127.0.0.1:7101\", "
                     "\"127.0.0.1:7102\", \"127.0.0.1:7103\"]\n[[faults]]\nat_s = 1\nkind = \"kill_node\"\n"
                     "node = \"n2\"\n[gremlin]\n");
  EXPECT_EQ(sc.cluster.nodes, 3u);
  EXPECT_TRUE(sc.cluster.tree.empty());
  EXPECT_EQ(sc.cluster.attach.size(), 3u);
  // The default gremlin kinds lose the link faults.
  EXPECT_EQ(sc.gremlin->kinds,
            (std::vector<fault_kind>{fault_kind::kill_node, fault_kind::pause_node}));
  auto sched = expand_faults(sc, 1);
  ASSERT_EQ(sched.size(), 1u);  // n2 stays dead: one more down would leave no majority
  EXPECT_FALSE(sched[0].restart);
  EXPECT_EQ(sched[0].end_ms, 10000);  // dead to the end
}

TEST(chaos_scenario, kind_names_round_trip) {
  for (auto k : all_fault_kinds())
    EXPECT_EQ(fault_kind_from(to_string(k)), k);
  EXPECT_FALSE(fault_kind_from("nuke"));
}

// --- errors: one case per rule, "FILE:LINE: FIELD: what" --------------------------------

TEST(chaos_scenario_errors, syntax_and_top_level) {
  EXPECT_ERROR("duration_s = \n", "s.toml:1: syntax:", "");
  EXPECT_ERROR("colour = 1\n" + head, "s.toml:1: colour:", "unknown key (allowed here: name, seed");
  EXPECT_ERROR("[cluster]\ntree = \"t\"\n", "s.toml:1: duration_s:", "missing");
  EXPECT_ERROR("duration_s = 0\n", "s.toml:1: duration_s:", "must be >= 0.001");
  EXPECT_ERROR("duration_s = 100000\n", "s.toml:1: duration_s:", "must be <= 86400");
  EXPECT_ERROR("duration_s = \"x\"\n", "s.toml:1: duration_s:", "expected a number, got a string");
  EXPECT_ERROR("seed = -1\n" + head, "s.toml:1: seed:", "must be >= 0");
  EXPECT_ERROR("name = \"\"\n" + head, "s.toml:1: name:", "must not be empty");
  EXPECT_ERROR("duration_s = 5\n", "s.toml:1: cluster:", "missing");
}

TEST(chaos_scenario_errors, cluster) {
  EXPECT_ERROR("duration_s = 5\ncluster = 3\n", "s.toml:2: cluster:", "expected a table");
  EXPECT_ERROR("duration_s = 5\n[cluster]\nnodes = 3\n", "s.toml:2: cluster.tree:", "missing");
  EXPECT_ERROR("duration_s = 5\n[cluster]\nnodes = 10\ntree = \"t\"\n", "s.toml:3: cluster.nodes:",
               "must be <= 9");
  EXPECT_ERROR("duration_s = 5\n[cluster]\nnodes = 0\ntree = \"t\"\n", "s.toml:3: cluster.nodes:",
               "must be >= 1");
  EXPECT_ERROR("duration_s = 5\n[cluster]\ntree = \"t\"\nport = 1\n", "s.toml:4: cluster.port:",
               "unknown key (allowed here: nodes, tree, attach)");
  EXPECT_ERROR("duration_s = 5\n[cluster]\nattach = [\"a:1\"]\nnodes = 1\n",
               "s.toml:4: cluster.nodes:", "not with attach");
  EXPECT_ERROR("duration_s = 5\n[cluster]\nattach = [\"a:1\"]\ntree = \"t\"\n",
               "s.toml:4: cluster.tree:", "not with attach");
  EXPECT_ERROR("duration_s = 5\n[cluster]\nattach = [\"a:1\", \"nope\"]\n",
               "s.toml:3: cluster.attach[1]:", "is not host:port");
  EXPECT_ERROR("duration_s = 5\n[cluster]\nattach = [\"a:70000\"]\n",
               "s.toml:3: cluster.attach[0]:", "is not host:port");
  EXPECT_ERROR("duration_s = 5\n[cluster]\nattach = []\n", "s.toml:3: cluster.attach:",
               "expected 1..9 addresses");
  EXPECT_ERROR("duration_s = 5\n[cluster]\nattach = [\"a:1\", \"a:1\"]\n",
               "s.toml:3: cluster.attach[1]:", "listed twice");
}

TEST(chaos_scenario_errors, hypothesis_workload_bounds) {
  EXPECT_ERROR(head + "[hypothesis]\nall_members_up = 1\n", "s.toml:6: hypothesis.all_members_up:",
               "expected true or false");
  EXPECT_ERROR(head + "[hypothesis]\nservices = \"ledger\"\n", "s.toml:6: hypothesis.services:",
               "expected an array of strings");
  EXPECT_ERROR(head + "[hypothesis]\nservices = [\"\"]\n", "s.toml:6: hypothesis.services[0]:",
               "must not be empty");
  EXPECT_ERROR(head + "[hypothesis]\np99_ms = 0\n", "s.toml:6: hypothesis.p99_ms:", "must be >=");
  EXPECT_ERROR(head + "[hypothesis]\nsettle_s = -1\n", "s.toml:6: hypothesis.settle_s:",
               "must be >= 0");
  EXPECT_ERROR(head + "[hypothesis]\nup = true\n", "s.toml:6: hypothesis.up:", "unknown key");
  EXPECT_ERROR(head + "[workload]\nrate_per_s = 0\n", "s.toml:6: workload.rate_per_s:",
               "must be >=");
  EXPECT_ERROR(head + "[workload]\ntimeout_ms = 0\n", "s.toml:6: workload.timeout_ms:",
               "must be >= 1");
  EXPECT_ERROR(head + "[workload]\nrate = 1\n", "s.toml:6: workload.rate:",
               "unknown key (allowed here: services, rate_per_s, timeout_ms)");
  EXPECT_ERROR(head + "[bounds]\nmin_availability = 1.5\n", "s.toml:6: bounds.min_availability:",
               "must be <= 1");
  EXPECT_ERROR(head + "[bounds]\nnuke_recovery_ms = 5\n", "s.toml:6: bounds.nuke_recovery_ms:",
               "unknown key (allowed here: max_recovery_ms, min_availability, max_p99_ms, "
               "kill_node_recovery_ms");
  EXPECT_ERROR(head + "[bounds]\nmax_recovery_ms = 0\n", "s.toml:6: bounds.max_recovery_ms:",
               "must be >= 1");
}

TEST(chaos_scenario_errors, fault_keys_per_kind) {
  EXPECT_ERROR("faults = 1\n" + head, "s.toml:1: faults:", "expected an array of tables");
  EXPECT_ERROR(head + fsec("at_s = 1\n"), "s.toml:5: faults[0].kind:", "missing (one of: kill_node");
  EXPECT_ERROR(head + fsec("at_s = 1\nkind = \"nuke\"\n"), "s.toml:7: faults[0].kind:",
               "\"nuke\" is not one of");
  EXPECT_ERROR(head + fsec("kind = \"reset\"\n"), "s.toml:5: faults[0].at_s:", "missing");
  EXPECT_ERROR(head + fsec("at_s = 1\nkind = \"reset\"\nwhat = 1\n"), "s.toml:8: faults[0].what:",
               "unknown key (allowed here: at_s, kind");
  EXPECT_ERROR(head + fsec("at_s = 1\nkind = \"kill_node\"\n"), "s.toml:5: faults[0].node:",
               "missing (kind = \"kill_node\" needs node)");
  EXPECT_ERROR(head + fsec("at_s = 1\nkind = \"kill_node\"\nnode = \"n1\"\nfor_s = 2\n"),
               "s.toml:9: faults[0].for_s:", "not allowed with kind = \"kill_node\" (allowed: "
                                            "at_s, kind, node, restart_after_s)");
  EXPECT_ERROR(head + fsec("at_s = 1\nkind = \"pause_node\"\nnode = \"n1\"\n"),
               "s.toml:5: faults[0].for_s:", "missing (kind = \"pause_node\" needs node, for_s)");
  EXPECT_ERROR(head + fsec("at_s = 1\nkind = \"cut_link\"\nlink = [\"n1\", \"n2\"]\nnode = \"n1\"\nfor_s = 1\n"),
               "s.toml:9: faults[0].node:", "not allowed with kind = \"cut_link\"");
  EXPECT_ERROR(head + fsec("at_s = 1\nkind = \"latency\"\nlink = [\"n1\", \"n2\"]\nfor_s = 1\n"),
               "s.toml:5: faults[0].ms:", "missing");
  EXPECT_ERROR(head + fsec("at_s = 1\nkind = \"loss\"\nlink = [\"n1\", \"n2\"]\nfor_s = 1\nprobability = 0\n"),
               "s.toml:10: faults[0].probability:", "must be > 0");
  EXPECT_ERROR(head + fsec("at_s = 1\nkind = \"loss\"\nlink = [\"n1\", \"n2\"]\nfor_s = 1\nprobability = 1.5\n"),
               "s.toml:10: faults[0].probability:", "must be <= 1");
  EXPECT_ERROR(head + fsec("at_s = 1\nkind = \"kill_service\"\nnode = \"n1\"\n"),
               "s.toml:5: faults[0].service:", "missing");
  EXPECT_ERROR(head + fsec("at_s = 1\nkind = \"reset\"\nlink = [\"n1\", \"n2\"]\nms = 3\n"),
               "s.toml:9: faults[0].ms:", "not allowed with kind = \"reset\"");
}

TEST(chaos_scenario_errors, fault_values) {
  EXPECT_ERROR(head + fsec("at_s = 1\nkind = \"kill_node\"\nnode = \"n4\"\n"),
               "s.toml:8: faults[0].node:", "no node \"n4\" (the cluster has n1, n2, n3)");
  EXPECT_ERROR(head + fsec("at_s = 1\nkind = \"reset\"\nlink = [\"n1\"]\n"),
               "s.toml:8: faults[0].link:", "expected two node names");
  EXPECT_ERROR(head + fsec("at_s = 1\nkind = \"reset\"\nlink = [\"n1\", \"n1\"]\n"),
               "s.toml:8: faults[0].link:", "needs two different nodes");
  EXPECT_ERROR(head + fsec("at_s = 1\nkind = \"reset\"\nlink = [\"n1\", \"n9\"]\n"),
               "s.toml:8: faults[0].link[1]:", "no node \"n9\"");
  EXPECT_ERROR(head + fsec("at_s = 60\nkind = \"reset\"\nlink = [\"n1\", \"n2\"]\n"),
               "s.toml:6: faults[0].at_s:", "must be before duration_s");
  EXPECT_ERROR(head + fsec("at_s = 55\nkind = \"pause_node\"\nnode = \"n1\"\nfor_s = 6\n"),
               "s.toml:9: faults[0].for_s:", "must end by duration_s");
  EXPECT_ERROR(head + fsec("at_s = 55\nkind = \"kill_node\"\nnode = \"n1\"\nrestart_after_s = 6\n"),
               "s.toml:9: faults[0].restart_after_s:", "by duration_s");
  EXPECT_ERROR(head + fsec("at_s = 1\nkind = \"latency\"\nlink = [\"n1\", \"n2\"]\nms = 0\nfor_s = 1\n"),
               "s.toml:9: faults[0].ms:", "must be >=");
}

TEST(chaos_scenario_errors, overload) {
  const std::string o = "at_s = 1\nkind = \"overload\"\nservice = \"sink\"\n";  // lines 6-8
  EXPECT_ERROR(head + fsec(o + "for_s = 5\n"), "s.toml:5: faults[0].rate_per_s:",
               "missing (kind = \"overload\" needs service, rate_per_s, for_s)");
  EXPECT_ERROR(head + fsec(o + "for_s = 5\nrate_per_s = 0\n"), "s.toml:10: faults[0].rate_per_s:",
               "must be >= 0.001");
  EXPECT_ERROR(head + fsec(o + "for_s = 5\nrate_per_s = 10\nnode = \"n1\"\n"),
               "s.toml:11: faults[0].node:", "not allowed with kind = \"overload\"");
  EXPECT_ERROR(head + "[gremlin]\nkinds = [\"overload\"]\n", "s.toml:6: gremlin.kinds[0]:",
               "overload is not a gremlin kind");
  // It holds no node: a pause of any node may share its window.
  auto sc = parse_chaos_scenario(head + fsec(o + "for_s = 5\nrate_per_s = 2000\n")
                                   + fsec("at_s = 2\nkind = \"pause_node\"\nnode = \"n1\"\nfor_s = 1\n"),
                                 "s.toml");
  ASSERT_TRUE(sc) << warden::config_error_text(sc.error());
  auto xs = expand_faults(*sc, 1);
  ASSERT_EQ(xs.size(), 2u);
  EXPECT_EQ(xs[0].kind, fault_kind::overload);
  EXPECT_TRUE(xs[0].nodes.empty());
  EXPECT_EQ(xs[0].end_ms, 6000);
  EXPECT_EQ(xs[0].target_text(), "sink at 2000/s");
  EXPECT_EQ(to_report_fault(xs[0]).end_ms, 6000.0);
}

TEST(chaos_scenario_errors, partitions) {
  const std::string p = "at_s = 1\nkind = \"partition\"\nfor_s = 1\n";  // lines 6-8
  EXPECT_ERROR(head + fsec(p), "s.toml:5: faults[0].groups:", "missing (groups = ");
  EXPECT_ERROR(head + fsec(p + "halves = true\ngroups = [[\"n1\"], [\"n2\", \"n3\"]]\n"),
               "s.toml:9: faults[0].halves:", "not with groups");
  EXPECT_ERROR(head + fsec(p + "halves = false\n"), "s.toml:9: faults[0].halves:", "must be true");
  EXPECT_ERROR(head + fsec(p + "groups = [[\"n1\", \"n2\", \"n3\"]]\n"),
               "s.toml:9: faults[0].groups:", "at least two groups");
  EXPECT_ERROR(head + fsec(p + "groups = [[\"n1\"], []]\n"), "s.toml:9: faults[0].groups[1]:",
               "non-empty");
  EXPECT_ERROR(head + fsec(p + "groups = [[\"n1\", \"n2\"], [\"n2\", \"n3\"]]\n"),
               "s.toml:9: faults[0].groups[1][0]:", "\"n2\" is in two groups");
  EXPECT_ERROR(head + fsec(p + "groups = [[\"n1\"], [\"n2\"]]\n"), "s.toml:9: faults[0].groups:",
               "must cover every node: n3 not in any group");
  EXPECT_ERROR("duration_s = 9\n[cluster]\nnodes = 1\ntree = \"t\"\n" + fsec(p + "halves = true\n"),
               "s.toml:5: faults[0]:", "at least 2 nodes");
}

TEST(chaos_scenario_errors, attach_forbids_link_faults_and_restarts) {
  const std::string a = "duration_s = 60\n[cluster]\nattach = [\"h:1\", \"h:2\", \"h:3\"]\n";
  EXPECT_ERROR(a + fsec("at_s = 1\nkind = \"cut_link\"\nlink = [\"n1\", \"n2\"]\nfor_s = 1\n"),
               "s.toml:6: faults[0].kind:", "not possible with cluster.attach");
  EXPECT_ERROR(a + fsec("at_s = 1\nkind = \"kill_node\"\nnode = \"n1\"\nrestart_after_s = 1\n"),
               "s.toml:8: faults[0].restart_after_s:", "not with cluster.attach");
  EXPECT_ERROR(a + "[gremlin]\nkinds = [\"pause_node\", \"partition\"]\n",
               "s.toml:5: gremlin.kinds[1]:", "not possible with cluster.attach");
}

TEST(chaos_scenario_errors, overlap_and_majority) {
  // Same node, overlapping windows (closed: touching counts).
  EXPECT_ERROR(head + fsec("at_s = 1\nkind = \"pause_node\"\nnode = \"n1\"\nfor_s = 5\n")
                 + fsec("at_s = 6\nkind = \"kill_service\"\nnode = \"n1\"\nservice = \"x\"\n"),
               "s.toml:10: faults[1]:", "overlaps the pause_node at line 5");
  // A link shares its end nodes.
  EXPECT_ERROR(head + fsec("at_s = 1\nkind = \"pause_node\"\nnode = \"n1\"\nfor_s = 5\n")
                 + fsec("at_s = 2\nkind = \"reset\"\nlink = [\"n2\", \"n1\"]\n"),
               "s.toml:10: faults[1]:", "overlaps");
  // A killed node without restart stays dead to the end.
  EXPECT_ERROR(head + fsec("at_s = 1\nkind = \"kill_node\"\nnode = \"n1\"\n")
                 + fsec("at_s = 30\nkind = \"pause_node\"\nnode = \"n1\"\nfor_s = 1\n"),
               "s.toml:9: faults[1]:", "overlaps the kill_node at line 5");
  // A partition holds every node.
  EXPECT_ERROR(head + fsec("at_s = 1\nkind = \"partition\"\nhalves = true\nfor_s = 5\n")
                 + fsec("at_s = 3\nkind = \"cut_link\"\nlink = [\"n1\", \"n2\"]\nfor_s = 1\n"),
               "s.toml:10: faults[1]:", "overlaps the partition");
  // Two of three down at once.
  EXPECT_ERROR(head + fsec("at_s = 1\nkind = \"kill_node\"\nnode = \"n1\"\nrestart_after_s = 5\n")
                 + fsec("at_s = 3\nkind = \"pause_node\"\nnode = \"n2\"\nfor_s = 1\n"),
               "s.toml:10: faults[1]:", "would kill or pause 2 of 3 nodes at once (at most 1");
  // Disjoint nodes after the first ends: fine.
  EXPECT_EQ(error_of(head + fsec("at_s = 1\nkind = \"kill_node\"\nnode = \"n1\"\nrestart_after_s = 5\n")
                     + fsec("at_s = 6.001\nkind = \"pause_node\"\nnode = \"n1\"\nfor_s = 1\n")),
            "");
}

TEST(chaos_scenario_errors, gremlin) {
  EXPECT_ERROR(head + "[gremlin]\nevery = 1\n", "s.toml:6: gremlin.every:", "unknown key");
  EXPECT_ERROR(head + "[gremlin]\nevery_s = [5]\n", "s.toml:6: gremlin.every_s:",
               "expected [low, high]");
  EXPECT_ERROR(head + "[gremlin]\nevery_s = [5, 1]\n", "s.toml:6: gremlin.every_s:",
               "high must be >= low");
  EXPECT_ERROR(head + "[gremlin]\nevery_s = [0, 1]\n", "s.toml:6: gremlin.every_s[0]:",
               "must be >= 0.001");
  EXPECT_ERROR(head + "[gremlin]\nfor_s = [1, \"x\"]\n", "s.toml:6: gremlin.for_s[1]:",
               "expected a number");
  EXPECT_ERROR(head + "[gremlin]\nuntil_s = 61\n", "s.toml:6: gremlin.until_s:",
               "must be <= duration_s");
  EXPECT_ERROR(head + "[gremlin]\nfrom_s = 10\nuntil_s = 10\n", "s.toml:7: gremlin.until_s:",
               "must be after from_s");
  EXPECT_ERROR(head + "[gremlin]\nkinds = []\n", "s.toml:6: gremlin.kinds:", "at least one");
  EXPECT_ERROR(head + "[gremlin]\nkinds = [\"nuke\"]\n", "s.toml:6: gremlin.kinds[0]:",
               "\"nuke\" is not one of");
  EXPECT_ERROR(head + "[gremlin]\nkinds = [\"kill_service\"]\n", "s.toml:6: gremlin.kinds[0]:",
               "kill_service needs services");
  EXPECT_ERROR(head + "[gremlin]\nprobability = [0.1, 2]\n", "s.toml:6: gremlin.probability[1]:",
               "must be <= 1");
  EXPECT_ERROR(head + "[gremlin]\nms = [0, 2]\n", "s.toml:6: gremlin.ms[0]:", "must be >=");
}

TEST(chaos_scenario_errors, load) {
  auto res = load_chaos_scenario("/nonexistent/x.toml");
  ASSERT_FALSE(res);
  EXPECT_EQ(warden::config_error_text(res.error()).rfind("/nonexistent/x.toml: cannot read:", 0), 0u);
}

// --- expansion ---------------------------------------------------------------------------

namespace {

const std::string gremlin_text = R"(duration_s = 200
[cluster]
nodes = 5
tree = "t"
[workload]
services = ["ledger"]
[[faults]]
at_s = 1
kind = "kill_node"
node = "n1"
restart_after_s = 2
[gremlin]
from_s = 5
until_s = 190
every_s = [0.5, 3]
kinds = ["kill_node", "pause_node", "partition", "cut_link", "latency", "jitter", "loss", "reset", "kill_service"]
for_s = [1, 8]
ms = [50, 300]
probability = [0.1, 0.3]
)";

// Checks the schedule's invariants (fatal failures stop at the first).
void check_schedule(const chaos_scenario& sc, const std::vector<scheduled_fault>& xs,
                    uint64_t seed) {
  auto& g = *sc.gremlin;
  auto names = sc.node_names();
  for (size_t i = 0; i < xs.size(); ++i) {
    auto& f = xs[i];
    SCOPED_TRACE(testing::Message() << "seed " << seed << " fault " << i << " "
                                    << to_string(f.kind) << " " << f.target_text());
    if (i > 0) {
      ASSERT_LE(xs[i - 1].start_ms, f.start_ms);  // sorted
    }
    ASSERT_LE(f.end_ms, sc.duration_ms);
    for (auto& n : f.nodes)
      ASSERT_NE(std::find(names.begin(), names.end(), n), names.end());
    if (f.from_gremlin) {
      ASSERT_GE(f.start_ms, g.from_ms + g.every_ms.lo);
      ASSERT_LT(f.start_ms, *g.until_ms);
      ASSERT_LE(f.end_ms, *g.until_ms);
      ASSERT_NE(std::find(g.kinds.begin(), g.kinds.end(), f.kind), g.kinds.end());
      if (!is_instant(f.kind) || f.kind == fault_kind::kill_node) {
        ASSERT_GE(f.end_ms - f.start_ms, g.for_ms.lo);
        ASSERT_LE(f.end_ms - f.start_ms, g.for_ms.hi);
      } else {
        ASSERT_EQ(f.end_ms, f.start_ms);
      }
      if (f.kind == fault_kind::latency || f.kind == fault_kind::jitter) {
        ASSERT_GE(f.ms, g.ms.lo);
        ASSERT_LE(f.ms, g.ms.hi);
      }
      if (f.kind == fault_kind::loss) {
        ASSERT_GE(f.probability, g.probability.lo);
        ASSERT_LE(f.probability, g.probability.hi);
      }
      if (f.kind == fault_kind::partition) {
        ASSERT_EQ(f.groups.size(), 2u);
        ASSERT_EQ(f.groups[0].size(), 3u);  // ceil(5/2)
        std::set<std::string> all(f.nodes.begin(), f.nodes.end());
        ASSERT_EQ(all.size(), 5u);
      }
      if (f.kind == fault_kind::kill_node) {
        ASSERT_TRUE(f.restart);
      }
      if (f.kind == fault_kind::kill_service) {
        ASSERT_EQ(f.service, "ledger");
      }
    }
    // No overlap on a shared node with any other fault.
    for (size_t j = 0; j < i; ++j) {
      auto& o = xs[j];
      bool shared = std::any_of(f.nodes.begin(), f.nodes.end(), [&](auto& n) {
        return std::find(o.nodes.begin(), o.nodes.end(), n) != o.nodes.end();
      });
      bool overlap = f.start_ms <= o.end_ms && o.start_ms <= f.end_ms;
      ASSERT_FALSE(shared && overlap) << "overlaps fault " << j;
    }
    // At most (5-1)/2 = 2 nodes killed or paused at f's start.
    size_t down = 0;
    for (auto& o : xs)
      if ((o.kind == fault_kind::kill_node || o.kind == fault_kind::pause_node)
          && o.start_ms <= f.start_ms && f.start_ms <= o.end_ms)
        ++down;
    ASSERT_LE(down, 2u);
  }
}

} // namespace

TEST(chaos_expand, deterministic_per_seed_and_differs_across_seeds) {
  auto sc = parse_ok(gremlin_text);
  auto a = expand_faults(sc, 12345);
  EXPECT_EQ(a, expand_faults(sc, 12345));
  EXPECT_NE(a, expand_faults(sc, 12346));
  EXPECT_GT(a.size(), 20u);
  // The explicit fault is first and kept as written.
  EXPECT_FALSE(a[0].from_gremlin);
  EXPECT_EQ(a[0].start_ms, 1000);
  EXPECT_EQ(a[0].end_ms, 3000);
}

TEST(chaos_expand, golden_schedule_is_portable) {
  // Pinned output: the schedule must not change across standard libraries or releases
  // (our own uniform mapping over std::mt19937_64, whose output the standard fixes).
  portable_rng rng{42};
  std::vector<int64_t> xs;
  for (int i = 0; i < 5; ++i)
    xs.push_back(rng.uniform_int(0, 999));
  std::mt19937_64 ref{42};
  std::vector<int64_t> expect;
  for (int i = 0; i < 5; ++i) {
    uint64_t x = 0;
    auto n = uint64_t{1000};
    auto limit = UINT64_MAX - UINT64_MAX % n;
    do
      x = ref();
    while (x >= limit);
    expect.push_back(static_cast<int64_t>(x % n));
  }
  EXPECT_EQ(xs, expect);
  // The first faults of a gremlin schedule, pinned.
  auto sched = expand_faults(parse_ok(gremlin_text), 42);
  ASSERT_GE(sched.size(), 4u);
  auto line = [&](size_t i) {
    auto& f = sched[i];
    return fmt::format("{} {} {} {} {} {}", to_string(f.kind), f.target_text(), f.start_ms,
                       f.end_ms, f.ms, f.probability);
  };
  EXPECT_EQ(line(0), "kill_node n1 1000 3000 0 0");
  EXPECT_EQ(line(1), "jitter n3<->n2 7695 9500 73.517 0");
  EXPECT_EQ(line(2), "kill_node n5 8482 11312 0 0");
  EXPECT_EQ(line(3), "loss n5<->n4 11452 12466 0 0.25");
  std::mt19937_64 std_ref{5489u};
  std_ref.discard(9999);
  EXPECT_EQ(std_ref(), 9981545732273789042ull);  // the standard's required 10000th value
}

TEST(chaos_expand, property_over_200_seeds) {
  auto sc = parse_ok(gremlin_text);
  std::map<fault_kind, int> seen;
  std::set<size_t> sizes;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    auto xs = expand_faults(sc, seed);
    check_schedule(sc, xs, seed);
    if (HasFatalFailure())
      return;
    sizes.insert(xs.size());
    for (auto& f : xs)
      ++seen[f.kind];
  }
  for (auto k : all_fault_kinds())
    if (k != fault_kind::overload) {  // not a gremlin kind
      EXPECT_GT(seen[k], 0) << to_string(k);
    }
  EXPECT_EQ(seen[fault_kind::overload], 0);
  EXPECT_GT(sizes.size(), 1u);
}

TEST(chaos_expand, gremlin_never_downs_a_majority_of_three) {
  auto sc = parse_ok("duration_s = 100\n[cluster]\ntree = \"t\"\n[gremlin]\nevery_s = [0.1, 0.5]\n"
                     "kinds = [\"kill_node\", \"pause_node\"]\nfor_s = [5, 10]\n");
  for (uint64_t seed = 0; seed < 200; ++seed) {
    auto xs = expand_faults(sc, seed);
    ASSERT_FALSE(xs.empty());
    for (auto& f : xs)
      for (auto& o : xs)
        if (&f != &o) {
          // A node counts as down 5 s past its fault (its quarantine before rejoining).
          ASSERT_FALSE(f.start_ms <= o.end_ms + 5000 && o.start_ms <= f.end_ms + 5000)
            << "seed " << seed << ": two of three nodes down at once";
        }
  }
}

// --- shipped scenarios -------------------------------------------------------------------

TEST(chaos_scenario, shipped_scenarios_load_and_expand) {
  const std::string dir = std::string{WARDEN_SOURCE_DIR} + "/demo/chaos/";
  for (auto file : {"kill-node.toml", "pause-node.toml", "partition-halves.toml", "gremlin.toml",
                    "overload.toml"}) {
    SCOPED_TRACE(file);
    auto sc = load_chaos_scenario(dir + file);
    ASSERT_TRUE(sc) << warden::config_error_text(sc.error());
    EXPECT_EQ(sc->cluster.tree,
              dir + (std::string{file} == "overload.toml" ? "overload-tree.toml" : "tree.toml"));
    auto xs = expand_faults(*sc, sc->seed.value_or(1));
    ASSERT_FALSE(xs.empty());
    EXPECT_EQ(xs, expand_faults(*sc, sc->seed.value_or(1)));
  }
  auto kill = *load_chaos_scenario(dir + "kill-node.toml");
  auto ks = expand_faults(kill, 42);
  ASSERT_EQ(ks.size(), 1u);
  EXPECT_EQ(ks[0].target_text(), "n3");
  EXPECT_EQ(kill.bounds.max_recovery_for.at("kill_node"), 500ms);
  auto part = *load_chaos_scenario(dir + "partition-halves.toml");
  EXPECT_EQ(expand_faults(part, 3).at(0).target_text(), "n1,n2,n4 | n3,n5");
  auto grem = *load_chaos_scenario(dir + "gremlin.toml");
  EXPECT_FALSE(grem.seed);
  EXPECT_GT(expand_faults(grem, 7).size(), 5u);
  // The shared tree parses with the built-in services: a singleton and a spread.
  warden::service_catalog catalog;
  warden::add_builtin_services(catalog);
  auto tree = warden::load_tree_file(kill.cluster.tree, catalog);
  ASSERT_TRUE(tree) << warden::config_error_text(tree.error());
  EXPECT_EQ(tree->cluster_services.size(), 2u);
  auto over = *load_chaos_scenario(dir + "overload.toml");
  auto over_tree = warden::load_tree_file(over.cluster.tree, catalog);
  ASSERT_TRUE(over_tree) << warden::config_error_text(over_tree.error());
  EXPECT_EQ(over_tree->cluster_services.size(), 3u);
}
