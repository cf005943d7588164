/// @file
/// Cluster events: every membership change and every registry conflict is one
/// `cluster_event` with a stable name and fixed fields, like the supervisors' lifecycle
/// events (lifecycle_event.hpp). The node writes them to its event log (text or JSON
/// lines) at the level below (`severity`, log_level.hpp): what needs an operator's eye,
/// even if the cluster heals by itself, is warn; tests record them.
///
/// | event                 | level | when                                                 |
/// |-----------------------|-------|------------------------------------------------------|
/// | `node_up`             | info  | a member completed the handshake (first or rejoined) |
/// | `node_unreachable`    | warn  | the failure detector suspects an up member (`phi`), or its connection closed (`reason` "connection lost") |
/// | `node_reachable`      | info  | heartbeats from an unreachable member arrive again   |
/// | `node_down`           | warn  | a member is down (process gone, downed by the split-brain resolver, left); `reason` |
/// | `node_removed`        | info  | a member is forgotten; `reason` says why             |
/// | `join_refused`        | warn  | a handshake failed, on both sides; `reason`: error   |
/// | `name_conflict`       | warn  | two nodes registered one name; `name`, `detail`      |
/// | `connection_rejected` | warn  | a connection on the node port closed before it became a peer |
/// | `self_downed`         | warn  | this node was downed by the split-brain resolver's leader: no quorum lease until it rejoined |
///
/// `name_conflict`: the winner in `detail`. `connection_rejected`: `address` is the remote
/// ip:port, `reason` why, `peer` empty.
/// `self_downed`: `peer`, `address` and `incarnation` name the leader that decided (this
/// node itself when it downed itself), `reason` is the leader's reason, `detail` the
/// quarantine ("quarantined for 2000 ms": no rejoin with the members that downed it before).
/// `join_refused` on the dialer's side names the acceptor in `peer` once its challenge
/// arrived (a refused `auth`, or an acceptor that could not prove the secret); a `hello`
/// refused outright leaves `peer` empty, `address` is the dialed member's.
///
/// ```cpp
/// auto rec = std::make_shared<warden::recording_cluster_sink>();
/// settings.events = rec;
/// ... EXPECT_EQ(rec->names(), (std::vector<std::string>{"node_up"}));
/// ```
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "warden/log_level.hpp"

namespace warden {

enum class cluster_event_kind : uint8_t {
  node_up,
  node_unreachable,
  node_reachable,
  node_down,
  node_removed,
  join_refused,
  name_conflict,
  connection_rejected,
  self_downed,
};

/// The stable name of `x`, e.g. "node_down".
const char* to_string(cluster_event_kind x);

struct cluster_event {
  cluster_event_kind kind = cluster_event_kind::node_up;
  std::chrono::system_clock::time_point time;
  /// The node that reports (its name).
  std::string node;
  /// The member concerned: name, address and incarnation.
  std::string peer;
  std::string address;
  uint64_t incarnation = 0;
  /// Why (node_down, node_removed, join_refused, connection_rejected, self_downed; a
  /// node_unreachable whose connection closed: "connection lost").
  std::string reason;
  /// node_unreachable: the suspicion level that crossed the threshold.
  double phi = 0;
  /// name_conflict: the contested name.
  std::string name;
  /// Free-form detail (name_conflict: "winner n1@127.0.0.1:7101").
  std::string detail;
};

/// The level `ev` is logged at: the table above.
log_level severity(const cluster_event& ev);

/// `node_down n1 peer=n2 127.0.0.1:7102#1732... reason="connection lost"`.
std::string to_text(const cluster_event& ev);
/// One JSON object, no newline: {"event":"node_down","time":...,"node":"n1","peer":"n2",...}.
std::string to_json(const cluster_event& ev);

/// Receives cluster events, on the node agent's thread: keep it cheap.
class cluster_event_sink {
public:
  virtual ~cluster_event_sink();
  virtual void publish(const cluster_event& ev) = 0;
};

using cluster_event_sink_ptr = std::shared_ptr<cluster_event_sink>;

/// Keeps every event; for tests. Thread-safe.
class recording_cluster_sink : public cluster_event_sink {
public:
  void publish(const cluster_event& ev) override;
  std::vector<cluster_event> events() const;
  /// "event:peer" for every event so far, in order.
  std::vector<std::string> trace() const;
  size_t count(cluster_event_kind k, const std::string& peer = {}) const;
  void clear();

private:
  mutable std::mutex mtx_;
  std::vector<cluster_event> events_;
};

} // namespace warden
