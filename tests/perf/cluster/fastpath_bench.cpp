// Would a Warden-owned transport reach Erlang's round trip? A feasibility measurement for
// issue 3 (docs/performance.md "What it would take to reach Erlang"), not a transport.
//
//   warden_fastpath_bench [--runs 5] [--rtt 20000]
//
// Two round trips over loopback TCP to a child process, interleaved run by run:
// - tcp: the server's reader thread echoes the frame itself (the floor: 2 wake-ups);
// - fastpath: the server's reader thread enqueues the frame to a CAF actor (sharing
//   scheduler, like a Warden node), and the actor's handler writes the answer to the socket
//   itself, under a per-connection lock: no middleman, no BASP, no I/O-thread hop on the way
//   out (3 wake-ups per round trip, as Erlang's distribution).
// The client is a plain blocking thread in both. Prints p50/p99 per run and the medians.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>

namespace {

struct frame {
  uint64_t id;
  uint64_t value;
};

/// One accepted connection; the actor writes answers to it.
struct connection {
  int fd = -1;
  std::mutex write_mtx;
};

} // namespace

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<connection>)

namespace {

using ping_atom = caf::atom_constant<caf::atom("fpPing")>;

bool read_all(int fd, void* buf, size_t n) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    auto r = ::recv(fd, p, n, 0);
    if (r <= 0)
      return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

bool write_all(int fd, const void* buf, size_t n) {
  auto* p = static_cast<const char*>(buf);
  while (n > 0) {
    auto r = ::send(fd, p, n, MSG_NOSIGNAL);
    if (r <= 0)
      return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

void nodelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/// The server: accepts two connections, "tcp" then "fastpath", serves each on a thread.
[[noreturn]] void serve(int listener) {
  caf::actor_system_config cfg;
  cfg.set("scheduler.policy", caf::atom("sharing"));
  cfg.set("scheduler.max-threads", 2);
  caf::actor_system sys{cfg};
  auto echo = sys.spawn([](caf::event_based_actor*) -> caf::behavior {
    return {[](ping_atom, uint64_t id, uint64_t value, std::shared_ptr<connection>& c) {
      frame f{id, value};
      std::lock_guard lk{c->write_mtx};
      write_all(c->fd, &f, sizeof(f));
    }};
  });
  std::vector<std::thread> threads;
  for (int kind = 0; kind < 2; ++kind) {
    int fd = ::accept(listener, nullptr, nullptr);
    nodelay(fd);
    threads.emplace_back([fd, kind, echo] {
      auto c = std::make_shared<connection>();
      c->fd = fd;
      frame f{};
      while (read_all(fd, &f, sizeof(f))) {
        if (kind == 0)
          write_all(fd, &f, sizeof(f));
        else
          caf::anon_send(echo, ping_atom::value, f.id, f.value, c);
      }
    });
  }
  for (auto& t : threads)
    t.join();
  std::_Exit(0);
}

/// `n` round trips on `fd`; returns the sorted latencies in microseconds.
std::vector<double> round_trips(int fd, int n) {
  std::vector<double> us;
  us.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    frame out{static_cast<uint64_t>(i), 42};
    frame in{};
    auto t0 = std::chrono::steady_clock::now();
    if (!write_all(fd, &out, sizeof(out)) || !read_all(fd, &in, sizeof(in)) || in.id != out.id) {
      std::fprintf(stderr, "fastpath_bench: broken round trip %d\n", i);
      std::exit(1);
    }
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
                   .count());
  }
  std::sort(us.begin(), us.end());
  return us;
}

double at(const std::vector<double>& sorted, double q) {
  return sorted[std::min(sorted.size() - 1, static_cast<size_t>(q * static_cast<double>(sorted.size())))];
}

double median(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  return xs[xs.size() / 2];
}

} // namespace

int main(int argc, char** argv) {
  int runs = 5;
  int rtt = 20000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--runs")
      runs = std::max(1, std::atoi(argv[i + 1]));
    else if (a == "--rtt")
      rtt = std::max(100, std::atoi(argv[i + 1]));
  }
  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(listener, 4) != 0) {
    std::perror("fastpath_bench: listen");
    return 1;
  }
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  auto child = ::fork();
  if (child == 0)
    serve(listener);
  ::close(listener);
  int fds[2];
  for (auto& fd : fds) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      std::perror("fastpath_bench: connect");
      ::kill(child, SIGKILL);
      ::waitpid(child, nullptr, 0);
      return 1;
    }
    nodelay(fd);
  }
  const char* names[] = {"tcp", "fastpath"};
  std::vector<double> p50[2], p99[2];
  round_trips(fds[0], rtt / 10);  // warm-up
  round_trips(fds[1], rtt / 10);
  for (int r = 0; r < runs; ++r)
    for (int k = 0; k < 2; ++k) {
      auto us = round_trips(fds[k], rtt);
      p50[k].push_back(at(us, 0.50));
      p99[k].push_back(at(us, 0.99));
      std::printf("run %d %-8s p50 %7.1f us  p99 %7.1f us\n", r + 1, names[k], p50[k].back(),
                  p99[k].back());
    }
  for (int k = 0; k < 2; ++k)
    std::printf("median of %d runs  %-8s p50 %7.1f us  p99 %7.1f us  (%d round trips each)\n",
                runs, names[k], median(p50[k]), median(p99[k]), rtt);
  for (auto fd : fds)
    ::close(fd);
  int status = 0;
  ::waitpid(child, &status, 0);
  return 0;
}
