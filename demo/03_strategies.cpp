// Demo 03: the three static strategies. Children a, b, c; b crashes.
// one_for_one restarts b; one_for_all stops c, a and starts a, b, c; rest_for_one stops c
// and starts b, c.
#include "demo_support.hpp"

warden::init_result worker(warden::service_actor*) {
  return caf::behavior{[](int x) { return x; }};
}

int main() {
  demo::config cfg;
  caf::actor_system sys{cfg};
  for (auto s : {warden::strategy::one_for_one, warden::strategy::one_for_all,
                 warden::strategy::rest_for_one}) {
    demo::setup out;
    demo::say(std::string{"strategy "} + warden::to_string(s) + ": crash b");
    warden::supervisor_flags flags;
    flags.strategy = s;
    flags.name = warden::to_string(s);
    flags.events = out.events;
    std::vector<warden::child_spec> kids;
    for (auto id : {"a", "b", "c"})
      kids.push_back({.id = id, .start = warden::service(worker)});
    auto sup = warden::start_supervisor(sys, flags, kids);
    demo::check(bool(sup), "started");
    warden::supervisor_client client{sys, *sup};
    caf::actor b;
    auto kids_now = client.which_children();
    for (auto& c : *kids_now)
      if (c.id == "b")
        b = c.actor;
    warden::send_exit_signal(b, caf::make_error(caf::sec::runtime_error, std::string{"crash"}));
    demo::check(out.seen->wait_for(warden::event_kind::child_restarted, "b"), "b restarted");
    std::string order;
    bool after_crash = false;
    for (auto& ev : out.seen->events()) {
      after_crash = after_crash || ev.kind == warden::event_kind::child_terminated;
      if (after_crash && ev.kind == warden::event_kind::child_shutdown)
        order += " stop:" + ev.child;
      else if (after_crash && ev.kind == warden::event_kind::child_started)
        order += " start:" + ev.child;
    }
    std::cout << "restart order:" << order << std::endl;
    warden::stop_supervisor(sys, *sup);
    out.log->flush();
  }
  return 0;
}
