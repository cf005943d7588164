#include "support/tcp_proxy.hpp"

// The test-only helpers; the proxy is warden::link_proxy (nodes/src/link_proxy.cpp).
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>
#include <system_error>
#include <utility>

#include "internal/tcp_sockets.hpp"

namespace warden::test {

namespace {

using internal::close_fd;
using internal::resolve;
using internal::resolved;
using internal::socket_error;
using internal::start_connect;

using steady = std::chrono::steady_clock;

struct connected {
  int fd = -1;         // -1: no connection
  bool reset = false;  // established, then reset before we looked (a server that rejects)
};

// Connects, waiting up to `timeout`.
connected connect_with_timeout(const std::string& host, uint16_t port,
                               std::chrono::milliseconds timeout) {
  auto to = resolve(host, port);
  connected c;
  if (start_connect(to, c.fd) != 0)
    return {};
  pollfd p{c.fd, POLLOUT, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) {
    close_fd(c.fd);
    return {};
  }
  // ECONNREFUSED: nobody listens. ECONNRESET: accepted, then reset at once; the socket is
  // kept so the caller sees the close (reading SO_ERROR cleared the error: reads give EOF).
  if (int err = socket_error(c.fd); err == ECONNRESET || err == EPIPE) {
    c.reset = true;
  } else if (err != 0) {
    close_fd(c.fd);
    return {};
  }
  return c;
}

int ms_until(steady::time_point t) {
  auto d = std::chrono::ceil<std::chrono::milliseconds>(t - steady::now()).count();
  return static_cast<int>(std::max<int64_t>(d, 0));
}

/// "ip:port" of our end of `fd`.
std::string local_address(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof(a);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    return "";
  char host[INET_ADDRSTRLEN] = "";
  ::inet_ntop(AF_INET, &a.sin_addr, host, sizeof(host));
  return std::string{host} + ":" + std::to_string(ntohs(a.sin_port));
}

} // namespace

garbage_result send_garbage(uint16_t port, std::string_view bytes,
                            std::chrono::milliseconds timeout, const std::string& host) {
  garbage_result r;
  auto conn = connect_with_timeout(host, port, timeout);
  int fd = conn.fd;
  if (fd < 0)
    return r;
  r.connected = true;
  r.local = local_address(fd);
  if (conn.reset) {
    r.closed = r.reset = true;
    ::close(fd);
    return r;
  }
  auto t0 = steady::now();
  auto deadline = t0 + timeout;
  auto closed = [&](bool reset) {
    r.closed = true;
    r.reset = reset;
    r.after = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t0);
  };
  char buf[4096];
  while (!r.closed) {
    short ev = POLLIN;
    if (r.written < bytes.size())
      ev |= POLLOUT;
    pollfd p{fd, ev, 0};
    int left = ms_until(deadline);
    if (left == 0 || ::poll(&p, 1, left) == 0)
      break;
    if (p.revents & POLLOUT) {
      auto n = ::send(fd, bytes.data() + r.written, bytes.size() - r.written,
                      MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0)
        r.written += static_cast<std::size_t>(n);
      else if (n < 0 && errno != EAGAIN && errno != EINTR)
        closed(errno == ECONNRESET || errno == EPIPE);
    }
    if (!r.closed && (p.revents & (POLLIN | POLLHUP | POLLERR))) {
      auto n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (n == 0)
        closed(false);
      else if (n < 0 && errno != EAGAIN && errno != EINTR)
        closed(errno == ECONNRESET);
    }
  }
  if (!r.closed)
    r.after = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t0);
  ::close(fd);
  return r;
}

std::string random_bytes(std::size_t n, uint64_t seed) {
  std::mt19937_64 rng{seed};
  std::string out(n, '\0');
  for (auto& ch : out)
    ch = static_cast<char>(rng() & 0xff);
  return out;
}

half_open_connection::half_open_connection(uint16_t port, std::chrono::milliseconds timeout,
                                           const std::string& host)
  : fd_(connect_with_timeout(host, port, timeout).fd), connected_at_(steady::now()) {
}

half_open_connection::~half_open_connection() {
  close_fd(fd_);
}

half_open_connection::half_open_connection(half_open_connection&& other) noexcept
  : fd_(std::exchange(other.fd_, -1)), connected_at_(other.connected_at_) {
}

half_open_connection& half_open_connection::operator=(half_open_connection&& other) noexcept {
  if (this != &other) {
    close_fd(fd_);
    fd_ = std::exchange(other.fd_, -1);
    connected_at_ = other.connected_at_;
  }
  return *this;
}

std::string half_open_connection::local() const {
  return local_address(fd_);
}

std::optional<std::chrono::milliseconds>
half_open_connection::wait_closed(std::chrono::milliseconds timeout) {
  if (fd_ < 0)
    return std::nullopt;
  auto deadline = steady::now() + timeout;
  char buf[4096];
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    int left = ms_until(deadline);
    if (::poll(&p, 1, left) <= 0)
      return std::nullopt;
    auto n = ::recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
      return std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() -
                                                                   connected_at_);
  }
}

} // namespace warden::test
