// The runtime API and its answers (supervisor_SUITE: child_adm, child_adm_simple,
// count_children, which_children, get_childspec, extra_return's answer matrix), and calls
// to a supervisor that no longer exists.
#include "conformance/conformance.hpp"

using namespace std::chrono_literals;
using namespace warden;
using namespace warden::test;

namespace {
const std::string child1 = "child1";
} // namespace

// The answer matrix of start_child, terminate_child, restart_child, delete_child,
// which_children and count_children on a static supervisor (child_adm).
TEST_F(conformance, child_adm) {
  auto child = with_shutdown(spec(ctl, "child1"), shutdown_policy::timeout(1000ms));
  auto sup = start_ok(flags(strategy::one_for_one, 2, 3600s), {child});
  auto kids = children(sup);
  ASSERT_EQ(kids.size(), 1u);
  auto cpid = kids[0].actor;
  EXPECT_EQ(kids[0].id, "child1");
  EXPECT_EQ(kids[0].type, child_type::worker);
  EXPECT_EQ(counts(sup), (child_counts{1, 1, 0, 1}));
  watch(cpid);

  // Start of an already running child: already_started, with the actor.
  auto again = call<caf::actor>(sup, start_child_atom::value, child);
  ASSERT_FALSE(again);
  EXPECT_ERRC(again, already_started);
  ASSERT_TRUE(again.error().context().match_element<caf::actor>(0));
  EXPECT_EQ(again.error().context().get_as<caf::actor>(0), cpid);

  // Termination.
  EXPECT_ERRC(call_ok(sup, terminate_child_atom::value, std::string{"hej"}), not_found);
  EXPECT_FALSE(call_ok(sup, terminate_child_atom::value, child1));
  EXPECT_EQ(exit_of(cpid), "shutdown");
  kids = children(sup);
  ASSERT_EQ(kids.size(), 1u);
  EXPECT_FALSE(kids[0].actor);
  EXPECT_EQ(kids[0].state, child_state::undefined);
  EXPECT_EQ(counts(sup), (child_counts{1, 0, 0, 1}));
  // Like deleting something that does not exist, it succeeds.
  EXPECT_FALSE(call_ok(sup, terminate_child_atom::value, child1));

  // Start of an existing but not running child: already_present.
  EXPECT_ERRC(call<caf::actor>(sup, start_child_atom::value, child), already_present);

  // Restart.
  auto cpid2 = call<caf::actor>(sup, restart_child_atom::value, child1);
  ASSERT_TRUE(cpid2 && *cpid2);
  EXPECT_EQ(child_of(sup, "child1"), *cpid2);
  EXPECT_EQ(counts(sup), (child_counts{1, 1, 0, 1}));
  EXPECT_ERRC(call<caf::actor>(sup, restart_child_atom::value, child1), running);
  EXPECT_ERRC(call<caf::actor>(sup, restart_child_atom::value, std::string{"child2"}), not_found);

  // Deletion.
  EXPECT_ERRC(call_ok(sup, delete_child_atom::value, child1), running);
  EXPECT_ERRC(call_ok(sup, delete_child_atom::value, std::string{"hej"}), not_found);
  EXPECT_FALSE(call_ok(sup, terminate_child_atom::value, child1));
  EXPECT_FALSE(call_ok(sup, delete_child_atom::value, child1));
  EXPECT_ERRC(call<caf::actor>(sup, restart_child_atom::value, child1), not_found);
  EXPECT_ERRC(call_ok(sup, delete_child_atom::value, child1), not_found);
  EXPECT_TRUE(children(sup).empty());
  EXPECT_EQ(counts(sup), (child_counts{0, 0, 0, 0}));

  // Start.
  auto cpid3 = call<caf::actor>(sup, start_child_atom::value, child);
  ASSERT_TRUE(cpid3 && *cpid3);
  EXPECT_EQ(child_of(sup, "child1"), *cpid3);
  EXPECT_EQ(counts(sup), (child_counts{1, 1, 0, 1}));

  // Terminate by actor is only for dynamic supervisors: not_found, the child keeps running.
  EXPECT_ERRC(call_ok(sup, terminate_child_atom::value, *cpid3), not_found);
  EXPECT_EQ(child_of(sup, "child1"), *cpid3);
  EXPECT_EQ(counts(sup), (child_counts{1, 1, 0, 1}));

  // start_child(args) needs the dynamic strategy.
  EXPECT_ERRC(call<caf::actor>(sup, start_child_atom::value, caf::make_message(1)),
              not_supported);
}

// The answers of a dynamic supervisor: start_child(args) adds instances, terminate_child by
// actor (repeatable; a live stranger is not_found), restart_child and delete_child are not
// supported (child_adm_simple).
TEST_F(conformance, child_adm_simple) {
  auto sup = start_ok(flags(strategy::dynamic, 2, 3600s), {dyn_spec(ctl)});
  EXPECT_TRUE(children(sup).empty());
  EXPECT_EQ(counts(sup), (child_counts{1, 0, 0, 0}));

  auto c1 = start_dyn(sup, 1);
  ASSERT_TRUE(c1 && *c1);
  auto kids = children(sup);
  ASSERT_EQ(kids.size(), 1u);
  EXPECT_EQ(kids[0].id, "");
  EXPECT_EQ(kids[0].actor, *c1);
  EXPECT_EQ(counts(sup), (child_counts{1, 1, 0, 1}));

  auto c2 = start_dyn(sup, 2);
  ASSERT_TRUE(c2 && *c2);
  kids = children(sup);
  ASSERT_EQ(kids.size(), 2u);
  EXPECT_EQ(kids[0].actor, *c2);  // newest first
  EXPECT_EQ(kids[1].actor, *c1);
  EXPECT_EQ(counts(sup), (child_counts{1, 2, 0, 2}));

  // Termination: by id is not supported; by actor it is.
  EXPECT_ERRC(call_ok(sup, terminate_child_atom::value, child1), not_supported);
  EXPECT_EQ(counts(sup), (child_counts{1, 2, 0, 2}));
  watch(*c1);
  EXPECT_FALSE(call_ok(sup, terminate_child_atom::value, *c1));
  EXPECT_EQ(children(sup).size(), 1u);
  EXPECT_EQ(counts(sup), (child_counts{1, 1, 0, 1}));
  EXPECT_FALSE(alive(*c1));
  // Terminating a process that no longer exists is ok.
  EXPECT_FALSE(call_ok(sup, terminate_child_atom::value, *c1));
  EXPECT_EQ(counts(sup), (child_counts{1, 1, 0, 1}));
  // Terminating a live actor that is not a child is not ok.
  auto stranger = sys.spawn([](caf::event_based_actor*) -> caf::behavior {
    return {[](ping_atom) {}};
  });
  EXPECT_ERRC(call_ok(sup, terminate_child_atom::value, stranger), not_found);
  watch(stranger);
  EXPECT_TRUE(alive(stranger));
  caf::anon_send_exit(stranger, caf::exit_reason::kill);
  run();

  // Restart and deletion are not supported; start_child(spec) neither.
  EXPECT_ERRC(call<caf::actor>(sup, restart_child_atom::value, child1), not_supported);
  EXPECT_ERRC(call_ok(sup, delete_child_atom::value, child1), not_supported);
  EXPECT_ERRC(call<caf::actor>(sup, start_child_atom::value, spec(ctl, "x")), not_supported);
}

// which_children: (id, actor | undefined | restarting, worker | supervisor), newest first.
TEST_F(conformance, which_children) {
  ctl->next["ign"] = {init_mode::ignore};
  auto sub = supervisor_child("sub", flags(), {});
  auto sup = start_ok(flags(strategy::one_for_one, 5, 3600s),
                      {spec(ctl, "w"), sub, spec(ctl, "ign")});
  auto kids = children(sup);
  ASSERT_EQ(kids.size(), 3u);
  EXPECT_EQ(kids[0].id, "ign");
  EXPECT_EQ(kids[0].state, child_state::undefined);
  EXPECT_FALSE(kids[0].actor);
  EXPECT_EQ(kids[0].type, child_type::worker);
  EXPECT_EQ(kids[1].id, "sub");
  EXPECT_EQ(kids[1].state, child_state::running);
  EXPECT_TRUE(kids[1].actor);
  EXPECT_EQ(kids[1].type, child_type::supervisor);
  EXPECT_EQ(kids[2].id, "w");
  EXPECT_EQ(kids[2].type, child_type::worker);
  EXPECT_EQ(kids[2].restart, restart_type::permanent);
  EXPECT_EQ(kids[2].restart_count, 0u);
}

// count_children: specs, active, supervisors, workers, over running, not running and
// supervisor children.
TEST_F(conformance, count_children_static) {
  ctl->next["ign"] = {init_mode::ignore};
  auto sup = start_ok(flags(strategy::one_for_one, 5, 3600s),
                      {spec(ctl, "w1"), supervisor_child("sub", flags(), {}), spec(ctl, "ign"),
                       spec(ctl, "w2")});
  EXPECT_EQ(counts(sup), (child_counts{4, 3, 1, 3}));
  EXPECT_FALSE(call_ok(sup, terminate_child_atom::value, std::string{"sub"}));
  EXPECT_EQ(counts(sup), (child_counts{4, 2, 1, 3}));
}

// count_children on a dynamic supervisor with 1000 then 2000 temporary children; which_children
// lists them all; after killing them all: specs 1, nothing else (count_children).
TEST_F(conformance, count_children) {
  auto sup = start_ok(flags(strategy::dynamic, 2, 3600s), {dyn_spec(ctl, restart_type::temporary)});
  for (int i = 0; i < 1000; ++i)
    ASSERT_TRUE(start_dyn(sup, i));
  auto kids = children(sup);
  EXPECT_EQ(kids.size(), 1000u);
  EXPECT_EQ(counts(sup), (child_counts{1, 1000, 0, 1000}));
  for (int i = 0; i < 1000; ++i)
    ASSERT_TRUE(start_dyn(sup, 1000 + i));
  EXPECT_EQ(counts(sup), (child_counts{1, 2000, 0, 2000}));
  auto kids2 = children(sup);
  EXPECT_EQ(kids2.size(), 2000u);
  EXPECT_EQ(children(sup).size(), kids2.size());
  for (auto& k : kids2)
    caf::anon_send_exit(k.actor, caf::exit_reason::kill);
  run();
  EXPECT_EQ(counts(sup), (child_counts{1, 0, 0, 0}));
}

// A dynamic supervisor of supervisors counts them as supervisors.
TEST_F(conformance, count_children_dynamic_supervisors) {
  child_spec tmpl = supervisor_child("sub", flags(), {});
  auto sup = start_ok(flags(strategy::dynamic, 2, 3600s), {tmpl});
  ASSERT_TRUE(call<caf::actor>(sup, start_child_atom::value, caf::make_message()));
  ASSERT_TRUE(call<caf::actor>(sup, start_child_atom::value, caf::make_message()));
  EXPECT_EQ(counts(sup), (child_counts{1, 2, 2, 0}));
}

// get_childspec answers the spec by id (not_found otherwise); a dynamic supervisor answers
// its template for a child actor.
TEST_F(conformance, get_childspec) {
  auto s = with_shutdown(spec(ctl, "a", restart_type::transient), shutdown_policy::brutal_kill());
  auto sup = start_ok(flags(), {s});
  auto got = call<child_spec>(sup, get_childspec_atom::value, std::string{"a"});
  ASSERT_TRUE(got);
  EXPECT_EQ(got->id, "a");
  EXPECT_EQ(got->restart, restart_type::transient);
  EXPECT_EQ(got->effective_shutdown(), shutdown_policy::brutal_kill());
  EXPECT_ERRC(call<child_spec>(sup, get_childspec_atom::value, std::string{"b"}), not_found);
  // Also after the child stopped: the spec stays.
  EXPECT_FALSE(call_ok(sup, terminate_child_atom::value, std::string{"a"}));
  EXPECT_TRUE(call<child_spec>(sup, get_childspec_atom::value, std::string{"a"}));
  auto dsup = start_ok(flags(strategy::dynamic), {dyn_spec(ctl, restart_type::transient)});
  auto c = start_dyn(dsup, 7);
  ASSERT_TRUE(c && *c);
  auto tmpl = call<child_spec>(dsup, get_childspec_atom::value, *c);
  ASSERT_TRUE(tmpl);
  EXPECT_EQ(tmpl->id, "dyn");
  EXPECT_EQ(tmpl->restart, restart_type::transient);
}

// Calls to a supervisor that no longer exists fail with a named error: no_supervisor
// through the client, sec::request_receiver_down on a raw request.
TEST_F(conformance, calls_to_a_dead_supervisor) {
  auto sup = start_ok(flags(), {spec(ctl, "a")});
  stop(sup);
  ASSERT_FALSE(alive(sup));
  auto raw = call<std::vector<child_info>>(sup, which_children_atom::value);
  ASSERT_FALSE(raw);
  EXPECT_EQ(raw.error(), caf::sec::request_receiver_down);
  supervisor_client client{sys, sup};
  EXPECT_ERRC(client.which_children(), no_supervisor);
  EXPECT_ERRC(client.count_children(), no_supervisor);
  EXPECT_ERRC(client.start_child(spec(ctl, "b")), no_supervisor);
  EXPECT_ERRC(client.terminate_child("a"), no_supervisor);
  EXPECT_ERRC(client.restart_child("a"), no_supervisor);
  EXPECT_ERRC(client.delete_child("a"), no_supervisor);
  EXPECT_ERRC(client.get_childspec("a"), no_supervisor);
  EXPECT_ERRC(client.status(), no_supervisor);
  supervisor_client nobody{sys, caf::actor{}};
  EXPECT_ERRC(nobody.which_children(), no_supervisor);
}
