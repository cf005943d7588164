// The multi-node harness, the parts that need no real node: ports, command lines and the
// proxy wiring, and process control (run with a small shell script standing in for the
// binary: it echoes its environment, writes JSON lines to --log-file and sleeps).
#include "support/node_cluster.hpp"

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "support/test_sockets.hpp"

using namespace std::chrono_literals;
using namespace warden::test;
using namespace warden::test::sockets;

namespace {

bool has_pair(const std::vector<std::string>& args, const std::string& flag,
              const std::string& value) {
  for (std::size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i] == flag && args[i + 1] == value)
      return true;
  return false;
}

// Stands in for `warden`: prints its name and environment, writes three log lines (one not
// JSON), then runs until a signal; SIGTERM makes it exit with 3.
constexpr const char* script = R"(#!/bin/sh
log=""; name=""
while [ $# -gt 0 ]; do
  case "$1" in
    --log-file) log="$2"; shift ;;
    --name) name="$2"; shift ;;
  esac
  shift
done
echo "started $name secret=$WARDEN_CLUSTER_SECRET cluster=$WARDEN_CLUSTER_NAME extra=$EXTRA"
echo "{\"event\":\"started\",\"node\":\"$name\"}" >> "$log"
echo "not json" >> "$log"
echo "{\"event\":\"node_up\",\"node\":\"$name\",\"peer\":\"n2\"}" >> "$log"
trap 'exit 3' TERM
while :; do sleep 0.05; done
)";

struct fake_bin {
  std::string dir;
  std::string path;
  fake_bin() {
    auto tmpl = (std::filesystem::temp_directory_path() / "warden-fake-XXXXXX").string();
    dir = ::mkdtemp(tmpl.data());
    path = dir + "/fake-warden";
    std::ofstream{path} << script;
    ::chmod(path.c_str(), 0755);
  }
  ~fake_bin() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

} // namespace

TEST(free_ports, gives_distinct_bindable_ports) {
  auto ports = free_ports(6);
  ASSERT_EQ(ports.size(), 6u);
  EXPECT_EQ(std::set<uint16_t>(ports.begin(), ports.end()).size(), 6u);
  for (auto p : ports) {
    EXPECT_NE(p, 0);
    echo_server s{p};  // throws when taken
    EXPECT_EQ(s.port(), p);
  }
}

TEST(deadline, from_duration_or_time_point) {
  deadline d = 10s;
  EXPECT_FALSE(d.passed());
  EXPECT_GT(d.left(), 9s);
  deadline past = std::chrono::steady_clock::now() - 1ms;
  EXPECT_TRUE(past.passed());
  EXPECT_EQ(past.left(), 0ms);
}

TEST(test_cluster, builds_full_mesh_seeds_and_proxy_wiring) {
  test_cluster c{"/nonexistent/warden", 3, {.with_proxies = true, .start = false}};
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c.names(), (std::vector<std::string>{"n1", "n2", "n3"}));
  auto& n1 = c.node("n1");
  auto args = n1.command_line();
  EXPECT_EQ(args[0], "/nonexistent/warden");
  EXPECT_EQ(args[1], "node");
  EXPECT_TRUE(has_pair(args, "--name", "n1"));
  EXPECT_TRUE(has_pair(args, "--port", std::to_string(n1.options().port)));
  EXPECT_TRUE(has_pair(args, "--http-port", std::to_string(n1.options().http_port)));
  EXPECT_TRUE(has_pair(args, "--log-file", n1.log_path()));
  EXPECT_NE(std::find(args.begin(), args.end(), "--json"), args.end());
  for (auto other : {"n2", "n3"}) {
    auto addr = c.node(other).address();
    EXPECT_TRUE(has_pair(args, "--seed", addr)) << other;
    EXPECT_TRUE(has_pair(args, "--connect-via",
                         addr + "=127.0.0.1:" + std::to_string(c.proxy("n1", other).port())))
      << other;
  }
  EXPECT_FALSE(has_pair(args, "--seed", n1.address()));
  // Six distinct ports for three nodes.
  std::set<uint16_t> ports;
  for (std::size_t i = 0; i < c.size(); ++i)
    ports.insert({c.node(i).options().port, c.node(i).options().http_port});
  EXPECT_EQ(ports.size(), 6u);
}

TEST(test_cluster, proxy_a_to_b_reaches_b_and_link_controls_both) {
  test_cluster c{"/nonexistent/warden", 2, {.with_proxies = true, .start = false}};
  echo_server n2_stand_in{c.node("n2").options().port};  // listens where n2 would
  fd_guard s{connect_to(c.proxy("n1", "n2").port())};
  ASSERT_TRUE(send_all(s, "to n2"));
  EXPECT_EQ(read_n(s, 5), "to n2");
  c.link("n1", "n2").cut();
  EXPECT_EQ(c.proxy("n1", "n2").mode(), proxy_mode::cut);
  EXPECT_EQ(c.proxy("n2", "n1").mode(), proxy_mode::cut);
  EXPECT_EQ(wait_peer(s, 2s), peer::reset);
  c.link("n2", "n1").restore();
  EXPECT_EQ(c.proxy("n1", "n2").mode(), proxy_mode::forward);
  EXPECT_EQ(c.proxy("n2", "n1").mode(), proxy_mode::forward);
  EXPECT_THROW(c.proxy("n1", "n9"), std::out_of_range);
}

TEST(test_cluster, without_proxies_has_no_connect_via) {
  test_cluster c{"/nonexistent/warden", 2, {.start = false}};
  auto args = c.node(0).command_line();
  EXPECT_EQ(std::find(args.begin(), args.end(), "--connect-via"), args.end());
  EXPECT_THROW(c.link("n1", "n2"), std::out_of_range);
}

TEST(node_process, runs_pauses_terminates_and_restarts) {
  fake_bin bin;
  test_cluster c{bin.path, 1, {.env = {{"EXTRA", "yes"}}}};
  auto& n = c.node("n1");
  ASSERT_TRUE(n.running());
  EXPECT_GT(n.pid(), 0);
  auto line = n.wait_for_log_line(
    [](const json& l) { return l.is_object() && l.value("event", "") == "node_up"; }, 5s);
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ((*line)["peer"], "n2");
  auto& lines = n.log_lines();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[1], json("not json"));
  EXPECT_NE(n.output_tail(5).find("started n1 secret=test-secret cluster=test extra=yes"),
            std::string::npos)
    << n.output_tail(5);

  n.pause();
  EXPECT_TRUE(n.paused());
  EXPECT_TRUE(n.running());
  n.resume();
  EXPECT_FALSE(n.paused());

  // A paused process still gets SIGTERM: terminate continues it.
  n.pause();
  EXPECT_EQ(n.terminate(5s), 3);
  EXPECT_FALSE(n.running());
  EXPECT_EQ(n.exit_status(), 3);
  EXPECT_FALSE(n.http_get("/health/alive").has_value());  // nothing listens

  auto first_log = n.log_path();
  n.restart();
  EXPECT_TRUE(n.running());
  EXPECT_NE(n.log_path(), first_log);  // each run has its own log
  ASSERT_TRUE(n.wait_for_log_line([](const json& l) { return l.is_object(); }, 5s));
  n.kill9();
  EXPECT_FALSE(n.running());
  EXPECT_EQ(n.exit_status(), 128 + SIGKILL);
}

TEST(node_process, wait_ready_gives_up_when_the_process_exits) {
  test_cluster c{"/bin/false", 1};  // exits at once, never ready
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(c.node(0).wait_ready(10s));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
}

TEST(test_cluster, wait_until_fails_with_diagnostics) {
  fake_bin bin;
  test_cluster c{bin.path, 2, {.with_proxies = true}};
  ASSERT_TRUE(c.node("n2").wait_for_log_line([](const json& l) { return l.is_object(); }, 5s));
  EXPECT_NONFATAL_FAILURE(
    EXPECT_FALSE(c.wait_until([] { return false; }, 50ms, "the impossible")),
    "timed out waiting for: the impossible");
  auto diag = c.diagnostics();
  EXPECT_NE(diag.find("===== n1 pid"), std::string::npos) << diag;
  EXPECT_NE(diag.find("\"event\":\"node_up\""), std::string::npos) << diag;
  EXPECT_NE(diag.find("===== proxy n1 -> n2"), std::string::npos) << diag;
  EXPECT_TRUE(c.wait_until([] { return true; }, 1s, "trivially true"));
}
