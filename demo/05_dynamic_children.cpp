// Demo 05: dynamic children (OTP's simple_one_for_one, Elixir's DynamicSupervisor). One
// template; start_child(args) adds an instance; a restart reuses its args; max_children
// refuses the next start; shutdown stops all at once.
#include "demo_support.hpp"

using crash_atom = caf::atom_constant<caf::atom("crash")>;

// Dynamic arguments follow `self`: start_child(caf::make_message(std::string{"job-1"})).
warden::init_result job(warden::service_actor*, std::string name) {
  return caf::behavior{
    [name](const std::string&) { return name; },
    [](crash_atom) { throw std::runtime_error("job crashed"); },
  };
}

int main() {
  demo::config cfg;
  caf::actor_system sys{cfg};
  demo::setup out;
  warden::supervisor_flags flags;
  flags.strategy = warden::strategy::dynamic;
  flags.max_children = 1000;
  flags.intensity = 10;
  auto sup = warden::start_supervisor(sys, flags, {{.start = warden::service(job),
                                                    .restart = warden::restart_type::transient}});
  demo::check(bool(sup), "started");
  warden::supervisor_client client{sys, *sup};

  demo::say("start 1000 jobs, each with its own argument");
  caf::actor first;
  for (int i = 0; i < 1000; ++i) {
    auto a = client.start_child(caf::make_message("job-" + std::to_string(i)));
    demo::check(bool(a), "start_child");
    if (i == 0)
      first = *a;
  }
  auto counts = client.count_children();
  std::cout << "active children: " << counts->active << std::endl;
  auto refused = client.start_child(caf::make_message(std::string{"one too many"}));
  std::cout << "the 1001st start: " << warden::describe(refused.error()) << std::endl;
  demo::check(!refused && warden::is(refused.error(), warden::errc::max_children), "max_children");

  demo::say("crash job-0: it restarts with the same argument");
  caf::anon_send(first, crash_atom::value);
  caf::scoped_actor self{sys};
  std::string name;
  for (int tries = 0; tries < 1000 && name.empty(); ++tries) {
    auto kids = client.which_children();
    for (auto& c : *kids)  // newest first; the restarted one is oldest
      if (c.actor && c.actor != first) {
        self->request(c.actor, std::chrono::seconds{1}, std::string{"name?"})
          .receive([&](std::string& s) { if (s == "job-0") name = s; }, [](caf::error&) {});
        if (!name.empty())
          break;
      }
  }
  std::cout << "restarted child answers: " << name << std::endl;
  demo::check(name == "job-0", "args reused");

  demo::say("shut down: all 1000 at once under one timer");
  auto reason = warden::stop_supervisor(sys, *sup);
  std::cout << "supervisor exit: " << warden::describe(reason) << std::endl;
  out.log->flush();
  return 0;
}
