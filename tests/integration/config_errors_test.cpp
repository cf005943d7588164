// Bad tree files and bad fault plans: `warden run` refuses them before anything starts,
// with exit code 2 and one line on stderr naming the file, the line and the field.
#include "warden_process.hpp"

using namespace warden::it;

namespace {

struct bad_tree {
  const char* name;   // test name
  const char* toml;   // the tree file
  int line;           // the line the message must name
  const char* field;  // the field the message must name
  const char* what;   // a phrase the message must contain
};

std::ostream& operator<<(std::ostream& os, const bad_tree& x) {
  return os << x.name;
}

const bad_tree bad_trees[] = {
  {"syntax_error", "intensity = 3\nstrategy = \"one_for_one\n", 2, "syntax", ""},
  {"unknown_root_key", "intensity = 3\nintensty = 4\n", 2, "intensty", "unknown key"},
  {"unknown_child_key",
   "[[children]]\nid = \"a\"\nservice = \"echo\"\nrestrat = \"transient\"\n", 4,
   "children[0].restrat", "unknown key"},
  {"bad_strategy", "\n\nstrategy = \"one_for_none\"\n", 3, "strategy",
   "one_for_one, one_for_all, rest_for_one, dynamic"},
  {"negative_intensity", "intensity = -1\n", 1, "intensity", ">= 0"},
  {"zero_period", "period_ms = 0\n", 1, "period_ms", "> 0"},
  {"wrong_type", "intensity = \"3\"\n", 1, "intensity", "expected an integer"},
  {"duplicate_id",
   "[[children]]\nid = \"a\"\nservice = \"echo\"\n\n[[children]]\nid = \"a\"\nservice = "
   "\"counter\"\n",
   6, "children[1].id", "duplicate id \"a\""},
  {"missing_id", "[[children]]\nservice = \"echo\"\n", 1, "children[0].id", "missing"},
  {"missing_service", "[[children]]\nid = \"a\"\n", 1, "children[0].service", "missing"},
  {"unknown_service_type", "[[children]]\nid = \"a\"\nservice = \"ecko\"\n", 3,
   "children[0].service", "unknown service type \"ecko\""},
  {"significant_permanent",
   "auto_shutdown = \"any_significant\"\n[[children]]\nid = \"a\"\nservice = \"echo\"\n"
   "significant = true\n",
   5, "children[0].significant", "cannot be permanent"},
  {"significant_without_auto_shutdown",
   "[[children]]\nid = \"a\"\nservice = \"echo\"\nrestart = \"transient\"\nsignificant = "
   "true\n",
   5, "children[0].significant", "auto_shutdown"},
  {"dynamic_with_two_children",
   "strategy = \"dynamic\"\n[[children]]\nid = \"a\"\nservice = \"echo\"\n[[children]]\nid = "
   "\"b\"\nservice = \"echo\"\n",
   5, "children", "exactly one"},
  {"bad_shutdown_word", "[[children]]\nid = \"a\"\nservice = \"echo\"\nshutdown = \"soon\"\n", 4,
   "children[0].shutdown", "brutal_kill"},
  {"negative_shutdown", "[[children]]\nid = \"a\"\nservice = \"echo\"\nshutdown = -5\n", 4,
   "children[0].shutdown", "milliseconds >= 0"},
  {"bad_restart", "[[children]]\nid = \"a\"\nservice = \"echo\"\nrestart = \"sometimes\"\n", 4,
   "children[0].restart", "permanent, transient, temporary"},
  {"bad_auto_shutdown", "auto_shutdown = \"maybe\"\n", 1, "auto_shutdown", "any_significant"},
  {"max_children_without_dynamic", "max_children = 3\n", 1, "max_children", "dynamic"},
  {"backoff_min_above_max", "[backoff]\nmin_ms = 500\nmax_ms = 100\n", 1, "backoff",
   "min_ms <= max_ms"},
  {"zero_start_timeout",
   "[[children]]\nid = \"a\"\nservice = \"echo\"\nstart_timeout_ms = 0\n", 4,
   "children[0].start_timeout_ms", "> 0"},
  {"bad_param_type",
   "[[children]]\nid = \"a\"\nservice = \"counter\"\n[children.params]\nstart = \"ten\"\n", 5,
   "children[0].params.start", "expected an integer"},
  {"unknown_param",
   "[[children]]\nid = \"a\"\nservice = \"counter\"\n[children.params]\nstrat = 1\n", 5,
   "children[0].params.strat", "unknown parameter"},
  {"worker_with_supervisor_field",
   "[[children]]\nid = \"a\"\nservice = \"echo\"\nstrategy = \"one_for_all\"\n", 4,
   "children[0].strategy", "type = \"supervisor\""},
  {"error_in_a_nested_supervisor",
   "[[children]]\nid = \"sup\"\ntype = \"supervisor\"\n\n  [[children.children]]\n  id = "
   "\"a\"\n  service = \"echo\"\n  restart = \"forever\"\n",
   8, "children[0].children[0].restart", "permanent"},
  {"duplicate_registered_name",
   "[[children]]\nid = \"a\"\nservice = \"echo\"\nname = \"svc\"\n[[children]]\nid = "
   "\"b\"\nservice = \"echo\"\nname = \"svc\"\n",
   8, "children[1].name", "already the name of root/a"},
};

class bad_tree_file : public ::testing::TestWithParam<bad_tree> {};

} // namespace

TEST_P(bad_tree_file, exits_2_naming_file_line_and_field_and_starts_nothing) {
  auto& c = GetParam();
  temp_dir dir;
  auto file = dir.write(std::string{c.name} + ".toml", c.toml);
  auto log = dir.file("events.jsonl");
  auto r = run_warden({"run", file, "--json", "--log-file", log, "--duration-ms", "100"}, log);
  ASSERT_EQ(r.exit_code, 2) << dump(r);
  auto prefix = "warden: " + file + ":" + std::to_string(c.line) + ": " + c.field + ": ";
  EXPECT_EQ(r.err.rfind(prefix, 0), 0u) << "expected a line starting with\n  " << prefix
                                        << "\ngot\n  " << r.err;
  EXPECT_NE(r.err.find(c.what), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_FALSE(std::filesystem::exists(log)) << "nothing may start, not even the log";
}

INSTANTIATE_TEST_SUITE_P(cases, bad_tree_file, ::testing::ValuesIn(bad_trees),
                         [](const auto& info) { return std::string{info.param.name}; });

// --- the rest of the command line ----------------------------------------------------------

namespace {

constexpr const char* good_tree = "[[children]]\nid = \"a\"\nservice = \"echo\"\n";

run_result run_with(const temp_dir& dir, std::vector<std::string> extra) {
  std::vector<std::string> args{"run", dir.write("tree.toml", good_tree), "--duration-ms", "100"};
  args.insert(args.end(), extra.begin(), extra.end());
  return run_warden(args);
}

} // namespace

TEST(bad_command_line, a_missing_tree_file_is_exit_2_naming_the_file) {
  temp_dir dir;
  auto r = run_warden({"run", dir.file("nope.toml")});
  ASSERT_EQ(r.exit_code, 2) << dump(r);
  EXPECT_NE(r.err.find("nope.toml: cannot read"), std::string::npos) << r.err;
}

TEST(bad_command_line, a_fault_with_an_unknown_action_is_exit_2) {
  temp_dir dir;
  auto r = run_with(dir, {"--fault", "100ms:a:explode"});
  ASSERT_EQ(r.exit_code, 2) << dump(r);
  EXPECT_NE(r.err.find("--fault \"100ms:a:explode\": action: \"explode\" is not one of"),
            std::string::npos)
    << r.err;
}

TEST(bad_command_line, a_fault_on_an_unknown_path_is_exit_2_listing_the_children) {
  temp_dir dir;
  auto r = run_with(dir, {"--fault", "100ms:root/b:kill"});
  ASSERT_EQ(r.exit_code, 2) << dump(r);
  EXPECT_NE(r.err.find("path: no child \"root/b\""), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("root/a"), std::string::npos) << r.err;
}

TEST(bad_command_line, a_fault_with_a_bad_time_is_exit_2) {
  temp_dir dir;
  auto r = run_with(dir, {"--fault", "soon:a:kill"});
  ASSERT_EQ(r.exit_code, 2) << dump(r);
  EXPECT_NE(r.err.find(": at: "), std::string::npos) << r.err;
}

TEST(bad_command_line, a_cooperative_fault_on_a_supervisor_is_exit_2) {
  temp_dir dir;
  auto tree = dir.write("sup.toml",
                        "[[children]]\nid = \"s\"\ntype = \"supervisor\"\n"
                        "[[children.children]]\nid = \"a\"\nservice = \"echo\"\n");
  auto r = run_warden({"run", tree, "--fault", "10ms:s:normal"});
  ASSERT_EQ(r.exit_code, 2) << dump(r);
  EXPECT_NE(r.err.find("is a supervisor"), std::string::npos) << r.err;
}

TEST(bad_command_line, a_bad_fault_file_is_exit_2_naming_file_line_and_field) {
  temp_dir dir;
  auto faults = dir.write("faults.toml",
                          "[[fault]]\nat_ms = 10\npath = \"a\"\naction = \"kill\"\n\n"
                          "[[fault]]\nat_ms = 20\npath = \"a\"\nacton = \"kill\"\n");
  auto r = run_with(dir, {"--faults", faults});
  ASSERT_EQ(r.exit_code, 2) << dump(r);
  EXPECT_EQ(r.err.rfind("warden: " + faults + ":9: fault[1].acton: unknown key", 0), 0u)
    << r.err;
}

TEST(bad_command_line, a_fault_file_path_error_names_its_line) {
  temp_dir dir;
  auto faults = dir.write("faults.toml", "[[fault]]\nat_ms = 10\npath = \"zz\"\naction = \"kill\"\n");
  auto r = run_with(dir, {"--faults", faults});
  ASSERT_EQ(r.exit_code, 2) << dump(r);
  EXPECT_EQ(r.err.rfind("warden: " + faults + ":3: fault[0].path: no child \"zz\"", 0), 0u)
    << r.err;
}

TEST(bad_command_line, unknown_options_and_a_negative_duration_are_exit_2) {
  temp_dir dir;
  auto tree = dir.write("tree.toml", good_tree);
  auto unknown = run_warden({"run", tree, "--jsn"});
  EXPECT_EQ(unknown.exit_code, 2) << dump(unknown);
  auto negative = run_warden({"run", tree, "--duration-ms", "-5"});
  EXPECT_EQ(negative.exit_code, 2) << dump(negative);
  EXPECT_NE(negative.err.find("--duration-ms: must be >= 0"), std::string::npos) << negative.err;
  auto nothing = run_warden({});
  EXPECT_EQ(nothing.exit_code, 2) << dump(nothing);
}
