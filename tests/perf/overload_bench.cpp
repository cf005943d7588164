// warden_overload_bench: a service of fixed capacity under 1x, 2x, 10x and 100x its load
// (issue 5: "goodput, p50/p99 latency of accepted requests, rejection latency, peak
// memory", raw CAF actor vs Warden with regulation; Erlang's twin is
// erlang/overload_bench.erl).
//
//   warden_overload_bench [--quick|--smoke] [--duration S] [--levels 1,2,10,100]
//                         [--systems caf,warden,warden_detached] [--runs N] [--first-run K]
//                         [regulator flags]
//   warden_overload_bench one --system caf|warden|warden_detached --level L --duration S ...
//   warden_overload_bench report FILE...
//
// The service is one actor that busy-spins `service_us` (1 ms: capacity 1000 requests/s)
// per request and answers. An open-loop pacer actor hands out requests at level x capacity
// (every 1 ms what is due, to one of 64 sender actors in turn), each a CAF request with a
// 1 s timeout, whatever the answers do; the caller gives up after 1 s
// (sec::request_timeout), so an answer after that never counts. Goodput = ok answers
// received while sending / sending time. "caf": requests go straight to the service
// (unbounded mailbox). "warden": they go to a regulator front (warden::spawn_regulator)
// with a counter limit of 2 (the next request waits in the service's mailbox, so the service
// never idles between two) and a FIFO queue of 1; the excess is answered errc::rejected
// (queue full) or errc::queue_timeout. "warden_detached": the same with the service spawned
// detached (its own thread), as CAF advises for an actor that hogs the CPU: on the
// cooperative scheduler the service's 1 ms spins hold up whatever shares its worker, the
// front included, which is most of the rejection latency at 100x on 2 cores. Each
// (system, level) runs in a fresh child process
// so the peak RSS (sampled every 100 ms from /proc/self/statm, minus the RSS before the
// load) belongs to that level alone; a raw CAF level stops early when its RSS grew past the
// cap (2 GiB).
//
// Runs: `--runs N` (default 1) runs every (system, level) N times, the run as the outer
// loop (run 1 of every cell, then run 2, ...) so a change in machine load touches every
// cell alike; each record carries its `run` index (K, K+1, ...; `--first-run K`, default 1,
// lets run.sh interleave one C++ run with one Erlang run). A run of the four levels and three
// systems takes ~13 min at 60 s per level (run.sh: ~17 min per run with Erlang, so ~50 min
// for its default 3 runs).
//
// Output: one JSON line per (system, level, run) on stdout (workload "overload"), and the
// markdown table with the verdicts on stderr (`report` prints it on stdout, Erlang's lines
// included). The table groups the records by (system, level) and shows per cell the MEDIAN
// of every figure over its runs, the run count, and the min-max range of goodput/capacity
// and ok p99; the verdicts judge the medians. Exit 1 when a child failed, or (smoke) when
// Warden answered nothing.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <future>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "bench.hpp"
#include "warden/errors.hpp"
#include "warden/regulator.hpp"

namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

using ob_work_atom = caf::atom_constant<caf::atom("obWork")>;
using ob_tick_atom = caf::atom_constant<caf::atom("obTick")>;
using ob_fire_atom = caf::atom_constant<caf::atom("obFire")>;

/// Every setting of a run; the defaults are the benchmark's (documented in
/// tests/perf/README.md and docs/performance.md).
struct settings {
  int service_us = 1000;         // busy work per request: capacity 1e6 / service_us per s
  int call_timeout_ms = 1000;    // the caller's timeout
  double duration_s = 60;        // sending time per level
  double limit = 2;              // regulator: one request running, the next one ready
  size_t max_size = 1;           // regulator: waiters at most
  int max_time_ms = 100;         // regulator: longest wait
  int codel_target_ms = 0;       // 0: no CoDel
  int codel_interval_ms = 20;
  double rss_cap_mib = 2048;     // a level stops when its RSS grew past this
  size_t shards = 64;            // sending actors (see shard_fn)
  std::vector<int> levels{1, 2, 10, 100};
  std::vector<std::string> systems{"caf", "warden", "warden_detached"};
  int runs = 1;                  // runs of every (system, level); the table shows medians
  int first_run = 1;             // run index of the first run (records carry `run`)
  bool smoke = false;

  double capacity() const { return 1e6 / service_us; }
};

// --- latency histogram: 2 % log buckets, fixed size (no allocation during a level) ----------

class histogram {
public:
  void add(double us) {
    size_t i = us <= 1 ? 0 : static_cast<size_t>(std::ceil(std::log(us) / log_base));
    ++buckets_[std::min(i, buckets_.size() - 1)];
    ++n_;
  }
  uint64_t count() const { return n_; }
  void merge(const histogram& other) {
    for (size_t i = 0; i < buckets_.size(); ++i)
      buckets_[i] += other.buckets_[i];
    n_ += other.n_;
  }
  /// Nearest-rank percentile in ms (the bucket's upper bound: at most 2 % high).
  double pct_ms(double q) const {
    if (n_ == 0)
      return 0;
    auto rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * n_)));
    uint64_t seen = 0;
    for (size_t i = 0; i < buckets_.size(); ++i) {
      seen += buckets_[i];
      if (seen >= rank)
        return std::pow(base, static_cast<double>(i)) / 1000.0;
    }
    return 0;
  }

private:
  static constexpr double base = 1.02;
  inline static const double log_base = std::log(base);
  std::array<uint64_t, 1100> buckets_{};  // 1.02^1100 us: far beyond any timeout
  uint64_t n_ = 0;
};

// --- one level in this process --------------------------------------------------------------
/// What one sender saw (one per shard, merged at the end; only its actor writes it).
struct tally {
  uint64_t ok = 0;
  uint64_t ok_sending = 0;  // answered while the pacer was still sending (goodput)
  uint64_t rejected = 0;
  uint64_t queue_timeout = 0;
  uint64_t timeout = 0;
  uint64_t other = 0;
  histogram ok_lat;
  histogram rej_lat;
  std::string other_example;
};

/// Shared by the pacer and the shards.
struct level_state {
  std::atomic<uint64_t> answered{0};  // every outcome, timeouts included
  std::atomic<bool> capped{false};    // set by the RSS sampler
  std::atomic<bool> sending{true};    // cleared by the pacer when it stops
  uint64_t sent = 0;                  // pacer only
  double send_s = 0;                  // pacer only
  double capped_at_s = -1;            // pacer only
  std::string pacer_exit;
  std::promise<void> finished;
};

caf::behavior service_fn(caf::event_based_actor*, int service_us) {
  return {
    [service_us](ob_work_atom, uint64_t id) {
      // Fixed CPU work, measured on the steady clock (a sleep would not load a core).
      auto end = steady::now() + std::chrono::microseconds{service_us};
      while (steady::now() < end) {
      }
      return id;
    },
  };
}

/// A sender: `(fire, n)` sends n requests at once, each with the caller's timeout.
/// Several shards, because CAF 0.17 cancels a request timeout by scanning all pending
/// timeouts of the requesting actor (simple_actor_clock::lookup): one actor with 100 000
/// requests in flight stalls the clock thread.
caf::behavior shard_fn(caf::event_based_actor* self, caf::actor target, int call_timeout_ms,
                       tally* t, level_state* st) {
  auto timeout = std::chrono::milliseconds{call_timeout_ms};
  auto limit_us = timeout.count() * 1000.0;
  return {
    [=](ob_fire_atom, uint32_t n, uint64_t first_id) {
      for (uint32_t k = 0; k < n; ++k) {
        auto t0 = steady::now();
        self->request(target, timeout, ob_work_atom::value, first_id + k)
          .then(
            [=](uint64_t) {
              auto us = std::chrono::duration<double, std::micro>(steady::now() - t0).count();
              if (us <= limit_us) {
                ++t->ok;
                if (st->sending.load(std::memory_order_relaxed))
                  ++t->ok_sending;
                t->ok_lat.add(us);
              } else {
                ++t->timeout;  // late: the caller had given up
              }
              st->answered.fetch_add(1, std::memory_order_release);
            },
            [=](caf::error& err) {
              auto us = std::chrono::duration<double, std::micro>(steady::now() - t0).count();
              if (warden::is(err, warden::errc::rejected)) {
                ++t->rejected;
                t->rej_lat.add(us);
              } else if (warden::is(err, warden::errc::queue_timeout)) {
                ++t->queue_timeout;
              } else if (err == caf::sec::request_timeout) {
                ++t->timeout;
              } else {
                if (t->other == 0)
                  t->other_example = self->system().render(err);
                ++t->other;
              }
              st->answered.fetch_add(1, std::memory_order_release);
            });
      }
    },
  };
}

/// The open-loop pacer: every 1 ms it hands the requests due at `rate` to the next shard,
/// for `duration`, whatever the answers do; then waits (at most timeout + 2 s) for the
/// last answers.
caf::behavior pacer_fn(caf::event_based_actor* self, std::vector<caf::actor> shards, double rate,
                       settings s, level_state* st) {
  auto start = steady::now();
  auto stop_at = std::make_shared<steady::time_point>();
  auto next = std::make_shared<size_t>(0);
  // Whatever ends the pacer ends the level (an early exit is reported, not waited on).
  self->attach_functor([st](const caf::error& reason) {
    if (reason && reason != caf::exit_reason::normal)
      st->pacer_exit = caf::to_string(reason);
    st->finished.set_value();
  });
  self->send(self, ob_tick_atom::value);
  return {
    [=](ob_tick_atom) {
      auto now = steady::now();
      if (*stop_at == steady::time_point{}) {
        double elapsed = std::chrono::duration<double>(now - start).count();
        bool cap = st->capped.load();
        double until = std::min(elapsed, s.duration_s);
        auto due = static_cast<uint64_t>(rate * until);
        if (!cap && due > st->sent) {
          auto n = static_cast<uint32_t>(due - st->sent);
          self->send(shards[(*next)++ % shards.size()], ob_fire_atom::value, n, st->sent);
          st->sent = due;
        }
        if (cap || elapsed >= s.duration_s) {
          *stop_at = now;
          st->sending.store(false);
          st->send_s = until;
          if (cap)
            st->capped_at_s = elapsed;
        }
        self->delayed_send(self, 1ms, ob_tick_atom::value);
        return;
      }
      auto drain = std::chrono::milliseconds{s.call_timeout_ms} + 2s;
      if (st->answered.load(std::memory_order_acquire) >= st->sent || now - *stop_at > drain) {
        self->quit();
        return;
      }
      self->delayed_send(self, 10ms, ob_tick_atom::value);
    },
  };
}

double mib(size_t bytes) {
  return static_cast<double>(bytes) / (1024.0 * 1024.0);
}

/// Runs one level, prints its JSON line and ends the process.
[[noreturn]] void run_one(const std::string& system, int level, const settings& s) {
  auto cfg = warden::bench::make_config();
  caf::actor_system sys{*cfg};
  // warden_detached: the service on its own thread, so its busy spin never holds up the
  // front (or the load) on a worker of the cooperative scheduler.
  bool detached = system == "warden_detached";
  auto service = detached ? sys.spawn<caf::detached>(service_fn, s.service_us)
                          : sys.spawn(service_fn, s.service_us);
  caf::actor target = service;
  json reg = json::object();
  if (system == "warden" || detached) {
    warden::regulator_settings rs;
    rs.name = "overload";
    rs.limits.limit = s.limit;
    rs.limits.max_size = s.max_size;
    rs.limits.max_time = std::chrono::milliseconds{s.max_time_ms};
    if (s.codel_target_ms > 0)
      rs.codel = warden::codel_settings{std::chrono::milliseconds{s.codel_target_ms},
                                        std::chrono::milliseconds{s.codel_interval_ms}};
    rs.call_timeout = std::chrono::milliseconds{s.call_timeout_ms};
    target = warden::spawn_regulator(sys, std::make_shared<warden::regulator_config>(rs),
                                     service);
    reg = {{"limit", s.limit}, {"max_size", s.max_size}, {"max_time_ms", s.max_time_ms},
           {"codel", s.codel_target_ms > 0
                       ? json{{"target_ms", s.codel_target_ms},
                              {"interval_ms", s.codel_interval_ms}}
                       : json(nullptr)}};
  } else if (system != "caf") {
    throw std::runtime_error("unknown system " + system);
  }
  double rate = s.capacity() * level;

  // Allocated before the baseline: nothing the bench itself keeps grows during a level.
  std::vector<tally> tallies(s.shards);
  level_state st;
  auto done = st.finished.get_future();

  // Peak RSS, sampled every 100 ms; the level stops when the growth passes the cap.
  std::atomic<bool> sampling{true};
  size_t base = warden::bench::rss_bytes();
  size_t peak = base;
  size_t at_mid = base;
  size_t at_end = base;
  auto t_start = steady::now();
  std::thread sampler([&] {
    bool mid_taken = false;
    while (sampling.load()) {
      auto rss = warden::bench::rss_bytes();
      peak = std::max(peak, rss);
      double el = std::chrono::duration<double>(steady::now() - t_start).count();
      if (!mid_taken && el >= s.duration_s / 2) {
        at_mid = rss;
        mid_taken = true;
      }
      if (el <= s.duration_s)
        at_end = rss;
      if (mib(rss - std::min(rss, base)) > s.rss_cap_mib)
        st.capped.store(true);
      std::this_thread::sleep_for(100ms);
    }
  });
  std::vector<caf::actor> shards;
  for (auto& t : tallies)
    shards.push_back(sys.spawn(shard_fn, target, s.call_timeout_ms, &t, &st));
  sys.spawn(pacer_fn, shards, rate, s, &st);
  done.wait();
  sampling = false;
  sampler.join();

  tally all;
  for (auto& t : tallies) {
    all.ok += t.ok;
    all.ok_sending += t.ok_sending;
    all.rejected += t.rejected;
    all.queue_timeout += t.queue_timeout;
    all.timeout += t.timeout;
    all.other += t.other;
    all.ok_lat.merge(t.ok_lat);
    all.rej_lat.merge(t.rej_lat);
    if (all.other_example.empty())
      all.other_example = t.other_example;
  }
  auto answered = st.answered.load(std::memory_order_acquire);
  auto* t = &all;
  double send_s = st.send_s > 0 ? st.send_s : s.duration_s;
  json r{{"workload", "overload"},
         {"impl", system},
         {"level", level},
         {"duration_s", s.duration_s},
         {"send_s", send_s},
         {"capacity_per_s", s.capacity()},
         {"service_us", s.service_us},
         {"call_timeout_ms", s.call_timeout_ms},
         {"offered_per_s", st.sent / send_s},
         {"sent", st.sent},
         {"ok", t->ok},
         {"rejected", t->rejected},
         {"queue_timeout", t->queue_timeout},
         {"timeout", t->timeout},
         {"other", t->other},
         {"unanswered", st.sent - std::min(st.sent, answered)},
         {"goodput_per_s", t->ok_sending / send_s},
         {"ok_p50_ms", t->ok_lat.pct_ms(0.5)},
         {"ok_p99_ms", t->ok_lat.pct_ms(0.99)},
         {"rej_p50_ms", t->rej_lat.pct_ms(0.5)},
         {"rej_p99_ms", t->rej_lat.pct_ms(0.99)},
         {"start_mib", mib(base)},
         {"peak_mib", mib(peak - std::min(peak, base))},
         {"mid_mib", mib(at_mid - std::min(at_mid, base))},
         {"end_mib", mib(at_end - std::min(at_end, base))},
         {"capped_at_s", st.capped_at_s},
         {"shards", s.shards},
         {"regulator", reg}};
  if (!st.pacer_exit.empty())
    r["pacer_exit"] = st.pacer_exit;
  if (!t->other_example.empty())
    r["other_example"] = t->other_example;
  std::cout << r.dump() << std::endl;
  std::fflush(stdout);
  // Leave without the actor system's shutdown: it would wait for the front (still
  // running) and run every request a raw CAF service still holds.
  _exit(0);
}

// --- report -----------------------------------------------------------------------------------

std::string fixed(double x, int digits) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(digits) << x;
  return os.str();
}

std::string ms_cell(double x) {
  return x >= 100 ? fixed(x, 0) : x >= 10 ? fixed(x, 1) : fixed(x, 2);
}

int impl_rank(const std::string& impl) {
  return impl == "caf" ? 0 : impl == "warden" ? 1 : impl == "warden_detached" ? 2 : 3;
}

std::string system_name(const std::string& impl) {
  if (impl == "caf")
    return "raw CAF actor";
  if (impl == "warden")
    return "Warden regulator";
  if (impl == "warden_detached")
    return "Warden regulator, service detached";
  if (impl == "erlang")
    return "Erlang gen_server:call";
  return impl;
}

double num(const json& r, const char* key) {
  return r.value(key, 0.0);
}

/// min-max of `xs` (non-empty), each as a ms cell or with `digits` decimals.
std::string range_of(std::vector<double> xs, int digits) {
  auto [lo, hi] = std::minmax_element(xs.begin(), xs.end());
  auto cell = [digits](double x) { return digits < 0 ? ms_cell(x) : fixed(x, digits); };
  return cell(*lo) + "-" + cell(*hi);
}

/// One (system, level) cell: the median over its runs of every figure, under the record's
/// field names, plus `runs`, the runs that answered ok / rejected something (latency
/// medians are over those runs only: a run without an answer has no percentile), the
/// min-max of the headline figures, and the runs that hit the RSS cap.
json aggregate(const std::vector<json>& runs) {
  auto pick = [&](auto&& fig, auto&& keep) {
    std::vector<double> xs;
    for (auto& r : runs)
      if (keep(r))
        xs.push_back(fig(r));
    return xs;
  };
  auto all = [](const json&) { return true; };
  auto has_ok = [](const json& r) { return r.value("ok", uint64_t{0}) > 0; };
  auto has_rej = [](const json& r) { return r.value("rejected", uint64_t{0}) > 0; };
  auto capped = [](const json& r) { return r.value("capped_at_s", -1.0) >= 0; };
  auto field = [](const char* key) { return [key](const json& r) { return num(r, key); }; };
  auto share = [](const json& r) { return num(r, "goodput_per_s") / num(r, "capacity_per_s"); };
  auto growth = [](const json& r) { return num(r, "end_mib") - num(r, "mid_mib"); };
  using warden::bench::median;

  const json& first = runs.front();
  json c{{"impl", first["impl"]}, {"level", first["level"]},
         {"capacity_per_s", num(first, "capacity_per_s")},
         {"runs", runs.size()}};
  for (auto* key : {"offered_per_s", "goodput_per_s", "ok", "rejected", "queue_timeout",
                    "timeout", "peak_mib"})
    c[key] = median(pick(field(key), all));
  auto shares = pick(share, all);
  c["share"] = median(shares);
  c["share_range"] = range_of(shares, 2);
  c["growth_mib"] = median(pick(growth, all));
  auto ok_p99 = pick(field("ok_p99_ms"), has_ok);
  c["ok_runs"] = ok_p99.size();
  if (!ok_p99.empty()) {
    c["ok_p50_ms"] = median(pick(field("ok_p50_ms"), has_ok));
    c["ok_p99_ms"] = median(ok_p99);
    c["ok_p99_range"] = range_of(ok_p99, -1);
  }
  auto rej_p99 = pick(field("rej_p99_ms"), has_rej);
  c["rej_runs"] = rej_p99.size();
  if (!rej_p99.empty()) {
    c["rej_p50_ms"] = median(pick(field("rej_p50_ms"), has_rej));
    c["rej_p99_ms"] = median(rej_p99);
  }
  auto caps = pick(field("capped_at_s"), capped);
  c["capped_runs"] = caps.size();
  if (!caps.empty())
    c["capped_at_s"] = median(caps);
  // Runs of one cell should share their settings; say so when they do not.
  std::set<std::string> setups;
  for (auto& r : runs)
    setups.insert(json{{"duration_s", r.value("duration_s", json())},
                       {"service_us", r.value("service_us", json())},
                       {"call_timeout_ms", r.value("call_timeout_ms", json())},
                       {"regulator", r.value("regulator", json())}}
                    .dump());
  c["mixed_settings"] = setups.size() > 1;
  return c;
}

std::string report(const std::vector<json>& recs) {
  // Group by (system, level); a cell's records are its runs.
  std::map<std::pair<int, std::string>, std::vector<json>> groups;
  for (auto& r : recs)
    groups[{r["level"].get<int>(), r["impl"].get<std::string>()}].push_back(r);
  std::vector<json> cells;
  for (auto& [key, runs] : groups)
    cells.push_back(aggregate(runs));
  std::stable_sort(cells.begin(), cells.end(), [](const json& a, const json& b) {
    auto la = a["level"].get<int>(), lb = b["level"].get<int>();
    if (la != lb)
      return la < lb;
    return impl_rank(a["impl"].get<std::string>()) < impl_rank(b["impl"].get<std::string>());
  });
  size_t max_runs = 0;
  for (auto& c : cells)
    max_runs = std::max(max_runs, c["runs"].get<size_t>());
  // With one run a cell is that run: no range to show.
  auto spread = [](const json& c, const char* key) {
    return c["runs"].get<size_t>() > 1 ? " (" + c[key].get<std::string>() + ")" : "";
  };

  std::ostringstream os;
  os << "| load | system | runs | offered/s | goodput/s | goodput/capacity | ok p50 ms "
        "| ok p99 ms | rejection p50 / p99 ms | rejected | queue timeouts | caller timeouts "
        "| peak memory MiB | memory growth, 2nd half MiB |\n"
     << "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (auto& c : cells) {
    auto n = c["runs"].get<size_t>();
    auto rej_runs = c["rej_runs"].get<size_t>();
    auto capped_runs = c["capped_runs"].get<size_t>();
    bool ok = c["ok_runs"].get<size_t>() > 0;
    std::string cap_note;
    if (capped_runs > 0)
      cap_note = n == 1 ? " (grew past the cap at " + fixed(c["capped_at_s"], 1) + " s)"
                        : " (grew past the cap in " + std::to_string(capped_runs) + " of "
                            + std::to_string(n) + " runs, median at "
                            + fixed(c["capped_at_s"], 1) + " s)";
    os << "| " << c["level"].get<int>() << "x | " << system_name(c["impl"]) << " | " << n
       << " | " << fixed(c["offered_per_s"], 0) << " | " << fixed(c["goodput_per_s"], 0)
       << " | " << fixed(c["share"], 2) << spread(c, "share_range") << " | "
       << (ok ? ms_cell(c["ok_p50_ms"]) : "-") << " | "
       << (ok ? ms_cell(c["ok_p99_ms"]) + spread(c, "ok_p99_range") : "-") << " | "
       << (rej_runs ? ms_cell(c["rej_p50_ms"]) + " / " + ms_cell(c["rej_p99_ms"]) : "-")
       << " | " << fixed(c["rejected"], 0) << " | " << fixed(c["queue_timeout"], 0) << " | "
       << fixed(c["timeout"], 0) << " | " << fixed(c["peak_mib"], 1) << cap_note << " | "
       << fixed(c["growth_mib"], 1) << " |\n";
  }
  if (max_runs > 1)
    os << "\nEvery figure is the median over the runs of its cell (column runs); "
          "goodput/capacity and ok p99 show the min-max over the runs in parentheses. "
          "Latency medians are over the runs that had such answers.\n";
  for (auto& c : cells)
    if (c["mixed_settings"].get<bool>())
      os << "\nNote: " << c["level"].get<int>() << "x " << system_name(c["impl"])
         << " mixes runs with different settings (duration, service time or regulator).\n";

  // Verdicts on the targets, on the medians of the Warden cells (raw CAF: the
  // contrast).
  std::map<std::string, std::map<int, json>> by;
  for (auto& c : cells)
    by[c["impl"].get<std::string>()][c["level"].get<int>()] = c;
  auto yes = [](bool b) { return b ? "**met**" : "**missed**"; };
  auto judge = [&](const std::string& impl) {
  if (!by.count(impl))
    return;
  auto& w = by[impl];
  os << "\nTargets (" << system_name(impl);
  if (max_runs > 1)
    os << "; on the medians";
  os << "):\n";
  if (w.count(1) && w.count(10) && w[1]["ok_runs"].get<size_t>() > 0
      && w[10]["ok_runs"].get<size_t>() > 0) {
    double p1 = w[1]["ok_p99_ms"], p10 = w[10]["ok_p99_ms"];
    os << "- accepted p99 at 10x within 2x of 1x: " << yes(p10 <= 2 * p1) << " ("
       << ms_cell(p10) << " ms vs " << ms_cell(p1) << " ms at 1x, ratio " << fixed(p10 / p1, 2)
       << ")\n";
  }
  if (!w.empty()) {
    double worst_peak = 0, worst_growth = -1e9;
    double worst_rej = 0;
    int worst_rej_level = 0;
    bool any_rej = false;
    for (auto& [lvl, c] : w) {
      worst_peak = std::max(worst_peak, c["peak_mib"].get<double>());
      worst_growth = std::max(worst_growth, c["growth_mib"].get<double>());
      if (c["rej_runs"].get<size_t>() > 0) {
        any_rej = true;
        if (c["rej_p99_ms"].get<double>() >= worst_rej) {
          worst_rej = c["rej_p99_ms"];
          worst_rej_level = lvl;
        }
      }
    }
    os << "- peak memory bounded by the configured buffers: " << yes(worst_growth < 1.0)
       << " (peak growth at most " << fixed(worst_peak, 1)
       << " MiB over the start; growth in the second half of a level at most "
       << fixed(worst_growth, 1) << " MiB)\n";
    if (any_rej)
      os << "- rejections answered in under 1 ms: " << yes(worst_rej < 1.0)
         << " (worst p99 " << ms_cell(worst_rej) << " ms, at " << worst_rej_level << "x)\n";
    bool all = true;
    std::string figs;
    for (auto& [lvl, c] : w) {
      if (lvl <= 1)
        continue;
      double share = c["share"];
      all = all && share >= 0.9;
      figs += (figs.empty() ? "" : ", ") + std::to_string(lvl) + "x " + fixed(share, 2);
    }
    if (!figs.empty())
      os << "- goodput at least 0.9 of capacity at every overload level: " << yes(all) << " ("
         << figs << ")\n";
  }
  };
  judge("warden");
  judge("warden_detached");
  auto& c = by["caf"];
  if (!c.empty()) {
    std::string figs;
    bool grows = false;
    for (auto& [lvl, r] : c) {
      double growth = r["growth_mib"];
      auto n = r["runs"].get<size_t>();
      auto capped_runs = r["capped_runs"].get<size_t>();
      if (lvl > 1 && (growth > 1.0 || capped_runs > 0))
        grows = true;
      figs += (figs.empty() ? "" : ", ") + std::to_string(lvl) + "x peak "
              + fixed(r["peak_mib"], 0) + " MiB";
      if (capped_runs == 0)
        figs += ", +" + fixed(growth, 0) + " MiB in the 2nd half";
      else
        figs += " (cap at " + fixed(r["capped_at_s"], 1) + " s"
                + (n > 1 ? " in " + std::to_string(capped_runs) + " of " + std::to_string(n)
                             + " runs"
                         : "")
                + ")";
    }
    os << "- raw CAF actor grows without bound under overload: " << (grows ? "shown" : "not shown")
       << " (" << figs << ")\n";
  }
  return os.str();
}

// --- command line -------------------------------------------------------------------------

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss{s};
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty())
      out.push_back(item);
  return out;
}

std::string self_exe() {
  char buf[4096];
  auto len = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (len <= 0)
    throw std::runtime_error("cannot read /proc/self/exe");
  buf[len] = '\0';
  return buf;
}

/// The flags a child needs to run with the same settings.
std::string child_flags(const settings& s) {
  std::ostringstream os;
  os << " --duration " << s.duration_s << " --service-us " << s.service_us << " --limit "
     << s.limit << " --max-size " << s.max_size << " --max-time-ms " << s.max_time_ms
     << " --codel-target-ms " << s.codel_target_ms << " --codel-interval-ms "
     << s.codel_interval_ms << " --rss-cap-mib " << s.rss_cap_mib;
  return os.str();
}

} // namespace

int main(int argc, char** argv) {
  settings s;
  std::string cmd = "levels";
  std::string system;
  int level = 1;
  std::vector<std::string> inputs;
  try {
    int i = 1;
    if (argc > 1 && (std::string{argv[1]} == "one" || std::string{argv[1]} == "report")) {
      cmd = argv[1];
      i = 2;
    }
    for (; i < argc; ++i) {
      std::string a = argv[i];
      auto next = [&]() -> std::string {
        if (i + 1 >= argc)
          throw std::runtime_error("missing value for " + a);
        return argv[++i];
      };
      if (a == "--quick") {
        s.duration_s = 5;
      } else if (a == "--smoke") {
        s.smoke = true;
        s.duration_s = 1;
        s.levels = {1, 10};
      } else if (a == "--duration") {
        s.duration_s = std::stod(next());
      } else if (a == "--levels") {
        s.levels.clear();
        for (auto& x : split(next()))
          s.levels.push_back(std::stoi(x));
      } else if (a == "--runs") {
        s.runs = std::stoi(next());
        if (s.runs < 1)
          throw std::runtime_error("--runs must be at least 1");
      } else if (a == "--first-run") {
        s.first_run = std::stoi(next());
      } else if (a == "--systems") {
        s.systems = split(next());
      } else if (a == "--system") {
        system = next();
      } else if (a == "--level") {
        level = std::stoi(next());
      } else if (a == "--service-us") {
        s.service_us = std::stoi(next());
      } else if (a == "--limit") {
        s.limit = std::stod(next());
      } else if (a == "--max-size") {
        s.max_size = std::stoul(next());
      } else if (a == "--max-time-ms") {
        s.max_time_ms = std::stoi(next());
      } else if (a == "--codel-target-ms") {
        s.codel_target_ms = std::stoi(next());
      } else if (a == "--codel-interval-ms") {
        s.codel_interval_ms = std::stoi(next());
      } else if (a == "--rss-cap-mib") {
        s.rss_cap_mib = std::stod(next());
      } else if (cmd == "report") {
        inputs.push_back(a);
      } else {
        throw std::runtime_error("unknown argument " + a);
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "warden_overload_bench: " << e.what()
              << "\nusage: warden_overload_bench [--quick|--smoke] [--duration S]"
                 " [--levels 1,2,10,100] [--systems caf,warden,warden_detached] [--runs N] [--first-run K]"
                 " [--service-us N]"
                 " [--limit N] [--max-size N] [--max-time-ms N] [--codel-target-ms N]"
                 " [--codel-interval-ms N] [--rss-cap-mib N]\n"
                 "       warden_overload_bench one --system caf|warden --level L ...\n"
                 "       warden_overload_bench report FILE...\n";
    return 2;
  }

  if (cmd == "one") {
    run_one(system, level, s);
  }

  if (cmd == "report") {
    std::vector<json> recs;
    for (auto& path : inputs) {
      std::ifstream in{path};
      std::string line;
      while (std::getline(in, line)) {
        if (line.empty() || line[0] != '{')
          continue;
        auto j = json::parse(line, nullptr, false);
        if (!j.is_discarded() && j.value("workload", "") == "overload")
          recs.push_back(j);
      }
    }
    std::cout << report(recs);
    return 0;
  }

  // Every (level, system) in a fresh child process; the run is the outer loop.
  std::vector<json> recs;
  bool ok = true;
  auto exe = self_exe();
  for (int run = s.first_run; run < s.first_run + s.runs; ++run) {
    for (int lvl : s.levels) {
      for (auto& sys_name : s.systems) {
        auto line = exe + " one --system " + sys_name + " --level " + std::to_string(lvl)
                    + child_flags(s);
        warden::bench::note("overload: " + sys_name + " at " + std::to_string(lvl) + "x for "
                            + fixed(s.duration_s, 0) + " s, run " + std::to_string(run));
        FILE* p = popen(line.c_str(), "r");
        if (!p) {
          ok = false;
          continue;
        }
        std::string out;
        char buf[4096];
        while (fgets(buf, sizeof(buf), p))
          out += buf;
        int rc = pclose(p);
        auto j = json::parse(out, nullptr, false);
        if (rc != 0 || j.is_discarded()) {
          std::cerr << "warden_overload_bench: child failed (" << rc << "): " << out << "\n";
          ok = false;
          continue;
        }
        j["run"] = run;
        std::cout << j.dump() << std::endl;
        if (s.smoke && sys_name == "warden" && j["ok"].get<uint64_t>() == 0) {
          std::cerr << "warden_overload_bench: Warden answered no request at " << lvl << "x\n";
          ok = false;
        }
        recs.push_back(std::move(j));
      }
    }
  }
  std::cerr << report(recs);
  return ok ? 0 : 1;
}
