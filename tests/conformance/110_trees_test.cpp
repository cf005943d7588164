// Supervision trees (supervisor_SUITE: tree, and the escalation rules between levels).
#include "conformance/conformance.hpp"

using namespace std::chrono_literals;
using namespace warden;
using namespace warden::test;

class trees : public conformance {
protected:
  /// which_children of a child supervisor, ids newest first.
  strings ids_of(const caf::actor& sup) { return ids(sup); }

  /// A child supervisor spec that gives up at the first restart it needs.
  child_spec fragile(const std::string& id, std::vector<child_spec> kids,
                     restart_type restart = restart_type::permanent) {
    auto s = supervisor_child(id, flags(strategy::one_for_one, 0, 3600s), std::move(kids));
    s.restart = restart;
    return s;
  }
};

// A tree: only the child that dies is restarted; when a child supervisor gives up, the
// one_for_all root restarts both child supervisors, each rebuilt from its spec: children
// added at run time are gone (tree).
TEST_F(trees, tree) {
  auto sup1 = supervisor_child("supchild1", flags(strategy::one_for_one, 4, 3600s),
                               {spec(ctl, "child1"), spec(ctl, "child2")});
  auto sup2 = supervisor_child("supchild2", flags(strategy::one_for_one, 4, 3600s), {});
  auto root = start_ok(flags(strategy::one_for_all, 4, 3600s), {});
  ASSERT_TRUE(call<caf::actor>(root, start_child_atom::value, sup1));
  ASSERT_TRUE(call<caf::actor>(root, start_child_atom::value, sup2));
  EXPECT_EQ(counts(root), (child_counts{2, 2, 2, 0}));
  auto s1 = child_of(root, "supchild1");
  auto s2 = child_of(root, "supchild2");
  EXPECT_EQ(ids_of(s1), (strings{"child2", "child1"}));
  EXPECT_EQ(counts(s1), (child_counts{2, 2, 0, 2}));
  EXPECT_EQ(counts(s2), (child_counts{0, 0, 0, 0}));
  // Children added at run time.
  ASSERT_TRUE(call<caf::actor>(s2, start_child_atom::value, spec(ctl, "child3")));
  ASSERT_TRUE(call<caf::actor>(s2, start_child_atom::value, spec(ctl, "child4")));
  EXPECT_EQ(counts(s2), (child_counts{2, 2, 0, 2}));
  auto c1 = child_of(s1, "child1");
  auto c2 = child_of(s1, "child2");
  auto c3 = child_of(s2, "child3");
  auto c4 = child_of(s2, "child4");
  // Only the process that dies is restarted.
  crash(s2, "child4");
  EXPECT_EQ(child_of(s1, "child1"), c1);
  EXPECT_EQ(child_of(s1, "child2"), c2);
  EXPECT_EQ(child_of(s2, "child3"), c3);
  EXPECT_NE(child_of(s2, "child4"), c4);
  EXPECT_EQ(counts(s2), (child_counts{2, 2, 0, 2}));
  // child3 can never start again: supchild2 gives up, the root restarts the whole tree.
  ctl->next["child3"] = std::vector<init_mode>(100, init_mode::fail);
  watch(s1);
  watch(s2);
  crash(s2, "child3");
  EXPECT_FALSE(alive(s1));
  EXPECT_FALSE(alive(s2));
  EXPECT_TRUE(alive(root));
  auto ns1 = child_of(root, "supchild1");
  auto ns2 = child_of(root, "supchild2");
  ASSERT_TRUE(ns1 && ns2);
  EXPECT_NE(ns1, s1);
  EXPECT_NE(ns2, s2);
  EXPECT_EQ(ids(root), (strings{"supchild2", "supchild1"}));
  EXPECT_EQ(counts(root), (child_counts{2, 2, 2, 0}));
  EXPECT_EQ(ids_of(ns1), (strings{"child2", "child1"}));
  EXPECT_EQ(counts(ns1), (child_counts{2, 2, 0, 2}));
  EXPECT_TRUE(children(ns2).empty());
  EXPECT_EQ(counts(ns2), (child_counts{0, 0, 0, 0}));
}

// A child supervisor that gives up exits shutdown (with the culprit attached); a permanent
// spec is restarted by its parent, and that restart counts in the parent's window.
TEST_F(trees, permanent_child_supervisor_is_restarted) {
  auto root = start_ok(flags(strategy::one_for_one, 1, 3600s),
                       {fragile("mid", {spec(ctl, "w")}), spec(ctl, "x")});
  auto mid = child_of(root, "mid");
  watch(mid);
  crash(mid, "w");
  auto r = exit_reason_of(mid);
  ASSERT_TRUE(r);
  EXPECT_TRUE(is_shutdown(*r));
  EXPECT_EQ(describe(*r),
            "shutdown(reached_max_restart_intensity(\"w\", runtime_error(\"crash w\")))");
  auto mid2 = child_of(root, "mid");
  ASSERT_TRUE(mid2);
  EXPECT_NE(mid2, mid);
  EXPECT_EQ(running(mid2), (strings{"w"}));
  EXPECT_EQ(status(root).intensity_headroom, 0);
  // Once more within the window: the root gives up too.
  crash(mid2, "w");
  EXPECT_FALSE(alive(root));
}

// transient and temporary child supervisors that give up are not restarted (shutdown is
// not abnormal); the temporary spec goes.
TEST_F(trees, transient_and_temporary_child_supervisors) {
  auto root = start_ok(flags(strategy::one_for_one, 5, 3600s),
                       {fragile("tr", {spec(ctl, "w1")}, restart_type::transient),
                        fragile("tm", {spec(ctl, "w2")}, restart_type::temporary)});
  crash(child_of(root, "tr"), "w1");
  crash(child_of(root, "tm"), "w2");
  EXPECT_TRUE(alive(root));
  EXPECT_EQ(ids(root), (strings{"tr"}));
  EXPECT_EQ(row(root, "tr").state, child_state::undefined);
  EXPECT_EQ(status(root).total_restarts, 0u);
}

// A restarted child supervisor is rebuilt from its spec: children added at run time are
// gone, and children deleted at run time are back.
TEST_F(trees, restarted_child_supervisor_is_rebuilt_from_its_spec) {
  auto root = start_ok(flags(strategy::one_for_one, 5, 3600s),
                       {fragile("mid", {spec(ctl, "w"), spec(ctl, "v")})});
  auto mid = child_of(root, "mid");
  ASSERT_TRUE(call<caf::actor>(mid, start_child_atom::value, spec(ctl, "added")));
  EXPECT_FALSE(call_ok(mid, terminate_child_atom::value, std::string{"v"}));
  EXPECT_FALSE(call_ok(mid, delete_child_atom::value, std::string{"v"}));
  EXPECT_EQ(ids(mid), (strings{"added", "w"}));
  crash(mid, "w");
  auto mid2 = child_of(root, "mid");
  ASSERT_TRUE(mid2);
  EXPECT_NE(mid2, mid);
  EXPECT_EQ(ids(mid2), (strings{"v", "w"}));
}

// Events of a child supervisor go to the inherited sink under its path.
TEST_F(trees, child_supervisor_events_carry_its_path) {
  auto f = flags(strategy::one_for_one, 5, 3600s);
  f.events = nullptr;  // inherit
  auto root = start_ok(flags(strategy::one_for_one, 5, 3600s),
                       {supervisor_child("mid", f, {spec(ctl, "w")})});
  crash(child_of(root, "mid"), "w");
  auto evs = events->events();
  auto it = std::find_if(evs.begin(), evs.end(), [](auto& e) {
    return e.kind == event_kind::child_restarted && e.child == "w";
  });
  ASSERT_NE(it, evs.end());
  EXPECT_EQ(it->supervisor, "root/mid");
}

// A child supervisor whose own start fails fails its parent's start, nested:
// failed_to_start_child(mid, failed_to_start_child(w, reason)).
TEST_F(trees, nested_start_failure) {
  ctl->next["w"] = {init_mode::fail};
  auto res = start(flags(), {spec(ctl, "a"), supervisor_child("mid", flags(), {spec(ctl, "w")})});
  ASSERT_FALSE(res);
  EXPECT_EQ(describe(res.error()),
            "failed_to_start_child(\"mid\", failed_to_start_child(\"w\", "
            "runtime_error(\"init failed: w\")))");
  EXPECT_EQ(ctl->log, (strings{"start:a", "stop:a"}));
}

// Stopping the root stops the whole tree depth first in reverse order; a child supervisor
// waits (infinity) for its own children.
TEST_F(trees, shutdown_is_depth_first) {
  auto root = start_ok(flags(), {spec(ctl, "a"),
                                 supervisor_child("mid", flags(), {spec(ctl, "m1"), spec(ctl, "m2")}),
                                 spec(ctl, "b")});
  ctl->log.clear();
  stop(root);
  EXPECT_EQ(ctl->log, (strings{"stop:b", "stop:m2", "stop:m1", "stop:a"}));
  EXPECT_EQ(exit_of(root), "shutdown");
}

// A child supervisor whose parent dies (even killed) stops its children.
TEST_F(trees, child_supervisor_follows_its_parent) {
  auto root = start_ok(flags(), {supervisor_child("mid", flags(), {spec(ctl, "m1")})});
  auto mid = child_of(root, "mid");
  auto m1 = child_of(mid, "m1");
  watch(mid);
  watch(m1);
  caf::anon_send_exit(root, caf::exit_reason::kill);
  run();
  EXPECT_FALSE(alive(mid));
  EXPECT_FALSE(alive(m1));
}
