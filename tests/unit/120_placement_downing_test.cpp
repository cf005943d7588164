// Placement (rendezvous hashing), downing (the split-brain resolver) and the quorum lease:
// pure logic with time driven by the test. Numbered simple to complex.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "warden/downing.hpp"
#include "warden/placement.hpp"
#include "warden/quorum_lease.hpp"

using namespace warden;
using namespace std::chrono_literals;

namespace {

using time_point = downing_clock::time_point;

/// An arbitrary origin well away from the clock's epoch.
const time_point t0 = time_point{} + 1h;

member_info node(const std::string& name, const std::string& address, uint64_t inc = 1) {
  return member_info{name, address, inc, ""};
}

/// n1..n<count> on 10.0.0.1:7101.. (address order = name order).
std::vector<member_info> nodes(int count) {
  std::vector<member_info> xs;
  for (int i = 1; i <= count; ++i)
    xs.push_back(node("n" + std::to_string(i), "10.0.0.1:" + std::to_string(7100 + i)));
  return xs;
}

std::string key(int i) {
  return "service-" + std::to_string(i);
}

std::vector<std::string> addresses(const std::vector<member_info>& xs) {
  std::vector<std::string> out;
  for (auto& x : xs)
    out.push_back(x.address);
  return out;
}

std::vector<std::string> addresses(const std::vector<down_order>& xs) {
  std::vector<std::string> out;
  for (auto& x : xs)
    out.push_back(x.member.address);
  return out;
}

std::map<std::string, int> counts(const std::vector<member_info>& owners) {
  std::map<std::string, int> out;
  for (auto& o : owners)
    ++out[o.name];
  return out;
}

// -- downing input helpers ------------------------------------------------------------

reachability_row up(const member_info& m) {
  return reachability_row{m, true, std::nullopt, 0};
}

reachability_row cut(const member_info& m, time_point since) {
  return reachability_row{m, false, since, 1};
}

observation sees(const member_info& observer, std::vector<member_info> unreachable,
                 std::optional<time_point> since = std::nullopt) {
  return observation{observer, std::move(unreachable), since};
}

downing_input view(const member_info& self, std::vector<reachability_row> rows,
                   std::vector<observation> observations, time_point now) {
  downing_input in;
  in.self = self;
  in.members = std::move(rows);
  in.observations = std::move(observations);
  in.now = now;
  return in;
}

bool downs(const downing_decision& d, const member_info& m, const std::string& reason) {
  return std::any_of(d.to_down.begin(), d.to_down.end(), [&](const down_order& o) {
    return same_member(o.member, m) && o.reason == reason;
  });
}

} // namespace

// == placement =========================================================================

TEST(placement, 01_hash_is_fnv1a_64_with_splitmix64_finaliser_and_fixed) {
  // Fixed values: a change of the hash would move every service in a rolling upgrade.
  EXPECT_EQ(placement_hash(""), 0xf52a15e9a9b5e89bull);
  EXPECT_EQ(placement_hash("a"), 0x02c0bdbf481420f8ull);
  EXPECT_EQ(placement_hash("warden"), 0x07572bbf7477ecdeull);
  EXPECT_EQ(placement_hash("counter\nn1"), 0x05f09ac3de25c964ull);
  EXPECT_EQ(placement_hash("counter#0\nn2"), 0x98cc7d58f77f3e7aull);
  EXPECT_EQ(placement_score("counter", node("n1", "x:1")), placement_hash("counter\nn1"));
  EXPECT_EQ(instance_key("counter", 0), "counter#0");
  EXPECT_EQ(instance_key("w", 12), "w#12");
}

TEST(placement, 02_no_candidates_no_owner) {
  std::vector<member_info> none;
  EXPECT_FALSE(place_singleton("counter", none));
  EXPECT_TRUE(place_spread("worker", 3, none).empty());
  EXPECT_TRUE(place_spread("worker", 0, nodes(3)).empty());
}

TEST(placement, 03_ties_go_to_the_smaller_address) {
  // Same name, so the same score for every key: the address decides, then incarnation.
  std::vector<member_info> cs{node("x", "10.0.0.2:1"), node("x", "10.0.0.1:1", 7),
                              node("x", "10.0.0.1:1", 3)};
  for (int i = 0; i < 20; ++i) {
    auto owner = place_singleton(key(i), cs);
    ASSERT_TRUE(owner);
    EXPECT_EQ(owner->address, "10.0.0.1:1");
    EXPECT_EQ(owner->incarnation, 3u);
  }
}

TEST(placement, 04_deterministic_and_independent_of_candidate_order) {
  auto cs = nodes(5);
  std::map<std::string, std::string> first;
  for (int i = 0; i < 200; ++i)
    first[key(i)] = place_singleton(key(i), cs)->name;
  auto spread = addresses(place_spread("worker", 12, cs));
  std::sort(cs.begin(), cs.end(), [](auto& x, auto& y) { return x.name < y.name; });
  do { // every one of the 120 orders
    for (int i = 0; i < 200; i += 17)
      ASSERT_EQ(place_singleton(key(i), cs)->name, first[key(i)]);
    ASSERT_EQ(addresses(place_spread("worker", 12, cs)), spread);
  } while (std::next_permutation(cs.begin(), cs.end(),
                                 [](auto& x, auto& y) { return x.name < y.name; }));
  // Full check on one more order.
  std::reverse(cs.begin(), cs.end());
  for (int i = 0; i < 200; ++i)
    EXPECT_EQ(place_singleton(key(i), cs)->name, first[key(i)]);
}

TEST(placement, 05_a_leaving_member_moves_only_its_own_singletons) {
  auto cs = nodes(5);
  auto left = cs[2];
  std::vector<member_info> rest;
  for (auto& c : cs)
    if (!same_member(c, left))
      rest.push_back(c);
  int moved = 0;
  for (int i = 0; i < 1000; ++i) {
    auto before = place_singleton(key(i), cs);
    auto after = place_singleton(key(i), rest);
    if (same_member(*before, left)) {
      ++moved;
      EXPECT_FALSE(same_member(*after, left));
    } else {
      EXPECT_TRUE(same_member(*before, *after)) << key(i);
    }
  }
  EXPECT_GT(moved, 0);
}

TEST(placement, 06_a_joining_member_takes_keys_and_nothing_else_moves) {
  auto cs = nodes(5);
  auto joined = cs;
  joined.push_back(node("n6", "10.0.0.1:7106"));
  int taken = 0;
  for (int i = 0; i < 1000; ++i) {
    auto before = place_singleton(key(i), cs);
    auto after = place_singleton(key(i), joined);
    if (same_member(*after, joined.back()))
      ++taken;
    else
      EXPECT_TRUE(same_member(*before, *after)) << key(i);
  }
  EXPECT_GT(taken, 100);  // ~1000/6
  EXPECT_LT(taken, 250);
}

TEST(placement, 07_singletons_are_roughly_balanced) {
  auto cs = nodes(5);
  std::vector<member_info> owners;
  for (int i = 0; i < 1000; ++i)
    owners.push_back(*place_singleton(key(i), cs));
  auto c = counts(owners);
  ASSERT_EQ(c.size(), 5u);
  for (auto& [name, n] : c) {
    EXPECT_GE(n, 150) << name;
    EXPECT_LE(n, 250) << name;
  }
}

TEST(placement, 08_spread_up_to_the_member_count_is_one_per_member) {
  auto cs = nodes(5);
  for (uint32_t n = 1; n <= 5; ++n) {
    auto owners = place_spread("worker", n, cs);
    ASSERT_EQ(owners.size(), n);
    std::set<std::string> distinct;
    for (auto& o : owners)
      distinct.insert(o.address);
    EXPECT_EQ(distinct.size(), n);
  }
  // Instance 0 goes where the singleton "worker#0" would.
  EXPECT_TRUE(same_member(place_spread("worker", 3, cs)[0], *place_singleton("worker#0", cs)));
  // Duplicate candidates count once.
  auto dup = cs;
  dup.push_back(cs[0]);
  dup.push_back(cs[3]);
  EXPECT_EQ(addresses(place_spread("worker", 5, dup)), addresses(place_spread("worker", 5, cs)));
}

TEST(placement, 09_spread_beyond_the_member_count_is_even) {
  auto cs = nodes(5);
  for (uint32_t n : {6u, 7u, 13u, 100u, 1001u}) {
    auto c = counts(place_spread("worker", n, cs));
    ASSERT_EQ(c.size(), 5u);
    auto [lo, hi] = std::minmax_element(c.begin(), c.end(),
                                        [](auto& x, auto& y) { return x.second < y.second; });
    EXPECT_LE(hi->second - lo->second, 1) << n;
  }
}

TEST(placement, 10_spread_moves_little_when_a_member_leaves) {
  auto cs = nodes(6);
  auto before = place_spread("worker", 4, cs);
  for (auto& leaver : cs) {
    std::vector<member_info> rest;
    for (auto& c : cs)
      if (!same_member(c, leaver))
        rest.push_back(c);
    auto after = place_spread("worker", 4, rest);
    auto first_held = std::find_if(before.begin(), before.end(), [&](auto& o) {
      return same_member(o, leaver);
    });
    // A member holding nothing leaves: nothing moves. Otherwise instances placed before
    // its first one stay.
    auto stay = static_cast<size_t>(first_held - before.begin());
    for (size_t i = 0; i < stay; ++i)
      EXPECT_TRUE(same_member(before[i], after[i])) << leaver.name << " #" << i;
  }
}

// == downing ===========================================================================

TEST(downing, 01_winning_side_rule) {
  auto m = nodes(4);
  std::vector<member_info> three{m[0], m[1], m[2]};
  EXPECT_TRUE(winning_side(std::vector{m[0], m[1]}, three));   // 2 of 3
  EXPECT_TRUE(winning_side(std::vector{m[1], m[2]}, three));
  EXPECT_FALSE(winning_side(std::vector{m[2]}, three));        // 1 of 3
  EXPECT_TRUE(winning_side(std::vector{m[0], m[3]}, m));        // half, has n1 (smallest)
  EXPECT_FALSE(winning_side(std::vector{m[1], m[2]}, m));       // half, without n1
  EXPECT_TRUE(winning_side(std::vector{m[1], m[2], m[3]}, m));  // 3 of 4
  EXPECT_TRUE(winning_side(std::vector{m[0]}, std::vector{m[0]}));
  EXPECT_TRUE(winning_side(std::vector{m[0]}, std::vector{m[0], m[1]}));
  EXPECT_FALSE(winning_side(std::vector{m[1]}, std::vector{m[0], m[1]}));
  EXPECT_FALSE(winning_side(std::vector<member_info>{}, std::vector<member_info>{}));
  // Non-members and duplicates do not count; a new incarnation is another member.
  auto stranger = node("x", "10.0.0.9:1");
  auto reborn = node("n3", "10.0.0.1:7103", 2);
  EXPECT_FALSE(winning_side(std::vector{m[2], m[2], stranger, reborn}, three));
  // The smallest address is a string order, the same on every node.
  std::vector<member_info> odd{node("a", "10.0.0.1:999"), node("b", "10.0.0.1:7000")};
  EXPECT_TRUE(winning_side(std::vector{odd[1]}, odd));  // "...:7000" < "...:999"
}

TEST(downing, 02_single_node_cluster) {
  auto self = nodes(1)[0];
  auto d = decide_downing(view(self, {}, {}, t0));
  EXPECT_TRUE(same_member(d.leader, self));
  EXPECT_TRUE(d.self_is_leader);
  EXPECT_TRUE(d.self_side_wins);
  EXPECT_FALSE(d.pending);
  EXPECT_FALSE(d.decide_at);
  EXPECT_TRUE(d.to_down.empty());
  // Its own row (even a nonsensical one) changes nothing.
  d = decide_downing(view(self, {cut(self, t0)}, {sees(self, {self})}, t0 + 1h));
  EXPECT_TRUE(d.self_side_wins);
  EXPECT_FALSE(d.pending);
  EXPECT_TRUE(d.to_down.empty());
}

TEST(downing, 03_three_nodes_one_crashed_majority_downs_it_after_stable_after) {
  auto m = nodes(3);
  auto &a = m[0], &b = m[1], &c = m[2];
  // a lost c at t0; b's gossip saying so arrived at t0 + 100 ms: the view changed then.
  auto a_view = [&](time_point now) {
    return view(a, {up(b), cut(c, t0)}, {sees(b, {c}, t0 + 100ms), sees(c, {})}, now);
  };
  auto d = decide_downing(a_view(t0 + 1099ms));
  EXPECT_TRUE(d.self_is_leader);
  EXPECT_TRUE(d.pending);
  EXPECT_FALSE(d.decided);
  EXPECT_EQ(d.decide_at, t0 + 1100ms);
  EXPECT_TRUE(d.to_down.empty());
  EXPECT_TRUE(d.self_side_wins);
  d = decide_downing(a_view(t0 + 1100ms));
  EXPECT_TRUE(d.decided);
  EXPECT_FALSE(d.forced);
  ASSERT_EQ(d.to_down.size(), 1u);
  EXPECT_TRUE(downs(d, c, down_reason::minority_side));
  // b agrees but is not the leader: it downs nobody.
  auto b_view = view(b, {up(a), cut(c, t0 + 100ms)}, {sees(a, {c}, t0)}, t0 + 5s);
  d = decide_downing(b_view);
  EXPECT_FALSE(d.self_is_leader);
  EXPECT_TRUE(same_member(d.leader, a));
  EXPECT_TRUE(d.decided);
  EXPECT_TRUE(d.self_side_wins);
  EXPECT_TRUE(d.to_down.empty());
}

TEST(downing, 04_five_nodes_split_3_2_seen_from_both_sides) {
  auto m = nodes(5);
  auto &a = m[0], &b = m[1], &c = m[2], &dd = m[3], &e = m[4];
  auto now = t0 + 1s;
  // Majority side {a, b, c}; stale gossip from d and e (before the cut) is ignored.
  auto side1 = [&](const member_info& self) {
    std::vector<reachability_row> rows;
    std::vector<observation> obs;
    for (auto& x : {a, b, c})
      if (!same_member(x, self)) {
        rows.push_back(up(x));
        obs.push_back(sees(x, {dd, e}, t0));
      }
    rows.push_back(cut(dd, t0));
    rows.push_back(cut(e, t0));
    obs.push_back(sees(dd, {}));
    obs.push_back(sees(e, {}));
    return view(self, rows, obs, now);
  };
  auto side2 = [&](const member_info& self) {
    auto other = same_member(self, dd) ? e : dd;
    return view(self, {up(other), cut(a, t0), cut(b, t0), cut(c, t0)},
                {sees(other, {a, b, c}, t0), sees(a, {})}, now);
  };
  auto d = decide_downing(side1(a));
  EXPECT_TRUE(d.self_is_leader);
  EXPECT_TRUE(d.decided);
  EXPECT_TRUE(d.self_side_wins);
  EXPECT_EQ(addresses(d.to_down), addresses(std::vector{dd, e}));
  EXPECT_TRUE(downs(d, dd, down_reason::minority_side));
  EXPECT_TRUE(downs(d, e, down_reason::minority_side));
  for (auto& x : {b, c}) {
    d = decide_downing(side1(x));
    EXPECT_FALSE(d.self_is_leader);
    EXPECT_TRUE(d.self_side_wins);
    EXPECT_TRUE(d.to_down.empty());
  }
  // Minority side: d leads there, loses, downs nobody (its lease expires instead).
  d = decide_downing(side2(dd));
  EXPECT_TRUE(d.self_is_leader);
  EXPECT_TRUE(d.decided);
  EXPECT_FALSE(d.self_side_wins);
  EXPECT_TRUE(d.to_down.empty());
  d = decide_downing(side2(e));
  EXPECT_FALSE(d.self_is_leader);
  EXPECT_FALSE(d.self_side_wins);
  EXPECT_TRUE(d.to_down.empty());
}

TEST(downing, 05_even_split_2_2_the_side_with_the_smallest_address_wins) {
  auto m = nodes(4);
  auto &a = m[0], &b = m[1], &c = m[2], &dd = m[3];
  auto now = t0 + 2s;
  auto pair_view = [&](const member_info& self, const member_info& mate,
                       const member_info& o1, const member_info& o2) {
    return view(self, {up(mate), cut(o1, t0), cut(o2, t0)}, {sees(mate, {o1, o2}, t0)}, now);
  };
  auto d = decide_downing(pair_view(a, b, c, dd));
  EXPECT_TRUE(d.self_is_leader);
  EXPECT_TRUE(d.self_side_wins);
  EXPECT_EQ(addresses(d.to_down), addresses(std::vector{c, dd}));
  d = decide_downing(pair_view(b, a, c, dd));
  EXPECT_TRUE(d.self_side_wins);
  EXPECT_TRUE(d.to_down.empty());
  d = decide_downing(pair_view(c, dd, a, b));
  EXPECT_TRUE(d.self_is_leader);
  EXPECT_TRUE(d.decided);
  EXPECT_FALSE(d.self_side_wins);
  EXPECT_TRUE(d.to_down.empty());
  d = decide_downing(pair_view(dd, c, a, b));
  EXPECT_FALSE(d.self_side_wins);
  EXPECT_TRUE(d.to_down.empty());
}

TEST(downing, 06_bridge_the_hub_downs_both_indirectly_connected_members) {
  // a-b and a-c work, b-c does not. Addresses: a < b < c.
  auto m = nodes(3);
  auto &a = m[0], &b = m[1], &c = m[2];
  auto now = t0 + 1s;
  auto d = decide_downing(view(a, {up(b), up(c)}, {sees(b, {c}, t0), sees(c, {b}, t0)}, now));
  EXPECT_TRUE(d.self_is_leader);
  EXPECT_TRUE(d.pending);
  EXPECT_TRUE(d.decided);
  EXPECT_TRUE(d.self_side_wins);
  EXPECT_EQ(addresses(d.to_down), addresses(std::vector{b, c}));
  EXPECT_TRUE(downs(d, b, down_reason::indirectly_connected));
  EXPECT_TRUE(downs(d, c, down_reason::indirectly_connected));
  // Not before the gossip has been stable for stable_after.
  d = decide_downing(view(a, {up(b), up(c)}, {sees(b, {c}, t0), sees(c, {b}, t0)}, now - 1ms));
  EXPECT_FALSE(d.decided);
  EXPECT_EQ(d.decide_at, now);
  EXPECT_TRUE(d.to_down.empty());
  // b and c follow a.
  d = decide_downing(view(b, {up(a), cut(c, t0)}, {sees(a, {}), sees(c, {b})}, now));
  EXPECT_FALSE(d.self_is_leader);
  EXPECT_TRUE(d.to_down.empty());
  d = decide_downing(view(c, {up(a), cut(b, t0)}, {sees(a, {}), sees(b, {c})}, now));
  EXPECT_FALSE(d.self_is_leader);
  EXPECT_TRUE(d.to_down.empty());
}

TEST(downing, 07_bridge_the_hub_leads_even_with_the_largest_address) {
  // The hub h has the largest address. Were the smallest reachable address the leader, b
  // and c would each lead in their own view and down each other (and each come back as a
  // winning side of {itself, h}: agent test t319). The leader is the smallest address
  // among the members that see nobody unreachable: h, in every view.
  auto b = node("b", "10.0.0.1:7101");
  auto c = node("c", "10.0.0.1:7102");
  auto h = node("h", "10.0.0.1:7103");
  auto now = t0 + 1s;
  auto db = decide_downing(view(b, {up(h), cut(c, t0)}, {sees(h, {}), sees(c, {b}, t0)}, now));
  auto dc = decide_downing(view(c, {up(h), cut(b, t0)}, {sees(h, {}), sees(b, {c}, t0)}, now));
  auto dh = decide_downing(view(h, {up(b), up(c)}, {sees(b, {c}, t0), sees(c, {b}, t0)}, now));
  for (auto* d : {&db, &dc, &dh})
    EXPECT_TRUE(same_member(d->leader, h));
  EXPECT_FALSE(db.self_is_leader);
  EXPECT_FALSE(dc.self_is_leader);
  EXPECT_TRUE(db.to_down.empty());
  EXPECT_TRUE(dc.to_down.empty());
  // The hub downs both ends, as a hub with the smallest address does (test 06).
  EXPECT_TRUE(dh.self_is_leader);
  EXPECT_TRUE(dh.decided);
  EXPECT_EQ(addresses(dh.to_down), addresses(std::vector{b, c}));
  EXPECT_TRUE(downs(dh, b, down_reason::indirectly_connected));
  EXPECT_TRUE(downs(dh, c, down_reason::indirectly_connected));
  // A plain partition has no such member: the smallest reachable address leads, as before.
  auto dp = decide_downing(view(h, {up(c), cut(b, t0)}, {sees(c, {b}, t0)}, now));
  EXPECT_TRUE(same_member(dp.leader, c));
}

TEST(downing, 08_flapping_restarts_the_stable_timer_and_forces_a_decision) {
  auto m = nodes(5);
  auto &a = m[0], &b = m[1], &c = m[2], &dd = m[3], &e = m[4];
  reachability_tracker tr;
  for (auto& x : {b, c, dd, e})
    tr.reachable(x, true, t0 - 10s);
  tr.observed(b, {}, t0 - 10s);
  tr.observed(c, {}, t0 - 10s);
  // e crashes at t0; d flaps every 400 ms from t0 + 100 ms.
  tr.reachable(e, false, t0);
  tr.observed(b, {e}, t0 + 50ms);
  tr.observed(c, {e}, t0 + 60ms);
  auto decide = [&](time_point now) { return decide_downing(tr.input(a, now)); };
  bool reachable = true;
  for (auto t = 100ms; t <= 2900ms; t += 400ms) {
    reachable = !reachable;
    tr.reachable(dd, reachable, t0 + t);
    // Every change restarts the stable timer (capped by the forced deadline at t0 + 3 s).
    auto d = decide(std::min(t0 + t + 399ms, t0 + 2999ms));
    EXPECT_TRUE(d.pending);
    EXPECT_FALSE(d.decided) << t.count();
    EXPECT_EQ(d.decide_at, std::min(t0 + t + 1000ms, t0 + 3000ms)) << t.count();
    EXPECT_TRUE(d.to_down.empty());
  }
  auto in = tr.input(a, t0 + 2999ms);
  EXPECT_EQ(in.unstable_since, t0);
  auto d = decide(t0 + 2999ms);
  EXPECT_FALSE(d.decided);
  // Forced after down_all_when_unstable: d (flapped) and e (clean unreachable) go.
  d = decide(t0 + 3000ms);
  EXPECT_TRUE(d.decided);
  EXPECT_TRUE(d.forced);
  EXPECT_TRUE(d.self_side_wins);
  EXPECT_EQ(addresses(d.to_down), addresses(std::vector{dd, e}));
  EXPECT_TRUE(downs(d, dd, down_reason::unstable));
  EXPECT_TRUE(downs(d, e, down_reason::minority_side));
}

TEST(downing, 09_flaps_are_forgotten_after_a_stable_period) {
  auto m = nodes(3);
  auto &a = m[0], &b = m[1], &c = m[2];
  reachability_tracker tr;
  tr.reachable(b, true, t0);
  tr.reachable(c, false, t0);  // first seen unreachable: a change
  tr.reachable(c, true, t0 + 200ms);
  tr.reachable(c, true, t0 + 300ms);  // same verdict again: no change
  auto in = tr.input(a, t0 + 1199ms);
  EXPECT_EQ(in.unstable_since, t0);
  ASSERT_EQ(in.members.size(), 2u);
  EXPECT_EQ(in.members[1].changes, 2u);
  EXPECT_EQ(in.members[1].since, t0 + 200ms);
  in = tr.input(a, t0 + 1200ms);  // stable: the period is over
  EXPECT_FALSE(in.unstable_since);
  EXPECT_EQ(in.members[1].changes, 0u);
  EXPECT_FALSE(decide_downing(in).pending);
  // A later crash starts a new period with fresh counts: a plain stable decision.
  tr.reachable(c, false, t0 + 5s);
  EXPECT_EQ(tr.input(a, t0 + 5500ms).members[1].changes, 1u);
  in = tr.input(a, t0 + 6s);
  auto d = decide_downing(in);
  EXPECT_TRUE(d.decided);
  EXPECT_FALSE(d.forced);
  EXPECT_TRUE(downs(d, c, down_reason::minority_side));
  // Removing the downed member leaves nothing pending.
  tr.remove(c);
  EXPECT_FALSE(decide_downing(tr.input(a, t0 + 7s)).pending);
}

TEST(downing, 10_a_forced_decision_on_the_minority_side_downs_nobody) {
  // d's view in a 3|2 split where a keeps flapping: d leads {d, e}, loses.
  auto m = nodes(5);
  auto &a = m[0], &b = m[1], &c = m[2], &dd = m[3], &e = m[4];
  reachability_tracker tr;
  for (auto& x : {a, b, c, e})
    tr.reachable(x, true, t0 - 10s);
  tr.reachable(b, false, t0);
  tr.reachable(c, false, t0);
  bool reachable = true;
  for (auto t = 0ms; t <= 2400ms; t += 400ms) {  // 7 changes, a ends unreachable
    reachable = !reachable;
    tr.reachable(a, reachable, t0 + t);
  }
  auto d = decide_downing(tr.input(dd, t0 + 3s));
  EXPECT_TRUE(d.self_is_leader);
  EXPECT_TRUE(d.forced);
  EXPECT_FALSE(d.self_side_wins);
  EXPECT_TRUE(d.to_down.empty());
}

TEST(downing, 11_the_leader_itself_unreachable_to_others) {
  // a's outgoing heartbeats are lost: a hears b and c, they do not hear a.
  auto m = nodes(3);
  auto &a = m[0], &b = m[1], &c = m[2];
  auto now = t0 + 1s;
  // a's view: all reachable, but the gossip says a is cut off: a downs itself only.
  auto d = decide_downing(view(a, {up(b), up(c)}, {sees(b, {a}, t0), sees(c, {a}, t0)}, now));
  EXPECT_TRUE(d.self_is_leader);
  EXPECT_TRUE(d.decided);
  EXPECT_FALSE(d.self_side_wins);
  ASSERT_EQ(d.to_down.size(), 1u);
  EXPECT_TRUE(downs(d, a, down_reason::indirectly_connected));
  // b's view: a unreachable, b leads the majority and downs a.
  d = decide_downing(view(b, {cut(a, t0), up(c)}, {sees(c, {a}, t0), sees(a, {})}, now));
  EXPECT_TRUE(d.self_is_leader);
  EXPECT_TRUE(d.self_side_wins);
  ASSERT_EQ(d.to_down.size(), 1u);
  EXPECT_TRUE(downs(d, a, down_reason::minority_side));
  d = decide_downing(view(c, {cut(a, t0), up(b)}, {sees(b, {a}, t0)}, now));
  EXPECT_FALSE(d.self_is_leader);
  EXPECT_TRUE(d.to_down.empty());
}

TEST(downing, 12_random_clean_partitions_one_side_at_most_wins_only_leaders_down) {
  // 7 members cut into 1..3 groups at random, every view computed: non-leaders down
  // nobody, at most one group wins, and its leader downs exactly the other groups.
  auto m = nodes(7);
  std::mt19937 rng{42};
  for (int round = 0; round < 300; ++round) {
    auto groups = 1 + static_cast<int>(rng() % 3);
    std::vector<int> group(m.size());
    for (auto& g : group)
      g = static_cast<int>(rng() % groups);
    std::set<int> winners;
    for (size_t s = 0; s < m.size(); ++s) {
      std::vector<reachability_row> rows;
      std::vector<observation> obs;
      std::vector<member_info> others;
      for (size_t x = 0; x < m.size(); ++x)
        if (group[x] != group[s])
          others.push_back(m[x]);
      for (size_t x = 0; x < m.size(); ++x) {
        if (x == s)
          continue;
        if (group[x] == group[s]) {
          rows.push_back(up(m[x]));
          obs.push_back(sees(m[x], others, t0));
        } else {
          rows.push_back(cut(m[x], t0));
          obs.push_back(sees(m[x], {}));
        }
      }
      auto d = decide_downing(view(m[s], rows, obs, t0 + 1s));
      EXPECT_EQ(d.pending, !others.empty());
      if (d.self_side_wins)
        winners.insert(group[s]);
      if (d.self_is_leader && d.self_side_wins) {
        EXPECT_EQ(addresses(d.to_down), addresses(others));
      } else {
        EXPECT_TRUE(d.to_down.empty());  // a non-leader, or a losing leader
      }
    }
    EXPECT_LE(winners.size(), 1u) << "round " << round;
    std::set<int> used(group.begin(), group.end());
    if (used.size() <= 2) {
      EXPECT_EQ(winners.size(), 1u) << "round " << round;  // two sides: exactly one wins
    }
  }
}

TEST(downing, 13_a_non_leader_never_downs_anybody) {
  auto m = nodes(5);
  auto &a = m[0], &b = m[1], &c = m[2], &dd = m[3], &e = m[4];
  auto late = t0 + 1h;
  std::vector<downing_input> views{
    // crash of e seen by all
    view(b, {up(a), up(c), up(dd), cut(e, t0)}, {sees(a, {e}, t0)}, late),
    // bridge through b, seen from c and d
    view(c, {up(a), up(b), cut(dd, t0), up(e)}, {sees(dd, {c}, t0), sees(b, {})}, late),
    // b sees everything unreachable, but a is smaller and "reachable" in stale rows
    view(e, {up(a), cut(b, t0), cut(c, t0), cut(dd, t0)}, {sees(a, {b, c, dd}, t0)}, late),
  };
  for (auto& in : views) {
    // Even with flap counts and an unstable period.
    in.unstable_since = t0;
    for (auto& r : in.members)
      r.changes = 3;
    auto d = decide_downing(in);
    EXPECT_FALSE(d.self_is_leader);
    EXPECT_TRUE(d.decided);
    EXPECT_TRUE(d.to_down.empty());
  }
}

TEST(downing, 14_gossip_changes_restart_the_stable_timer_and_stale_gossip_is_ignored) {
  auto m = nodes(3);
  auto &a = m[0], &b = m[1], &c = m[2];
  reachability_tracker tr;
  tr.reachable(b, true, t0);
  tr.reachable(c, true, t0);
  tr.observed(b, {}, t0);
  tr.observed(c, {}, t0);
  // b starts seeing c unreachable: c is indirectly connected (a still reaches it).
  tr.observed(b, {c}, t0 + 1s);
  auto d = decide_downing(tr.input(a, t0 + 1500ms));
  EXPECT_TRUE(d.pending);
  EXPECT_EQ(d.decide_at, t0 + 2s);
  // The same set again is no change; a new set is.
  tr.observed(b, {c}, t0 + 1800ms);
  EXPECT_EQ(decide_downing(tr.input(a, t0 + 1900ms)).decide_at, t0 + 2s);
  tr.observed(b, {}, t0 + 1900ms);
  d = decide_downing(tr.input(a, t0 + 1950ms));
  EXPECT_FALSE(d.pending);  // healed before the leader acted
  // Gossip from a member a cannot reach is not current: c's claims do not count.
  tr.reachable(c, false, t0 + 5s);
  tr.observed(c, {a, b}, t0 + 5s);
  tr.observed(b, {c}, t0 + 5100ms);
  d = decide_downing(tr.input(a, t0 + 6099ms));
  EXPECT_FALSE(d.decided);
  d = decide_downing(tr.input(a, t0 + 6100ms));
  EXPECT_TRUE(d.decided);
  ASSERT_EQ(d.to_down.size(), 1u);
  EXPECT_TRUE(downs(d, c, down_reason::minority_side));
}

// == quorum lease =======================================================================

namespace {

/// Sends heartbeats `first_seq`..`last_seq`, heartbeat `seq` at t0 + 200 ms * seq, each
/// acked at once by `ackers`.
void beat(quorum_lease& lease, uint64_t first_seq, uint64_t last_seq,
          const std::vector<member_info>& ackers) {
  for (auto seq = first_seq; seq <= last_seq; ++seq) {
    lease.heartbeat_sent(seq, t0 + std::chrono::milliseconds{200 * seq});
    for (auto& x : ackers)
      lease.acked(x, seq);
  }
}

time_point sent_at(uint64_t seq) {
  return t0 + std::chrono::milliseconds{200 * seq};
}

} // namespace

TEST(quorum_lease, 01_three_nodes_acks_from_one_peer_keep_it_valid) {
  auto m = nodes(3);
  quorum_lease lease{m[1]};
  lease.members(m);
  EXPECT_FALSE(lease.valid_until());  // no acks yet
  beat(lease, 0, 50, {m[2]});
  EXPECT_EQ(lease.valid_until(), sent_at(50) + 1s);
  EXPECT_TRUE(lease.valid(sent_at(50) + 999ms));
  beat(lease, 51, 100, {m[0]});  // another peer takes over
  EXPECT_EQ(lease.valid_until(), sent_at(100) + 1s);
  EXPECT_TRUE(lease.valid(sent_at(100)));
}

TEST(quorum_lease, 02_without_acks_it_expires_exactly_lease_duration_after_T) {
  auto m = nodes(3);
  quorum_lease lease{m[2]};
  lease.members(m);
  beat(lease, 0, 10, {m[0], m[1]});
  beat(lease, 11, 30, {});  // the acks stop; heartbeats keep going out
  auto T = sent_at(10);
  EXPECT_EQ(lease.valid_until(), T + 1000ms);
  EXPECT_TRUE(lease.valid(T + 999ms));
  EXPECT_FALSE(lease.valid(T + 1000ms));
  EXPECT_FALSE(lease.valid(T + 1h));
}

TEST(quorum_lease, 03_two_two_split_only_the_side_with_the_smallest_address_holds_it) {
  auto m = nodes(4);  // n1 has the smallest address
  quorum_lease l1{m[0]}, l2{m[1]}, l3{m[2]}, l4{m[3]};
  for (auto* l : {&l1, &l2, &l3, &l4})
    l->members(m);
  beat(l1, 0, 10, {m[1]});
  beat(l2, 0, 10, {m[0]});
  beat(l3, 0, 10, {m[3]});
  beat(l4, 0, 10, {m[2]});
  auto now = sent_at(10) + 500ms;
  EXPECT_TRUE(l1.valid(now));
  EXPECT_TRUE(l2.valid(now));
  EXPECT_FALSE(l3.valid(now));
  EXPECT_FALSE(l4.valid(now));
  EXPECT_FALSE(l3.valid_until());
}

TEST(quorum_lease, 04_alone_needs_no_acks_and_a_non_member_holds_none) {
  auto m = nodes(2);
  quorum_lease solo{m[0]};
  solo.members({m[0]});
  EXPECT_EQ(solo.valid_until(), time_point::max());
  EXPECT_TRUE(solo.valid(t0 + 24h));
  // Two members, the smaller address: half with the smallest wins, yet it needs the other's
  // acks (its view may be stale); its lease ends lease_duration after the last one.
  quorum_lease small{m[0]};
  small.members(m);
  EXPECT_FALSE(small.valid(t0));
  beat(small, 0, 3, {m[1]});
  EXPECT_TRUE(small.valid(sent_at(3)));
  EXPECT_EQ(small.valid_until(), sent_at(3) + lease_settings{}.lease_duration);
  quorum_lease big{m[1]};
  big.members(m);
  EXPECT_FALSE(big.valid(t0));
  beat(big, 0, 3, {m[0]});
  EXPECT_TRUE(big.valid(sent_at(3)));
  // Downed or removed: this node is not in the set, so no lease whatever the acks.
  big.members({m[0]});
  EXPECT_FALSE(big.valid_until());
  quorum_lease fresh{m[0]};  // members never given
  EXPECT_FALSE(fresh.valid_until());
}

TEST(quorum_lease, 05_member_set_changes) {
  auto m = nodes(5);
  quorum_lease lease{m[0]};
  lease.members(m);
  beat(lease, 0, 10, {m[1]});
  EXPECT_FALSE(lease.valid_until());  // 2 of 5
  // d and e are downed: 2 of 3 now.
  lease.members({m[0], m[1], m[2]});
  EXPECT_EQ(lease.valid_until(), sent_at(10) + 1s);

  // n3 holds a lease with n2's acks; n2 is downed: n3 alone is not half with the smallest.
  quorum_lease l3{m[2]};
  l3.members({m[0], m[1], m[2]});
  beat(l3, 0, 10, {m[1]});
  EXPECT_TRUE(l3.valid(sent_at(10)));
  l3.members({m[0], m[2]});
  EXPECT_FALSE(l3.valid_until());
  // n2 rejoins: its old acks were forgotten, it must ack again.
  l3.members({m[0], m[1], m[2]});
  EXPECT_FALSE(l3.valid_until());
  l3.acked(m[1], 10);
  EXPECT_EQ(l3.valid_until(), sent_at(10) + 1s);
  // Acks from non-members and from itself do not count.
  quorum_lease l4{m[3]};
  l4.members({m[0], m[1], m[3]});
  beat(l4, 0, 5, {m[2], m[4], m[3]});
  EXPECT_FALSE(l4.valid_until());
}

TEST(quorum_lease, 06_late_acks_for_old_heartbeats) {
  auto m = nodes(3);
  quorum_lease lease{m[0]};
  lease.members(m);
  beat(lease, 0, 10, {});
  lease.acked(m[1], 10);
  EXPECT_EQ(lease.valid_until(), sent_at(10) + 1s);
  lease.acked(m[1], 7);  // late: never moves the lease back
  EXPECT_EQ(lease.valid_until(), sent_at(10) + 1s);
  lease.acked(m[1], 99);  // never sent
  EXPECT_EQ(lease.valid_until(), sent_at(10) + 1s);
  // Much later, an ack for a heartbeat older than lease_duration is forgotten: it could
  // only give a lease that already ended.
  beat(lease, 11, 40, {});
  lease.acked(m[2], 12);  // sent 5.6 s before the newest heartbeat
  EXPECT_EQ(lease.valid_until(), sent_at(10) + 1s);
  EXPECT_FALSE(lease.valid(sent_at(40)));
  lease.acked(m[2], 38);  // recent enough
  EXPECT_EQ(lease.valid_until(), sent_at(38) + 1s);
  EXPECT_TRUE(lease.valid(sent_at(40)));
}

TEST(quorum_lease, 07_memory_is_bounded_by_lease_duration) {
  auto m = nodes(3);
  quorum_lease lease{m[0]};
  lease.members(m);
  beat(lease, 0, 20000, {m[1]});
  EXPECT_LE(lease.pending(), 5u);  // 1000 ms / 200 ms
  EXPECT_TRUE(lease.valid(sent_at(20000)));
}
