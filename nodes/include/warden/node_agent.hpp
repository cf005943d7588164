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
///    cluster (`errc::cluster_mismatch`), other detector settings (`settings_mismatch`) or
///    other message types (`types_mismatch`), else answers with its identity, its own
///    nonce and proof = HMAC-SHA256(secret, dialer's nonce + its identity);
/// 2. the dialer checks the proof and sends its own proof over the acceptor's nonce, its
///    members and its names; the acceptor checks it (`errc::auth_failed`) and answers
///    with its members and names. The secret never crosses the wire.
/// Every step has the handshake timeout; no call the agent makes can hang.
///
/// Failure detection: a remote monitor on the peer's agent reports a closed connection
/// within milliseconds (`node_down`, reason "connection lost"); application heartbeats
/// every `heartbeat_interval` feed the detector, which marks a silent peer `unreachable`
/// (a hung or stalled node), and `down` after `unreachable_down` more.
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

#include "warden/cluster_event.hpp"
#include "warden/cluster_names.hpp"
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
// -> ok_atom; an internal "introduce" (member_info) when a member comes up.
// Local API:
//   (register_name_atom, std::string name, caf::actor target) -> ok_atom | errc::name_taken
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
using register_name_atom = caf::atom_constant<caf::atom("wRegName")>;
using unregister_name_atom = caf::atom_constant<caf::atom("wUnregName")>;
using route_atom = caf::atom_constant<caf::atom("route")>;

namespace defaults {
/// Delay before the first redial of a lost member; doubles up to reconnect_max.
inline constexpr auto reconnect_min = std::chrono::milliseconds{200};
inline constexpr auto reconnect_max = std::chrono::milliseconds{5000};
inline constexpr auto handshake_timeout = std::chrono::milliseconds{2000};
inline constexpr auto heartbeat_interval = std::chrono::milliseconds{200};
inline constexpr auto unreachable_down = std::chrono::milliseconds{10000};
inline constexpr auto down_removal = std::chrono::milliseconds{60000};
} // namespace defaults

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
  caf::timespan unreachable_down = defaults::unreachable_down;
  caf::timespan down_removal = defaults::down_removal;
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

/// The detector settings as one comparable string, e.g. "hb=200ms pause=800ms ...".
std::string settings_fingerprint(const agent_settings& s);

/// Spawns the agent. `transport` answers `(connect_atom, host, port)` like CAF's
/// middleman actor (tests give a fake). `detached`: own thread, so a busy scheduler cannot
/// delay heartbeats (production); false on the deterministic test scheduler.
caf::actor spawn_node_agent(caf::actor_system& sys, agent_settings settings,
                            caf::actor transport, bool detached = true);

/// Registers the agent's message types with `cfg` (every node does it, before the system).
void add_node_message_types(caf::actor_system_config& cfg);

} // namespace warden
