// The node agent on the deterministic scheduler: several agents in one actor system, a
// fake transport instead of CAF's middleman, an injected clock. "Freezing" an agent keeps
// its jobs off the scheduler (its mailbox fills, like a SIGSTOPped process).
// Numbered from simple to complex.
#include <optional>
#include <set>

#include <caf/all.hpp>
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
    run();
    return n;
  }

  test_node start(const std::string& name, uint16_t port, std::vector<std::string> seeds) {
    return start(settings(name, port, std::move(seeds)));
  }

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

  agent_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;
  caf::actor transport;
  std::map<std::string, caf::actor> listening;
  std::set<caf::abstract_actor*> frozen;
  std::vector<caf::actor> extra;
  uint64_t incarnations = 1000;
  uint64_t wall_clock = 0;
};

const std::string a_addr = "127.0.0.1:7001";
const std::string b_addr = "127.0.0.1:7002";
const std::string c_addr = "127.0.0.1:7003";

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

// A closed connection marks the member down at once, without waiting for the detector.
TEST_F(agent_test, t301_crash_is_down_at_once) {
  auto a = start("a", 7001, {a_addr});
  auto b = start("b", 7002, {a_addr});
  crash(b);
  EXPECT_EQ(a.state_of(b_addr), "down");
  auto evs = a.events->events();
  ASSERT_EQ(evs.back().kind, cluster_event_kind::node_down);
  EXPECT_EQ(evs.back().reason, "connection lost");
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
// default settings, down after unreachable_down, and up again (same incarnation, no
// restart) once it runs again.
TEST_F(agent_test, t303_hung_member_unreachable_then_down_then_rejoins) {
  auto a = start("a", 7001, {a_addr});
  auto b = start("b", 7002, {a_addr});
  advance(5s);
  freeze(b);
  caf::timespan waited{0};
  while (a.state_of(b_addr) == "up" && waited < 5s) {
    advance(10ms);
    waited += 10ms;
  }
  EXPECT_EQ(a.state_of(b_addr), "unreachable");
  EXPECT_GE(waited, 1300ms);
  EXPECT_LE(waited, 2000ms);
  advance(defaults::unreachable_down);
  EXPECT_EQ(a.state_of(b_addr), "down");
  EXPECT_NE(a.events->events().back().reason.find("unreachable for"), std::string::npos);
  thaw(b);
  advance(2s);
  EXPECT_EQ(a.state_of(b_addr), "up");
  EXPECT_EQ(b.state_of(a_addr), "up");
  auto evs = a.events->events();
  EXPECT_EQ(evs.back().kind, cluster_event_kind::node_up);
  EXPECT_EQ(evs.back().reason, "rejoined");
  EXPECT_EQ(a.events->trace(),
            (std::vector<std::string>{"node_up:b", "node_unreachable:b", "node_down:b",
                                      "node_up:b"}));
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

// An unreachable member whose heartbeats come back is reachable again.
TEST_F(agent_test, t305_unreachable_then_reachable) {
  auto a = start("a", 7001, {a_addr});
  auto b = start("b", 7002, {a_addr});
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
  auto a = start("a", 7001, {a_addr});
  auto b = start("b", 7002, {a_addr});
  auto c = start("c", 7003, {a_addr});
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
  auto left = a.view->get()->lease_left_ms;
  ASSERT_TRUE(left);
  EXPECT_GT(*left, 700);
  EXPECT_LE(*left, 1000);
  // b and c hang: a alone is 1 of 3, no winning side.
  freeze(b);
  freeze(c);
  caf::timespan waited{0};
  while (a.view->get()->lease_valid && waited < 5s) {
    advance(10ms);
    waited += 10ms;
  }
  EXPECT_FALSE(a.view->get()->lease_valid);
  EXPECT_GE(waited, 800ms);
  EXPECT_LE(waited, 1100ms);
  EXPECT_EQ(a.state_of(b_addr), "up") << "the lease ends before the detector even suspects";
  thaw(b);
  thaw(c);
  advance(500ms);
  EXPECT_TRUE(a.view->get()->lease_valid);
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
  EXPECT_EQ(a.events->trace(), (std::vector<std::string>{"node_up:b", "node_down:b",
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

TEST(name_conflict_rule, older_wins_then_address_then_incarnation) {
  name_entry x{"n", {}, {"a", "127.0.0.1:1", 5, ""}, 10};
  name_entry y{"n", {}, {"b", "127.0.0.1:2", 1, ""}, 20};
  EXPECT_TRUE(wins(x, y));
  EXPECT_FALSE(wins(y, x));
  y.registered_at = 10;
  EXPECT_TRUE(wins(x, y));  // same time: smaller address
  y.owner.address = x.owner.address;
  EXPECT_TRUE(wins(y, x));  // same address: smaller incarnation
}

} // namespace
