// Two or three nodes in one test process (each its own actor system, talking BASP over
// 127.0.0.1): calls by name with custom message types, and their named errors.
#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <future>
#include <thread>

#include <caf/all.hpp>
#include <gtest/gtest.h>

#include "warden/cluster_names.hpp"
#include "warden/node.hpp"
#include "warden/node_agent.hpp"
#include "warden/node_process.hpp"
#include "warden/service_registry.hpp"
#include "warden/supervisor.hpp"

using namespace std::chrono_literals;
using namespace warden;

namespace {

/// A custom type that crosses nodes.
struct order {
  std::string item;
  int32_t quantity = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, order& x) {
  return f(caf::meta::type_name("test_order"), x.item, x.quantity);
}

using silent_atom = caf::atom_constant<caf::atom("silent")>;

message_types shop_types() {
  message_types types;
  types.add<order>("test_order");
  return types;
}

node_config config(std::vector<std::string> seeds = {}) {
  node_config cfg;
  cfg.node.port = 0;
  cfg.http.enabled = false;
  cfg.cluster.secret = "secret";
  cfg.cluster.name = "api-test";
  for (auto& s : seeds)
    cfg.cluster.seeds.push_back(*endpoint::parse(s));
  return cfg;
}

std::unique_ptr<node> start(node_config cfg, node_options opts = {}) {
  if (opts.types.names().empty())
    opts.types = shop_types();
  auto n = node::start(cfg, std::move(opts));
  EXPECT_TRUE(n) << to_string(n.error());
  return n ? std::move(*n) : nullptr;
}

/// A node serving HTTP that runs the tree `tree_text` (written to `file_name` in the test's
/// temp dir).
std::unique_ptr<node> start_with_tree(const std::string& file_name, const std::string& tree_text,
                                      bool allow_mutations = false) {
  auto tree_file = ::testing::TempDir() + file_name;
  std::ofstream{tree_file} << tree_text;
  auto cfg = config();
  cfg.node.tree = tree_file;
  cfg.http.enabled = true;
  cfg.http.allow_mutations = allow_mutations;
  return start(cfg);
}

/// Waits (bounded) until `pred` holds; real time, as the nodes talk over real sockets.
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds limit = 10s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

bool sees_up(node& n, const node& other) {
  for (auto& m : n.snapshot()->members)
    if (m.info.address == other.self().address && m.state == member_state::up)
      return true;
  return false;
}

caf::actor orders_service(caf::actor_system& sys) {
  return sys.spawn([](caf::event_based_actor* self) -> caf::behavior {
    return {
      [](const order& o) { return "ok:" + o.item + ":" + std::to_string(o.quantity); },
      [self](silent_atom) { return self->make_response_promise<std::string>(); },
    };
  });
}

class node_api_test : public ::testing::Test {
protected:
  void SetUp() override {
    a = start(config());
    ASSERT_TRUE(a);
    b = start(config({a->self().address}));
    ASSERT_TRUE(b);
    ASSERT_TRUE(eventually([&] { return sees_up(*a, *b) && sees_up(*b, *a); }));
    svc = orders_service(a->system());
    ASSERT_FALSE(register_cluster_name(a->system(), "orders", svc));
    ASSERT_TRUE(eventually([&] { return b->snapshot()->names.count("orders") == 1; }));
  }

  void TearDown() override {
    caf::anon_send_exit(svc, caf::exit_reason::kill);
    svc = nullptr;
    if (b)
      b->stop();
    if (a)
      a->stop();
  }

  std::unique_ptr<node> a;
  std::unique_ptr<node> b;
  caf::actor svc;
};

// A custom type registered once (shop_types) crosses nodes; the answer comes back.
TEST_F(node_api_test, call_by_name_with_a_custom_type) {
  cluster_client client{b->system()};
  auto answer = client.call<std::string>("orders", 2s, order{"tea", 3});
  ASSERT_TRUE(answer) << to_string(answer.error());
  EXPECT_EQ(*answer, "ok:tea:3");
}

// From inside an actor: cluster_request, the same answer.
TEST_F(node_api_test, cluster_request_from_an_actor) {
  auto result = std::make_shared<std::promise<std::string>>();
  auto fut = result->get_future();
  b->system().spawn([result](caf::event_based_actor* self) {
    cluster_request(self, "orders", 2s, order{"milk", 1})
      .then([result](const std::string& s) { result->set_value(s); },
            [result](caf::error& err) { result->set_value("error: " + to_string(err)); });
  });
  ASSERT_EQ(fut.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(fut.get(), "ok:milk:1");
}

// Unknown names answer errc::unknown_name, in blocking calls and through actors.
TEST_F(node_api_test, unknown_name_is_a_named_error) {
  cluster_client client{b->system()};
  auto answer = client.call<std::string>("nobody", 2s, order{"tea", 1});
  ASSERT_FALSE(answer);
  EXPECT_TRUE(is(answer.error(), errc::unknown_name)) << to_string(answer.error());
  auto result = std::make_shared<std::promise<caf::error>>();
  auto fut = result->get_future();
  b->system().spawn([result](caf::event_based_actor* self) {
    cluster_request(self, "nobody", 2s, order{"tea", 1})
      .then([result](const std::string&) { result->set_value(caf::error{}); },
            [result](caf::error& err) { result->set_value(std::move(err)); });
  });
  ASSERT_EQ(fut.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(is(fut.get(), errc::unknown_name));
}

// A service that never answers: the call ends with errc::call_timeout, never hangs.
TEST_F(node_api_test, silent_service_times_out_with_a_named_error) {
  cluster_client client{b->system()};
  auto answer = client.call<std::string>("orders", 300ms, silent_atom::value);
  ASSERT_FALSE(answer);
  EXPECT_TRUE(is(answer.error(), errc::call_timeout)) << to_string(answer.error());
}

// A name cannot be registered twice in the cluster.
TEST_F(node_api_test, a_taken_name_is_refused_cluster_wide) {
  auto other = orders_service(b->system());
  auto err = register_cluster_name(b->system(), "orders", other);
  EXPECT_TRUE(is(err, errc::name_taken)) << to_string(err);
  caf::anon_send_exit(other, caf::exit_reason::kill);
}

// A node whose code registers other message types is refused, with the reason on both sides.
TEST_F(node_api_test, other_message_types_are_refused) {
  auto events = std::make_shared<recording_cluster_sink>();
  node_options opts;
  opts.types.add<std::vector<order>>("test_order_list");
  opts.cluster_events = events;
  auto c = start(config({a->self().address}), std::move(opts));
  ASSERT_TRUE(c);
  ASSERT_TRUE(eventually([&] { return events->count(cluster_event_kind::join_refused) > 0; }));
  EXPECT_NE(events->events()[0].reason.find("types_mismatch"), std::string::npos);
  EXPECT_FALSE(sees_up(*a, *c));
  c->stop();
}

// A graceful stop: the others see the node leave and its names go.
TEST_F(node_api_test, graceful_stop_removes_the_member_and_its_names) {
  caf::anon_send_exit(svc, caf::exit_reason::kill);  // a's system waits for its actors
  svc = nullptr;
  ASSERT_FALSE(a->stop());
  ASSERT_TRUE(eventually([&] {
    auto snap = b->snapshot();
    return snap->members.size() == 1 && snap->names.count("orders") == 0;
  }));
  cluster_client client{b->system()};
  auto answer = client.call<std::string>("orders", 1s, order{"tea", 1});
  ASSERT_FALSE(answer);
  EXPECT_TRUE(is(answer.error(), errc::unknown_name));
}

// POST /tree/fault kills a child by path (its supervisor restarts it); bad bodies,
// unknown children and cooperating actions get named errors.
TEST(node_http, tree_fault_kills_a_child_by_path_with_named_errors) {
  auto n = start_with_tree("node_http_tree.toml",
                           "name = \"app\"\n[[children]]\nid = \"worker\"\nservice = \"echo\"\n",
                           true);
  ASSERT_TRUE(n);
  ASSERT_TRUE(eventually([&] { return n->ready(); }));
  auto post = [&](const json& body) {
    auto r = http_post_json("127.0.0.1", n->http_port(), "/tree/fault", body);
    EXPECT_TRUE(r);
    return r ? *r : std::pair<int, json>{0, nullptr};
  };
  auto worker = [&] {
    auto kids = supervisor_client{n->system(), n->root()}.which_children();
    EXPECT_TRUE(kids);
    return kids && !kids->empty() ? kids->front() : child_info{};
  };
  auto before = worker();
  ASSERT_TRUE(before.actor);

  auto r = post("not an object");
  EXPECT_EQ(r.first, 400);
  EXPECT_EQ(r.second["error"], "bad_request");
  r = post({{"path", "worker"}, {"action", "exception"}});  // needs the service's help
  EXPECT_EQ(r.first, 400);
  r = post({{"path", "worker"}, {"signal", "kill"}});
  EXPECT_EQ(r.first, 400);
  EXPECT_NE(r.second["message"].get<std::string>().find("signal"), std::string::npos);
  r = post({{"path", "nobody"}});
  EXPECT_EQ(r.first, 404);
  EXPECT_EQ(r.second["error"], "unknown_child");
  EXPECT_NE(r.second["message"].get<std::string>().find("nobody"), std::string::npos);
  EXPECT_EQ(worker().actor, before.actor);  // nothing was killed so far

  r = post({{"path", "worker"}});  // the action defaults to kill
  EXPECT_EQ(r.first, 200);
  EXPECT_EQ(r.second["child"], "app/worker");
  EXPECT_EQ(r.second["action"], "kill");
  EXPECT_TRUE(eventually([&] {
    auto now = worker();
    return now.actor && now.actor != before.actor && now.restart_count == 1;
  }));
  n->stop();
}

// GET /regulation lists every running regulator with its figures: here the front of a
// child declared with [children.regulator], called once through its name, and the inbox of
// one declared with [children.inbox]; and every bounded buffer (none here).
TEST(node_http, regulation_lists_each_regulator_with_its_figures) {
  auto n = start_with_tree("node_http_regulated.toml",
                           "[[children]]\nid = \"orders\"\nservice = \"echo\"\nname = \"orders\"\n"
                           "[children.regulator]\nlimit = 3\nmax_size = 7\n"
                           "[[children]]\nid = \"ingest\"\nservice = \"echo\"\n"
                           "[children.inbox]\ncapacity = 4\noverflow = \"drop_oldest\"\n");
  ASSERT_TRUE(n);
  ASSERT_TRUE(eventually([&] { return n->ready(); }));
  auto orders = lookup(n->system(), "orders");
  ASSERT_TRUE(orders);
  std::string answer;
  {
    caf::scoped_actor me{n->system()};  // gone before stop: the system waits for it
    me->request(*orders, 2s, std::string{"hi"})
      .receive([&](const std::string& x) { answer = x; }, [](const caf::error&) {});
  }
  EXPECT_EQ(answer, "hi");
  auto r = http_get_json("127.0.0.1", n->http_port(), "/regulation");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, 200);
  auto regs = r->second["regulators"];
  ASSERT_EQ(regs.size(), 2u) << r->second.dump();
  std::sort(regs.begin(), regs.end(),
            [](auto& a, auto& b) { return a["name"] < b["name"]; });
  EXPECT_EQ(regs[1]["name"], "orders");
  EXPECT_EQ(regs[1]["limit"], 3.0);
  EXPECT_EQ(regs[1]["granted"], 1);
  EXPECT_EQ(regs[1]["overflow"], "reject_new");
  EXPECT_EQ(regs[1]["alarm"], false);
  EXPECT_EQ(regs[0]["name"], "ingest");
  EXPECT_EQ(regs[0]["overflow"], "drop_oldest");
  EXPECT_EQ(regs[0]["limit"], 4.0) << "in_flight's default";
  EXPECT_EQ(regs[0]["dropped"], 0);
  EXPECT_EQ(regs[0]["dropped_oldest"], 0);
  EXPECT_TRUE(r->second["buffers"].is_array());
  n->stop();
}

// A built-in caller with a circuit breaker whose target does not exist: two failures open
// it, and GET /regulation shows it open with its counters while it fails calls fast.
TEST(node_http, regulation_shows_a_callers_circuit_breaker) {
  auto n = start_with_tree("node_http_breaker.toml",
                           "[[children]]\nid = \"c\"\nservice = \"caller\"\n"
                           "params = {target = \"nowhere\", message = \"x\", interval_ms = 20, "
                           "timeout_ms = 100, breaker_failures = 2, breaker_reset_ms = 60000}\n");
  ASSERT_TRUE(n);
  nlohmann::json breaker;
  ASSERT_TRUE(eventually([&] {
    auto r = http_get_json("127.0.0.1", n->http_port(), "/regulation");
    if (!r || r->second["breakers"].size() != 1)
      return false;
    breaker = r->second["breakers"][0];
    return breaker["state"] == "open" && breaker["rejected"].get<int>() > 0;
  })) << breaker.dump();
  EXPECT_NE(breaker["name"].get<std::string>().find("-> nowhere"), std::string::npos);
  EXPECT_GE(breaker["failures"].get<int>(), 2) << "calls already out when it opened count too";
  EXPECT_EQ(breaker["opened"], 1);
  EXPECT_EQ(breaker["reset_timeout_ms"], 60000.0);
  n->stop();
}

} // namespace
