// Workload 3: throughput and request latency against the same behavior as
//   (a) a raw CAF event_based_actor (stateful_actor<bench_state>),
//   (b) a Warden service under a one_for_one supervisor, addressed by its stable name
//       handle (warden::lookup),
//   (c) the same service addressed by its direct actor handle.
// One-way: a driver actor sends M `tick` messages in batches of 1000, each batch followed
// by a `count` request, at most 4 batches in flight; messages/s = M / (time until the
// last count answer). Round trip: N sequential `ping` requests (no
// timeout); p50/p99 over all round trips of a run. A run is 10 rounds; in each round the
// three targets take turns (order rotated) with M/10 messages and N/10 round trips, on
// one actor system; a run's rate is the median over its rounds.
#include <cstdlib>
#include <future>

#include <caf/all.hpp>

#include "bench.hpp"
#include "warden/exit_reasons.hpp"
#include "warden/service_registry.hpp"
#include "warden/supervisor.hpp"

namespace warden::bench {

namespace {

// Sustained one-way throughput: batches of `batch` ticks, each followed by one `count`
// request; at most `window` batches in flight (the next batch goes out when a count
// answer comes back). Over M messages this averages over many scheduling decisions (a
// single flood of M messages is one coin toss of CAF's scheduler: does another worker
// steal the receiver or not) and keeps the mailbox bounded.
struct oneway_state {
  caf::actor target;
  size_t m = 0;
  size_t sent = 0;
  size_t inflight = 0;
  clock::time_point t0;
  std::shared_ptr<std::promise<double>> done;
};

using oneway_actor = caf::stateful_actor<oneway_state>;

constexpr size_t oneway_batch = 1000;
constexpr size_t oneway_window = 4;

void oneway_batch_out(oneway_actor* self) {
  auto& st = self->state;
  auto k = std::min(oneway_batch, st.m - st.sent);
  for (size_t i = 0; i < k; ++i)
    self->send(st.target, btick_atom::value);
  st.sent += k;
  ++st.inflight;
  self->request(st.target, caf::infinite, bcount_atom::value).then([self](uint64_t) {
    auto& st = self->state;
    --st.inflight;
    if (st.sent < st.m) {
      oneway_batch_out(self);
    } else if (st.inflight == 0) {
      st.done->set_value(us_since(st.t0));
      self->quit();
    }
  });
}

caf::behavior oneway_driver(oneway_actor* self, caf::actor target, size_t m,
                            std::shared_ptr<std::promise<double>> done) {
  auto& st = self->state;
  st.target = std::move(target);
  st.m = m;
  st.done = std::move(done);
  st.t0 = clock::now();
  for (size_t i = 0; i < oneway_window && st.sent < st.m; ++i)
    oneway_batch_out(self);
  return {[](bcount_atom) {}};  // keeps the driver alive; never used
}

struct rtt_state {
  caf::actor target;
  size_t n = 0;
  std::vector<double> samples_us;
  clock::time_point t0;
  clock::time_point started;
  std::shared_ptr<std::promise<std::pair<std::vector<double>, double>>> done;
};

using rtt_actor = caf::stateful_actor<rtt_state>;

void rtt_next(rtt_actor* self) {
  auto& st = self->state;
  if (st.samples_us.size() == st.n) {
    st.done->set_value({std::move(st.samples_us), us_since(st.started)});
    self->quit();
    return;
  }
  st.t0 = clock::now();
  self->request(st.target, caf::infinite, bping_atom::value).then([self](caf::actor&) {
    self->state.samples_us.push_back(us_since(self->state.t0));
    rtt_next(self);
  });
}

caf::behavior rtt_driver(rtt_actor* self, caf::actor target, size_t n,
                         std::shared_ptr<std::promise<std::pair<std::vector<double>, double>>> done) {
  auto& st = self->state;
  st.target = std::move(target);
  st.n = n;
  st.samples_us.reserve(n);
  st.done = std::move(done);
  st.started = clock::now();
  rtt_next(self);
  return {[](bcount_atom) {}};
}

double oneway(caf::actor_system& sys, const caf::actor& target, size_t m) {
  auto done = std::make_shared<std::promise<double>>();
  auto fut = done->get_future();
  sys.spawn(oneway_driver, target, m, done);
  return fut.get();
}

std::pair<std::vector<double>, double> rtt(caf::actor_system& sys, const caf::actor& target,
                                           size_t n) {
  auto done = std::make_shared<std::promise<std::pair<std::vector<double>, double>>>();
  auto fut = done->get_future();
  sys.spawn(rtt_driver, target, n, done);
  return fut.get();
}

} // namespace

void run_throughput(const options& opts) {
  size_t m = opts.level == mode::full ? 1000000 : opts.level == mode::quick ? 200000 : 10000;
  size_t n = opts.level == mode::full ? 100000 : opts.level == mode::quick ? 20000 : 1000;
  if (opts.n != 0)
    m = n = opts.n;
  size_t rounds = opts.level == mode::smoke ? 2 : 10;
  // targets: raw, name, direct
  const char* names[] = {"raw", "name", "direct"};
  std::vector<metrics> runs[3];
  for (int run = 0; run < opts.runs; ++run) {
    note("throughput run " + std::to_string(run + 1) + "/" + std::to_string(opts.runs));
    auto cfg = make_config();
    caf::actor_system sys{*cfg};
    auto raw = sys.spawn(raw_bench_actor);
    warden::child_spec spec;
    spec.id = "svc";
    spec.start = warden::service(bench_service);
    spec.name = "bench.svc";
    auto sup = warden::start_supervisor(sys, {}, {spec});
    if (!sup)
      throw std::runtime_error("start_supervisor failed: " + warden::describe(sup.error()));
    auto name = warden::lookup(sys, "bench.svc");
    if (!name)
      throw std::runtime_error("name missing");
    caf::actor direct;
    {
      caf::scoped_actor self{sys};
      self->request(*name, caf::infinite, bping_atom::value)
        .receive([&](caf::actor& x) { direct = x; }, [](caf::error&) {});
    }
    caf::actor targets[] = {raw, *name, direct};
    // Interleaved rounds (rotating the order) so that the three targets see the same
    // scheduler conditions; a run's figure is the median over its rounds.
    std::vector<double> rates[3];
    std::vector<double> rtt_rates[3];
    std::vector<double> samples[3];
    for (size_t round = 0; round < rounds; ++round) {
      for (size_t j = 0; j < 3; ++j) {
        auto t = (round + j) % 3;
        auto us = oneway(sys, targets[t], m / rounds);
        rates[t].push_back(static_cast<double>(m / rounds) / (us / 1e6));
        if (std::getenv("WARDEN_BENCH_VERBOSE"))
          note(std::string{names[t]} + " round " + std::to_string(round) + ": "
               + std::to_string(static_cast<long>(rates[t].back())) + " msg/s");
        auto [xs, wall] = rtt(sys, targets[t], n / rounds);
        rtt_rates[t].push_back(static_cast<double>(n / rounds) / (wall / 1e6));
        samples[t].insert(samples[t].end(), xs.begin(), xs.end());
      }
    }
    for (int t = 0; t < 3; ++t) {
      metrics mt;
      mt["oneway_msgs_per_s"] = median(rates[t]);
      std::sort(samples[t].begin(), samples[t].end());
      mt["rtt_p50_us"] = percentile_sorted(samples[t], 0.5);
      mt["rtt_p99_us"] = percentile_sorted(samples[t], 0.99);
      mt["rtt_per_s"] = median(rtt_rates[t]);
      runs[t].push_back(mt);
    }
    // Rates of one run are strongly correlated (same scheduler conditions), so the ratio
    // to raw CAF is taken per run; its median is the robust figure.
    for (int t = 1; t < 3; ++t) {
      runs[t].back()["oneway_vs_raw"] =
        runs[t].back()["oneway_msgs_per_s"] / runs[0].back()["oneway_msgs_per_s"];
      runs[t].back()["rtt_rate_vs_raw"] =
        runs[t].back()["rtt_per_s"] / runs[0].back()["rtt_per_s"];
    }
    caf::anon_send_exit(raw, caf::exit_reason::user_shutdown);
    warden::stop_supervisor(sys, *sup);
  }
  for (int t = 0; t < 3; ++t) {
    result r;
    r.impl = t == 0 ? "caf" : "warden";
    r.workload = "throughput";
    r.kase = names[t];
    r.n = m;
    r.runs = runs[t];
    r.config["oneway_messages"] = m;
    r.config["round_trips"] = n;
    r.config["rounds_per_run"] = rounds;
    r.config["oneway_batch"] = oneway_batch;
    r.config["oneway_window_batches"] = oneway_window;
    r.config["target"] = t == 0 ? "raw CAF stateful_actor"
                       : t == 1 ? "Warden service via warden::lookup name handle"
                                : "Warden service via its direct actor handle";
    emit(r);
  }
}

} // namespace warden::bench
