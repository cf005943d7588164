/// @file
/// The local cluster launcher: `warden cluster up|status|down` runs N nodes of one
/// cluster on this machine, for development and tests. docs/local-cluster.md is the
/// user's guide.
///
/// `up` starts node i (1-based) as `warden node --name n<i> --port BASE+i-1
/// --http-port HTTP_BASE+i-1 --seed ...` (seeds: the first two nodes), with the cluster
/// secret and name in the environment (WARDEN_CLUSTER_SECRET, WARDEN_CLUSTER_NAME; the
/// secret never appears on a command line), each node's output in DIR/n<i>.log. It
/// records the cluster in DIR/cluster.json, waits until every node answers 200 on
/// /health/ready, and stays in the foreground until SIGINT / SIGTERM (or --duration-ms);
/// then it stops the nodes in reverse order. The nodes die with the launcher, even when
/// it is killed with SIGKILL (PR_SET_PDEATHSIG). `status` asks every node's management
/// HTTP endpoint (management_http.hpp) for its view of the members and names; `down`
/// stops the cluster that DIR/cluster.json describes.
///
/// The node program is this executable (/proc/self/exe) unless the environment variable
/// WARDEN_NODE_COMMAND names another one, which gets the same arguments (tests use a fake
/// node).
///
/// Exit codes: `up` 0 after an orderly stop, 1 when the cluster did not come up (or is
/// already up), 2 bad arguments; `status` 0 all nodes answered, 1 some did not, 2 no
/// cluster.json; `down` 0 stopped (or nothing was running), 1 something did not stop,
/// 2 no cluster.json.
///
/// ```cpp
/// CLI::App app{"warden"};
/// warden::add_cluster_commands(app);   // `cluster up|status|down`
/// app.parse(argc, argv);               // a cluster command runs in parse and calls
///                                      // std::exit with its exit code
/// ```
///
/// Signals: `up` blocks SIGINT, SIGTERM and SIGCHLD in the calling thread and waits for
/// them with sigtimedwait (no handlers), as `warden run` does; call it before any other
/// thread exists, so no thread takes them instead.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace warden {

/// Default directory of a local cluster's files (cluster.json, n<i>.log).
inline constexpr const char* default_cluster_dir = ".warden/cluster";

/// Environment variable that overrides the node program (a path to an executable).
inline constexpr const char* node_command_env = "WARDEN_NODE_COMMAND";

/// `warden cluster up`. The defaults are the only place these values live.
struct cluster_up_options {
  int nodes = 0;                    ///< -n: how many nodes (required, 1..100)
  uint16_t base_port = 7101;        ///< node i listens on base_port + i - 1
  uint16_t http_base_port = 8101;   ///< node i serves HTTP on http_base_port + i - 1
  std::string dir = default_cluster_dir;
  std::vector<std::string> trees;   ///< none, one for all nodes, or one per node in order
  std::string config;               ///< passed to every node as --config
  std::string cluster_name = "warden";  ///< WARDEN_CLUSTER_NAME of every node
  std::string secret;               ///< WARDEN_CLUSTER_SECRET; empty = random (32 hex digits)
  bool json = false;                ///< nodes log JSON lines (--json)
  std::optional<int64_t> duration_ms;  ///< stop this long after the cluster is up
  int64_t ready_timeout_ms = 15000; ///< every node must answer /health/ready by then
  std::vector<std::string> node_args;  ///< appended to every node's command line
};

/// `warden cluster status`.
struct cluster_status_options {
  std::string dir = default_cluster_dir;
  bool json = false;  ///< print one JSON object instead of tables
};

/// `warden cluster down`.
struct cluster_down_options {
  std::string dir = default_cluster_dir;
};

/// How long a node may take to stop after SIGTERM before it gets SIGKILL.
inline constexpr std::chrono::seconds node_stop_timeout{10};
/// How long `down` waits for the launcher to stop its nodes and exit.
inline constexpr std::chrono::seconds launcher_stop_timeout{60};
/// Connect and read timeout of `status`'s HTTP requests.
inline constexpr std::chrono::seconds status_http_timeout{2};

/// Runs `up` in the foreground until it is stopped; returns the exit code.
int cluster_up(const cluster_up_options& opt);

/// Prints what every node says about the members and names; returns the exit code.
int cluster_status(const cluster_status_options& opt);

/// Stops the cluster described by DIR/cluster.json; returns the exit code.
int cluster_down(const cluster_down_options& opt);

/// Registers `cluster` with the subcommands `up`, `status` and `down` on `app`. Each
/// subcommand's callback runs the command and then calls `std::exit` with its exit code
/// (after every node is reaped and every file written), so `app.parse` does not return
/// when a cluster command ran.
void add_cluster_commands(CLI::App& app);

} // namespace warden
