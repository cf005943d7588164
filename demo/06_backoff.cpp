// Demo 06: restart backoff (beyond OTP): a crash-looping child waits min * 2^n (capped,
// with jitter) before each restart, inside any strategy, and the delay resets after a
// quiet period.
#include "demo_support.hpp"

using namespace std::chrono_literals;

warden::init_result crashes_soon(warden::service_actor* self) {
  self->delayed_send(self, 5ms, caf::atom("boom"));
  return caf::behavior{[](caf::atom_value) -> caf::result<void> {
    throw std::runtime_error("crash loop");
  }};
}

int main() {
  demo::config cfg;
  caf::actor_system sys{cfg};
  demo::setup out;
  warden::supervisor_flags flags;
  flags.strategy = warden::strategy::one_for_all;
  flags.intensity = 100;
  flags.period = std::chrono::seconds{60};
  flags.backoff = {.min_delay = 10ms, .max_delay = 200ms, .random_factor = 0.2,
                   .reset_after = std::chrono::seconds{5}};
  flags.events = out.events;
  auto sup = warden::start_supervisor(sys, flags, {{.id = "looper", .start = warden::service(crashes_soon)}});
  demo::check(bool(sup), "started");
  demo::say("watch the delays grow: 10, 20, 40, 80, 160, 200 ms (plus up to 20% jitter)");
  demo::check(out.seen->wait_for(warden::event_kind::restart_delayed, "looper", 6), "6 delays");
  warden::stop_supervisor(sys, *sup);
  out.log->flush();
  for (auto& ev : out.seen->events())
    if (ev.kind == warden::event_kind::restart_delayed)
      std::cout << "delay " << ev.delay.count() / 1000000.0 << " ms" << std::endl;
  return 0;
}
