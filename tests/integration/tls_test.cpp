// Inter-node TLS (CAF's openssl module): real `warden node` processes on 127.0.0.1 with
// certificates made here by the openssl CLI (a CA, node certificates signed by it, a second
// CA for an intruder). See docs/tls.md for the recipe and what CAF 0.17.6 checks.
//
// Checked: TLS nodes join and their port speaks mutually authenticated TLS; a plain node and
// a node with a certificate from another CA never join, and their failed handshakes do not
// drop the links between the TLS nodes; stray connections do not either; a TLS node that
// keeps dialing a plain port does not leak sockets; certificate names are not checked.
// The last three robustness checks fail without Warden's OpenSSL I/O guard (tls.cpp): they
// are CAF 0.17.6 bugs (docs/tls.md, "Mixed clusters and failures").
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "support/node_cluster.hpp"

namespace {

using namespace std::chrono_literals;
using warden::test::deadline;
using warden::test::json;
using warden::test::node_process;
using warden::test::test_cluster;

/// Joins, handshakes and redials on loopback take well under this.
constexpr auto join_timeout = 30s;
/// How many failed dials in each direction count as "tried and kept failing".
constexpr uint64_t failed_dials = 3;
/// Fast redials, so the failure tests see several attempts in a second or two.
const std::vector<std::string> fast_redial = {"--set", "cluster.reconnect_min_ms=50", "--set",
                                              "cluster.reconnect_max_ms=300"};

bool have_openssl_cli() {
  return std::system("openssl version >/dev/null 2>&1") == 0;
}

/// Runs `cmd` with sh; its output goes to `log`. Fails the test when it exits non-zero.
void run(const std::string& cmd, const std::string& log) {
  auto full = cmd + " >>'" + log + "' 2>&1";
  ASSERT_EQ(std::system(full.c_str()), 0) << full;
}

/// A CA or node certificate with its key, in PEM files.
struct cert_files {
  std::string cert;
  std::string key;
};

/// The node flags of docs/tls.md.
std::vector<std::string> tls_args(const cert_files& node, const std::string& cafile) {
  return {"--tls",
          "--set", "tls.certificate=" + node.cert,
          "--set", "tls.key=" + node.key,
          "--set", "tls.cafile=" + cafile};
}

/// Makes certificates with the openssl CLI in `dir` (EC P-256 keys: fast to make).
class cert_maker {
public:
  explicit cert_maker(std::string dir) : dir_(std::move(dir)), log_(dir_ + "/openssl.log") {}

  /// A self-signed CA: NAME-ca.pem, NAME-ca.key.
  cert_files make_ca(const std::string& name) {
    cert_files ca{path(name + "-ca.pem"), path(name + "-ca.key")};
    run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2"
        " -subj '/CN=" + name + " test CA' -keyout '" + ca.key + "' -out '" + ca.cert + "'"
        " -addext basicConstraints=critical,CA:TRUE"
        " -addext keyUsage=critical,keyCertSign,cRLSign",
        log_);
    return ca;
  }

  /// NAME.pem / NAME.key signed by `ca`, with subject CN=`cn` and the extensions in `ext`
  /// (an openssl extension file's lines).
  cert_files make_node(const std::string& name, const cert_files& ca, const std::string& cn,
                       const std::string& ext) {
    cert_files node{path(name + ".pem"), path(name + ".key")};
    auto csr = path(name + ".csr");
    auto ext_file = path(name + ".ext");
    run("printf '" + ext + "' >'" + ext_file + "'", log_);
    run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj '/CN=" + cn +
          "' -keyout '" + node.key + "' -out '" + csr + "'",
        log_);
    run("openssl x509 -req -days 2 -in '" + csr + "' -CA '" + ca.cert + "' -CAkey '" +
          ca.key + "' -CAcreateserial -extfile '" + ext_file + "' -out '" + node.cert + "'",
        log_);
    return node;
  }

  /// A node certificate as docs/tls.md makes it: CN and SAN 127.0.0.1, for both ends.
  cert_files make_node(const std::string& name, const cert_files& ca) {
    return make_node(name, ca, "127.0.0.1",
                     "subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth,clientAuth\\n");
  }

private:
  std::string path(const std::string& file) const { return dir_ + "/" + file; }

  std::string dir_;
  std::string log_;
};

/// The fixture: skips without the openssl CLI; a cluster made with start = false, so the
/// certificates can be written into its directory before the nodes start.
class tls : public ::testing::Test {
protected:
  void SetUp() override {
    if (!have_openssl_cli())
      GTEST_SKIP() << "the openssl command is missing (Debian package openssl)";
  }

  static bool alive(node_process& n) {
    auto r = n.http_get("/health/alive");
    return r && r->first == 200;
  }

  static bool sees_up(node_process& a, node_process& b) {
    return a.member_state(b.name()) == "up";
  }

  /// Log events of `n` about `peer` with one of the given names.
  static std::size_t count_events(node_process& n, const std::string& peer,
                                  std::initializer_list<std::string_view> events) {
    std::size_t count = 0;
    for (auto& line : n.log_lines())
      if (line.is_object() && line.value("peer", "") == peer)
        for (auto ev : events)
          if (line.value("event", "") == ev)
            ++count;
    return count;
  }

  /// Fails the test when the link between `a` and `b` went down at any time so far (the
  /// CAF bug showed as node_down "connection lost"; unreachable alone may be load).
  static void expect_link_never_dropped(node_process& a, node_process& b) {
    EXPECT_EQ(count_events(a, b.name(), {"node_down"}), 0u)
      << a.name() << " lost " << b.name() << ":\n" << a.log_tail(30);
    EXPECT_EQ(count_events(b, a.name(), {"node_down"}), 0u)
      << b.name() << " lost " << a.name() << ":\n" << b.log_tail(30);
  }
};

/// Output and exit code of a shell command (stdout and stderr).
std::pair<int, std::string> capture(const std::string& cmd) {
  std::string out;
  auto* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr)
    return {-1, ""};
  char buf[512];
  while (auto n = std::fread(buf, 1, sizeof(buf), p))
    out.append(buf, n);
  auto status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::size_t open_descriptors(pid_t pid) {
  std::error_code ec;
  std::size_t n = 0;
  std::filesystem::directory_iterator it{"/proc/" + std::to_string(pid) + "/fd", ec};
  for (; !ec && it != std::filesystem::directory_iterator{}; it.increment(ec))
    ++n;
  return n;
}

/// A plain TCP peer on 127.0.0.1 that answers every connection at once with bytes that are
/// not TLS (as a plain node's BASP handshake would) and closes it; counts the connections.
class plain_peer {
public:
  plain_peer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        ::listen(fd_, 64) != 0 || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("plain_peer: cannot listen");
    port_ = ntohs(a.sin_port);
    thread_ = std::thread{[this] { loop(); }};
  }

  ~plain_peer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }

  plain_peer(const plain_peer&) = delete;
  plain_peer& operator=(const plain_peer&) = delete;

  uint16_t port() const { return port_; }
  uint64_t accepted() const { return accepted_; }

private:
  void loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0)
        continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0)
        continue;
      static const std::string junk(64, '\0');
      [[maybe_unused]] auto n = ::send(c, junk.data(), junk.size(), MSG_NOSIGNAL);
      ::close(c);
      ++accepted_;
    }
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> accepted_{0};
  std::thread thread_;
};

// --- joining -------------------------------------------------------------------------------

TEST_F(tls, two_nodes_join_over_mutually_authenticated_tls) {
  test_cluster c{WARDEN_BIN, 2, {.start = false}};
  cert_maker certs{c.dir()};
  auto ca = certs.make_ca("cluster");
  auto node = certs.make_node("node", ca);  // one certificate for every node
  ASSERT_FALSE(HasFatalFailure());
  for (std::size_t i = 0; i < c.size(); ++i)
    c.node(i).options().extra_args = tls_args(node, ca.cert);
  c.start_all();
  ASSERT_TRUE(c.wait_all_ready(join_timeout));
  ASSERT_TRUE(c.wait_converged(join_timeout));

  auto started = c.node("n1").wait_for_log_line(
    [](const json& l) { return l.value("event", "") == "node_started"; }, 1s);
  ASSERT_TRUE(started);
  EXPECT_EQ(started->value("tls", false), true);

  // The cluster port speaks TLS, verifies against the cluster CA, and takes a client that
  // shows a certificate of that CA.
  auto [code, out] = capture("timeout 10 openssl s_client -brief -verify_return_error"
                             " -connect " + c.node("n1").address() + " -CAfile '" + ca.cert +
                             "' -cert '" + node.cert + "' -key '" + node.key + "' </dev/null");
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("Verification: OK"), std::string::npos) << out;
  EXPECT_NE(out.find("Peer certificate: CN = 127.0.0.1"), std::string::npos) << out;
}

// --- who cannot join -----------------------------------------------------------------------

TEST_F(tls, plain_node_cannot_join_and_tls_nodes_keep_serving) {
  test_cluster c{WARDEN_BIN, 3, {.with_proxies = true, .start = false}};
  cert_maker certs{c.dir()};
  auto ca = certs.make_ca("cluster");
  auto node = certs.make_node("node", ca);
  ASSERT_FALSE(HasFatalFailure());
  for (auto name : {"n1", "n2"}) {
    auto& args = c.node(name).options().extra_args;
    args = tls_args(node, ca.cert);
    args.insert(args.end(), fast_redial.begin(), fast_redial.end());
  }
  c.node("n3").options().extra_args = fast_redial;  // plain: no --tls
  c.start_all();
  auto& n1 = c.node("n1");
  auto& n2 = c.node("n2");
  auto& n3 = c.node("n3");
  ASSERT_TRUE(c.wait_until([&] { return sees_up(n1, n2) && sees_up(n2, n1); }, join_timeout,
                           "the TLS nodes n1 and n2 join"));

  // n3 dials n1 and n2, and they dial n3, several times each; never does anyone see n3 up.
  bool n3_up = false;
  ASSERT_TRUE(c.wait_until(
    [&] {
      n3_up = n3_up || sees_up(n1, n3) || sees_up(n2, n3) || sees_up(n3, n1) || sees_up(n3, n2);
      return c.proxy("n3", "n1").stats().accepted >= failed_dials &&
             c.proxy("n1", "n3").stats().accepted >= failed_dials &&
             c.proxy("n3", "n2").stats().accepted >= failed_dials;
    },
    join_timeout, "n3 and the TLS nodes dial each other several times"));
  EXPECT_FALSE(n3_up) << c.diagnostics();
  EXPECT_EQ(count_events(n1, "n3", {"node_up"}), 0u);
  EXPECT_EQ(count_events(n3, "n1", {"node_up"}), 0u);

  // The TLS nodes kept serving: alive, their link never dropped, and n1 takes a new TLS
  // join (n2 restarted) after all those failed handshakes.
  EXPECT_TRUE(alive(n1) && alive(n2) && alive(n3));
  expect_link_never_dropped(n1, n2);
  n2.restart();
  ASSERT_TRUE(c.wait_until(
    [&] { return count_events(n1, "n2", {"node_up"}) >= 2 && sees_up(n1, n2); }, join_timeout,
    "n1 sees the restarted n2 up"));
}

TEST_F(tls, node_with_a_certificate_from_another_ca_cannot_join) {
  test_cluster c{WARDEN_BIN, 3, {.with_proxies = true, .start = false}};
  cert_maker certs{c.dir()};
  auto ca = certs.make_ca("cluster");
  auto other_ca = certs.make_ca("other");
  auto node = certs.make_node("node", ca);
  auto intruder = certs.make_node("intruder", other_ca);  // CN/SAN 127.0.0.1 too
  ASSERT_FALSE(HasFatalFailure());
  for (auto name : {"n1", "n2"}) {
    auto& args = c.node(name).options().extra_args;
    args = tls_args(node, ca.cert);
    args.insert(args.end(), fast_redial.begin(), fast_redial.end());
  }
  // The intruder trusts the cluster CA and knows the cluster secret: only its certificate
  // is wrong.
  auto& args = c.node("n3").options().extra_args;
  args = tls_args(intruder, ca.cert);
  args.insert(args.end(), fast_redial.begin(), fast_redial.end());
  c.start_all();
  auto& n1 = c.node("n1");
  auto& n2 = c.node("n2");
  auto& n3 = c.node("n3");
  ASSERT_TRUE(c.wait_until([&] { return sees_up(n1, n2) && sees_up(n2, n1); }, join_timeout,
                           "n1 and n2 join"));

  bool n3_up = false;
  ASSERT_TRUE(c.wait_until(
    [&] {
      n3_up = n3_up || sees_up(n1, n3) || sees_up(n2, n3) || sees_up(n3, n1) || sees_up(n3, n2);
      return c.proxy("n3", "n1").stats().accepted >= failed_dials &&
             c.proxy("n1", "n3").stats().accepted >= failed_dials &&
             c.proxy("n2", "n3").stats().accepted >= failed_dials;
    },
    join_timeout, "the intruder and the cluster dial each other several times"));
  EXPECT_FALSE(n3_up) << c.diagnostics();
  EXPECT_EQ(count_events(n1, "n3", {"node_up"}), 0u);
  EXPECT_EQ(count_events(n2, "n3", {"node_up"}), 0u);
  EXPECT_TRUE(alive(n1) && alive(n2) && alive(n3));
  expect_link_never_dropped(n1, n2);
}

// --- robustness ------------------------------------------------------------------------------

TEST_F(tls, stray_connections_do_not_drop_healthy_links) {
  test_cluster c{WARDEN_BIN, 2, {.start = false}};
  cert_maker certs{c.dir()};
  auto ca = certs.make_ca("cluster");
  auto node = certs.make_node("node", ca);
  ASSERT_FALSE(HasFatalFailure());
  for (std::size_t i = 0; i < c.size(); ++i)
    c.node(i).options().extra_args = tls_args(node, ca.cert);
  c.start_all();
  ASSERT_TRUE(c.wait_converged(join_timeout));
  auto& n1 = c.node("n1");
  auto& n2 = c.node("n2");

  // A port scan and a plain client at n1's port: each handshake fails on n1.
  for (int i = 0; i < 10; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(n1.options().port);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    if (i % 2 == 1) {
      const char junk[] = "GET / HTTP/1.0\r\n\r\n";
      [[maybe_unused]] auto n = ::send(fd, junk, sizeof(junk) - 1, MSG_NOSIGNAL);
    }
    ::close(fd);
  }
  // Bounded silence window: without the I/O guard, n1 dropped n2 within a heartbeat or two
  // of such a connection (CAF read the stale OpenSSL error as its own).
  deadline quiet = 2s;
  while (!quiet.passed() && count_events(n1, "n2", {"node_down"}) == 0
         && count_events(n2, "n1", {"node_down"}) == 0)
    std::this_thread::sleep_for(warden::test::poll_interval);
  expect_link_never_dropped(n1, n2);
  EXPECT_TRUE(alive(n1) && alive(n2));
}

TEST_F(tls, dialing_a_plain_port_does_not_leak_sockets) {
  plain_peer peer;
  test_cluster c{WARDEN_BIN, 1, {.start = false}};
  cert_maker certs{c.dir()};
  auto ca = certs.make_ca("cluster");
  auto node = certs.make_node("node", ca);
  ASSERT_FALSE(HasFatalFailure());
  auto& n1 = c.node("n1");
  n1.options().seeds = {"127.0.0.1:" + std::to_string(peer.port())};
  n1.options().extra_args = tls_args(node, ca.cert);
  n1.options().extra_args.insert(n1.options().extra_args.end(),
                                 {"--set", "cluster.reconnect_min_ms=10", "--set",
                                  "cluster.reconnect_max_ms=30"});
  n1.start();
  ASSERT_TRUE(c.wait_until([&] { return alive(n1) && peer.accepted() >= 3; }, join_timeout,
                           "n1 dials the plain peer"));
  auto before = open_descriptors(n1.pid());
  auto dials_before = peer.accepted();
  ASSERT_TRUE(c.wait_until([&] { return peer.accepted() >= dials_before + 30; }, join_timeout,
                           "n1 dials the plain peer 30 more times"));
  auto after = open_descriptors(n1.pid());
  // CAF 0.17.6 dropped the socket of each such dial unclosed: +1 descriptor per dial.
  EXPECT_LT(after, before + 10) << "open descriptors of n1 went from " << before << " to "
                                << after << " over " << peer.accepted() - dials_before
                                << " failed dials";
  EXPECT_TRUE(alive(n1));
}

// --- what is not checked -------------------------------------------------------------------

TEST_F(tls, certificate_names_are_not_checked) {
  // Any certificate from the cluster CA is accepted, whatever its names: CAF 0.17.6 checks
  // the chain, not the host. (Documented in docs/tls.md; update both if this changes.)
  test_cluster c{WARDEN_BIN, 2, {.start = false}};
  cert_maker certs{c.dir()};
  auto ca = certs.make_ca("cluster");
  auto node = certs.make_node("node", ca);
  auto odd = certs.make_node("odd", ca, "not-this-host.example",
                             "extendedKeyUsage=serverAuth,clientAuth\\n");  // no SAN
  ASSERT_FALSE(HasFatalFailure());
  c.node("n1").options().extra_args = tls_args(node, ca.cert);
  c.node("n2").options().extra_args = tls_args(odd, ca.cert);
  c.start_all();
  ASSERT_TRUE(c.wait_converged(join_timeout));
}

} // namespace
