/// @file
/// `warden chaos SCENARIO_FILE`: runs a chaos experiment and returns its verdict
/// (docs/chaos.md "Running a scenario").
///
/// The runner reads the scenario (chaos_scenario.hpp), starts nodes n1..nN on 127.0.0.1
/// with a link proxy (link_proxy.hpp) on every directed link (both the node port and the
/// call port), joins the cluster itself as a client member named `chaos` (its own links are
/// never faulty: it stands for the users), checks the steady-state hypothesis, then runs
/// the workload and the fault schedule for `duration_s`, checks the hypothesis again, reads
/// every ledger's acknowledged ids, stops the nodes and evaluates the record
/// (chaos_report.hpp). The run directory gets the report files plus `nodes/` (every node's
/// JSON logs) and `data/` (the nodes' WARDEN_DATA_DIR: the ledgers' files).
///
/// Claims of "I am active" come from the nodes' own logs (`cluster_service_started` /
/// `cluster_service_stopped` with the fencing epoch): a claim runs from its start line to
/// its stop line, bounded by the end of the node's lease when the stop line names it
/// (`lease_ended_us`), or to the instant the tool killed or stopped the node. The
/// `singleton_copies` check samples them at every claim's start and every 100 ms.
///
/// With `cluster.attach` the tool starts nothing: it joins with WARDEN_CLUSTER_SECRET, kills
/// and pauses the local process listening on a node's port, probes the services' types,
/// and samples the claims over the nodes' management HTTP (their own registrations while
/// they hold the lease) instead of reading logs.
///
/// ```cpp
/// warden::chaos::run_options opt;
/// opt.scenario_file = "demo/chaos/kill-node.toml";
/// opt.seed = 42;                       // else the scenario's, else drawn and printed
/// return warden::chaos::run_chaos(opt);  // 0 valid, 1 invalid, 2 bad scenario, 3 failed
/// ```
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace CLI {
class App;
}

namespace warden::chaos {

/// The run is valid: every check passed.
inline constexpr int exit_valid = 0;
/// The run is invalid: a check failed (see summary.txt).
inline constexpr int exit_invalid = 1;
/// The scenario file (or an option) is bad: nothing ran.
inline constexpr int exit_bad_scenario = 2;
/// The run could not be carried out: the cluster did not come up, a file could not be
/// written. No verdict.
inline constexpr int exit_run_failed = 3;

/// `warden chaos` options. The defaults are the only place these values live.
struct run_options {
  std::string scenario_file;
  /// Overrides the scenario's seed; neither: drawn at random and printed.
  std::optional<uint64_t> seed;
  /// The run directory; empty: `.warden/chaos/<scenario file stem>-<seed>`.
  std::string out_dir;
  /// The node program; empty: WARDEN_NODE_COMMAND, else this executable.
  std::string node_program;
  /// Every node must answer /health/ready and the "before" hypothesis must hold by then.
  int64_t start_timeout_ms = 30000;
  /// Print only the verdict lines, not the progress.
  bool quiet = false;
};

/// Runs the scenario; returns one of the exit codes above. Prints progress and the
/// summary on stdout, problems on stderr.
int run_chaos(const run_options& opt);

/// Registers `chaos SCENARIO_FILE [--seed N] [--out DIR] [--quiet]` on `app`; its callback
/// runs the scenario and calls `std::exit` with the exit code.
void add_chaos_command(CLI::App& app);

} // namespace warden::chaos
