// warden_bench: shared pieces of the benchmark workloads (options, statistics, result
// records, the benchmark service and its raw-CAF twin, actor system setup).
//
// Every workload returns `result` records: one per (implementation, workload, case),
// holding the metrics of every run; the figure printed for a metric is the median over
// the runs. Records print as JSON lines (stdout) and as a readable table (stderr).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/behavior.hpp>
#include <caf/stateful_actor.hpp>
#include <nlohmann/json.hpp>

#include "warden/service.hpp"

namespace warden::bench {

// --- options ------------------------------------------------------------------------------

enum class mode { full, quick, smoke };

struct options {
  mode level = mode::full;
  int runs = 5;
  // Single-case overrides (0 / empty: the mode's defaults).
  std::string strategy;
  size_t k = 0;
  size_t n = 0;
  size_t window = 0;
  std::string kind;            // mem-once: "warden" or "caf"
  std::vector<std::string> only;  // all: restrict to these workloads
  std::string self_exe;        // path of this binary (for the memory subprocesses)
  std::vector<std::string> inputs;  // report: JSON-lines files
};

const char* to_string(mode m);

// --- clock and statistics -----------------------------------------------------------------

using clock = std::chrono::steady_clock;

inline double us_since(clock::time_point t0) {
  return std::chrono::duration<double, std::micro>(clock::now() - t0).count();
}

/// Nearest-rank percentile of `xs` (sorted ascending); q in [0, 1].
double percentile_sorted(const std::vector<double>& xs, double q);

/// Median of `xs` (any order; copies).
double median(std::vector<double> xs);

using metrics = std::map<std::string, double>;

/// One (implementation, workload, case) with the metrics of each run.
struct result {
  std::string impl;      // "warden", "caf" (raw CAF) or "erlang"
  std::string workload;  // "restart", "dynamic", "throughput", "memory", "env"
  std::string kase;      // e.g. "one_for_one k=100"
  uint64_t n = 0;        // operations per run (restarts, children, messages, ...)
  std::vector<metrics> runs;
  nlohmann::json config = nlohmann::json::object();
};

/// The JSON line of `r`: medians in "metrics", every run in "per_run".
nlohmann::json to_json(const result& r);

/// Writes `r` as one JSON line to stdout (flushed) and remembers it for the table.
void emit(const result& r);

/// Prints the readable table of everything emitted so far to stderr.
void print_table();

/// Progress note on stderr.
void note(const std::string& line);

// --- process and system --------------------------------------------------------------------

/// Resident set size of this process in bytes (/proc/self/statm).
size_t rss_bytes();

/// The actor system configuration every workload uses: CAF defaults plus Warden's error
/// category. Nothing about the scheduler is changed unless `set_scheduler_override` was
/// called (warden_bench --max-threads N / --policy sharing: experiments only).
std::unique_ptr<caf::actor_system_config> make_config();

void set_scheduler_override(size_t max_threads, std::string policy);

/// The "env" record: CAF version and scheduler settings in force.
result environment(caf::actor_system& sys, const caf::actor_system_config& cfg);

// --- the benchmark service ------------------------------------------------------------------

using bping_atom = caf::atom_constant<caf::atom("bPing")>;    // -> caf::actor (self)
using btick_atom = caf::atom_constant<caf::atom("bTick")>;    // one-way, counted
using bcount_atom = caf::atom_constant<caf::atom("bCount")>;  // -> uint64_t ticks so far

struct bench_state {
  uint64_t ticks = 0;
};

/// The behavior shared by the raw CAF actor and the Warden service: ping answers with the
/// actor's own handle, tick counts, count answers the count.
template <class Self>
caf::behavior bench_behavior(Self* self) {
  return {
    [self](bping_atom) { return caf::actor_cast<caf::actor>(self); },
    [self](btick_atom) { ++self->state.ticks; },
    [self](bcount_atom) { return self->state.ticks; },
  };
}

/// Raw CAF twin of the service.
inline caf::behavior raw_bench_actor(caf::stateful_actor<bench_state>* self) {
  return bench_behavior(self);
}

/// The Warden service (static children).
inline warden::init_result bench_service(warden::stateful_service<bench_state>* self) {
  return bench_behavior(self);
}

/// The Warden service of dynamic children: start_child(args) passes one uint64_t.
inline warden::init_result bench_dynamic_service(warden::stateful_service<bench_state>* self,
                                                 uint64_t /*index*/) {
  return bench_behavior(self);
}

// --- workloads (one file each) ---------------------------------------------------------------

void run_restart(const options& opts);
void run_dynamic(const options& opts);
void run_throughput(const options& opts);
void run_memory(const options& opts);
int run_mem_once(const options& opts);  // subprocess of run_memory: prints one JSON object
int run_report(const options& opts);    // markdown from JSON-lines files

} // namespace warden::bench
