#include "warden/service.hpp"

#include "warden/atoms.hpp"
#include "warden/exit_reasons.hpp"

namespace warden {

service_actor::service_actor(caf::actor_config& cfg, start_info info)
  : caf::event_based_actor(cfg), info_(std::move(info)) {
}

void service_actor::terminate(const caf::error& reason) {
  if (terminate_hook_)
    terminate_hook_(reason);
}

void service_actor::report(bool ignored, const caf::error& reason) {
  if (info_.supervisor)
    send(info_.supervisor, init_ack_atom::value, info_.token, ignored, reason);
}

caf::behavior service_actor::make_behavior() {
  set_exception_handler([](caf::scheduled_actor*, std::exception_ptr& ptr) {
    return exception_reason(ptr);
  });
  // Services trap exits: any exit signal but kill (always fatal in CAF) runs the
  // terminate hook first. Normal exit signals are ignored, as in OTP.
  set_exit_handler([this](caf::exit_msg& msg) {
    if (is_normal(msg.reason))
      return;
    try {
      terminate(msg.reason);
    } catch (...) {
      // The exit reason stays the one asked for; the hook's failure must not hide it.
    }
    quit(msg.reason);
  });
  auto result = [this]() -> init_result {
    try {
      return init();
    } catch (...) {
      return exception_reason(std::current_exception());
    }
  }();
  if (result.ready()) {
    report(false, caf::error{});
    return std::move(result.behavior());
  }
  if (result.ignored()) {
    report(true, caf::error{});
    quit();
    return {};
  }
  report(false, result.reason());
  quit(result.reason());
  return {};
}

} // namespace warden
