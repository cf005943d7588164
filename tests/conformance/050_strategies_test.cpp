// Strategies: one_for_one, one_for_all, rest_for_one; start and stop orders; temporary
// bystanders (supervisor_SUITE: one_for_one, one_for_all, rest_for_one, temporary_bystander,
// order_of_children).
#include "conformance/conformance.hpp"

using namespace std::chrono_literals;
using namespace warden;
using namespace warden::test;

namespace {

std::vector<child_spec> five(const std::shared_ptr<control>& ctl) {
  return {spec(ctl, "c1"), spec(ctl, "c2"), spec(ctl, "c3"), spec(ctl, "c4"), spec(ctl, "c5")};
}

} // namespace

// one_for_one: only the exited child restarts; its siblings keep their identities.
TEST_F(conformance, one_for_one_restarts_only_the_exited_child) {
  auto sup = start_ok(flags(strategy::one_for_one, 5, 3600s), five(ctl));
  auto before = children(sup);
  reset_trace();
  crash(sup, "c3");
  EXPECT_EQ(order(), (strings{"child_terminated:c3", "child_started:c3", "child_restarted:c3"}));
  auto after = children(sup);
  ASSERT_EQ(after.size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    if (after[i].id == "c3")
      EXPECT_NE(after[i].actor, before[i].actor);
    else
      EXPECT_EQ(after[i].actor, before[i].actor) << after[i].id;
  }
}

// one_for_all: the others stop in reverse start order, then all start again in order
// (children 1..5, child 3 dies: stop 5, 4, 2, 1; start 1..5) (one_for_all).
TEST_F(conformance, one_for_all) {
  auto sup = start_ok(flags(strategy::one_for_all, 5, 3600s), five(ctl));
  auto before = children(sup);
  reset_trace();
  crash(sup, "c3");
  EXPECT_EQ(order(), (strings{"child_terminated:c3", "child_shutdown:c5", "child_shutdown:c4",
                              "child_shutdown:c2", "child_shutdown:c1", "child_started:c1",
                              "child_started:c2", "child_started:c3", "child_started:c4",
                              "child_started:c5", "child_restarted:c3"}));
  EXPECT_EQ(ctl->log, (strings{"stop:c3", "stop:c5", "stop:c4", "stop:c2", "stop:c1", "start:c1",
                               "start:c2", "start:c3", "start:c4", "start:c5"}));
  auto after = children(sup);
  ASSERT_EQ(after.size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_TRUE(after[i].actor);
    for (auto& old : before)
      EXPECT_NE(after[i].actor, old.actor);
  }
  EXPECT_EQ(counts(sup), (child_counts{5, 5, 0, 5}));
}

// rest_for_one: the later children stop last-first, then the failed one and the later ones
// start in order; earlier ones keep their identities (children 1..5, child 3 dies: stop
// 5, 4; start 3, 4, 5) (rest_for_one).
TEST_F(conformance, rest_for_one) {
  auto sup = start_ok(flags(strategy::rest_for_one, 5, 3600s), five(ctl));
  auto c1 = child_of(sup, "c1");
  auto c2 = child_of(sup, "c2");
  auto c4 = child_of(sup, "c4");
  reset_trace();
  crash(sup, "c3");
  EXPECT_EQ(order(), (strings{"child_terminated:c3", "child_shutdown:c5", "child_shutdown:c4",
                              "child_started:c3", "child_started:c4", "child_started:c5",
                              "child_restarted:c3"}));
  EXPECT_EQ(child_of(sup, "c1"), c1);
  EXPECT_EQ(child_of(sup, "c2"), c2);
  EXPECT_NE(child_of(sup, "c4"), c4);
  EXPECT_EQ(running(sup), (strings{"c1", "c2", "c3", "c4", "c5"}));
}

// rest_for_one, the OTP case: 3 children, intensity 2; child2 dies: child3 is replaced, child1
// kept; two more group restarts exceed the intensity (rest_for_one).
TEST_F(conformance, rest_for_one_base_case) {
  auto sup = start_ok(flags(strategy::rest_for_one, 2, 3600s), {});
  for (auto id : {"child1", "child2", "child3"})
    ASSERT_TRUE(call<caf::actor>(sup, start_child_atom::value, spec(ctl, id)));
  EXPECT_EQ(counts(sup), (child_counts{3, 3, 0, 3}));
  auto c1 = child_of(sup, "child1");
  auto c3 = child_of(sup, "child3");
  watch(c3);
  crash(sup, "child2");
  EXPECT_FALSE(alive(c3));
  EXPECT_EQ(child_of(sup, "child1"), c1);
  EXPECT_EQ(counts(sup), (child_counts{3, 3, 0, 3}));
  auto kids = children(sup);
  ASSERT_EQ(kids[0].id, "child3");
  crash(sup, "child3");
  EXPECT_TRUE(alive(sup));
  ASSERT_EQ(children(sup)[1].id, "child2");
  crash(sup, "child2");
  EXPECT_FALSE(alive(sup));
}

// one_for_all, the OTP case: child1 dies, child2 dies with it, both are replaced; two more
// restarts exceed intensity 2 (one_for_all).
TEST_F(conformance, one_for_all_base_case) {
  auto sup = start_ok(flags(strategy::one_for_all, 2, 3600s), {});
  auto c1 = call<caf::actor>(sup, start_child_atom::value, spec(ctl, "child1"));
  auto c2 = call<caf::actor>(sup, start_child_atom::value, spec(ctl, "child2"));
  ASSERT_TRUE(c1 && c2);
  watch(*c2);
  crash(sup, "child1");
  EXPECT_FALSE(alive(*c2));
  auto kids = children(sup);
  ASSERT_EQ(kids.size(), 2u);
  for (auto& k : kids) {
    EXPECT_NE(k.actor, *c1);
    EXPECT_NE(k.actor, *c2);
  }
  EXPECT_EQ(counts(sup), (child_counts{2, 2, 0, 2}));
  crash(sup, children(sup).front().id);
  EXPECT_TRUE(alive(sup));
  crash(sup, children(sup).front().id);
  EXPECT_FALSE(alive(sup));
}

// A temporary sibling stopped by a one_for_all or rest_for_one restart is not restarted and
// its spec goes; the supervisor survives (temporary_bystander).
TEST_F(conformance, temporary_bystander) {
  for (auto s : {strategy::one_for_all, strategy::rest_for_one}) {
    SCOPED_TRACE(to_string(s));
    reset_trace();
    auto sup = start_ok(flags(s, 2, 300s), {});
    ASSERT_TRUE(call<caf::actor>(sup, start_child_atom::value,
                                 with_shutdown(spec(ctl, "child1"), shutdown_policy::timeout(100ms))));
    ASSERT_TRUE(call<caf::actor>(sup, start_child_atom::value,
                                 with_shutdown(spec(ctl, "child2", restart_type::temporary),
                                               shutdown_policy::timeout(100ms))));
    exit_child(sup, "child1", normal());
    advance(350ms);
    EXPECT_TRUE(alive(sup));
    EXPECT_EQ(ids(sup), (strings{"child1"}));
    EXPECT_EQ(order(), (strings{"child_started:child1", "child_started:child2",
                                "child_terminated:child1", "child_shutdown:child2",
                                "child_started:child1", "child_restarted:child1"}));
  }
}

// Non-temporary bystanders are restarted whatever their type: a transient sibling stopped
// with shutdown by the group restart starts again.
TEST_F(conformance, transient_bystander_is_restarted) {
  auto sup = start_ok(flags(strategy::one_for_all, 2, 300s),
                      {spec(ctl, "p"), spec(ctl, "t", restart_type::transient)});
  auto t = child_of(sup, "t");
  crash(sup, "p");
  EXPECT_EQ(running(sup), (strings{"p", "t"}));
  EXPECT_NE(child_of(sup, "t"), t);
}

// OTP's one_for_all starts every kept child again, also one that was not running
// (terminated through the API or ignored at start).
TEST_F(conformance, one_for_all_starts_children_that_were_not_running) {
  ctl->next["ign"] = {init_mode::ignore};
  auto sup = start_ok(flags(strategy::one_for_all, 2, 300s),
                      {spec(ctl, "a"), spec(ctl, "ign"), spec(ctl, "b"), spec(ctl, "c")});
  EXPECT_FALSE(call_ok(sup, terminate_child_atom::value, std::string{"b"}));
  EXPECT_EQ(running(sup), (strings{"a", "c"}));
  crash(sup, "a");
  EXPECT_EQ(running(sup), (strings{"a", "ign", "b", "c"}));
}

// start_child appends: the newest child starts last, stops first, and which_children lists
// newest first.
TEST_F(conformance, start_child_appends) {
  auto sup = start_ok(flags(), {spec(ctl, "a"), spec(ctl, "b")});
  ASSERT_TRUE(call<caf::actor>(sup, start_child_atom::value, spec(ctl, "x")));
  ASSERT_TRUE(call<caf::actor>(sup, start_child_atom::value, spec(ctl, "y")));
  EXPECT_EQ(ids(sup), (strings{"y", "x", "b", "a"}));
  reset_trace();
  stop(sup);
  EXPECT_EQ(ctl->log, (strings{"stop:y", "stop:x", "stop:b", "stop:a"}));
}

// A deleted and re-added child goes to the end of the start order.
TEST_F(conformance, readded_child_goes_last) {
  auto sup = start_ok(flags(strategy::rest_for_one, 5, 300s),
                      {spec(ctl, "a"), spec(ctl, "b"), spec(ctl, "c")});
  EXPECT_FALSE(call_ok(sup, terminate_child_atom::value, std::string{"a"}));
  EXPECT_FALSE(call_ok(sup, delete_child_atom::value, std::string{"a"}));
  ASSERT_TRUE(call<caf::actor>(sup, start_child_atom::value, spec(ctl, "a")));
  EXPECT_EQ(ids(sup), (strings{"a", "c", "b"}));
  reset_trace();
  crash(sup, "c");  // rest_for_one: a is now after c
  EXPECT_EQ(order(), (strings{"child_terminated:c", "child_shutdown:a", "child_started:c",
                              "child_started:a", "child_restarted:c"}));
}

// Children keep their list order, not their id order, through rest_for_one and one_for_all
// restarts (order_of_children: ids ch7, ch3, ch10, ch2, ch5).
TEST_F(conformance, order_of_children) {
  std::vector<std::string> order_ids{"ch7", "ch3", "ch10", "ch2", "ch5"};
  std::vector<child_spec> specs;
  for (auto& id : order_ids)
    specs.push_back(spec(ctl, id));
  auto sup = start_ok(flags(strategy::rest_for_one, 2, 3600s), specs);
  EXPECT_EQ(ids(sup), (strings{"ch5", "ch2", "ch10", "ch3", "ch7"}));
  auto ch7 = child_of(sup, "ch7");
  auto ch3 = child_of(sup, "ch3");
  ctl->log.clear();
  crash(sup, "ch10");
  EXPECT_EQ(ctl->log, (strings{"stop:ch10", "stop:ch5", "stop:ch2", "start:ch10", "start:ch2",
                               "start:ch5"}));
  EXPECT_EQ(child_of(sup, "ch7"), ch7);
  EXPECT_EQ(child_of(sup, "ch3"), ch3);
  EXPECT_EQ(ids(sup), (strings{"ch5", "ch2", "ch10", "ch3", "ch7"}));
  // The same ids under one_for_all.
  auto sup2 = start_ok(flags(strategy::one_for_all, 2, 3600s), specs);
  ctl->log.clear();
  crash(sup2, "ch10");
  EXPECT_EQ(ctl->log, (strings{"stop:ch10", "stop:ch5", "stop:ch2", "stop:ch3", "stop:ch7",
                               "start:ch7", "start:ch3", "start:ch10", "start:ch2",
                               "start:ch5"}));
  EXPECT_EQ(ids(sup2), (strings{"ch5", "ch2", "ch10", "ch3", "ch7"}));
}

// The group restart stops bystanders with their own shutdown settings: one that ignores
// shutdown is killed after its timeout, then the group starts.
TEST_F(conformance, group_restart_uses_shutdown_settings) {
  ctl->ignore_shutdown["b"] = true;
  auto sup = start_ok(flags(strategy::one_for_all, 2, 300s),
                      {spec(ctl, "a"), with_shutdown(spec(ctl, "b"), shutdown_policy::timeout(1s))});
  auto b = child_of(sup, "b");
  watch(b);
  crash(sup, "a");
  EXPECT_EQ(ctl->starts["a"], 1);
  advance(1s);
  EXPECT_EQ(exit_of(b), "killed");
  EXPECT_EQ(running(sup), (strings{"a", "b"}));
  EXPECT_EQ(events->count(event_kind::shutdown_error, "b"), 1u);
}

// A sibling that dies on its own while a group restart stops it is reported once (as a
// shutdown error with its reason) and counts no extra restart.
TEST_F(conformance, sibling_exit_during_group_restart_counts_once) {
  ctl->ignore_shutdown["c"] = true;
  auto sup = start_ok(flags(strategy::one_for_all, 1, 300s),
                      {spec(ctl, "a"), spec(ctl, "b"),
                       with_shutdown(spec(ctl, "c"), shutdown_policy::timeout(1s))});
  auto b = child_of(sup, "b");
  crash(sup, "a");  // the supervisor now waits for c to stop
  send_exit_signal(b, caf::make_error(caf::sec::runtime_error, std::string{"b died"}));
  run();
  advance(1s);
  EXPECT_TRUE(alive(sup));
  EXPECT_EQ(running(sup), (strings{"a", "b", "c"}));
  EXPECT_EQ(status(sup).total_restarts, 1u);
  EXPECT_EQ(events->count(event_kind::child_terminated, "b"), 0u);
  EXPECT_EQ(events->count(event_kind::shutdown_error, "b"), 1u);
}
