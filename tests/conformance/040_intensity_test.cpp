// Restart intensity: the window of restarts, giving up, and what counts
// (supervisor_SUITE: multiple_restarts, one_for_one, one_for_one_escalation).
#include "conformance/conformance.hpp"

using namespace std::chrono_literals;
using namespace warden;
using namespace warden::test;

// intensity 0: the first restart needed kills the supervisor, which exits shutdown naming
// the culprit.
TEST_F(conformance, intensity_zero) {
  auto sup = start_ok(flags(strategy::one_for_one, 0, 3600s), {spec(ctl, "a"), spec(ctl, "b")});
  crash(sup, "b");
  auto reason = exit_reason_of(sup);
  ASSERT_TRUE(reason);
  EXPECT_TRUE(is_shutdown(*reason));
  EXPECT_EQ(describe(*reason),
            "shutdown(reached_max_restart_intensity(\"b\", runtime_error(\"crash b\")))")
    << describe(*reason);
  EXPECT_EQ(ctl->starts["b"], 1);
}

// Two restarts allowed in the window, the third restart needed kills the supervisor
// (one_for_one: test restart frequency property).
TEST_F(conformance, one_for_one) {
  auto sup = start_ok(flags(strategy::one_for_one, 2, 3600s), {});
  auto c1 = call<caf::actor>(sup, start_child_atom::value, spec(ctl, "child1"));
  auto c2 = call<caf::actor>(sup, start_child_atom::value, spec(ctl, "child2"));
  ASSERT_TRUE(c1 && c2);
  crash(sup, "child1");
  auto kids = children(sup);
  ASSERT_EQ(kids.size(), 2u);
  EXPECT_EQ(row(sup, "child2").actor, *c2);
  EXPECT_NE(row(sup, "child1").actor, *c1);
  EXPECT_EQ(counts(sup), (child_counts{2, 2, 0, 2}));
  crash(sup, "child2");
  EXPECT_TRUE(alive(sup));
  crash(sup, children(sup).front().id);
  EXPECT_FALSE(alive(sup));
}

// Giving up: the failing child is not restarted, reached_max_restart_intensity is emitted,
// the remaining children are stopped in reverse start order, the culprit is not stopped a
// second time, and the supervisor exits shutdown.
TEST_F(conformance, give_up_stops_the_rest_in_reverse) {
  auto sup = start_ok(flags(strategy::one_for_one, 0, 3600s),
                      {spec(ctl, "a"), spec(ctl, "b"), spec(ctl, "c"), spec(ctl, "d")});
  auto b = child_of(sup, "b");
  reset_trace();
  exit_child(sup, "b", shutdown());
  EXPECT_EQ(order(), (std::vector<std::string>{
                       "child_terminated:b", "reached_max_restart_intensity:b",
                       "child_shutdown:d", "child_shutdown:c", "child_shutdown:a"}));
  EXPECT_EQ(ctl->log, (std::vector<std::string>{"stop:d", "stop:c", "stop:a"}));
  EXPECT_EQ(ctl->starts["b"], 1);
  EXPECT_FALSE(alive(sup));
  EXPECT_EQ(events->count(event_kind::supervisor_stopped), 1u);
}

// The give-up event names the culprit and its reason and reports no headroom left.
TEST_F(conformance, give_up_event_fields) {
  auto sup = start_ok(flags(strategy::one_for_one, 1, 3600s), {spec(ctl, "a")});
  crash(sup, "a");
  crash(sup, "a");
  auto evs = events->events();
  auto it = std::find_if(evs.begin(), evs.end(), [](auto& e) {
    return e.kind == event_kind::reached_max_restart_intensity;
  });
  ASSERT_NE(it, evs.end());
  EXPECT_EQ(it->child, "a");
  EXPECT_EQ(it->supervisor, "root");
  EXPECT_EQ(describe(it->reason), "runtime_error(\"crash a\")");
  EXPECT_LT(it->intensity_headroom, 0);
}

// Crashes further apart than the period never add up: intensity 1, period 1 s, crashes
// 2.1 s apart, four times (multiple_restarts).
TEST_F(conformance, multiple_restarts) {
  auto sup = start_ok(flags(strategy::one_for_one, 1, 1s), {});
  auto c = call<caf::actor>(sup, start_child_atom::value,
                            with_shutdown(spec(ctl, "child1"), shutdown_policy::brutal_kill()));
  ASSERT_TRUE(c);
  crash(sup, "child1");
  for (int i = 0; i < 3; ++i) {
    advance(2100ms);
    crash(sup, "child1");
  }
  EXPECT_TRUE(alive(sup));
  EXPECT_EQ(ctl->starts["child1"], 5);
  EXPECT_FALSE(call_ok(sup, terminate_child_atom::value, std::string{"child1"}));
  EXPECT_FALSE(call_ok(sup, delete_child_atom::value, std::string{"child1"}));
}

// The window includes its edge: restarts exactly one period apart add up, one nanosecond
// more and they do not (OTP keeps restarts with Then >= Now - Period).
TEST_F(conformance, period_edge) {
  auto sup = start_ok(flags(strategy::one_for_one, 1, 1s), {spec(ctl, "a")});
  crash(sup, "a");
  advance(1s + caf::timespan{1});
  crash(sup, "a");
  EXPECT_TRUE(alive(sup));
  advance(1s);
  crash(sup, "a");
  EXPECT_FALSE(alive(sup));
}

// The window slides: old restarts expire one by one.
TEST_F(conformance, window_slides) {
  auto sup = start_ok(flags(strategy::one_for_one, 2, 10s), {spec(ctl, "a")});
  crash(sup, "a");  // t = 0
  advance(6s);
  crash(sup, "a");  // t = 6
  advance(6s);
  crash(sup, "a");  // t = 12: the one at 0 expired; 6 and 12 remain
  EXPECT_TRUE(alive(sup));
  EXPECT_EQ(status(sup).intensity_headroom, 0);
  advance(1s);
  crash(sup, "a");  // t = 13: 6, 12, 13 > 2
  EXPECT_FALSE(alive(sup));
}

// One crash counts once, however many siblings a one_for_all or rest_for_one restart
// touches.
TEST_F(conformance, group_restart_counts_once) {
  for (auto s : {strategy::one_for_all, strategy::rest_for_one}) {
    SCOPED_TRACE(to_string(s));
    auto sup = start_ok(flags(s, 1, 3600s), {spec(ctl, "c1"), spec(ctl, "c2"), spec(ctl, "c3"),
                                             spec(ctl, "c4"), spec(ctl, "c5")});
    crash(sup, "c1");
    EXPECT_TRUE(alive(sup));
    EXPECT_EQ(running(sup).size(), 5u);
    auto st = status(sup);
    EXPECT_EQ(st.intensity_headroom, 0);
    EXPECT_EQ(st.total_restarts, 1u);
    crash(sup, "c3");
    EXPECT_FALSE(alive(sup));
  }
}

// Restarts of different children share one window.
TEST_F(conformance, window_is_per_supervisor) {
  auto sup = start_ok(flags(strategy::one_for_one, 2, 3600s),
                      {spec(ctl, "a"), spec(ctl, "b"), spec(ctl, "c")});
  crash(sup, "a");
  crash(sup, "b");
  EXPECT_TRUE(alive(sup));
  crash(sup, "c");
  EXPECT_FALSE(alive(sup));
}

// Non-restarts do not count: transient normal exits and temporary exits never touch the
// window.
TEST_F(conformance, only_restarts_count) {
  auto sup = start_ok(flags(strategy::one_for_one, 0, 3600s),
                      {spec(ctl, "t", restart_type::transient),
                       spec(ctl, "x", restart_type::temporary)});
  exit_child(sup, "t", normal());
  exit_child(sup, "x", caf::make_error(caf::sec::runtime_error, std::string{"boom"}));
  EXPECT_TRUE(alive(sup));
  EXPECT_EQ(status(sup).intensity_headroom, 0);
}

// A restart that fails and is retried counts each attempt: a child that can never start
// escalates after intensity + 1 attempts (one_for_one_escalation).
TEST_F(conformance, one_for_one_escalation) {
  auto sup = start_ok(flags(strategy::one_for_one, 4, 3600s), {});
  ASSERT_TRUE(call<caf::actor>(sup, start_child_atom::value, spec(ctl, "child1")));
  ASSERT_TRUE(call<caf::actor>(sup, start_child_atom::value, spec(ctl, "child2")));
  auto c2 = child_of(sup, "child2");
  watch(c2);
  ctl->next["child1"] = std::vector<init_mode>(100, init_mode::fail);
  reset_trace();
  crash(sup, "child1");
  EXPECT_FALSE(alive(sup));
  EXPECT_EQ(exit_of(c2), "shutdown");
  EXPECT_EQ(order(), (std::vector<std::string>{
                       "child_terminated:child1", "start_error:child1", "start_error:child1",
                       "start_error:child1", "start_error:child1",
                       "reached_max_restart_intensity:child1", "child_shutdown:child2"}));
}
