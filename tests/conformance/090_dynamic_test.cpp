// The dynamic strategy (OTP's simple_one_for_one, Elixir's DynamicSupervisor)
// (supervisor_SUITE: simple_one_for_one, simple_one_for_one_shutdown,
// simple_one_for_one_escalation, do_not_save_start_parameters_for_temporary_children,
// scale_start_stop_many_children).
#include <chrono>

#include "conformance/conformance.hpp"

using namespace std::chrono_literals;
using namespace warden;
using namespace warden::test;

// The base case: an instance that dies is restarted, the other one keeps its identity;
// restarts count toward intensity like any other (simple_one_for_one).
TEST_F(conformance, simple_one_for_one) {
  auto sup = start_ok(flags(strategy::dynamic, 2, 3600s), {dyn_spec(ctl)});
  auto c1 = start_dyn(sup, 1);
  auto c2 = start_dyn(sup, 2);
  ASSERT_TRUE(c1 && c2);
  send_exit_signal(*c1, died());
  run();
  auto kids = children(sup);
  ASSERT_EQ(kids.size(), 2u);
  EXPECT_TRUE(std::any_of(kids.begin(), kids.end(), [&](auto& k) { return k.actor == *c2; }));
  EXPECT_FALSE(std::any_of(kids.begin(), kids.end(), [&](auto& k) { return k.actor == *c1; }));
  EXPECT_EQ(counts(sup), (child_counts{1, 2, 0, 2}));
  send_exit_signal(*c2, died());
  run();
  EXPECT_TRUE(alive(sup));
  send_exit_signal(children(sup).front().actor, died());
  run();
  EXPECT_FALSE(alive(sup));
}

// start_child(args) starts a new instance with those args; a restart reuses exactly the
// args it was started with.
TEST_F(conformance, simple_one_for_one_args_reused_on_restart) {
  auto sup = start_ok(flags(strategy::dynamic, 5, 3600s), {dyn_spec(ctl)});
  auto c7 = start_dyn(sup, 7);
  auto c8 = start_dyn(sup, 8);
  ASSERT_TRUE(c7 && c8);
  EXPECT_EQ(call<int>(*c7, ping_atom::value), 7);
  EXPECT_EQ(call<int>(*c8, ping_atom::value), 8);
  send_exit_signal(*c7, died());
  run();
  auto kids = children(sup);
  ASSERT_EQ(kids.size(), 2u);
  // The restarted instance keeps its place (oldest, listed last) and its argument.
  EXPECT_EQ(kids[0].actor, *c8);
  EXPECT_NE(kids[1].actor, *c7);
  EXPECT_EQ(call<int>(kids[1].actor, ping_atom::value), 7);
  EXPECT_EQ(kids[1].restart_count, 1u);
  EXPECT_EQ(ctl->log, (strings{"start:7", "start:8", "stop:7", "start:7"}));
}

// Arguments that do not fit the template's init fail the start with bad_start_args; nothing
// is kept.
TEST_F(conformance, simple_one_for_one_bad_args) {
  auto sup = start_ok(flags(strategy::dynamic), {dyn_spec(ctl)});
  auto res = call<caf::actor>(sup, start_child_atom::value, caf::make_message(std::string{"x"}));
  EXPECT_ERRC(res, bad_start_args);
  EXPECT_TRUE(children(sup).empty());
}

// Beyond OTP (Elixir's max_children): the start past max_children is refused with a named
// error; after one child goes, a new start is accepted.
TEST_F(conformance, simple_one_for_one_max_children) {
  auto f = flags(strategy::dynamic);
  f.max_children = 2;
  auto sup = start_ok(f, {dyn_spec(ctl, restart_type::temporary)});
  auto c1 = start_dyn(sup, 1);
  ASSERT_TRUE(start_dyn(sup, 2));
  EXPECT_ERRC(start_dyn(sup, 3), max_children);
  EXPECT_EQ(ctl->starts["dyn"], 2);
  EXPECT_FALSE(call_ok(sup, terminate_child_atom::value, *c1));
  EXPECT_TRUE(start_dyn(sup, 3));
}

// Shutdown stops all instances at once under one shared timer: three children that ignore
// shutdown with a 1000 ms timeout are all killed after 1000 ms, not one after the other
// (simple_one_for_one_shutdown).
TEST_F(conformance, simple_one_for_one_shutdown) {
  ctl->ignore_shutdown["dyn"] = true;
  auto sup = start_ok(flags(strategy::dynamic, 2, 3600s),
                      {with_shutdown(dyn_spec(ctl), shutdown_policy::timeout(1000ms))});
  std::vector<caf::actor> kids;
  for (int i = 1; i <= 3; ++i) {
    auto c = start_dyn(sup, i);
    ASSERT_TRUE(c);
    kids.push_back(*c);
    watch(*c);
  }
  stop(sup);
  advance(999ms);
  EXPECT_TRUE(alive(sup));
  for (auto& k : kids)
    EXPECT_TRUE(alive(k));
  advance(1ms);
  for (auto& k : kids)
    EXPECT_EQ(exit_of(k), "killed");
  EXPECT_EQ(exit_of(sup), "shutdown");
}

// Well-behaved instances all get their shutdown before any of them is waited for.
TEST_F(conformance, simple_one_for_one_shutdown_at_once) {
  auto sup = start_ok(flags(strategy::dynamic, 2, 3600s), {dyn_spec(ctl)});
  std::vector<caf::actor> kids;
  for (int i = 1; i <= 3; ++i)
    kids.push_back(*start_dyn(sup, i));
  for (auto& k : kids)
    watch(k);
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  // Step until the first instance is gone; by then all three were asked to stop.
  ASSERT_TRUE(run_until([&] {
    return std::any_of(kids.begin(), kids.end(), [&](auto& k) { return !alive(k); });
  }));
  run();
  for (auto& k : kids)
    EXPECT_EQ(exit_of(k), "shutdown");
  EXPECT_EQ(exit_of(sup), "shutdown");
}

// A dynamic instance whose restart can never succeed makes the supervisor give up; the other
// instances are stopped (simple_one_for_one_escalation).
TEST_F(conformance, simple_one_for_one_escalation) {
  auto sup = start_ok(flags(strategy::dynamic, 4, 3600s), {dyn_spec(ctl)});
  auto c1 = start_dyn(sup, 1);
  auto c2 = start_dyn(sup, 2);
  ASSERT_TRUE(c1 && c2);
  watch(*c2);
  ctl->next["dyn"] = std::vector<init_mode>(100, init_mode::fail);
  send_exit_signal(*c1, died());
  run();
  EXPECT_FALSE(alive(sup));
  EXPECT_EQ(exit_of(*c2), "shutdown");
  EXPECT_EQ(events->count(event_kind::reached_max_restart_intensity), 1u);
}

// A dynamic instance whose restart answers ignore is dropped (dynamic children are never
// kept without an actor); no retry, no give-up.
TEST_F(conformance, simple_one_for_one_restart_ignore) {
  auto sup = start_ok(flags(strategy::dynamic, 1, 3600s), {dyn_spec(ctl)});
  auto c1 = start_dyn(sup, 1);
  ASSERT_TRUE(start_dyn(sup, 2));
  ctl->next["dyn"] = {init_mode::ignore};
  send_exit_signal(*c1, died());
  run();
  EXPECT_TRUE(alive(sup));
  EXPECT_EQ(children(sup).size(), 1u);
  EXPECT_EQ(counts(sup), (child_counts{1, 1, 0, 1}));
  EXPECT_EQ(events->count(event_kind::child_ignored), 1u);
  EXPECT_EQ(events->count(event_kind::child_restarted), 0u);
}

// Dynamic instances that end for good are removed: transient after normal or shutdown,
// temporary after anything.
TEST_F(conformance, simple_one_for_one_instances_are_not_kept) {
  auto sup = start_ok(flags(strategy::dynamic, 5, 3600s), {dyn_spec(ctl, restart_type::transient)});
  auto c1 = start_dyn(sup, 1);
  auto c2 = start_dyn(sup, 2);
  auto c3 = start_dyn(sup, 3);
  caf::anon_send(*c1, quit_atom::value, normal());
  caf::anon_send(*c2, quit_atom::value, shutdown());
  caf::anon_send(*c3, quit_atom::value, died());
  run();
  auto kids = children(sup);
  ASSERT_EQ(kids.size(), 1u);
  EXPECT_EQ(call<int>(kids[0].actor, ping_atom::value), 3);
  auto tsup = start_ok(flags(strategy::dynamic, 5, 3600s), {dyn_spec(ctl, restart_type::temporary)});
  auto t1 = start_dyn(tsup, 1);
  send_exit_signal(*t1, died());
  run();
  EXPECT_TRUE(children(tsup).empty());
}

// terminate_child by actor removes the instance; repeated (the actor is gone) it is still
// ok; the instance is not restarted and this counts no restart.
TEST_F(conformance, simple_one_for_one_terminate_child) {
  auto sup = start_ok(flags(strategy::dynamic, 0, 3600s), {dyn_spec(ctl)});
  auto c1 = start_dyn(sup, 1);
  ASSERT_TRUE(c1);
  watch(*c1);
  EXPECT_FALSE(call_ok(sup, terminate_child_atom::value, *c1));
  EXPECT_EQ(exit_of(*c1), "shutdown");
  EXPECT_FALSE(call_ok(sup, terminate_child_atom::value, *c1));
  EXPECT_TRUE(children(sup).empty());
  EXPECT_TRUE(alive(sup));
}

// Temporary dynamic children keep nothing once gone: starting and ending many leaves no
// trace (do_not_save_start_parameters_for_temporary_children).
TEST_F(conformance, do_not_save_start_parameters_for_temporary_children) {
  auto sup = start_ok(flags(strategy::dynamic, 2, 3600s), {dyn_spec(ctl, restart_type::temporary)});
  for (int i = 0; i < 100; ++i) {
    auto c = start_dyn(sup, i);
    ASSERT_TRUE(c);
    caf::anon_send(*c, quit_atom::value, normal());
  }
  run();
  EXPECT_EQ(counts(sup), (child_counts{1, 0, 0, 0}));
  EXPECT_EQ(status(sup).children.size(), 0u);
}

// Starting and stopping 100k dynamic children scales roughly linearly: 10x the children
// takes well under 50x the time (scale_start_stop_many_children; OTP's bound).
TEST_F(conformance, scale_start_stop_many_children) {
  auto measure = [&](int n) {
    auto sup = start_ok(flags(strategy::dynamic, 2, 3600s),
                        {dyn_spec(ctl, restart_type::temporary)});
    auto t0 = std::chrono::steady_clock::now();
    std::vector<caf::actor> kids;
    kids.reserve(n);
    for (int i = 0; i < n; ++i) {
      auto c = request<caf::actor>(sup, start_child_atom::value, caf::make_message(i));
      run();
      kids.push_back(***c);
    }
    for (auto& k : kids)
      request<ok_atom>(sup, terminate_child_atom::value, k);
    run();
    auto t1 = std::chrono::steady_clock::now();
    EXPECT_EQ(counts(sup), (child_counts{1, 0, 0, 0}));
    stop(sup);
    return std::chrono::duration<double>(t1 - t0).count();
  };
  measure(1000);  // warm up
  auto t1 = measure(10000);
  auto t2 = measure(100000);
  RecordProperty("t_10000", std::to_string(t1));
  RecordProperty("t_100000", std::to_string(t2));
  EXPECT_LT(t2 / t1, 50.0) << "10000: " << t1 << " s, 100000: " << t2 << " s";
}
