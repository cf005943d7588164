// Which cluster-service instances a node runs, from its view (placed_here): candidates are
// the members not yet down that declare the service; every node with the same view
// places every instance exactly once.
#include <set>
#include <tuple>

#include <gtest/gtest.h>

#include "warden/cluster_service_manager.hpp"

using namespace warden;

namespace {

member_info member(const std::string& name, std::vector<std::string> services) {
  return {name, "127.0.0.1:" + std::to_string(7100 + (name.back() - '0')), 1, "", "",
          std::move(services)};
}

cluster_service declared(const std::string& name, cluster_mode mode, uint32_t instances = 1) {
  cluster_service cs;
  cs.mode = mode;
  cs.instances = instances;
  cs.spec.id = name;
  cs.spec.name = name;
  return cs;
}

/// The view of `self` over `rows` (name, state, services).
cluster_snapshot view_of(const std::string& self,
                         std::vector<std::tuple<std::string, member_state,
                                                std::vector<std::string>>> rows) {
  cluster_snapshot snap;
  for (auto& [name, state, services] : rows) {
    member_status row;
    row.info = member(name, services);
    row.state = state;
    row.self = name == self;
    if (row.self)
      snap.self = row.info;
    snap.members.push_back(row);
  }
  snap.joined = true;
  snap.lease_valid = true;
  return snap;
}

const std::vector<cluster_service> services{
  declared("ledger", cluster_mode::singleton),
  declared("worker", cluster_mode::spread, 5),
};

/// Every instance name placed by the nodes of `names`, each with the same rows.
std::multiset<std::string> placed_by_all(
  const std::vector<std::string>& names,
  const std::vector<std::tuple<std::string, member_state, std::vector<std::string>>>& rows) {
  std::multiset<std::string> out;
  for (auto& n : names)
    for (auto& inst : placed_here(view_of(n, rows), services))
      out.insert(inst.name);
  return out;
}

const std::vector<std::string> both{"ledger", "worker"};

// 1. Three nodes with one view: every instance placed once, the singleton once.
TEST(cluster_service_placement, every_instance_is_placed_exactly_once) {
  auto rows = std::vector<std::tuple<std::string, member_state, std::vector<std::string>>>{
    {"n1", member_state::up, both}, {"n2", member_state::up, both},
    {"n3", member_state::up, both}};
  auto all = placed_by_all({"n1", "n2", "n3"}, rows);
  EXPECT_EQ(all, (std::multiset<std::string>{"ledger", "worker#0", "worker#1", "worker#2",
                                             "worker#3", "worker#4"}));
}

// 2. Spread instances go to every node (5 over 3: 2, 2, 1).
TEST(cluster_service_placement, spread_instances_cover_every_node) {
  auto rows = std::vector<std::tuple<std::string, member_state, std::vector<std::string>>>{
    {"n1", member_state::up, {"worker"}}, {"n2", member_state::up, {"worker"}},
    {"n3", member_state::up, {"worker"}}};
  std::vector<size_t> counts;
  for (auto n : {"n1", "n2", "n3"})
    counts.push_back(placed_here(view_of(n, rows), services).size());
  std::sort(counts.begin(), counts.end());
  EXPECT_EQ(counts, (std::vector<size_t>{1, 2, 2}));
}

// 3. A down member is no candidate: its instances move to the others.
TEST(cluster_service_placement, down_members_are_not_candidates) {
  auto up = std::vector<std::tuple<std::string, member_state, std::vector<std::string>>>{
    {"n1", member_state::up, both}, {"n2", member_state::up, both},
    {"n3", member_state::up, both}};
  std::string owner;
  for (auto n : {"n1", "n2", "n3"})
    for (auto& inst : placed_here(view_of(n, up), services))
      if (inst.name == "ledger")
        owner = n;
  ASSERT_FALSE(owner.empty());
  auto rows = up;
  for (auto& [name, state, services] : rows)
    if (name == owner)
      state = member_state::down;
  std::vector<std::string> survivors;
  for (auto n : {"n1", "n2", "n3"})
    if (n != owner)
      survivors.push_back(n);
  auto all = placed_by_all(survivors, rows);
  EXPECT_EQ(all.count("ledger"), 1u);
  EXPECT_EQ(all.size(), 6u);
}

// 4. An unreachable member stays a candidate: suspicion alone moves nothing.
TEST(cluster_service_placement, unreachable_members_keep_their_instances) {
  auto rows = std::vector<std::tuple<std::string, member_state, std::vector<std::string>>>{
    {"n1", member_state::up, both}, {"n2", member_state::up, both},
    {"n3", member_state::up, both}};
  auto before = placed_here(view_of("n1", rows), services);
  std::get<1>(rows[2]) = member_state::unreachable;
  EXPECT_EQ(placed_here(view_of("n1", rows), services), before);
}

// 5. A member that does not declare a service never gets it; joining members do not count.
TEST(cluster_service_placement, only_declaring_current_members_are_candidates) {
  auto rows = std::vector<std::tuple<std::string, member_state, std::vector<std::string>>>{
    {"n1", member_state::up, {}}, {"n2", member_state::joining, both},
    {"n3", member_state::up, both}};
  EXPECT_TRUE(placed_here(view_of("n1", rows), services).empty());
  EXPECT_EQ(placed_here(view_of("n3", rows), services).size(), 6u);
}

// 6. The manager's name for a node.
TEST(cluster_service_placement, manager_names) {
  EXPECT_EQ(cluster_service_manager_name("n2"), "warden.services@n2");
}

} // namespace
