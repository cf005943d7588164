// Stable names: a service registered under a name is reached by that name across
// restarts; messages sent while it restarts are kept and delivered; once it is gone for
// good, requests get service_unavailable.
#include "support/deterministic.hpp"
#include "warden/service_registry.hpp"

using namespace warden;
using namespace warden::test;
using namespace std::chrono_literals;

class names_test : public deterministic {
protected:
  child_spec named(const std::string& id, restart_type r = restart_type::permanent) {
    auto s = spec(ctl, id, r);
    s.name = id + "_svc";
    return s;
  }
};

TEST_F(names_test, unknown_name_is_a_named_error) {
  auto res = lookup(sys, "nobody");
  ASSERT_FALSE(res);
  EXPECT_TRUE(is(res.error(), errc::unknown_name));
}

TEST_F(names_test, name_reaches_the_instance_across_restarts) {
  auto sup = start_ok(flags(), {named("a")});
  auto ref = lookup(sys, "a_svc");
  ASSERT_TRUE(ref);
  auto first = child_of(sup, "a");
  EXPECT_EQ(*call<std::string>(*ref, ping_atom::value), "a");
  crash(sup, "a");
  EXPECT_NE(child_of(sup, "a"), first);
  auto res = call<std::string>(*ref, ping_atom::value);
  ASSERT_TRUE(res) << describe(res.error());
  EXPECT_EQ(*res, "a");
}

TEST_F(names_test, requests_sent_while_restarting_are_delivered_to_the_next_instance) {
  auto f = flags();
  f.backoff.min_delay = 100ms;
  f.backoff.random_factor = 0;
  auto sup = start_ok(f, {named("a")});
  auto ref = *lookup(sys, "a_svc");
  crash(sup, "a");
  ASSERT_EQ(name_info(sys, "a_svc")->state, name_state::restarting);
  auto answers = std::make_shared<std::vector<std::string>>();
  for (int i = 0; i < 3; ++i)
    sys.spawn([ref, answers](caf::event_based_actor* self) {
      self->request(ref, caf::infinite, ping_atom::value)
        .then([answers](std::string& s) { answers->push_back(s); },
              [answers](caf::error& e) { answers->push_back(describe(e)); });
    });
  run();
  EXPECT_EQ(name_info(sys, "a_svc")->buffered, 3u);
  EXPECT_TRUE(answers->empty());
  advance(100ms);
  EXPECT_EQ(*answers, (std::vector<std::string>{"a", "a", "a"}));
  EXPECT_EQ(name_info(sys, "a_svc")->state, name_state::bound);
}

TEST_F(names_test, requests_after_the_service_stopped_for_good_are_answered_unavailable) {
  auto sup = start_ok(flags(), {named("t", restart_type::temporary)});
  auto ref = *lookup(sys, "t_svc");
  exit_child(sup, "t", normal());
  auto res = call<std::string>(ref, ping_atom::value);
  ASSERT_FALSE(res);
  EXPECT_TRUE(is(res.error(), errc::service_unavailable)) << describe(res.error());
}

TEST_F(names_test, terminate_child_unbinds_and_restart_child_binds_again) {
  auto sup = start_ok(flags(), {named("a")});
  auto ref = *lookup(sys, "a_svc");
  EXPECT_FALSE(call_ok(sup, terminate_child_atom::value, std::string{"a"}));
  auto res = call<std::string>(ref, ping_atom::value);
  EXPECT_TRUE(!res && is(res.error(), errc::service_unavailable));
  EXPECT_TRUE(call<caf::actor>(sup, restart_child_atom::value, std::string{"a"}));
  EXPECT_EQ(*call<std::string>(ref, ping_atom::value), "a");
}

TEST_F(names_test, a_name_held_by_a_live_service_cannot_be_taken) {
  auto sup = start_ok(flags(), {named("a")});
  auto other = spec(ctl, "b");
  other.name = "a_svc";
  auto res = call<caf::actor>(sup, start_child_atom::value, other);
  ASSERT_FALSE(res);
  EXPECT_TRUE(is(res.error(), errc::name_taken)) << describe(res.error());
}

TEST_F(names_test, names_are_released_when_the_supervisor_stops) {
  auto sup = start_ok(flags(), {named("a")});
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  run();
  EXPECT_EQ(name_info(sys, "a_svc")->state, name_state::unbound);
}

// A service's protocol declared as a typed interface; callers get compile-time checks.
using ping_protocol = caf::typed_actor<caf::replies_to<ping_atom>::with<std::string>>;

TEST_F(names_test, typed_lookup_checks_the_protocol_at_compile_time) {
  start_ok(flags(), {named("a")});
  auto ref = lookup_as<ping_protocol>(sys, "a_svc");
  ASSERT_TRUE(ref);
  auto out = std::make_shared<std::string>();
  sys.spawn([r = *ref, out](caf::event_based_actor* self) {
    self->request(r, caf::infinite, ping_atom::value).then([out](std::string& s) { *out = s; });
  });
  run();
  EXPECT_EQ(*out, "a");
}
