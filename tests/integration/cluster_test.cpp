// `warden node` clusters end to end: real node processes on 127.0.0.1 (tests/support/
// node_cluster.hpp), faults by signal (kill -9, SIGSTOP/SIGCONT, SIGTERM) and by proxy on a
// link (cut, blackhole), hostile bytes on the node port, and bad start-up settings. Every
// wait is on a log line or an HTTP state with a deadline; detection times are measured from
// the nodes' own log timestamps, printed, and asserted loosely (targets in the comments).
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/node_cluster.hpp"

using namespace std::chrono_literals;
using namespace warden::test;

namespace {

using sys_clock = std::chrono::system_clock;

// --- log lines -------------------------------------------------------------------------------

/// A predicate on log lines: event `ev` about peer `peer` ("" = any peer).
std::function<bool(const json&)> event_is(std::string ev, std::string peer = "") {
  return [ev = std::move(ev), peer = std::move(peer)](const json& l) {
    return l.is_object() && l.value("event", "") == ev
           && (peer.empty() || l.value("peer", "") == peer);
  };
}

/// The first line at index >= `from` of `n`'s log that satisfies `pred`.
std::optional<json> find_line(node_process& n, const std::function<bool(const json&)>& pred,
                              std::size_t from = 0) {
  auto& lines = n.log_lines();
  for (auto i = from; i < lines.size(); ++i)
    if (pred(lines[i]))
      return lines[i];
  return std::nullopt;
}

/// Index of that line, or -1.
long index_of(node_process& n, const std::function<bool(const json&)>& pred, std::size_t from = 0) {
  auto& lines = n.log_lines();
  for (auto i = from; i < lines.size(); ++i)
    if (pred(lines[i]))
      return static_cast<long>(i);
  return -1;
}

std::size_t count_lines(node_process& n, const std::function<bool(const json&)>& pred,
                        std::size_t from = 0) {
  std::size_t k = 0;
  auto& lines = n.log_lines();
  for (auto i = from; i < lines.size(); ++i)
    k += pred(lines[i]) ? 1 : 0;
  return k;
}

/// Waits for a line like `find_line`; on timeout fails the test with the cluster's
/// diagnostics (through `wait_until`).
std::optional<json> wait_line(test_cluster& c, node_process& n,
                              const std::function<bool(const json&)>& pred, deadline dl,
                              std::string_view what, std::size_t from = 0,
                              std::source_location loc = std::source_location::current()) {
  std::optional<json> found;
  c.wait_until([&] { return (found = find_line(n, pred, from)).has_value(); }, dl,
               std::string{n.name()} + " logs " + std::string{what}, loc);
  return found;
}

/// The "time" of a log line ("2026-11-23T16:27:16.725732Z", UTC).
std::optional<sys_clock::time_point> line_time(const json& l) {
  if (!l.is_object() || !l.contains("time") || !l["time"].is_string())
    return std::nullopt;
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  char frac[16] = {};
  auto t = l["time"].get<std::string>();
  if (std::sscanf(t.c_str(), "%d-%d-%dT%d:%d:%d.%15[0-9]", &y, &mo, &d, &h, &mi, &s, frac) < 6)
    return std::nullopt;
  std::string digits{frac};
  digits.resize(6, '0');
  using namespace std::chrono;
  auto date = sys_days{year{y} / month{static_cast<unsigned>(mo)} / day{static_cast<unsigned>(d)}};
  return date + hours{h} + minutes{mi} + seconds{s} + microseconds{std::stol(digits)};
}

/// Milliseconds from `t0` to the time stamped on `l` (-1 when it has none).
long ms_since(sys_clock::time_point t0, const json& l) {
  auto t = line_time(l);
  if (!t)
    return -1;
  return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(*t - t0).count());
}

// --- HTTP state ------------------------------------------------------------------------------

/// The row of member `name` in `n`'s /cluster/members (null when absent or no answer).
json member_row(const node_process& n, const std::string& name) {
  auto m = n.members();
  if (m.is_object() && m.contains("members") && m["members"].is_array())
    for (auto& x : m["members"])
      if (x.is_object() && x.value("name", "") == name)
        return x;
  return nullptr;
}

/// The incarnation `viewer` sees for `name` (0 when unknown).
uint64_t incarnation_seen(const node_process& viewer, const std::string& name) {
  auto row = member_row(viewer, name);
  return row.is_object() ? row.value("incarnation", uint64_t{0}) : 0;
}

/// How long `viewer` has seen `name` in its current state (-1 when unknown).
int64_t since_ms(const node_process& viewer, const std::string& name) {
  auto row = member_row(viewer, name);
  return row.is_object() ? row.value("since_ms", int64_t{-1}) : -1;
}

/// `n`'s own incarnation, from its own members row.
uint64_t own_incarnation(const node_process& n) {
  return incarnation_seen(n, n.name());
}

/// `n`'s /cluster/names (null when no answer).
json names_of(const node_process& n) {
  auto r = n.http_get("/cluster/names");
  return r && r->first == 200 ? r->second : json{};
}

/// The entry for `name` in list `list` ("names" or "lost") of a /cluster/names answer.
json name_entry(const json& names, const std::string& list, const std::string& name) {
  if (names.is_object() && names.contains(list) && names[list].is_array())
    for (auto& e : names[list])
      if (e.is_object() && e.value("name", "") == name)
        return e;
  return nullptr;
}

/// True when `viewer` lists `name` as registered by `owner` (with that incarnation when
/// not 0) and not as lost.
bool sees_name(const node_process& viewer, const std::string& name, const std::string& owner,
               uint64_t incarnation = 0) {
  auto names = names_of(viewer);
  auto e = name_entry(names, "names", name);
  return e.is_object() && e.value("node", "") == owner
         && (incarnation == 0 || e.value("incarnation", uint64_t{0}) == incarnation)
         && name_entry(names, "lost", name).is_null();
}

/// A tree with one echo service registered cluster-wide as `global_name`.
std::string global_echo_tree(const std::string& global_name) {
  return "name = \"root\"\n\n[[children]]\nid = \"echo\"\nservice = \"echo\"\nname = \""
         + global_name + "\"\nglobal = true\n";
}

/// Prints a measured number where ctest shows it (with --output-on-failure or -V).
void report(const std::string& what, long ms, long target_ms) {
  std::cout << "[ measured ] " << what << ": " << ms << " ms (target < " << target_ms << " ms)"
            << std::endl;
}

/// A node outside the cluster's full mesh (its own free ports, files in the cluster's
/// directory), seeded with every node of `c`. Declare it after `c`: it must die first.
std::unique_ptr<node_process> outsider(test_cluster& c, const std::string& name) {
  auto ports = free_ports(2);
  node_options o;
  o.name = name;
  o.port = ports[0];
  o.http_port = ports[1];
  for (auto& n : c.names())
    o.seeds.push_back(c.node(n).address());
  return std::make_unique<node_process>(WARDEN_BIN, std::move(o), c.dir());
}

/// Listens on 127.0.0.1:`port` until destroyed (a port in use).
class port_holder {
public:
  explicit port_holder(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0
          && ::listen(fd_, 4) == 0;
  }
  ~port_holder() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  port_holder(const port_holder&) = delete;
  port_holder& operator=(const port_holder&) = delete;
  bool ok() const { return ok_; }

private:
  int fd_ = -1;
  bool ok_ = false;
};

/// Whole output (stdout + stderr) of `n`'s last run.
std::string output_of(const node_process& n) {
  std::ifstream in{n.output_path()};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Starts `n` and waits until it exited (true) or `dl` passed (false; the test fails
/// through `c.wait_until` and `n` is killed by its destructor).
bool run_to_exit(test_cluster& c, node_process& n, deadline dl,
                 std::source_location loc = std::source_location::current()) {
  n.start();
  return c.wait_until([&] { return !n.running(); }, dl, n.name() + " exits by itself", loc);
}

/// A BASP header (CAF 0.17, 32 bytes, network byte order) that announces `payload_len`
/// bytes of operation `op`, followed by `payload`.
std::string fake_basp(uint8_t op, uint32_t payload_len, const std::string& payload) {
  std::string h;
  auto put = [&](uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i)
      h.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  put(op, 1);
  put(0, 1);           // padding
  put(0, 1);           // padding
  put(0, 1);           // flags
  put(payload_len, 4); // payload_len
  put(3, 8);           // operation_data: BASP version 3
  put(1, 8);           // source actor
  put(0, 8);           // dest actor
  return h + payload;
}

/// Every node in `names` reports `lease.valid` on /cluster/members.
bool all_hold_the_lease(test_cluster& c, const std::vector<std::string>& names) {
  for (auto& name : names) {
    auto m = c.node(name).members();
    if (!m.is_object() || !m["lease"].value("valid", false))
      return false;
  }
  return true;
}

} // namespace

// 1. Three nodes join (all up, all ready) and n1's global name is listed on every node.
TEST(cluster, three_nodes_join_and_share_global_names) {
  test_cluster c{WARDEN_BIN, 3, {.start = false}};
  c.node("n1").options().tree = c.write_file("n1_tree.toml", global_echo_tree("greeter"));
  c.start_all();
  ASSERT_TRUE(c.wait_all_ready(15s));
  ASSERT_TRUE(c.wait_converged(15s));
  for (auto& name : c.names()) {
    auto ready = c.node(name).http_get("/health/ready");
    ASSERT_TRUE(ready);
    EXPECT_EQ(ready->first, 200) << name << ": " << ready->second.dump();
    auto self = member_row(c.node(name), name);
    EXPECT_TRUE(self.is_object() && self.value("self", false)) << name << ": " << self.dump();
  }
  // Every node holds the quorum lease, renewed by the others' acks (at most 1 s ahead).
  ASSERT_TRUE(c.wait_until([&] { return all_hold_the_lease(c, c.names()); }, 5s,
                           "every node holds the quorum lease"));
  for (auto& name : c.names()) {
    auto lease = c.node(name).members()["lease"];
    EXPECT_GT(lease.value("left_ms", int64_t{0}), 0) << name << ": " << lease.dump();
    EXPECT_LE(lease.value("left_ms", int64_t{0}), 1000) << name << ": " << lease.dump();
  }
  auto inc1 = own_incarnation(c.node("n1"));
  ASSERT_NE(inc1, 0u);
  ASSERT_TRUE(c.wait_until(
      [&] {
        for (auto& name : c.names())
          if (!sees_name(c.node(name), "greeter", "n1", inc1))
            return false;
        return true;
      },
      10s, "every node lists greeter owned by n1"));
  auto e = name_entry(names_of(c.node("n3")), "names", "greeter");
  ASSERT_TRUE(e.is_object());
  EXPECT_EQ(e.value("address", ""), c.node("n1").address());
  for (auto& name : c.names())
    EXPECT_TRUE(find_line(c.node(name), event_is("node_started"))) << name;
}

// 2. SIGTERM n3: exit 0; n1 and n2 log node_down "left", then node_removed.
TEST(cluster, graceful_leave_is_reported_as_left_then_removed) {
  test_cluster c{WARDEN_BIN, 3};
  ASSERT_TRUE(c.wait_all_ready(15s));
  ASSERT_TRUE(c.wait_converged(15s));
  auto inc3 = incarnation_seen(c.node("n1"), "n3");
  std::size_t from1 = c.node("n1").log_lines().size(), from2 = c.node("n2").log_lines().size();

  auto rc = c.node("n3").terminate(10s);
  ASSERT_TRUE(rc.has_value()) << "n3 did not exit within 10 s of SIGTERM\n" << c.diagnostics();
  EXPECT_EQ(*rc, 0) << c.node("n3").output_tail(20);
  EXPECT_TRUE(find_line(c.node("n3"), event_is("node_stopped")));

  for (auto* n : {&c.node("n1"), &c.node("n2")}) {
    auto from = n == &c.node("n1") ? from1 : from2;
    auto down = wait_line(c, *n, event_is("node_down", "n3"), 5s, "node_down n3", from);
    auto removed = wait_line(c, *n, event_is("node_removed", "n3"), 5s, "node_removed n3", from);
    ASSERT_TRUE(down && removed);
    EXPECT_EQ(down->value("reason", ""), "left") << down->dump();
    EXPECT_EQ(removed->value("reason", ""), "left") << removed->dump();
    EXPECT_EQ(down->value("incarnation", uint64_t{0}), inc3);
    EXPECT_LT(index_of(*n, event_is("node_down", "n3"), from),
              index_of(*n, event_is("node_removed", "n3"), from));
    EXPECT_EQ(count_lines(*n, event_is("node_unreachable", "n3"), from), 0u);
    auto st = n->member_state("n3");
    EXPECT_TRUE(st == "" || st == "removed") << n->name() << " sees n3 " << st;
  }
  EXPECT_EQ(count_lines(c.node("n1"), event_is("node_down", "n2")), 0u);
}

// 3. kill -9 n2: its connection closes (unreachable, "connection lost"), the probe of its
//    address is refused: node_down "process gone" within 1 s (target 100 ms), no leader
//    or stable_after needed; its names -> lost.
TEST(cluster, crash_is_detected_fast_and_its_names_are_lost) {
  test_cluster c{WARDEN_BIN, 3, {.start = false}};
  c.node("n2").options().tree = c.write_file("n2_tree.toml", global_echo_tree("store"));
  c.start_all();
  ASSERT_TRUE(c.wait_all_ready(15s));
  ASSERT_TRUE(c.wait_converged(15s));
  ASSERT_TRUE(c.wait_until([&] { return sees_name(c.node("n1"), "store", "n2"); }, 10s,
                           "n1 lists store owned by n2"));
  auto from = c.node("n1").log_lines().size();

  auto t0 = sys_clock::now();
  c.node("n2").kill9();
  auto down = wait_line(c, c.node("n1"), event_is("node_down", "n2"), 5s, "node_down n2", from);
  ASSERT_TRUE(down);
  // Its own probe, or n3's notice ("process gone (by ...)"), whichever came first.
  EXPECT_TRUE(down->value("reason", "").starts_with("process gone")) << down->dump();
  auto lost = find_line(c.node("n1"), event_is("node_unreachable", "n2"), from);
  if (lost) {
    EXPECT_EQ(lost->value("reason", ""), "connection lost") << lost->dump();
  }
  auto ms = ms_since(t0, *down);
  report("kill -9 -> node_down (process gone) on n1", ms, 100);
  EXPECT_GE(ms, 0);
  EXPECT_LT(ms, 1000);

  for (auto* n : {&c.node("n1"), &c.node("n3")}) {
    ASSERT_TRUE(c.wait_until(
        [&] {
          auto names = names_of(*n);
          auto lost = name_entry(names, "lost", "store");
          return lost.is_object() && lost.value("node", "") == "n2"
                 && name_entry(names, "names", "store").is_null();
        },
        5s, n->name() + " moves store (owner n2) to lost"));
    EXPECT_EQ(n->member_state("n2"), "down");
  }
}

// 4. SIGSTOP n2: unreachable within 2.5 s (target 2 s); SIGCONT before the resolver's
//    stable_after (5 s here): reachable, never down.
TEST(cluster, hung_node_is_unreachable_then_reachable) {
  test_cluster c{WARDEN_BIN, 3, {.extra_args = {"--set", "cluster.stable_after_ms=5000"}}};
  ASSERT_TRUE(c.wait_all_ready(15s));
  ASSERT_TRUE(c.wait_converged(15s));
  auto inc2 = incarnation_seen(c.node("n1"), "n2");
  // The detector's window starts with two guessed intervals (first_heartbeat_estimate):
  // right after a join it detects ~0.4 s later than with a few seconds of history.
  ASSERT_TRUE(c.wait_until([&] { return since_ms(c.node("n1"), "n2") >= 3000; }, 10s,
                           "n1 has 3 s of heartbeats from n2"));
  auto from = c.node("n1").log_lines().size();

  auto t0 = sys_clock::now();
  c.node("n2").pause();
  auto unreachable = wait_line(c, c.node("n1"), event_is("node_unreachable", "n2"), 5s,
                               "node_unreachable n2", from);
  ASSERT_TRUE(unreachable);
  auto ms = ms_since(t0, *unreachable);
  report("SIGSTOP -> node_unreachable on n1", ms, 2000);
  EXPECT_LT(ms, 2500);
  EXPECT_GE(unreachable->value("phi", 0.0), 8.0) << unreachable->dump();
  EXPECT_EQ(c.node("n1").member_state("n2"), "unreachable");
  ASSERT_TRUE(
      wait_line(c, c.node("n3"), event_is("node_unreachable", "n2"), 5s, "node_unreachable n2"));
  // n1 and n3 are 2 of 3: they keep the quorum lease while n2 hangs.
  EXPECT_TRUE(all_hold_the_lease(c, {"n1", "n3"}));

  c.node("n2").resume();
  for (auto* n : {&c.node("n1"), &c.node("n3")})
    ASSERT_TRUE(wait_line(c, *n, event_is("node_reachable", "n2"), 5s, "node_reachable n2"));
  ASSERT_TRUE(c.wait_converged(10s));
  for (auto* n : {&c.node("n1"), &c.node("n3")}) {
    EXPECT_EQ(count_lines(*n, event_is("node_down", "n2")), 0u) << n->name();
    EXPECT_EQ(count_lines(*n, event_is("node_removed", "n2")), 0u) << n->name();
  }
  EXPECT_EQ(incarnation_seen(c.node("n1"), "n2"), inc2);
  ASSERT_TRUE(c.wait_until([&] { return all_hold_the_lease(c, {"n2"}); }, 5s,
                           "n2 holds the lease again"));
}

// 5. SIGSTOP n2 (3 nodes: n1 and n3 are a majority): unreachable at ~1.5 s, downed by the
//    survivors' leader stable_after (1 s) later, "unreachable on the minority side"; the
//    other survivor follows the leader's notice. SIGCONT: n2 learns it was downed
//    (self_downed), and is back up by itself after its quarantine (2 x stable_after),
//    "rejoined", same incarnation, same process.
TEST(cluster, hung_node_downed_by_the_majority_rejoins_after_quarantine) {
  test_cluster c{WARDEN_BIN, 3};
  ASSERT_TRUE(c.wait_all_ready(15s));
  ASSERT_TRUE(c.wait_converged(15s));
  auto inc2 = incarnation_seen(c.node("n1"), "n2");
  auto pid2 = c.node("n2").pid();
  auto from = c.node("n1").log_lines().size();
  auto from2 = c.node("n2").log_lines().size();

  auto t0 = sys_clock::now();
  c.node("n2").pause();
  auto down = wait_line(c, c.node("n1"), event_is("node_down", "n2"), 8s, "node_down n2", from);
  ASSERT_TRUE(down);
  auto unreachable = find_line(c.node("n1"), event_is("node_unreachable", "n2"), from);
  ASSERT_TRUE(unreachable) << "unreachable before down";
  report("SIGSTOP -> node_unreachable on n1", ms_since(t0, *unreachable), 2000);
  report("SIGSTOP -> node_down on n1 (stable_after 1000 ms)", ms_since(t0, *down), 3500);
  auto after_unreachable = ms_since(t0, *down) - ms_since(t0, *unreachable);
  EXPECT_GE(after_unreachable, 900) << "the leader waits stable_after";
  EXPECT_LT(after_unreachable, 2500);
  EXPECT_NE(down->value("reason", "").find("unreachable on the minority side"), std::string::npos)
      << down->dump();
  EXPECT_EQ(c.node("n1").member_state("n2"), "down");
  ASSERT_TRUE(wait_line(c, c.node("n3"), event_is("node_down", "n2"), 3s, "node_down n2"));
  std::cout << "[ observed ] node_down reason on n1: " << down->value("reason", "") << std::endl;
  // The survivors keep the quorum lease; nobody else was downed.
  EXPECT_TRUE(all_hold_the_lease(c, {"n1", "n3"}));
  EXPECT_EQ(count_lines(c.node("n1"), event_is("node_down", "n3"), from), 0u);

  auto t1 = sys_clock::now();
  c.node("n2").resume();
  auto told = wait_line(c, c.node("n2"), event_is("self_downed"), 5s, "self_downed", from2);
  ASSERT_TRUE(told);
  EXPECT_NE(told->value("reason", "").find("unreachable on the minority side"), std::string::npos)
      << told->dump();
  auto up
      = wait_line(c, c.node("n1"), event_is("node_up", "n2"), 15s, "node_up n2 (rejoined)", from);
  ASSERT_TRUE(up);
  report("SIGCONT -> node_up rejoined on n1", ms_since(t1, *up), 5000);
  auto quarantined = ms_since(t0, *up) - ms_since(t0, *down);
  std::cout << "[ observed ] node_down -> node_up on n1: " << quarantined
            << " ms (quarantine 2000 ms)" << std::endl;
  EXPECT_GE(quarantined, 1950) << "not back before the quarantine ended";
  EXPECT_EQ(up->value("reason", ""), "rejoined") << up->dump();
  EXPECT_EQ(up->value("incarnation", uint64_t{0}), inc2);
  ASSERT_TRUE(c.wait_converged(15s));
  EXPECT_EQ(incarnation_seen(c.node("n1"), "n2"), inc2);
  EXPECT_EQ(incarnation_seen(c.node("n3"), "n2"), inc2);
  EXPECT_EQ(c.node("n2").pid(), pid2);
  EXPECT_TRUE(c.node("n2").running());
  EXPECT_EQ(count_lines(c.node("n2"), event_is("node_started")), 1u);
  EXPECT_EQ(count_lines(c.node("n1"), event_is("node_removed", "n2")), 0u);
}

// 6. Cut link n1-n2 (n3 reaches both): n1 and n2 lose their connection, but the probe of
//    each other's real address (not through the proxy) is accepted: unreachable, not down.
//    n1 and n2 are then indirectly connected; the resolver downs one or both of them
//    ("indirectly connected"), never n3. After the restore the downed come back up by
//    themselves after their quarantine (2 x stable_after), no restart. A blackholed link
//    (no FIN, no connection loss) likewise: unreachable, maybe downed, heals.
TEST(cluster, cut_and_blackholed_links_heal_by_themselves) {
  test_cluster c{WARDEN_BIN, 3, {.with_proxies = true}};
  ASSERT_TRUE(c.wait_all_ready(15s));
  ASSERT_TRUE(c.wait_converged(15s));
  auto inc1 = incarnation_seen(c.node("n2"), "n1");
  auto inc2 = incarnation_seen(c.node("n1"), "n2");
  auto& n1 = c.node("n1");
  auto& n2 = c.node("n2");

  auto& n3 = c.node("n3");
  auto pid1 = n1.pid(), pid2 = n2.pid();
  auto n3_never_downed = [&](std::size_t from1, std::size_t from2) {
    EXPECT_EQ(count_lines(n1, event_is("node_down", "n3"), from1), 0u);
    EXPECT_EQ(count_lines(n2, event_is("node_down", "n3"), from2), 0u);
  };
  /// The ends n3 downed since `from3`, with their node_down lines.
  auto downed_on_n3 = [&](std::size_t from3) {
    std::vector<std::pair<std::string, json>> out;
    for (auto* end : {"n1", "n2"})
      if (auto l = find_line(n3, event_is("node_down", end), from3))
        out.emplace_back(end, *l);
    return out;
  };

  // --- cut ---
  auto from1 = n1.log_lines().size(), from2 = n2.log_lines().size(), from3 = n3.log_lines().size();
  auto t0 = sys_clock::now();
  c.link("n1", "n2").cut();
  auto x1 = wait_line(c, n1, event_is("node_unreachable", "n2"), 5s, "node_unreachable n2 (cut)",
                      from1);
  auto x2 = wait_line(c, n2, event_is("node_unreachable", "n1"), 5s, "node_unreachable n1 (cut)",
                      from2);
  ASSERT_TRUE(x1 && x2);
  report("cut -> node_unreachable on n1", ms_since(t0, *x1), 100);
  EXPECT_EQ(x1->value("reason", ""), "connection lost");
  EXPECT_EQ(x2->value("reason", ""), "connection lost");
  ASSERT_TRUE(c.wait_until([&] { return !downed_on_n3(from3).empty(); }, 6s,
                           "n3 downs an indirectly connected end"));
  // Both ends may decide at once: give the second notice a moment.
  std::this_thread::sleep_for(300ms);
  auto downed = downed_on_n3(from3);
  for (auto& [end, line] : downed) {
    std::cout << "[ observed ] cut: n3 downed " << end << ": " << line.dump() << std::endl;
    EXPECT_TRUE(line.value("reason", "").starts_with("indirectly connected")) << line.dump();
  }
  report("cut -> first node_down on n3", ms_since(t0, downed.front().second), 2500);
  for (auto* n : {&n1, &n2})
    EXPECT_EQ(count_lines(*n, [](const json& l) {
                return event_is("node_down")(l) && l.value("reason", "") == "process gone";
              }), 0u) << n->name() << ": the probe dials the real address, not the proxy";
  n3_never_downed(from1, from2);
  EXPECT_EQ(n3.member_state("n3"), "up");

  auto t1 = sys_clock::now();
  c.link("n1", "n2").restore();
  ASSERT_TRUE(c.wait_converged(15s));
  report("restore after cut -> all up",
         static_cast<long>(
             std::chrono::duration_cast<std::chrono::milliseconds>(sys_clock::now() - t1).count()),
         5000);
  for (auto& [end, line] : downed) {
    auto up = find_line(n3, event_is("node_up", end), from3);
    ASSERT_TRUE(up) << end;
    EXPECT_EQ(up->value("reason", ""), "rejoined") << up->dump();
    auto back_after = ms_since(t0, *up) - ms_since(t0, line);
    std::cout << "[ observed ] " << end << " back on n3 after " << back_after
              << " ms (quarantine 2000 ms)" << std::endl;
    EXPECT_GE(back_after, 1950) << end;
  }
  EXPECT_EQ(n1.pid(), pid1);
  EXPECT_EQ(n2.pid(), pid2);
  EXPECT_EQ(incarnation_seen(n1, "n2"), inc2);
  EXPECT_EQ(incarnation_seen(n2, "n1"), inc1);
  auto n3_up_for_all = [&] {
    return n1.member_state("n3") == "up" && n2.member_state("n3") == "up"
           && n3.member_state("n1") == "up" && n3.member_state("n2") == "up";
  };

  // --- blackhole ---
  from1 = n1.log_lines().size();
  from2 = n2.log_lines().size();
  from3 = n3.log_lines().size();
  t0 = sys_clock::now();
  c.link("n1", "n2").blackhole();
  auto b1 = wait_line(c, n1, event_is("node_unreachable", "n2"), 6s,
                      "node_unreachable n2 (blackhole)", from1);
  auto b2 = wait_line(c, n2, event_is("node_unreachable", "n1"), 6s,
                      "node_unreachable n1 (blackhole)", from2);
  ASSERT_TRUE(b1 && b2);
  report("blackhole -> node_unreachable on n1", ms_since(t0, *b1), 2000);
  EXPECT_EQ(b1->value("reason", ""), "") << "a blackhole sends no FIN: the detector, no loss";
  EXPECT_GT(c.proxy("n1", "n2").stats().bytes_dropped + c.proxy("n2", "n1").stats().bytes_dropped,
            0u);

  t1 = sys_clock::now();
  c.link("n1", "n2").restore();
  ASSERT_TRUE(c.wait_converged(20s));
  for (auto& [end, line] : downed_on_n3(from3))
    EXPECT_TRUE(line.value("reason", "").starts_with("indirectly connected")) << line.dump();
  n3_never_downed(from1, from2);
  ASSERT_TRUE(c.wait_until(n3_up_for_all, 5s, "n3 and its links are up"));
  report("restore after blackhole -> all up",
         static_cast<long>(
             std::chrono::duration_cast<std::chrono::milliseconds>(sys_clock::now() - t1).count()),
         5000);
  EXPECT_EQ(incarnation_seen(n1, "n2"), inc2);
  EXPECT_EQ(incarnation_seen(n2, "n1"), inc1);
  EXPECT_EQ(count_lines(n1, event_is("node_removed", "n2")), 0u);
}

// 7. Restart n2 (same port): old incarnation removed, new one up, its global names back.
TEST(cluster, restarted_node_replaces_its_old_incarnation) {
  test_cluster c{WARDEN_BIN, 3, {.start = false}};
  c.node("n2").options().tree = c.write_file("n2_tree.toml", global_echo_tree("store"));
  c.start_all();
  ASSERT_TRUE(c.wait_all_ready(15s));
  ASSERT_TRUE(c.wait_converged(15s));
  auto old_inc = incarnation_seen(c.node("n1"), "n2");
  ASSERT_TRUE(c.wait_until([&] { return sees_name(c.node("n1"), "store", "n2", old_inc); }, 10s,
                           "n1 lists store owned by n2"));
  auto from1 = c.node("n1").log_lines().size(), from3 = c.node("n3").log_lines().size();

  c.node("n2").restart();
  ASSERT_TRUE(c.node("n2").wait_ready(15s)) << c.diagnostics();
  auto new_inc = own_incarnation(c.node("n2"));
  ASSERT_NE(new_inc, 0u);
  EXPECT_GT(new_inc, old_inc);

  for (auto* n : {&c.node("n1"), &c.node("n3")}) {
    auto from = n == &c.node("n1") ? from1 : from3;
    auto removed = wait_line(
        c, *n,
        [&](const json& l) {
          return event_is("node_removed", "n2")(l)
                 && l.value("incarnation", uint64_t{0}) == old_inc;
        },
        10s, "node_removed n2 (old incarnation)", from);
    auto up = wait_line(
        c, *n,
        [&](const json& l) {
          return event_is("node_up", "n2")(l) && l.value("incarnation", uint64_t{0}) == new_inc;
        },
        10s, "node_up n2 (new incarnation)", from);
    ASSERT_TRUE(removed && up);
    EXPECT_EQ(removed->value("reason", ""), "replaced by incarnation " + std::to_string(new_inc))
        << removed->dump();
    ASSERT_TRUE(c.wait_until([&] { return sees_name(*n, "store", "n2", new_inc); }, 10s,
                             n->name() + " lists store owned by the new n2"));
  }
  ASSERT_TRUE(c.wait_converged(15s));
  EXPECT_EQ(incarnation_seen(c.node("n1"), "n2"), new_inc);
  EXPECT_EQ(incarnation_seen(c.node("n3"), "n2"), new_inc);
}

// 8. Wrong secret / cluster / detector settings: join_refused on both sides, never a member.
class refused_join : public ::testing::TestWithParam<const char*> {};

TEST_P(refused_join, is_logged_on_both_sides_and_never_a_member) {
  std::string expected = GetParam();
  test_cluster c{WARDEN_BIN, 2};
  ASSERT_TRUE(c.wait_all_ready(15s));
  ASSERT_TRUE(c.wait_converged(15s));
  auto bad = outsider(c, "intruder");
  // Redial quickly after a refusal so that the acceptor logs a second one soon.
  bad->options().extra_args
      = {"--set", "cluster.reconnect_min_ms=100", "--set", "cluster.reconnect_max_ms=500"};
  if (expected == "auth_failed")
    bad->options().secret = "another-secret";
  else if (expected == "cluster_mismatch")
    bad->options().cluster = "another-cluster";
  else
    bad->options().extra_args.insert(bad->options().extra_args.end(),
                                     {"--set", "failure_detector.heartbeat_interval_ms=300"});
  auto refused_with = [&](const json& l) {
    return event_is("join_refused")(l) && l.value("reason", "").find(expected) != std::string::npos;
  };
  bad->start();

  auto theirs = wait_line(c, *bad, refused_with, 10s, "join_refused " + expected);
  auto ours = wait_line(c, c.node("n1"), refused_with, 10s, "join_refused " + expected);
  ASSERT_TRUE(theirs && ours);
  std::cout << "[ observed ] refusing side: " << ours->dump()
            << "\n[ observed ] refused side: " << theirs->dump() << std::endl;
  EXPECT_EQ(ours->value("peer", ""), "intruder") << ours->dump();
  // The intruder keeps trying: after another refusal it is still nobody's member.
  ASSERT_TRUE(c.wait_until([&] { return count_lines(c.node("n1"), refused_with) >= 2; }, 10s,
                           "n1 refuses the intruder a second time"));
  for (auto& name : c.names()) {
    auto m = c.node(name).members();
    ASSERT_TRUE(m.is_object());
    for (auto& row : m["members"]) {
      EXPECT_NE(row.value("name", ""), "intruder") << name << ": " << m.dump();
      EXPECT_NE(row.value("address", ""), bad->address()) << name << ": " << m.dump();
    }
    EXPECT_EQ(count_lines(c.node(name), event_is("node_up", "intruder")), 0u);
  }
  EXPECT_EQ(bad->member_state("n1"), "");
  EXPECT_EQ(count_lines(*bad, event_is("node_up")), 0u);
  EXPECT_EQ(count_lines(c.node("n1"), event_is("node_down", "n2")), 0u);
}

INSTANTIATE_TEST_SUITE_P(cluster, refused_join,
                         ::testing::Values("auth_failed", "cluster_mismatch", "settings_mismatch"),
                         [](const auto& info) { return std::string{info.param}; });

// 9. Garbage and half-open connections on the node port: peers, HTTP and joins unaffected;
//    each connection is closed (silent ones at the handshake deadline) and logged with its
//    address as connection_rejected.
TEST(cluster, hostile_bytes_and_half_open_connections_do_not_hurt_the_node) {
  test_cluster c{WARDEN_BIN, 3, {.start = false}};
  c.node("n1").start();
  c.node("n2").start();
  ASSERT_TRUE(c.wait_until(
      [&] {
        return c.node("n1").member_state("n2") == "up" && c.node("n2").member_state("n1") == "up";
      },
      15s, "n1 and n2 see each other up"));
  auto port = c.node("n1").options().port;
  auto from2 = c.node("n2").log_lines().size();

  std::vector<half_open_connection> silent;
  for (int i = 0; i < 8; ++i) {
    silent.emplace_back(port);
    ASSERT_TRUE(silent.back().connected()) << "half-open connection " << i;
  }
  struct probe {
    const char* what;
    std::string bytes;
  };
  std::vector<probe> probes{
      {"64 KiB of random bytes", random_bytes(64 * 1024, 7)},
      {"16 random bytes (half a header)", random_bytes(16, 9)},
      {"BASP client_handshake header + 64 garbage bytes", fake_basp(1, 64, random_bytes(64, 11))},
      {"BASP direct_message before any handshake", fake_basp(2, 8, random_bytes(8, 13))},
      {"BASP server_handshake header announcing 1 KiB, never sent", fake_basp(0, 1024, "")},
  };
  std::vector<std::string> hostile_locals;
  for (auto& p : probes) {
    auto r = send_garbage(port, p.bytes, 1s);
    hostile_locals.push_back(r.local);
    std::cout << "[ observed ] " << p.what << ": connected " << r.connected << ", written "
              << r.written << "/" << p.bytes.size() << ", "
              << (r.closed ? (r.reset ? "reset (RST)" : "closed (FIN)") : "still open") << " after "
              << r.after.count() << " ms" << std::endl;
    EXPECT_TRUE(r.connected) << p.what;
    auto rejected = wait_line(
      c, c.node("n1"),
      [&](const json& l) {
        return event_is("connection_rejected")(l) && l.value("address", "") == r.local;
      },
      5s, std::string{"connection_rejected for "} + p.what);
    ASSERT_TRUE(rejected);
    std::cout << "[ observed ]   logged: " << rejected->value("reason", "") << std::endl;
    auto alive = c.node("n1").http_get("/health/alive");
    ASSERT_TRUE(alive) << "n1 stopped answering after: " << p.what;
    EXPECT_EQ(alive->first, 200);
  }
  EXPECT_TRUE(c.node("n1").running());

  // A new node joins (and is joined by n1) while the silent connections are still open.
  c.node("n3").start();
  ASSERT_TRUE(c.wait_converged(15s));
  EXPECT_EQ(count_lines(c.node("n2"), event_is("node_down", "n1"), from2), 0u);
  EXPECT_EQ(count_lines(c.node("n2"), event_is("node_unreachable", "n1"), from2), 0u);

  // Silent connections are closed at the handshake deadline (2 s), each logged once.
  for (std::size_t i = 0; i < silent.size(); ++i) {
    auto closed = silent[i].wait_closed(10s);
    ASSERT_TRUE(closed) << "half-open connection " << i << " still open";
    EXPECT_GE(*closed, 1900ms) << "half-open connection " << i;
    auto logged = [&](const json& l) {
      return event_is("connection_rejected")(l) && l.value("address", "") == silent[i].local()
             && l.value("reason", "").starts_with("no handshake within 2000 ms");
    };
    EXPECT_TRUE(wait_line(c, c.node("n1"), logged, 5s, "half-open connection logged"));
    if (i == 0)
      std::cout << "[ observed ] half-open connection: closed by n1 after " << closed->count()
                << " ms" << std::endl;
  }
  // One line per hostile connection. Peers that joined meanwhile add none, except when two
  // nodes dial each other at once: CAF keeps one connection and the dialer closes the
  // other after sending its handshake (seen once in CI), logged as closed by the remote.
  std::set<std::string> hostile(hostile_locals.begin(), hostile_locals.end());
  for (auto& h : silent)
    hostile.insert(h.local());
  std::size_t from_hostile = 0;
  for (auto& l : c.node("n1").log_lines()) {
    if (!event_is("connection_rejected")(l))
      continue;
    if (hostile.count(l.value("address", "")) > 0)
      ++from_hostile;
    else
      EXPECT_TRUE(l.value("reason", "").starts_with("closed by the remote before the handshake"))
        << "a rejection not caused by the test: " << l.dump();
  }
  EXPECT_EQ(from_hostile, probes.size() + silent.size());
  auto alive = c.node("n1").http_get("/health/alive");
  ASSERT_TRUE(alive);
  EXPECT_EQ(alive->first, 200);
}

// 9b. A 32-byte BASP header announcing ~4 GiB must not stall the node. CAF 0.17.6 resizes
//     its read buffer to the announced payload_len before any handshake (zero-filling 4 GiB
//     on the node's only I/O thread); the port guard refuses the header first.
TEST(cluster, huge_announced_payload_does_not_stall_the_node) {
  test_cluster c{WARDEN_BIN, 2, {.start = false}};
  c.node("n1").options().seeds.clear(); // forms the cluster alone; n2 joins it later
  c.node("n1").start();
  ASSERT_TRUE(c.node("n1").wait_ready(15s)) << c.diagnostics();
  auto r = send_garbage(c.node("n1").options().port, fake_basp(1, 0xfffffff0u, ""), 200ms);
  EXPECT_TRUE(r.connected);
  auto rejected = wait_line(
    c, c.node("n1"),
    [&](const json& l) {
      return event_is("connection_rejected")(l) && l.value("address", "") == r.local;
    },
    5s, "connection_rejected for the huge header");
  ASSERT_TRUE(rejected);
  EXPECT_NE(rejected->value("reason", "").find("announces 4294967280 bytes"), std::string::npos)
    << rejected->dump();
  c.node("n2").start();
  ASSERT_TRUE(c.wait_converged(5s));
  std::ifstream status{"/proc/" + std::to_string(c.node("n1").pid()) + "/status"};
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) {
      std::cout << "[ observed ] n1 " << line << std::endl;
      EXPECT_LT(std::stol(line.substr(6)), 512L * 1024) << "kB";
    }
}

// 10. Bad TOML, unknown key, bad port, missing secret: exit 2, clear stderr, no process left.
TEST(cluster, malformed_settings_exit_2_with_a_clear_message) {
  test_cluster c{WARDEN_BIN, 1, {.start = false}};
  auto bad_toml = c.write_file("bad.toml", "[node]\nport = = 3\n");
  auto unknown = c.write_file("unknown.toml", "[node]\nprot = 7100\n");
  struct bad_case {
    std::string what;
    std::vector<std::string> args;
    std::string secret;
    std::string message;
  };
  std::vector<bad_case> cases{
      {"bad TOML", {"--config", bad_toml}, "s", "bad.toml:2: syntax"},
      {"unknown key in the file",
       {"--config", unknown},
       "s",
       "unknown.toml:2: unknown setting 'node.prot' (did you mean 'node.port'?)"},
      {"unknown key in --set",
       {"--set", "cluster.sekret=x"},
       "s",
       "unknown setting 'cluster.sekret'"},
      {"bad port", {"--port", "70000"}, "s", "--port 70000: expected an integer 0..65535"},
      {"missing secret", {}, "", "cluster.secret is required"},
  };
  for (auto& bc : cases) {
    SCOPED_TRACE(bc.what);
    auto& n = c.node("n1");
    n.options().extra_args = bc.args;
    n.options().secret = bc.secret;
    ASSERT_TRUE(run_to_exit(c, n, 10s));
    EXPECT_EQ(n.exit_status(), 2);
    auto out = output_of(n);
    EXPECT_NE(out.find(bc.message), std::string::npos) << "output: " << out;
    EXPECT_EQ(::kill(n.pid(), 0), -1);
    EXPECT_EQ(errno, ESRCH) << "pid " << n.pid() << " is still there";
    EXPECT_TRUE(n.log_lines().empty()) << "nothing was started, nothing logged";
  }
}

// 10b. A malformed tree file: exit 2 with the parser's message (the node port is already up).
TEST(cluster, malformed_tree_file_exits_2) {
  test_cluster c{WARDEN_BIN, 1, {.start = false}};
  auto& n = c.node("n1");
  n.options().tree = c.write_file("bad_tree.toml", "name = \"root\"\n[[children]\nid = 1\n");
  ASSERT_TRUE(run_to_exit(c, n, 5s));
  EXPECT_EQ(n.exit_status(), 2);
  EXPECT_NE(output_of(n).find("bad_tree.toml"), std::string::npos) << output_of(n);
}

// 10c. A tree whose child fails its first start: exit 1 with failed_to_start_child.
TEST(cluster, tree_that_fails_to_start_exits_1) {
  test_cluster c{WARDEN_BIN, 1, {.start = false}};
  auto& n = c.node("n1");
  n.options().tree
      = c.write_file("failing_tree.toml",
                     "name = \"root\"\n[[children]]\nid = \"f\"\nservice = \"failing_start\"\n");
  ASSERT_TRUE(run_to_exit(c, n, 5s));
  EXPECT_EQ(n.exit_status(), 1);
  EXPECT_NE(output_of(n).find("failed_to_start_child"), std::string::npos) << output_of(n);
}

// 11. Every node's tree exports a global echo: all three names visible on every node (HTTP).
TEST(cluster, global_names_from_every_tree_are_visible_everywhere) {
  test_cluster c{WARDEN_BIN, 3, {.start = false}};
  for (auto& name : c.names())
    c.node(name).options().tree
        = c.write_file(name + "_tree.toml", global_echo_tree("echo_" + name));
  c.start_all();
  ASSERT_TRUE(c.wait_all_ready(15s));
  ASSERT_TRUE(c.wait_converged(15s));
  ASSERT_TRUE(c.wait_until(
      [&] {
        for (auto& viewer : c.names())
          for (auto& owner : c.names())
            if (!sees_name(c.node(viewer), "echo_" + owner, owner, own_incarnation(c.node(owner))))
              return false;
        return true;
      },
      10s, "every node lists echo_n1, echo_n2, echo_n3 with their owners"));
  for (auto& viewer : c.names()) {
    auto names = names_of(c.node(viewer));
    EXPECT_EQ(names["names"].size(), 3u) << viewer << ": " << names.dump();
    EXPECT_TRUE(names["lost"].empty()) << viewer << ": " << names.dump();
    for (auto& owner : c.names())
      EXPECT_EQ(name_entry(names, "names", "echo_" + owner).value("address", ""),
                c.node(owner).address());
  }
  auto tree = c.node("n2").http_get("/tree");
  ASSERT_TRUE(tree);
  EXPECT_EQ(tree->first, 200);
  EXPECT_NE(tree->second.dump().find("echo"), std::string::npos) << tree->second.dump();
}

// 12. Node or HTTP port in use: exit 1, "bind_failed" ... "Address already in use".
TEST(cluster, port_in_use_exits_1_with_bind_failed) {
  test_cluster c{WARDEN_BIN, 1, {.start = false}};
  auto& n = c.node("n1");
  for (bool http : {false, true}) {
    SCOPED_TRACE(http ? "http port" : "node port");
    port_holder taken{http ? n.options().http_port : n.options().port};
    ASSERT_TRUE(taken.ok());
    ASSERT_TRUE(run_to_exit(c, n, 10s));
    EXPECT_EQ(n.exit_status(), 1);
    auto out = output_of(n);
    auto bind_failed = out.find("bind_failed");
    EXPECT_NE(bind_failed, std::string::npos) << out;
    EXPECT_NE(
        out.find("Address already in use", bind_failed == std::string::npos ? 0 : bind_failed),
        std::string::npos)
        << out;
    auto port = std::to_string(http ? n.options().http_port : n.options().port);
    EXPECT_NE(out.find(port), std::string::npos) << "the message names the port: " << out;
  }
}
