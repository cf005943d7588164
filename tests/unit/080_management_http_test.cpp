// The management HTTP server against fake providers, with httplib::Client: routes, JSON
// answers, the error answers (404, 405, 403, 500), bind failures, stop, and that a slow
// client or a slow provider does not hold up the others.
#include "warden/management_http.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

#include "warden/errors.hpp"
#include "warden/exit_reasons.hpp"

using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

warden::management_routes fake_routes() {
  warden::management_routes r;
  r.alive = [] { return warden::http_reply{200, {{"status", "alive"}, {"node", "n1"}}}; };
  r.ready = [] {
    return warden::http_reply{503, {{"status", "not_ready"}, {"node", "n1"}, {"joined", false}}};
  };
  r.members = [] {
    return warden::http_reply{
      200,
      {{"node", "n1"},
       {"members",
        {{{"name", "n1"}, {"address", "127.0.0.1:7101"}, {"state", "up"}, {"self", true}}}}}};
  };
  r.names = [] { return warden::http_reply{200, {{"node", "n1"}, {"names", json::array()}}}; };
  r.tree = [] { return warden::http_reply{200, {{"node", "n1"}, {"tree", {{"id", "root"}}}}}; };
  r.leave = [] { return warden::http_reply{202, {{"status", "leaving"}}}; };
  return r;
}

/// A started server and a client for it; stops on scope exit.
struct served {
  explicit served(warden::management_routes routes, warden::management_settings s = {})
    : server(std::move(s), std::move(routes)) {
    auto p = server.start();
    if (!p)
      throw std::runtime_error("start failed: " + warden::describe(p.error()));
    port = *p;
  }

  httplib::Client client() const {
    httplib::Client c{"127.0.0.1", port};
    c.set_connection_timeout(2s);
    c.set_read_timeout(5s);
    return c;
  }

  warden::management_server server;
  uint16_t port = 0;
};

json body_of(const httplib::Result& res) {
  return json::parse(res->body);
}

/// A raw TCP connection to 127.0.0.1:port, closed on scope exit.
struct raw_connection {
  explicit raw_connection(uint16_t port) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
      throw std::runtime_error("connect failed");
  }
  ~raw_connection() { ::close(fd); }

  void send(const std::string& text) {
    if (::send(fd, text.data(), text.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(text.size()))
      throw std::runtime_error("send failed");
  }

  /// True when the server closed the connection (EOF) within `timeout`.
  bool closed_within(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
      if (left.count() < 0)
        return false;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
        continue;
      char buf[512];
      auto n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0)
        return true;  // EOF or reset; data (an error answer) keeps reading to the EOF
    }
  }

  int fd = -1;
};

} // namespace

TEST(management_http, answers_read_routes_with_json) {
  served s{fake_routes()};
  auto c = s.client();
  auto res = c.Get("/health/alive");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(body_of(res), (json{{"status", "alive"}, {"node", "n1"}}));

  res = c.Get("/cluster/members");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(body_of(res)["members"][0]["state"], "up");

  res = c.Get("/cluster/names");
  ASSERT_TRUE(res);
  EXPECT_EQ(body_of(res)["names"], json::array());

  res = c.Get("/tree");
  ASSERT_TRUE(res);
  EXPECT_EQ(body_of(res)["tree"]["id"], "root");
}

TEST(management_http, passes_the_providers_status_through) {
  served s{fake_routes()};
  auto res = s.client().Get("/health/ready");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_EQ(body_of(res)["status"], "not_ready");
}

TEST(management_http, start_returns_the_bound_port_and_port_zero_picks_a_free_one) {
  warden::management_server a{{}, fake_routes()};
  warden::management_server b{{}, fake_routes()};
  auto pa = a.start();
  auto pb = b.start();
  ASSERT_TRUE(pa);
  ASSERT_TRUE(pb);
  EXPECT_NE(*pa, 0);
  EXPECT_NE(*pa, *pb);
  EXPECT_EQ(a.port(), *pa);
  auto again = a.start();  // already started: same port
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *pa);
}

TEST(management_http, the_root_lists_the_routes) {
  auto routes = fake_routes();
  routes.tree = nullptr;
  served s{routes};
  auto res = s.client().Get("/");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  auto list = body_of(res)["routes"];
  ASSERT_TRUE(list.is_array());
  auto find = [&](const std::string& path) {
    for (auto& r : list)
      if (r["path"] == path)
        return r;
    return json{};
  };
  EXPECT_EQ(find("/health/alive"), (json{{"method", "GET"}, {"path", "/health/alive"}, {"enabled", true}}));
  EXPECT_EQ(find("/tree")["enabled"], false);           // unset provider
  EXPECT_EQ(find("/cluster/leave")["method"], "POST");
  EXPECT_EQ(find("/cluster/leave")["enabled"], false);  // mutations are off by default
  EXPECT_EQ(list, s.server.route_list());
}

TEST(management_http, unknown_paths_answer_404_with_the_path) {
  served s{fake_routes()};
  auto c = s.client();
  for (std::string path : {"/nope", "/health", "/health/alive/", "/cluster"}) {
    auto res = c.Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 404) << path;
    EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
    EXPECT_EQ(body_of(res), (json{{"error", "not_found"}, {"path", path}})) << path;
  }
  auto res = c.Post("/nope", "", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
}

TEST(management_http, an_unset_provider_answers_404) {
  auto routes = fake_routes();
  routes.names = nullptr;
  routes.leave = nullptr;
  served s{routes, {.allow_mutations = true}};
  auto c = s.client();
  auto res = c.Get("/cluster/names");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_EQ(body_of(res)["error"], "not_found");
  res = c.Post("/cluster/leave", "", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
}

TEST(management_http, a_wrong_method_answers_405_with_allow) {
  served s{fake_routes()};
  auto c = s.client();
  auto res = c.Post("/health/alive", "{}", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 405);
  EXPECT_EQ(res->get_header_value("Allow"), "GET, HEAD");
  EXPECT_EQ(body_of(res)["error"], "method_not_allowed");
  EXPECT_EQ(body_of(res)["path"], "/health/alive");

  res = c.Delete("/tree");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 405);

  res = c.Get("/cluster/leave");  // a read of a state-changing route
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 405);
  EXPECT_EQ(res->get_header_value("Allow"), "POST");
}

TEST(management_http, head_is_answered_like_get_without_a_body) {
  served s{fake_routes()};
  auto res = s.client().Head("/health/alive");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_TRUE(res->body.empty());
}

TEST(management_http, mutations_are_refused_unless_allowed) {
  std::atomic<int> leaves{0};
  auto routes = fake_routes();
  routes.leave = [&] {
    ++leaves;
    return warden::http_reply{202, {{"status", "leaving"}}};
  };
  {
    served s{routes};
    auto res = s.client().Post("/cluster/leave", "", "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 403);
    auto body = body_of(res);
    EXPECT_EQ(body["error"], "mutations_disabled");
    EXPECT_EQ(body["path"], "/cluster/leave");
    EXPECT_TRUE(body.contains("message"));
    EXPECT_EQ(leaves, 0);
  }
  served s{routes, {.allow_mutations = true}};
  auto res = s.client().Post("/cluster/leave", "", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 202);
  EXPECT_EQ(body_of(res)["status"], "leaving");
  EXPECT_EQ(leaves, 1);
}

TEST(management_http, a_body_route_gets_the_request_body_and_is_state_changing) {
  std::vector<std::string> bodies;
  auto routes = fake_routes();
  routes.tree_fault = [&](const std::string& body) {
    bodies.push_back(body);
    return warden::http_reply{200, {{"child", "root/db"}}};
  };
  {
    served s{routes};
    auto res = s.client().Post("/tree/fault", R"({"path":"db"})", "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 403);
    EXPECT_TRUE(bodies.empty());
  }
  served s{routes, {.allow_mutations = true}};
  auto res = s.client().Post("/tree/fault", R"({"path":"db"})", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(body_of(res)["child"], "root/db");
  ASSERT_EQ(bodies.size(), 1u);
  EXPECT_EQ(bodies[0], R"({"path":"db"})");
  res = s.client().Get("/tree/fault");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 405);
  routes.tree_fault = nullptr;  // unset: as if the route did not exist
  served without{routes, {.allow_mutations = true}};
  res = without.client().Post("/tree/fault", "{}", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
}

TEST(management_http, a_throwing_provider_answers_500_and_the_server_keeps_serving) {
  auto routes = fake_routes();
  routes.tree = []() -> warden::http_reply { throw std::runtime_error("tree is on fire"); };
  routes.names = []() -> warden::http_reply { throw 42; };
  served s{routes};
  auto c = s.client();
  auto res = c.Get("/tree");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 500);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(body_of(res),
            (json{{"error", "provider_failed"}, {"path", "/tree"}, {"message", "tree is on fire"}}));
  res = c.Get("/cluster/names");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 500);
  EXPECT_EQ(body_of(res)["message"], "unknown exception");
  for (int i = 0; i < 3; ++i) {
    res = c.Get("/health/alive");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
  }
}

TEST(management_http, a_status_outside_http_answers_500) {
  auto routes = fake_routes();
  routes.tree = [] { return warden::http_reply{42, {}}; };
  served s{routes};
  auto res = s.client().Get("/tree");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 500);
  EXPECT_EQ(body_of(res)["error"], "provider_failed");
}

TEST(management_http, invalid_utf8_in_a_body_is_replaced_not_thrown) {
  auto routes = fake_routes();
  routes.tree = [] { return warden::http_reply{200, {{"tree", std::string{"bad \xff byte"}}}}; };
  served s{routes};
  auto res = s.client().Get("/tree");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(body_of(res)["tree"], "bad \xEF\xBF\xBD byte");
}

TEST(management_http, binding_a_port_in_use_is_a_named_error) {
  served first{fake_routes()};
  warden::management_server second{{.port = first.port}, fake_routes()};
  auto p = second.start();
  ASSERT_FALSE(p);
  EXPECT_TRUE(warden::is(p.error(), warden::errc::bind_failed)) << warden::describe(p.error());
  auto text = warden::describe(p.error());
  EXPECT_NE(text.find("127.0.0.1:" + std::to_string(first.port)), std::string::npos) << text;
  EXPECT_NE(text.find("in use"), std::string::npos) << text;
  EXPECT_EQ(second.port(), 0);
  second.stop();  // never started: a no-op
  // The first one is not disturbed.
  auto res = first.client().Get("/health/alive");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST(management_http, binding_an_address_that_is_not_local_is_a_named_error) {
  warden::management_server s{{.host = "203.0.113.7"}, fake_routes()};  // TEST-NET-3
  auto p = s.start();
  ASSERT_FALSE(p);
  EXPECT_TRUE(warden::is(p.error(), warden::errc::bind_failed)) << warden::describe(p.error());
}

TEST(management_http, stop_is_idempotent_and_closes_the_port) {
  auto s = std::make_unique<served>(fake_routes());
  auto port = s->port;
  s->server.stop();
  s->server.stop();
  EXPECT_EQ(s->server.port(), 0);
  httplib::Client c{"127.0.0.1", port};
  c.set_connection_timeout(1s);
  auto res = c.Get("/health/alive");
  EXPECT_FALSE(res);
  // It can start again.
  auto again = s->server.start();
  ASSERT_TRUE(again) << warden::describe(again.error());
  httplib::Client c2{"127.0.0.1", *again};
  res = c2.Get("/health/alive");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  s.reset();  // the destructor stops it
}

TEST(management_http, stop_right_after_start_is_never_lost) {
  for (int i = 0; i < 50; ++i) {
    warden::management_server s{{}, fake_routes()};
    ASSERT_TRUE(s.start());
    s.stop();  // would hang in join if the stop came before the accept loop ran
  }
}

TEST(management_http, a_slow_provider_does_not_block_other_requests) {
  std::promise<void> entered;
  std::promise<void> release;
  auto released = release.get_future().share();
  auto routes = fake_routes();
  routes.tree = [&entered, released] {
    entered.set_value();
    released.wait();
    return warden::http_reply{200, {{"tree", "slow"}}};
  };
  served s{routes};
  std::thread slow{[&] {
    auto res = s.client().Get("/tree");
    EXPECT_TRUE(res && res->status == 200);
  }};
  entered.get_future().wait();  // one worker is now busy in the provider
  auto res = s.client().Get("/health/alive");
  EXPECT_TRUE(res && res->status == 200);
  release.set_value();
  slow.join();
}

TEST(management_http, a_slow_client_does_not_block_others_and_is_dropped) {
  served s{fake_routes(), {.io_timeout = 1500ms}};
  raw_connection slow{s.port};
  slow.send("GET /health/alive HTTP/1.1\r\nHost: x\r\n");  // never finishes its headers
  auto res = s.client().Get("/health/alive");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  // The slow one still holds its connection: the answer above did not wait for it.
  EXPECT_FALSE(slow.closed_within(0ms));
  // And it is dropped after the read timeout.
  EXPECT_TRUE(slow.closed_within(10s));
}

TEST(management_http, requests_httplib_rejects_get_json_error_bodies) {
  served s{fake_routes()};
  raw_connection bad{s.port};
  bad.send("NOT-A-METHOD /x HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string got;
  char buf[1024];
  for (;;) {
    pollfd p{bad.fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0)
      break;
    auto n = ::recv(bad.fd, buf, sizeof(buf), 0);
    if (n <= 0)
      break;
    got.append(buf, static_cast<size_t>(n));
  }
  EXPECT_NE(got.find("HTTP/1.1 400"), std::string::npos) << got;
  EXPECT_NE(got.find("application/json"), std::string::npos) << got;
  EXPECT_NE(got.find("\"bad_request\""), std::string::npos) << got;
}

TEST(management_http, stop_does_not_wait_long_for_an_idle_connection) {
  auto s = std::make_unique<served>(fake_routes());
  raw_connection idle{s->port};  // connected, never sends: holds a worker
  auto res = s->client().Get("/health/alive");  // the other worker still answers
  ASSERT_TRUE(res);
  auto t0 = std::chrono::steady_clock::now();
  s->server.stop();
  auto took = std::chrono::steady_clock::now() - t0;
  // Bounded by the idle-connection timeout (1 s), not by the client.
  EXPECT_LT(took, 5s);
  EXPECT_TRUE(idle.closed_within(1s));
}
