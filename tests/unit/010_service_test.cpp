// Services: init answers, exceptions as crash reasons, terminate hooks.
#include "support/deterministic.hpp"

using namespace warden;
using namespace warden::test;

class service_test : public deterministic {};

TEST_F(service_test, ready_service_answers_requests) {
  auto sup = start_ok(flags(), {spec(ctl, "a")});
  auto res = call<std::string>(child_of(sup, "a"), ping_atom::value);
  ASSERT_TRUE(res);
  EXPECT_EQ(*res, "a");
}

TEST_F(service_test, exception_in_handler_is_a_crash_with_its_text) {
  auto sup = start_ok(flags(), {spec(ctl, "a")});
  auto a = child_of(sup, "a");
  caf::anon_send(a, crash_atom::value);
  run();
  auto evs = events->events();
  auto it = std::find_if(evs.begin(), evs.end(),
                         [](auto& e) { return e.kind == event_kind::child_terminated; });
  ASSERT_NE(it, evs.end());
  EXPECT_NE(describe(it->reason).find("boom in a"), std::string::npos) << describe(it->reason);
}

TEST_F(service_test, failing_init_fails_the_start_with_its_reason) {
  ctl->next["a"] = {init_mode::fail};
  auto res = start(flags(), {spec(ctl, "a")});
  ASSERT_FALSE(res);
  EXPECT_TRUE(is(res.error(), errc::failed_to_start_child));
  EXPECT_NE(describe(res.error()).find("init failed: a"), std::string::npos);
}

TEST_F(service_test, exception_in_init_fails_the_start_with_its_text) {
  ctl->next["a"] = {init_mode::crash};
  auto res = start(flags(), {spec(ctl, "a")});
  ASSERT_FALSE(res);
  EXPECT_NE(describe(res.error()).find("init crashed: a"), std::string::npos)
    << describe(res.error());
}

TEST_F(service_test, terminate_hook_runs_on_orderly_shutdown) {
  auto sup = start_ok(flags(), {spec(ctl, "a"), spec(ctl, "b")});
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  run();
  EXPECT_EQ(ctl->log, (std::vector<std::string>{"start:a", "start:b", "stop:b", "stop:a"}));
  EXPECT_FALSE(alive(sup));
}

struct counter_state {
  int value = 0;
};

TEST_F(service_test, stateful_function_service_with_bound_args) {
  child_spec s;
  s.id = "c";
  s.start = service(
    [](stateful_service<counter_state>* self, int start) -> init_result {
      self->state.value = start;
      return caf::behavior{[self](ping_atom) { return ++self->state.value; }};
    },
    10);
  auto sup = start_ok(flags(), {s});
  auto res = call<int>(child_of(sup, "c"), ping_atom::value);
  ASSERT_TRUE(res);
  EXPECT_EQ(*res, 11);
}

class echo_class : public service_actor {
public:
  echo_class(caf::actor_config& cfg, start_info info, std::string prefix)
    : service_actor(cfg, std::move(info)), prefix_(std::move(prefix)) {}
  init_result init() override {
    return caf::behavior{[this](const std::string& s) { return prefix_ + s; }};
  }

private:
  std::string prefix_;
};

TEST_F(service_test, class_service) {
  child_spec s;
  s.id = "e";
  s.start = service_class<echo_class>(std::string{">"});
  auto sup = start_ok(flags(), {s});
  auto res = call<std::string>(child_of(sup, "e"), std::string{"hi"});
  ASSERT_TRUE(res);
  EXPECT_EQ(*res, ">hi");
}
