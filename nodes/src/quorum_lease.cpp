#include "warden/quorum_lease.hpp"

#include <algorithm>
#include <functional>

#include "warden/downing.hpp"

namespace warden {

quorum_lease::quorum_lease(member_info self, lease_settings settings)
  : self_(std::move(self)), settings_(settings) {
}

void quorum_lease::members(std::vector<member_info> current) {
  members_ = std::move(current);
  std::erase_if(acked_, [&](const auto& a) {
    return std::none_of(members_.begin(), members_.end(),
                        [&](const member_info& m) { return same_member(m, a.first); });
  });
}

void quorum_lease::heartbeat_sent(uint64_t seq, time_point t) {
  sent_.emplace_back(seq, t);
  // An ack of a heartbeat sent lease_duration before this one yields a lease that ends
  // by now: nothing to gain from remembering it.
  while (!sent_.empty() && sent_.front().second + settings_.lease_duration <= t)
    sent_.pop_front();
}

void quorum_lease::acked(const member_info& member, uint64_t seq) {
  if (same_member(member, self_))
    return;
  auto is_member = std::any_of(members_.begin(), members_.end(),
                               [&](const member_info& m) { return same_member(m, member); });
  if (!is_member)
    return;
  auto s = std::find_if(sent_.begin(), sent_.end(),
                        [&](const auto& x) { return x.first == seq; });
  if (s == sent_.end())
    return;
  auto a = std::find_if(acked_.begin(), acked_.end(),
                        [&](const auto& x) { return same_member(x.first, member); });
  if (a == acked_.end())
    acked_.emplace_back(member, s->second);
  else
    a->second = std::max(a->second, s->second);
}

std::optional<quorum_lease::time_point> quorum_lease::valid_until() const {
  auto in_set = std::any_of(members_.begin(), members_.end(),
                            [&](const member_info& m) { return same_member(m, self_); });
  if (!in_set)
    return std::nullopt;
  // Alone in M: nobody can disagree, no end. The smaller address of two is a winning side
  // alone too, but its view may be stale (the other may meanwhile have formed a majority
  // with a member this node downed: seen in a chaos gremlin, a paused node kept such a
  // lease without end): it needs acks like anyone, until the resolver downs the other.
  if (members_.size() == 1)
    return time_point::max();
  std::vector<member_info> side{self_};
  // The side {self} + {P : acked[P] >= t} only shrinks as t grows: try the ack times from
  // the latest down and take the first that wins.
  std::vector<time_point> times;
  for (auto& a : acked_)
    times.push_back(a.second);
  std::sort(times.begin(), times.end(), std::greater<>{});
  for (auto t : times) {
    side.resize(1);
    for (auto& a : acked_)
      if (a.second >= t)
        side.push_back(a.first);
    if (winning_side(side, members_))
      return t + settings_.lease_duration;
  }
  return std::nullopt;
}

bool quorum_lease::valid(time_point now) const {
  auto until = valid_until();
  return until && now < *until;
}

} // namespace warden
