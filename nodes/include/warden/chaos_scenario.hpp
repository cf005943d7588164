/// @file
/// The chaos scenario file (`warden chaos SCENARIO_FILE`, docs/chaos.md "Scenario files").
///
/// A scenario names the cluster to run against (nodes n1..nN started by the tool, or an
/// already running one), the steady-state hypothesis checked before and after, the
/// workload, the verdict's bounds, and the faults: explicit ones at given times plus, with
/// a `[gremlin]`, seeded random ones. Parsing checks every rule (names exist, partitions
/// cover the cluster, faults end within the run, no two faults share a node at once, the
/// live nodes stay a majority) and reports "FILE:LINE: FIELD: what" as `errc::bad_config`.
/// `expand_faults` turns the scenario and a seed into the run's schedule: deterministic for
/// a seed on every standard library (std::mt19937_64 with our own uniform mapping, never
/// std::uniform_*_distribution whose output differs between libraries).
///
/// ```cpp
/// auto sc = warden::chaos::load_chaos_scenario("demo/chaos/gremlin.toml");
/// if (!sc) ... warden::config_error_text(sc.error()) ...
/// auto seed = sc->seed.value_or(std::random_device{}());
/// for (auto& f : warden::chaos::expand_faults(*sc, seed))
///   ... at f.start_ms inject f, at f.end_ms undo it; rec.fault_started(to_report_fault(f)...)
/// ```
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "warden/chaos_report.hpp"

namespace warden::chaos {

/// What a fault does. Node faults: kill_node (SIGKILL), pause_node (SIGSTOP, SIGCONT at
/// the end), kill_service (kill one service actor). Link faults, through the tool's TCP
/// proxies between nodes, both directions of a pair: cut_link, latency, jitter, loss,
/// reset (close the pair's connections once). partition: cut every link between groups.
/// overload: the tool's client sends `rate_per_s` more requests a second to a service.
enum class fault_kind : uint8_t {
  kill_node,
  pause_node,
  partition,
  cut_link,
  latency,
  jitter,
  loss,
  reset,
  kill_service,
  overload,
};

/// Every kind, in declaration order.
const std::vector<fault_kind>& all_fault_kinds();

/// The kind's name, as in scenario files and the report: "kill_node", ...
const char* to_string(fault_kind x);

/// The kind named `name`, or nullopt.
std::optional<fault_kind> fault_kind_from(std::string_view name);

/// True for kinds that act on a link (cut_link, latency, jitter, loss, reset) or on all
/// of them (partition): they need the tool's proxies, so not with `cluster.attach`.
bool is_link_fault(fault_kind x);

/// True for kinds that happen at one instant (kill_node, reset, kill_service); the others
/// last `for_s`.
bool is_instant(fault_kind x);

/// `[cluster]`: the nodes the run uses, named n1..nN.
struct cluster_spec {
  /// Nodes the tool starts on 127.0.0.1 (1..9); with `attach`, the number of addresses.
  uint32_t nodes = 3;
  /// The tree file every started node runs, resolved against the scenario file's
  /// directory; empty with `attach`.
  std::string tree;
  /// An already running cluster: node i+1 is attach[i] ("host:port"). Empty: start one.
  std::vector<std::string> attach;
};

/// `[hypothesis]`: the steady state checked before the first fault and after the last.
struct hypothesis_spec {
  bool all_members_up = true;
  std::vector<std::string> services;     ///< each must answer a call
  std::optional<double> p99_ms;          ///< bound on the workload's p99 in steady phases
  std::chrono::milliseconds settle{5000};  ///< how long the "after" check may wait
};

/// `[workload]`: requests to named cluster services, spread over the nodes' clients.
struct workload_spec {
  std::vector<std::string> services;     ///< empty: no workload
  double rate_per_s = 100;               ///< total request rate
  std::chrono::milliseconds timeout{1000};
};

/// One `[[faults]]` entry as written (times in ms since the run started).
struct fault_spec {
  fault_kind kind = fault_kind::kill_node;
  int64_t at_ms = 0;
  std::optional<int64_t> for_ms;           ///< duration kinds only (required there)
  std::string node;                        ///< kill_node, pause_node, kill_service
  std::string service;                     ///< kill_service: a child path or a name;
                                           ///< overload: a cluster service's name
  std::vector<std::string> link;           ///< link kinds: two distinct nodes
  std::vector<std::vector<std::string>> groups;  ///< partition (empty with halves)
  bool halves = false;                     ///< partition: first ceil(N/2) nodes vs the rest
  double ms = 0;                           ///< latency, jitter
  double probability = 0;                  ///< loss: 0 < p <= 1
  std::optional<int64_t> restart_after_ms; ///< kill_node: the tool restarts the node then
  double rate_per_s = 0;                   ///< overload: extra requests per second
  int line = 0;                            ///< where it was declared
};

/// A closed range [lo, hi] of a gremlin draw.
template <class T>
struct draw_range {
  T lo{};
  T hi{};
  bool operator==(const draw_range&) const = default;
};

/// `[gremlin]`: seeded random faults. Defaults are in `gremlin_spec{}`.
struct gremlin_spec {
  int64_t from_ms = 0;
  std::optional<int64_t> until_ms;                 ///< nullopt: the run's duration
  draw_range<int64_t> every_ms{5000, 15000};       ///< gap between two fault slots
  std::vector<fault_kind> kinds{fault_kind::kill_node, fault_kind::pause_node,
                                fault_kind::partition, fault_kind::cut_link};
  draw_range<int64_t> for_ms{1000, 8000};          ///< duration (and kill_node restart)
  draw_range<double> ms{50, 500};                  ///< latency, jitter
  draw_range<double> probability{0.1, 0.5};        ///< loss
};

/// A parsed, checked scenario file.
struct chaos_scenario {
  std::string name;                        ///< default: the file's stem
  std::string source;                      ///< file name given to the parser
  std::optional<uint64_t> seed;            ///< nullopt: choose at run time, print it
  int64_t duration_ms = 0;
  cluster_spec cluster;
  hypothesis_spec hypothesis;
  workload_spec workload;
  chaos_bounds bounds;
  std::vector<fault_spec> faults;          ///< in file order
  std::optional<gremlin_spec> gremlin;

  /// "n1".."nN".
  std::vector<std::string> node_names() const;
};

/// Parses a scenario from TOML text; `source_name` prefixes errors and resolves
/// `cluster.tree` (relative to its directory). Does not check that the tree file exists.
caf::expected<chaos_scenario> parse_chaos_scenario(std::string_view toml_text,
                                                   const std::string& source_name);

/// Reads and parses `path`; also checks that `cluster.tree` is readable.
caf::expected<chaos_scenario> load_chaos_scenario(const std::string& path);

/// One fault of the run's schedule.
struct scheduled_fault {
  fault_kind kind = fault_kind::kill_node;
  /// kill_node, pause_node, kill_service: {node}; link kinds: {a, b}; partition: every
  /// node, group by group.
  std::vector<std::string> nodes;
  std::vector<std::vector<std::string>> groups;  ///< partition, halves resolved
  std::string service;                           ///< kill_service, overload
  /// The window the fault holds its nodes: start to when the tool undoes it (resume,
  /// heal, restore, restart). Instant kinds end at their start, except kill_node: it holds
  /// its node until the restart, or to the run's end without one.
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  bool restart = false;                          ///< kill_node: restart the node at end_ms
  double ms = 0;                                 ///< latency, jitter
  double probability = 0;                        ///< loss
  double rate_per_s = 0;                         ///< overload
  bool from_gremlin = false;

  /// "n2", "n1,n2 | n3", "n1<->n3", "n2:ledger", "slow at 2000/s".
  std::string target_text() const;

  bool operator==(const scheduled_fault&) const = default;
};

/// The report's record of `f` as planned: kind name, target text, start and end (end ==
/// start for instant kinds; a kill_node with a restart lasts until the restart).
fault to_report_fault(const scheduled_fault& f);

/// The explicit faults plus the gremlin's for `seed`, sorted by start (ties: file order,
/// then gremlin order). Same scenario and seed, same schedule. Gremlin faults never
/// overlap (closed windows) another fault that shares a node (a partition holds every
/// node) and never leave fewer than a strict majority of nodes alive and unpaused; a slot
/// whose draws break a rule is retried a few times, then skipped.
std::vector<scheduled_fault> expand_faults(const chaos_scenario& sc, uint64_t seed);

/// Seeded draws used by the gremlin: std::mt19937_64 output mapped by rejection (integers)
/// and by the top 53 bits (doubles), identical on every standard library.
class portable_rng {
public:
  explicit portable_rng(uint64_t seed) : gen_(seed) {}
  /// Uniform in [lo, hi] (lo <= hi).
  int64_t uniform_int(int64_t lo, int64_t hi);
  /// Uniform in [lo, hi).
  double uniform_real(double lo, double hi);
  /// Uniform index in [0, n), n > 0.
  size_t index(size_t n) { return static_cast<size_t>(uniform_int(0, static_cast<int64_t>(n) - 1)); }

private:
  std::mt19937_64 gen_;
};

} // namespace warden::chaos
