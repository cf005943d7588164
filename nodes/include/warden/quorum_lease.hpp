/// @file
/// The quorum lease: a node may run cluster services only while a winning side of the
/// cluster has recently acknowledged its heartbeats. It is what keeps a minority (or a
/// hung node) from running a singleton that the majority has meanwhile started elsewhere:
/// the minority fences on its own clock, without hearing from anybody.
///
/// Every heartbeat carries a sequence number; the node remembers when it sent each one.
/// An ack from member P for heartbeat `seq` records `acked[P] = sent_at(seq)` (a later
/// heartbeat's ack never moves it back). T is the latest time such that the members with
/// `acked[P] >= T`, together with this node, form a winning side of the current members
/// (downing.hpp's `winning_side`); the lease is valid until `T + lease_duration`
/// (exclusive). When this node is alone in the member set (a single-node cluster, every
/// other member downed) the lease needs no acks and never expires; the smaller address of
/// two members is a winning side alone but still needs the other's acks (its view may be
/// stale). When this node is not in the member set (downed, removed) it holds no lease.
///
/// Why it is safe with the defaults: a partitioned node's lease ends at most
/// `lease_duration` (800 ms, the agent's `lease_duration_for`) after the last heartbeat the
/// majority acked, while the majority needs failure detection (at once on a closed
/// connection, ~1.5 s after that heartbeat on a hang) plus `stable_after` (1 s) before it
/// downs the node and starts its services elsewhere.
///
/// Pure: time is passed in. Memory is bounded: send times older than `lease_duration`
/// before the newest heartbeat are forgotten (their acks could not extend the lease
/// past the present anyway).
///
/// ```cpp
/// warden::quorum_lease lease{self};
/// lease.members(current);                    // on every membership change, self included
/// lease.heartbeat_sent(seq, now);            // on every heartbeat round
/// lease.acked(peer, seq);                    // on every heartbeat ack
/// if (!lease.valid(now)) fence_all();        // on a timer, and before starting a service
/// ```
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <utility>
#include <vector>

#include "warden/membership.hpp"

namespace warden {

/// Knobs of the quorum lease.
struct lease_settings {
  /// How long a quorum of acks keeps the lease valid after the acked heartbeat was sent
  /// (1000 ms here; the node agent uses stable_after - heartbeat_interval). Must stay
  /// below failure detection + stable_after, with a margin.
  std::chrono::milliseconds lease_duration{1000};
};

/// One node's quorum lease.
class quorum_lease {
public:
  using clock_type = std::chrono::steady_clock;
  using time_point = clock_type::time_point;

  explicit quorum_lease(member_info self, lease_settings settings = {});

  /// The current members (not down or removed), this node included. Acks of members no
  /// longer in the set are forgotten: a downed member that rejoins must ack again.
  void members(std::vector<member_info> current);

  /// Heartbeat `seq` went out at `t` (sequence numbers and times grow).
  void heartbeat_sent(uint64_t seq, time_point t);

  /// `member` acknowledged heartbeat `seq`. Unknown or forgotten sequence numbers and
  /// non-members are ignored; a late ack of an older heartbeat never lowers acked[member].
  void acked(const member_info& member, uint64_t seq);

  /// The end of the lease (exclusive): none without a lease, `time_point::max()` when
  /// this node is alone in the member set.
  std::optional<time_point> valid_until() const;

  /// True while `now < *valid_until()`.
  bool valid(time_point now) const;

  /// Send times kept (bounded by lease_duration / heartbeat interval + 1).
  size_t pending() const { return sent_.size(); }

  const member_info& self() const { return self_; }

  const lease_settings& settings() const { return settings_; }

private:
  member_info self_;
  lease_settings settings_;
  std::vector<member_info> members_;
  std::deque<std::pair<uint64_t, time_point>> sent_;  // oldest first
  std::vector<std::pair<member_info, time_point>> acked_;
};

} // namespace warden
