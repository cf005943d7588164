// Demo 04: escalation in a tree. A worker that keeps crashing exhausts its supervisor's
// intensity; that supervisor gives up (exit shutdown, culprit attached), and its parent
// restarts the whole subtree. The root's report names the real culprit.
#include "demo_support.hpp"

using crash_atom = caf::atom_constant<caf::atom("crash")>;

warden::init_result flaky(warden::service_actor*) {
  return caf::behavior{[](crash_atom) { throw std::runtime_error("disk on fire"); }};
}

int main() {
  demo::config cfg;
  caf::actor_system sys{cfg};
  demo::setup out;
  warden::supervisor_flags root_flags;
  root_flags.intensity = 5;
  root_flags.events = out.events;
  warden::supervisor_flags db_flags;
  db_flags.intensity = 1;  // one restart per 5 s, then give up
  auto sup = warden::start_supervisor(
    sys, root_flags,
    {warden::supervisor_child("db_sup", db_flags,
                              {{.id = "db", .start = warden::service(flaky), .name = "db"}})});
  demo::check(bool(sup), "started");

  demo::say("crash db twice: db_sup allows one restart, then gives up");
  auto db = *warden::lookup(sys, "db");
  caf::anon_send(db, crash_atom::value);
  demo::check(out.seen->wait_for(warden::event_kind::child_restarted, "db"), "db restarted");
  caf::anon_send(db, crash_atom::value);  // the stable name reaches the new instance
  demo::check(out.seen->wait_for(warden::event_kind::reached_max_restart_intensity, "db"),
              "db_sup gave up");
  demo::check(out.seen->wait_for(warden::event_kind::child_restarted, "db_sup"),
              "root restarted db_sup");
  for (auto& ev : out.seen->events())
    if (ev.kind == warden::event_kind::child_terminated && ev.child == "db_sup")
      std::cout << "root saw db_sup exit with: " << warden::describe(ev.reason) << std::endl;
  warden::stop_supervisor(sys, *sup);
  out.log->flush();
  return 0;
}
