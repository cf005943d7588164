// The call transport (call_transport.hpp): two nodes in one test process; calls by name
// take Warden's own connections, keep their order, carry handles, fail fast when the
// connection goes; the call port refuses strangers with a clear reason.
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <future>
#include <thread>

#include <caf/all.hpp>
#include <gtest/gtest.h>

#include "internal/call_frames.hpp"
#include "warden/call_transport.hpp"
#include "warden/cluster_names.hpp"
#include "warden/node.hpp"

using namespace std::chrono_literals;
using namespace warden;

namespace {

using add_atom = caf::atom_constant<caf::atom("add")>;
using total_atom = caf::atom_constant<caf::atom("total")>;
using quit_atom = caf::atom_constant<caf::atom("quit")>;
using hold_atom = caf::atom_constant<caf::atom("hold")>;
using poke_atom = caf::atom_constant<caf::atom("poke")>;
using whoami_atom = caf::atom_constant<caf::atom("whoami")>;

node_config config(std::vector<std::string> seeds = {}) {
  node_config cfg;
  cfg.node.port = 0;
  cfg.http.enabled = false;
  cfg.cluster.secret = "secret";
  cfg.cluster.name = "calls-test";
  for (auto& s : seeds)
    cfg.cluster.seeds.push_back(*endpoint::parse(s));
  return cfg;
}

/// The counter's total by name, or -1 on an error.
int64_t total_of(cluster_client& client) {
  auto n = client.call<int64_t>("counter", std::chrono::seconds{5}, total_atom::value);
  return n ? *n : -1;
}

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds limit = 10s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

/// Sums what it is sent; answers the total; hands out a helper actor; pokes actors it is
/// given; quits on request (with the request unanswered).
caf::actor counter_service(caf::actor_system& sys) {
  return sys.spawn([](caf::event_based_actor* self) -> caf::behavior {
    auto total = std::make_shared<int64_t>(0);
    return {
      [total](add_atom, int64_t n) { *total += n; },
      [total](total_atom) { return *total; },
      [self](quit_atom) { self->quit(); },  // one-way: requests behind it bounce
      [self](hold_atom) { return self->make_response_promise<int64_t>(); },
      [self](poke_atom, const caf::actor& who) { self->send(who, poke_atom::value); },
      [self](whoami_atom) { return caf::actor_cast<caf::actor>(self); },
    };
  });
}

class call_transport_test : public ::testing::Test {
protected:
  void SetUp() override {
    events = std::make_shared<recording_cluster_sink>();
    node_options opts;
    opts.cluster_events = events;
    auto x = node::start(config(), opts);
    ASSERT_TRUE(x) << to_string(x.error());
    a = std::move(*x);
    auto y = node::start(config({a->self().address}));
    ASSERT_TRUE(y) << to_string(y.error());
    b = std::move(*y);
    svc = counter_service(a->system());
    ASSERT_FALSE(register_cluster_name(a->system(), "counter", svc));
    ASSERT_TRUE(eventually([&] { return b->snapshot()->names.count("counter") == 1; }));
  }

  void TearDown() override {
    caf::anon_send_exit(svc, caf::exit_reason::kill);
    svc = nullptr;
    if (b)
      b->stop();
    if (a)
      a->stop();
  }

  call_transport_stats stats(node& n) {
    return call_transport_of(n.system())->stats();
  }

  std::shared_ptr<recording_cluster_sink> events;
  std::unique_ptr<node> a;
  std::unique_ptr<node> b;
  caf::actor svc;
};

// 1. Each node advertises its call port; a call by name goes over it, not CAF's path.
TEST_F(call_transport_test, calls_by_name_take_the_call_transport) {
  EXPECT_FALSE(a->self().calls.empty());
  EXPECT_EQ(b->snapshot()->names.at("counter").owner.calls, a->self().calls);
  cluster_client client{b->system()};
  auto n = client.call<int64_t>("counter", 2s, total_atom::value);
  ASSERT_TRUE(n) << to_string(n.error());
  EXPECT_EQ(*n, 0);
  EXPECT_EQ(stats(*b).requests_sent, 1u);
  EXPECT_EQ(stats(*b).replies_received, 1u);
  EXPECT_EQ(stats(*b).fallbacks, 0u);
  EXPECT_EQ(stats(*a).frames_served, 1u);
}

// 2. One-way sends and a request from one caller arrive in the order they were made.
TEST_F(call_transport_test, sends_and_requests_keep_their_order) {
  cluster_client client{b->system()};
  for (int64_t i = 1; i <= 1000; ++i)
    ASSERT_FALSE(client.send("counter", add_atom::value, i));
  auto n = client.call<int64_t>("counter", 5s, total_atom::value);
  ASSERT_TRUE(n) << to_string(n.error());
  EXPECT_EQ(*n, 1000 * 1001 / 2);
  EXPECT_EQ(stats(*b).sends_sent, 1000u);
}

// 3. From inside an actor (cluster_request): the same path, the answer in the handler.
TEST_F(call_transport_test, cluster_request_from_an_actor) {
  std::promise<int64_t> got;
  auto caller = b->system().spawn([&](caf::event_based_actor* self) {
    cluster_request(self, "counter", 2s, total_atom::value)
      .then([&](int64_t n) { got.set_value(n); },
            [&](caf::error&) { got.set_value(-1); });
  });
  auto f = got.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(f.get(), 0);
  EXPECT_EQ(stats(*b).requests_sent, 1u);
}

// 4. The target dies before answering: a named error at once, not a timeout.
TEST_F(call_transport_test, target_dying_during_a_call_is_service_unavailable) {
  cluster_client client{b->system()};
  auto started = std::chrono::steady_clock::now();
  ASSERT_FALSE(client.send("counter", quit_atom::value));
  auto n = client.call<int64_t>("counter", 10s, total_atom::value);
  ASSERT_FALSE(n);
  EXPECT_TRUE(is(n.error(), errc::service_unavailable)) << to_string(n.error());
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
}

// 5. A message carrying the caller node's actor, and an answer carrying the service's
// actor: decoded on CAF's I/O thread (it owns the proxies), delivered all the same.
TEST_F(call_transport_test, actor_handles_cross_in_both_directions) {
  caf::scoped_actor self{b->system()};
  ASSERT_FALSE(cluster_send(self.ptr(), "counter", poke_atom::value,
                            caf::actor_cast<caf::actor>(self)));
  bool poked = false;
  self->receive([&](poke_atom) { poked = true; }, caf::after(5s) >> [] {});
  EXPECT_TRUE(poked);
  cluster_client client{b->system()};
  auto handle = client.call<caf::actor>("counter", 5s, whoami_atom::value);
  ASSERT_TRUE(handle) << to_string(handle.error());
  EXPECT_EQ(handle->id(), svc.id());
  EXPECT_GE(stats(*a).slow_decodes + stats(*b).slow_decodes, 2u);
  // Order still holds after the slow path.
  for (int64_t i = 1; i <= 10; ++i)
    ASSERT_FALSE(client.send("counter", add_atom::value, i));
  EXPECT_EQ(total_of(client), 55);
}

// 6. The connection goes with a request pending: the caller hears at once. A call port
// that then refuses looks like a dead owner: the next call is answered at once too (CAF's
// path could lose it); after redial_after (1 s) calls go CAF's way.
TEST_F(call_transport_test, pending_calls_fail_when_the_connection_closes) {
  std::promise<caf::error> result;
  std::thread caller{[&] {
    cluster_client client{b->system()};
    auto n = client.call<int64_t>("counter", 20s, hold_atom::value);
    result.set_value(n ? caf::error{} : n.error());
  }};
  ASSERT_TRUE(eventually([&] { return stats(*a).frames_served == 1; }));
  auto started = std::chrono::steady_clock::now();
  call_transport_of(a->system())->stop();
  auto f = result.get_future();
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  caller.join();
  auto err = f.get();
  EXPECT_TRUE(is(err, errc::service_unavailable)) << to_string(err);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  cluster_client client{b->system()};
  auto next = client.call<int64_t>("counter", 20s, total_atom::value);
  ASSERT_FALSE(next);
  EXPECT_TRUE(is(next.error(), errc::service_unavailable)) << to_string(next.error());
  EXPECT_EQ(stats(*b).owner_gone, 1u);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  ASSERT_TRUE(eventually(
    [&] { return static_cast<bool>(client.call<int64_t>("counter", 5s, total_atom::value)); },
    10s));
  EXPECT_GE(stats(*b).fallbacks, 1u);
}

// --- the call port, spoken to by hand ----------------------------------------------------

int connect_to(const std::string& address) {
  auto ep = endpoint::parse(address);
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(ep->port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  return fd;
}

void write_frame(int fd, internal::call_frame_kind kind, const std::vector<char>& body,
                 uint64_t id = 0) {
  std::vector<char> frame;
  internal::put_header(frame, kind, id, static_cast<uint32_t>(body.size()));
  frame.insert(frame.end(), body.begin(), body.end());
  ASSERT_EQ(::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(frame.size()));
}

/// The next frame, or nullopt when the connection closed or stayed silent.
std::optional<std::pair<internal::call_header, std::vector<char>>> read_frame(int fd) {
  char head[internal::call_header_size];
  if (::recv(fd, head, sizeof(head), MSG_WAITALL) != sizeof(head))
    return std::nullopt;
  auto h = internal::read_header(head);
  if (!h)
    return std::nullopt;
  std::vector<char> body(h->body_size);
  if (h->body_size > 0
      && ::recv(fd, body.data(), body.size(), MSG_WAITALL) != static_cast<ssize_t>(body.size()))
    return std::nullopt;
  return std::make_pair(*h, std::move(body));
}

/// Says hello and proves `secret`; returns the verdict frame's kind.
std::optional<internal::call_frame_kind> handshake(int fd, const node& server,
                                                   const std::string& secret) {
  internal::call_hello hello{internal::call_protocol_version, "calls-test", "test",
                             server.self().incarnation, "nonce-1"};
  write_frame(fd, internal::call_frame_kind::hello, internal::encode(hello));
  auto challenge = read_frame(fd);
  if (!challenge || challenge->first.kind != internal::call_frame_kind::challenge)
    return std::nullopt;
  internal::call_body_reader in{challenge->second.data(), challenge->second.size()};
  auto nonce = in.string();
  std::vector<char> auth;
  internal::put_string(auth, internal::client_proof(secret, "calls-test", "nonce-1", *nonce));
  write_frame(fd, internal::call_frame_kind::auth, auth);
  auto verdict = read_frame(fd);
  return verdict ? std::optional{verdict->first.kind} : std::nullopt;
}

bool rejected_with(recording_cluster_sink& sink, const std::string& part) {
  for (auto& ev : sink.events())
    if (ev.kind == cluster_event_kind::connection_rejected
        && ev.reason.find(part) != std::string::npos)
      return true;
  return false;
}

// 7. A request for a name the node does not own (the caller's table is stale) is answered
// service_unavailable.
TEST_F(call_transport_test, a_name_not_owned_here_is_answered_service_unavailable) {
  int fd = connect_to(a->self().calls);
  ASSERT_EQ(handshake(fd, *a, "secret"), internal::call_frame_kind::accepted);
  std::vector<char> body;
  internal::put_string(body, "nobody");
  auto msg = caf::make_message(total_atom::value);
  caf::binary_serializer sink{a->system(), body};
  ASSERT_FALSE(sink(msg));
  write_frame(fd, internal::call_frame_kind::request, body, 7);
  auto reply = read_frame(fd);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->first.kind, internal::call_frame_kind::reply);
  EXPECT_EQ(reply->first.id, 7u);
  caf::message answer;
  caf::binary_deserializer source{a->system(), reply->second};
  ASSERT_FALSE(source(answer));
  ASSERT_TRUE(answer.match_element<caf::error>(0));
  EXPECT_TRUE(is(answer.get_as<caf::error>(0), errc::service_unavailable));
  ::close(fd);
}

// 8. The wrong secret is refused and logged; the node keeps serving.
TEST_F(call_transport_test, wrong_secret_is_refused_with_a_reason) {
  int fd = connect_to(a->self().calls);
  EXPECT_EQ(handshake(fd, *a, "not the secret"), internal::call_frame_kind::refused);
  ::close(fd);
  EXPECT_TRUE(eventually([&] { return rejected_with(*events, "does not know the cluster secret"); }));
  cluster_client client{b->system()};
  EXPECT_EQ(total_of(client), 0);
}

// 9. Garbage and an oversized first frame are closed on the header; silence times out.
TEST_F(call_transport_test, garbage_and_silence_are_closed) {
  int fd = connect_to(a->self().calls);
  std::string junk = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  ::send(fd, junk.data(), junk.size(), MSG_NOSIGNAL);
  EXPECT_FALSE(read_frame(fd));
  ::close(fd);
  EXPECT_TRUE(eventually([&] { return rejected_with(*events, "garbage"); }));
  fd = connect_to(a->self().calls);
  std::vector<char> huge;
  internal::put_header(huge, internal::call_frame_kind::hello, 0, 0xfffffff0);
  ::send(fd, huge.data(), huge.size(), MSG_NOSIGNAL);
  EXPECT_FALSE(read_frame(fd));
  ::close(fd);
  EXPECT_TRUE(eventually([&] { return rejected_with(*events, "handshake frame announces"); }));
  fd = connect_to(a->self().calls);
  EXPECT_FALSE(read_frame(fd));  // closed after cluster.handshake_timeout_ms (2 s)
  ::close(fd);
  EXPECT_TRUE(eventually([&] { return rejected_with(*events, "no handshake"); }));
  cluster_client client{b->system()};
  EXPECT_EQ(total_of(client), 0);
}

// 10. Turned off, no port is advertised and calls go CAF's way.
TEST(call_transport_off, calls_use_cafs_transport) {
  auto cfg = config();
  cfg.cluster.call_transport = false;
  auto x = node::start(cfg);
  ASSERT_TRUE(x) << to_string(x.error());
  auto& a = **x;
  EXPECT_TRUE(a.self().calls.empty());
  EXPECT_FALSE(call_transport_of(a.system()));
  auto y = node::start(config({a.self().address}));
  ASSERT_TRUE(y);
  auto& b = **y;
  auto svc = counter_service(a.system());
  ASSERT_FALSE(register_cluster_name(a.system(), "counter", svc));
  ASSERT_TRUE(eventually([&] { return b.snapshot()->names.count("counter") == 1; }));
  {
    cluster_client client{b.system()};
    EXPECT_EQ(total_of(client), 0);
  }
  EXPECT_EQ(call_transport_of(b.system())->stats().requests_sent, 0u);
  caf::anon_send_exit(svc, caf::exit_reason::kill);
  svc = nullptr;
  b.stop();
  a.stop();
}

} // namespace
