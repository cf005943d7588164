// The node agent on the deterministic scheduler: several agents in one actor system, a
// fake transport instead of CAF's middleman, an injected clock and an injected process
// probe. "Freezing" an agent keeps its jobs off the scheduler (its mailbox fills, like a
// SIGSTOPped process). Numbered from simple to complex.
#include <optional>
#include <set>

#include <caf/all.hpp>
#include <caf/forwarding_actor_proxy.hpp>
#include <nlohmann/json.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <gtest/gtest.h>

#include "warden/atoms.hpp"
#include "warden/cluster_event.hpp"
#include "warden/errors.hpp"
#include "warden/node_agent.hpp"

using namespace std::chrono_literals;
using namespace warden;

namespace {

using echo_atom = caf::atom_constant<caf::atom("echo")>;

struct agent_config : caf::actor_system_config {
  agent_config() {
    set("scheduler.policy", caf::atom("testing"));
    set("logger.verbosity", caf::atom("quiet"));
    configure(*this);
    add_node_message_types(*this);
  }
};

struct test_node {
  std::string address;
  caf::actor agent;
  std::shared_ptr<cluster_view> view;
  std::shared_ptr<recording_cluster_sink> events;

  std::string state_of(const std::string& address) const {
    auto m = row(address);
    return m ? to_string(m->state) : "";
  }

  std::optional<member_status> row(const std::string& address) const {
    for (auto& m : view->get()->members)
      if (m.info.address == address)
        return m;
    return std::nullopt;
  }
};

const std::string a_addr = "127.0.0.1:7001";
const std::string b_addr = "127.0.0.1:7002";
const std::string c_addr = "127.0.0.1:7003";
/// The aliases b and c dial each other through in a bridge (agent_test::start_bridge).
const std::string b_alias = "127.0.0.1:17002", c_alias = "127.0.0.1:17003";

class agent_test : public ::testing::Test {
protected:
  agent_test()
    : sys(cfg), sched(dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())) {
    sys.await_actors_before_shutdown(false);
    transport = sys.spawn([this](caf::event_based_actor*) -> caf::behavior {
      return {
        [this](caf::connect_atom, const std::string& host, uint16_t port)
          -> caf::result<caf::node_id, caf::strong_actor_ptr, std::set<std::string>> {
          auto address = host + ":" + std::to_string(port);
          if (lose_next_dial.erase(address) > 0)
            return {sys.node(), lost_proxy(), std::set<std::string>{}};
          auto i = listening.find(address);
          if (i == listening.end())
            return caf::make_error(caf::sec::cannot_connect_to_node, address);
          return {sys.node(), caf::actor_cast<caf::strong_actor_ptr>(i->second),
                  std::set<std::string>{}};
        },
      };
    });
  }

  ~agent_test() override {
    for (auto& [address, a] : listening)
      caf::anon_send_exit(a, caf::exit_reason::kill);
    for (auto& a : extra)
      caf::anon_send_exit(a, caf::exit_reason::kill);
    caf::anon_send_exit(transport, caf::exit_reason::kill);
    frozen.clear();
    run();
  }

  agent_settings settings(const std::string& name, uint16_t port,
                          std::vector<std::string> seeds) {
    agent_settings s;
    s.self = {name, "127.0.0.1:" + std::to_string(port), ++incarnations, ""};
    s.cluster = "test";
    s.secret = "secret";
    s.seeds = std::move(seeds);
    s.wall_clock_us = [this] { return ++wall_clock; };
    // The raw TCP probe: a listening node accepts, a crashed one refuses; an address in
    // `probe_accepts` accepts without being dialable (a live node behind a cut link).
    s.probe = [this](const std::string& address) {
      ++probes;
      return listening.count(address) > 0 || probe_accepts.count(address) > 0
               ? probe_result::accepted
               : probe_result::refused;
    };
    return s;
  }

  /// Settings whose resolver waits `stable_after` (every member must share it).
  agent_settings settings(const std::string& name, uint16_t port, std::vector<std::string> seeds,
                          caf::timespan stable_after) {
    auto s = settings(name, port, std::move(seeds));
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(stable_after);
    s.downing = downing_settings{ms, 3 * ms};
    return s;
  }

  test_node start(agent_settings s) {
    test_node n;
    n.address = s.self.address;
    n.events = std::make_shared<recording_cluster_sink>();
    n.view = std::make_shared<cluster_view>();
    s.events = n.events;
    s.view = n.view;
    n.agent = spawn_node_agent(sys, std::move(s), transport, false);
    listening[n.address] = n.agent;
    extra.push_back(n.agent);  // stopped at the end even when no longer listening
    run();
    return n;
  }

  test_node start(const std::string& name, uint16_t port, std::vector<std::string> seeds) {
    return start(settings(name, port, std::move(seeds)));
  }

  /// The deterministic clock's time.
  caf::actor_clock::time_point clock_now() { return sched.clock().current_time; }

  bool is_frozen(caf::resumable* job) const {
    auto* a = dynamic_cast<caf::abstract_actor*>(job);
    return a != nullptr && frozen.count(a) > 0;
  }

  /// Runs every job except those of frozen agents.
  void run() {
    for (;;) {
      auto& jobs = sched.jobs;
      auto i = std::find_if(jobs.begin(), jobs.end(), [&](auto* j) { return !is_frozen(j); });
      if (i == jobs.end())
        return;
      if (i != jobs.begin()) {
        auto* job = *i;
        jobs.erase(i);
        jobs.push_front(job);
      }
      sched.run_once();
    }
  }

  /// Lets `d` pass in steps of 10 ms (timers fire in order, like real time).
  void advance(caf::timespan d) {
    for (caf::timespan t{0}; t < d; t += 10ms) {
      sched.advance_time(10ms);
      run();
    }
  }

  void freeze(const test_node& n) { frozen.insert(caf::actor_cast<caf::abstract_actor*>(n.agent)); }
  void thaw(const test_node& n) {
    frozen.erase(caf::actor_cast<caf::abstract_actor*>(n.agent));
    run();
  }

  /// The node's process dies: its connections close (CAF's reason for that).
  void crash(const test_node& n) {
    listening.erase(n.address);
    caf::anon_send_exit(n.agent, caf::exit_reason::remote_link_unreachable);
    run();
  }

  /// `at`'s connection to `to` closes (CAF reports it like a crash) while `to` lives on.
  void lose_connection(const test_node& at, const test_node& to) {
    caf::anon_send(at.agent, caf::down_msg{to.agent.address(),
                                           caf::exit_reason::remote_link_unreachable});
    run();
  }

  /// Three members a, b, c (a the smallest address) in a full mesh, 3 s after they started;
  /// b and c reach each other only through aliases, so `cut_bridge` can part them while
  /// both still reach a.
  struct bridge {
    test_node a, b, c;
  };

  bridge start_bridge(std::optional<caf::timespan> stable_after = {}) {
    auto member = [&](const std::string& name, uint16_t port) {
      return stable_after ? settings(name, port, {a_addr}, *stable_after)
                          : settings(name, port, {a_addr});
    };
    bridge n;
    n.a = start(member("a", 7001));
    auto sb = member("b", 7002);
    sb.connect_via[c_addr] = c_alias;
    n.b = start(sb);
    listening[b_alias] = n.b.agent;
    auto sc = member("c", 7003);
    sc.connect_via[b_addr] = b_alias;
    n.c = start(sc);
    listening[c_alias] = n.c.agent;
    advance(3s);
    return n;
  }

  /// Cuts the link between b and c: their connection closes and neither can redial.
  void cut_bridge(const bridge& n) {
    listening.erase(b_alias);
    listening.erase(c_alias);
    lose_connection(n.b, n.c);
    lose_connection(n.c, n.b);
  }

  /// Advances in 10 ms steps until `pred` holds or `limit` passed; the time it took.
  template <class Pred>
  caf::timespan advance_until(Pred pred, caf::timespan limit) {
    caf::timespan waited{0};
    while (!pred() && waited < limit) {
      advance(10ms);
      waited += 10ms;
    }
    return waited;
  }

  /// The last event of `kind` about `peer` in `n`'s log (kind node_up if none).
  static std::optional<cluster_event> last_event(const test_node& n, cluster_event_kind kind,
                                                 const std::string& peer) {
    std::optional<cluster_event> out;
    for (auto& ev : n.events->events())
      if (ev.kind == kind && ev.peer == peer)
        out = ev;
    return out;
  }

  template <class T, class... Ts>
  caf::expected<T> call(const caf::actor& dest, Ts... xs) {
    auto out = std::make_shared<std::optional<caf::expected<T>>>();
    extra.push_back(sys.spawn([=](caf::event_based_actor* self) {
      self->request(dest, 10s, xs...)
        .then([out](T& x) { *out = std::move(x); },
              [out](caf::error& err) { *out = std::move(err); });
    }));
    run();
    if (!*out)
      return caf::make_error(caf::sec::request_timeout, std::string{"no answer yet"});
    return **out;
  }

  caf::actor echo() {
    auto a = sys.spawn([](caf::event_based_actor*) -> caf::behavior {
      return {[](echo_atom, const std::string& x) { return x; }};
    });
    extra.push_back(a);
    return a;
  }

  /// A proxy like CAF's for an actor on a node whose connection is closing: it forwards
  /// nothing (CAF's broker dropped the message), and `kill_proxy` makes it gone.
  caf::strong_actor_ptr lost_proxy() {
    caf::actor_config conf;
    last_lost_proxy = caf::make_actor<caf::forwarding_actor_proxy, caf::strong_actor_ptr>(
      caf::actor_id{4242}, sys.node(), &sys, conf, caf::actor{});
    return last_lost_proxy;
  }

  /// CAF closes the connection `lost_proxy()` stood for: the proxy is killed.
  void kill_lost_proxy() {
    auto* actor = caf::actor_cast<caf::abstract_actor*>(last_lost_proxy);
    auto* proxy = static_cast<caf::actor_proxy*>(actor);
    proxy->kill_proxy(nullptr, caf::exit_reason::remote_link_unreachable);
    run();
  }

  agent_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;
  caf::actor transport;
  std::map<std::string, caf::actor> listening;
  std::set<caf::abstract_actor*> frozen;
  std::vector<caf::actor> extra;
  std::set<std::string> probe_accepts;
  /// Addresses whose next dial connects to a `lost_proxy()`.
  std::set<std::string> lose_next_dial;
  caf::strong_actor_ptr last_lost_proxy;
  size_t probes = 0;
  uint64_t incarnations = 1000;
  uint64_t wall_clock = 0;
};

// --- 1xx: joining ----------------------------------------------------------------------

// A node with no other seed forms the cluster alone; a second one joins through it.
TEST_F(agent_test, t101_two_nodes_join_through_a_seed) {
  auto a = start("a", 7001, {a_addr});
  EXPECT_TRUE(a.view->get()->joined);
  auto b = start("b", 7002, {a_addr});
  EXPECT_EQ(a.state_of(b_addr), "up");
  EXPECT_EQ(b.state_of(a_addr), "up");
  EXPECT_TRUE(b.view->get()->joined);
  EXPECT_EQ(a.events->trace(), (std::vector<std::string>{"node_up:b"}));
  EXPECT_EQ(b.events->trace(), (std::vector<std::string>{"node_up:a"}));
}

// A node that only knows one seed learns the other members from it: full mesh.
TEST_F(agent_test, t102_full_mesh_from_one_seed) {
  auto a = start("a", 7001, {a_addr});
  auto b = start("b", 7002, {a_addr});
  auto c = start("c", 7003, {a_addr});
  EXPECT_EQ(c.state_of(b_addr), "up");
  EXPECT_EQ(b.state_of(c_addr), "up");
  EXPECT_EQ(a.view->get()->members.size(), 3u);
}

// A seed that is not there yet is redialed with backoff until it answers.
TEST_F(agent_test, t103_seed_started_later_is_found_by_redial) {
  auto b = start("b", 7002, {a_addr});
  EXPECT_FALSE(b.view->get()->joined);
  advance(1s);
  auto a = start("a", 7001, {a_addr});
  advance(6s);  // at most reconnect_max between attempts
  EXPECT_EQ(b.state_of(a_addr), "up");
  EXPECT_TRUE(b.view->get()->joined);
}

// Two nodes that dial each other at once: CAF closes one of the two connections, and a
// handshake may be talking to the proxy it killed, which drops the hello without a word.
// The dial is given up at the next tick and redialed, not after the handshake timeout.
TEST_F(agent_test, t104_a_handshake_cut_by_a_closing_connection_is_redialed_at_once) {
  auto a = start("a", 7001, {a_addr});
  lose_next_dial.insert(a_addr);
  auto b = start("b", 7002, {a_addr});
  ASSERT_EQ(b.state_of(a_addr), "");
  ASSERT_TRUE(last_lost_proxy);
  kill_lost_proxy();
  auto waited = advance_until([&] { return b.state_of(a_addr) == "up"; }, 5s);
  EXPECT_EQ(b.state_of(a_addr), "up");
  EXPECT_EQ(a.state_of(b_addr), "up");
  EXPECT_LT(waited, 500ms) << "a tick (100 ms) and reconnect_min (200 ms +-20%), not 2 s";
}

// --- 2xx: refusals, on both sides -----------------------------------------------------

TEST_F(agent_test, t201_wrong_secret_is_refused_on_both_sides) {
  auto a = start("a", 7001, {a_addr});
  auto s = settings("b", 7002, {a_addr});
  s.secret = "wrong";
  auto b = start(s);
  EXPECT_EQ(a.state_of(b_addr), "");
  EXPECT_EQ(b.state_of(a_addr), "");
  ASSERT_EQ(a.events->count(cluster_event_kind::join_refused), 1u);
  ASSERT_EQ(b.events->count(cluster_event_kind::join_refused), 1u);
  EXPECT_NE(a.events->events()[0].reason.find("auth_failed"), std::string::npos);
  EXPECT_NE(b.events->events()[0].reason.find("auth_failed"), std::string::npos);
  // Both sides name the other: the dialer learnt the acceptor from its challenge.
  EXPECT_EQ(a.events->events()[0].peer, "b");
  EXPECT_EQ(b.events->events()[0].peer, "a");
  EXPECT_EQ(b.events->events()[0].address, a_addr);
}

// An acceptor that cannot prove the secret is named by the dialer too (refused after the
// challenge, on the dialer's side).
TEST_F(agent_test, t201b_acceptor_without_the_secret_is_named_by_the_dialer) {
  auto s = settings("a", 7001, {a_addr});
  s.secret = "wrong";
  auto a = start(s);
  auto b = start("b", 7002, {a_addr});
  ASSERT_EQ(b.events->count(cluster_event_kind::join_refused), 1u);
  auto ev = b.events->events()[0];
  EXPECT_EQ(ev.peer, "a");
  EXPECT_EQ(ev.address, a_addr);
  EXPECT_NE(ev.reason.find("auth_failed"), std::string::npos) << ev.reason;
  EXPECT_EQ(b.state_of(a_addr), "");
}

TEST_F(agent_test, t202_other_cluster_name_is_refused) {
  auto a = start("a", 7001, {a_addr});
  auto s = settings("b", 7002, {a_addr});
  s.cluster = "other";
  auto b = start(s);
  ASSERT_EQ(a.events->count(cluster_event_kind::join_refused), 1u);
  EXPECT_NE(a.events->events()[0].reason.find("cluster_mismatch"), std::string::npos);
  ASSERT_EQ(b.events->count(cluster_event_kind::join_refused), 1u);
  EXPECT_NE(b.events->events()[0].reason.find("cluster_mismatch"), std::string::npos);
  // The hello was refused before any challenge: the dialer knows only the address.
  EXPECT_EQ(b.events->events()[0].peer, "");
  EXPECT_EQ(b.events->events()[0].address, a_addr);
}

TEST_F(agent_test, t203_other_detector_settings_are_refused) {
  auto a = start("a", 7001, {a_addr});
  auto s = settings("b", 7002, {a_addr});
  s.heartbeat_interval = 500ms;
  auto b = start(s);
  ASSERT_EQ(b.events->count(cluster_event_kind::join_refused), 1u);
  EXPECT_NE(b.events->events()[0].reason.find("settings_mismatch"), std::string::npos);
  EXPECT_NE(b.events->events()[0].reason.find("heartbeat=500ms"), std::string::npos);
}

TEST_F(agent_test, t204_other_message_types_are_refused) {
  auto a = start("a", 7001, {a_addr});
  auto s = settings("b", 7002, {a_addr});
  s.message_types = {"shop.order"};
  auto b = start(s);
  ASSERT_EQ(a.events->count(cluster_event_kind::join_refused), 1u);
  EXPECT_NE(a.events->events()[0].reason.find("types_mismatch"), std::string::npos);
  EXPECT_EQ(b.state_of(a_addr), "");
}

// A refused node is reported once, not on every redial.
TEST_F(agent_test, t205_refusal_is_reported_once_per_reason) {
  auto a = start("a", 7001, {a_addr});
  auto s = settings("b", 7002, {a_addr});
  s.secret = "wrong";
  auto b = start(s);
  advance(20s);
  EXPECT_EQ(b.events->count(cluster_event_kind::join_refused), 1u);
  EXPECT_EQ(b.events->events()[0].peer, "a");
  EXPECT_EQ(b.state_of(a_addr), "");
}

// Levels of the cluster events (cluster_event.hpp's table) and the newest kind's name.
TEST(cluster_event_levels, membership_progress_is_info_trouble_is_warn) {
  auto level = [](cluster_event_kind k) {
    cluster_event ev;
    ev.kind = k;
    return severity(ev);
  };
  EXPECT_EQ(level(cluster_event_kind::node_up), log_level::info);
  EXPECT_EQ(level(cluster_event_kind::node_reachable), log_level::info);
  EXPECT_EQ(level(cluster_event_kind::node_removed), log_level::info);
  EXPECT_EQ(level(cluster_event_kind::node_unreachable), log_level::warn);
  EXPECT_EQ(level(cluster_event_kind::node_down), log_level::warn);
  EXPECT_EQ(level(cluster_event_kind::join_refused), log_level::warn);
  EXPECT_EQ(level(cluster_event_kind::name_conflict), log_level::warn);
  EXPECT_EQ(level(cluster_event_kind::connection_rejected), log_level::warn);
  EXPECT_EQ(level(cluster_event_kind::self_downed), log_level::warn);
  EXPECT_STREQ(to_string(cluster_event_kind::self_downed), "self_downed");
  cluster_event ev;
  ev.kind = cluster_event_kind::connection_rejected;
  ev.node = "n1";
  ev.address = "127.0.0.1:50412";
  ev.reason = "closed before the handshake";
  EXPECT_STREQ(to_string(ev.kind), "connection_rejected");
  EXPECT_NE(to_text(ev).find("connection_rejected n1 peer= 127.0.0.1:50412"), std::string::npos)
    << to_text(ev);
  auto j = nlohmann::json::parse(to_json(ev));
  EXPECT_EQ(j["event"], "connection_rejected");
  EXPECT_EQ(j["address"], "127.0.0.1:50412");
  EXPECT_EQ(j["reason"], "closed before the handshake");
}

// --- 3xx: failure detection -----------------------------------------------------------

// A closed connection makes the member unreachable ("connection lost"), not down; the probe
// of its address is refused (the process is gone): down at once, "process gone", without
// waiting for the detector or a leader, and every member it reaches is told. c's own probe
// says "accepted" here, so c learns it from a's notice.
TEST_F(agent_test, t301_crash_is_unreachable_then_down_process_gone_and_notices_go_out) {
  auto a = start("a", 7001, {a_addr});
  auto b = start("b", 7002, {a_addr});
  auto c_settings = settings("c", 7003, {a_addr});
  c_settings.probe = [](const std::string&) { return probe_result::accepted; };
  auto c = start(c_settings);
  ASSERT_EQ(c.state_of(b_addr), "up");
  crash(b);
  EXPECT_EQ(a.state_of(b_addr), "down");
  auto trace = a.events->trace();
  ASSERT_GE(trace.size(), 2u);
  EXPECT_EQ(std::vector<std::string>(trace.end() - 2, trace.end()),
            (std::vector<std::string>{"node_unreachable:b", "node_down:b"}));
  auto evs = a.events->events();
  EXPECT_EQ(evs[evs.size() - 2].reason, "connection lost");
  EXPECT_EQ(evs.back().reason, "process gone");
  EXPECT_EQ(a.row(b_addr)->reason, "process gone");
  // c: its own probe could not tell; a's notice downs b there.
  EXPECT_EQ(c.state_of(b_addr), "down");
  auto down = last_event(c, cluster_event_kind::node_down, "b");
  ASSERT_TRUE(down);
  EXPECT_EQ(down->reason, "process gone (by " + a_addr + ")");
  // No quarantine after "process gone": the same address is redialed as before.
  EXPECT_EQ(a.events->count(cluster_event_kind::join_refused), 0u);
}

// A lost connection to a live member (the probe is accepted: a cut link, a reset) keeps it
// unreachable, redialed; a redial that succeeds makes it reachable again, never down.
TEST_F(agent_test, t301b_lost_connection_to_a_live_member_is_not_down) {
  auto a = start("a", 7001, {a_addr});
  auto b = start("b", 7002, {a_addr});
  advance(1s);
  auto probes_before = probes;
  lose_connection(a, b);
  EXPECT_EQ(probes, probes_before + 1);
  EXPECT_EQ(a.state_of(b_addr), "unreachable");
  EXPECT_EQ(a.row(b_addr)->reason, "connection lost");
  advance(500ms);  // a redials after reconnect_min: a fresh connection, b answers
  EXPECT_EQ(a.state_of(b_addr), "up");
  EXPECT_EQ(a.events->trace(), (std::vector<std::string>{"node_up:b", "node_unreachable:b",
                                                         "node_reachable:b"}));
  advance(3s);
  EXPECT_EQ(a.events->count(cluster_event_kind::node_down), 0u);
  EXPECT_EQ(b.events->count(cluster_event_kind::node_down), 0u);
}

// Steady heartbeats raise no suspicion, however long.
TEST_F(agent_test, t302_no_false_suspicion_with_steady_heartbeats) {
  auto a = start("a", 7001, {a_addr});
  auto b = start("b", 7002, {a_addr});
  advance(60s);
  EXPECT_EQ(a.events->count(cluster_event_kind::node_unreachable), 0u);
  EXPECT_EQ(b.events->count(cluster_event_kind::node_unreachable), 0u);
  EXPECT_EQ(a.state_of(b_addr), "up");
}

// A hung member (no heartbeats, connection open) is unreachable within 2 s with the
// default settings. a leads and its side wins (1 of 2, holding the smallest address): it
// downs b stable_after later. Once b runs again, its first heartbeat brings it a's notice
// (it fences, self_downed), and it is back up (same incarnation, no restart) after its
// quarantine (2 x stable_after).
TEST_F(agent_test, t303_hung_member_unreachable_then_downed_then_rejoins_after_quarantine) {
  auto a = start("a", 7001, {a_addr});
  auto b = start("b", 7002, {a_addr});
  advance(5s);
  freeze(b);
  auto waited = advance_until([&] { return a.state_of(b_addr) != "up"; }, 5s);
  EXPECT_EQ(a.state_of(b_addr), "unreachable");
  EXPECT_GE(waited, 1300ms);
  EXPECT_LE(waited, 2000ms);
  waited = advance_until([&] { return a.state_of(b_addr) == "down"; }, 5s);
  EXPECT_EQ(a.state_of(b_addr), "down");
  EXPECT_EQ(waited, 1000ms) << "down exactly stable_after after the last change";
  auto down = last_event(a, cluster_event_kind::node_down, "b");
  ASSERT_TRUE(down);
  EXPECT_EQ(down->reason, "unreachable on the minority side");
  auto downed_at = clock_now();
  thaw(b);
  advance(10ms);
  ASSERT_EQ(b.events->count(cluster_event_kind::self_downed), 1u);
  auto self_downed = *last_event(b, cluster_event_kind::self_downed, "a");
  EXPECT_EQ(self_downed.reason, "unreachable on the minority side");
  EXPECT_EQ(self_downed.address, a_addr);
  EXPECT_EQ(b.row(b_addr)->state, member_state::down);
  EXPECT_FALSE(b.view->get()->lease_valid);
  // Its heartbeats reach a at once, but a takes it back only after the quarantine.
  advance_until([&] { return a.state_of(b_addr) == "up"; }, 5s);
  EXPECT_EQ(a.state_of(b_addr), "up");
  EXPECT_GE(clock_now() - downed_at, 2000ms);
  EXPECT_LE(clock_now() - downed_at, 2300ms);
  advance(500ms);
  EXPECT_EQ(b.state_of(a_addr), "up");
  EXPECT_EQ(b.row(b_addr)->state, member_state::up);
  EXPECT_TRUE(b.view->get()->lease_valid);
  auto up = last_event(a, cluster_event_kind::node_up, "b");
  EXPECT_EQ(up->reason, "rejoined");
  EXPECT_EQ(a.events->trace(),
            (std::vector<std::string>{"node_up:b", "node_unreachable:b", "node_down:b",
                                      "node_up:b"}));
  EXPECT_EQ(a.events->count(cluster_event_kind::join_refused), 0u);
  EXPECT_EQ(b.events->count(cluster_event_kind::join_refused), 0u);
  // a's heartbeats from before the downing said "b is unreachable": back in, b must not
  // take that old news for a settled view and down itself as indirectly connected.
  EXPECT_EQ(b.events->count(cluster_event_kind::self_downed), 1u);
}

// A short pause (below the detection time) is absorbed.
TEST_F(agent_test, t304_short_pause_is_absorbed) {
  auto a = start("a", 7001, {a_addr});
  auto b = start("b", 7002, {a_addr});
  advance(5s);
  freeze(b);
  advance(1000ms);
  thaw(b);
  advance(5s);
  EXPECT_EQ(a.events->count(cluster_event_kind::node_unreachable), 0u);
}

// An unreachable member whose heartbeats come back (before the resolver decides) is
// reachable again.
TEST_F(agent_test, t305_unreachable_then_reachable) {
  auto a = start(settings("a", 7001, {a_addr}, 5s));
  auto b = start(settings("b", 7002, {a_addr}, 5s));
  advance(5s);
  freeze(b);
  advance(3s);
  EXPECT_EQ(a.state_of(b_addr), "unreachable");
  thaw(b);
  advance(1s);
  EXPECT_EQ(a.state_of(b_addr), "up");
  EXPECT_EQ(a.events->trace(), (std::vector<std::string>{"node_up:b", "node_unreachable:b",
                                                         "node_reachable:b"}));
}

// Heartbeats are acknowledged (the quorum lease's input): the newest ack is at most one
// heartbeat interval old while the member runs, and ages while it is frozen.
TEST_F(agent_test, t306_heartbeats_are_acknowledged) {
  auto a = start("a", 7001, {a_addr});
  auto b = start("b", 7002, {a_addr});
  EXPECT_EQ(a.row(b_addr)->last_ack_ms, -1) << "no ack before the first heartbeat round";
  advance(2s);
  auto fresh = a.row(b_addr)->last_ack_ms;
  EXPECT_GE(fresh, 0);
  EXPECT_LE(fresh, 200);
  freeze(b);
  advance(1s);
  EXPECT_GE(a.row(b_addr)->last_ack_ms, 1000);
  thaw(b);
  advance(500ms);
  EXPECT_LE(a.row(b_addr)->last_ack_ms, 200);
}

// Each heartbeat carries the sender's observation (whom it sees unreachable): with c hung,
// a learns from b's heartbeats that b sees c unreachable too.
TEST_F(agent_test, t307_observations_travel_with_heartbeats) {
  auto a = start(settings("a", 7001, {a_addr}, 5s));
  auto b = start(settings("b", 7002, {a_addr}, 5s));
  auto c = start(settings("c", 7003, {a_addr}, 5s));
  advance(5s);
  EXPECT_TRUE(a.row(b_addr)->sees_unreachable.empty());
  freeze(c);
  advance(3s);
  ASSERT_EQ(a.state_of(c_addr), "unreachable");
  EXPECT_EQ(a.row(a_addr)->sees_unreachable, std::vector<std::string>{c_addr});
  EXPECT_EQ(a.row(b_addr)->sees_unreachable, std::vector<std::string>{c_addr});
  thaw(c);
  advance(1s);
  EXPECT_TRUE(a.row(b_addr)->sees_unreachable.empty());
}

// The quorum lease: a member cut off from a winning side loses it about 1 s after its last
// acknowledged heartbeat, long before the others could down it; it comes back with acks.
TEST_F(agent_test, t308_quorum_lease_ends_without_acks_from_a_winning_side) {
  auto a = start("a", 7001, {a_addr});
  auto b = start("b", 7002, {a_addr});
  auto c = start("c", 7003, {a_addr});
  advance(3s);
  for (auto* n : {&a, &b, &c})
    EXPECT_TRUE(n->view->get()->lease_valid) << n->address;
  // The lease lasts stable_after - heartbeat_interval = 800 ms from the acked heartbeat.
  EXPECT_EQ(lease_duration_for(settings("x", 1, {})), 800ms);
  auto left = a.view->get()->lease_left_ms;
  ASSERT_TRUE(left);
  EXPECT_GT(*left, 500);
  EXPECT_LE(*left, 800);
  // b and c hang: a alone is 1 of 3, no winning side.
  freeze(b);
  freeze(c);
  caf::timespan waited{0};
  while (a.view->get()->lease_valid && waited < 5s) {
    advance(10ms);
    waited += 10ms;
  }
  EXPECT_FALSE(a.view->get()->lease_valid);
  EXPECT_GE(waited, 600ms);
  EXPECT_LE(waited, 900ms);
  EXPECT_EQ(a.state_of(b_addr), "up") << "the lease ends before the detector even suspects";
  thaw(b);
  thaw(c);
  advance(500ms);
  EXPECT_TRUE(a.view->get()->lease_valid);
}

// The leader of a 3-member view (a, the smallest address) downs a hung member exactly
// stable_after after the last change of the view (its own verdict, or b's observation,
// whichever came last), not before; b, not the leader, never downs it itself: it learns
// it from a's notice ("by" a).
TEST_F(agent_test, t309_leader_downs_exactly_at_stable_after_non_leader_follows_the_notice) {
  auto a = start("a", 7001, {a_addr});
  auto b = start("b", 7002, {a_addr});
  auto c = start("c", 7003, {a_addr});
  advance(5s);
  freeze(c);
  std::optional<caf::actor_clock::time_point> unreachable_at, observed_at, down_at;
  advance_until(
    [&] {
      auto t = clock_now();
      if (!unreachable_at && a.state_of(c_addr) == "unreachable")
        unreachable_at = t;
      if (!observed_at && a.row(b_addr)->sees_unreachable == std::vector<std::string>{c_addr})
        observed_at = t;
      if (!down_at && a.state_of(c_addr) == "down")
        down_at = t;
      return down_at.has_value();
    },
    10s);
  ASSERT_TRUE(unreachable_at && observed_at && down_at);
  EXPECT_EQ(*down_at - std::max(*unreachable_at, *observed_at), 1000ms);
  auto down = last_event(a, cluster_event_kind::node_down, "c");
  EXPECT_EQ(down->reason, "unreachable on the minority side");
  // b followed a's notice (the same instant in this scheduler).
  EXPECT_EQ(b.state_of(c_addr), "down");
  auto b_down = last_event(b, cluster_event_kind::node_down, "c");
  ASSERT_TRUE(b_down);
  EXPECT_EQ(b_down->reason, "unreachable on the minority side (by " + a_addr + ")");
  EXPECT_EQ(b.events->count(cluster_event_kind::node_down), 1u);
  // The majority keeps its lease; nobody else was downed.
  EXPECT_TRUE(a.view->get()->lease_valid);
  EXPECT_TRUE(b.view->get()->lease_valid);
  EXPECT_EQ(a.state_of(b_addr), "up");
  EXPECT_EQ(b.state_of(a_addr), "up");
  // c runs again (SIGCONT): it learns it was downed and never holds the lease again
  // before it is taken back.
  thaw(c);
  for (int i = 0; i < 10; ++i) {
    advance(100ms);
    EXPECT_FALSE(c.view->get()->lease_valid) << "after " << (i + 1) * 100 << " ms";
  }
}

// A client member counts nowhere. a (the smallest address) hangs; b's side is b plus the
// client c: counted, that would be 2 of 3 and b would down a. Without the client it is 1 of
// 2 without the smallest address: b downs nobody and holds no lease; c decides nothing.
TEST_F(agent_test, t316_a_client_member_counts_for_no_side) {
  auto a = start("a", 7001, {a_addr});
  auto b = start("b", 7002, {a_addr});
  auto c_settings = settings("c", 7003, {a_addr});
  c_settings.self.client = true;
  auto c = start(c_settings);
  advance(5s);
  ASSERT_EQ(b.state_of(c_addr), "up");
  EXPECT_TRUE(b.view->get()->lease_valid);
  freeze(a);
  advance(10s);
  EXPECT_EQ(b.state_of(a_addr), "unreachable");
  EXPECT_EQ(c.state_of(a_addr), "unreachable");
  EXPECT_EQ(b.events->count(cluster_event_kind::node_down), 0u);
  EXPECT_EQ(c.events->count(cluster_event_kind::node_down), 0u);
  EXPECT_FALSE(b.view->get()->lease_valid);
}

// In a bridge partition the ends lose their leases before the leader downs either: a
// reaches b and c, which do not reach each other; each reports the other unreachable in its
// heartbeats to a, and a acks neither any more. Were a to go on acking, b would hold its
// lease until it learned that it was downed, while c (told first) took its services over.
TEST_F(agent_test, t318_bridge_ends_lose_their_leases_before_anybody_is_downed) {
  auto n = start_bridge(1s);  // the default stable_after
  auto &a = n.a, &b = n.b, &c = n.c;
  ASSERT_TRUE(b.view->get()->lease_valid);
  ASSERT_TRUE(c.view->get()->lease_valid);
  cut_bridge(n);
  auto anybody_down = [&] {
    return a.state_of(b_addr) == "down" || a.state_of(c_addr) == "down";
  };
  // Step until a downs somebody, noting when each end's lease ended.
  std::optional<caf::timespan> b_ended, c_ended;
  caf::timespan waited{0};
  while (!anybody_down() && waited < 5s) {
    advance(10ms);
    waited += 10ms;
    if (!b_ended && !b.view->get()->lease_valid)
      b_ended = waited;
    if (!c_ended && !c.view->get()->lease_valid)
      c_ended = waited;
  }
  ASSERT_TRUE(anybody_down());
  ASSERT_TRUE(b_ended && c_ended);
  EXPECT_LT(*b_ended, waited);
  EXPECT_LT(*c_ended, waited);
  EXPECT_TRUE(a.view->get()->lease_valid);
}

// A bridge partition with the hub's address the largest: a-b is cut, c reaches both. With
// the smallest reachable address as leader, a downed b and b, leading {b, c} in its view,
// downed a; c took both back after their quarantines and, while their reports of each
// other came and went with the readmissions, acked both: 3.3 s after the cut a and b both
// held a lease. Now the leader is the smallest address among the members that see nobody
// unreachable: c, in every view (downing test 07). Never two lease holders that cannot
// reach each other once the leases held at the cut have run out.
TEST_F(agent_test, t319_mutually_downed_ends_never_both_hold_a_lease) {
  const std::string a_for_b = "127.0.0.1:17012", b_for_a = "127.0.0.1:17021";
  auto sa = settings("a", 7001, {a_addr}, 1s);
  sa.connect_via[b_addr] = b_for_a;
  auto a = start(sa);
  listening[a_for_b] = a.agent;
  auto sb = settings("b", 7002, {a_addr}, 1s);
  sb.connect_via[a_addr] = a_for_b;
  auto b = start(sb);
  listening[b_for_a] = b.agent;
  auto c = start(settings("c", 7003, {a_addr}, 1s));
  advance(3s);
  ASSERT_EQ(a.state_of(b_addr), "up");
  listening.erase(a_for_b);
  listening.erase(b_for_a);
  lose_connection(a, b);
  lose_connection(b, a);
  // Leases held at the cut run out within lease_duration (800 ms), before anybody acts
  // (stable_after, 1 s); from then on at most one end holds one.
  advance(1s);
  for (int step = 0; step < 1500; ++step) {  // 15 s more: several quarantines
    advance(10ms);
    auto both = a.view->get()->lease_valid && b.view->get()->lease_valid;
    ASSERT_FALSE(both) << "a and b both hold a lease " << 1000 + (step + 1) * 10
                       << " ms after the cut";
  }
}

// A client member's word makes nobody a member. c is cut off from a and b (they dial each
// other through aliases the test removes) but not from the client d, which reaches both
// sides like the chaos tool's client. a and b down c; after c's quarantine d takes c back
// itself, but a and b ignore its introductions: c stays down there instead of flapping back
// into their placement while they cannot reach it.
TEST_F(agent_test, t317_a_client_member_readmits_nobody) {
  const std::string c_for_a = "127.0.0.1:17031", c_for_b = "127.0.0.1:17032";
  const std::string a_for_c = "127.0.0.1:17013", b_for_c = "127.0.0.1:17023";
  auto sa = settings("a", 7001, {a_addr});
  sa.connect_via[c_addr] = c_for_a;
  auto a = start(sa);
  listening[a_for_c] = a.agent;
  auto sb = settings("b", 7002, {a_addr});
  sb.connect_via[c_addr] = c_for_b;
  auto b = start(sb);
  listening[b_for_c] = b.agent;
  auto sc = settings("c", 7003, {a_addr});
  sc.connect_via[a_addr] = a_for_c;
  sc.connect_via[b_addr] = b_for_c;
  auto c = start(sc);
  listening[c_for_a] = c.agent;
  listening[c_for_b] = c.agent;
  auto sd = settings("d", 7004, {a_addr, b_addr, c_addr});
  sd.self.client = true;
  auto d = start(sd);
  advance(3s);
  ASSERT_EQ(a.state_of(c_addr), "up");
  ASSERT_EQ(d.state_of(c_addr), "up");
  for (auto alias : {c_for_a, c_for_b, a_for_c, b_for_c})
    listening.erase(alias);
  lose_connection(a, c);
  lose_connection(c, a);
  lose_connection(b, c);
  lose_connection(c, b);
  advance_until([&] { return a.state_of(c_addr) == "down" && b.state_of(c_addr) == "down"; },
                5s);
  ASSERT_EQ(a.state_of(c_addr), "down");
  // Past the quarantine (2 s) and then some: d sees c up again, a and b keep it down.
  advance(5s);
  EXPECT_EQ(d.state_of(c_addr), "up");
  for (auto* n : {&a, &b}) {
    EXPECT_EQ(n->state_of(c_addr), "down") << n->address;
    EXPECT_EQ(n->events->count(cluster_event_kind::node_down, "c"), 1u) << n->address;
  }
}

// A client member that relays a leader's notice keeps nobody out and takes nobody back:
// past the quarantine, a handshake with the client alone leaves c downed. (Seen in a chaos
// gremlin: c, re-admitted by the client, downed the leader, and both ran every service.)
TEST_F(agent_test, t320_a_client_that_relayed_a_notice_readmits_nobody) {
  const std::string d_addr = "127.0.0.1:7004";
  auto a = start("a", 7001, {a_addr});
  auto b = start("b", 7002, {a_addr});
  auto c = start("c", 7003, {a_addr});
  auto sd = settings("d", 7004, {a_addr, b_addr, c_addr});
  sd.self.client = true;
  auto d = start(sd);
  advance(3s);
  ASSERT_EQ(c.state_of(d_addr), "up");
  auto inc = c.view->get()->self.incarnation;
  caf::send_as(d.agent, c.agent, down_notice_atom::value,
               down_notice{c_addr, inc, down_reason::indirectly_connected, a_addr, 2000});
  run();
  ASSERT_EQ(c.row(c_addr)->state, member_state::down);
  advance(3s);  // past the quarantine
  lose_connection(c, d);
  lose_connection(d, c);
  advance(2s);
  EXPECT_EQ(c.state_of(d_addr), "up");  // the client is back ...
  EXPECT_EQ(c.row(c_addr)->state, member_state::down);  // ... and c is still out
  EXPECT_FALSE(c.view->get()->lease_valid);
}

// A side that does not win never downs anybody: a (the smallest address) hangs, so b's side
// is 1 of 2 without the smallest address. b leads its side, sees a unreachable for long,
// and downs nobody; it holds no lease (it fences) meanwhile.
TEST_F(agent_test, t310_a_losing_side_downs_nobody) {
  auto a = start("a", 7001, {a_addr});
  auto b = start("b", 7002, {a_addr});
  advance(5s);
  freeze(a);
  advance(10s);
  EXPECT_EQ(b.state_of(a_addr), "unreachable");
  EXPECT_EQ(b.events->count(cluster_event_kind::node_down), 0u);
  EXPECT_FALSE(b.view->get()->lease_valid);
  thaw(a);
  advance(1s);
  EXPECT_EQ(b.state_of(a_addr), "up");
  EXPECT_EQ(a.state_of(b_addr), "up");
  EXPECT_EQ(a.events->count(cluster_event_kind::node_down), 0u);
}

// A notice about this node itself (here sent as a, the leader, by the test): it drops its
// quorum lease at once, reports self_downed, keeps running, and shows itself down.
TEST_F(agent_test, t311_a_notice_about_itself_drops_the_lease_at_once) {
  auto a = start("a", 7001, {a_addr});
  auto b = start("b", 7002, {a_addr});
  auto c = start("c", 7003, {a_addr});
  advance(2s);
  ASSERT_TRUE(c.view->get()->lease_valid);
  auto inc = c.view->get()->self.incarnation;
  caf::send_as(a.agent, c.agent, down_notice_atom::value,
               down_notice{c_addr, inc, down_reason::indirectly_connected, a_addr, 2000});
  run();
  EXPECT_FALSE(c.view->get()->lease_valid);
  ASSERT_EQ(c.events->count(cluster_event_kind::self_downed), 1u);
  auto ev = *last_event(c, cluster_event_kind::self_downed, "a");
  EXPECT_EQ(ev.reason, "indirectly connected");
  EXPECT_EQ(ev.address, a_addr);
  EXPECT_EQ(ev.detail, "quarantined for 2000 ms");
  EXPECT_EQ(c.row(c_addr)->state, member_state::down);
  EXPECT_EQ(c.row(c_addr)->reason, "downed by " + a_addr + ": indirectly connected");
  // A notice about another incarnation of it, or from a non-member, changes nothing.
  caf::send_as(a.agent, b.agent, down_notice_atom::value,
               down_notice{b_addr, 1, down_reason::indirectly_connected, a_addr, 2000});
  caf::anon_send(b.agent, down_notice_atom::value,
                 down_notice{b_addr, b.view->get()->self.incarnation,
                             down_reason::indirectly_connected, a_addr, 2000});
  run();
  EXPECT_EQ(b.events->count(cluster_event_kind::self_downed), 0u);
  EXPECT_TRUE(b.view->get()->lease_valid);
}

// Quarantine: a member downed by the resolver may not come back before 2 x stable_after;
// its handshake is refused with the reason on both sides; a second downing doubles the
// period. (b cannot learn it was downed here: its view has a down already, so a's notice,
// from a non-member, is ignored, and b keeps redialing a.)
TEST_F(agent_test, t312_quarantine_refuses_a_rejoin_and_doubles_on_a_second_downing) {
  auto a = start("a", 7001, {a_addr});
  auto b = start("b", 7002, {a_addr});
  for (auto period : {2000ms, 4000ms}) {
    SCOPED_TRACE(period.count());
    a.events->clear();
    b.events->clear();
    advance(5s);
    freeze(b);
    advance_until([&] { return a.state_of(b_addr) == "down"; }, 5s);
    ASSERT_EQ(a.state_of(b_addr), "down");
    auto downed_at = clock_now();
    // While frozen, b's view loses a (its agent "stopped"): b redials a once it runs.
    caf::anon_send(b.agent, caf::down_msg{a.agent.address(), caf::exit_reason::kill});
    thaw(b);
    advance(500ms);
    ASSERT_EQ(b.state_of(a_addr), "down");
    auto refused = last_event(a, cluster_event_kind::join_refused, "b");
    ASSERT_TRUE(refused) << "b's handshake during the quarantine";
    EXPECT_EQ(refused->reason, "not_a_member: quarantined for " + std::to_string(period.count())
                                 + " ms after being downed (unreachable on the minority side)");
    // The dialer's side (its hello was refused outright: it knows a by address only).
    auto theirs = last_event(b, cluster_event_kind::join_refused, "");
    ASSERT_TRUE(theirs);
    EXPECT_EQ(theirs->address, a_addr);
    EXPECT_NE(theirs->reason.find("quarantined for"), std::string::npos) << theirs->reason;
    EXPECT_EQ(a.state_of(b_addr), "down");
    advance_until([&] { return a.state_of(b_addr) == "up"; }, 10s);
    EXPECT_EQ(a.state_of(b_addr), "up");
    EXPECT_GE(clock_now() - downed_at, period);
    EXPECT_LE(clock_now() - downed_at, period + 1000ms);
    advance(1s);
    EXPECT_EQ(b.state_of(a_addr), "up");
  }
}

// A member that stayed up for quarantine_reset starts again at 2 x stable_after.
TEST_F(agent_test, t313_quarantine_starts_afresh_after_a_long_uptime) {
  auto a = start("a", 7001, {a_addr});
  auto b = start("b", 7002, {a_addr});
  auto downed_then_back = [&] {
    advance(5s);
    freeze(b);
    advance_until([&] { return a.state_of(b_addr) == "down"; }, 5s);
    auto downed_at = clock_now();
    thaw(b);
    advance_until([&] { return a.state_of(b_addr) == "up"; }, 70s);
    return clock_now() - downed_at;
  };
  auto first = downed_then_back();
  EXPECT_GE(first, 2000ms);
  EXPECT_LT(first, 2500ms);
  advance(defaults::quarantine_reset);
  auto again = downed_then_back();
  EXPECT_GE(again, 2000ms);
  EXPECT_LT(again, 2500ms) << "not doubled: b stayed up for quarantine_reset";
}

// A lost connection whose probe is accepted while the member cannot be redialed (a cut
// link): it stays unreachable, then the leader (a, its side winning) downs it after
// stable_after, "unreachable on the minority side". No "process gone" without a refusal.
TEST_F(agent_test, t314_cut_link_stays_unreachable_until_the_resolver_decides) {
  auto a = start("a", 7001, {a_addr});
  auto b = start("b", 7002, {a_addr});
  advance(1s);
  listening.erase(b_addr);  // a's redials of b fail
  probe_accepts.insert(b_addr);
  lose_connection(a, b);
  EXPECT_EQ(a.state_of(b_addr), "unreachable");
  auto waited = advance_until([&] { return a.state_of(b_addr) == "down"; }, 5s);
  EXPECT_EQ(waited, 1000ms);
  auto down = last_event(a, cluster_event_kind::node_down, "b");
  EXPECT_EQ(down->reason, "unreachable on the minority side");
}

// A bridge partition: the link b-c is cut (each dials the other through its own alias,
// which the test removes), a still reaches both. a leads everyone's view; b and c are
// indirectly connected: a downs both, tells them (self_downed) and keeps the lease alone.
// After the quarantine a takes both back and introduces them to each other: b and c make
// each other members again (unreachable: "up at" a) instead of keeping each other down,
// so all three views have the same members; the cut still stands, so a downs them again,
// now for twice as long. Once the link is restored everything converges.
TEST_F(agent_test, t315_bridge_partition_downs_the_ends_and_views_agree_after_readmission) {
  auto n = start_bridge();
  auto &a = n.a, &b = n.b, &c = n.c;
  ASSERT_EQ(b.state_of(c_addr), "up");
  ASSERT_EQ(c.state_of(b_addr), "up");
  cut_bridge(n);
  advance_until([&] { return a.state_of(b_addr) == "down" && a.state_of(c_addr) == "down"; },
                5s);
  ASSERT_EQ(a.state_of(b_addr), "down");
  ASSERT_EQ(a.state_of(c_addr), "down");
  EXPECT_EQ(last_event(a, cluster_event_kind::node_down, "b")->reason, "indirectly connected");
  EXPECT_EQ(last_event(a, cluster_event_kind::node_down, "c")->reason, "indirectly connected");
  for (auto* n : {&b, &c}) {
    EXPECT_EQ(n->events->count(cluster_event_kind::self_downed), 1u) << n->address;
    EXPECT_FALSE(n->view->get()->lease_valid) << n->address;
    EXPECT_EQ(n->events->count(cluster_event_kind::node_down, "a"), 0u) << n->address;
  }
  EXPECT_TRUE(a.view->get()->lease_valid) << "a alone is M now";
  // After the quarantine a takes them back; b and c readmit each other (a introduced them).
  advance_until([&] { return a.state_of(b_addr) == "up" && a.state_of(c_addr) == "up"; }, 5s);
  ASSERT_EQ(a.state_of(b_addr), "up");
  ASSERT_EQ(a.state_of(c_addr), "up");
  advance(50ms);
  for (auto [n, other] : {std::pair{&b, c_addr}, std::pair{&c, b_addr}}) {
    EXPECT_EQ(n->state_of(other), "unreachable") << n->address;
    EXPECT_EQ(n->row(other)->reason, "up at " + a_addr) << n->address;
  }
  // The cut stands: downed again, quarantined for twice as long.
  advance_until([&] { return a.state_of(b_addr) == "down"; }, 5s);
  ASSERT_EQ(a.state_of(b_addr), "down");
  auto second_down = clock_now();
  listening[b_alias] = b.agent;
  listening[c_alias] = c.agent;
  advance_until(
    [&] {
      for (auto* n : {&a, &b, &c})
        for (auto& row : n->view->get()->members)
          if (row.state != member_state::up)
            return false;
      return true;
    },
    10s);
  EXPECT_GE(clock_now() - second_down, 4000ms);
  advance(500ms);  // acks renew the leases
  for (auto* n : {&a, &b, &c}) {
    for (auto& row : n->view->get()->members)
      EXPECT_EQ(row.state, member_state::up) << n->address << " sees " << row.info.address;
    EXPECT_TRUE(n->view->get()->lease_valid) << n->address;
  }
  EXPECT_EQ(a.events->count(cluster_event_kind::self_downed), 0u);
  // The downed ends never turned on a, and only a's handshakes took them back.
  for (auto* n : {&b, &c}) {
    EXPECT_EQ(n->events->count(cluster_event_kind::node_down, "a"), 0u) << n->address;
    EXPECT_EQ(n->events->count(cluster_event_kind::self_downed), 2u) << n->address;
  }
}

// A downed node hears no heartbeats from the member that downed it (by design), so it must
// not suspect it: that verdict would reach the others with its first heartbeat after it is
// taken back, as news, and a leader could down a healthy member for it.
TEST_F(agent_test, t321_a_downed_node_suspects_nobody_and_comes_back_without_stale_news) {
  auto n = start_bridge();
  auto &a = n.a, &b = n.b, &c = n.c;
  cut_bridge(n);
  advance_until([&] { return a.state_of(b_addr) == "down" && a.state_of(c_addr) == "down"; },
                5s);
  ASSERT_EQ(b.events->count(cluster_event_kind::self_downed), 1u);
  // The quarantine (2 s) is longer than a's silence takes to cross the threshold (~1.5 s).
  advance_until([&] { return a.state_of(b_addr) == "up" && a.state_of(c_addr) == "up"; }, 5s);
  ASSERT_EQ(a.state_of(b_addr), "up");
  for (auto* n : {&b, &c}) {
    EXPECT_EQ(n->events->count(cluster_event_kind::node_unreachable, "a"), 0u) << n->address;
    EXPECT_EQ(n->state_of(a_addr), "up") << n->address;
  }
  advance(300ms);  // a heartbeat from each
  for (auto& addr : {b_addr, c_addr}) {
    auto seen = a.row(addr)->sees_unreachable;
    EXPECT_EQ(std::count(seen.begin(), seen.end(), a_addr), 0)
        << addr << " gossips a as unreachable";
  }
}

// --- 4xx: restarts, leaving, removal ---------------------------------------------------

// A restarted node is a new member: the old incarnation is removed.
TEST_F(agent_test, t401_restart_is_a_new_incarnation) {
  auto a = start("a", 7001, {a_addr});
  auto b = start("b", 7002, {a_addr});
  auto first = b.view->get()->self.incarnation;
  crash(b);
  auto b2 = start("b", 7002, {a_addr});
  EXPECT_NE(b2.view->get()->self.incarnation, first);
  EXPECT_EQ(a.state_of(b_addr), "up");
  EXPECT_EQ(a.events->trace(),
            (std::vector<std::string>{"node_up:b", "node_unreachable:b", "node_down:b",
                                      "node_removed:b", "node_up:b"}));
  auto rows = a.view->get()->members;
  EXPECT_EQ(rows.size(), 2u);
}

// A crashed node that stays away is redialed, then removed after down_removal.
TEST_F(agent_test, t402_down_member_is_removed_after_down_removal) {
  auto a = start("a", 7001, {a_addr});
  auto b = start("b", 7002, {a_addr});
  crash(b);
  advance(defaults::down_removal + 1s);
  EXPECT_EQ(a.state_of(b_addr), "");
  auto evs = a.events->events();
  EXPECT_EQ(evs.back().kind, cluster_event_kind::node_removed);
  EXPECT_NE(evs.back().reason.find("down for"), std::string::npos);
}

// A graceful leave: down (reason "left") and removed at once; never redialed.
TEST_F(agent_test, t403_graceful_leave) {
  auto a = start("a", 7001, {a_addr});
  auto b = start("b", 7002, {a_addr});
  EXPECT_TRUE(call<ok_atom>(b.agent, leave_atom::value));
  EXPECT_EQ(a.state_of(b_addr), "");
  EXPECT_EQ(a.events->trace(), (std::vector<std::string>{"node_up:b", "node_down:b",
                                                         "node_removed:b"}));
  EXPECT_EQ(a.events->events()[1].reason, "left");
  advance(10s);
  EXPECT_EQ(a.events->count(cluster_event_kind::node_up), 1u);
}

// --- 5xx: cluster names ----------------------------------------------------------------

TEST_F(agent_test, t501_names_are_seen_by_every_member) {
  auto a = start("a", 7001, {a_addr});
  auto b = start("b", 7002, {a_addr});
  auto svc = echo();
  EXPECT_TRUE(call<ok_atom>(b.agent, register_name_atom::value, std::string{"echo"}, svc));
  auto names = a.view->get()->names;
  ASSERT_EQ(names.count("echo"), 1u);
  EXPECT_EQ(names["echo"].owner.name, "b");
  EXPECT_EQ(names["echo"].target, svc);
  // a late joiner gets it in the handshake
  auto c = start("c", 7003, {a_addr});
  EXPECT_EQ(c.view->get()->names.count("echo"), 1u);
}

TEST_F(agent_test, t502_a_taken_name_is_refused) {
  auto a = start("a", 7001, {a_addr});
  auto b = start("b", 7002, {a_addr});
  EXPECT_TRUE(call<ok_atom>(b.agent, register_name_atom::value, std::string{"x"}, echo()));
  auto res = call<ok_atom>(a.agent, register_name_atom::value, std::string{"x"}, echo());
  ASSERT_FALSE(res);
  EXPECT_TRUE(is(res.error(), errc::name_taken));
}

// Calls through the agent: forwarded to the target; unknown and lost names are named errors.
TEST_F(agent_test, t503_route_by_name) {
  auto a = start("a", 7001, {a_addr});
  auto b = start("b", 7002, {a_addr});
  EXPECT_TRUE(call<ok_atom>(b.agent, register_name_atom::value, std::string{"echo"}, echo()));
  auto hi = call<std::string>(a.agent, route_atom::value, std::string{"echo"},
                              caf::make_message(echo_atom::value, std::string{"hi"}));
  ASSERT_TRUE(hi) << to_string(hi.error());
  EXPECT_EQ(*hi, "hi");
  auto unknown = call<std::string>(a.agent, route_atom::value, std::string{"nope"},
                                   caf::make_message(echo_atom::value, std::string{"hi"}));
  ASSERT_FALSE(unknown);
  EXPECT_TRUE(is(unknown.error(), errc::unknown_name));
  crash(b);
  auto lost = call<std::string>(a.agent, route_atom::value, std::string{"echo"},
                                caf::make_message(echo_atom::value, std::string{"hi"}));
  ASSERT_FALSE(lost);
  EXPECT_TRUE(is(lost.error(), errc::node_down)) << to_string(lost.error());
  EXPECT_EQ(a.view->get()->lost_names.count("echo"), 1u);
}

// A service that dies is unregistered everywhere.
TEST_F(agent_test, t504_dead_service_is_unregistered) {
  auto a = start("a", 7001, {a_addr});
  auto b = start("b", 7002, {a_addr});
  auto svc = echo();
  EXPECT_TRUE(call<ok_atom>(b.agent, register_name_atom::value, std::string{"echo"}, svc));
  caf::anon_send_exit(svc, caf::exit_reason::kill);
  run();
  EXPECT_EQ(a.view->get()->names.count("echo"), 0u);
  EXPECT_EQ(b.view->get()->names.count("echo"), 0u);
}

// A name its owner drops while its own handshake runs: the auth carried it, and the drop's
// notice went to the members of that moment, which the acceptor was not yet. Once the
// handshake completes the dialer withdraws it there too.
TEST_F(agent_test, t504b_a_name_dropped_during_the_handshake_is_withdrawn_at_its_end) {
  auto b = start("b", 7002, {b_addr});
  freeze(b);
  auto a = start("a", 7001, {b_addr});  // its hello waits in b's mailbox
  EXPECT_TRUE(call<ok_atom>(a.agent, register_name_atom::value, std::string{"svc"}, echo()));
  frozen.erase(caf::actor_cast<caf::abstract_actor*>(b.agent));
  sched.run_once();  // b answers the hello
  freeze(b);
  run();  // a sends its auth (with "svc"), which waits in b's mailbox
  caf::anon_send(a.agent, unregister_name_atom::value, std::string{"svc"});
  run();
  thaw(b);
  advance(100ms);
  ASSERT_EQ(b.state_of(a_addr), "up");
  EXPECT_EQ(b.view->get()->names.count("svc"), 0u);
  EXPECT_EQ(a.view->get()->names.count("svc"), 0u);
}

// Two nodes that could not see each other both registered "x": when they meet, the older
// registration wins on every node and the loser's node reports the conflict; the losing
// service keeps running.
TEST_F(agent_test, t505_conflict_after_partition_older_registration_wins) {
  auto a = start("a", 7001, {a_addr});
  auto old_svc = echo();
  EXPECT_TRUE(call<ok_atom>(a.agent, register_name_atom::value, std::string{"x"}, old_svc));
  auto b = start("b", 7002, {b_addr});  // alone: its own cluster for now
  auto new_svc = echo();
  EXPECT_TRUE(call<ok_atom>(b.agent, register_name_atom::value, std::string{"x"}, new_svc));
  auto c = start("c", 7003, {a_addr, b_addr});  // heals: c dials both, they meet
  advance(1s);
  ASSERT_EQ(a.state_of(b_addr), "up");
  for (auto* n : {&a, &b, &c}) {
    auto names = n->view->get()->names;
    ASSERT_EQ(names.count("x"), 1u) << n->address;
    EXPECT_EQ(names["x"].owner.name, "a") << n->address;
    EXPECT_EQ(names["x"].target, old_svc) << n->address;
  }
  EXPECT_GE(b.events->count(cluster_event_kind::name_conflict), 1u);
  auto still = call<std::string>(new_svc, echo_atom::value, std::string{"alive"});
  EXPECT_TRUE(still);
}

// The same meeting with fencing epochs (cluster-service instances): the higher epoch wins,
// although it registered later; every node keeps the newer placement.
TEST_F(agent_test, t505b_conflict_with_epochs_higher_epoch_wins) {
  auto a = start("a", 7001, {a_addr});
  auto old_svc = echo();
  EXPECT_TRUE(call<ok_atom>(a.agent, register_name_atom::value, std::string{"x"}, old_svc,
                            uint64_t{5}));
  auto b = start("b", 7002, {b_addr});
  auto new_svc = echo();
  EXPECT_TRUE(call<ok_atom>(b.agent, register_name_atom::value, std::string{"x"}, new_svc,
                            uint64_t{6}));
  auto c = start("c", 7003, {a_addr, b_addr});
  advance(1s);
  ASSERT_EQ(a.state_of(b_addr), "up");
  for (auto* n : {&a, &b, &c}) {
    auto names = n->view->get()->names;
    ASSERT_EQ(names.count("x"), 1u) << n->address;
    EXPECT_EQ(names["x"].owner.name, "b") << n->address;
    EXPECT_EQ(names["x"].epoch, 6u) << n->address;
  }
  EXPECT_GE(a.events->count(cluster_event_kind::name_conflict), 1u);
}

// Stray messages (an error, an unexpected answer from a local actor) never stop the
// agent: CAF 0.17 would quit an actor on an unhandled error message.
TEST_F(agent_test, t506_stray_messages_do_not_stop_the_agent) {
  auto a = start("a", 7001, {a_addr});
  auto b = start("b", 7002, {a_addr});
  caf::anon_send(a.agent, caf::make_error(caf::sec::unexpected_message));
  caf::anon_send(a.agent, ok_atom::value);
  caf::anon_send(a.agent, std::string{"garbage"}, 42);
  run();
  EXPECT_TRUE(call<ok_atom>(a.agent, register_name_atom::value, std::string{"echo"}, echo()));
  EXPECT_EQ(b.state_of(a_addr), "up");
}

TEST(name_conflict_rule, older_wins_then_address_then_incarnation) {
  name_entry x{"n", {}, {"a", "127.0.0.1:1", 5, ""}, 10};
  name_entry y{"n", {}, {"b", "127.0.0.1:2", 1, ""}, 20};
  EXPECT_TRUE(wins(x, y));
  EXPECT_FALSE(wins(y, x));
  y.registered_at = 10;
  EXPECT_TRUE(wins(x, y));  // same time: smaller address
  y.owner.address = x.owner.address;
  EXPECT_TRUE(wins(y, x));  // same address: smaller incarnation
  // Two fencing epochs: the higher wins, whatever the times; one plain name: times decide.
  x.epoch = 3;
  y.epoch = 4;
  y.registered_at = 99;
  EXPECT_TRUE(wins(y, x));
  EXPECT_FALSE(wins(x, y));
  y.epoch = 0;
  EXPECT_TRUE(wins(x, y));
}

} // namespace
