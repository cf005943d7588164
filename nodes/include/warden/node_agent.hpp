/// @file
/// The node agent: one actor per node process that makes the node a cluster member. It
/// dials seeds and every member it learns of (full mesh), authenticates each peer,
/// heartbeats them, runs a phi-accrual failure detector per peer, keeps the membership
/// view and the cluster name table, and redials lost members with backoff. CAF's
/// middleman gives the transport; the agent is the published actor of the node port.
///
/// Handshake (one per pair and connection; both sides log a refusal as `join_refused`):
/// 1. the dialer connects (middleman `connect_atom`, never a blocking call) and sends
///    `hello`: cluster name, its identity, a fingerprint of its failure-detector settings,
///    its registered message types and a random nonce. The acceptor refuses another
///    cluster (`errc::cluster_mismatch`), other detector or resolver settings
///    (`settings_mismatch`), other message types (`types_mismatch`) or a member in
///    quarantine (`not_a_member`, below), else answers with its identity, its own nonce and
///    proof = HMAC-SHA256(secret, dialer's nonce + its identity);
/// 2. the dialer checks the proof and sends its own proof over the acceptor's nonce, its
///    members and its names; the acceptor checks it (`errc::auth_failed`) and answers
///    with its members and names. The secret never crosses the wire.
/// Every step has the handshake timeout; no call the agent makes can hang.
///
/// Failure detection: a remote monitor on the peer's agent reports a closed connection
/// within milliseconds: the member becomes `unreachable` ("connection lost"), is redialed,
/// and its advertised address is probed with a raw TCP connect off the agent's thread; a
/// refused connect means the process is gone: `down` at once ("process gone"). Application
/// heartbeats every `heartbeat_interval` feed the detector, which marks a silent peer
/// `unreachable` (a hung or stalled node, a cut link).
///
/// Downing: every heartbeat carries the sender's observation (whom it sees unreachable);
/// a `reachability_tracker` collects them and the split-brain resolver (downing.hpp) runs
/// after every change and when its decision falls due. Only its leader downs, once the view
/// was stable for `downing.stable_after`, and sends a `down_notice` to every member it sees
/// reachable (the downed one included); receivers mark the member down too, and a node
/// that learns it was downed itself drops its quorum lease (`self_downed`). A member downed
/// this way is quarantined: its handshakes are refused ("quarantined for N ms after being
/// downed (reason)") for 2 x stable_after, doubling per consecutive downing up to
/// `defaults::quarantine_max`, reset once it stayed up `defaults::quarantine_reset`; the
/// downed node likewise refuses and does not redial the members that downed it until the
/// quarantine the notice announced is over. Rules and reasons: docs/cluster-services.md,
/// "How the agent applies the resolver".
///
/// ```cpp
/// warden::agent_settings s;
/// s.self = {"n1", "127.0.0.1:7101", incarnation, "127.0.0.1:8101"};
/// s.cluster = "demo"; s.secret = "s3cret"; s.seeds = {"127.0.0.1:7102"};
/// auto agent = warden::spawn_node_agent(sys, s, caf::actor_cast<caf::actor>(mm.actor_handle()));
/// ```
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>

#include "warden/cluster_event.hpp"
#include "warden/cluster_names.hpp"
#include "warden/downing.hpp"
#include "warden/failure_detector.hpp"
#include "warden/membership.hpp"

namespace caf {
class actor_system_config;
}

namespace warden {

// --- the agent's protocol -----------------------------------------------------------------
// Between agents: (hello_atom, hello_msg) -> challenge_msg; (auth_atom, auth_msg) ->
// welcome_msg; (heartbeat_atom, address, incarnation, seq, addresses the sender sees
// unreachable) answered by (heartbeat_ack_atom, address, incarnation, seq) for the quorum
// lease; (name_add_atom, name_entry);
// (name_del_atom, name, owner address, incarnation); (leave_atom, address, incarnation)
// -> ok_atom; (down_notice_atom, down_notice) from the resolver's leader (relayed once by
// a receiver that reaches the downed member; sent back to a downed member whose heartbeat
// arrives during its quarantine); an internal "introduce" (member_info) when a member
// comes up.
// Local API:
//   (register_name_atom, std::string name, caf::actor target) -> ok_atom | errc::name_taken
//   (register_name_atom, std::string name, caf::actor target, uint64_t epoch): the same
//     for a cluster-service instance with its fencing epoch (cluster_names.hpp)
//   (unregister_name_atom, std::string name) -> ok_atom
//   (route_atom, std::string name, caf::message) -> the target's answer | named error
//   (leave_atom) -> ok_atom after the peers were told (graceful leave)
using hello_atom = caf::atom_constant<caf::atom("wHello")>;
using auth_atom = caf::atom_constant<caf::atom("wAuth")>;
using heartbeat_atom = caf::atom_constant<caf::atom("wHeartbt")>;
using heartbeat_ack_atom = caf::atom_constant<caf::atom("wHbAck")>;
using name_add_atom = caf::atom_constant<caf::atom("wNameAdd")>;
using name_del_atom = caf::atom_constant<caf::atom("wNameDel")>;
using leave_atom = caf::atom_constant<caf::atom("wLeave")>;
using down_notice_atom = caf::atom_constant<caf::atom("wDownNote")>;
using register_name_atom = caf::atom_constant<caf::atom("wRegName")>;
using unregister_name_atom = caf::atom_constant<caf::atom("wUnregName")>;
using route_atom = caf::atom_constant<caf::atom("route")>;

namespace defaults {
/// Delay before the first redial of a lost member; doubles up to reconnect_max.
inline constexpr auto reconnect_min = std::chrono::milliseconds{200};
inline constexpr auto reconnect_max = std::chrono::milliseconds{5000};
inline constexpr auto handshake_timeout = std::chrono::milliseconds{2000};
inline constexpr auto heartbeat_interval = std::chrono::milliseconds{200};
inline constexpr auto down_removal = std::chrono::milliseconds{60000};
/// Quarantine of a downed member: 2 x stable_after at first, doubling per consecutive
/// downing of the same member up to this.
inline constexpr auto quarantine_max = std::chrono::milliseconds{60000};
/// A member back up this long starts again at 2 x stable_after when it is next downed.
inline constexpr auto quarantine_reset = std::chrono::milliseconds{60000};
/// Longest wait for the raw TCP probe of a member whose connection closed (and never more
/// than the handshake timeout).
inline constexpr auto probe_timeout = std::chrono::milliseconds{500};
/// An accepted probe is asked again this much later: a killed process may still hold its
/// listening socket for a moment after its connections closed (100 ms).
inline constexpr auto probe_recheck = std::chrono::milliseconds{100};
} // namespace defaults

/// What a raw TCP connect to a member's advertised address found, after its connection
/// closed (the "process gone" fast path; nodes/src/internal/process_probe.hpp connects).
enum class probe_result : uint8_t {
  /// Connection refused: nothing listens there, the process is gone.
  refused,
  /// Something accepted: the process lives (hung, or a link is cut).
  accepted,
  /// No answer in time, or another error.
  no_answer,
};

/// The split-brain resolver's decision to down a member, as sent to the other members.
struct down_notice {
  /// The downed member.
  std::string address;
  uint64_t incarnation = 0;
  /// A `down_reason` ("unreachable on the minority side", "process gone", ...).
  std::string reason;
  /// The address of the member that decided (the resolver's leader).
  std::string leader;
  /// How much of the downed member's quarantine is left, as the sender counts it (0: none,
  /// "process gone"). The downed node keeps the members that downed it out that long.
  int64_t quarantine_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, down_notice& x) {
  return f(caf::meta::type_name("warden_down_notice"), x.address, x.incarnation, x.reason,
           x.leader, x.quarantine_ms);
}

/// Everything the agent needs; the node fills it from its configuration.
struct agent_settings {
  member_info self;
  std::string cluster = "warden";
  std::string secret;
  /// Addresses "host:port" to dial at start (this node's own address is skipped).
  std::vector<std::string> seeds;
  /// "to reach address X dial Y instead" (a proxy on a link, NAT).
  std::map<std::string, std::string> connect_via;
  phi_settings detector;
  caf::timespan heartbeat_interval = defaults::heartbeat_interval;
  caf::timespan handshake_timeout = defaults::handshake_timeout;
  caf::timespan reconnect_min = defaults::reconnect_min;
  caf::timespan reconnect_max = defaults::reconnect_max;
  caf::timespan down_removal = defaults::down_removal;
  /// The split-brain resolver: {stable_after, 3 x stable_after} from
  /// `cluster.stable_after_ms`; quarantines start at 2 x stable_after.
  downing_settings downing;
  /// Probes a member's advertised address after its connection closed. Empty: a raw TCP
  /// connect (timeout min(handshake_timeout, defaults::probe_timeout)) on a short-lived
  /// thread of its own, never the agent's, never through `connect_via`. Tests inject one;
  /// an injected probe runs synchronously on the agent's thread.
  std::function<probe_result(const std::string& address)> probe;
  /// Extra settings every member must share (the transport heartbeat, for instance):
  /// part of the fingerprint compared in the handshake.
  std::string settings_extra;
  /// Names of the registered custom message types: members must agree.
  std::vector<std::string> message_types;
  cluster_event_sink_ptr events;
  /// Where the agent publishes its snapshots (made if null).
  std::shared_ptr<cluster_view> view;
  /// Wall clock for name registrations in microseconds (tests inject one).
  std::function<uint64_t()> wall_clock_us;
};

/// The quorum lease's duration: stable_after minus one heartbeat interval (800 ms with the
/// defaults), never below half of stable_after. Shorter than stable_after so a member that
/// loses its acks (cut off, or indirectly connected: members stop acking a member another
/// member reports unreachable) fences itself before the leader can down it and start its
/// services elsewhere, with one heartbeat of margin for the report that started the wait.
std::chrono::milliseconds lease_duration_for(const agent_settings& s);

/// The detector and resolver settings as one comparable string, e.g.
/// "heartbeat=200ms threshold=8 pause=800ms min_std=100ms stable_after=1000ms".
std::string settings_fingerprint(const agent_settings& s);

/// "refused", "accepted" or "no_answer".
const char* to_string(probe_result x);

/// Spawns the agent. `transport` answers `(connect_atom, host, port)` like CAF's
/// middleman actor (tests give a fake). `detached`: own thread, so a busy scheduler cannot
/// delay heartbeats (production); false on the deterministic test scheduler.
caf::actor spawn_node_agent(caf::actor_system& sys, agent_settings settings,
                            caf::actor transport, bool detached = true);

/// Registers the agent's message types with `cfg` (every node does it, before the system).
void add_node_message_types(caf::actor_system_config& cfg);

} // namespace warden
