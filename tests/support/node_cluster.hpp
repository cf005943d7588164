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
#include "warden/node_process.hpp"

namespace warden::test {

using json = nlohmann::json;

// The node process harness is the product's (node_process.hpp); tests name it from here.
using warden::deadline;
using warden::free_ports;
using node_options = warden::node_process_options;
using warden::node_process;
using warden::poll_interval;

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
