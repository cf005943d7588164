#include "warden/downing.hpp"

#include <algorithm>
#include <tuple>

namespace warden {

namespace {

using time_point = downing_clock::time_point;

bool contains(std::span<const member_info> xs, const member_info& x) {
  return std::any_of(xs.begin(), xs.end(),
                     [&](const member_info& y) { return same_member(x, y); });
}

/// Sorted by address_less, duplicates removed.
std::vector<member_info> canonical(std::vector<member_info> xs) {
  std::sort(xs.begin(), xs.end(), address_less);
  xs.erase(std::unique(xs.begin(), xs.end(), same_member), xs.end());
  return xs;
}

/// One member of M as the resolver sees it.
struct entry {
  member_info info;
  bool reachable = true;
  std::optional<time_point> since;
  uint32_t changes = 0;
  bool self = false;
  bool indirect = false;
};

/// A current observer and the members of M it sees unreachable.
struct current_observer {
  const member_info* observer;
  std::vector<member_info> unreachable;
};

} // namespace

bool address_less(const member_info& x, const member_info& y) {
  return std::tie(x.address, x.incarnation) < std::tie(y.address, y.incarnation);
}

bool winning_side(std::span<const member_info> side, std::span<const member_info> members) {
  auto ms = canonical({members.begin(), members.end()});
  if (ms.empty())
    return false;
  size_t n = 0;
  for (auto& m : ms)
    if (contains(side, m))
      ++n;
  if (2 * n > ms.size())
    return true;
  return 2 * n == ms.size() && contains(side, ms.front());
}

downing_decision decide_downing(const downing_input& in) {
  const auto& self = in.self;
  // M: this node first, then the rows (its own row, if any, is replaced by it).
  std::vector<entry> ms;
  ms.push_back(entry{self, true, std::nullopt, 0, true, false});
  for (auto& r : in.members) {
    if (same_member(r.member, self))
      continue;
    auto dup = std::any_of(ms.begin(), ms.end(),
                           [&](const entry& e) { return same_member(e.info, r.member); });
    if (!dup)
      ms.push_back(entry{r.member, r.reachable, r.since, r.changes, false, false});
  }
  std::sort(ms.begin(), ms.end(),
            [](const entry& x, const entry& y) { return address_less(x.info, y.info); });
  auto find = [&](const member_info& m) -> const entry* {
    for (auto& e : ms)
      if (same_member(e.info, m))
        return &e;
    return nullptr;
  };

  // Current observers: this node (its rows) and the members it sees reachable. Gossip
  // from a member this node cannot reach is stale: it describes the world before the cut.
  std::vector<current_observer> observers;
  {
    current_observer own{&self, {}};
    for (auto& e : ms)
      if (!e.reachable)
        own.unreachable.push_back(e.info);
    observers.push_back(std::move(own));
  }
  std::optional<time_point> last_change;
  auto note_change = [&](const std::optional<time_point>& t) {
    if (t && (!last_change || *t > *last_change))
      last_change = t;
  };
  for (auto& e : ms)
    if (!e.self)
      note_change(e.since);
  for (auto& e : ms) {
    if (e.self || !e.reachable)
      continue;
    // The latest entry of this observer wins.
    const observation* latest = nullptr;
    for (auto& o : in.observations)
      if (same_member(o.observer, e.info))
        latest = &o;
    if (!latest)
      continue;
    current_observer co{&e.info, {}};
    for (auto& u : latest->unreachable)
      if (find(u) && !same_member(u, e.info))
        co.unreachable.push_back(u);
    note_change(latest->since);
    observers.push_back(std::move(co));
  }

  // Indirectly connected: seen unreachable by one current observer, reachable by another
  // (an observer does not judge itself, except that this node sees itself reachable).
  for (auto& e : ms) {
    bool seen_unreachable = false;
    bool seen_reachable = e.self;
    for (auto& o : observers) {
      if (same_member(*o.observer, e.info))
        continue;
      if (contains(o.unreachable, e.info))
        seen_unreachable = true;
      else
        seen_reachable = true;
    }
    e.indirect = seen_unreachable && seen_reachable;
  }

  // The leader: the smallest address among the reachable members that see nobody
  // unreachable, if any; else the smallest reachable address. An end of an indirect
  // connection must not decide: in a bridge partition both ends would each lead their own
  // view and down each other (agent test t319), while the hub, which sees everyone, decides
  // the same for both. In a plain partition every observer sees the other side unreachable
  // and nothing changes.
  auto sees_all = [&](const member_info& m) {
    for (auto& o : observers)
      if (same_member(*o.observer, m))
        return o.unreachable.empty();
    return false;  // no observation yet: unknown
  };
  downing_decision d;
  d.leader = self;
  bool connected_leader = false;
  for (auto& e : ms) {
    if (!(e.self || e.reachable) || !sees_all(e.info))
      continue;
    if (!connected_leader || address_less(e.info, d.leader))
      d.leader = e.info;
    connected_leader = true;
  }
  if (!connected_leader)
    for (auto& e : ms)
      if (e.reachable && address_less(e.info, d.leader))
        d.leader = e.info;
  d.self_is_leader = same_member(d.leader, self);
  d.pending = std::any_of(ms.begin(), ms.end(),
                          [](const entry& e) { return e.indirect || !e.reachable; });

  // When: stable_after after the last change, or down_all_when_unstable after the
  // unstable period began, whichever comes first. No change ever seen: due at once.
  auto stable_at = last_change ? *last_change + in.settings.stable_after : in.now;
  if (d.pending) {
    auto due = stable_at;
    if (in.unstable_since)
      due = std::min(due, *in.unstable_since + in.settings.down_all_when_unstable);
    d.decide_at = due;
    d.decided = in.now >= due;
    d.forced = d.decided && in.now < stable_at;
  }

  // Sides: rest = M minus I; when forced, flapped members are on no side.
  std::vector<member_info> rest;
  std::vector<member_info> reachable;
  std::vector<member_info> unreachable;
  std::vector<member_info> flapped;
  bool self_indirect = false;
  for (auto& e : ms) {
    if (e.indirect) {
      self_indirect = self_indirect || e.self;
      continue;
    }
    rest.push_back(e.info);
    if (d.forced && !e.self && e.changes >= 2)
      flapped.push_back(e.info);
    else if (e.reachable)
      reachable.push_back(e.info);
    else
      unreachable.push_back(e.info);
  }
  auto wins = winning_side(reachable, rest);
  d.self_side_wins = wins && !self_indirect;

  if (d.self_is_leader && d.decided) {
    for (auto& e : ms)
      if (e.indirect)
        d.to_down.push_back({e.info, down_reason::indirectly_connected});
    if (wins) {
      // Only the winning side may shrink M: downing members from a losing side could
      // turn it into a "winner" of a smaller M.
      for (auto& m : unreachable)
        d.to_down.push_back({m, down_reason::minority_side});
      for (auto& m : flapped)
        d.to_down.push_back({m, down_reason::unstable});
    }
    std::sort(d.to_down.begin(), d.to_down.end(),
              [](const down_order& x, const down_order& y) {
                return address_less(x.member, y.member);
              });
  }
  return d;
}

// -- reachability_tracker -------------------------------------------------------------

reachability_tracker::reachability_tracker(downing_settings settings)
  : settings_(settings) {
}

void reachability_tracker::changed(time_point now) {
  if (!last_change_ || now - *last_change_ >= settings_.stable_after) {
    // A new unstable period: flaps of the previous one were settled by a stable view.
    unstable_since_ = now;
    for (auto& r : rows_)
      r.changes = 0;
  }
  last_change_ = now;
}

void reachability_tracker::reachable(const member_info& member, bool yes, time_point now) {
  auto i = std::find_if(rows_.begin(), rows_.end(), [&](const reachability_row& r) {
    return same_member(r.member, member);
  });
  if (i == rows_.end()) {
    rows_.push_back(reachability_row{member, true, std::nullopt, 0});
    i = rows_.end() - 1;
    if (yes)
      return;
  } else if (i->reachable == yes) {
    return;
  }
  changed(now);
  i->reachable = yes;
  i->since = now;
  ++i->changes;
}

void reachability_tracker::observed(const member_info& observer,
                                    std::vector<member_info> unreachable, time_point now) {
  unreachable = canonical(std::move(unreachable));
  auto i = std::find_if(observations_.begin(), observations_.end(),
                        [&](const observation& o) { return same_member(o.observer, observer); });
  if (i == observations_.end()) {
    observations_.push_back(observation{observer, {}, std::nullopt});
    i = observations_.end() - 1;
  }
  auto same_set = std::equal(i->unreachable.begin(), i->unreachable.end(),
                             unreachable.begin(), unreachable.end(), same_member);
  if (same_set)
    return;
  changed(now);
  i->unreachable = std::move(unreachable);
  i->since = now;
}

void reachability_tracker::remove(const member_info& member) {
  std::erase_if(rows_, [&](const reachability_row& r) { return same_member(r.member, member); });
  std::erase_if(observations_,
                [&](const observation& o) { return same_member(o.observer, member); });
}

downing_input reachability_tracker::input(const member_info& self, time_point now) const {
  downing_input in;
  in.self = self;
  in.settings = settings_;
  in.now = now;
  in.observations = observations_;
  in.members.reserve(rows_.size());
  auto settled = !last_change_ || now - *last_change_ >= settings_.stable_after;
  for (auto& r : rows_) {
    if (same_member(r.member, self))
      continue;
    in.members.push_back(r);
    if (settled)
      in.members.back().changes = 0;
  }
  if (!settled)
    in.unstable_since = unstable_since_;
  return in;
}

} // namespace warden
