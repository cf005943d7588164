// Test-only socket helpers for the support library's own tests: an echo server on its own
// thread and a few blocking client calls with deadlines.
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace warden::test::sockets {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

inline sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

/// Polls `pred` every 5 ms until it holds or `timeout` passes; its last value.
inline bool wait_for(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 2s) {
  auto until = steady::now() + timeout;
  while (!pred()) {
    if (steady::now() >= until)
      return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

/// Echoes every byte back; half-closes when the client does. Listens on 127.0.0.1:port.
class echo_server {
public:
  explicit echo_server(uint16_t port = 0) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    auto a = loopback(port);
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        ::listen(listener_, 64) != 0)
      throw std::runtime_error("echo_server: bind/listen failed");
    socklen_t len = sizeof(a);
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    wake_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    thread_ = std::thread([this] { run(); });
  }

  ~echo_server() {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_, &one, sizeof(one));
    thread_.join();
    for (auto& [fd, pending] : conns_)
      ::close(fd);
    ::close(listener_);
    ::close(wake_);
  }

  uint16_t port() const { return port_; }

  std::atomic<int> accepted{0};
  std::atomic<int> open{0};
  std::atomic<uint64_t> received{0};

private:
  void run() {
    for (;;) {
      std::vector<pollfd> fds{{wake_, POLLIN, 0}, {listener_, POLLIN, 0}};
      for (auto& [fd, pending] : conns_)
        fds.push_back({fd, static_cast<short>(pending.empty() ? POLLIN : POLLOUT), 0});
      ::poll(fds.data(), fds.size(), -1);
      if (fds[0].revents)
        return;
      if (fds[1].revents) {
        int fd = ::accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
          conns_[fd];
          ++accepted;
          ++open;
        }
      }
      for (std::size_t i = 2; i < fds.size(); ++i) {
        if (fds[i].revents == 0)
          continue;
        int fd = fds[i].fd;
        auto& pending = conns_[fd];
        bool done = false;
        if (pending.empty()) {
          char buf[65536];
          auto n = ::recv(fd, buf, sizeof(buf), 0);
          if (n > 0) {
            received += static_cast<uint64_t>(n);
            pending.assign(buf, static_cast<std::size_t>(n));
          } else if (n == 0) {
            ::shutdown(fd, SHUT_WR);  // echo the half-close, then close
            done = true;
          } else if (errno != EAGAIN) {
            done = true;
          }
        }
        if (!pending.empty()) {
          auto n = ::send(fd, pending.data(), pending.size(), MSG_NOSIGNAL);
          if (n > 0)
            pending.erase(0, static_cast<std::size_t>(n));
          else if (n < 0 && errno != EAGAIN)
            done = true;
        }
        if (done) {
          ::close(fd);
          conns_.erase(fd);
          --open;
        }
      }
    }
  }

  int listener_ = -1;
  int wake_ = -1;
  uint16_t port_ = 0;
  std::map<int, std::string> conns_;  // fd -> bytes still to echo
  std::thread thread_;
};

/// A blocking client socket connected to 127.0.0.1:port (-1 on failure).
inline int connect_to(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  auto a = loopback(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

inline bool send_all(int fd, const std::string& data) {
  std::size_t off = 0;
  while (off < data.size()) {
    auto n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0)
      return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

/// Reads until `n` bytes came, the peer closed, or `timeout` passed.
inline std::string read_n(int fd, std::size_t n, std::chrono::milliseconds timeout = 2s) {
  std::string out;
  auto until = steady::now() + timeout;
  char buf[65536];
  while (out.size() < n) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - steady::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0)
      break;
    auto r = ::recv(fd, buf, std::min(sizeof(buf), n - out.size()), MSG_DONTWAIT);
    if (r <= 0)
      break;
    out.append(buf, static_cast<std::size_t>(r));
  }
  return out;
}

/// What a client sees on its socket within a time.
enum class peer { open, closed, reset };

/// Waits up to `timeout` for the peer to close (discarding data); `open` if it did not.
inline peer wait_peer(int fd, std::chrono::milliseconds timeout) {
  auto until = steady::now() + timeout;
  char buf[65536];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - steady::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0)
      return peer::open;
    auto r = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (r == 0)
      return peer::closed;
    if (r < 0 && errno == ECONNRESET)
      return peer::reset;
    if (r < 0 && errno != EAGAIN)
      return peer::closed;
  }
}

/// A socket closed at scope exit.
struct fd_guard {
  int fd;
  explicit fd_guard(int f) : fd(f) {}
  ~fd_guard() {
    if (fd >= 0)
      ::close(fd);
  }
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  operator int() const { return fd; }
};

} // namespace warden::test::sockets
