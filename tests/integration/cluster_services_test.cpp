// Cluster services (cluster_service_manager.hpp) on real `warden node` processes: a
// singleton runs once, spread instances cover the nodes, a crashed owner's singleton
// fails over, a gracefully stopped owner hands its state over. The test process joins as
// a client node (no services) to call by name.
#include <chrono>
#include <map>
#include <set>
#include <string>

#include <caf/all.hpp>
#include <gtest/gtest.h>

#include "support/node_cluster.hpp"
#include "warden/builtin_services.hpp"
#include "warden/cluster_names.hpp"
#include "warden/node.hpp"

using namespace std::chrono_literals;
using namespace warden::test;

namespace {

const char* services_tree = R"(
[[children]]
id = "ledger"
service = "counter"
name = "ledger"
cluster = "singleton"

[[children]]
id = "echo"
service = "echo"
name = "echo"
cluster = "spread"
instances = 3
)";

/// The node that `node`'s table says owns `name` ("" when none).
std::string owner_in(node_process& node, const std::string& name) {
  auto res = node.http_get("/cluster/names");
  if (!res || res->first != 200)
    return "";
  for (auto& e : res->second.value("names", json::array()))
    if (e.value("name", "") == name)
      return e.value("node", "");
  return "";
}

/// The instances `node` runs now, from its log: started minus stopped.
std::set<std::string> running_on(node_process& node) {
  std::set<std::string> out;
  for (auto& line : node.log_lines()) {
    if (!line.is_object())
      continue;
    auto event = line.value("event", "");
    if (event == "cluster_service_started")
      out.insert(line.value("name", ""));
    else if (event == "cluster_service_stopped")
      out.erase(line.value("name", ""));
  }
  return out;
}

/// An in-process client member that joins `c` (never counted, never a candidate) to call
/// by name.
std::unique_ptr<warden::node> client_of(test_cluster& c) {
  warden::node_config cfg;
  cfg.node.port = 0;
  cfg.http.enabled = false;
  cfg.cluster.secret = "test-secret";
  cfg.cluster.name = "test";
  cfg.log.file = "/dev/null";
  cfg.cluster.client = true;  // counts for no majority
  for (auto& name : c.names())
    cfg.cluster.seeds.push_back(*warden::endpoint::parse(c.node(name).address()));
  auto n = warden::node::start(cfg);
  EXPECT_TRUE(n) << caf::to_string(n.error());
  return n ? std::move(*n) : nullptr;
}

std::optional<int> call_counter(warden::node& client, warden::builtin::add_atom) {
  warden::cluster_client cc{client.system()};
  auto r = cc.call<int>("ledger", 500ms, warden::builtin::add_atom::value);
  return r ? std::optional{*r} : std::nullopt;
}

std::optional<int> read_counter(warden::node& client) {
  warden::cluster_client cc{client.system()};
  auto r = cc.call<int>("ledger", 500ms, warden::builtin::get_atom::value);
  return r ? std::optional{*r} : std::nullopt;
}

class cluster_services : public ::testing::Test {
protected:
  void SetUp() override {
    c = std::make_unique<test_cluster>(WARDEN_BIN, 3, cluster_options{.start = false});
    auto tree = c->write_file("tree.toml", services_tree);
    for (auto& name : c->names())
      c->node(name).options().tree = tree;
    c->start_all();
    ASSERT_TRUE(c->wait_all_ready(15s));
    ASSERT_TRUE(c->wait_converged(15s));
    ASSERT_TRUE(c->wait_until([&] { return settled(); }, 10s,
                              "every instance runs once and every node agrees"));
  }

  void TearDown() override {
    if (client)
      client->stop();
  }

  /// Every instance runs on exactly one running node, which every running node's table
  /// names as its owner.
  bool settled() {
    std::map<std::string, std::string> where;
    for (auto& name : c->names()) {
      if (!c->node(name).running())
        continue;
      for (auto& inst : running_on(c->node(name)))
        if (!where.emplace(inst, name).second)
          return false;  // two copies
    }
    if (where.size() != 4)
      return false;
    for (auto& name : c->names())
      if (c->node(name).running())
        for (auto& [inst, owner] : where)
          if (owner_in(c->node(name), inst) != owner)
            return false;
    return true;
  }

  std::string ledger_owner() {
    for (auto& name : c->names())
      if (c->node(name).running() && running_on(c->node(name)).count("ledger"))
        return name;
    return "";
  }

  std::unique_ptr<test_cluster> c;
  std::unique_ptr<warden::node> client;
};

// 1. One ledger in the cluster, one echo instance per node.
TEST_F(cluster_services, singleton_once_and_spread_over_every_node) {
  size_t ledgers = 0;
  for (auto& name : c->names()) {
    auto here = running_on(c->node(name));
    ledgers += here.count("ledger");
    size_t echos = 0;
    for (auto& inst : here)
      echos += inst.rfind("echo#", 0) == 0 ? 1 : 0;
    EXPECT_EQ(echos, 1u) << name;
  }
  EXPECT_EQ(ledgers, 1u);
}

// 2. kill -9 of the ledger's node: another node runs it and it answers by name again.
TEST_F(cluster_services, crashed_owner_fails_over) {
  client = client_of(*c);
  ASSERT_TRUE(client);
  ASSERT_TRUE(c->wait_until([&] { return call_counter(*client, {}).has_value(); }, 10s,
                            "the client reaches the ledger"));
  auto owner = ledger_owner();
  ASSERT_FALSE(owner.empty());
  c->node(owner).kill9();
  ASSERT_TRUE(c->wait_until(
      [&] {
        auto now = ledger_owner();
        return !now.empty() && now != owner && call_counter(*client, {}).has_value();
      },
      10s, "the ledger answers from a survivor"));
  // The killed node's echo instance moved too.
  ASSERT_TRUE(c->wait_until([&] { return settled(); }, 10s, "every instance runs once"));
}

// 3. SIGTERM of the ledger's node: it hands the count over, its successor continues it.
TEST_F(cluster_services, graceful_stop_hands_the_state_over) {
  client = client_of(*c);
  ASSERT_TRUE(client);
  ASSERT_TRUE(c->wait_until([&] { return call_counter(*client, {}).has_value(); }, 10s,
                            "the client reaches the ledger"));
  for (int i = 0; i < 4; ++i)
    ASSERT_TRUE(call_counter(*client, {}));
  auto before = read_counter(*client);
  ASSERT_EQ(before, 5);
  auto owner = ledger_owner();
  ASSERT_EQ(c->node(owner).terminate(10s), 0);
  std::optional<int> after;
  ASSERT_TRUE(c->wait_until(
      [&] {
        auto now = ledger_owner();
        if (now.empty() || now == owner)
          return false;
        after = read_counter(*client);
        return after.has_value();
      },
      10s, "the ledger answers from its successor"));
  EXPECT_EQ(after, 5);
  auto successor = ledger_owner();
  EXPECT_TRUE(c->node(owner).wait_for_log_line(
      [&](const json& l) {
        return l.value("event", "") == "cluster_service_handed_over"
               && l.value("name", "") == "ledger" && l.value("to", "") == successor;
      },
      1s).has_value());
}

} // namespace
