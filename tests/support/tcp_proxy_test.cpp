// The link proxy (warden::link_proxy, here mostly under its test alias tcp_proxy): an echo
// server behind it, clients in front. Every wait is on a condition with a deadline; the few
// "nothing happens" checks watch the socket for a bounded window (the only way to see that a
// blackhole stays silent). Timing checks are lower bounds (a fault held the bytes at least
// this long) or generous upper bounds: the machine may be loaded. Jitter and loss draws come
// from a fixed seed, so which chunks are lost and how long they are held is the same on
// every run.
#include "support/tcp_proxy.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <thread>

#include "support/node_cluster.hpp"  // free_ports
#include "support/test_sockets.hpp"

using namespace std::chrono_literals;
using namespace warden::test;
using namespace warden::test::sockets;

namespace {

// How long a "stays silent / stays open" check watches.
constexpr auto quiet_window = 200ms;

std::string echo_once(int fd, const std::string& msg) {
  if (!send_all(fd, msg))
    return "<send failed>";
  return read_n(fd, msg.size());
}

// One echo of "ping" through `fd`: its round-trip time (the echo is checked).
steady::duration round_trip(int fd) {
  auto t0 = steady::now();
  EXPECT_EQ(echo_once(fd, "ping"), "ping");
  return steady::now() - t0;
}

} // namespace

TEST(tcp_proxy, forwards_both_directions_and_counts) {
  echo_server echo;
  tcp_proxy proxy{"127.0.0.1", echo.port()};
  EXPECT_NE(proxy.port(), 0);
  EXPECT_EQ(proxy.mode(), proxy_mode::forward);
  fd_guard c{connect_to(proxy.port())};
  ASSERT_GE(c.fd, 0);
  EXPECT_EQ(echo_once(c, "hello"), "hello");
  EXPECT_EQ(echo_once(c, "again"), "again");
  ASSERT_TRUE(wait_for([&] { return proxy.stats().bytes_to_client == 10; }));
  auto s = proxy.stats();
  EXPECT_EQ(s.accepted, 1u);
  EXPECT_EQ(s.open, 1u);
  EXPECT_EQ(s.bytes_to_target, 10u);
  EXPECT_EQ(s.refused, 0u);
  EXPECT_EQ(s.bytes_dropped, 0u);
  EXPECT_EQ(echo.accepted, 1);
}

TEST(tcp_proxy, forwards_a_large_stream_with_back_pressure) {
  echo_server echo;
  tcp_proxy proxy{"127.0.0.1", echo.port()};
  fd_guard c{connect_to(proxy.port())};
  ASSERT_GE(c.fd, 0);
  // More than the proxy's per-direction queue, written while the echo is read back.
  auto data = random_bytes(3 * tcp_proxy::max_queued_bytes + 12345);
  std::thread writer{[&] { send_all(c, data); }};
  auto back = read_n(c, data.size(), 20s);
  writer.join();
  ASSERT_EQ(back.size(), data.size());
  EXPECT_TRUE(back == data);
}

TEST(tcp_proxy, forwards_many_connections_independently) {
  echo_server echo;
  tcp_proxy proxy{"127.0.0.1", echo.port()};
  std::vector<int> fds;
  for (int i = 0; i < 8; ++i)
    fds.push_back(connect_to(proxy.port()));
  for (std::size_t i = 0; i < fds.size(); ++i)
    EXPECT_EQ(echo_once(fds[i], "conn" + std::to_string(i)), "conn" + std::to_string(i));
  EXPECT_EQ(proxy.stats().open, 8u);
  for (int fd : fds)
    ::close(fd);
  EXPECT_TRUE(wait_for([&] { return proxy.stats().open == 0 && echo.open == 0; }));
}

TEST(tcp_proxy, forwards_half_close) {
  echo_server echo;
  tcp_proxy proxy{"127.0.0.1", echo.port()};
  fd_guard c{connect_to(proxy.port())};
  ASSERT_TRUE(send_all(c, "last words"));
  ::shutdown(c, SHUT_WR);  // FIN reaches the server, which echoes and closes
  EXPECT_EQ(read_n(c, 10), "last words");
  EXPECT_EQ(wait_peer(c, 2s), peer::closed);
  EXPECT_TRUE(wait_for([&] { return proxy.stats().open == 0 && echo.open == 0; }));
}

TEST(tcp_proxy, cut_resets_live_connections_and_refuses_new_ones) {
  echo_server echo;
  tcp_proxy proxy{"127.0.0.1", echo.port()};
  fd_guard c{connect_to(proxy.port())};
  ASSERT_EQ(echo_once(c, "ping"), "ping");
  ASSERT_TRUE(wait_for([&] { return echo.open == 1; }));

  proxy.cut();
  EXPECT_EQ(proxy.mode(), proxy_mode::cut);
  EXPECT_EQ(proxy.stats().open, 0u);        // synchronous: already gone
  EXPECT_EQ(wait_peer(c, 2s), peer::reset);  // RST, not FIN
  EXPECT_TRUE(wait_for([&] { return echo.open == 0; }));  // the target side too

  // A new connection is accepted by the kernel, then reset at once; the target never sees it.
  fd_guard c2{connect_to(proxy.port())};
  ASSERT_GE(c2.fd, 0);
  EXPECT_EQ(wait_peer(c2, 2s), peer::reset);
  EXPECT_TRUE(wait_for([&] { return proxy.stats().refused == 1; }));
  EXPECT_EQ(echo.accepted, 1);
}

TEST(tcp_proxy, restore_after_cut_forwards_again) {
  echo_server echo;
  tcp_proxy proxy{"127.0.0.1", echo.port()};
  proxy.cut();
  proxy.restore();
  EXPECT_EQ(proxy.mode(), proxy_mode::forward);
  fd_guard c{connect_to(proxy.port())};
  EXPECT_EQ(echo_once(c, "back"), "back");
  EXPECT_EQ(proxy.stats().refused, 0u);
}

TEST(tcp_proxy, blackhole_drops_bytes_without_closing) {
  echo_server echo;
  tcp_proxy proxy{"127.0.0.1", echo.port()};
  fd_guard live{connect_to(proxy.port())};
  ASSERT_EQ(echo_once(live, "before"), "before");
  auto received_before = echo.received.load();

  proxy.blackhole();
  EXPECT_EQ(proxy.mode(), proxy_mode::blackhole);
  ASSERT_TRUE(send_all(live, std::string(100, 'x')));
  ASSERT_TRUE(wait_for([&] { return proxy.stats().bytes_dropped == 100; }));
  EXPECT_EQ(wait_peer(live, quiet_window), peer::open);  // no echo, no FIN, no RST
  EXPECT_EQ(echo.received, received_before);
  EXPECT_EQ(echo.open, 1);  // the target side stays open too
  EXPECT_EQ(proxy.stats().open, 1u);

  // New connections are accepted and blackholed: the target never sees them.
  fd_guard fresh{connect_to(proxy.port())};
  ASSERT_GE(fresh.fd, 0);
  ASSERT_TRUE(send_all(fresh, "lost"));
  ASSERT_TRUE(wait_for([&] { return proxy.stats().bytes_dropped == 104; }));
  EXPECT_EQ(wait_peer(fresh, quiet_window), peer::open);
  EXPECT_EQ(echo.accepted, 1);
  EXPECT_EQ(proxy.stats().open, 2u);

  // restore: the blackholed streams lost bytes, so they are reset; new ones flow.
  proxy.restore();
  EXPECT_EQ(wait_peer(live, 2s), peer::reset);
  EXPECT_EQ(wait_peer(fresh, 2s), peer::reset);
  EXPECT_TRUE(wait_for([&] { return echo.open == 0; }));
  fd_guard after{connect_to(proxy.port())};
  EXPECT_EQ(echo_once(after, "flows"), "flows");
}

TEST(tcp_proxy, blackholed_client_close_is_not_forwarded) {
  echo_server echo;
  tcp_proxy proxy{"127.0.0.1", echo.port()};
  int c = connect_to(proxy.port());
  ASSERT_EQ(echo_once(c, "hi"), "hi");
  proxy.blackhole();
  ::close(c);  // in a partition the FIN would not arrive either
  ASSERT_TRUE(wait_for([&] { return proxy.stats().open == 1; }));  // target side kept
  EXPECT_FALSE(wait_for([&] { return echo.open == 0; }, quiet_window));
  proxy.restore();
  EXPECT_TRUE(wait_for([&] { return echo.open == 0 && proxy.stats().open == 0; }));
}

TEST(tcp_proxy, cut_after_blackhole_resets_everything) {
  echo_server echo;
  tcp_proxy proxy{"127.0.0.1", echo.port()};
  fd_guard c{connect_to(proxy.port())};
  ASSERT_EQ(echo_once(c, "hi"), "hi");
  proxy.blackhole();
  proxy.cut();
  EXPECT_EQ(wait_peer(c, 2s), peer::reset);
  EXPECT_TRUE(wait_for([&] { return echo.open == 0; }));
}

TEST(tcp_proxy, delay_adds_at_least_the_delay) {
  echo_server echo;
  tcp_proxy proxy{"127.0.0.1", echo.port()};
  fd_guard c{connect_to(proxy.port())};
  ASSERT_EQ(echo_once(c, "warm"), "warm");

  auto round_trip = [&] {
    auto t0 = steady::now();
    EXPECT_EQ(echo_once(c, "ping"), "ping");
    return steady::now() - t0;
  };
  proxy.set_delay(150ms);  // both directions
  EXPECT_GE(round_trip(), 300ms);
  proxy.set_delay(0ms);
  proxy.set_delay(150ms, proxy_direction::to_target);
  auto one_way = round_trip();
  EXPECT_GE(one_way, 150ms);
  EXPECT_LT(one_way, 1500ms);
  proxy.restore();  // delays off
  proxy.set_delay(150ms, proxy_direction::to_client);
  EXPECT_GE(round_trip(), 150ms);
  proxy.set_delay(0ms);
  EXPECT_LT(round_trip(), 150ms);
}

TEST(tcp_proxy, delay_keeps_order_of_chunks) {
  echo_server echo;
  tcp_proxy proxy{"127.0.0.1", echo.port()};
  fd_guard c{connect_to(proxy.port())};
  proxy.set_delay(200ms, proxy_direction::to_target);
  auto t0 = steady::now();
  ASSERT_TRUE(send_all(c, "one,"));
  ASSERT_TRUE(wait_for([&] { return proxy.stats().queued == 4; }));  // held by the delay
  proxy.set_delay(0ms);  // a later chunk must not overtake the delayed one
  ASSERT_TRUE(send_all(c, "two"));
  EXPECT_EQ(read_n(c, 7), "one,two");
  EXPECT_GE(steady::now() - t0, 200ms);
  EXPECT_TRUE(wait_for([&] { return proxy.stats().queued == 0; }));
}

TEST(tcp_proxy, target_down_resets_the_client) {
  auto dead_port = free_ports(1)[0];  // nothing listens there
  tcp_proxy proxy{"127.0.0.1", dead_port};
  fd_guard c{connect_to(proxy.port())};
  ASSERT_GE(c.fd, 0);
  EXPECT_NE(wait_peer(c, 2s), peer::open);
  EXPECT_TRUE(wait_for([&] { return proxy.stats().open == 0; }));
}

TEST(tcp_proxy, destructor_resets_live_connections) {
  echo_server echo;
  int c = -1;
  {
    tcp_proxy proxy{"127.0.0.1", echo.port()};
    c = connect_to(proxy.port());
    ASSERT_EQ(echo_once(c, "x"), "x");
  }
  EXPECT_EQ(wait_peer(c, 2s), peer::reset);
  EXPECT_TRUE(wait_for([&] { return echo.open == 0; }));
  ::close(c);
}

TEST(tcp_proxy, binding_a_taken_port_throws) {
  tcp_proxy first{"127.0.0.1", 9};
  EXPECT_THROW((tcp_proxy{"127.0.0.1", 9, first.port()}), std::system_error);
}

// --- link faults for `warden chaos`: jitter, loss, reset --------------------------------------

TEST(link_proxy, jitter_keeps_the_order_of_chunks) {
  echo_server echo;
  warden::link_proxy proxy{"127.0.0.1", echo.port(), 0, 7};
  fd_guard c{connect_to(proxy.port())};
  ASSERT_EQ(echo_once(c, "warm"), "warm");
  proxy.set_jitter(100ms, proxy_direction::to_target);
  // Each message is its own chunk (the proxy read it before the next is sent), each with
  // its own draw: without order keeping, a later short draw would overtake an earlier one.
  std::string sent;
  auto read_so_far = [&] {
    auto s = proxy.stats();
    return s.queued + s.bytes_to_target;
  };
  auto before = read_so_far();
  for (int i = 0; i < 30; ++i) {
    auto msg = "m" + std::to_string(100 + i) + ",";
    ASSERT_TRUE(send_all(c, msg));
    sent += msg;
    ASSERT_TRUE(wait_for([&] { return read_so_far() == before + sent.size(); }));
  }
  EXPECT_EQ(read_n(c, sent.size(), 10s), sent);
  EXPECT_TRUE(wait_for([&] { return proxy.stats().queued == 0; }));
  EXPECT_EQ(proxy.stats().chunks_lost, 0u);
}

TEST(link_proxy, jitter_delays_within_its_bound) {
  echo_server echo;
  warden::link_proxy proxy{"127.0.0.1", echo.port(), 0, 7};
  fd_guard c{connect_to(proxy.port())};
  ASSERT_EQ(echo_once(c, "warm"), "warm");
  // A fixed delay under the jitter: every round trip takes at least the delay, and the
  // draws in [0, 200 ms] on top show up (with this seed, which draws is fixed).
  proxy.set_delay(100ms, proxy_direction::to_target);
  proxy.set_jitter(200ms, proxy_direction::to_target);
  std::vector<steady::duration> rtts;
  for (int i = 0; i < 12; ++i)
    rtts.push_back(round_trip(c));
  auto longest = *std::max_element(rtts.begin(), rtts.end());
  auto shortest = *std::min_element(rtts.begin(), rtts.end());
  EXPECT_GE(shortest, 100ms);           // the delay, never less
  EXPECT_GE(longest, 200ms);            // some draw added >= 100 ms
  EXPECT_LT(longest, 100ms + 200ms + 2s);  // bounded (generously: the machine is loaded)
  // The other direction is untouched and restore() ends jitter too: no lower bound left.
  proxy.restore();
  EXPECT_LT(round_trip(c), 2s);
  EXPECT_EQ(proxy.stats().chunks_lost, 0u);
}

TEST(link_proxy, loss_of_every_chunk_delays_each_by_a_retransmission) {
  echo_server echo;
  warden::link_proxy proxy{"127.0.0.1", echo.port()};
  fd_guard c{connect_to(proxy.port())};
  ASSERT_EQ(echo_once(c, "warm"), "warm");
  ASSERT_EQ(proxy.stats().chunks_lost, 0u);

  proxy.set_loss(1.0, proxy_direction::to_target);
  for (int i = 0; i < 3; ++i)
    EXPECT_GE(round_trip(c), warden::link_proxy::retransmit_delay);
  EXPECT_EQ(proxy.stats().chunks_lost, 3u);  // one chunk per message, one way

  proxy.set_loss(1.0);  // both ways: two retransmissions per round trip
  EXPECT_GE(round_trip(c), 2 * warden::link_proxy::retransmit_delay);
  EXPECT_EQ(proxy.stats().chunks_lost, 5u);

  proxy.set_loss(0.0);
  for (int i = 0; i < 3; ++i)
    round_trip(c);
  EXPECT_EQ(proxy.stats().chunks_lost, 5u);  // no loss, no retransmission
  EXPECT_EQ(proxy.stats().bytes_dropped, 0u);  // a loss never drops stream bytes
}

TEST(link_proxy, loss_with_a_probability_loses_some_chunks) {
  echo_server echo;
  warden::link_proxy proxy{"127.0.0.1", echo.port(), 0, 11};
  fd_guard c{connect_to(proxy.port())};
  ASSERT_EQ(echo_once(c, "warm"), "warm");
  proxy.set_loss(0.5, proxy_direction::to_client);
  constexpr uint64_t messages = 16;
  auto slow = 0u;
  for (uint64_t i = 0; i < messages; ++i)
    if (round_trip(c) >= warden::link_proxy::retransmit_delay)
      ++slow;
  auto lost = proxy.stats().chunks_lost;
  EXPECT_GT(lost, 0u);         // with this seed: some, not all
  EXPECT_LT(lost, messages);
  EXPECT_GE(slow, lost);       // every lost chunk cost a retransmission (load may add more)
}

TEST(link_proxy, loss_keeps_the_order_of_chunks) {
  echo_server echo;
  warden::link_proxy proxy{"127.0.0.1", echo.port()};
  fd_guard c{connect_to(proxy.port())};
  ASSERT_EQ(echo_once(c, "warm"), "warm");
  proxy.set_loss(1.0, proxy_direction::to_target);
  auto t0 = steady::now();
  ASSERT_TRUE(send_all(c, "one,"));
  ASSERT_TRUE(wait_for([&] { return proxy.stats().queued == 4; }));  // held: "retransmitting"
  proxy.set_loss(0.0);  // a later chunk must wait for the retransmission (head of line)
  ASSERT_TRUE(send_all(c, "two"));
  EXPECT_EQ(read_n(c, 7), "one,two");
  EXPECT_GE(steady::now() - t0, warden::link_proxy::retransmit_delay);
  EXPECT_EQ(proxy.stats().chunks_lost, 1u);
}

TEST(link_proxy, restore_ends_loss_and_jitter) {
  echo_server echo;
  warden::link_proxy proxy{"127.0.0.1", echo.port()};
  fd_guard c{connect_to(proxy.port())};
  proxy.set_loss(1.0);
  proxy.set_jitter(300ms);
  proxy.restore();
  EXPECT_EQ(proxy.mode(), proxy_mode::forward);
  for (int i = 0; i < 3; ++i)
    EXPECT_LT(round_trip(c), 2s);
  EXPECT_EQ(proxy.stats().chunks_lost, 0u);
}

TEST(link_proxy, reset_connections_resets_open_ones_and_new_ones_flow) {
  echo_server echo;
  warden::link_proxy proxy{"127.0.0.1", echo.port()};
  fd_guard a{connect_to(proxy.port())};
  fd_guard b{connect_to(proxy.port())};
  ASSERT_EQ(echo_once(a, "a"), "a");
  ASSERT_EQ(echo_once(b, "b"), "b");
  ASSERT_TRUE(wait_for([&] { return echo.open == 2; }));

  proxy.reset_connections();
  EXPECT_EQ(proxy.stats().open, 0u);  // synchronous: already gone
  EXPECT_EQ(proxy.stats().connections_reset, 2u);
  EXPECT_EQ(wait_peer(a, 2s), peer::reset);  // RST, not FIN
  EXPECT_EQ(wait_peer(b, 2s), peer::reset);
  EXPECT_TRUE(wait_for([&] { return echo.open == 0; }));  // the target side too
  EXPECT_EQ(proxy.mode(), proxy_mode::forward);

  // Once: a new connection flows, and stays up.
  fd_guard fresh{connect_to(proxy.port())};
  ASSERT_GE(fresh.fd, 0);
  EXPECT_EQ(echo_once(fresh, "flows"), "flows");
  EXPECT_EQ(echo_once(fresh, "still"), "still");
  EXPECT_EQ(proxy.stats().open, 1u);
  EXPECT_EQ(proxy.stats().refused, 0u);
  EXPECT_EQ(proxy.stats().connections_reset, 2u);
  EXPECT_EQ(echo.accepted, 3);
}

TEST(link_proxy, reset_connections_keeps_the_other_faults) {
  echo_server echo;
  warden::link_proxy proxy{"127.0.0.1", echo.port()};
  proxy.set_delay(150ms, proxy_direction::to_client);
  fd_guard a{connect_to(proxy.port())};
  ASSERT_EQ(echo_once(a, "a"), "a");
  proxy.reset_connections();
  EXPECT_EQ(wait_peer(a, 2s), peer::reset);
  fd_guard fresh{connect_to(proxy.port())};
  EXPECT_GE(round_trip(fresh), 150ms);  // the delay still holds
}

TEST(link_proxy, bad_fault_values_are_rejected) {
  warden::link_proxy proxy{"127.0.0.1", 9};
  EXPECT_THROW(proxy.set_loss(1.5), std::invalid_argument);
  EXPECT_THROW(proxy.set_loss(-0.1), std::invalid_argument);
  EXPECT_THROW(proxy.set_loss(std::nan("")), std::invalid_argument);
  EXPECT_THROW(proxy.set_jitter(-1ms), std::invalid_argument);
  EXPECT_THROW(proxy.set_delay(-1ms), std::invalid_argument);
  EXPECT_NO_THROW(proxy.set_loss(0.0));
  EXPECT_NO_THROW(proxy.set_loss(1.0));
  EXPECT_NO_THROW(proxy.set_jitter(0ms));
}

TEST(link_proxy, to_string_names_each_mode) {
  EXPECT_EQ(warden::to_string(warden::proxy_mode::forward), "forward");
  EXPECT_EQ(warden::to_string(warden::proxy_mode::cut), "cut");
  EXPECT_EQ(warden::to_string(warden::proxy_mode::blackhole), "blackhole");
}

// --- send_garbage / half_open_connection ------------------------------------------------------

TEST(send_garbage, detects_a_close_and_when) {
  echo_server echo;
  tcp_proxy proxy{"127.0.0.1", echo.port()};
  proxy.cut();  // accepts and resets at once: a server that rejects the garbage
  auto r = send_garbage(proxy.port(), random_bytes(64), 2s);
  EXPECT_TRUE(r.connected);
  EXPECT_TRUE(r.closed);
  EXPECT_LT(r.after, 1000ms);
}

TEST(send_garbage, detects_a_graceful_close) {
  // A server that reads one chunk and closes with a FIN.
  auto listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  auto a = loopback(0);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(::listen(listener, 4), 0);
  socklen_t len = sizeof(a);
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len);
  std::thread server{[&] {
    int fd = ::accept(listener, nullptr, nullptr);
    char buf[16];
    [[maybe_unused]] auto n = ::recv(fd, buf, sizeof(buf), 0);
    ::close(fd);
  }};
  auto r = send_garbage(ntohs(a.sin_port), "GARBAGE!", 2s);
  server.join();
  ::close(listener);
  EXPECT_TRUE(r.connected);
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(r.written, 8u);
  EXPECT_LT(r.after, 1000ms);
}

TEST(send_garbage, reports_a_peer_that_stays_open) {
  echo_server echo;  // echoes garbage back and never closes
  auto r = send_garbage(echo.port(), "junk", quiet_window);
  EXPECT_TRUE(r.connected);
  EXPECT_FALSE(r.closed);
  EXPECT_EQ(r.written, 4u);
  EXPECT_GE(r.after, quiet_window);
}

TEST(send_garbage, reports_no_connection) {
  auto r = send_garbage(free_ports(1)[0], "x", 500ms);
  EXPECT_FALSE(r.connected);
  EXPECT_FALSE(r.closed);
}

TEST(half_open_connection, stays_silent_and_closes_at_scope_exit) {
  echo_server echo;
  {
    half_open_connection h{echo.port()};
    ASSERT_TRUE(h.connected());
    ASSERT_TRUE(wait_for([&] { return echo.open == 1; }));
    EXPECT_FALSE(h.wait_closed(quiet_window).has_value());
    EXPECT_EQ(echo.received, 0u);
    half_open_connection moved = std::move(h);  // still one connection
    EXPECT_FALSE(h.connected());
    EXPECT_TRUE(moved.connected());
  }
  EXPECT_TRUE(wait_for([&] { return echo.open == 0; }));
}

TEST(half_open_connection, sees_the_peer_close) {
  echo_server echo;
  tcp_proxy proxy{"127.0.0.1", echo.port()};
  half_open_connection h{proxy.port()};
  ASSERT_TRUE(h.connected());
  ASSERT_TRUE(wait_for([&] { return proxy.stats().open == 1; }));
  proxy.cut();
  auto closed = h.wait_closed(2s);
  ASSERT_TRUE(closed.has_value());
  EXPECT_LT(*closed, 2000ms);
}
