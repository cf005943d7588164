/// @file
/// warden_cluster_bench: cross-node request round trip and one-way throughput between two
/// processes on 127.0.0.1. The bench process is the client; it starts the server as a
/// child process (fork/exec of itself or of another program), measures, then kills the
/// server by PID and reaps it. Each thing measured is a `target` ("caf": CAF BASP via
/// publish / remote_actor; "tcp": plain sockets; "warden": two Warden nodes, calls by
/// name), run under a `variant` (settings applied
/// to both processes). The Erlang side is tests/perf/erlang/cluster_bench.erl.
///
/// ```cpp
/// auto v = cluster::parse_variant("best");            // or "name:key=value,..."
/// auto& t = cluster::find_target("caf");
/// cluster::server_process srv{t.server_argv(self_exe, t, v)};
/// auto s = t.measure(v, {srv.port(), srv.pid()}, counts);
/// ```
///
/// Adding a target (e.g. Warden's own remote call path): write `serve` (or an external
/// `server_argv`) and `measure`, add it to `targets()` in cluster_main.cpp. A server
/// prints `READY <port>` on stdout once it accepts connections and exits when its stdin
/// closes; that is the whole contract with the harness.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <sys/types.h>

#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <nlohmann/json.hpp>

namespace warden::bench::cluster {

// --- protocol of the echo service (CAF targets) ---------------------------------------------

using cping_atom = caf::atom_constant<caf::atom("cPing")>;    // (cPing, uint64_t) -> uint64_t
using ctick_atom = caf::atom_constant<caf::atom("cTick")>;    // one-way, counted
using ccount_atom = caf::atom_constant<caf::atom("cCount")>;  // -> uint64_t, resets the count
using csetup_atom = caf::atom_constant<caf::atom("cSetup")>;  // (cSetup, bool) -> std::string

// --- variants ---------------------------------------------------------------------------------

/// One configuration, applied to both processes. Keys (absent: CAF's default):
///   sched=stealing|sharing     scheduler.policy
///   threads=N                  scheduler.max-threads
///   aggr=N                     work-stealing.aggressive-poll-attempts
///   moderate=N                 work-stealing.moderate-poll-attempts
///   msleep=US                  work-stealing.moderate-sleep-duration (microseconds)
///   rsleep=US                  work-stealing.relaxed-sleep-duration (microseconds)
///   workers=N                  middleman.workers (0: the BASP broker deserializes inline)
///   reads=N                    middleman.max-consecutive-reads
///   nodelay=0|1                sets TCP_NODELAY on the BASP sockets (a no-op: CAF 0.17.6
///                              already sets it; the records show it either way)
///   echo=scheduled|detached|broker   the server's echo actor; broker: a broker, so it
///                              runs on the middleman's I/O thread (no scheduler hop)
///   client=scoped|actor|broker the client: blocking scoped_actor, event-based actor, or
///                              a broker (runs on the client's I/O thread)
///   lookup=name|once           target "warden" only: call by name on every message, or
///                              resolve the name once and request on the handle
///   timeout=0                  target "warden", lookup=once only: requests without a
///                              timeout (default: cluster.call_timeout, 5 s)
struct variant {
  std::string name;
  std::map<std::string, std::string> settings;

  /// "name:key=value,key=value" (parse_variant reads it back).
  std::string spec() const;

  /// The value of `key`, or `fallback`.
  std::string get(const std::string& key, const std::string& fallback = "") const;
};

/// A preset name ("defaults", "best", ...) or "name:key=value,...". Throws on unknown keys.
variant parse_variant(const std::string& spec);

/// The named presets (headline and investigation matrix).
const std::vector<variant>& presets();

/// The variants `warden_cluster_bench matrix` runs, in order.
std::vector<variant> matrix_variants();

/// Applies the CAF settings of `v` to `cfg` (and loads the middleman).
void apply(const variant& v, caf::actor_system_config& cfg);

/// The CAF settings in force in `cfg` (defaults filled in), for the records.
nlohmann::json effective_config(const caf::actor_system_config& cfg);

// --- counts and samples -------------------------------------------------------------------------

struct counts {
  size_t warmup = 1000;   ///< round trips before measuring
  size_t rtt = 20000;     ///< measured round trips (one outstanding)
  size_t oneway = 200000; ///< one-way messages, end marked by a final request
};

/// What one run of a target measured.
struct sample {
  std::vector<double> rtt_us;   ///< every measured round trip
  double rtt_wall_us = 0;       ///< wall time of the measured round trips
  double rtt_cpu_us = 0;        ///< CPU time of both processes during the round trips
  double oneway_us = 0;         ///< first send -> answer of the final request (0: none)
  size_t oneway_n = 0;
  nlohmann::json info = nlohmann::json::object();  ///< facts seen on the way (nodelay, ...)
};

// --- targets ------------------------------------------------------------------------------------

/// Where the server listens, and its PID (for its CPU time).
struct endpoint {
  uint16_t port = 0;
  pid_t pid = -1;
};

struct target {
  std::string name;  ///< "impl" in the JSON records
  std::string what;  ///< one line for the report
  /// Server role (child process; `--serve PORT --target NAME --variant SPEC`): listen on
  /// 127.0.0.1:port (0: any), print "READY <port>", serve until stdin closes.
  int (*serve)(const variant& v, uint16_t port) = nullptr;
  /// Client role: connect to 127.0.0.1:server.port, measure. Throws on failure.
  sample (*measure)(const variant& v, const endpoint& server, const counts& c) = nullptr;
  /// The server's command line. Default: this binary in the server role.
  std::vector<std::string> (*server_argv)(const std::string& self_exe, const target& t,
                                          const variant& v) = nullptr;
};

const std::vector<target>& targets();
const target& find_target(const std::string& name);

/// `self_exe --serve 0 --target NAME --variant SPEC`.
std::vector<std::string> self_server_argv(const std::string& self_exe, const target& t,
                                          const variant& v);

// CAF over BASP (cluster_caf.cpp) and plain sockets (cluster_tcp.cpp).
int serve_caf(const variant& v, uint16_t port);
sample measure_caf(const variant& v, const endpoint& server, const counts& c);
int serve_tcp(const variant& v, uint16_t port);
sample measure_tcp(const variant& v, const endpoint& server, const counts& c);
// Warden nodes, echo registered cluster-wide as "echo" (cluster_warden.cpp). Variant key
// `lookup=name` (default: cluster_client call/send by name on every message) or
// `lookup=once` (whereis once, then scoped_actor request/send on the handle); the CAF
// keys do not apply (a node sets its own CAF configuration).
int serve_warden(const variant& v, uint16_t port);
sample measure_warden(const variant& v, const endpoint& server, const counts& c);

// --- the server process -------------------------------------------------------------------------

/// A server child process: started by fork/exec, its stdout read until "READY <port>"
/// (within `ready_within`), killed by PID and reaped by stop() or the destructor. Its stdin
/// is a pipe from us, so it also exits when we die; PR_SET_PDEATHSIG backs that up.
/// A watchdog ends this process (exit code 3) if the server dies before stop() or is
/// still running after `limit`: a CAF request to a peer that vanished is never answered,
/// so the client would otherwise wait forever.
class server_process {
public:
  explicit server_process(const std::vector<std::string>& argv,
                          std::chrono::milliseconds ready_within = std::chrono::seconds{20},
                          std::chrono::seconds limit = std::chrono::minutes{10});
  ~server_process();
  server_process(const server_process&) = delete;
  server_process& operator=(const server_process&) = delete;

  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }

  /// Closes its stdin, SIGTERM, waits up to 2 s for it to exit, then SIGKILL; reaps it.
  void stop();

private:
  void watch(std::chrono::seconds limit);

  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  uint16_t port_ = 0;
  int cancel_[2] = {-1, -1};  // stop() -> watchdog
  std::thread watchdog_;
};

/// CPU time (user + system) of process `pid` (0: this process) in microseconds, from
/// /proc/PID/stat (clock-tick resolution, 10 ms: use over long intervals only).
double cpu_us(pid_t pid);

/// CPU time of this process and of the server `pid` since construction.
class cpu_meter {
public:
  explicit cpu_meter(pid_t server) : server_(server), self0_(cpu_us(0)), server0_(cpu_us(server)) {}
  double elapsed_us() const { return cpu_us(0) - self0_ + cpu_us(server_) - server0_; }

private:
  pid_t server_;
  double self0_;
  double server0_;
};

/// Server side: blocks until stdin is closed (the parent stopped us or died).
void wait_for_stdin_eof();

/// Server side: announces readiness to the parent.
void announce_ready(uint16_t port);

// --- sockets --------------------------------------------------------------------------------------

/// TCP_NODELAY state of this process's connected TCP sockets whose local or peer port is
/// `port`; when `set` is true, switches it on first. Returns {"sockets": n, "nodelay_before":
/// k, "nodelay_after": k'} (k = how many had it on).
nlohmann::json nodelay_of_connections(uint16_t port, bool set);

// --- report ----------------------------------------------------------------------------------------

/// `warden_cluster_bench report FILE...`: the markdown section of the cluster records
/// (records of the same implementation and case from several invocations are merged).
int run_report(const std::vector<std::string>& inputs);

/// `warden_cluster_bench merge FILE...`: the cluster records, merged, as JSON lines.
int run_merge(const std::vector<std::string>& inputs);

} // namespace warden::bench::cluster
