// Whether to restart: permanent / transient / temporary x normal / shutdown / abnormal
// (supervisor_SUITE: the normal_termination, shutdown_termination and abnormal_termination
// groups), what counts toward intensity, and exits of strangers.
#include "conformance/conformance.hpp"

using namespace std::chrono_literals;
using namespace warden;
using namespace warden::test;

namespace {

// The abnormal exit of OTP's tests ("died").
} // namespace

class restart_types : public conformance {
protected:
  // A one_for_one supervisor (2 restarts in an hour) with one child started by start_child,
  // as in OTP's tests; answers the supervisor.
  caf::actor sup_with(restart_type restart) {
    auto sup = start_ok(flags(strategy::one_for_one, 2, 3600s), {});
    auto c = call<caf::actor>(sup, start_child_atom::value, spec(ctl, "child1", restart));
    EXPECT_TRUE(c && *c);
    first = c ? *c : caf::actor{};
    return sup;
  }

  caf::actor first;
};

// A permanent child that exits normally is restarted (permanent_normal).
TEST_F(restart_types, permanent_normal) {
  auto sup = sup_with(restart_type::permanent);
  exit_child(sup, "child1", normal());
  auto r = row(sup, "child1");
  EXPECT_TRUE(r.actor);
  EXPECT_NE(r.actor, first);
  EXPECT_EQ(counts(sup), (child_counts{1, 1, 0, 1}));
}

// A transient child that exits normally is not restarted; its spec stays
// (transient_normal).
TEST_F(restart_types, transient_normal) {
  auto sup = sup_with(restart_type::transient);
  exit_child(sup, "child1", normal());
  auto r = row(sup, "child1");
  EXPECT_EQ(r.id, "child1");
  EXPECT_FALSE(r.actor);
  EXPECT_EQ(r.state, child_state::undefined);
  EXPECT_EQ(counts(sup), (child_counts{1, 0, 0, 1}));
}

// A temporary child that exits normally is not restarted and its spec is deleted
// (temporary_normal).
TEST_F(restart_types, temporary_normal) {
  auto sup = sup_with(restart_type::temporary);
  exit_child(sup, "child1", normal());
  EXPECT_TRUE(children(sup).empty());
  EXPECT_EQ(counts(sup), (child_counts{0, 0, 0, 0}));
}

// A permanent child is restarted after shutdown and after shutdown with details
// (permanent_shutdown).
TEST_F(restart_types, permanent_shutdown) {
  auto sup = sup_with(restart_type::permanent);
  exit_child(sup, "child1", shutdown());
  auto c2 = child_of(sup, "child1");
  EXPECT_TRUE(c2);
  EXPECT_NE(c2, first);
  EXPECT_EQ(counts(sup), (child_counts{1, 1, 0, 1}));
  exit_child(sup, "child1", shutdown_with(std::string{"some_info"}));
  auto c3 = child_of(sup, "child1");
  EXPECT_TRUE(c3);
  EXPECT_NE(c3, c2);
  EXPECT_EQ(counts(sup), (child_counts{1, 1, 0, 1}));
}

// A transient child is not restarted after shutdown nor after shutdown with details
// (transient_shutdown).
TEST_F(restart_types, transient_shutdown) {
  auto sup = sup_with(restart_type::transient);
  exit_child(sup, "child1", shutdown());
  EXPECT_FALSE(row(sup, "child1").actor);
  EXPECT_EQ(counts(sup), (child_counts{1, 0, 0, 1}));
  auto c2 = call<caf::actor>(sup, restart_child_atom::value, std::string{"child1"});
  ASSERT_TRUE(c2 && *c2);
  exit_child(sup, "child1", shutdown_with(std::string{"some_info"}));
  EXPECT_FALSE(row(sup, "child1").actor);
  EXPECT_EQ(counts(sup), (child_counts{1, 0, 0, 1}));
}

// A temporary child is not restarted after shutdown (with or without details); its spec is
// deleted so start_child can add it again (temporary_shutdown).
TEST_F(restart_types, temporary_shutdown) {
  auto sup = sup_with(restart_type::temporary);
  exit_child(sup, "child1", shutdown());
  EXPECT_TRUE(children(sup).empty());
  EXPECT_EQ(counts(sup), (child_counts{0, 0, 0, 0}));
  auto c2 = call<caf::actor>(sup, start_child_atom::value,
                             spec(ctl, "child1", restart_type::temporary));
  ASSERT_TRUE(c2 && *c2);
  exit_child(sup, "child1", shutdown_with(std::string{"some_info"}));
  EXPECT_TRUE(children(sup).empty());
  EXPECT_EQ(counts(sup), (child_counts{0, 0, 0, 0}));
}

// A permanent child that dies abnormally is restarted (permanent_abnormal).
TEST_F(restart_types, permanent_abnormal) {
  auto sup = sup_with(restart_type::permanent);
  exit_child(sup, "child1", died());
  auto r = row(sup, "child1");
  EXPECT_TRUE(r.actor);
  EXPECT_NE(r.actor, first);
  EXPECT_EQ(counts(sup), (child_counts{1, 1, 0, 1}));
}

// A transient child that dies abnormally is restarted (transient_abnormal); so is one that
// was killed (killed is abnormal).
TEST_F(restart_types, transient_abnormal) {
  auto sup = sup_with(restart_type::transient);
  exit_child(sup, "child1", died());
  auto c2 = child_of(sup, "child1");
  EXPECT_TRUE(c2);
  EXPECT_NE(c2, first);
  EXPECT_EQ(counts(sup), (child_counts{1, 1, 0, 1}));
  caf::anon_send_exit(c2, caf::exit_reason::kill);
  run();
  auto c3 = child_of(sup, "child1");
  EXPECT_TRUE(c3);
  EXPECT_NE(c3, c2);
}

// A temporary child that dies abnormally is not restarted and its spec is deleted
// (temporary_abnormal).
TEST_F(restart_types, temporary_abnormal) {
  auto sup = sup_with(restart_type::temporary);
  exit_child(sup, "child1", died());
  EXPECT_TRUE(children(sup).empty());
  EXPECT_EQ(counts(sup), (child_counts{0, 0, 0, 0}));
}

// Every exit of a child is a child_terminated event with the reason; only restarts are
// followed by child_restarted.
TEST_F(restart_types, exits_are_reported) {
  auto sup = start_ok(flags(strategy::one_for_one, 10, 3600s),
                      {spec(ctl, "p"), spec(ctl, "t", restart_type::transient),
                       spec(ctl, "x", restart_type::temporary)});
  reset_trace();
  exit_child(sup, "p", normal());
  exit_child(sup, "t", shutdown());
  exit_child(sup, "x", died());
  EXPECT_EQ(order(), (std::vector<std::string>{
                       "child_terminated:p", "child_started:p", "child_restarted:p",
                       "child_terminated:t", "child_terminated:x"}));
  auto evs = events->events();
  EXPECT_TRUE(is_normal(evs[0].reason));
  EXPECT_EQ(evs[0].restart_type, "permanent");
  EXPECT_EQ(describe(evs.back().reason), "runtime_error(\"died\")");
}

// Only restarts the supervisor decides count toward intensity: terminate_child and
// restart_child never do, even with intensity 0.
TEST_F(restart_types, api_calls_do_not_count_toward_intensity) {
  auto sup = start_ok(flags(strategy::one_for_one, 0, 3600s), {spec(ctl, "a")});
  for (int i = 0; i < 5; ++i) {
    EXPECT_FALSE(call_ok(sup, terminate_child_atom::value, std::string{"a"}));
    EXPECT_TRUE(call<caf::actor>(sup, restart_child_atom::value, std::string{"a"}));
  }
  EXPECT_TRUE(alive(sup));
  auto st = status(sup);
  EXPECT_EQ(st.intensity_headroom, 0);
  EXPECT_EQ(st.total_restarts, 0u);
  EXPECT_EQ(events->count(event_kind::child_restarted), 0u);
}

// Exit notices about actors that are not its children are ignored (a down message of a
// stranger; a normal exit signal).
TEST_F(restart_types, exits_of_strangers_are_ignored) {
  auto sup = start_ok(flags(strategy::one_for_one, 0, 3600s), {spec(ctl, "a")});
  auto a = child_of(sup, "a");
  auto stranger = sys.spawn([](caf::event_based_actor*) -> caf::behavior {
    return {[](ping_atom) {}};
  });
  caf::anon_send(sup, caf::down_msg{stranger.address(), died()});
  caf::anon_send(sup, caf::exit_msg{stranger.address(), caf::exit_reason::normal});
  run();
  caf::anon_send_exit(stranger, caf::exit_reason::kill);
  run();
  EXPECT_TRUE(alive(sup));
  EXPECT_EQ(child_of(sup, "a"), a);
  EXPECT_EQ(events->count(event_kind::child_terminated), 0u);
}

// Permanent and transient specs are kept after their child ends, temporary ones are not:
// under one_for_one, one_for_all and rest_for_one, for a kill, a normal exit, an abnormal
// exit and terminate_child (do_not_save_child_specs_for_temporary_children).
TEST_F(restart_types, do_not_save_child_specs_for_temporary_children) {
  enum class how { kill, normal, abnormal, supervisor };
  auto end_it = [&](const caf::actor& sup, const std::string& id, how h) {
    switch (h) {
      case how::kill:
        caf::anon_send_exit(child_of(sup, id), caf::exit_reason::kill);
        run();
        break;
      case how::normal: exit_child(sup, id, normal()); break;
      case how::abnormal: exit_child(sup, id, died()); break;
      case how::supervisor:
        EXPECT_FALSE(call_ok(sup, terminate_child_atom::value, id));
        break;
    }
  };
  const char* names[] = {"kill", "normal", "abnormal", "supervisor"};
  for (auto s : {strategy::one_for_all, strategy::one_for_one, strategy::rest_for_one}) {
    for (auto h : {how::kill, how::normal, how::abnormal, how::supervisor}) {
      SCOPED_TRACE(std::string{to_string(s)} + " / " + names[static_cast<int>(h)]);
      auto sup = start_ok(flags(s, 2, 3600s), {});
      // Permanent: restarted by the supervisor, unless terminated through the API.
      auto permanent = spec(ctl, "child1");
      ASSERT_TRUE(call<caf::actor>(sup, start_child_atom::value, permanent));
      end_it(sup, "child1", h);
      if (h == how::supervisor) {
        EXPECT_ERRC(call<caf::actor>(sup, start_child_atom::value, permanent), already_present);
        EXPECT_TRUE(call<caf::actor>(sup, restart_child_atom::value, std::string{"child1"}));
      } else {
        EXPECT_ERRC(call<caf::actor>(sup, start_child_atom::value, permanent), already_started);
      }
      // Transient: restarted after kill or an abnormal exit; kept but not running otherwise.
      auto transient = spec(ctl, "child2", restart_type::transient);
      ASSERT_TRUE(call<caf::actor>(sup, start_child_atom::value, transient));
      end_it(sup, "child2", h);
      if (h == how::supervisor || h == how::normal) {
        EXPECT_ERRC(call<caf::actor>(sup, start_child_atom::value, transient), already_present);
        EXPECT_TRUE(call<caf::actor>(sup, restart_child_atom::value, std::string{"child2"}));
      } else {
        EXPECT_ERRC(call<caf::actor>(sup, start_child_atom::value, transient), already_started);
      }
      // Temporary: the spec is gone, so it can be started again.
      auto temporary = spec(ctl, "child3", restart_type::temporary);
      ASSERT_TRUE(call<caf::actor>(sup, start_child_atom::value, temporary));
      end_it(sup, "child3", h);
      EXPECT_TRUE(call<caf::actor>(sup, start_child_atom::value, temporary));
      EXPECT_TRUE(alive(sup));
      stop(sup);
    }
  }
}
