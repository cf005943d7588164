// `warden run` end to end: the real binary, a tree file, injected faults, the JSON event
// log. Each test runs a few hundred milliseconds of tree time.
#include "warden_process.hpp"

using namespace warden::it;

namespace {

// root (one_for_one): a, b, pair (one_for_all: x, y), c (transient)
constexpr const char* basic_tree = R"(
intensity = 5
period_ms = 5000

[[children]]
id = "a"
service = "echo"

[[children]]
id = "b"
service = "counter"
[children.params]
start = 7

[[children]]
id = "pair"
type = "supervisor"
strategy = "one_for_all"
intensity = 3

  [[children.children]]
  id = "x"
  service = "echo"

  [[children.children]]
  id = "y"
  service = "ticker"
  [children.children.params]
  interval_ms = 20

[[children]]
id = "c"
service = "echo"
restart = "transient"
)";

const std::vector<std::string> start_order = {"root/a",      "root/b", "root/pair/x",
                                              "root/pair/y", "root/pair", "root/c"};
const std::vector<std::string> stop_order = {"root/c",      "root/pair/y", "root/pair/x",
                                             "root/pair",   "root/b",      "root/a"};

class warden_run : public ::testing::Test {
protected:
  /// Runs `tree` with a JSON log and `extra` arguments.
  run_result run(const std::string& tree, std::vector<std::string> extra,
                 std::chrono::milliseconds timeout = 20s) {
    auto file = dir.write("tree.toml", tree);
    std::vector<std::string> args{"run", file, "--json", "--log-file", log()};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_warden(args, log(), timeout);
  }

  std::string log() const { return dir.file("events.jsonl"); }

  temp_dir dir;
};

/// The events from index `from` on.
std::vector<json> after(const std::vector<json>& evs, size_t from) {
  return {evs.begin() + static_cast<std::ptrdiff_t>(std::min(from, evs.size())), evs.end()};
}

} // namespace

TEST_F(warden_run, starts_children_in_order_and_stops_them_in_reverse_order) {
  auto r = run(basic_tree, {"--duration-ms", "200"});
  ASSERT_EQ(r.exit_code, 0) << dump(r);
  EXPECT_EQ(paths_of(r.events, "child_started"), start_order) << dump(r);
  EXPECT_EQ(paths_of(r.events, "child_shutdown"), stop_order) << dump(r);
  ASSERT_FALSE(r.events.empty());
  EXPECT_EQ(r.events.back()["event"], "supervisor_stopped");
  EXPECT_EQ(r.events.back()["supervisor"], "root");
  EXPECT_EQ(r.events.back()["reason"], "shutdown");
  EXPECT_NE(r.out.find("tree up"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tree stopped"), std::string::npos) << r.out;
  EXPECT_TRUE(paths_of(r.events, "child_terminated").empty()) << dump(r);
}

TEST_F(warden_run, crash_fault_terminates_then_restarts_only_that_child) {
  auto r = run(basic_tree, {"--duration-ms", "300", "--fault", "100ms:root/b:crash"});
  ASSERT_EQ(r.exit_code, 0) << dump(r);
  EXPECT_EQ(history(r.events, "root/b"),
            (std::vector<std::string>{"child_started", "child_terminated", "child_started",
                                      "child_restarted", "child_shutdown"}))
    << dump(r);
  auto* term = find_event(r.events, "child_terminated", "root/b");
  ASSERT_NE(term, nullptr);
  EXPECT_EQ((*term)["reason"], "runtime_error(\"injected crash\")");
  auto* restarted = find_event(r.events, "child_restarted", "root/b");
  ASSERT_NE(restarted, nullptr);
  EXPECT_EQ((*restarted)["restart_count"], 1);
  // one_for_one: the siblings keep running.
  EXPECT_EQ(history(r.events, "root/a"),
            (std::vector<std::string>{"child_started", "child_shutdown"}));
  EXPECT_NE(r.out.find("fault at 100ms: crash root/b"), std::string::npos) << r.out;
}

TEST_F(warden_run, kill_under_one_for_all_restarts_the_siblings_in_order) {
  auto r = run(basic_tree, {"--duration-ms", "300", "--fault", "100:pair/x:kill"});
  ASSERT_EQ(r.exit_code, 0) << dump(r);
  // After the start phase, up to the final shutdown: the group restart of root/pair.
  auto evs = after(r.events, start_order.size());
  std::vector<std::string> group;
  for (auto& ev : evs) {
    if (ev["supervisor"] != "root/pair")
      continue;
    if (ev["event"] == "child_restarted") {
      group.push_back("child_restarted:" + where(ev));
      break;
    }
    group.push_back(ev["event"].get<std::string>() + ":" + where(ev));
  }
  EXPECT_EQ(group, (std::vector<std::string>{
                     "child_terminated:root/pair/x",  // killed
                     "child_shutdown:root/pair/y",    // the sibling stops
                     "child_started:root/pair/x",     // then all start in order
                     "child_started:root/pair/y",
                     "child_restarted:root/pair/x",
                   }))
    << dump(r);
  auto* term = find_event(r.events, "child_terminated", "root/pair/x");
  ASSERT_NE(term, nullptr);
  EXPECT_EQ((*term)["reason"], "killed");
  // The parent sees nothing: pair itself did not exit.
  EXPECT_EQ(find_event(r.events, "child_terminated", "root/pair"), nullptr) << dump(r);
}

TEST_F(warden_run, failing_restarts_beyond_intensity_make_the_root_give_up) {
  constexpr const char* tree = R"(
intensity = 2
period_ms = 10000

[[children]]
id = "a"
service = "echo"

[[children]]
id = "flaky"
service = "failing_start"
[children.params]
ok_starts = 1       # the first start succeeds ...
fail_starts = 100   # ... every restart fails
)";
  auto r = run(tree, {"--duration-ms", "10000", "--fault", "50ms:flaky:crash"});
  ASSERT_EQ(r.exit_code, 1) << dump(r);
  EXPECT_LT(r.elapsed, 8s) << "the root should give up long before --duration-ms";
  EXPECT_NE(r.err.find("reached_max_restart_intensity"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("\"flaky\""), std::string::npos) << r.err;
  auto* gave_up = find_event(r.events, "reached_max_restart_intensity", "root/flaky");
  ASSERT_NE(gave_up, nullptr) << dump(r);
  EXPECT_NE((*gave_up)["reason"].get<std::string>().find("fails on purpose"), std::string::npos);
  // Intensity 2: two restart attempts, both failed starts, then the give-up.
  EXPECT_EQ(history(r.events, "root/flaky"),
            (std::vector<std::string>{"child_started", "child_terminated", "start_error",
                                      "start_error", "reached_max_restart_intensity"}))
    << dump(r);
  // The rest stops in order and the root exits with the culprit attached.
  EXPECT_EQ(paths_of(r.events, "child_shutdown"), (std::vector<std::string>{"root/a"}));
  ASSERT_FALSE(r.events.empty());
  auto& last = r.events.back();
  EXPECT_EQ(last["event"], "supervisor_stopped");
  EXPECT_NE(last["reason"].get<std::string>().find("reached_max_restart_intensity(\"flaky\""),
            std::string::npos)
    << last.dump();
}

TEST_F(warden_run, a_child_that_fails_its_first_start_fails_the_tree_with_exit_code_1) {
  constexpr const char* tree = R"(
[[children]]
id = "a"
service = "echo"

[[children]]
id = "flaky"
service = "failing_start"
[children.params]
mode = "exception"
)";
  auto r = run(tree, {"--duration-ms", "5000"});
  ASSERT_EQ(r.exit_code, 1) << dump(r);
  EXPECT_NE(r.err.find("failed_to_start_child(\"flaky\""), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("tree up"), std::string::npos) << r.out;
  // a started, then was stopped when flaky failed.
  EXPECT_EQ(history(r.events, "root/a"),
            (std::vector<std::string>{"child_started", "child_shutdown"}));
  EXPECT_EQ(history(r.events, "root/flaky"), (std::vector<std::string>{"start_error"}));
}

TEST_F(warden_run, stall_shutdown_gets_the_child_killed_after_its_shutdown_timeout) {
  constexpr const char* tree = R"(
[[children]]
id = "a"
service = "echo"

[[children]]
id = "slow"
service = "echo"
shutdown = 150
)";
  auto r = run(tree, {"--duration-ms", "100", "--fault", "0ms:slow:stall_shutdown"});
  ASSERT_EQ(r.exit_code, 0) << dump(r);
  auto* err = find_event(r.events, "shutdown_error", "root/slow");
  ASSERT_NE(err, nullptr) << dump(r);
  EXPECT_EQ((*err)["reason"], "killed");
  EXPECT_EQ(find_event(r.events, "child_shutdown", "root/slow"), nullptr);
  // Stopping still goes on in order after the kill.
  EXPECT_EQ(trace(after(r.events, 2)),
            (std::vector<std::string>{"shutdown_error:root/slow", "child_shutdown:root/a",
                                      "supervisor_stopped:root"}))
    << dump(r);
  // The run took the duration plus the shutdown timeout the supervisor waited out.
  EXPECT_GE(r.elapsed, 250ms);
}

TEST_F(warden_run, ignores_shutdown_service_is_killed_after_its_shutdown_timeout) {
  constexpr const char* tree = R"(
[[children]]
id = "stubborn"
service = "ignores_shutdown"
shutdown = 100
)";
  auto r = run(tree, {"--duration-ms", "50"});
  ASSERT_EQ(r.exit_code, 0) << dump(r);
  auto* err = find_event(r.events, "shutdown_error", "root/stubborn");
  ASSERT_NE(err, nullptr) << dump(r);
  EXPECT_EQ((*err)["reason"], "killed");
}

TEST_F(warden_run, exception_fault_crashes_the_service_with_the_exception_text) {
  auto r = run(basic_tree, {"--duration-ms", "300", "--fault", "100ms:a:exception"});
  ASSERT_EQ(r.exit_code, 0) << dump(r);
  auto* term = find_event(r.events, "child_terminated", "root/a");
  ASSERT_NE(term, nullptr) << dump(r);
  EXPECT_EQ((*term)["reason"], "runtime_error(\"injected exception\")");
  EXPECT_NE(find_event(r.events, "child_restarted", "root/a"), nullptr) << dump(r);
}

TEST_F(warden_run, normal_fault_ends_a_transient_child_for_good) {
  auto r = run(basic_tree, {"--duration-ms", "300", "--fault", "100ms:root/c:normal"});
  ASSERT_EQ(r.exit_code, 0) << dump(r);
  EXPECT_EQ(history(r.events, "root/c"),
            (std::vector<std::string>{"child_started", "child_terminated"}))
    << dump(r);
  EXPECT_EQ((*find_event(r.events, "child_terminated", "root/c"))["reason"], "normal");
  // Nothing else changes; the final shutdown skips c.
  EXPECT_EQ(paths_of(r.events, "child_shutdown"),
            (std::vector<std::string>{"root/pair/y", "root/pair/x", "root/pair", "root/b",
                                      "root/a"}));
}

TEST_F(warden_run, fail_next_start_makes_one_restart_attempt_fail) {
  auto r = run(basic_tree, {"--duration-ms", "300", "--fault", "50ms:a:fail_next_start",
                            "--fault", "100ms:a:crash"});
  ASSERT_EQ(r.exit_code, 0) << dump(r);
  EXPECT_EQ(history(r.events, "root/a"),
            (std::vector<std::string>{"child_started", "child_terminated", "start_error",
                                      "child_started", "child_restarted", "child_shutdown"}))
    << dump(r);
  auto* err = find_event(r.events, "start_error", "root/a");
  ASSERT_NE(err, nullptr);
  EXPECT_EQ((*err)["reason"], "runtime_error(\"injected start failure\")");
}

TEST_F(warden_run, faults_file_runs_every_fault_in_time_order) {
  auto faults = dir.write("faults.toml", R"(
[[fault]]
at_ms = 150
path = "root/pair/y"
action = "shutdown"

[[fault]]
at_ms = 50
path = "b"
action = "kill"
)");
  auto r = run(basic_tree, {"--duration-ms", "400", "--faults", faults});
  ASSERT_EQ(r.exit_code, 0) << dump(r);
  std::vector<std::string> terminated = paths_of(r.events, "child_terminated");
  EXPECT_EQ(terminated, (std::vector<std::string>{"root/b", "root/pair/y"})) << dump(r);
  EXPECT_EQ((*find_event(r.events, "child_terminated", "root/b"))["reason"], "killed");
  EXPECT_EQ((*find_event(r.events, "child_terminated", "root/pair/y"))["reason"], "shutdown");
  auto kill_at = r.out.find("fault at 50ms: kill root/b");
  auto shutdown_at = r.out.find("fault at 150ms: shutdown root/pair/y");
  ASSERT_NE(kill_at, std::string::npos) << r.out;
  ASSERT_NE(shutdown_at, std::string::npos) << r.out;
  EXPECT_LT(kill_at, shutdown_at);
}

TEST_F(warden_run, a_root_ended_by_auto_shutdown_exits_0) {
  constexpr const char* tree = R"(
auto_shutdown = "any_significant"

[[children]]
id = "a"
service = "echo"

[[children]]
id = "job"
service = "echo"
restart = "transient"
significant = true
)";
  auto r = run(tree, {"--duration-ms", "10000", "--fault", "50ms:job:normal"});
  ASSERT_EQ(r.exit_code, 0) << dump(r);
  EXPECT_LT(r.elapsed, 8s);
  EXPECT_NE(find_event(r.events, "auto_shutdown", "root/job"), nullptr) << dump(r);
  EXPECT_NE(r.out.find("stopped on its own"), std::string::npos) << r.out;
}

class warden_signals : public warden_run, public ::testing::WithParamInterface<int> {};

TEST_P(warden_signals, a_signal_stops_the_tree_in_order_with_exit_code_0) {
  auto file = dir.write("tree.toml", basic_tree);
  warden_process p{{"run", file, "--json", "--log-file", log()}};
  ASSERT_TRUE(p.wait_for_output("tree up", 10s)) << p.out() << p.err();
  p.signal(GetParam());
  auto code = p.wait(10s);
  ASSERT_EQ(code, 0) << p.out() << p.err();
  auto events = read_events(log());
  EXPECT_EQ(paths_of(events, "child_started"), start_order);
  EXPECT_EQ(paths_of(events, "child_shutdown"), stop_order);
  EXPECT_NE(p.out().find(GetParam() == SIGINT ? "SIGINT" : "SIGTERM"), std::string::npos)
    << p.out();
}

INSTANTIATE_TEST_SUITE_P(sigint_and_sigterm, warden_signals, ::testing::Values(SIGINT, SIGTERM),
                         [](const auto& info) {
                           return std::string{info.param == SIGINT ? "SIGINT" : "SIGTERM"};
                         });

TEST(warden_text_log, without_json_events_are_readable_text_on_stdout) {
  temp_dir dir;
  auto file = dir.write("tree.toml", "[[children]]\nid = \"a\"\nservice = \"echo\"\n");
  auto r = run_warden({"run", file, "--duration-ms", "50"});
  ASSERT_EQ(r.exit_code, 0) << dump(r);
  EXPECT_NE(r.out.find("child_started root child=a"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("child_shutdown root child=a"), std::string::npos) << r.out;
}

TEST(warden_demo, basic_tree_with_its_fault_scenario_recovers_and_stops_cleanly) {
  temp_dir dir;
  auto log = dir.file("events.jsonl");
  auto r = run_warden({"run", WARDEN_SOURCE_DIR "/demo/trees/basic.toml", "--faults",
                       WARDEN_SOURCE_DIR "/demo/trees/faults.toml", "--duration-ms", "1600",
                       "--json", "--log-file", log},
                      log);
  ASSERT_EQ(r.exit_code, 0) << dump(r);
  EXPECT_EQ(paths_of(r.events, "child_terminated"),
            (std::vector<std::string>{"root/counter", "root/pair_sup/left",
                                      "root/pair_sup/right", "root/echo"}))
    << dump(r);
  EXPECT_NE(find_event(r.events, "start_error", "root/echo"), nullptr) << dump(r);
  EXPECT_EQ(r.events.back()["event"], "supervisor_stopped");
}

TEST(warden_types, lists_every_builtin_service_type) {
  auto r = run_warden({"types"});
  ASSERT_EQ(r.exit_code, 0) << dump(r);
  for (auto name : {"echo", "counter", "failing_start", "ignores_shutdown", "ticker"})
    EXPECT_NE(r.out.find(name), std::string::npos) << name << "\n" << r.out;
}
