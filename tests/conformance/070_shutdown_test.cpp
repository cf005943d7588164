// Shutdown: brutal_kill, timeout, infinity; reverse order one at a time; children exiting
// during shutdown; a child that ignores shutdown (supervisor_SUITE: sup_stop_infinity,
// sup_stop_timeout, sup_stop_brutal_kill, sup_stop_race, child_unlink).
#include "conformance/conformance.hpp"

using namespace std::chrono_literals;
using namespace warden;
using namespace warden::test;

// Shutdown infinity (worker or supervisor type): the child is asked with shutdown and exits
// shutdown (sup_stop_infinity).
TEST_F(conformance, sup_stop_infinity) {
  auto sup = start_ok(flags(strategy::one_for_one, 2, 3600s), {});
  auto s1 = with_shutdown(spec(ctl, "child1"), shutdown_policy::infinity());
  s1.type = child_type::supervisor;
  auto c1 = call<caf::actor>(sup, start_child_atom::value, s1);
  auto c2 = call<caf::actor>(sup, start_child_atom::value,
                             with_shutdown(spec(ctl, "child2"), shutdown_policy::infinity()));
  ASSERT_TRUE(c1 && c2);
  watch(*c1);
  watch(*c2);
  stop(sup);
  EXPECT_EQ(exit_of(*c1), "shutdown");
  EXPECT_EQ(exit_of(*c2), "shutdown");
  EXPECT_EQ(exit_of(sup), "shutdown");
}

// Shutdown infinity waits as long as it takes: a child that ignores shutdown holds the
// supervisor until it dies some other way.
TEST_F(conformance, sup_stop_infinity_waits) {
  ctl->ignore_shutdown["child1"] = true;
  auto sup = start_ok(flags(), {with_shutdown(spec(ctl, "child1"), shutdown_policy::infinity())});
  auto c1 = child_of(sup, "child1");
  stop(sup);
  advance(24h);
  EXPECT_TRUE(alive(sup));
  caf::anon_send_exit(c1, caf::exit_reason::kill);
  run();
  EXPECT_EQ(exit_of(sup), "shutdown");
  EXPECT_EQ(events->count(event_kind::shutdown_error, "child1"), 1u);
}

// Shutdown timeout: shutdown, wait the time, then kill. Children stop one at a time in
// reverse order: child1 is asked only after child2 was killed (sup_stop_timeout).
TEST_F(conformance, sup_stop_timeout) {
  auto sup = start_ok(flags(strategy::one_for_one, 2, 3600s), {});
  ctl->ignore_shutdown["child2"] = true;
  auto c1 = call<caf::actor>(sup, start_child_atom::value,
                             with_shutdown(spec(ctl, "child1"), shutdown_policy::timeout(1000ms)));
  auto c2 = call<caf::actor>(sup, start_child_atom::value,
                             with_shutdown(spec(ctl, "child2"), shutdown_policy::timeout(1000ms)));
  ASSERT_TRUE(c1 && c2);
  watch(*c1);
  watch(*c2);
  reset_trace();
  stop(sup);
  advance(999ms);
  EXPECT_TRUE(alive(*c1));
  EXPECT_TRUE(alive(*c2));
  EXPECT_TRUE(alive(sup));
  advance(1ms);
  EXPECT_EQ(exit_of(*c2), "killed");
  EXPECT_EQ(exit_of(*c1), "shutdown");
  EXPECT_EQ(exit_of(sup), "shutdown");
  EXPECT_EQ(order(), (strings{"shutdown_error:child2", "child_shutdown:child1"}));
  auto evs = events->events();
  auto it = std::find_if(evs.begin(), evs.end(),
                         [](auto& e) { return e.kind == event_kind::shutdown_error; });
  ASSERT_NE(it, evs.end());
  EXPECT_TRUE(is_killed(it->reason));
}

// brutal_kill: the child is killed at once (reason killed); no shutdown error for that
// (sup_stop_brutal_kill).
TEST_F(conformance, sup_stop_brutal_kill) {
  auto sup = start_ok(flags(strategy::one_for_one, 2, 3600s), {});
  auto c1 = call<caf::actor>(sup, start_child_atom::value,
                             with_shutdown(spec(ctl, "child1"), shutdown_policy::timeout(1000ms)));
  auto c2 = call<caf::actor>(sup, start_child_atom::value,
                             with_shutdown(spec(ctl, "child2"), shutdown_policy::brutal_kill()));
  ASSERT_TRUE(c1 && c2);
  watch(*c1);
  watch(*c2);
  reset_trace();
  stop(sup);
  EXPECT_EQ(exit_of(*c1), "shutdown");
  EXPECT_EQ(exit_of(*c2), "killed");
  EXPECT_EQ(order(), (strings{"child_shutdown:child2", "child_shutdown:child1"}));
  EXPECT_EQ(ctl->log, (strings{"stop:child1"}));  // killed: no terminate hook
}

// Static supervisors stop children one at a time in reverse start order, each after the
// previous one is gone.
TEST_F(conformance, sup_stop_in_reverse_order) {
  auto sup = start_ok(flags(), {spec(ctl, "a"), spec(ctl, "b"), spec(ctl, "c"), spec(ctl, "d")});
  reset_trace();
  stop(sup);
  EXPECT_EQ(ctl->log, (strings{"stop:d", "stop:c", "stop:b", "stop:a"}));
  EXPECT_EQ(order(), (strings{"child_shutdown:d", "child_shutdown:c", "child_shutdown:b",
                              "child_shutdown:a"}));
  auto evs = events->events();
  ASSERT_FALSE(evs.empty());
  EXPECT_EQ(evs.back().kind, event_kind::supervisor_stopped);
  EXPECT_TRUE(is_shutdown(evs.back().reason));
}

// Children exiting on their own during shutdown do not change the supervisor's exit
// reason; each is reported once (sup_stop_race).
TEST_F(conformance, sup_stop_race) {
  ctl->ignore_shutdown["c"] = true;
  auto sup = start_ok(flags(), {spec(ctl, "a"), spec(ctl, "b"),
                                with_shutdown(spec(ctl, "c"), shutdown_policy::timeout(1s))});
  auto a = child_of(sup, "a");
  auto b = child_of(sup, "b");
  reset_trace();
  stop(sup);  // waits for c
  caf::anon_send(a, quit_atom::value, caf::make_error(caf::sec::runtime_error, std::string{"a"}));
  caf::anon_send(b, quit_atom::value, normal());
  run();
  EXPECT_TRUE(alive(sup));
  advance(1s);
  auto reason = exit_reason_of(sup);
  ASSERT_TRUE(reason);
  EXPECT_EQ(*reason, caf::error{caf::exit_reason::user_shutdown});
  EXPECT_EQ(order(), (strings{"shutdown_error:c", "shutdown_error:b", "shutdown_error:a"}));
  EXPECT_EQ(events->count(event_kind::child_terminated), 0u);
  EXPECT_EQ(events->count(event_kind::child_restarted), 0u);
}

// A transient or temporary child that ends normally while being stopped is no shutdown
// error (OTP: normal is fine unless permanent).
TEST_F(conformance, sup_stop_normal_exit_of_non_permanent) {
  ctl->ignore_shutdown["t"] = true;
  auto sup = start_ok(flags(), {with_shutdown(spec(ctl, "t", restart_type::transient),
                                              shutdown_policy::timeout(1s))});
  auto t = child_of(sup, "t");
  reset_trace();
  stop(sup);
  caf::anon_send(t, quit_atom::value, normal());
  run();
  EXPECT_FALSE(alive(sup));
  EXPECT_TRUE(order().empty()) << ::testing::PrintToString(order());
}

// A child that ignores shutdown cannot hang its supervisor when its shutdown is a timeout:
// terminate_child answers ok after the timeout (the child is killed) and the supervisor
// serves calls again (child_unlink).
TEST_F(conformance, child_unlink) {
  ctl->ignore_shutdown["naughty_child"] = true;
  auto sup = start_ok(flags(strategy::one_for_one, 2, 3600s), {});
  auto c = call<caf::actor>(sup, start_child_atom::value,
                            with_shutdown(spec(ctl, "naughty_child"),
                                          shutdown_policy::timeout(1000ms)));
  ASSERT_TRUE(c);
  watch(*c);
  auto terminated = request<ok_atom>(sup, terminate_child_atom::value,
                                     std::string{"naughty_child"});
  run();
  auto kids = request<std::vector<child_info>>(sup, which_children_atom::value);
  run();
  EXPECT_FALSE(terminated->has_value());
  EXPECT_FALSE(kids->has_value());
  advance(1000ms);
  ASSERT_TRUE(terminated->has_value());
  EXPECT_TRUE(**terminated);
  EXPECT_EQ(exit_of(*c), "killed");
  ASSERT_TRUE(kids->has_value());
  EXPECT_TRUE(**kids);
  EXPECT_EQ(row(sup, "naughty_child").state, child_state::undefined);
}

// terminate_child stops with the child's own policy: brutal_kill kills at once.
TEST_F(conformance, terminate_child_brutal_kill) {
  auto sup = start_ok(flags(), {with_shutdown(spec(ctl, "a"), shutdown_policy::brutal_kill())});
  auto a = child_of(sup, "a");
  watch(a);
  EXPECT_FALSE(call_ok(sup, terminate_child_atom::value, std::string{"a"}));
  EXPECT_EQ(exit_of(a), "killed");
}

// A shutdown timeout of 0 is valid: the child is asked, then killed without waiting.
TEST_F(conformance, shutdown_timeout_zero) {
  ctl->ignore_shutdown["a"] = true;
  auto sup = start_ok(flags(), {with_shutdown(spec(ctl, "a"), shutdown_policy::timeout(0ms))});
  auto a = child_of(sup, "a");
  watch(a);
  stop(sup);
  advance(caf::timespan{0});
  EXPECT_EQ(exit_of(a), "killed");
  EXPECT_FALSE(alive(sup));
}

// A supervisor that is killed takes its children with it (they watch their supervisor).
TEST_F(conformance, sup_killed_children_exit) {
  auto sup = start_ok(flags(), {spec(ctl, "a"), spec(ctl, "b")});
  auto a = child_of(sup, "a");
  auto b = child_of(sup, "b");
  watch(a);
  watch(b);
  caf::anon_send_exit(sup, caf::exit_reason::kill);
  run();
  EXPECT_FALSE(alive(a));
  EXPECT_FALSE(alive(b));
}

// A shutdown request that arrives while the supervisor is busy waits its turn; calls queued
// behind it are answered with no_supervisor when the supervisor is gone.
TEST_F(conformance, calls_queued_behind_shutdown_get_no_supervisor) {
  ctl->ignore_shutdown["b"] = true;
  auto sup = start_ok(flags(), {spec(ctl, "a"),
                                with_shutdown(spec(ctl, "b"), shutdown_policy::timeout(1s))});
  auto terminated = request<ok_atom>(sup, terminate_child_atom::value, std::string{"b"});
  run();
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  run();
  auto kids = request<std::vector<child_info>>(sup, which_children_atom::value);
  run();
  advance(1s);
  ASSERT_TRUE(terminated->has_value());
  EXPECT_TRUE(**terminated);
  EXPECT_FALSE(alive(sup));
  ASSERT_TRUE(kids->has_value());
  EXPECT_ERRC(**kids, no_supervisor);
}
