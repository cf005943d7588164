// Workload 2: dynamic supervisor (OTP simple_one_for_one).
//
// A driver actor starts N children through `(start_child_atom, caf::message{uint64_t})`,
// keeping W requests in flight (W=1: one call after the other, like a loop of
// supervisor:start_child/2 in Erlang). Then the supervisor is stopped (exit signal
// user_shutdown, waiting for its down message), which stops all N children.
// Reported: microseconds per child for the start phase and for the shutdown.
#include <future>

#include <caf/all.hpp>

#include "bench.hpp"
#include "warden/exit_reasons.hpp"
#include "warden/supervisor.hpp"

namespace warden::bench {

namespace {

struct dyn_case {
  size_t n;
  size_t window;
};

struct starter_state {
  caf::actor sup;
  size_t n = 0;
  size_t sent = 0;
  size_t answered = 0;
  size_t failed = 0;
  clock::time_point t0;
  std::shared_ptr<std::promise<double>> done;
};

using starter_actor = caf::stateful_actor<starter_state>;

void send_one(starter_actor* self) {
  auto& st = self->state;
  auto index = static_cast<uint64_t>(st.sent++);
  self
    ->request(st.sup, caf::infinite, warden::start_child_atom::value, caf::make_message(index))
    .then(
      [self](caf::actor&) {
        auto& st = self->state;
        if (++st.answered == st.n) {
          st.done->set_value(us_since(st.t0));
          self->quit();
        } else if (st.sent < st.n) {
          send_one(self);
        }
      },
      [self](caf::error&) {
        auto& st = self->state;
        ++st.failed;
        if (++st.answered == st.n) {
          st.done->set_value(-1);
          self->quit();
        } else if (st.sent < st.n) {
          send_one(self);
        }
      });
}

caf::behavior starter(starter_actor* self, caf::actor sup, size_t n, size_t window,
                      std::shared_ptr<std::promise<double>> done) {
  auto& st = self->state;
  st.sup = std::move(sup);
  st.n = n;
  st.done = std::move(done);
  st.t0 = clock::now();
  for (size_t i = 0; i < window && st.sent < n; ++i)
    send_one(self);
  return {[](bcount_atom) {}};  // keeps the driver alive; never used
}

metrics run_once(const dyn_case& dc) {
  auto cfg = make_config();
  caf::actor_system sys{*cfg};
  warden::supervisor_flags flags;
  flags.strategy = warden::strategy::dynamic;
  flags.intensity = 1000000;
  warden::child_spec tmpl;
  tmpl.id = "worker";
  tmpl.start = warden::service(bench_dynamic_service);
  auto sup = warden::start_supervisor(sys, flags, {tmpl});
  if (!sup)
    throw std::runtime_error("start_supervisor failed: " + warden::describe(sup.error()));
  auto done = std::make_shared<std::promise<double>>();
  auto fut = done->get_future();
  sys.spawn(starter, *sup, dc.n, dc.window, done);
  auto start_us = fut.get();
  if (start_us < 0)
    throw std::runtime_error("some start_child calls failed");
  auto t0 = clock::now();
  auto reason = warden::stop_supervisor(sys, *sup, std::chrono::minutes{10});
  auto stop_us = us_since(t0);
  if (!warden::is_shutdown(reason))
    throw std::runtime_error("supervisor stopped with " + warden::describe(reason));
  metrics m;
  m["start_us_per_child"] = start_us / static_cast<double>(dc.n);
  m["stop_us_per_child"] = stop_us / static_cast<double>(dc.n);
  m["total_s"] = (start_us + stop_us) / 1e6;
  return m;
}

} // namespace

void run_dynamic(const options& opts) {
  std::vector<dyn_case> cases;
  if (opts.level == mode::smoke)
    cases = {{1000, 1}};
  else
    cases = {{10000, 1}, {100000, 1}, {100000, 64}};
  if (opts.n != 0 || opts.window != 0) {
    cases = {{opts.n != 0 ? opts.n : 100000, opts.window != 0 ? opts.window : 1}};
  }
  for (auto& dc : cases) {
    result r;
    r.impl = "warden";
    r.workload = "dynamic";
    r.kase = "n=" + std::to_string(dc.n) + (dc.window > 1 ? " w=" + std::to_string(dc.window)
                                                          : std::string{});
    r.n = dc.n;
    r.config["window"] = dc.window;
    r.config["shutdown"] = "default (timeout 5000 ms)";
    for (int i = 0; i < opts.runs; ++i) {
      note("dynamic " + r.kase + " run " + std::to_string(i + 1) + "/"
           + std::to_string(opts.runs));
      r.runs.push_back(run_once(dc));
    }
    emit(r);
  }
}

} // namespace warden::bench
