// The node agent: handshake, membership, failure detection, the split-brain resolver
// (downing, notices, quarantine), redial, cluster names. See node_agent.hpp for the
// protocol; membership.hpp, downing.hpp and cluster_names.hpp for the rules;
// docs/cluster-services.md for how the resolver is applied.
#include "warden/node_agent.hpp"

#include <algorithm>
#include <charconv>
#include <deque>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include <caf/actor_system_config.hpp>
#include <caf/blocking_actor.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <fmt/format.h>

#include "internal/lost_proxy.hpp"
#include "internal/node_protocol.hpp"
#include "internal/process_probe.hpp"
#include "warden/atoms.hpp"
#include "warden/exit_reasons.hpp"
#include "warden/quorum_lease.hpp"


namespace warden {

namespace {

using time_point = caf::actor_clock::time_point;
using tick_atom = caf::atom_constant<caf::atom("wTick")>;
using introduce_atom = caf::atom_constant<caf::atom("wIntro")>;
/// (decide_atom, timer id): the resolver's decision falls due.
using decide_atom = caf::atom_constant<caf::atom("wDecide")>;
/// (probe_atom, address, incarnation, probe id, probe_result as uint8_t) from a prober.
using probe_atom = caf::atom_constant<caf::atom("wProbe")>;

std::string describe_member(const member_info& m) {
  return fmt::format("{}@{}#{}", m.name, m.address, m.incarnation);
}

int64_t to_ms(caf::timespan x) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(x).count();
}

/// Splits "host:port"; false when it is not one.
bool split_address(const std::string& address, std::string& host, uint16_t& port) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return false;
  host = address.substr(0, colon);
  auto digits = std::string_view{address}.substr(colon + 1);
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  return ec == std::errc{} && end == digits.data() + digits.size();
}

/// Refusals a dialer reports as `join_refused` (other failures only delay the redial).
bool is_refusal(const caf::error& err) {
  for (auto code : {errc::cluster_mismatch, errc::settings_mismatch, errc::types_mismatch,
                    errc::auth_failed, errc::not_a_member})
    if (is(err, code))
      return true;
  return false;
}

/// Refusals that do not go away by themselves: redialed at the slowest backoff. A
/// quarantine (`not_a_member`) ends on its own, soon: normal backoff.
bool is_lasting_refusal(const caf::error& err) {
  return is_refusal(err) && !is(err, errc::not_a_member);
}

/// A current member (in M): up or unreachable; not joining, down or removed.
bool is_current(member_state s) {
  return s == member_state::up || s == member_state::unreachable;
}

struct peer {
  member_info info;
  member_state state = member_state::joining;
  std::string reason;
  caf::actor agent;
  phi_accrual_detector detector;
  time_point since;
  bool left = false;
  /// Its observation from its last heartbeat: the addresses it sees unreachable.
  std::vector<std::string> sees_unreachable;
  /// When the newest of our heartbeats it acknowledged was sent.
  std::optional<time_point> acked_sent;
  /// Matches a probe's answer to the connection loss it was started for.
  uint64_t probe_id = 0;
  /// Down here, but this current member (its address) introduced it, so it is up there: it
  /// becomes a member again here too (unreachable, redialed) once its quarantine is over.
  std::string introduced_by;
  /// Back in the member set after being down, not yet handshaken: its handshake is a
  /// rejoin (`node_up` "rejoined").
  bool rejoining = false;
};

/// A member downed by the resolver (or a notice): its handshakes are refused until `until`.
struct quarantine_entry {
  uint64_t incarnation = 0;
  /// The current period: 2 x stable_after, doubled per consecutive downing, capped.
  caf::timespan period{0};
  time_point until;
  /// The resolver's reason and the leader that decided (for notices sent back to it).
  std::string reason;
  std::string leader;
  /// When it came back up (none while down): up for quarantine_reset forgets the entry.
  std::optional<time_point> up_since;
  /// A notice went back to it after one of its heartbeats (once per downing).
  bool told = false;
};

/// This node was downed by the resolver's leader: no lease, no downing decisions, and no
/// handshakes with the members that downed it until `until`; then until one of them takes
/// it back (or none of them is a member any more).
struct self_down_state {
  std::string reason;
  /// The address of the leader that decided.
  std::string leader;
  time_point until;
  caf::timespan period{0};
  /// The leader and the members that sent a notice: refused and not dialed until `until`.
  std::set<std::string> downers;
};

struct dial_target {
  time_point next;
  caf::timespan delay{0};
  bool in_flight = false;
  bool seed = false;
  /// The last refusal reported for this target (reported once until it changes).
  std::string refused;
  /// Who answered the current attempt's hello (its challenge), so that a refusal after
  /// it names the acceptor; empty until then.
  member_info acceptor{};
  /// When a current member introduced it (up there, not yet connected here).
  std::optional<time_point> introduced_at;
  /// The current attempt's number: answers to an abandoned attempt are ignored.
  uint64_t attempt = 0;
  /// The agent the current attempt greets (null unless a handshake is in flight).
  caf::actor agent;
};

struct pending_accept {
  member_info from;
  std::string nonce;
  caf::actor agent;
  time_point expires;
};

class node_agent : public caf::event_based_actor {
public:
  node_agent(caf::actor_config& cfg, agent_settings settings, caf::actor transport)
    : caf::event_based_actor(cfg),
      settings_(std::move(settings)),
      transport_(std::move(transport)),
      fingerprint_(settings_fingerprint(settings_)),
      rng_(std::random_device{}()) {
    std::sort(settings_.message_types.begin(), settings_.message_types.end());
    if (!settings_.view)
      settings_.view = std::make_shared<cluster_view>();
    if (!settings_.wall_clock_us)
      settings_.wall_clock_us = [] {
        return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count());
      };
  }

  const char* name() const override { return "warden.node_agent"; }

  void on_exit() override {
    // Drop every handle: the middleman's pending connects hold this actor and this actor
    // holds the middleman; a cycle would keep both threads alive at system shutdown.
    transport_ = nullptr;
    peers_.clear();
    accepting_.clear();
    names_.clear();
    lost_names_.clear();
  }

  caf::behavior make_behavior() override {
    set_down_handler([this](caf::down_msg& msg) { on_down(msg); });
    // CAF 0.17 quits an actor on an error message it has no handler for, and answers an
    // unexpected message with an error sent back: a stray reply from anywhere in the node
    // would stop the agent (and down this node everywhere). Drop both.
    set_default_handler(caf::drop);
    set_error_handler([](caf::error&) {});
    auto start = now();
    for (auto& seed : settings_.seeds)
      if (seed != settings_.self.address)
        dials_[seed] = dial_target{start, settings_.reconnect_min, false, true, {}};
    next_heartbeat_ = start;
    on_tick();
    return {
      [this](hello_atom, internal::hello_msg& m) -> caf::result<internal::challenge_msg> {
        return on_hello(m);
      },
      [this](auth_atom, internal::auth_msg& m) -> caf::result<internal::welcome_msg> {
        return on_auth(m);
      },
      [this](heartbeat_atom, const std::string& address, uint64_t incarnation, uint64_t seq,
             std::vector<std::string>& sees_unreachable) {
        on_heartbeat(address, incarnation);
        auto i = peers_.find(address);
        if (i == peers_.end() || i->second.info.incarnation != incarnation || !i->second.agent)
          return;
        auto agent = i->second.agent;
        auto state = i->second.state;
        observe(i->second, std::move(sees_unreachable));
        // Only current members get acks: a member this node downed (or that left) must not
        // renew its quorum lease here, or a paused node could hold it again after SIGCONT.
        // Nor does a member another member reports unreachable: in a bridge partition (n3
        // reaches n1 and n2, they do not reach each other) n3's acks would keep both ends'
        // leases alive until the leader downs one, and the other end would start that
        // one's services while it still runs them (found by a chaos gremlin's cut link).
        if (is_current(state) && !reported_unreachable(address))
          send(agent, heartbeat_ack_atom::value, settings_.self.address,
               settings_.self.incarnation, seq);
      },
      [this](heartbeat_ack_atom, const std::string& address, uint64_t incarnation,
             uint64_t seq) {
        auto i = peers_.find(address);
        if (i == peers_.end() || i->second.info.incarnation != incarnation)
          return;
        auto sent = std::find_if(heartbeats_sent_.begin(), heartbeats_sent_.end(),
                                 [&](auto& x) { return x.first == seq; });
        if (sent != heartbeats_sent_.end()
            && (!i->second.acked_sent || *i->second.acked_sent < sent->second))
          i->second.acked_sent = sent->second;
        lease_.acked(i->second.info, seq);
      },
      [this](name_add_atom, name_entry& entry) {
        if (auto* p = sending_peer(entry.owner))
          add_name(std::move(entry), *p);
      },
      [this](name_del_atom, const std::string& name, const std::string& address,
             uint64_t incarnation) {
        auto i = names_.find(name);
        if (i != names_.end() && i->second.owner.address == address
            && i->second.owner.incarnation == incarnation) {
          names_.erase(i);
          publish_view();
        }
      },
      [this](leave_atom, const std::string& address, uint64_t incarnation) -> ok_atom {
        auto i = peers_.find(address);
        if (i == peers_.end() || i->second.info.incarnation != incarnation)
          return ok_atom::value;
        i->second.left = true;
        if (i->second.state != member_state::down)
          mark_down(i->second, "left");
        remove_peer(i, "left");
        run_resolver();
        return ok_atom::value;
      },
      [this](leave_atom) -> caf::result<ok_atom> { return leave(); },
      [this](register_name_atom, std::string& name, caf::actor& target)
        -> caf::result<ok_atom> { return register_own(std::move(name), std::move(target), 0); },
      [this](register_name_atom, std::string& name, caf::actor& target, uint64_t epoch)
        -> caf::result<ok_atom> {
        return register_own(std::move(name), std::move(target), epoch);
      },
      [this](unregister_name_atom, const std::string& name) -> ok_atom {
        auto i = names_.find(name);
        if (i != names_.end() && same_member(i->second.owner, settings_.self))
          drop_own(i);
        return ok_atom::value;
      },
      [this](route_atom, const std::string& name, caf::message& msg)
        -> caf::result<caf::message> { return route(name, std::move(msg)); },
      [this](tick_atom) { on_tick(); },
      [this](introduce_atom, const member_info& m) {
        auto* by = sending_peer();
        // A client member's word makes nobody a member: it counts nowhere, and one that
        // reaches both sides of a partition would re-admit the cut-off side after every
        // quarantine (seen with the chaos tool's client: services flapped mid-partition).
        if (!by || by->info.client || m.address == settings_.self.address)
          return;
        auto i = peers_.find(m.address);
        if (i == peers_.end() || i->second.info.incarnation < m.incarnation) {
          schedule_redial(m.address, true);
          if (auto d = dials_.find(m.address); d != dials_.end() && !d->second.introduced_at)
            d->second.introduced_at = now();
          publish_view();
          return;
        }
        auto& p = i->second;
        if (p.info.incarnation == m.incarnation && p.state == member_state::down && !p.left) {
          // It is up at a current member: a member again here too (unreachable until a
          // handshake), or this node's view of M would differ from the others'.
          p.introduced_by = by->info.address;
          readmit_if_due(p);
        }
      },
      [this](down_notice_atom, down_notice& n) { on_notice(n); },
      [this](decide_atom, uint64_t id) {
        if (id != decide_timer_id_)
          return;
        decide_timer_at_.reset();
        run_resolver();
      },
      [this](probe_atom, const std::string& address, uint64_t incarnation, uint64_t id,
             uint8_t result) {
        on_probe(address, incarnation, id, static_cast<probe_result>(result));
      },
    };
  }

private:
  time_point now() { return clock().now(); }

  // --- events and the published view ---------------------------------------------------

  void emit(cluster_event_kind kind, const member_info& who, std::string reason = {},
            double phi = 0, std::string name = {}, std::string detail = {}) {
    if (!settings_.events)
      return;
    cluster_event ev;
    ev.kind = kind;
    ev.time = std::chrono::system_clock::now();
    ev.node = settings_.self.name;
    ev.peer = who.name;
    ev.address = who.address;
    ev.incarnation = who.incarnation;
    ev.reason = std::move(reason);
    ev.phi = phi;
    ev.name = std::move(name);
    ev.detail = std::move(detail);
    settings_.events->publish(ev);
  }

  bool joined() const {
    for (auto& [address, p] : peers_)
      if (is_current(p.state))
        return true;
    // With no other seed, or as the first seed, this node may form the cluster alone.
    auto& seeds = settings_.seeds;
    return seeds.empty() || seeds.front() == settings_.self.address
           || std::all_of(seeds.begin(), seeds.end(),
                          [&](auto& s) { return s == settings_.self.address; });
  }

  /// This node's observation: the members it sees unreachable.
  std::vector<std::string> unreachable_addresses() const {
    std::vector<std::string> out;
    for (auto& [address, p] : peers_)
      if (p.state == member_state::unreachable)
        out.push_back(address);
    return out;
  }

  void publish_view() {
    auto snap = std::make_shared<cluster_snapshot>();
    snap->published_at = std::chrono::steady_clock::now();
    auto t = now();
    snap->self = settings_.self;
    snap->cluster = settings_.cluster;
    member_status me;
    me.info = settings_.self;
    me.state = member_state::up;
    me.self = true;
    me.sees_unreachable = unreachable_addresses();
    if (self_down_) {
      me.state = member_state::down;
      me.reason = fmt::format("downed by {}: {}", self_down_->leader, self_down_->reason);
    }
    snap->members.push_back(std::move(me));
    for (auto& [address, p] : peers_) {
      member_status row;
      row.info = p.info;
      row.state = p.state;
      row.reason = p.reason;
      if (is_current(p.state))
        row.phi = p.detector.phi(t);
      row.since_ms = to_ms(t - p.since);
      row.sees_unreachable = p.sees_unreachable;
      if (p.acked_sent)
        row.last_ack_ms = to_ms(t - *p.acked_sent);
      snap->members.push_back(std::move(row));
    }
    snap->names = names_;
    snap->lost_names = lost_names_;
    snap->joined = joined();
    // Bounded: a member that stays unreachable from here must not block services forever.
    auto introduced_wait = 2 * settings_.handshake_timeout + settings_.reconnect_max;
    for (auto& [address, d] : dials_)
      if (d.introduced_at && t - *d.introduced_at < introduced_wait)
        snap->joining_members.push_back(address);
    // The lease counts the members not down: up and unreachable ones, and this node unless
    // it was downed (then it holds none until a member re-admits it).
    lease_.members(current_members(!self_down_));
    snap->lease_valid = lease_.valid(t);
    if (auto until = lease_.valid_until(); snap->lease_valid && until != time_point::max())
      snap->lease_left_ms = to_ms(*until - t);
    settings_.view->set(std::move(snap));
  }

  // --- dialing (this node starts the handshake) -----------------------------------------

  /// Dials `address` now (`soon`) or after the current backoff delay.
  void schedule_redial(const std::string& address, bool soon) {
    auto& d = dials_[address];
    if (d.in_flight)
      return;
    if (soon || d.delay.count() == 0)
      d.delay = settings_.reconnect_min;
    d.next = now() + (soon ? caf::timespan{0} : d.delay);
    if (soon && !leaving_ && may_dial(address, now()))
      dial(address);
  }

  void dial(const std::string& address) {
    auto& d = dials_[address];
    d.in_flight = true;
    d.acceptor = {};
    auto attempt = ++d.attempt;
    auto via = settings_.connect_via.find(address);
    auto& dialed = via != settings_.connect_via.end() ? via->second : address;
    std::string host;
    uint16_t port = 0;
    if (!split_address(dialed, host, port)) {
      dial_failed(address, caf::make_error(caf::sec::invalid_argument, "bad address " + dialed));
      return;
    }
    auto timeout = settings_.handshake_timeout;
    request(transport_, timeout, caf::connect_atom::value, host, port)
      .then(
        [this, address, attempt](caf::node_id&, caf::strong_actor_ptr& ptr,
                                 std::set<std::string>&) {
          if (abandoned(address, attempt))
            return;
          if (!ptr) {
            dial_failed(address, make_error(errc::node_unavailable,
                                            "nothing published at " + address));
            return;
          }
          say_hello(address, attempt, caf::actor_cast<caf::actor>(ptr));
        },
        step_failed(address, attempt));
  }

  /// True if `attempt` at `address` was given up (`abandon_lost_handshakes`): its answers,
  /// late timeouts included, must not touch the attempt that replaced it.
  bool abandoned(const std::string& address, uint64_t attempt) const {
    auto i = dials_.find(address);
    return i != dials_.end() && i->second.attempt != attempt;
  }

  /// The error handler of a step of dial `attempt` at `address`.
  std::function<void(caf::error&)> step_failed(const std::string& address, uint64_t attempt) {
    return [this, address, attempt](caf::error& err) {
      if (!abandoned(address, attempt))
        dial_failed(address, std::move(err));
    };
  }

  /// Gives up every handshake whose agent CAF has lost and redials it after
  /// reconnect_min: CAF 0.17.6 drops the hello to such a proxy without a word, so it
  /// would wait out the whole handshake timeout (2 s). Seen when two nodes dial each other
  /// at once: CAF closes one of the two connections and with it the proxy the other
  /// handshake talks to.
  void abandon_lost_handshakes() {
    std::vector<std::string> lost;
    for (auto& [address, d] : dials_)
      if (d.agent && internal::is_gone(d.agent))
        lost.push_back(address);
    for (auto& address : lost) {
      auto& d = dials_[address];
      ++d.attempt;
      d.in_flight = false;
      d.agent = nullptr;
      // It answered a moment ago: soon again, jittered (the other end may redial too).
      d.delay = settings_.reconnect_min;
      d.next = jittered_after(d.delay);
    }
  }

  /// Now plus `delay` +-20%, so that nodes cut off together do not redial in lockstep.
  time_point jittered_after(caf::timespan delay) {
    std::uniform_real_distribution<double> jitter{0.8, 1.2};
    return now() + std::chrono::duration_cast<caf::timespan>(delay * jitter(rng_));
  }

  void say_hello(const std::string& address, uint64_t attempt, caf::actor their) {
    if (auto d = dials_.find(address); d != dials_.end())
      d->second.agent = their;
    auto nonce = internal::make_nonce();
    internal::hello_msg hello{settings_.cluster, settings_.self, fingerprint_,
                              settings_.message_types, nonce};
    auto timeout = settings_.handshake_timeout;
    request(their, timeout, hello_atom::value, std::move(hello))
      .then(
        [this, address, attempt, their, nonce](internal::challenge_msg& c) {
          if (abandoned(address, attempt))
            return;
          if (auto d = dials_.find(address); d != dials_.end())
            d->second.acceptor = c.from;
          auto expected = internal::prove(settings_.secret, challenge_text(nonce, c.from));
          bool authentic = internal::same_proof(c.proof, expected);
          // Prove ourselves even to an impostor: the acceptor then logs the refusal too.
          internal::auth_msg auth{internal::prove(settings_.secret,
                                                  auth_text(c.nonce, settings_.self)),
                                  known_members(), own_names()};
          std::vector<std::string> names_sent;
          for (auto& entry : auth.names)
            names_sent.push_back(entry.name);
          request(their, settings_.handshake_timeout, auth_atom::value, std::move(auth))
            .then(
              [this, address, attempt, their, authentic, from = c.from,
               names_sent](internal::welcome_msg& w) {
                if (abandoned(address, attempt))
                  return;
                if (!authentic) {
                  dial_failed(address, make_error(errc::auth_failed,
                                                  describe_member(from)
                                                    + " could not prove the cluster secret"));
                  return;
                }
                // Downed (or this node downed by it) while the handshake ran.
                if (auto why = quarantine_refusal(from, now()); !why.empty()) {
                  dial_failed(address, make_error(errc::not_a_member, std::move(why)));
                  return;
                }
                dials_.erase(address);
                auto* p = member_joined(from, their);
                if (!p)
                  return;
                merge(w.members, w.names, *p);
                // A name dropped since the auth went out: the drop's notice went to the
                // members of that moment, which it was not yet (a stale entry there would
                // keep a cluster service from starting anywhere, seen in a chaos run).
                for (auto& name : names_sent)
                  if (auto i = names_.find(name);
                      i == names_.end() || !same_member(i->second.owner, settings_.self))
                    send(their, name_del_atom::value, name, settings_.self.address,
                         settings_.self.incarnation);
              },
              step_failed(address, attempt));
        },
        step_failed(address, attempt));
  }

  void dial_failed(const std::string& address, caf::error err) {
    auto i = dials_.find(address);
    if (i == dials_.end())
      return;
    auto& d = i->second;
    d.in_flight = false;
    d.agent = nullptr;
    if (is_refusal(err)) {
      auto text = describe(err);
      if (d.refused != text) {
        d.refused = text;
        member_info who;
        who.name = d.acceptor.name;  // empty when the hello itself was refused
        who.incarnation = d.acceptor.incarnation;
        who.address = address;
        emit(cluster_event_kind::join_refused, who, "refused by " + address + ": " + text);
      }
    }
    if (is_lasting_refusal(err)) {
      d.delay = settings_.reconnect_max;  // a refusal will not go away soon
    } else {
      d.delay = std::min(caf::timespan{d.delay * 2}, caf::timespan{settings_.reconnect_max});
    }
    d.next = jittered_after(d.delay);
  }

  // --- accepting (the other node starts) ------------------------------------------------

  static std::string challenge_text(const std::string& nonce, const member_info& signer) {
    return fmt::format("challenge|{}|{}|{}", nonce, signer.address, signer.incarnation);
  }

  static std::string auth_text(const std::string& nonce, const member_info& signer) {
    return fmt::format("auth|{}|{}|{}", nonce, signer.address, signer.incarnation);
  }

  caf::error refuse(const member_info& from, errc code, std::string why) {
    emit(cluster_event_kind::join_refused, from, fmt::format("{}: {}", to_string(code), why));
    return make_error(code, std::move(why));
  }

  caf::result<internal::challenge_msg> on_hello(internal::hello_msg& m) {
    if (m.cluster != settings_.cluster)
      return refuse(m.from, errc::cluster_mismatch,
                    fmt::format("cluster \"{}\" is not this cluster \"{}\"", m.cluster,
                                settings_.cluster));
    if (m.settings != fingerprint_)
      return refuse(m.from, errc::settings_mismatch,
                    fmt::format("failure-detector settings differ: theirs [{}], ours [{}]",
                                m.settings, fingerprint_));
    std::sort(m.types.begin(), m.types.end());
    if (m.types != settings_.message_types)
      return refuse(m.from, errc::types_mismatch,
                    fmt::format("registered message types differ: theirs [{}], ours [{}]",
                                fmt::join(m.types, ","), fmt::join(settings_.message_types, ",")));
    if (m.from.address == settings_.self.address)
      return refuse(m.from, errc::cluster_mismatch,
                    "the peer advertises this node's own address " + m.from.address);
    if (leaving_)
      return make_error(errc::node_unavailable, settings_.self.name + " is leaving");
    if (auto why = quarantine_refusal(m.from, now()); !why.empty())
      return refuse(m.from, errc::not_a_member, std::move(why));
    auto sender = caf::actor_cast<caf::actor>(current_sender());
    auto nonce = internal::make_nonce();
    accepting_[sender.address()] = pending_accept{m.from, nonce, sender,
                                                  now() + settings_.handshake_timeout};
    return internal::challenge_msg{settings_.self, nonce,
                                   internal::prove(settings_.secret,
                                                   challenge_text(m.nonce, settings_.self))};
  }

  caf::result<internal::welcome_msg> on_auth(internal::auth_msg& m) {
    auto i = accepting_.find(caf::actor_cast<caf::actor_addr>(current_sender()));
    if (i == accepting_.end())
      return make_error(errc::not_a_member, "no hello before auth, or the handshake timed out");
    auto pending = std::move(i->second);
    accepting_.erase(i);
    auto expected = internal::prove(settings_.secret, auth_text(pending.nonce, pending.from));
    if (!internal::same_proof(m.proof, expected))
      return refuse(pending.from, errc::auth_failed,
                    describe_member(pending.from)
                      + " could not prove the cluster secret (wrong secret?)");
    // Downed (or this node downed by it) since its hello.
    if (auto why = quarantine_refusal(pending.from, now()); !why.empty())
      return refuse(pending.from, errc::not_a_member, std::move(why));
    auto* p = member_joined(pending.from, pending.agent);
    if (!p)
      return make_error(errc::node_unavailable, "a newer incarnation of "
                                                  + pending.from.address + " is a member");
    internal::welcome_msg welcome{known_members(), own_names()};
    merge(m.members, m.names, *p);
    return welcome;
  }

  // --- membership -----------------------------------------------------------------------

  std::vector<member_info> known_members() const {
    std::vector<member_info> result;
    for (auto& [address, p] : peers_)
      if (p.state != member_state::removed && !p.left)
        result.push_back(p.info);
    return result;
  }

  /// A handshake completed with `info`: it becomes (or stays) up. Null when `info` is an
  /// older incarnation than the member we know at that address.
  peer* member_joined(const member_info& info, const caf::actor& agent) {
    auto t = now();
    auto i = peers_.find(info.address);
    if (i != peers_.end()) {
      auto& p = i->second;
      if (info.incarnation < p.info.incarnation)
        return nullptr;
      if (info.incarnation > p.info.incarnation) {
        if (p.state != member_state::down)
          mark_down(p, fmt::format("restarted as incarnation {}", info.incarnation));
        remove_peer(i, fmt::format("replaced by incarnation {}", info.incarnation));
        i = peers_.end();
      }
    }
    dials_.erase(info.address);
    if (i == peers_.end())
      i = peers_.emplace(info.address, peer{info, member_state::joining, {}, {},
                                            phi_accrual_detector{settings_.detector}, t,
                                            false})
            .first;
    auto& p = i->second;
    if (p.agent != agent) {
      if (p.agent)
        demonitor(p.agent);
      p.agent = agent;
      monitor(agent);
    }
    // Back in once one that downed it takes it back after the quarantine; a handshake
    // with another downed member does not count (together they could down the majority).
    if (self_down_ && t >= self_down_->until && !info.client
        && (self_down_->downers.count(info.address) > 0 || downers_gone()))
      end_self_down(t);
    if (p.state == member_state::unreachable && !p.rejoining) {
      // A fresh connection (after a lost one): it answered the whole handshake just now.
      p.state = member_state::up;
      p.reason.clear();
      p.since = t;
      p.detector = phi_accrual_detector{settings_.detector};
      p.detector.heartbeat(t);
      tracker_.reachable(p.info, true, t);
      emit(cluster_event_kind::node_reachable, p.info);
    } else if (p.state != member_state::up) {
      bool rejoined = p.state == member_state::down || p.rejoining;
      if (rejoined)
        if (auto q = quarantine_.find(info.address);
            q != quarantine_.end() && q->second.incarnation == info.incarnation)
          q->second.up_since = t;
      p.info = info;
      p.state = member_state::up;
      p.reason.clear();
      p.since = t;
      p.introduced_by.clear();
      p.rejoining = false;
      p.detector = phi_accrual_detector{settings_.detector};
      p.detector.heartbeat(t);
      tracker_.reachable(p.info, true, t);
      emit(cluster_event_kind::node_up, p.info, rejoined ? "rejoined" : "");
      // Introduce it to the others and them to it: handshakes that ran at the same time
      // may each have missed the other (full mesh, also after a partition heals).
      for (auto& [address, other] : peers_)
        if (other.agent && &other != &p && other.state == member_state::up) {
          send(other.agent, introduce_atom::value, p.info);
          send(p.agent, introduce_atom::value, other.info);
        }
      // Our names may be new to it (or lost on its side while we were cut off).
      for (auto& entry : own_names())
        send(p.agent, name_add_atom::value, entry);
    }
    publish_view();
    run_resolver();
    return &p;
  }

  void merge(const std::vector<member_info>& members, std::vector<name_entry>& names,
             peer& from) {
    for (auto& m : members) {
      if (m.address == settings_.self.address)
        continue;
      auto i = peers_.find(m.address);
      if (i == peers_.end() || i->second.info.incarnation < m.incarnation)
        schedule_redial(m.address, true);
    }
    for (auto& entry : names)
      if (same_member(entry.owner, from.info))
        add_name(std::move(entry), from);
    publish_view();
  }

  /// Down: out of M here. Callers run the resolver afterwards (M changed).
  void mark_down(peer& p, std::string reason) {
    auto t = now();
    p.state = member_state::down;
    p.reason = reason;
    p.since = t;
    p.sees_unreachable.clear();
    p.introduced_by.clear();
    p.rejoining = false;
    p.probe_id = 0;  // a probe still running answers for an older loss
    tracker_.remove(p.info);
    if (p.agent) {
      demonitor(p.agent);
      p.agent = nullptr;
    }
    for (auto i = names_.begin(); i != names_.end();) {
      if (same_member(i->second.owner, p.info)) {
        lost_names_[i->first] = p.info;
        i = names_.erase(i);
      } else {
        ++i;
      }
    }
    emit(cluster_event_kind::node_down, p.info, std::move(reason));
    if (!p.left && !leaving_)
      schedule_redial(p.info.address, false);
    publish_view();
  }

  void remove_peer(std::map<std::string, peer>::iterator i, std::string reason) {
    auto info = i->second.info;
    for (auto j = lost_names_.begin(); j != lost_names_.end();)
      j = same_member(j->second, info) ? lost_names_.erase(j) : std::next(j);
    bool seed = std::find(settings_.seeds.begin(), settings_.seeds.end(), info.address)
                != settings_.seeds.end();
    auto d = dials_.find(info.address);
    if (d != dials_.end() && !seed && !d->second.in_flight)
      dials_.erase(d);
    if (auto q = quarantine_.find(info.address);
        q != quarantine_.end() && q->second.incarnation == info.incarnation)
      quarantine_.erase(q);
    tracker_.remove(info);
    peers_.erase(i);
    emit(cluster_event_kind::node_removed, info, std::move(reason));
    publish_view();
  }

  void on_down(caf::down_msg& msg) {
    for (auto& [address, p] : peers_) {
      if (p.agent && p.agent.address() == msg.source) {
        if (msg.reason == caf::exit_reason::remote_link_unreachable
            || msg.reason == caf::sec::remote_linking_failed) {
          connection_lost(p);
          return;
        }
        mark_down(p, is_normal(msg.reason) || is_shutdown(msg.reason) ? "stopped"
                                                                        : describe(msg.reason));
        run_resolver();
        return;
      }
    }
    for (auto i = names_.begin(); i != names_.end(); ++i)
      if (same_member(i->second.owner, settings_.self) && i->second.target.address() == msg.source) {
        drop_own(i);
        return;
      }
  }

  void on_heartbeat(const std::string& address, uint64_t incarnation) {
    auto i = peers_.find(address);
    if (i == peers_.end() || i->second.info.incarnation != incarnation)
      return;
    auto& p = i->second;
    auto t = now();
    switch (p.state) {
      case member_state::up:
        p.detector.heartbeat(t);
        break;
      case member_state::unreachable:
        if (!p.agent || p.rejoining)
          break;  // its heartbeats do not reach us on a closed connection: a stray one
        // The gap was a pause (ours or theirs), not the normal rhythm: start afresh.
        p.detector = phi_accrual_detector{settings_.detector};
        p.detector.heartbeat(t);
        p.state = member_state::up;
        p.reason.clear();
        p.since = t;
        tracker_.reachable(p.info, true, t);
        emit(cluster_event_kind::node_reachable, p.info);
        publish_view();
        run_resolver();
        break;
      case member_state::down:
        if (p.left)
          break;
        if (auto* q = quarantined(p.info, t)) {
          // It may not know it was downed (it hung, or was cut off): tell it once, so it
          // fences and keeps out the members that downed it for the rest of the period.
          if (!q->told) {
            q->told = true;
            auto to = caf::actor_cast<caf::actor>(current_sender());
            if (to)
              send(to, down_notice_atom::value,
                   down_notice{p.info.address, p.info.incarnation, q->reason, q->leader,
                               to_ms(q->until - t)});
          }
          break;
        }
        // It is alive after all (a false suspicion, or its quarantine is over): handshake
        // again right away.
        schedule_redial(address, true);
        break;
      default:
        break;
    }
  }

  void on_tick() {
    auto t = now();
    // A tick far behind schedule means this node itself was paused (SIGSTOP, a stalled
    // VM): its silence from others is our own. Judge them afresh instead of suspecting all.
    auto late = settings_.heartbeat_interval + settings_.detector.acceptable_pause;
    if (last_tick_ && t - *last_tick_ > late)
      restart_detectors(t);
    last_tick_ = t;
    if (self_down_ && t >= self_down_->until && downers_gone()) {
      end_self_down(t);
      run_resolver();
    }
    if (t >= next_heartbeat_) {
      auto seq = ++heartbeat_seq_;
      heartbeats_sent_.emplace_back(seq, t);
      lease_.heartbeat_sent(seq, t);
      if (heartbeats_sent_.size() > max_heartbeats_remembered)
        heartbeats_sent_.pop_front();
      auto observation = unreachable_addresses();
      for (auto& [address, p] : peers_)
        if (p.agent)
          send(p.agent, heartbeat_atom::value, settings_.self.address,
               settings_.self.incarnation, seq, observation);
      next_heartbeat_ = t + settings_.heartbeat_interval;
    }
    bool changed = false;
    for (auto i = peers_.begin(); i != peers_.end();) {
      auto& p = i->second;
      auto next = std::next(i);
      // A downed node hears no heartbeats from the members that downed it, by design: its
      // silence verdicts would be gossiped as news once it is back (and down a member).
      if (p.state == member_state::up && !self_down_ && !p.detector.available(t)) {
        p.state = member_state::unreachable;
        p.since = t;
        tracker_.reachable(p.info, false, t);
        emit(cluster_event_kind::node_unreachable, p.info, {}, p.detector.phi(t));
        changed = true;
      } else if (p.state == member_state::down && !p.introduced_by.empty()) {
        changed = readmit_if_due(p) || changed;
      } else if (p.state == member_state::down && t - p.since >= settings_.down_removal) {
        remove_peer(i, fmt::format("down for {} ms", to_ms(t - p.since)));
      }
      i = next;
    }
    // Quarantines of members that stayed up long enough start afresh next time.
    std::erase_if(quarantine_, [&](const auto& q) {
      return q.second.up_since && t - *q.second.up_since >= defaults::quarantine_reset;
    });
    abandon_lost_handshakes();
    if (!leaving_) {
      std::vector<std::string> due;
      for (auto& [address, d] : dials_)
        if (!d.in_flight && d.next <= t && may_dial(address, t)) {
          auto p = peers_.find(address);
          if (p == peers_.end() || p->second.state == member_state::down
              || p->second.state == member_state::joining
              || (p->second.state == member_state::unreachable && !p->second.agent))
            due.push_back(address);
        }
      for (auto& address : due)
        dial(address);
    }
    if (changed)
      run_resolver();
    for (auto i = accepting_.begin(); i != accepting_.end();)
      i = i->second.expires <= t ? accepting_.erase(i) : std::next(i);
    publish_view();
    delayed_send(this, settings_.heartbeat_interval / 2, tick_atom::value);
  }

  /// The member whose agent sent the current message (null for anyone else).
  peer* sending_peer() {
    auto sender = caf::actor_cast<caf::actor_addr>(current_sender());
    for (auto& [address, p] : peers_)
      if (p.agent && p.agent.address() == sender)
        return &p;
    return nullptr;
  }

  /// The sending member, if it is `claimed` (names are announced by their owners only).
  peer* sending_peer(const member_info& claimed) {
    auto* p = sending_peer();
    return p != nullptr && same_member(p->info, claimed) ? p : nullptr;
  }

  /// Tells every member that this node leaves; answers once all acknowledged (or timed
  /// out), so the node can stop without the members mistaking it for a crash.
  caf::result<ok_atom> leave() {
    leaving_ = true;
    auto rp = make_response_promise<ok_atom>();
    auto pending = std::make_shared<size_t>(0);
    for (auto& [address, p] : peers_)
      if (p.agent)
        ++*pending;
    if (*pending == 0)
      return ok_atom::value;
    auto done = [rp, pending]() mutable {
      if (--*pending == 0)
        rp.deliver(ok_atom::value);
    };
    for (auto& [address, p] : peers_)
      if (p.agent)
        request(p.agent, settings_.handshake_timeout, leave_atom::value,
                settings_.self.address, settings_.self.incarnation)
          .then([done](ok_atom) mutable { done(); }, [done](caf::error&) mutable { done(); });
    return rp;
  }

  // --- the split-brain resolver: downing, notices, quarantine ---------------------------

  /// M: the members not down (up or unreachable), this node first when `with_self`.
  std::vector<member_info> current_members(bool with_self) const {
    std::vector<member_info> out;
    if (with_self)
      out.push_back(settings_.self);
    for (auto& [address, p] : peers_)
      if (is_current(p.state) && !p.info.client)
        out.push_back(p.info);
    return out;
  }

  /// The agents of the members this node sees reachable (notices go to them).
  std::vector<caf::actor> reachable_agents() const {
    std::vector<caf::actor> out;
    for (auto& [address, p] : peers_)
      if (p.state == member_state::up && p.agent)
        out.push_back(p.agent);
    return out;
  }

  /// A heartbeat's observation: the addresses `p` sees unreachable, as current members
  /// (unknown addresses ignored), for the tracker.
  /// True when an up member other than `address` itself (clients excluded: their view
  /// counts nowhere) reported `address` unreachable in its latest heartbeat.
  bool reported_unreachable(const std::string& address) const {
    return std::any_of(peers_.begin(), peers_.end(), [&](const auto& entry) {
      auto& p = entry.second;
      return entry.first != address && p.state == member_state::up && !p.info.client
             && std::find(p.sees_unreachable.begin(), p.sees_unreachable.end(), address)
                  != p.sees_unreachable.end();
    });
  }

  void observe(peer& p, std::vector<std::string> sees_unreachable) {
    bool changed = p.sees_unreachable != sees_unreachable;
    p.sees_unreachable = std::move(sees_unreachable);
    if (!is_current(p.state))
      return;
    std::vector<member_info> seen;
    for (auto& address : p.sees_unreachable) {
      if (address == settings_.self.address) {
        seen.push_back(settings_.self);
        continue;
      }
      auto i = peers_.find(address);
      if (i != peers_.end() && is_current(i->second.state))
        seen.push_back(i->second.info);
    }
    tracker_.observed(p.info, std::move(seen), now());
    if (changed) {
      publish_view();
      run_resolver();
    }
  }

  /// Runs the resolver on the tracker's view and acts on it: downs what it says when this
  /// node leads and the decision is due, else (re)arms the one timer for `decide_at`.
  void run_resolver() {
    if (leaving_ || self_down_ || settings_.self.client) {
      cancel_decide_timer();
      return;
    }
    // Each round downs members (and forgets them) or ends: at most one round per member.
    for (size_t round = 0; round <= peers_.size() + 1; ++round) {
      auto t = now();
      auto d = decide_downing(without_clients(tracker_.input(settings_.self, t)));
      if (!d.to_down.empty()) {
        apply_downing(d.to_down);
        if (self_down_ || leaving_) {
          cancel_decide_timer();
          return;
        }
        continue;
      }
      if (!d.decide_at || d.decided) {
        cancel_decide_timer();
        return;
      }
      if (decide_timer_at_ == d.decide_at)
        return;
      // Never more than the handshake timeout ahead: CAF's clock holds the agent until a
      // timer fires, and stopping the node waits for that (node.cpp). A shorter timer
      // just runs the resolver early, which re-arms it.
      decide_timer_at_ = d.decide_at;
      auto delay = std::min(caf::timespan{*d.decide_at - t}, settings_.handshake_timeout);
      delayed_send(this, delay, decide_atom::value, ++decide_timer_id_);
      return;
    }
  }

  /// Client members count nowhere: not in M, not as observers, not as observed.
  static downing_input without_clients(downing_input in) {
    auto is_client = [](const member_info& m) { return m.client; };
    std::erase_if(in.members, [&](const reachability_row& r) { return is_client(r.member); });
    std::erase_if(in.observations, [&](const observation& o) { return is_client(o.observer); });
    for (auto& o : in.observations)
      std::erase_if(o.unreachable, is_client);
    return in;
  }

  void cancel_decide_timer() {
    if (decide_timer_at_) {
      decide_timer_at_.reset();
      ++decide_timer_id_;  // a pending timer message is ignored when it comes
    }
  }

  /// The leader's decision: down each member (this node last, if it is among them) and
  /// tell every member seen reachable before, the downed ones included.
  void apply_downing(const std::vector<down_order>& orders) {
    auto t = now();
    auto recipients = reachable_agents();
    std::vector<down_notice> notices;
    const down_order* self_order = nullptr;
    for (auto& o : orders) {
      if (same_member(o.member, settings_.self)) {
        self_order = &o;
        continue;
      }
      auto i = peers_.find(o.member.address);
      if (i == peers_.end() || !same_member(i->second.info, o.member)
          || i->second.state == member_state::down) {
        tracker_.remove(o.member);
        continue;
      }
      auto period = start_quarantine(i->second.info, o.reason, settings_.self.address, t);
      notices.push_back(down_notice{o.member.address, o.member.incarnation, o.reason,
                                    settings_.self.address, to_ms(period)});
      mark_down(i->second, o.reason);
    }
    caf::timespan own_period{0};
    if (self_order) {
      own_period = start_quarantine(settings_.self, self_order->reason,
                                    settings_.self.address, t);
      notices.push_back(down_notice{settings_.self.address, settings_.self.incarnation,
                                    self_order->reason, settings_.self.address,
                                    to_ms(own_period)});
    }
    for (auto& to : recipients)
      for (auto& n : notices)
        send(to, down_notice_atom::value, n);
    if (self_order)
      become_self_downed(self_order->reason, settings_.self.address, {}, own_period, t);
  }

  /// A leader's decision reached this node (from the leader, or relayed).
  void on_notice(const down_notice& n) {
    auto* from = sending_peer();
    if (!from)
      return;  // only current members' decisions count (not a downed leader's)
    auto t = now();
    if (n.address == settings_.self.address) {
      // A client that relayed the notice keeps nobody out and takes nobody back: its
      // handshake after the quarantine re-admitted a node that the leader still had down,
      // which then downed the leader, and both ran every service (seen in a chaos gremlin).
      if (n.incarnation == settings_.self.incarnation)
        become_self_downed(n.reason, n.leader, from->info.client ? "" : from->info.address,
                           std::chrono::milliseconds{std::max<int64_t>(n.quarantine_ms, 0)}, t);
      return;
    }
    auto i = peers_.find(n.address);
    if (i == peers_.end() || i->second.info.incarnation != n.incarnation
        || i->second.state == member_state::down)
      return;
    auto& p = i->second;
    auto reason = fmt::format("{} (by {})", n.reason, n.leader);
    caf::timespan period{0};
    if (n.reason != down_reason::process_gone)
      period = start_quarantine(p.info, n.reason, n.leader, t);
    // Relay it to the downed member while this node still reaches it: the leader may not
    // (a bridge partition), and the downed node must fence at once, before it could make
    // decisions of its own on a view that still has it as a member.
    if (p.agent)
      send(p.agent, down_notice_atom::value,
           down_notice{n.address, n.incarnation, n.reason, n.leader, to_ms(period)});
    mark_down(p, std::move(reason));
    run_resolver();
  }

  /// This node was downed: no lease, no decisions, and the members that downed it kept out
  /// for `period`; it keeps running and rejoins when one takes it back after that.
  void become_self_downed(const std::string& reason, const std::string& leader,
                          const std::string& sender, caf::timespan period, time_point t) {
    if (self_down_ && t < self_down_->until) {
      // Already out: later notices only add who keeps it out.
      for (auto* a : {&leader, &sender})
        if (!a->empty() && *a != settings_.self.address)
          self_down_->downers.insert(*a);
      return;
    }
    self_down_state st;
    st.reason = reason;
    st.leader = leader;
    st.period = period;
    st.until = t + period;
    for (auto* a : {&leader, &sender})
      if (!a->empty() && *a != settings_.self.address)
        st.downers.insert(*a);
    self_down_ = std::move(st);
    cancel_decide_timer();
    member_info who;
    who.address = leader;
    if (leader == settings_.self.address) {
      who = settings_.self;
    } else if (auto i = peers_.find(leader); i != peers_.end()) {
      who = i->second.info;
    }
    emit(cluster_event_kind::self_downed, who, reason, 0, {},
         fmt::format("quarantined for {} ms", to_ms(period)));
    publish_view();
  }

  /// Starts (or doubles) the quarantine of `m`, downed for `reason` by `leader`; its
  /// period: 2 x stable_after, doubled per consecutive downing, capped, afresh once the
  /// member stayed up quarantine_reset (the entry is gone then).
  caf::timespan start_quarantine(const member_info& m, const std::string& reason,
                                 const std::string& leader, time_point t) {
    auto& q = quarantine_[m.address];
    caf::timespan first = 2 * settings_.downing.stable_after;
    caf::timespan longest = defaults::quarantine_max;
    if (q.incarnation != m.incarnation || q.period.count() == 0)
      q.period = std::min(first, longest);
    else
      q.period = std::min(caf::timespan{2 * q.period}, longest);
    q.incarnation = m.incarnation;
    q.until = t + q.period;
    q.reason = reason;
    q.leader = leader;
    q.up_since.reset();
    q.told = false;
    return q.period;
  }

  /// The quarantine `m` is in at `t`, if any.
  quarantine_entry* quarantined(const member_info& m, time_point t) {
    auto i = quarantine_.find(m.address);
    if (i == quarantine_.end() || i->second.incarnation != m.incarnation
        || i->second.until <= t)
      return nullptr;
    return &i->second;
  }

  /// Why no handshake with `m` may complete at `t` (empty: it may).
  std::string quarantine_refusal(const member_info& m, time_point t) {
    if (auto* q = quarantined(m, t))
      return fmt::format("quarantined for {} ms after being downed ({}{})", to_ms(q->period),
                         q->reason,
                         q->leader == settings_.self.address ? "" : ", by " + q->leader);
    if (self_down_ && t < self_down_->until && self_down_->downers.count(m.address) > 0)
      return fmt::format("{} is quarantined for {} ms after being downed by {} ({})",
                         settings_.self.name, to_ms(self_down_->period), self_down_->leader,
                         self_down_->reason);
    return {};
  }

  /// False while `address` is quarantined here, or is one that downed this node.
  bool may_dial(const std::string& address, time_point t) {
    if (auto i = peers_.find(address); i != peers_.end() && quarantined(i->second.info, t))
      return false;
    return !(self_down_ && t < self_down_->until && self_down_->downers.count(address) > 0);
  }

  /// This node is a member again (its own quarantine, if it downed itself, counts as up).
  void end_self_down(time_point t) {
    self_down_.reset();
    // What it heard before it was downed is stale (e.g. "it is unreachable" from the members
    // that downed it) and would look settled: fresh heartbeats bring the present views.
    restart_detectors(t);
    for (auto& [address, p] : peers_)
      if (!p.sees_unreachable.empty()) {
        p.sees_unreachable.clear();
        if (is_current(p.state))
          tracker_.observed(p.info, {}, t);
      }
    if (auto q = quarantine_.find(settings_.self.address);
        q != quarantine_.end() && q->second.incarnation == settings_.self.incarnation)
      q->second.up_since = t;
  }

  /// Judges every member's heartbeats afresh from `t` (after a silence that was ours).
  void restart_detectors(time_point t) {
    for (auto& [address, p] : peers_)
      if (is_current(p.state)) {
        p.detector = phi_accrual_detector{settings_.detector};
        p.detector.heartbeat(t);
      }
  }

  /// Every member that downed this node is gone (its process gone, left, forgotten): nobody
  /// is left to take it back. One this node downed itself is not gone: in a bridge partition
  /// the two ends down each other, and the end that came back on its own would be a
  /// winning side of {itself, the bridge} and run every service (seen in a chaos gremlin).
  bool downers_gone() const {
    if (!self_down_)
      return true;
    return std::all_of(self_down_->downers.begin(), self_down_->downers.end(),
                       [&](const std::string& address) {
                         auto i = peers_.find(address);
                         if (i == peers_.end() || i->second.state == member_state::removed)
                           return true;
                         auto& p = i->second;
                         return p.state == member_state::down
                                && (p.left || p.reason.starts_with(down_reason::process_gone));
                       });
  }

  /// A member introduced while down here becomes a member again once its quarantine here
  /// is over: unreachable (a handshake makes it up) and redialed. True if it did.
  bool readmit_if_due(peer& p) {
    auto t = now();
    if (p.introduced_by.empty() || quarantined(p.info, t) || leaving_)
      return false;
    auto by = std::exchange(p.introduced_by, std::string{});
    p.state = member_state::unreachable;
    p.reason = "up at " + by;
    p.since = t;
    p.rejoining = true;
    tracker_.reachable(p.info, false, t);
    emit(cluster_event_kind::node_unreachable, p.info, p.reason);
    schedule_redial(p.info.address, true);
    publish_view();
    run_resolver();
    return true;
  }

  /// The connection to `p` closed. Not proof of death (a cut link, a reset): unreachable,
  /// redialed, and its advertised address probed; only a refused probe downs it at once.
  void connection_lost(peer& p) {
    auto t = now();
    p.agent = nullptr;  // CAF's handle stays dead: a new connection brings a new one
    p.reason = "connection lost";
    if (p.state == member_state::up) {
      p.state = member_state::unreachable;
      p.since = t;
      tracker_.reachable(p.info, false, t);
      emit(cluster_event_kind::node_unreachable, p.info, p.reason, p.detector.phi(t));
    }
    if (!leaving_)
      schedule_redial(p.info.address, false);
    publish_view();
    auto address = p.info.address;
    auto incarnation = p.info.incarnation;
    auto id = p.probe_id = ++probe_seq_;
    run_resolver();
    start_probe(address, incarnation, id);
  }

  /// Probes `address` directly (never through connect_via: a chaos proxy must not hide
  /// a live process, nor give CAF a route around a partition). Off this thread.
  void start_probe(const std::string& address, uint64_t incarnation, uint64_t id) {
    if (settings_.probe) {
      on_probe(address, incarnation, id, settings_.probe(address));
      return;
    }
    std::string host;
    uint16_t port = 0;
    if (!split_address(address, host, port))
      return;
    auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::min(settings_.handshake_timeout, caf::timespan{defaults::probe_timeout}));
    // A weak handle: a probe in flight must not keep a stopping agent alive.
    auto agent = this->address();
    home_system().spawn([=](caf::blocking_actor* prober) {
      auto result = internal::probe_tcp(host, port, timeout);
      // A killed process closes its connections before its listening socket: a probe
      // right after the connection loss may still be accepted (seen in CI). Ask again.
      if (result == probe_result::accepted) {
        std::this_thread::sleep_for(defaults::probe_recheck);
        result = internal::probe_tcp(host, port, timeout);
      }
      if (auto to = caf::actor_cast<caf::actor>(agent))
        prober->send(to, probe_atom::value, address, incarnation, id,
                     static_cast<uint8_t>(result));
    });
  }

  /// A probe answered. Refused: the process is gone, down at once (no leader needed, no
  /// quarantine: a restart is a new incarnation). Otherwise the detector and the resolver
  /// decide.
  void on_probe(const std::string& address, uint64_t incarnation, uint64_t id,
                probe_result result) {
    auto i = peers_.find(address);
    if (i == peers_.end() || i->second.info.incarnation != incarnation)
      return;
    auto& p = i->second;
    // Stale: another loss since, or a new connection came up meanwhile.
    if (p.probe_id != id || p.state != member_state::unreachable || p.agent
        || result != probe_result::refused)
      return;
    auto recipients = reachable_agents();
    mark_down(p, down_reason::process_gone);
    for (auto& to : recipients)
      send(to, down_notice_atom::value,
           down_notice{address, incarnation, down_reason::process_gone,
                       settings_.self.address, 0});
    run_resolver();
  }

  // --- names ----------------------------------------------------------------------------

  std::vector<name_entry> own_names() const {
    std::vector<name_entry> result;
    for (auto& [name, entry] : names_)
      if (same_member(entry.owner, settings_.self))
        result.push_back(entry);
    return result;
  }

  caf::result<ok_atom> register_own(std::string name, caf::actor target, uint64_t epoch) {
    auto i = names_.find(name);
    if (i != names_.end())
      return make_error(errc::name_taken,
                        fmt::format("\"{}\" is registered by {}", name,
                                    describe_member(i->second.owner)));
    if (!target)
      return make_error(errc::unknown_name, "no actor to register as \"" + name + "\"");
    monitor(target);
    name_entry entry{name, target, settings_.self, settings_.wall_clock_us(), epoch};
    for (auto& [address, p] : peers_)
      if (p.agent)
        send(p.agent, name_add_atom::value, entry);
    lost_names_.erase(name);
    names_.emplace(std::move(name), std::move(entry));
    publish_view();
    return ok_atom::value;
  }

  void drop_own(std::map<std::string, name_entry>::iterator i) {
    demonitor(i->second.target);
    for (auto& [address, p] : peers_)
      if (p.agent)
        send(p.agent, name_del_atom::value, i->first, settings_.self.address,
             settings_.self.incarnation);
    names_.erase(i);
    publish_view();
  }

  /// A registration made by `from` (its owner): insert, or settle a conflict.
  void add_name(name_entry entry, peer& from) {
    lost_names_.erase(entry.name);
    auto i = names_.find(entry.name);
    if (i == names_.end() || same_member(i->second.owner, entry.owner)) {
      names_[entry.name] = std::move(entry);
      publish_view();
      return;
    }
    auto& current = i->second;
    bool new_wins = wins(entry, current);
    auto& winner = new_wins ? entry : current;
    auto& loser = new_wins ? current : entry;
    emit(cluster_event_kind::name_conflict, from.info, {}, 0, entry.name,
         fmt::format("winner {} (registered at {}, epoch {}), loser {} (registered at {}, "
                     "epoch {})",
                     describe_member(winner.owner), winner.registered_at, winner.epoch,
                     describe_member(loser.owner), loser.registered_at, loser.epoch));
    if (!new_wins)
      return;
    if (same_member(current.owner, settings_.self)) {
      // Ours lost: withdraw it everywhere; the service keeps running under its local name.
      demonitor(current.target);
      for (auto& [address, p] : peers_)
        if (p.agent)
          send(p.agent, name_del_atom::value, current.name, settings_.self.address,
               settings_.self.incarnation);
    }
    current = std::move(entry);
    publish_view();
  }

  caf::result<caf::message> route(const std::string& name, caf::message msg) {
    auto i = names_.find(name);
    if (i == names_.end()) {
      auto lost = lost_names_.find(name);
      if (lost != lost_names_.end())
        return make_error(errc::node_down, fmt::format("\"{}\" was on {}, which is down",
                                                       name, describe_member(lost->second)));
      return make_error(errc::unknown_name, "no service is registered as \"" + name + "\"");
    }
    // Hand the request on with its sender and id: the answer goes straight back.
    internal::enqueue_or_bounce(i->second.target,
                                caf::make_mailbox_element(current_sender(),
                                                          current_message_id(), {},
                                                          std::move(msg)),
                                context());
    return caf::delegated<caf::message>{};
  }

  agent_settings settings_;
  caf::actor transport_;
  std::string fingerprint_;
  std::minstd_rand rng_;
  std::map<std::string, peer> peers_;
  std::map<std::string, dial_target> dials_;
  std::map<caf::actor_addr, pending_accept> accepting_;
  std::map<std::string, name_entry> names_;
  std::map<std::string, member_info> lost_names_;
  time_point next_heartbeat_;
  /// Heartbeats remembered for their acks: 64 x 200 ms = 12.8 s with defaults.
  static constexpr size_t max_heartbeats_remembered = 64;
  uint64_t heartbeat_seq_ = 0;
  std::deque<std::pair<uint64_t, time_point>> heartbeats_sent_;
  /// May this node run cluster services (fed by heartbeats and their acks).
  quorum_lease lease_{settings_.self, lease_settings{lease_duration_for(settings_)}};
  /// The split-brain resolver's input: reachability verdicts and observations.
  reachability_tracker tracker_{settings_.downing};
  /// The one pending decide timer: when it is due, and its id (older ids are ignored).
  std::optional<time_point> decide_timer_at_;
  uint64_t decide_timer_id_ = 0;
  uint64_t probe_seq_ = 0;
  /// Members downed by the resolver or a notice, by address.
  std::map<std::string, quarantine_entry> quarantine_;
  /// Set while this node is downed and not yet taken back.
  std::optional<self_down_state> self_down_;
  std::optional<time_point> last_tick_;
  bool leaving_ = false;
};

} // namespace

std::chrono::milliseconds lease_duration_for(const agent_settings& s) {
  auto stable = s.downing.stable_after;
  auto beat = std::chrono::duration_cast<std::chrono::milliseconds>(s.heartbeat_interval);
  return std::max(stable - beat, stable / 2);
}

std::string settings_fingerprint(const agent_settings& s) {
  auto& d = s.detector;
  return fmt::format("heartbeat={}ms threshold={} pause={}ms min_std={}ms stable_after={}ms{}{}",
                     to_ms(s.heartbeat_interval), d.threshold,
                     std::chrono::duration_cast<std::chrono::milliseconds>(d.acceptable_pause).count(),
                     std::chrono::duration_cast<std::chrono::milliseconds>(d.min_std_deviation).count(),
                     s.downing.stable_after.count(), s.settings_extra.empty() ? "" : " ",
                     s.settings_extra);
}

caf::actor spawn_node_agent(caf::actor_system& sys, agent_settings settings,
                            caf::actor transport, bool detached) {
  if (!settings.view)
    settings.view = std::make_shared<cluster_view>();
  auto view = settings.view;
  auto agent = detached
                 ? sys.spawn<node_agent, caf::detached>(std::move(settings), std::move(transport))
                 : sys.spawn<node_agent>(std::move(settings), std::move(transport));
  internal::register_node(sys, agent, std::move(view));
  return agent;
}

void add_node_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<member_info>("warden_member_info");
  cfg.add_message_type<std::vector<member_info>>("warden_member_info_list");
  cfg.add_message_type<name_entry>("warden_name_entry");
  cfg.add_message_type<std::vector<name_entry>>("warden_name_entry_list");
  cfg.add_message_type<internal::hello_msg>("warden_hello");
  cfg.add_message_type<internal::challenge_msg>("warden_challenge");
  cfg.add_message_type<internal::auth_msg>("warden_auth");
  cfg.add_message_type<internal::welcome_msg>("warden_welcome");
  cfg.add_message_type<down_notice>("warden_down_notice");
}

} // namespace warden
