/// @file
/// Test support: real `warden node` processes on 127.0.0.1 for multi-node tests.
///
/// `node_process` runs one node (RAII: killed with SIGKILL and reaped when it goes out of
/// scope, and also when the test binary dies, through PR_SET_PDEATHSIG); it can be paused,
/// resumed, killed, terminated, restarted, asked over HTTP and its JSON log read.
/// `test_cluster` owns a temporary directory and N nodes seeded as a full mesh; with
/// `with_proxies` every directed link a -> b goes through its own `tcp_proxy` (via
/// `--connect-via`), so a test can cut, blackhole or delay one link. Its `wait_until` polls a
/// condition every 20 ms and, on timeout, fails the test with every node's members, the last
/// 30 log lines of each node and the proxies' counters.
///
/// ```cpp
/// // CMake: warden_cluster_test(warden_cluster_tests SOURCES my_test.cpp LABELS cluster)
/// warden::test::test_cluster c{WARDEN_BIN, 3, {.with_proxies = true}};
/// ASSERT_TRUE(c.wait_all_ready(10s));
/// ASSERT_TRUE(c.wait_converged(10s));                     // everyone sees everyone up
/// c.link("n1", "n3").cut();                                // both directions, RST
/// ASSERT_TRUE(c.wait_until([&] { return c.node("n1").member_state("n3") != "up"; },
///                          5s, "n1 notices n3 is gone"));
/// c.link("n1", "n3").restore();
/// c.node("n2").pause();                                    // SIGSTOP: a hung node
/// auto ev = c.node("n1").wait_for_log_line(
///     [](const json& l) { return l.value("event", "") == "node_down"; }, 5s);
/// ```
///
/// The `warden` binary path comes from the test target (compile definition WARDEN_BIN, set
/// by `warden_cluster_test`). Not thread-safe: use a node or cluster from one thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <source_location>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/tcp_proxy.hpp"

namespace warden::test {

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

/// `n` distinct TCP ports free on 127.0.0.1 now: binds n sockets to port 0, keeps them all
/// until all n are chosen, then closes them. (Another process may still take one before the
/// test binds it; rare on a test machine.)
std::vector<uint16_t> free_ports(std::size_t n);

/// How to start one node.
struct node_options {
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
  node_process(std::string warden_bin, node_options opts, std::string dir);
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
  node_options& options() { return opts_; }
  const node_options& options() const { return opts_; }

  /// The JSON log of the current (or last) run.
  std::string log_path() const;
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
  std::string file(const std::string& suffix) const;
  void reap(bool block);

  std::string bin_;
  node_options opts_;
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

/// Options of a `test_cluster`.
struct cluster_options {
  bool with_proxies = false;  ///< one tcp_proxy per directed link, wired by --connect-via
  bool start = true;          ///< start every node in the constructor
  std::string tree;           ///< --tree for every node (a path)
  std::vector<std::string> extra_args;      ///< for every node
  std::map<std::string, std::string> env;   ///< for every node
  std::string name_prefix = "n";            ///< nodes are n1, n2, ...
};

/// The proxies of one link, both directions; each control applies to both.
struct link_proxies {
  tcp_proxy& a_to_b;  ///< connections that a opens to b
  tcp_proxy& b_to_a;  ///< connections that b opens to a

  void cut() { a_to_b.cut(); b_to_a.cut(); }
  void blackhole() { a_to_b.blackhole(); b_to_a.blackhole(); }
  void restore() { a_to_b.restore(); b_to_a.restore(); }
  void set_delay(std::chrono::milliseconds d) { a_to_b.set_delay(d); b_to_a.set_delay(d); }
};

/// N nodes on 127.0.0.1 in a temporary directory, seeded as a full mesh.
class test_cluster {
public:
  /// Chooses ports, writes nothing yet, starts the nodes when `opts.start`. The directory
  /// is removed at the end unless the environment has WARDEN_KEEP_TEST_DIRS=1.
  test_cluster(std::string warden_bin, std::size_t n, cluster_options opts = {});
  ~test_cluster();

  test_cluster(const test_cluster&) = delete;
  test_cluster& operator=(const test_cluster&) = delete;

  std::size_t size() const { return nodes_.size(); }
  node_process& node(std::size_t i) { return *nodes_.at(i); }
  node_process& node(const std::string& name);
  std::vector<std::string> names() const;

  /// The proxy that node `from`'s connections to node `to` go through (with_proxies only;
  /// throws std::out_of_range otherwise).
  tcp_proxy& proxy(const std::string& from, const std::string& to);
  /// Both proxies between `a` and `b`.
  link_proxies link(const std::string& a, const std::string& b);

  /// Starts every node that is not running.
  void start_all();
  /// Waits until every running node answers /health/ready 200; fails the test (with the
  /// diagnostics) and returns false at `dl`.
  bool wait_all_ready(deadline dl, std::source_location loc = std::source_location::current());
  /// Waits until every node runs (not paused) and sees every other node "up" in its
  /// /cluster/members; fails the test (with the diagnostics) and returns false at `dl`.
  bool wait_converged(deadline dl, std::source_location loc = std::source_location::current());

  /// Polls `pred` every 20 ms until it holds (true). At `dl` fails the test with `what`
  /// plus `diagnostics()` and returns false: write `ASSERT_TRUE(c.wait_until(...))` to stop.
  bool wait_until(const std::function<bool()>& pred, deadline dl, std::string_view what,
                  std::source_location loc = std::source_location::current());

  /// Every node's state, members JSON, last 30 log and output lines; every proxy's counters.
  std::string diagnostics();

  /// The temporary directory, and a file in it written with `text` (returns its path).
  const std::string& dir() const { return dir_; }
  std::string write_file(const std::string& name, const std::string& text) const;

private:
  std::size_t index(const std::string& name) const;

  std::string dir_;
  std::map<std::pair<std::size_t, std::size_t>, std::unique_ptr<tcp_proxy>> proxies_;
  std::vector<std::unique_ptr<node_process>> nodes_;  // declared last: killed first
};

} // namespace warden::test
