// Target "tcp": the floor. Plain blocking sockets on 127.0.0.1 with TCP_NODELAY on both
// ends, 16-byte frames {kind, value}: ping (echoed), tick (counted), count (answered
// with the count, which resets). One thread per side, no event loop: a round trip is
// write + read on each side and two wake-ups of a blocked thread.
#include "cluster_bench.hpp"

#include <cerrno>
#include <cstring>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.hpp"

namespace warden::bench::cluster {

namespace {

enum : uint64_t { k_ping = 1, k_tick = 2, k_count = 3 };

struct frame {
  uint64_t kind;
  uint64_t value;
};
static_assert(sizeof(frame) == 16);

std::runtime_error sys_error(const std::string& what) {
  return std::runtime_error(what + ": " + std::strerror(errno));
}

void set_nodelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

bool write_all(int fd, const void* data, size_t len) {
  auto p = static_cast<const char*>(data);
  while (len > 0) {
    auto n = ::send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

bool read_all(int fd, void* data, size_t len) {
  auto p = static_cast<char*>(data);
  while (len > 0) {
    auto n = ::recv(fd, p, len, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

// Serves one connection until the peer closes it. Reads in bulk so that a stream of
// ticks costs one recv per buffer, not per frame.
void serve_connection(int fd) {
  set_nodelay(fd);
  uint64_t ticks = 0;
  auto handle = [&](const frame& f) {
    if (f.kind == k_tick) {
      ++ticks;
      return true;
    }
    if (f.kind == k_ping)
      return write_all(fd, &f, sizeof(f));
    frame r{k_count, ticks};
    ticks = 0;
    return write_all(fd, &r, sizeof(r));
  };
  char buf[64 * 1024];
  size_t have = 0;
  for (bool open = true; open;) {
    auto n = ::recv(fd, buf + have, sizeof(buf) - have, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    have += static_cast<size_t>(n);
    size_t off = 0;
    for (; open && have - off >= sizeof(frame); off += sizeof(frame)) {
      frame f;
      std::memcpy(&f, buf + off, sizeof(f));
      open = handle(f);
    }
    std::memmove(buf, buf + off, have - off);
    have -= off;
  }
  ::close(fd);
}

} // namespace

int serve_tcp(const variant&, uint16_t port) {
  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (lfd < 0)
    throw sys_error("socket");
  int one = 1;
  ::setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    throw sys_error("bind");
  if (::listen(lfd, 16) != 0)
    throw sys_error("listen");
  socklen_t len = sizeof(addr);
  ::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);
  // Connections are served one after the other on this thread; the main thread only
  // waits for the parent to close our stdin (then the process exits, taking it along).
  std::thread{[lfd] {
    for (;;) {
      int fd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED)
          continue;
        return;
      }
      serve_connection(fd);
    }
  }}.detach();
  announce_ready(ntohs(addr.sin_port));
  wait_for_stdin_eof();
  return 0;
}

sample measure_tcp(const variant&, const endpoint& server, const counts& c) {
  auto port = server.port;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    throw sys_error("socket");
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } guard{fd};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    throw sys_error("connect");
  set_nodelay(fd);
  sample s;
  s.info["client"]["sockets"] = nodelay_of_connections(port, false);
  s.rtt_us.reserve(c.rtt);
  auto started = clock::now();
  std::optional<cpu_meter> cpu;
  for (size_t i = 0; i < c.warmup + c.rtt; ++i) {
    if (i == c.warmup) {
      started = clock::now();
      cpu.emplace(server.pid);
    }
    auto t0 = clock::now();
    frame f{k_ping, i};
    frame r{};
    if (!write_all(fd, &f, sizeof(f)) || !read_all(fd, &r, sizeof(r)))
      throw std::runtime_error("tcp ping: connection lost");
    auto dt = us_since(t0);
    if (r.kind != k_ping || r.value != i)
      throw std::runtime_error("tcp ping: wrong echo");
    if (i >= c.warmup)
      s.rtt_us.push_back(dt);
  }
  s.rtt_wall_us = us_since(started);
  s.rtt_cpu_us = cpu ? cpu->elapsed_us() : 0.0;
  if (c.oneway > 0) {
    // One send per message (as an actor sends one message at a time), then the count.
    frame f{k_count, 0};
    frame r{};
    if (!write_all(fd, &f, sizeof(f)) || !read_all(fd, &r, sizeof(r)))
      throw std::runtime_error("tcp count: connection lost");
    auto t0 = clock::now();
    frame tick{k_tick, 0};
    for (size_t i = 0; i < c.oneway; ++i)
      if (!write_all(fd, &tick, sizeof(tick)))
        throw std::runtime_error("tcp tick: connection lost");
    if (!write_all(fd, &f, sizeof(f)) || !read_all(fd, &r, sizeof(r)))
      throw std::runtime_error("tcp count: connection lost");
    s.oneway_us = us_since(t0);
    if (r.value != c.oneway)
      throw std::runtime_error("tcp one-way: server counted " + std::to_string(r.value));
    s.oneway_n = c.oneway;
  }
  return s;
}

} // namespace warden::bench::cluster
