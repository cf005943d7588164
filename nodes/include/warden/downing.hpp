/// @file
/// The split-brain resolver: which unreachable members to *down* (remove from the
/// cluster, so their cluster services can run elsewhere), decided by one leader with
/// Akka's keep-majority rule, a stable-after delay and a forced decision when the view
/// never settles.
///
/// Rules (docs/cluster-services.md has the reasoning):
///
/// | rule | what |
/// |---|---|
/// | members M | the current members (not down or removed), this node included |
/// | current observers | this node and the members it sees reachable; gossip from members it sees unreachable is stale and ignored |
/// | leader | the smallest address among this node and the members it sees reachable that see nobody unreachable (the hub of a bridge partition); none such: the smallest among this node and the members it sees reachable. Only the leader downs |
/// | indirectly connected I | a member seen unreachable by one current observer and reachable by another (this node sees itself reachable) |
/// | winning side | S of M wins if `2 * size(S) > size(M)`, or `2 * size(S) == size(M)` and S holds the smallest address of M |
/// | stable | no reachability change (this node's view or a current observer's gossip) for `stable_after` |
/// | forced | `down_all_when_unstable` after the first change of an unstable period |
/// | flapped F | a member whose reachability changed at least twice in the unstable period |
///
/// Decision, once stable (or forced), by the leader: down I ("indirectly connected"). Of the
/// rest (M minus I; minus F when forced), R = reachable, U = unreachable: if R wins against
/// M minus I, down U ("unreachable on the minority side") and, when forced, F ("unstable");
/// otherwise down nobody else: this side is the minority and fences through lease expiry.
/// The down set may hold this node itself (indirectly connected): it then leaves.
///
/// "Smallest address" is the lexicographically smallest "host:port" string, then the
/// smallest incarnation: any total order every node computes alike would do.
///
/// Pure: no clock, no actors; time is passed in. `reachability_tracker` keeps the
/// bookkeeping (change times, flap counts, unstable period) from events.
///
/// ```cpp
/// tracker.reachable(peer, false, now);                 // on node_unreachable
/// tracker.observed(peer, its_unreachable_set, now);    // on gossip
/// auto d = warden::decide_downing(tracker.input(self, now));
/// for (auto& o : d.to_down) down(o.member, o.reason);  // empty unless leader and due
/// if (d.decide_at && !d.decided) schedule(*d.decide_at);
/// ```
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "warden/membership.hpp"

namespace warden {

/// Knobs of the split-brain resolver (`cluster.stable_after_ms`).
struct downing_settings {
  /// The view must not change for this long before the leader decides (1000 ms).
  std::chrono::milliseconds stable_after{1000};
  /// Continuous instability after which the leader decides anyway (3 * stable_after).
  std::chrono::milliseconds down_all_when_unstable{3000};
};

/// Reasons given with a downing decision (member_status::reason, node_down events).
namespace down_reason {
inline constexpr const char* minority_side = "unreachable on the minority side";
inline constexpr const char* indirectly_connected = "indirectly connected";
inline constexpr const char* unstable = "unstable";
/// The crash fast path (connection refused on a direct dial), decided outside this file.
inline constexpr const char* process_gone = "process gone";
} // namespace down_reason

using downing_clock = std::chrono::steady_clock;

/// This node's view of one member.
struct reachability_row {
  member_info member;
  /// The local failure detector's verdict.
  bool reachable = true;
  /// When `reachable` last changed; none if it never changed since the member was known.
  std::optional<downing_clock::time_point> since;
  /// Changes of `reachable` in the current unstable period (2 or more: flapped).
  uint32_t changes = 0;
};

/// One member's gossiped observation: the members it sees unreachable.
struct observation {
  member_info observer;
  std::vector<member_info> unreachable;
  /// When this node last saw the set change; none if it never did.
  std::optional<downing_clock::time_point> since;
};

/// Everything the resolver looks at.
struct downing_input {
  member_info self;
  /// The current members (not down or removed). This node's own row may be left out; it
  /// always counts as a reachable member.
  std::vector<reachability_row> members;
  /// The latest observation of each member (one per observer). This node's own entry, if
  /// present, is ignored: `members` is its view.
  std::vector<observation> observations;
  downing_settings settings;
  /// The first change of the current unstable period; none when stable.
  std::optional<downing_clock::time_point> unstable_since;
  downing_clock::time_point now;
};

/// One member to down and why (a `down_reason`).
struct down_order {
  member_info member;
  std::string reason;
};

/// What the resolver concluded at `now`.
struct downing_decision {
  /// The smallest address among this node and the members it sees reachable.
  member_info leader;
  bool self_is_leader = false;
  /// This node's side (itself and the reachable members, minus I, minus F when forced)
  /// wins against M minus I, and this node is not indirectly connected.
  bool self_side_wins = false;
  /// Something is unreachable or indirectly connected: a decision is needed.
  bool pending = false;
  /// The decision is due (`now >= *decide_at`): `to_down` is final.
  bool decided = false;
  /// Due through `down_all_when_unstable` rather than a stable view.
  bool forced = false;
  /// When the decision is due (a timer for the caller); none when nothing is pending.
  std::optional<downing_clock::time_point> decide_at;
  /// Members to down, by address. Empty unless `self_is_leader && decided`.
  std::vector<down_order> to_down;
};

/// The order of "smallest address": address string, then incarnation.
bool address_less(const member_info& x, const member_info& y);

/// True if `side` (its members that are in `members`, each counted once) is a winning
/// side of `members`: more than half, or exactly half and holding the smallest address.
bool winning_side(std::span<const member_info> side, std::span<const member_info> members);

/// The split-brain resolver's decision for `in` (the rules above).
downing_decision decide_downing(const downing_input& in);

/// Builds `downing_input` from events: this node's reachability verdicts and the gossiped
/// observations, with change times, flap counts and the unstable period.
///
/// An unstable period starts with the first change after `stable_after` without any and
/// ends `stable_after` after its last change; flap counts are per period.
class reachability_tracker {
public:
  using time_point = downing_clock::time_point;

  explicit reachability_tracker(downing_settings settings = {});

  /// This node's verdict on `member` at `now`. Repeating the current verdict is no
  /// change; a member first seen reachable is no change either (joining is not flapping).
  void reachable(const member_info& member, bool yes, time_point now);

  /// `observer`'s gossiped unreachable set at `now`; a different set (order does not
  /// matter) is a change.
  void observed(const member_info& observer, std::vector<member_info> unreachable,
                time_point now);

  /// Forgets `member` (downed, removed) and its observation.
  void remove(const member_info& member);

  /// The resolver's input at `now`.
  downing_input input(const member_info& self, time_point now) const;

  const downing_settings& settings() const { return settings_; }

private:
  void changed(time_point now);

  downing_settings settings_;
  std::vector<reachability_row> rows_;
  std::vector<observation> observations_;
  std::optional<time_point> last_change_;
  std::optional<time_point> unstable_since_;
};

} // namespace warden
