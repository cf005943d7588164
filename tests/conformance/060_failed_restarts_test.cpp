// Failed restarts: the restarting state, retries as self messages, escalation, group
// retries (supervisor_SUITE: hanging_restart_loop(+simple), count_children(+restarting),
// one_for_all_escalation, rest_for_one_escalation, one_for_all_other_child_fails_restart,
// rest_for_one_other_child_fails_restart).
#include "conformance/conformance.hpp"

using namespace std::chrono_literals;
using namespace warden;
using namespace warden::test;

namespace {

std::vector<init_mode> always_fail() {
  return std::vector<init_mode>(1000, init_mode::fail);
}

} // namespace

class failed_restarts : public conformance {
protected:
  // Runs until child `id` has had `n` failed start attempts (the supervisor is then between
  // two attempts, its next retry queued in its mailbox).
  void until_start_errors(const std::string& id, size_t n) {
    ASSERT_TRUE(run_until([&] { return events->count(event_kind::start_error, id) >= n; }));
  }
};

// A child whose restart fails is marked restarting; while it is, start_child answers
// already_present, restart_child and delete_child answer restarting, which_children shows
// restarting and count_children does not count it active; terminate_child answers ok and
// ends the retry loop (hanging_restart_loop, count_children_restarting).
TEST_F(failed_restarts, hanging_restart_loop) {
  auto sup = start_ok(flags(strategy::one_for_one, 8, 10s), {});
  auto child1 = with_shutdown(spec(ctl, "child1"), shutdown_policy::brutal_kill());
  ASSERT_TRUE(call<caf::actor>(sup, start_child_atom::value, child1));
  ctl->next["child1"] = always_fail();
  send_exit_signal(child_of(sup, "child1"), caf::make_error(caf::sec::runtime_error,
                                                            std::string{"error"}));
  until_start_errors("child1", 1);
  // These calls reach the supervisor between two attempts.
  auto started = request<caf::actor>(sup, start_child_atom::value, child1);
  auto restarted = request<caf::actor>(sup, restart_child_atom::value, std::string{"child1"});
  auto deleted = request<ok_atom>(sup, delete_child_atom::value, std::string{"child1"});
  auto kids = request<std::vector<child_info>>(sup, which_children_atom::value);
  auto cnt = request<child_counts>(sup, count_children_atom::value);
  auto terminated = request<ok_atom>(sup, terminate_child_atom::value, std::string{"child1"});
  run();
  ASSERT_TRUE(started->has_value() && restarted->has_value() && deleted->has_value());
  EXPECT_ERRC(**started, already_present);
  EXPECT_ERRC(**restarted, restarting);
  EXPECT_ERRC(**deleted, restarting);
  ASSERT_TRUE(kids->has_value() && **kids);
  ASSERT_EQ((**kids)->size(), 1u);
  EXPECT_EQ((**kids)->front().id, "child1");
  EXPECT_EQ((**kids)->front().state, child_state::restarting);
  EXPECT_FALSE((**kids)->front().actor);
  ASSERT_TRUE(cnt->has_value() && **cnt);
  EXPECT_EQ(***cnt, (child_counts{1, 0, 0, 1}));
  ASSERT_TRUE(terminated->has_value() && **terminated);
  // The loop ended: no more attempts, the child is just not running.
  auto attempts = ctl->starts["child1"];
  EXPECT_LT(attempts, 9);
  run();
  EXPECT_EQ(ctl->starts["child1"], attempts);
  EXPECT_TRUE(alive(sup));
  auto r = row(sup, "child1");
  EXPECT_EQ(r.state, child_state::undefined);
  // It can be restarted by hand, then the supervisor can be stopped in the middle of a
  // second loop.
  ctl->next["child1"].clear();
  auto again = call<caf::actor>(sup, restart_child_atom::value, std::string{"child1"});
  ASSERT_TRUE(again && *again);
  ctl->next["child1"] = always_fail();
  auto before = events->count(event_kind::start_error, "child1");
  send_exit_signal(*again, caf::make_error(caf::sec::runtime_error, std::string{"error"}));
  until_start_errors("child1", before + 1);
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  run();
  EXPECT_EQ(exit_of(sup), "shutdown");
  EXPECT_EQ(events->count(event_kind::reached_max_restart_intensity), 0u);
}

// count_children counts a child between failed restarts as a spec and a worker but not as
// active; which_children shows it as restarting (count_children, +restarting).
TEST_F(failed_restarts, count_children_restarting) {
  auto sup = start_ok(flags(strategy::one_for_one, 8, 10s),
                      {spec(ctl, "a"), spec(ctl, "b"), supervisor_child("sub", flags(), {})});
  EXPECT_EQ(counts(sup), (child_counts{3, 3, 1, 2}));
  ctl->next["a"] = always_fail();
  send_exit_signal(child_of(sup, "a"), caf::make_error(caf::sec::runtime_error, std::string{"x"}));
  until_start_errors("a", 1);
  auto cnt = request<child_counts>(sup, count_children_atom::value);
  auto kids = request<std::vector<child_info>>(sup, which_children_atom::value);
  auto terminated = request<ok_atom>(sup, terminate_child_atom::value, std::string{"a"});
  run();
  ASSERT_TRUE(cnt->has_value() && **cnt);
  EXPECT_EQ(***cnt, (child_counts{3, 2, 1, 2}));
  ASSERT_TRUE(kids->has_value() && **kids);
  EXPECT_EQ((**kids)->back().id, "a");
  EXPECT_EQ((**kids)->back().state, child_state::restarting);
  EXPECT_EQ(counts(sup), (child_counts{3, 2, 1, 2}));
}

// The retry is a message to the supervisor itself, so a call that arrives during the loop
// is answered before the loop ends.
TEST_F(failed_restarts, retry_is_a_self_message) {
  auto sup = start_ok(flags(strategy::one_for_one, 8, 10s), {spec(ctl, "a")});
  ctl->next["a"] = {init_mode::fail, init_mode::fail, init_mode::fail, init_mode::fail};
  crash(sup, "a");
  // The loop completed (4 failures, then a start) ...
  EXPECT_EQ(ctl->starts["a"], 6);
  EXPECT_EQ(running(sup), (strings{"a"}));
  // ... and a call placed after the first failure is answered mid-loop.
  advance(11s);  // a fresh intensity window
  ctl->next["a"] = {init_mode::fail, init_mode::fail, init_mode::fail, init_mode::fail};
  auto before = ctl->starts["a"];
  send_exit_signal(child_of(sup, "a"), caf::make_error(caf::sec::runtime_error, std::string{"x"}));
  ASSERT_TRUE(run_until([&] { return events->count(event_kind::start_error, "a") == 5; }));
  int attempts_when_answered = -1;
  auto kids = request<std::vector<child_info>>(sup, which_children_atom::value);
  ASSERT_TRUE(run_until([&] {
    if (kids->has_value() && attempts_when_answered < 0)
      attempts_when_answered = ctl->starts["a"] - before;
    return kids->has_value();
  }));
  run();
  EXPECT_LT(attempts_when_answered, 5);
  ASSERT_TRUE(**kids);
  EXPECT_EQ((**kids)->front().state, child_state::restarting);
  EXPECT_EQ(running(sup), (strings{"a"}));
}

// Every retry counts toward intensity: a child that can never start escalates after
// intensity + 1 attempts in the window.
TEST_F(failed_restarts, hanging_restart_loop_escalates) {
  auto sup = start_ok(flags(strategy::one_for_one, 3, 10s), {spec(ctl, "a"), spec(ctl, "b")});
  ctl->next["a"] = always_fail();
  reset_trace();
  crash(sup, "a");
  EXPECT_EQ(order(), (strings{"child_terminated:a", "start_error:a", "start_error:a",
                              "start_error:a", "reached_max_restart_intensity:a",
                              "child_shutdown:b"}));
  EXPECT_FALSE(alive(sup));
  EXPECT_EQ(exit_of(sup), "shutdown(reached_max_restart_intensity(\"a\", "
                          "runtime_error(\"init failed: a\")))");
}

// The same loop under rest_for_one: the earlier child stays, the later one waits stopped;
// terminate_child ends the loop and the later child is not started by it.
TEST_F(failed_restarts, hanging_restart_loop_rest_for_one) {
  auto sup = start_ok(flags(strategy::rest_for_one, 8, 10s),
                      {spec(ctl, "a"), spec(ctl, "b"), spec(ctl, "c")});
  auto a = child_of(sup, "a");
  ctl->next["b"] = always_fail();
  crash(sup, "b");
  EXPECT_FALSE(alive(sup));
  // Once more, ending the loop by hand.
  ctl->next["b"].clear();
  auto sup2 = start_ok(flags(strategy::rest_for_one, 8, 10s),
                       {spec(ctl, "a"), spec(ctl, "b"), spec(ctl, "c")});
  a = child_of(sup2, "a");
  ctl->next["b"] = always_fail();
  auto before = events->count(event_kind::start_error, "b");
  send_exit_signal(child_of(sup2, "b"), caf::make_error(caf::sec::runtime_error, std::string{"x"}));
  ASSERT_TRUE(run_until([&] { return events->count(event_kind::start_error, "b") > before; }));
  auto kids = request<std::vector<child_info>>(sup2, which_children_atom::value);
  auto terminated = request<ok_atom>(sup2, terminate_child_atom::value, std::string{"b"});
  run();
  ASSERT_TRUE(kids->has_value() && **kids);
  auto& rows = ***kids;
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].id, "c");
  EXPECT_EQ(rows[0].state, child_state::undefined);
  EXPECT_EQ(rows[1].id, "b");
  EXPECT_EQ(rows[1].state, child_state::restarting);
  EXPECT_EQ(rows[2].actor, a);
  ASSERT_TRUE(terminated->has_value() && **terminated);
  EXPECT_EQ(running(sup2), (strings{"a"}));
  EXPECT_TRUE(alive(sup2));
}

// The dynamic variant: the restarting instance shows as ("", restarting); terminate_child with
// its old actor ends the loop and removes it (hanging_restart_loop_simple).
TEST_F(failed_restarts, hanging_restart_loop_simple) {
  auto spec1 = with_shutdown(dyn_spec(ctl), shutdown_policy::brutal_kill());
  auto sup = start_ok(flags(strategy::dynamic, 8, 10s), {spec1});
  auto c1 = start_dyn(sup, 1);
  ASSERT_TRUE(c1 && *c1);
  ctl->next["dyn"] = always_fail();
  send_exit_signal(*c1, caf::make_error(caf::sec::runtime_error, std::string{"error"}));
  until_start_errors("", 1);
  auto restarted = request<caf::actor>(sup, restart_child_atom::value, std::string{"child1"});
  auto deleted = request<ok_atom>(sup, delete_child_atom::value, std::string{"child1"});
  auto kids = request<std::vector<child_info>>(sup, which_children_atom::value);
  auto cnt = request<child_counts>(sup, count_children_atom::value);
  auto terminated = request<ok_atom>(sup, terminate_child_atom::value, *c1);
  run();
  EXPECT_ERRC(**restarted, not_supported);
  EXPECT_ERRC(**deleted, not_supported);
  ASSERT_TRUE(kids->has_value() && **kids);
  ASSERT_EQ((**kids)->size(), 1u);
  EXPECT_EQ((**kids)->front().id, "");
  EXPECT_EQ((**kids)->front().state, child_state::restarting);
  ASSERT_TRUE(cnt->has_value() && **cnt);
  EXPECT_EQ(***cnt, (child_counts{1, 0, 0, 1}));
  ASSERT_TRUE(terminated->has_value());
  EXPECT_TRUE(**terminated) << describe((**terminated).error());
  EXPECT_TRUE(children(sup).empty());
  auto attempts = ctl->starts["dyn"];
  run();
  EXPECT_EQ(ctl->starts["dyn"], attempts);
  // A second loop, then the supervisor is stopped in the middle of it.
  ctl->next["dyn"].clear();
  auto c2 = start_dyn(sup, 2);
  ASSERT_TRUE(c2 && *c2);
  ctl->next["dyn"] = always_fail();
  auto before = events->count(event_kind::start_error);
  send_exit_signal(*c2, caf::make_error(caf::sec::runtime_error, std::string{"error"}));
  ASSERT_TRUE(run_until([&] { return events->count(event_kind::start_error) > before; }));
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  run();
  EXPECT_EQ(exit_of(sup), "shutdown");
}

// one_for_all: a child that can never start again makes the supervisor give up; the other
// child is stopped (one_for_all_escalation).
TEST_F(failed_restarts, one_for_all_escalation) {
  auto sup = start_ok(flags(strategy::one_for_all, 4, 3600s), {});
  ASSERT_TRUE(call<caf::actor>(sup, start_child_atom::value, spec(ctl, "child1")));
  auto c2 = call<caf::actor>(sup, start_child_atom::value, spec(ctl, "child2"));
  ASSERT_TRUE(c2);
  watch(*c2);
  ctl->next["child2"] = always_fail();
  crash(sup, "child1");
  EXPECT_FALSE(alive(*c2));
  EXPECT_FALSE(alive(sup));
  EXPECT_EQ(events->count(event_kind::reached_max_restart_intensity, "child2"), 1u);
}

// rest_for_one: the same (rest_for_one_escalation).
TEST_F(failed_restarts, rest_for_one_escalation) {
  auto sup = start_ok(flags(strategy::rest_for_one, 4, 3600s), {});
  ASSERT_TRUE(call<caf::actor>(sup, start_child_atom::value, spec(ctl, "child1")));
  auto c2 = call<caf::actor>(sup, start_child_atom::value, spec(ctl, "child2"));
  ASSERT_TRUE(c2);
  watch(*c2);
  ctl->next["child2"] = always_fail();
  crash(sup, "child1");
  EXPECT_FALSE(alive(*c2));
  EXPECT_FALSE(alive(sup));
}

// one_for_all retry: when another child fails to start during the group restart, the
// children already restarted are stopped again and the whole group is retried
// (one_for_all_other_child_fails_restart).
TEST_F(failed_restarts, one_for_all_other_child_fails_restart) {
  auto sup = start_ok(flags(strategy::one_for_all, 3, 3600s),
                      {spec(ctl, "child1"), spec(ctl, "child2")});
  ctl->next["child2"] = {init_mode::fail};
  reset_trace();
  crash(sup, "child1");
  EXPECT_EQ(order(), (strings{"child_terminated:child1", "child_shutdown:child2",
                              "child_started:child1", "start_error:child2",
                              "child_shutdown:child1", "child_started:child1",
                              "child_started:child2", "child_restarted:child2"}));
  EXPECT_EQ(running(sup), (strings{"child1", "child2"}));
  EXPECT_EQ(status(sup).total_restarts, 2u);
}

// rest_for_one retry: from the failed child on; the earlier ones are not restarted again
// (rest_for_one_other_child_fails_restart).
TEST_F(failed_restarts, rest_for_one_other_child_fails_restart) {
  auto sup = start_ok(flags(strategy::rest_for_one, 3, 3600s),
                      {spec(ctl, "child1"), spec(ctl, "child2")});
  ctl->next["child2"] = {init_mode::fail};
  reset_trace();
  crash(sup, "child1");
  EXPECT_EQ(order(), (strings{"child_terminated:child1", "child_shutdown:child2",
                              "child_started:child1", "start_error:child2",
                              "child_started:child2", "child_restarted:child2"}));
  EXPECT_EQ(running(sup), (strings{"child1", "child2"}));
}

// A group restart where the failed child itself cannot start: the ones after it wait
// (not running) until its retry succeeds.
TEST_F(failed_restarts, group_retry_of_the_failed_child) {
  auto sup = start_ok(flags(strategy::one_for_all, 5, 3600s),
                      {spec(ctl, "a"), spec(ctl, "b"), spec(ctl, "c")});
  ctl->next["b"] = {init_mode::fail};
  reset_trace();
  crash(sup, "b");
  EXPECT_EQ(order(), (strings{"child_terminated:b", "child_shutdown:c", "child_shutdown:a",
                              "child_started:a", "start_error:b", "child_shutdown:a",
                              "child_started:a", "child_started:b", "child_started:c",
                              "child_restarted:b"}));
}

// An init that throws during a restart is a failed restart like any other.
TEST_F(failed_restarts, restart_init_throws) {
  auto sup = start_ok(flags(strategy::one_for_one, 3, 3600s), {spec(ctl, "a")});
  ctl->next["a"] = {init_mode::crash};
  crash(sup, "a");
  EXPECT_EQ(events->count(event_kind::start_error, "a"), 1u);
  EXPECT_EQ(running(sup), (strings{"a"}));
}

// A restart answered with ignore leaves a static child not running (no retry, no give-up).
TEST_F(failed_restarts, restart_answers_ignore) {
  auto sup = start_ok(flags(strategy::one_for_one, 3, 3600s), {spec(ctl, "a"), spec(ctl, "b")});
  ctl->next["a"] = {init_mode::ignore};
  crash(sup, "a");
  EXPECT_EQ(running(sup), (strings{"b"}));
  EXPECT_EQ(row(sup, "a").state, child_state::undefined);
  EXPECT_EQ(events->count(event_kind::child_ignored, "a"), 1u);
  EXPECT_TRUE(alive(sup));
}
