// Workload 1: restart latency.
//
// A supervisor with strategy S over K named children (intensity INT_MAX in 1 s: it never
// gives up). A driver actor crashes the victim (the child in the middle, index K/2) with
// an exit signal carrying an abnormal reason (sec::runtime_error), then requests `ping`
// through the victim's stable name (warden::lookup) until the *new* instance answers.
// One sample = crash sent -> first answer of the restarted child received. A request that
// reaches the dying instance comes back as request_receiver_down and is retried at once;
// once the name is in `restarting` state the request is kept and delivered on rebind.
//
// The next crash follows the answer immediately, so for one_for_all / rest_for_one the
// supervisor may still be restarting the children after the victim: that wait is part of
// the next sample (the same happens on the Erlang side). `cycle_us` = wall time / N.
#include <climits>
#include <future>

#include <caf/all.hpp>

#include "bench.hpp"
#include "warden/exit_reasons.hpp"
#include "warden/service_registry.hpp"
#include "warden/supervisor.hpp"

namespace warden::bench {

namespace {

struct restart_case {
  warden::strategy strategy;
  size_t k;
  size_t n;
};

struct driver_result {
  std::vector<double> samples_us;
  uint64_t retries = 0;
  std::map<std::string, uint64_t> retry_reasons;
  double wall_us = 0;
};

struct driver_state {
  caf::actor handle;   // the victim's stable name handle
  caf::actor current;  // the victim's current instance
  size_t n = 0;
  std::vector<double> samples_us;
  uint64_t retries = 0;
  std::map<std::string, uint64_t> retry_reasons;
  clock::time_point t0;
  clock::time_point started;
  std::shared_ptr<std::promise<driver_result>> done;
};

using driver_actor = caf::stateful_actor<driver_state>;

const caf::error& crash_reason() {
  static const caf::error reason = caf::make_error(caf::sec::runtime_error, "bench crash");
  return reason;
}

void probe(driver_actor* self);

void crash_next(driver_actor* self) {
  auto& st = self->state;
  if (st.samples_us.size() == st.n) {
    driver_result res;
    res.samples_us = std::move(st.samples_us);
    res.retries = st.retries;
    res.retry_reasons = std::move(st.retry_reasons);
    res.wall_us = us_since(st.started);
    st.done->set_value(std::move(res));
    self->quit();
    return;
  }
  st.t0 = clock::now();
  warden::send_exit_signal(st.current, crash_reason());
  probe(self);
}

void probe(driver_actor* self) {
  self->request(self->state.handle, caf::infinite, bping_atom::value)
    .then(
      [self](caf::actor& instance) {
        auto& st = self->state;
        if (instance == st.current) {  // the old instance, not dead yet: ask again
          ++st.retries;
          ++st.retry_reasons["old instance answered"];
          probe(self);
          return;
        }
        st.samples_us.push_back(us_since(st.t0));
        st.current = std::move(instance);
        crash_next(self);
      },
      [self](caf::error& err) {
        ++self->state.retries;
        ++self->state.retry_reasons[warden::describe(err)];
        probe(self);
      });
}

caf::behavior restart_driver(driver_actor* self, caf::actor name, size_t n,
                             std::shared_ptr<std::promise<driver_result>> done) {
  self->state.handle = std::move(name);
  self->state.n = n;
  self->state.samples_us.reserve(n);
  self->state.done = std::move(done);
  // Learn the current instance, then start crashing.
  self->request(self->state.handle, caf::infinite, bping_atom::value)
    .then([self](caf::actor& instance) {
      self->state.current = std::move(instance);
      self->state.started = clock::now();
      crash_next(self);
    });
  return {[](bcount_atom) {}};  // keeps the driver alive; never used
}

metrics run_once(const restart_case& rc, std::map<std::string, uint64_t>& reasons) {
  auto cfg = make_config();
  caf::actor_system sys{*cfg};
  warden::supervisor_flags flags;
  flags.strategy = rc.strategy;
  flags.intensity = INT_MAX;  // never give up
  flags.period = std::chrono::seconds{1};
  std::vector<warden::child_spec> specs;
  specs.reserve(rc.k);
  for (size_t i = 0; i < rc.k; ++i) {
    warden::child_spec spec;
    spec.id = "w" + std::to_string(i);
    spec.start = warden::service(bench_service);
    spec.name = "bench.w" + std::to_string(i);
    specs.push_back(std::move(spec));
  }
  auto sup = warden::start_supervisor(sys, flags, std::move(specs), std::chrono::minutes{5});
  if (!sup)
    throw std::runtime_error("start_supervisor failed: " + warden::describe(sup.error()));
  auto victim = warden::lookup(sys, "bench.w" + std::to_string(rc.k / 2));
  if (!victim)
    throw std::runtime_error("victim name missing");
  auto rss0 = rss_bytes();
  auto done = std::make_shared<std::promise<driver_result>>();
  auto fut = done->get_future();
  sys.spawn(restart_driver, *victim, rc.n, done);
  auto res = fut.get();
  auto rss1 = rss_bytes();
  warden::stop_supervisor(sys, *sup, std::chrono::minutes{5});
  for (auto& [why, count] : res.retry_reasons)
    reasons[why] += count;
  auto& xs = res.samples_us;
  metrics m;
  size_t tenth = std::max<size_t>(1, xs.size() / 10);
  std::vector<double> first(xs.begin(), xs.begin() + tenth);
  std::vector<double> last(xs.end() - tenth, xs.end());
  m["first10_p50_us"] = median(first);
  m["last10_p50_us"] = median(last);
  std::sort(xs.begin(), xs.end());
  m["p50_us"] = percentile_sorted(xs, 0.50);
  m["p99_us"] = percentile_sorted(xs, 0.99);
  m["p999_us"] = percentile_sorted(xs, 0.999);
  m["max_us"] = xs.back();
  m["cycle_us"] = res.wall_us / static_cast<double>(rc.n);
  m["retries_per_restart"] = static_cast<double>(res.retries) / static_cast<double>(rc.n);
  m["rss_growth_b_per_restart"] =
    (static_cast<double>(rss1) - static_cast<double>(rss0)) / static_cast<double>(rc.n);
  return m;
}

std::vector<restart_case> cases_for(const options& opts) {
  std::vector<restart_case> out;
  auto add = [&](warden::strategy s, size_t k, size_t n_full, size_t n_quick) {
    size_t n = opts.level == mode::full ? n_full : n_quick;
    if (opts.level == mode::smoke)
      n = 200;
    if (opts.n != 0)
      n = opts.n;
    out.push_back({s, k, n});
  };
  std::vector<warden::strategy> strategies{warden::strategy::one_for_one,
                                           warden::strategy::one_for_all,
                                           warden::strategy::rest_for_one};
  if (!opts.strategy.empty()) {
    strategies.clear();
    for (auto s : {warden::strategy::one_for_one, warden::strategy::one_for_all,
                   warden::strategy::rest_for_one})
      if (opts.strategy == warden::to_string(s))
        strategies.push_back(s);
    if (strategies.empty())
      throw std::runtime_error("unknown strategy " + opts.strategy);
  }
  std::vector<size_t> ks{1, 100, 10000};
  if (opts.level == mode::smoke)
    ks = {1, 10};
  if (opts.k != 0)
    ks = {opts.k};
  for (auto s : strategies)
    for (auto k : ks) {
      bool group = s != warden::strategy::one_for_one && k > 1;
      if (!group)
        add(s, k, k >= 10000 ? 20000 : 100000, k >= 10000 ? 5000 : 20000);
      else if (k <= 100)
        add(s, k, 2000, 300);
      else
        add(s, k, 20, 4);
    }
  return out;
}

} // namespace

void run_restart(const options& opts) {
  for (auto& rc : cases_for(opts)) {
    result r;
    r.impl = "warden";
    r.workload = "restart";
    r.kase = std::string{warden::to_string(rc.strategy)} + " k=" + std::to_string(rc.k);
    r.n = rc.n;
    r.config["victim_index"] = rc.k / 2;
    r.config["intensity"] = INT_MAX;
    r.config["period_s"] = 1;
    r.config["crash"] = "exit signal, reason sec::runtime_error";
    r.config["probe"] = "request(name handle, infinite, ping), retried on error";
    std::map<std::string, uint64_t> reasons;
    for (int i = 0; i < opts.runs; ++i) {
      note("restart " + r.kase + " n=" + std::to_string(rc.n) + " run " + std::to_string(i + 1)
           + "/" + std::to_string(opts.runs));
      r.runs.push_back(run_once(rc, reasons));
    }
    r.config["probe_retry_reasons_all_runs"] = reasons;
    emit(r);
  }
}

} // namespace warden::bench
