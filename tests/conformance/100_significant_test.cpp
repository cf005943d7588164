// auto_shutdown and significant children (supervisor_SUITE's significant/auto_shutdown
// group: significant_temporary, significant_transient, significant_bystander,
// significant_simple, significant_upgrade_child).
#include "conformance/conformance.hpp"

using namespace std::chrono_literals;
using namespace warden;
using namespace warden::test;

class significant_children : public conformance {
protected:
  supervisor_flags sflags(auto_shutdown a, strategy s = strategy::one_for_one) {
    auto f = flags(s, 5, 3600s);
    f.auto_shutdown = a;
    return f;
  }
};

// any_significant: a temporary significant child that ends for any reason stops the
// supervisor: the others are stopped in reverse order and it exits shutdown.
TEST_F(significant_children, significant_temporary) {
  for (auto reason : {normal(), shutdown(), died()}) {
    SCOPED_TRACE(describe(reason));
    reset_trace();
    auto sup = start_ok(sflags(auto_shutdown::any_significant),
                        {spec(ctl, "a"), significant(spec(ctl, "s", restart_type::temporary)),
                         spec(ctl, "b")});
    exit_child(sup, "s", reason);
    EXPECT_EQ(order(), (strings{"child_started:a", "child_started:s", "child_started:b",
                                "child_terminated:s", "auto_shutdown:s", "child_shutdown:b",
                                "child_shutdown:a"}));
    auto r = exit_reason_of(sup);
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, caf::error{caf::exit_reason::user_shutdown});
  }
}

// any_significant: a transient significant child stops the supervisor when it ends normally
// or with shutdown (not restarted), but an abnormal exit restarts it.
TEST_F(significant_children, significant_transient) {
  for (auto reason : {normal(), shutdown(), shutdown_with(std::string{"info"})}) {
    SCOPED_TRACE(describe(reason));
    auto sup = start_ok(sflags(auto_shutdown::any_significant),
                        {spec(ctl, "a"), significant(spec(ctl, "s", restart_type::transient))});
    exit_child(sup, "s", reason);
    EXPECT_EQ(exit_of(sup), "shutdown");
  }
  auto sup = start_ok(sflags(auto_shutdown::any_significant),
                      {spec(ctl, "a"), significant(spec(ctl, "s", restart_type::transient))});
  auto s = child_of(sup, "s");
  exit_child(sup, "s", died());
  EXPECT_TRUE(alive(sup));
  EXPECT_NE(child_of(sup, "s"), s);
  EXPECT_TRUE(child_of(sup, "s"));
}

// Non-significant children never stop the supervisor, whatever auto_shutdown says.
TEST_F(significant_children, non_significant_do_not_count) {
  auto sup = start_ok(sflags(auto_shutdown::any_significant),
                      {spec(ctl, "t", restart_type::temporary),
                       significant(spec(ctl, "s", restart_type::transient))});
  exit_child(sup, "t", normal());
  EXPECT_TRUE(alive(sup));
}

// all_significant: the supervisor stops only when the last running significant child ends.
TEST_F(significant_children, all_significant) {
  auto sup = start_ok(sflags(auto_shutdown::all_significant),
                      {spec(ctl, "a"), significant(spec(ctl, "s1", restart_type::temporary)),
                       significant(spec(ctl, "s2", restart_type::transient))});
  exit_child(sup, "s1", normal());
  EXPECT_TRUE(alive(sup));
  exit_child(sup, "s2", died());  // restarted: still running
  EXPECT_TRUE(alive(sup));
  exit_child(sup, "s2", shutdown());
  EXPECT_EQ(exit_of(sup), "shutdown");
  EXPECT_EQ(events->count(event_kind::auto_shutdown, "s2"), 1u);
}

// all_significant counts only running significant children: one stopped through the API
// does not hold the supervisor up.
TEST_F(significant_children, all_significant_ignores_stopped_ones) {
  auto sup = start_ok(sflags(auto_shutdown::all_significant),
                      {significant(spec(ctl, "s1", restart_type::transient)),
                       significant(spec(ctl, "s2", restart_type::transient))});
  EXPECT_FALSE(call_ok(sup, terminate_child_atom::value, std::string{"s1"}));
  EXPECT_TRUE(alive(sup));
  exit_child(sup, "s2", normal());
  EXPECT_EQ(exit_of(sup), "shutdown");
}

// terminate_child of a significant child never triggers auto_shutdown.
TEST_F(significant_children, not_triggered_by_terminate_child) {
  for (auto a : {auto_shutdown::any_significant, auto_shutdown::all_significant}) {
    SCOPED_TRACE(to_string(a));
    auto sup = start_ok(sflags(a), {spec(ctl, "a"),
                                    significant(spec(ctl, "s", restart_type::temporary))});
    EXPECT_FALSE(call_ok(sup, terminate_child_atom::value, std::string{"s"}));
    EXPECT_TRUE(alive(sup));
    EXPECT_EQ(ids(sup), (strings{"a"}));
    EXPECT_EQ(events->count(event_kind::auto_shutdown), 0u);
  }
}

// A significant sibling stopped by a group restart (a bystander) does not trigger
// auto_shutdown; a temporary one is removed, a transient one restarted (significant_bystander).
TEST_F(significant_children, significant_bystander) {
  for (auto s : {strategy::one_for_all, strategy::rest_for_one}) {
    SCOPED_TRACE(to_string(s));
    auto sup = start_ok(sflags(auto_shutdown::any_significant, s),
                        {spec(ctl, "p"), significant(spec(ctl, "st", restart_type::temporary)),
                         significant(spec(ctl, "sr", restart_type::transient))});
    crash(sup, "p");
    EXPECT_TRUE(alive(sup));
    EXPECT_EQ(running(sup), (strings{"p", "sr"}));
    EXPECT_EQ(events->count(event_kind::auto_shutdown), 0u);
  }
}

// A significant child that gives up its restarts still escalates through intensity (the
// supervisor gives up; auto_shutdown is not what stops it).
TEST_F(significant_children, significant_restart_limits_still_apply) {
  auto f = sflags(auto_shutdown::any_significant);
  f.intensity = 0;
  auto sup = start_ok(f, {significant(spec(ctl, "s", restart_type::transient))});
  exit_child(sup, "s", died());
  auto r = exit_reason_of(sup);
  ASSERT_TRUE(r);
  EXPECT_NE(describe(*r).find("reached_max_restart_intensity"), std::string::npos);
  EXPECT_EQ(events->count(event_kind::auto_shutdown), 0u);
}

// A significant child that ends under a child supervisor stops that supervisor only; its
// parent restarts it if its spec says so (the shutdown reason of auto_shutdown is not
// abnormal, so a transient parent spec does not restart it).
TEST_F(significant_children, auto_shutdown_in_a_tree) {
  auto inner = flags(strategy::one_for_one, 5, 3600s);
  inner.auto_shutdown = auto_shutdown::any_significant;
  auto sub = supervisor_child("sub", inner, {significant(spec(ctl, "s", restart_type::temporary))});
  sub.restart = restart_type::transient;
  auto sup = start_ok(flags(strategy::one_for_one, 5, 3600s), {sub, spec(ctl, "b")});
  auto subsup = child_of(sup, "sub");
  ASSERT_TRUE(subsup);
  auto s = call<std::vector<child_info>>(subsup, which_children_atom::value);
  ASSERT_TRUE(s && s->size() == 1u);
  caf::anon_send(s->front().actor, quit_atom::value, normal());
  run();
  EXPECT_TRUE(alive(sup));
  EXPECT_EQ(running(sup), (strings{"b"}));
  EXPECT_EQ(row(sup, "sub").state, child_state::undefined);
}
