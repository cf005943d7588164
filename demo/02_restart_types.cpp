// Demo 02: restart types. permanent always restarts; transient only after an abnormal
// exit; temporary never (and its spec is deleted).
#include "demo_support.hpp"

using namespace std::chrono_literals;
using quit_atom = caf::atom_constant<caf::atom("quit")>;

warden::init_result quitter(warden::service_actor* self) {
  return caf::behavior{[self](quit_atom, caf::error& reason) { self->quit(reason); }};
}

int main() {
  demo::config cfg;
  caf::actor_system sys{cfg};
  demo::setup out;
  warden::supervisor_flags flags;
  flags.intensity = 10;
  flags.events = out.events;
  auto child = [](std::string id, warden::restart_type r) {
    return warden::child_spec{.id = id, .start = warden::service(quitter), .restart = r,
                              .name = id};
  };
  auto sup = warden::start_supervisor(sys, flags,
                                      {child("perm", warden::restart_type::permanent),
                                       child("trans", warden::restart_type::transient),
                                       child("temp", warden::restart_type::temporary)});
  demo::check(bool(sup), "started");
  warden::supervisor_client client{sys, *sup};

  auto make_exit = [&](const std::string& id, caf::error reason) {
    caf::anon_send(*warden::lookup(sys, id), quit_atom::value, reason);
  };
  demo::say("all three exit normally: only the permanent one comes back");
  make_exit("perm", caf::exit_reason::normal);
  make_exit("trans", caf::exit_reason::normal);
  make_exit("temp", caf::exit_reason::normal);
  demo::check(out.seen->wait_for(warden::event_kind::child_restarted, "perm"), "perm restarted");
  demo::check(out.seen->wait_for(warden::event_kind::child_terminated, "temp"), "temp ended");
  demo::check(out.seen->wait_for(warden::event_kind::child_terminated, "trans"), "trans ended");
  auto counts = client.count_children();
  std::cout << "count_children: specs=" << counts->specs << " active=" << counts->active
            << std::endl;
  demo::check(counts->specs == 2 && counts->active == 1, "temp spec deleted, trans stopped");

  demo::say("restart the transient one by hand, then crash it: now it restarts");
  demo::check(bool(client.restart_child("trans")), "restart_child");
  make_exit("trans", caf::make_error(caf::sec::runtime_error, std::string{"abnormal"}));
  demo::check(out.seen->wait_for(warden::event_kind::child_restarted, "trans"), "trans restarted");

  warden::stop_supervisor(sys, *sup);
  out.log->flush();
  return 0;
}
