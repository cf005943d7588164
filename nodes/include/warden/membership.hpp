/// @file
/// Membership: who is in the cluster, as this node sees it.
///
/// A member is a node process, identified by its advertised address ("host:port") and an
/// *incarnation* (a number fixed when the process starts, larger on every restart), so a
/// restarted node is a new member and the old one is removed. Each node keeps its own
/// view: states are local observations (like Erlang's `nodes()`), not a cluster-wide
/// agreement. Issue 4's downing rule builds agreement on top.
///
/// States and the events that announce them (cluster_event.hpp):
///
/// | state         | meaning                                                     | event on entry        |
/// |---------------|-------------------------------------------------------------|-----------------------|
/// | `joining`     | handshake in progress                                       | -                     |
/// | `up`          | authenticated, heartbeats arriving                          | `node_up` / `node_reachable` |
/// | `unreachable` | phi-accrual detector suspects it (hung, or link stalled), or its connection closed | `node_unreachable` |
/// | `down`        | process gone, downed by the split-brain resolver, or it left | `node_down` (reason)  |
/// | `removed`     | forgotten: left, replaced by a new incarnation, or down too long | `node_removed`   |
///
/// A down member's address is redialed with backoff (after its quarantine when the
/// resolver downed it, node_agent.hpp), so a node that was only cut off comes back `up`
/// with the same incarnation, without a restart.
///
/// ```cpp
/// for (auto& m : warden::cluster_view_of(sys)->members)
///   std::cout << m.info.name << ' ' << to_string(m.state) << '\n';
/// ```
#pragma once

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include <caf/meta/type_name.hpp>

namespace warden {

/// Identity and contact data of one node process.
struct member_info {
  /// Display name ("n1").
  std::string name;
  /// Advertised node address "host:port": the key of the member.
  std::string address;
  /// Fixed at process start, larger on every restart of the node.
  uint64_t incarnation = 0;
  /// The management endpoint "host:port" ("" when off).
  std::string http;
  /// The call transport's port "host:port" ("" when off; call_transport.hpp).
  std::string calls;
  /// The cluster services its tree file declares (cluster_service_manager.hpp): it is a
  /// candidate for those only.
  std::vector<std::string> services;
  /// A client member (`cluster.client`): it calls by name but never counts for
  /// keep-majority, the quorum lease or placement, and never downs anybody.
  bool client = false;
};

inline bool same_member(const member_info& x, const member_info& y) {
  return x.address == y.address && x.incarnation == y.incarnation;
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member_info& x) {
  return f(caf::meta::type_name("warden_member_info"), x.name, x.address, x.incarnation,
           x.http, x.calls, x.services, x.client);
}

/// A member's state in this node's view (see the table above).
enum class member_state : uint8_t { joining, up, unreachable, down, removed };

/// "joining", "up", "unreachable", "down" or "removed".
const char* to_string(member_state x);

/// One row of the membership view.
struct member_status {
  member_info info;
  member_state state = member_state::joining;
  /// Why the member is down or removed ("process gone", "left", ...), or unreachable
  /// ("connection lost"); for this node's own row while it is downed, "downed by ...".
  std::string reason;
  /// The detector's current suspicion (0 for this node and members without heartbeats).
  double phi = 0;
  /// Milliseconds since the member entered its state.
  int64_t since_ms = 0;
  /// True for the row that describes this node.
  bool self = false;
  /// The members (addresses) this member reported unreachable in its last heartbeat: its
  /// own observation, gossiped for the split-brain resolver (for this node: its own).
  std::vector<std::string> sees_unreachable;
  /// Milliseconds since the newest of our heartbeats that this member acknowledged was
  /// sent; -1 before any (the quorum lease counts these).
  int64_t last_ack_ms = -1;
};

} // namespace warden
