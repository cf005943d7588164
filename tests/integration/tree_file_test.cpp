// The tree file and fault plan parsers in-process: defaults, nested supervisors, the
// layout fault paths are checked against, and catalog errors.
#include <gtest/gtest.h>

#include "warden/builtin_services.hpp"
#include "warden/errors.hpp"
#include "warden/fault_plan.hpp"
#include "warden/tree_file.hpp"

using namespace warden;
using namespace std::chrono_literals;

namespace {

service_catalog builtins() {
  service_catalog catalog;
  add_builtin_services(catalog);
  return catalog;
}

} // namespace

TEST(tree_file, fields_left_out_get_the_supervisor_defaults) {
  auto tree = parse_tree("[[children]]\nid = \"a\"\nservice = \"echo\"\n", "t.toml", builtins());
  ASSERT_TRUE(tree) << config_error_text(tree.error());
  supervisor_flags defaults;
  EXPECT_EQ(tree->flags.strategy, defaults.strategy);
  EXPECT_EQ(tree->flags.intensity, defaults.intensity);
  EXPECT_EQ(tree->flags.period, defaults.period);
  EXPECT_EQ(tree->flags.auto_shutdown, defaults.auto_shutdown);
  EXPECT_FALSE(tree->flags.max_children);
  EXPECT_FALSE(tree->flags.backoff.enabled());
  EXPECT_EQ(tree->flags.name, "root");
  ASSERT_EQ(tree->children.size(), 1u);
  auto& a = tree->children[0];
  EXPECT_EQ(a.id, "a");
  EXPECT_EQ(a.restart, restart_type::permanent);
  EXPECT_EQ(a.type, child_type::worker);
  EXPECT_FALSE(a.shutdown);
  EXPECT_FALSE(a.significant);
  EXPECT_FALSE(a.start_timeout);
  EXPECT_TRUE(a.name.empty());
  EXPECT_TRUE(a.start);
}

TEST(tree_file, every_field_is_read) {
  auto tree = parse_tree(R"(
name = "top"
strategy = "rest_for_one"
intensity = 4
period_ms = 2500
auto_shutdown = "all_significant"

[backoff]
min_ms = 10
max_ms = 400
random_factor = 0.5
reset_after_ms = 9000

[[children]]
id = "a"
service = "counter"
restart = "transient"
shutdown = "brutal_kill"
significant = true
start_timeout_ms = 700
name = "the_counter"
[children.params]
start = 3

[[children]]
id = "workers"
type = "supervisor"
strategy = "dynamic"
max_children = 8
shutdown = 250
  [[children.children]]
  id = "w"
  service = "echo"
  restart = "temporary"
)",
                         "t.toml", builtins());
  ASSERT_TRUE(tree) << config_error_text(tree.error());
  EXPECT_EQ(tree->flags.name, "top");
  EXPECT_EQ(tree->flags.strategy, strategy::rest_for_one);
  EXPECT_EQ(tree->flags.intensity, 4);
  EXPECT_EQ(tree->flags.period, caf::timespan{2500ms});
  EXPECT_EQ(tree->flags.auto_shutdown, auto_shutdown::all_significant);
  EXPECT_EQ(tree->flags.backoff.min_delay, caf::timespan{10ms});
  EXPECT_EQ(tree->flags.backoff.max_delay, caf::timespan{400ms});
  EXPECT_EQ(tree->flags.backoff.random_factor, 0.5);
  EXPECT_EQ(tree->flags.backoff.reset_after, caf::timespan{9000ms});
  ASSERT_EQ(tree->children.size(), 2u);
  auto& a = tree->children[0];
  EXPECT_EQ(a.restart, restart_type::transient);
  EXPECT_EQ(a.shutdown, shutdown_policy::brutal_kill());
  EXPECT_TRUE(a.significant);
  EXPECT_EQ(a.start_timeout, caf::timespan{700ms});
  EXPECT_EQ(a.name, "the_counter");
  auto& w = tree->children[1];
  EXPECT_EQ(w.type, child_type::supervisor);
  EXPECT_EQ(w.shutdown, shutdown_policy::timeout(250ms));
  // Paths: parents before children; the dynamic template is marked.
  ASSERT_EQ(tree->layout.size(), 3u);
  EXPECT_EQ(tree->layout[0].path, "top/a");
  EXPECT_EQ(tree->layout[0].service, "counter");
  EXPECT_EQ(tree->layout[1].path, "top/workers");
  EXPECT_EQ(tree->layout[1].type, child_type::supervisor);
  EXPECT_EQ(tree->layout[2].path, "top/workers/w");
  EXPECT_TRUE(tree->layout[2].dynamic_template);
  EXPECT_EQ(tree->layout[2].source, "t.toml:31");
}

TEST(tree_file, the_catalog_gets_params_and_the_child_path) {
  service_catalog catalog;
  service_params seen;
  catalog.add("probe", [&](const service_params& p) -> caf::expected<start_function> {
    seen = p;
    auto n = p.get_int("n", 0);
    auto d = p.get_duration("d", 0ms);
    auto s = p.get_string("s", "");
    auto b = p.get_bool("b", false);
    auto f = p.get_double("f", 0);
    if (!n || !d || !s || !b || !f)
      return make_error(errc::bad_config, std::string{"?"}, std::string{"?"});
    return start_function{[](caf::local_actor*, start_info) { return caf::actor{}; }};
  }, "test probe");
  auto tree = parse_tree(R"(
[[children]]
id = "sup"
type = "supervisor"
  [[children.children]]
  id = "p"
  service = "probe"
  params = { n = 5, d = "2s", s = "x", b = true, f = 1.5 }
)",
                         "t.toml", catalog);
  ASSERT_TRUE(tree) << config_error_text(tree.error());
  EXPECT_EQ(seen.child_path, "root/sup/p");
  EXPECT_EQ(*seen.get_int("n", 0), 5);
  EXPECT_EQ(*seen.get_duration("d", 0ms), 2000ms);
  EXPECT_EQ(*seen.get_string("s", ""), "x");
  EXPECT_EQ(*seen.get_bool("b", false), true);
  EXPECT_EQ(*seen.get_double("f", 0), 1.5);
}

// global = true exports a child's stable name to the cluster; it needs a name.
TEST(tree_file, global_names_are_collected_and_need_a_name) {
  auto tree = parse_tree(R"(
[[children]]
id = "a"
service = "echo"
name = "echo"
global = true

[[children]]
id = "b"
service = "counter"
name = "local_only"
global = false
)",
                         "t.toml", builtins());
  ASSERT_TRUE(tree) << config_error_text(tree.error());
  EXPECT_EQ(tree->global_names, std::vector<std::string>{"echo"});
  auto bad = parse_tree("[[children]]\nid = \"a\"\nservice = \"echo\"\nglobal = true\n", "t.toml",
                        builtins());
  ASSERT_FALSE(bad);
  EXPECT_NE(config_error_text(bad.error()).find("t.toml:4: children[0].global: needs a name"),
            std::string::npos)
    << config_error_text(bad.error());
}

// cluster = "singleton" | "spread": collected apart from the children the tree starts.
TEST(tree_file, cluster_services_are_collected_apart_from_the_tree) {
  auto tree = parse_tree(R"(
[[children]]
id = "local"
service = "echo"

[[children]]
id = "ledger"
service = "counter"
name = "ledger"
cluster = "singleton"

[[children]]
id = "worker"
service = "echo"
name = "worker"
cluster = "spread"
instances = 3
)",
                         "t.toml", builtins());
  ASSERT_TRUE(tree) << config_error_text(tree.error());
  ASSERT_EQ(tree->children.size(), 1u);
  EXPECT_EQ(tree->children[0].id, "local");
  ASSERT_EQ(tree->cluster_services.size(), 2u);
  auto& ledger = tree->cluster_services[0];
  EXPECT_EQ(ledger.mode, cluster_mode::singleton);
  EXPECT_EQ(ledger.spec.name, "ledger");
  EXPECT_EQ(ledger.source, "t.toml:6");
  EXPECT_EQ(cluster_instance_spec(ledger, 0).id, "ledger");
  auto& worker = tree->cluster_services[1];
  EXPECT_EQ(worker.mode, cluster_mode::spread);
  EXPECT_EQ(worker.instances, 3u);
  auto third = cluster_instance_spec(worker, 2);
  EXPECT_EQ(third.id, "worker#2");
  EXPECT_EQ(third.name, "worker#2");
}

TEST(tree_file, cluster_services_are_checked) {
  struct bad_case {
    std::string toml;
    std::string message;
  };
  const std::string child = "[[children]]\nid = \"a\"\nservice = \"echo\"\n";
  std::vector<bad_case> cases{
    {child + "cluster = \"singleton\"\n", "t.toml:4: children[0].cluster: needs a name"},
    {child + "name = \"a\"\ncluster = \"everywhere\"\n",
     "children[0].cluster: \"everywhere\" is not one of: singleton, spread"},
    {child + "name = \"a\"\ncluster = \"singleton\"\ninstances = 2\n",
     "t.toml:6: children[0].instances: only allowed with cluster = \"spread\""},
    {child + "name = \"a\"\ninstances = 2\n", "children[0].instances: only allowed with"},
    {child + "name = \"a\"\ncluster = \"spread\"\ninstances = 0\n",
     "children[0].instances: must be >= 1, got 0"},
    {child + "name = \"a\"\nglobal = true\ncluster = \"singleton\"\n",
     "children[0].global: not with cluster"},
    {"[[children]]\nid = \"s\"\ntype = \"supervisor\"\n[[children.children]]\nid = \"a\"\n"
     "service = \"echo\"\nname = \"a\"\ncluster = \"singleton\"\n",
     "children[0].children[0].cluster: only allowed on children of a root supervisor"},
  };
  for (auto& bc : cases) {
    auto tree = parse_tree(bc.toml, "t.toml", builtins());
    ASSERT_FALSE(tree) << bc.toml;
    EXPECT_NE(config_error_text(tree.error()).find(bc.message), std::string::npos)
      << config_error_text(tree.error());
  }
}

// The caller's target is required.
TEST(service_catalog, caller_needs_a_target) {
  auto tree = parse_tree("[[children]]\nid = \"c\"\nservice = \"caller\"\n", "t.toml", builtins());
  ASSERT_FALSE(tree);
  EXPECT_NE(config_error_text(tree.error()).find("target"), std::string::npos)
    << config_error_text(tree.error());
}

TEST(service_catalog, unknown_types_are_named_with_the_known_ones) {
  auto res = builtins().make("nope", service_params{});
  ASSERT_FALSE(res);
  EXPECT_TRUE(is(res.error(), errc::unknown_service_type));
  auto& ctx = res.error().context();
  ASSERT_TRUE((ctx.match_elements<std::string, std::string>()));
  EXPECT_EQ(ctx.get_as<std::string>(0), "nope");
  EXPECT_EQ(ctx.get_as<std::string>(1), "known: caller, counter, echo, failing_start, ignores_shutdown, ledger, producer, slow, ticker");
}

TEST(service_catalog, builtin_params_are_checked_up_front) {
  auto catalog = builtins();
  service_params p;
  p.set("mode", std::string{"sometimes"});
  auto res = catalog.make("failing_start", p);
  ASSERT_FALSE(res);
  EXPECT_TRUE(is(res.error(), errc::bad_config));
  EXPECT_EQ(res.error().context().get_as<std::string>(0), "mode");
  service_params t;
  t.set("interval_ms", int64_t{0});
  EXPECT_FALSE(catalog.make("ticker", t));
}

TEST(fault_plan, command_line_faults_parse_times_paths_and_actions) {
  auto f = parse_fault("2s:root/db_sup/db:stall_shutdown");
  ASSERT_TRUE(f) << config_error_text(f.error());
  EXPECT_EQ(f->at, 2000ms);
  EXPECT_EQ(f->path, "root/db_sup/db");
  EXPECT_EQ(f->action, fault_action::stall_shutdown);
  EXPECT_EQ(parse_fault("250:db:kill")->at, 250ms);
  EXPECT_FALSE(parse_fault("250:db"));
  EXPECT_FALSE(parse_fault("-5:db:kill"));
  EXPECT_FALSE(parse_fault("5:db:melt"));
}

TEST(fault_plan, paths_are_completed_checked_and_sorted) {
  auto tree = parse_tree(R"(
[[children]]
id = "db_sup"
type = "supervisor"
  [[children.children]]
  id = "db"
  service = "echo"
)",
                         "t.toml", builtins());
  ASSERT_TRUE(tree);
  std::vector<fault> plan{*parse_fault("300:db_sup/db:kill"), *parse_fault("100:root/db_sup:crash")};
  ASSERT_FALSE(resolve_fault_paths(plan, *tree));
  EXPECT_EQ(plan[0].path, "root/db_sup");
  EXPECT_EQ(plan[1].path, "root/db_sup/db");
  std::vector<fault> bad{*parse_fault("1:db:kill")};  // db is not a root child
  auto err = resolve_fault_paths(bad, *tree);
  ASSERT_TRUE(err);
  EXPECT_NE(config_error_text(err).find("no child \"db\""), std::string::npos);
}

TEST(fault_plan, switches_arm_one_start_failure_and_stalls) {
  fault_switches sw;
  EXPECT_FALSE(sw.take_start_failure("root/a"));
  sw.fail_next_start("root/a", caf::make_error(caf::sec::runtime_error));
  EXPECT_TRUE(sw.take_start_failure("root/a"));
  EXPECT_FALSE(sw.take_start_failure("root/a"));
  EXPECT_FALSE(sw.shutdown_stalled("root/a"));
  sw.stall_shutdown("root/a");
  EXPECT_TRUE(sw.shutdown_stalled("root/a"));
  sw.clear();
  EXPECT_FALSE(sw.shutdown_stalled("root/a"));
}
