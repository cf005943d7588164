// Start: ordered, synchronous child starts; failed starts; ignore; start timeouts
// (supervisor_SUITE: sup_start_normal, sup_start_ignore_*, sup_start_child_returns_error,
// sup_start_restart_child_returns_error).
#include "conformance/conformance.hpp"

using namespace std::chrono_literals;
using namespace warden;
using namespace warden::test;

// A supervisor starts its children in list order and stops cleanly with reason shutdown.
TEST_F(conformance, sup_start_normal) {
  auto sup = start_ok(flags(strategy::one_for_one, 2, 3600s),
                      {spec(ctl, "a"), spec(ctl, "b"), spec(ctl, "c")});
  EXPECT_EQ(ctl->log, (std::vector<std::string>{"start:a", "start:b", "start:c"}));
  EXPECT_EQ(order(), (std::vector<std::string>{"child_started:a", "child_started:b",
                                               "child_started:c"}));
  stop(sup);
  EXPECT_EQ(exit_of(sup), "shutdown");
}

// An empty supervisor starts and stops.
TEST_F(conformance, sup_start_normal_empty) {
  auto sup = start_ok(flags(strategy::one_for_one, 2, 3600s), {});
  EXPECT_TRUE(children(sup).empty());
  stop(sup);
  EXPECT_EQ(exit_of(sup), "shutdown");
}

// Each start waits until that child is ready: while child a has not acked, b is not started
// and the supervisor's own start has not completed.
TEST_F(conformance, sup_start_waits_for_each_child) {
  auto res = start_pending(flags(), {hanging("a", 10s), spec(ctl, "b")});
  EXPECT_FALSE(res.ack->has_value());
  EXPECT_EQ(ctl->starts["b"], 0);
  advance(10s);
  ASSERT_TRUE(res.ack->has_value());
  EXPECT_ERRC(**res.ack, failed_to_start_child);
  EXPECT_EQ(ctl->starts["b"], 0);
}

// Child k fails to start: children 1..k-1 are stopped in reverse order, later children are
// never started, and the start fails with failed_to_start_child(id_k, reason).
TEST_F(conformance, sup_start_fail_stops_earlier_children_in_reverse) {
  ctl->next["c"] = {init_mode::fail};
  auto res = start_pending(flags(), {spec(ctl, "a"), spec(ctl, "b"), spec(ctl, "c"),
                                     spec(ctl, "d")});
  ASSERT_TRUE(res.ack->has_value());
  auto err = **res.ack;
  EXPECT_ERRC(err, failed_to_start_child);
  EXPECT_EQ(describe(err), "failed_to_start_child(\"c\", runtime_error(\"init failed: c\"))");
  EXPECT_EQ(ctl->log, (std::vector<std::string>{"start:a", "start:b", "stop:b", "stop:a"}));
  EXPECT_EQ(ctl->starts["d"], 0);
  EXPECT_EQ(order(), (std::vector<std::string>{"child_started:a", "child_started:b",
                                               "start_error:c", "child_shutdown:b",
                                               "child_shutdown:a"}));
  auto reason = exit_reason_of(res.sup);
  ASSERT_TRUE(reason);
  EXPECT_TRUE(is_shutdown(*reason));
}

// The children stopped after a failed start are stopped with their own shutdown settings:
// one that ignores shutdown is killed after its timeout, and only then the start fails.
TEST_F(conformance, sup_start_fail_uses_shutdown_settings) {
  ctl->next["c"] = {init_mode::fail};
  ctl->ignore_shutdown["b"] = true;
  auto res = start_pending(flags(), {spec(ctl, "a"),
                                     with_shutdown(spec(ctl, "b"), shutdown_policy::timeout(2s)),
                                     spec(ctl, "c")});
  EXPECT_FALSE(res.ack->has_value());
  advance(1999ms);
  EXPECT_FALSE(res.ack->has_value());
  advance(1ms);
  ASSERT_TRUE(res.ack->has_value());
  EXPECT_ERRC(**res.ack, failed_to_start_child);
  EXPECT_EQ(order(), (std::vector<std::string>{"child_started:a", "child_started:b",
                                               "start_error:c", "shutdown_error:b",
                                               "child_shutdown:a"}));
}

// An init that throws is a start failure carrying the exception text.
TEST_F(conformance, sup_start_child_throws) {
  ctl->next["a"] = {init_mode::crash};
  auto res = start(flags(), {spec(ctl, "a")});
  ASSERT_FALSE(res);
  EXPECT_ERRC(res, failed_to_start_child);
  EXPECT_EQ(describe(res.error()),
            "failed_to_start_child(\"a\", runtime_error(\"init crashed: a\"))");
}

// A child whose start function returns no actor fails the start (missing_start).
TEST_F(conformance, sup_start_child_returns_no_actor) {
  child_spec s;
  s.id = "a";
  s.start = [](caf::local_actor*, start_info) { return caf::actor{}; };
  auto res = start(flags(), {s});
  ASSERT_FALSE(res);
  EXPECT_ERRC(res, failed_to_start_child);
  EXPECT_NE(describe(res.error()).find("missing_start"), std::string::npos);
}

// An actor that exits before its init ack (even normally) fails its start.
TEST_F(conformance, sup_start_child_exits_before_ack) {
  child_spec s;
  s.id = "a";
  s.start = [](caf::local_actor* spawner, start_info) {
    return spawner->spawn([](caf::event_based_actor* self) { self->quit(); });
  };
  auto res = start(flags(), {s});
  ASSERT_FALSE(res);
  EXPECT_ERRC(res, failed_to_start_child);
  EXPECT_EQ(describe(res.error()), "failed_to_start_child(\"a\", exited_before_ready)");
}

// The start function of child k fails (returns an error): the supervisor's start fails with
// failed_to_start_child(k, that error) (sup_start_child_returns_error).
TEST_F(conformance, sup_start_child_returns_error) {
  ctl->next["child1"] = {init_mode::fail};
  auto res = start(flags(strategy::one_for_one, 2, 3600s), {spec(ctl, "child1")});
  ASSERT_FALSE(res);
  EXPECT_ERRC(res, failed_to_start_child);
  EXPECT_EQ(describe(res.error()),
            "failed_to_start_child(\"child1\", runtime_error(\"init failed: child1\"))");
}

// restart_child whose start fails answers the error and the child stays not running; a later
// restart_child can succeed (sup_start_restart_child_returns_error).
TEST_F(conformance, sup_start_restart_child_returns_error) {
  auto sup = start_ok(flags(), {spec(ctl, "child1")});
  EXPECT_FALSE(call_ok(sup, terminate_child_atom::value, std::string{"child1"}));
  ctl->next["child1"] = {init_mode::fail};
  auto res = call<caf::actor>(sup, restart_child_atom::value, std::string{"child1"});
  ASSERT_FALSE(res);
  EXPECT_EQ(describe(res.error()), "runtime_error(\"init failed: child1\")");
  auto r = row(sup, "child1");
  EXPECT_EQ(r.id, "child1");
  EXPECT_EQ(r.state, child_state::undefined);
  EXPECT_FALSE(r.actor);
  EXPECT_EQ(counts(sup), (child_counts{1, 0, 0, 1}));
  auto again = call<caf::actor>(sup, restart_child_atom::value, std::string{"child1"});
  ASSERT_TRUE(again);
  EXPECT_TRUE(*again);
}

// start_child whose start fails answers the start error and does not keep the spec.
TEST_F(conformance, start_child_returns_error_keeps_no_spec) {
  auto sup = start_ok(flags(), {});
  ctl->next["x"] = {init_mode::fail};
  auto res = call<caf::actor>(sup, start_child_atom::value, spec(ctl, "x"));
  ASSERT_FALSE(res);
  EXPECT_EQ(describe(res.error()), "runtime_error(\"init failed: x\")");
  EXPECT_TRUE(children(sup).empty());
  EXPECT_TRUE(call<caf::actor>(sup, start_child_atom::value, spec(ctl, "x")));
}

// A permanent child that answers ignore keeps its spec with no actor; the other child runs:
// specs 2, active 1, supervisors 0, workers 2 (sup_start_ignore_child).
TEST_F(conformance, sup_start_ignore_child) {
  auto sup = start_ok(flags(strategy::one_for_one, 2, 3600s), {});
  ctl->next["child1"] = {init_mode::ignore};
  auto c1 = call<caf::actor>(sup, start_child_atom::value, spec(ctl, "child1"));
  ASSERT_TRUE(c1);
  EXPECT_FALSE(*c1);  // OTP: {ok, undefined}
  auto c2 = call<caf::actor>(sup, start_child_atom::value, spec(ctl, "child2"));
  ASSERT_TRUE(c2);
  ASSERT_TRUE(*c2);
  auto kids = children(sup);
  ASSERT_EQ(kids.size(), 2u);
  EXPECT_EQ(kids[0].id, "child2");
  EXPECT_EQ(kids[0].actor, *c2);
  EXPECT_EQ(kids[0].state, child_state::running);
  EXPECT_EQ(kids[1].id, "child1");
  EXPECT_FALSE(kids[1].actor);
  EXPECT_EQ(kids[1].state, child_state::undefined);
  EXPECT_EQ(counts(sup), (child_counts{2, 1, 0, 2}));
}

// The same with the children given at start: the ignored permanent spec is kept.
TEST_F(conformance, sup_start_ignore_child_in_start_spec) {
  ctl->next["child1"] = {init_mode::ignore};
  auto sup = start_ok(flags(), {spec(ctl, "child1"), spec(ctl, "child2")});
  EXPECT_EQ(ids(sup), (std::vector<std::string>{"child2", "child1"}));
  EXPECT_EQ(counts(sup), (child_counts{2, 1, 0, 2}));
  EXPECT_EQ(order(), (std::vector<std::string>{"child_started:child2"}));
  EXPECT_EQ(events->count(event_kind::child_ignored, "child1"), 1u);
  // An ignored child can be started later with restart_child.
  auto c1 = call<caf::actor>(sup, restart_child_atom::value, std::string{"child1"});
  ASSERT_TRUE(c1);
  EXPECT_TRUE(*c1);
}

// A temporary child that answers ignore at start is dropped (sup_start_ignore_temporary_child).
TEST_F(conformance, sup_start_ignore_temporary_child) {
  ctl->next["child1"] = {init_mode::ignore};
  auto sup = start_ok(flags(strategy::one_for_one, 2, 3600s),
                      {spec(ctl, "child1", restart_type::temporary),
                       spec(ctl, "child2", restart_type::temporary)});
  auto kids = children(sup);
  ASSERT_EQ(kids.size(), 1u);
  EXPECT_EQ(kids[0].id, "child2");
  EXPECT_TRUE(kids[0].actor);
  EXPECT_EQ(counts(sup), (child_counts{1, 1, 0, 1}));
}

// The same through start_child (sup_start_ignore_temporary_child_start_child).
TEST_F(conformance, sup_start_ignore_temporary_child_start_child) {
  auto sup = start_ok(flags(strategy::one_for_one, 2, 3600s), {});
  ctl->next["child1"] = {init_mode::ignore};
  auto c1 = call<caf::actor>(sup, start_child_atom::value,
                             spec(ctl, "child1", restart_type::temporary));
  ASSERT_TRUE(c1);
  EXPECT_FALSE(*c1);
  auto c2 = call<caf::actor>(sup, start_child_atom::value,
                             spec(ctl, "child2", restart_type::temporary));
  ASSERT_TRUE(c2);
  EXPECT_EQ(ids(sup), (std::vector<std::string>{"child2"}));
  EXPECT_EQ(counts(sup), (child_counts{1, 1, 0, 1}));
}

// A dynamic temporary child that answers ignore is not kept
// (sup_start_ignore_temporary_child_start_child_simple).
TEST_F(conformance, sup_start_ignore_temporary_child_start_child_simple) {
  auto sup = start_ok(flags(strategy::dynamic, 2, 3600s),
                      {dyn_spec(ctl, restart_type::temporary)});
  ctl->next["dyn"] = {init_mode::ignore};
  auto c1 = start_dyn(sup, 1);
  ASSERT_TRUE(c1);
  EXPECT_FALSE(*c1);
  auto c2 = start_dyn(sup, 2);
  ASSERT_TRUE(c2);
  auto kids = children(sup);
  ASSERT_EQ(kids.size(), 1u);
  EXPECT_EQ(kids[0].id, "");
  EXPECT_EQ(kids[0].actor, *c2);
  EXPECT_EQ(counts(sup), (child_counts{1, 1, 0, 1}));
}

// A dynamic permanent child that answers ignore is not kept either, and the supervisor still
// shuts down cleanly (sup_start_ignore_permanent_child_start_child_simple).
TEST_F(conformance, sup_start_ignore_permanent_child_start_child_simple) {
  auto sup = start_ok(flags(strategy::dynamic, 2, 3600s), {dyn_spec(ctl)});
  ctl->next["dyn"] = {init_mode::ignore};
  auto c1 = start_dyn(sup, 1);
  ASSERT_TRUE(c1);
  EXPECT_FALSE(*c1);
  auto c2 = start_dyn(sup, 2);
  ASSERT_TRUE(c2);
  EXPECT_EQ(children(sup).size(), 1u);
  EXPECT_EQ(counts(sup), (child_counts{1, 1, 0, 1}));
  stop(sup);
  EXPECT_EQ(exit_of(sup), "shutdown");
}

// Beyond OTP: a child that never reports ready fails its start with start_timeout after its
// start timeout; the supervisor's start fails with failed_to_start_child(id, start_timeout)
// and the hanging actor is killed.
TEST_F(conformance, start_timeout_fails_the_start) {
  auto res = start_pending(flags(), {spec(ctl, "a"), hanging("slow", 1s)});
  EXPECT_FALSE(res.ack->has_value());
  advance(999ms);
  EXPECT_FALSE(res.ack->has_value());
  advance(1ms);
  ASSERT_TRUE(res.ack->has_value());
  EXPECT_EQ(describe(**res.ack),
            "failed_to_start_child(\"slow\", start_timeout(\"slow\"))");
  EXPECT_EQ(ctl->log, (std::vector<std::string>{"start:a", "stop:a"}));
}

// Beyond OTP: start_child of a child that never acks answers start_timeout after its timeout
// (the default 5 s for a worker); calls queued meanwhile are served afterwards.
TEST_F(conformance, start_timeout_on_start_child) {
  auto sup = start_ok(flags(), {spec(ctl, "a")});
  auto started = request<caf::actor>(sup, start_child_atom::value, hanging("slow"));
  run();
  auto kids = request<std::vector<child_info>>(sup, which_children_atom::value);
  run();
  EXPECT_FALSE(started->has_value());
  EXPECT_FALSE(kids->has_value());
  advance(4999ms);
  EXPECT_FALSE(started->has_value());
  advance(1ms);
  ASSERT_TRUE(started->has_value());
  EXPECT_ERRC(**started, start_timeout);
  ASSERT_TRUE(kids->has_value() && **kids);
  EXPECT_EQ((**kids)->size(), 1u);  // the failed spec is not kept
  EXPECT_TRUE(alive(sup));
}

// A supervisor-type child has no start timeout by default: it may take as long as it needs.
TEST_F(conformance, start_timeout_infinity_for_supervisors) {
  auto sup = start_ok(flags(), {});
  auto started = request<caf::actor>(sup, start_child_atom::value,
                                     hanging("sub", std::nullopt, child_type::supervisor));
  run();
  advance(1h);
  EXPECT_FALSE(started->has_value());
  EXPECT_TRUE(alive(sup));
}
