// The node port guard: BASP frame checks (pure), then the accept/recv/close wrappers on
// real sockets on 127.0.0.1 (the test program links them, as `warden` does).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "internal/port_guard.hpp"
#include "internal/process_probe.hpp"

using namespace std::chrono_literals;
using warden::internal::basp_frame_check;

namespace {

/// A BASP header (big-endian, as CAF 0.17.6 writes it) with `op` and `payload_len`.
std::string header(uint8_t op, uint32_t payload_len, uint8_t padding = 0) {
  std::string h(warden::internal::basp_header_bytes, '\0');
  h[0] = static_cast<char>(op);
  h[1] = static_cast<char>(padding);
  for (int i = 0; i < 4; ++i)
    h[4 + i] = static_cast<char>((payload_len >> (8 * (3 - i))) & 0xff);
  h[15] = 3;  // operation_data: BASP version 3
  return h;
}

std::string handshake() {
  return header(0x01, 40) + std::string(40, 'h');
}

std::string feed(basp_frame_check& f, const std::string& bytes) {
  return f.feed(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

} // namespace

// 1. A client_handshake, then one more frame: a peer; bytes may arrive one at a time.
TEST(port_guard_frames, handshake_then_a_frame_makes_a_peer_even_byte_by_byte) {
  basp_frame_check f{1024};
  auto bytes = handshake() + header(0x02, 8) + std::string(8, 'm') + header(0x06, 0);
  for (size_t i = 0; i < bytes.size(); ++i) {
    ASSERT_EQ(f.feed(reinterpret_cast<const uint8_t*>(bytes.data() + i), 1), "") << "byte " << i;
    if (i < handshake().size() + 31) {
      EXPECT_FALSE(f.peer()) << "byte " << i;
    }
    EXPECT_EQ(f.handshake_received(), i + 1 >= handshake().size()) << "byte " << i;
  }
  EXPECT_TRUE(f.peer());
  EXPECT_EQ(f.bytes(), bytes.size());
}

// 2. Anything but a client_handshake first is refused on its first byte, shown as it came.
TEST(port_guard_frames, a_stranger_is_refused_on_its_first_byte) {
  basp_frame_check http{1024};
  auto why = feed(http, "GET / HTTP/1.1\r\n");
  EXPECT_NE(why.find("not a BASP client_handshake"), std::string::npos) << why;
  EXPECT_NE(why.find("47 45 54 20"), std::string::npos) << why;
  EXPECT_NE(why.find("\"GET / HTTP/1.1..\""), std::string::npos) << why;
  basp_frame_check server_side{1024};
  EXPECT_NE(feed(server_side, header(0x00, 0)), "");
  basp_frame_check message_first{1024};
  EXPECT_NE(feed(message_first, header(0x02, 8)), "");
}

// 3. Announced sizes: 64 KiB for the handshake, max_frame_bytes after it (exactly is fine).
TEST(port_guard_frames, announced_sizes_are_bounded_before_any_payload_is_read) {
  basp_frame_check huge{1024};
  auto why = feed(huge, header(0x01, 0xfffffff0u));
  EXPECT_NE(why.find("announces 4294967280 bytes (at most 65536)"), std::string::npos) << why;

  basp_frame_check f{1024};
  ASSERT_EQ(feed(f, handshake()), "");
  ASSERT_EQ(feed(f, header(0x02, 1024) + std::string(1024, 'x')), "");
  why = feed(f, header(0x03, 1025));
  EXPECT_NE(why.find("routed_message announces 1025 bytes"), std::string::npos) << why;
  EXPECT_NE(why.find("cluster.max_frame_bytes = 1024"), std::string::npos) << why;
}

// 4. After the handshake: unknown operations or padding are refused; CAF's own second
//    client_handshake is not.
TEST(port_guard_frames, malformed_headers_after_the_handshake_are_refused) {
  basp_frame_check twice{1024};
  EXPECT_EQ(feed(twice, handshake() + handshake()), "");
  EXPECT_FALSE(twice.peer()) << "handshakes alone make no peer";
  EXPECT_EQ(feed(twice, header(0x02, 0)), "");
  EXPECT_TRUE(twice.peer());
  for (auto bad : {header(0x07, 0), header(0xff, 0), header(0x02, 0, 0x5a)}) {
    basp_frame_check f{1024};
    ASSERT_EQ(feed(f, handshake()), "");
    EXPECT_NE(feed(f, bad), "") << "operation " << int(bad[0]);
  }
}

// --- the wrappers on real sockets ---------------------------------------------------------

namespace {

/// A listening socket on 127.0.0.1 guarded with a short deadline; records the reports.
class guarded_listener {
public:
  guarded_listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), len), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    guard_.emplace(warden::internal::port_guard_settings{
      .port = port_,
      .handshake_deadline = 300ms,
      .max_frame_bytes = 1024,
      .report = [this](const std::string& address, const std::string& why) {
        std::lock_guard lk{mtx_};
        reports_.push_back(address + " " + why);
        cv_.notify_all();
      }});
  }
  ~guarded_listener() {
    guard_.reset();
    ::close(fd_);
  }

  /// A client connection (returns its descriptor and local "ip:port").
  std::pair<int, std::string> connect() {
    int c = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port_);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    socklen_t len = sizeof(a);
    ::getsockname(c, reinterpret_cast<sockaddr*>(&a), &len);
    return {c, "127.0.0.1:" + std::to_string(ntohs(a.sin_port))};
  }

  int accept() { return ::accept(fd_, nullptr, nullptr); }

  /// Waits until `n` reports arrived (or 5 s); returns them all.
  std::vector<std::string> reports(size_t n) {
    std::unique_lock lk{mtx_};
    cv_.wait_for(lk, 5s, [&] { return reports_.size() >= n; });
    return reports_;
  }

private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::optional<warden::internal::port_guard> guard_;
  std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<std::string> reports_;
};

void send_all(int fd, const std::string& bytes) {
  ASSERT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(bytes.size()));
}

} // namespace

// 5. The program's accept/recv/close are the guard's.
TEST(port_guard, wrappers_are_linked_into_the_program) {
  EXPECT_TRUE(warden::internal::port_guard_linked());
}

// 6. Garbage: recv fails with ECONNRESET before returning it, and one report names the sender.
TEST(port_guard, garbage_makes_recv_fail_and_is_reported_once) {
  guarded_listener l;
  auto [client, address] = l.connect();
  send_all(client, "GET / HTTP/1.1\r\n\r\n");
  int s = l.accept();
  ASSERT_GE(s, 0);
  char buf[32];
  errno = 0;
  EXPECT_EQ(::recv(s, buf, sizeof(buf), 0), -1);
  EXPECT_EQ(errno, ECONNRESET);
  ::close(s);
  auto r = l.reports(1);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].rfind(address + " not a BASP client_handshake", 0), 0u) << r[0];
  ::close(client);
}

// 7. Silent (half-open) connections are shut down at the deadline; a peer never is. The
//    peer was accepted first, so the sweep that rejects the silent one would have seen it.
TEST(port_guard, silent_connections_close_at_the_deadline_and_peers_stay) {
  guarded_listener l;
  auto [peer_client, peer_address] = l.connect();
  int peer = l.accept();
  send_all(peer_client, handshake() + header(0x02, 0));
  std::string got(handshake().size() + 32, '\0');
  ASSERT_EQ(::recv(peer, got.data(), got.size(), MSG_WAITALL), static_cast<ssize_t>(got.size()));

  auto [silent_client, silent_address] = l.connect();
  int silent = l.accept();
  char buf[8];
  EXPECT_EQ(::recv(silent, buf, sizeof(buf), 0), 0) << "shut down by the guard";
  auto r = l.reports(1);
  ASSERT_EQ(r.size(), 1u) << r.back();
  EXPECT_EQ(r[0], silent_address + " no handshake within 300 ms (0 bytes received)");
  ::close(silent);
  ::close(peer);
  // Closing the peer is no rejection: the next report is the next silent connection's.
  auto [marker_client, marker_address] = l.connect();
  int marker = l.accept();
  EXPECT_EQ(::recv(marker, buf, sizeof(buf), 0), 0);
  r = l.reports(2);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[1].rfind(marker_address + " no handshake", 0), 0u) << r[1];
  for (int fd : {marker, marker_client, silent_client, peer_client})
    ::close(fd);
}

// 8. A remote that closes mid-header is reported with the bytes it sent.
TEST(port_guard, a_remote_closing_before_the_handshake_is_reported) {
  guarded_listener l;
  auto [client, address] = l.connect();
  send_all(client, header(0x01, 40).substr(0, 3));
  ::close(client);
  int s = l.accept();
  char buf[64];
  ssize_t n = 0;
  ssize_t total = 0;
  while ((n = ::recv(s, buf, sizeof(buf), 0)) > 0)
    total += n;
  EXPECT_EQ(total, 3);
  ::close(s);
  auto r = l.reports(1);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0], address + " closed by the remote before the handshake (3 bytes received)");
}

// --- the process probe (internal/process_probe.hpp) ----------------------------------------

// 9. A listening port is "accepted" (also when nobody ever calls accept: a stopped process);
//    the same port once closed is "refused".
TEST(process_probe, tells_a_listening_port_from_a_closed_one) {
  using warden::internal::probe_result;
  using warden::internal::probe_tcp;
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), len), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  auto port = ntohs(a.sin_port);
  EXPECT_EQ(probe_tcp("127.0.0.1", port, 500ms), probe_result::accepted);
  ::close(fd);
  EXPECT_EQ(probe_tcp("127.0.0.1", port, 500ms), probe_result::refused);
}
