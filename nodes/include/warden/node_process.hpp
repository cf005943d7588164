/// @file
/// One real `warden node` process on 127.0.0.1, driven from outside: `warden chaos` and the
/// multi-node tests start, kill (-9), pause (SIGSTOP), resume, terminate and restart nodes
/// with it, ask them over their management HTTP port and read their JSON logs.
///
/// A `node_process` is RAII: its process is killed with SIGKILL and reaped when the object
/// goes, and also when the owning process dies (PR_SET_PDEATHSIG). Every start writes new
/// files in its directory (n1.log and n1.out, then n1.1.log after a restart, ...), so a
/// restart never mixes two runs' lines.
///
/// ```cpp
/// warden::node_process n{"/usr/bin/warden", {.name = "n1", .port = 7101, .http_port = 8101,
///                                            .tree = "tree.toml"}, "/tmp/run"};
/// n.start();
/// if (!n.wait_ready(std::chrono::seconds{10})) ... n.output_tail(30) ...
/// n.pause();  n.resume();  n.kill9();  n.restart();
/// for (auto& line : n.log_lines()) ... line.value("event", "") ...
/// ```
///
/// Not thread-safe: use one node from one thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace warden {

using json = nlohmann::json;

/// A point in time to give up at; made from a duration (from now) or a time point, so one
/// deadline can be shared by several waits: `deadline d = 5s; a.wait_ready(d); b.wait_ready(d);`
class deadline {
public:
  using clock = std::chrono::steady_clock;

  template <class Rep, class Period>
  deadline(std::chrono::duration<Rep, Period> from_now)  // NOLINT: implicit on purpose
    : at_(clock::now() + std::chrono::duration_cast<clock::duration>(from_now)) {
  }
  deadline(clock::time_point at) : at_(at) {  // NOLINT: implicit on purpose
  }

  clock::time_point at() const { return at_; }
  bool passed() const { return clock::now() >= at_; }
  /// Time left, 0 once passed.
  std::chrono::milliseconds left() const;

private:
  clock::time_point at_;
};

/// Polling interval of every wait here.
constexpr std::chrono::milliseconds poll_interval{20};

/// `n` distinct TCP ports free on 127.0.0.1 now, picked at random between 10000 and the
/// kernel's ephemeral range (where port-0 binds and outgoing connections never land; any
/// free port if that range leaves no room): each is bound until all n are chosen, then
/// closed. Another process picking the same way may still take one before the node binds
/// it; rare.
std::vector<uint16_t> free_ports(std::size_t n);

/// GET http://`host`:`port``path` (connect 300 ms, read 1 s): status and body as JSON (a
/// non-JSON body becomes a JSON string); nullopt when nothing answered in time.
std::optional<std::pair<int, json>> http_get_json(const std::string& host, uint16_t port,
                                                  const std::string& path);

/// POST `body` as JSON to http://`host`:`port``path`; answers as `http_get_json`.
std::optional<std::pair<int, json>> http_post_json(const std::string& host, uint16_t port,
                                                   const std::string& path, const json& body);

/// How to start one node.
struct node_process_options {
  std::string name;
  uint16_t port = 0;       ///< --port: the cluster port
  uint16_t http_port = 0;  ///< --http-port
  std::vector<std::string> seeds;        ///< "127.0.0.1:P", one --seed each
  std::vector<std::string> connect_via;  ///< "host:port=host:port", one --connect-via each
  std::vector<std::string> extra_args;   ///< appended as they are (e.g. "--set", "k=v")
  std::string tree;                      ///< --tree FILE when not empty
  std::map<std::string, std::string> env;  ///< added to the inherited environment
  std::string secret = "test-secret";      ///< WARDEN_CLUSTER_SECRET
  std::string cluster = "test";            ///< WARDEN_CLUSTER_NAME
};

/// One `warden node` process. Its log (--json --log-file) and its stdout+stderr go to files
/// in `dir`, new files for each start (n1.log, then n1.1.log after a restart, ...).
class node_process {
public:
  /// HTTP timeouts of `http_get`: connecting, then reading the answer.
  static constexpr std::chrono::milliseconds http_connect_timeout{300};
  static constexpr std::chrono::milliseconds http_read_timeout{1000};

  /// Prepares (does not start) a node of `warden_bin` with files in `dir`.
  node_process(std::string warden_bin, node_process_options opts, std::string dir);
  /// SIGKILL and reap when still running.
  ~node_process();

  node_process(const node_process&) = delete;
  node_process& operator=(const node_process&) = delete;

  /// The command line `start()` runs (binary first).
  std::vector<std::string> command_line() const;

  /// Starts the process (throws std::logic_error when it runs, std::system_error when
  /// fork fails). Does not wait for it to be ready: see `wait_ready`.
  void start();

  /// Kills a running process (SIGKILL), reaps it and starts it again, same options.
  void restart();

  /// SIGKILL and reap (no-op when not running).
  void kill9();
  /// SIGSTOP: the process hangs, its sockets stay open (the kernel still accepts connects).
  void pause();
  /// SIGCONT.
  void resume();
  /// SIGTERM, then waits for the exit until `dl`. The exit code (128 + signal number when a
  /// signal ended it), or nullopt when it was still running at `dl`: then it is killed.
  std::optional<int> terminate(deadline dl = std::chrono::seconds{10});

  /// True while the process has not exited (paused counts as running). Reaps it if it exited.
  bool running();
  bool paused() const { return paused_; }
  /// The exit code once exited (128 + signal number for a signal), else nullopt.
  std::optional<int> exit_status();

  pid_t pid() const { return pid_; }
  const std::string& name() const { return opts_.name; }
  /// "127.0.0.1:<port>", the node's cluster address.
  std::string address() const;
  /// The options; changes apply at the next `start()` / `restart()`.
  node_process_options& options() { return opts_; }
  const node_process_options& options() const { return opts_; }

  /// The JSON log of the current (or last) run.
  std::string log_path() const;
  /// The JSON logs of every run so far, oldest first (n1.log, n1.1.log, ...).
  std::vector<std::string> log_paths() const;
  /// stdout and stderr of the current (or last) run.
  std::string output_path() const;

  /// GET http://127.0.0.1:<http_port><path>: status and body as JSON (a non-JSON body
  /// becomes a JSON string); nullopt when nothing answered in time.
  std::optional<std::pair<int, json>> http_get(const std::string& path) const;

  /// Polls /health/ready until it answers 200 (true), the process exits or `dl` passes.
  bool wait_ready(deadline dl);

  /// GET /cluster/members (null when no answer).
  json members() const;
  /// The "state" of member `name` in `members()`, "" when absent or no answer.
  std::string member_state(const std::string& name) const;

  /// Every line of the current run's log so far, parsed (a line that is not JSON comes as a
  /// JSON string).
  const std::vector<json>& log_lines();
  /// Waits until a log line at index >= `from` satisfies `pred`; that line, or nullopt at
  /// `dl`. Pass `log_lines().size()` as `from` to wait only for lines still to come.
  std::optional<json> wait_for_log_line(const std::function<bool(const json&)>& pred,
                                        deadline dl, std::size_t from = 0);
  /// The last `n` raw lines of the log and of stdout/stderr, for diagnostics.
  std::string log_tail(std::size_t n) const;
  std::string output_tail(std::size_t n) const;

private:
  std::string file(const std::string& suffix, int run) const;
  std::string file(const std::string& suffix) const;
  void reap(bool block);

  std::string bin_;
  node_process_options opts_;
  std::string dir_;
  int starts_ = 0;  // names the files of each run
  pid_t pid_ = -1;
  int pidfd_ = -1;
  bool reaped_ = true;
  bool paused_ = false;
  int status_ = 0;
  // Incremental reading of the current log.
  std::size_t log_offset_ = 0;
  std::string log_partial_;
  std::vector<json> log_lines_;
};

} // namespace warden
