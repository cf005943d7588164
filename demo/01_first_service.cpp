// Demo 01: your first supervised service. Write a service as a function, start it under a
// supervisor with a registered name, crash it, and keep calling it by the same name.
#include "demo_support.hpp"

using namespace std::chrono_literals;

// A service: its init returns the behavior. Throwing in a handler is a crash.
warden::init_result greeter(warden::service_actor* self) {
  self->on_terminate([](const caf::error& reason) {
    std::cout << "greeter: terminating (" << warden::describe(reason) << ")" << std::endl;
  });
  return caf::behavior{
    [](const std::string& name) -> std::string {
      if (name == "crash")
        throw std::runtime_error("asked to crash");
      return "hello, " + name;
    },
  };
}

int main() {
  demo::config cfg;
  caf::actor_system sys{cfg};
  demo::setup out;

  demo::say("start a supervisor with one service named \"greeter\"");
  warden::supervisor_flags flags;
  flags.events = out.events;
  auto sup = warden::start_supervisor(
    sys, flags, {{.id = "greeter", .start = warden::service(greeter), .name = "greeter"}});
  demo::check(bool(sup), "supervisor started");

  auto greeter_ref = warden::lookup(sys, "greeter");  // stable across restarts
  demo::check(bool(greeter_ref), "name registered");
  caf::scoped_actor self{sys};
  auto ask = [&](const std::string& who) {
    std::string answer;
    self->request(*greeter_ref, 2s, who)
      .receive([&](std::string& s) { answer = s; },
               [&](caf::error& err) { answer = "error: " + warden::describe(err); });
    std::cout << "greeter(" << who << ") -> " << answer << std::endl;
    return answer;
  };
  demo::check(ask("world") == "hello, world", "first answer");

  demo::say("crash it: the exception text is the exit reason; the supervisor restarts it");
  self->send(*greeter_ref, std::string{"crash"});
  demo::check(out.seen->wait_for(warden::event_kind::child_restarted, "greeter"), "restarted");
  demo::check(ask("again") == "hello, again", "same name reaches the new instance");

  demo::say("stop the tree in order");
  warden::stop_supervisor(sys, *sup);
  out.log->flush();
  return 0;
}
