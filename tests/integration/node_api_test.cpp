// Two or three nodes in one test process (each its own actor system, talking BASP over
// 127.0.0.1): calls by name with custom message types, and their named errors.
#include <chrono>
#include <functional>
#include <future>
#include <thread>

#include <caf/all.hpp>
#include <gtest/gtest.h>

#include "warden/cluster_names.hpp"
#include "warden/node.hpp"
#include "warden/node_agent.hpp"

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

} // namespace
