#include "warden/link_proxy.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <deque>
#include <list>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <utility>
#include <vector>

#include "internal/tcp_sockets.hpp"
#include "warden/chaos_scenario.hpp"  // portable_rng

namespace warden {

namespace {

using internal::close_fd;
using internal::resolve;
using internal::resolved;
using internal::socket_error;
using internal::start_connect;

using steady = std::chrono::steady_clock;

constexpr std::size_t read_chunk = 64 * 1024;

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// Close with SO_LINGER 0: the peer gets a RST instead of a FIN.
void reset_fd(int& fd) {
  if (fd < 0)
    return;
  linger lg{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  close_fd(fd);
}

int ms_until(steady::time_point t) {
  auto d = std::chrono::ceil<std::chrono::milliseconds>(t - steady::now()).count();
  return static_cast<int>(std::max<int64_t>(d, 0));
}

void require_non_negative(std::chrono::milliseconds d, const char* what) {
  if (d.count() < 0)
    throw std::invalid_argument(std::string{"link_proxy::"} + what +
                                ": must be >= 0 ms, got " + std::to_string(d.count()) +
                                " ms");
}

} // namespace

std::string_view to_string(proxy_mode m) {
  switch (m) {
    case proxy_mode::forward: return "forward";
    case proxy_mode::cut: return "cut";
    case proxy_mode::blackhole: return "blackhole";
  }
  return "?";
}

// --- the proxy thread's state --------------------------------------------------------------

struct link_proxy::loop {
  struct chunk {
    steady::time_point due;
    std::string data;
    std::size_t off = 0;
  };

  // One direction of a connection: bytes read from `src`, waiting to be written to `dst`.
  // A FIFO: a chunk is written only after the one before it, whatever their due times.
  struct flow {
    std::deque<chunk> queue;
    std::size_t queued = 0;
    bool src_eof = false;   // the sender half-closed
    bool dst_shut = false;  // we forwarded that half-close
  };

  struct conn {
    int client = -1;
    int target = -1;
    bool connecting = false;  // target connect in progress
    bool blackholed = false;
    bool dead = false;
    flow up;    // client -> target
    flow down;  // target -> client
  };

  explicit loop(uint64_t seed) : rng(seed) {}

  resolved target;
  int listener = -1;
  int wake = -1;  // eventfd: a command or stop is pending
  std::list<conn> conns;

  // State applied on the thread (copied from the wanted state).
  proxy_mode mode = proxy_mode::forward;
  direction_faults up_faults;
  direction_faults down_faults;
  uint64_t resets_applied = 0;
  chaos::portable_rng rng;  // jitter and loss draws, only on this thread

  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> refused{0};
  std::atomic<uint64_t> bytes_up{0};
  std::atomic<uint64_t> bytes_down{0};
  std::atomic<uint64_t> dropped{0};
  std::atomic<uint64_t> open{0};
  std::atomic<uint64_t> held{0};  // read, not yet written
  std::atomic<uint64_t> chunks_lost{0};
  std::atomic<uint64_t> connections_reset{0};

  ~loop() {
    for (auto& c : conns)
      kill(c);
    close_fd(listener);
    close_fd(wake);
  }

  // Ends a connection with a RST on both sides.
  void kill(conn& c) {
    if (c.dead)
      return;
    auto q = c.up.queued + c.down.queued;
    dropped += q;
    held -= q;
    reset_fd(c.client);
    reset_fd(c.target);
    c.dead = true;
    --open;
  }

  // A fault command resets `c`.
  void reset_on_command(conn& c) {
    if (c.dead)
      return;
    kill(c);
    ++connections_reset;
  }

  // Ends a connection whose both directions finished cleanly.
  void finish(conn& c) {
    close_fd(c.client);
    close_fd(c.target);
    c.dead = true;
    --open;
  }

  void drop_queues(conn& c) {
    for (auto* f : {&c.up, &c.down}) {
      dropped += f->queued;
      held -= f->queued;
      f->queue.clear();
      f->queued = 0;
    }
  }

  void accept_all() {
    for (;;) {
      int fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0)
        return;  // EAGAIN, or an aborted connection: nothing to do
      if (mode == proxy_mode::cut) {
        reset_fd(fd);
        ++refused;
        continue;
      }
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      ++accepted;
      ++open;
      auto& c = conns.emplace_back();
      c.client = fd;
      if (mode == proxy_mode::blackhole) {
        c.blackholed = true;  // a partition: the target never sees this connection
        continue;
      }
      if (start_connect(target, c.target) != 0)
        kill(c);  // the client sees a reset, as if it had connected to a closed port
      else
        c.connecting = true;
    }
  }

  // When a chunk read now is due: the delay, plus a jitter draw, plus a retransmission
  // if the loss draw says so. Draws only for faults that are on, so the sequence of draws
  // depends on the faults set and the chunks read, nothing else.
  steady::time_point due_time(const direction_faults& f) {
    auto due = steady::now() + f.delay;
    if (f.jitter.count() > 0) {
      auto max_us = std::chrono::duration_cast<std::chrono::microseconds>(f.jitter).count();
      due += std::chrono::microseconds{rng.uniform_int(0, max_us)};
    }
    if (f.loss > 0 && rng.uniform_real(0, 1) < f.loss) {
      due += link_proxy::retransmit_delay;
      ++chunks_lost;
    }
    return due;
  }

  // Reads what `fd` has into `f` (or drops it when blackholed). False on a reset or error.
  bool read_side(conn& c, int& fd, flow& f, const direction_faults& faults) {
    char buf[read_chunk];
    for (;;) {
      if (!c.blackholed && f.queued >= max_queued_bytes)
        return true;
      auto n = ::recv(fd, buf, sizeof(buf), 0);
      if (n > 0) {
        if (c.blackholed) {
          dropped += static_cast<uint64_t>(n);
          continue;
        }
        f.queue.push_back({due_time(faults), std::string(buf, static_cast<std::size_t>(n))});
        f.queued += static_cast<std::size_t>(n);
        held += static_cast<uint64_t>(n);
        continue;
      }
      if (n == 0) {
        f.src_eof = true;
        return true;
      }
      if (errno == EINTR)
        continue;
      return errno == EAGAIN || errno == EWOULDBLOCK;
    }
  }

  // Writes the due part of `f` to `fd`, in order. False on an error (the receiver is gone).
  bool write_side(int fd, flow& f, std::atomic<uint64_t>& counter) {
    auto now = steady::now();
    while (!f.queue.empty() && f.queue.front().due <= now) {
      auto& ch = f.queue.front();
      auto n = ::send(fd, ch.data.data() + ch.off, ch.data.size() - ch.off, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR)
          continue;
        return errno == EAGAIN || errno == EWOULDBLOCK;
      }
      ch.off += static_cast<std::size_t>(n);
      f.queued -= static_cast<std::size_t>(n);
      held -= static_cast<uint64_t>(n);
      counter += static_cast<uint64_t>(n);
      if (ch.off == ch.data.size())
        f.queue.pop_front();
    }
    return true;
  }

  // Writes what is due, forwards half-closes, ends finished connections.
  void pump(conn& c) {
    if (c.dead || c.blackholed || c.connecting)
      return;
    if (!write_side(c.target, c.up, bytes_up) || !write_side(c.client, c.down, bytes_down)) {
      kill(c);
      return;
    }
    for (auto [f, fd] : {std::pair{&c.up, c.target}, std::pair{&c.down, c.client}}) {
      if (f->src_eof && f->queue.empty() && !f->dst_shut) {
        ::shutdown(fd, SHUT_WR);
        f->dst_shut = true;
      }
    }
    if (c.up.dst_shut && c.down.dst_shut)
      finish(c);
  }

  // One blackholed endpoint had an event: drain it, close it when it closes.
  void drain_blackholed(conn& c, int& fd) {
    flow sink;
    if (!read_side(c, fd, sink, {}) || sink.src_eof)
      close_fd(fd);  // only this side: the other must not learn about it
    if (c.client < 0 && c.target < 0) {
      c.dead = true;
      --open;
    }
  }

  void on_event(conn& c, bool is_client, short revents) {
    if (c.dead)
      return;
    int& fd = is_client ? c.client : c.target;
    if (fd < 0)
      return;
    if (c.blackholed) {
      drain_blackholed(c, fd);
      return;
    }
    if (!is_client && c.connecting) {
      if (socket_error(fd) != 0) {
        kill(c);
        return;
      }
      c.connecting = false;
    }
    if (revents & POLLERR) {  // a reset (or a failed write): mirror it to the other side
      kill(c);
      return;
    }
    flow& from = is_client ? c.up : c.down;
    const auto& faults = is_client ? up_faults : down_faults;
    if ((revents & (POLLIN | POLLHUP)) && !from.src_eof) {
      if (!read_side(c, fd, from, faults))
        kill(c);
    } else if ((revents & POLLHUP) && !(revents & POLLOUT)) {
      // Both halves of this side are shut and nothing more can be written: done.
      kill(c);
    }
  }

  // Applies the wanted mode, and a pending reset_connections(), on the thread.
  void apply(proxy_mode next, uint64_t resets_wanted) {
    if (resets_wanted != resets_applied) {
      accept_all();  // connections the kernel completed are open too, for their clients
      for (auto& c : conns)
        reset_on_command(c);
      resets_applied = resets_wanted;
    }
    if (next == proxy_mode::cut) {
      for (auto& c : conns)
        reset_on_command(c);
    } else if (next == proxy_mode::blackhole) {
      for (auto& c : conns) {
        if (c.dead)
          continue;
        c.blackholed = true;
        drop_queues(c);
      }
    } else if (mode == proxy_mode::blackhole) {
      for (auto& c : conns)
        if (c.blackholed)
          reset_on_command(c);
    }
    mode = next;
    conns.remove_if([](const conn& c) { return c.dead; });
  }
};

// --- link_proxy ------------------------------------------------------------------------------

link_proxy::link_proxy(const std::string& target_host, uint16_t target_port,
                       uint16_t listen_port, uint64_t seed)
  : loop_(std::make_unique<loop>(seed)) {
  loop_->target = resolve(target_host, target_port);
  loop_->listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (loop_->listener < 0)
    throw_errno("link_proxy: socket");
  int one = 1;
  ::setsockopt(loop_->listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(listen_port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(loop_->listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    throw_errno("link_proxy: bind 127.0.0.1:" + std::to_string(listen_port));
  if (::listen(loop_->listener, 128) != 0)
    throw_errno("link_proxy: listen");
  socklen_t len = sizeof(addr);
  ::getsockname(loop_->listener, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  loop_->wake = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (loop_->wake < 0)
    throw_errno("link_proxy: eventfd");
  thread_ = std::thread([this] { run(); });
}

link_proxy::~link_proxy() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stop_ = true;
  }
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(loop_->wake, &one, sizeof(one));
  thread_.join();
  loop_.reset();  // resets every connection
}

template <class F>
void link_proxy::command(F&& change) {
  std::unique_lock<std::mutex> guard{mtx_};
  change();
  auto id = ++requested_;
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(loop_->wake, &one, sizeof(one));
  applied_cv_.wait(guard, [&] { return applied_ >= id; });
}

template <class F>
void link_proxy::set_faults(proxy_direction dir, F&& change) {
  command([&] {
    if (dir != proxy_direction::to_client)
      change(to_target_);
    if (dir != proxy_direction::to_target)
      change(to_client_);
  });
}

void link_proxy::cut() {
  command([this] { mode_ = proxy_mode::cut; });
}

void link_proxy::blackhole() {
  command([this] { mode_ = proxy_mode::blackhole; });
}

void link_proxy::set_delay(std::chrono::milliseconds delay, proxy_direction dir) {
  require_non_negative(delay, "set_delay");
  set_faults(dir, [&](direction_faults& f) { f.delay = delay; });
}

void link_proxy::set_jitter(std::chrono::milliseconds max, proxy_direction dir) {
  require_non_negative(max, "set_jitter");
  set_faults(dir, [&](direction_faults& f) { f.jitter = max; });
}

void link_proxy::set_loss(double probability, proxy_direction dir) {
  if (!(probability >= 0 && probability <= 1))  // NaN fails too
    throw std::invalid_argument("link_proxy::set_loss: probability must be in [0, 1], got " +
                                std::to_string(probability));
  set_faults(dir, [&](direction_faults& f) { f.loss = probability; });
}

void link_proxy::reset_connections() {
  command([this] { ++resets_requested_; });
}

void link_proxy::restore() {
  command([this] {
    mode_ = proxy_mode::forward;
    to_target_ = to_client_ = direction_faults{};
  });
}

proxy_mode link_proxy::mode() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return mode_;
}

proxy_stats link_proxy::stats() const {
  auto& l = *loop_;
  proxy_stats s;
  s.accepted = l.accepted.load();
  s.refused = l.refused.load();
  s.bytes_to_target = l.bytes_up.load();
  s.bytes_to_client = l.bytes_down.load();
  s.bytes_dropped = l.dropped.load();
  s.open = l.open.load();
  s.queued = l.held.load();
  s.chunks_lost = l.chunks_lost.load();
  s.connections_reset = l.connections_reset.load();
  return s;
}

void link_proxy::run() {
  auto& l = *loop_;
  struct slot {
    loop::conn* c;
    bool is_client;
  };
  std::vector<pollfd> fds;
  std::vector<slot> slots;
  for (;;) {
    // Poll set: wake, listener, then every open endpoint; the timeout is the next due chunk.
    fds.assign({{l.wake, POLLIN, 0}, {l.listener, POLLIN, 0}});
    slots.assign(2, slot{nullptr, false});
    std::optional<steady::time_point> next_due;
    auto now = steady::now();
    for (auto& c : l.conns) {
      for (bool is_client : {true, false}) {
        int fd = is_client ? c.client : c.target;
        if (fd < 0)
          continue;
        short ev = 0;
        auto& from = is_client ? c.up : c.down;  // what this endpoint sends
        auto& to = is_client ? c.down : c.up;    // what it receives
        if (c.blackholed) {
          ev = POLLIN;
        } else if (!is_client && c.connecting) {
          ev = POLLOUT;
        } else {
          if (!from.src_eof && from.queued < max_queued_bytes)
            ev |= POLLIN;
          if (!to.queue.empty() && !c.connecting) {
            if (to.queue.front().due <= now)
              ev |= POLLOUT;
            else if (!next_due || to.queue.front().due < *next_due)
              next_due = to.queue.front().due;
          }
        }
        fds.push_back({fd, ev, 0});
        slots.push_back({&c, is_client});
      }
    }
    int timeout = next_due ? ms_until(*next_due) : -1;
    int n = ::poll(fds.data(), fds.size(), timeout);
    if (n < 0 && errno != EINTR)
      break;  // cannot happen with valid fds; the destructor still cleans up
    if (fds[0].revents & POLLIN) {
      uint64_t v;
      [[maybe_unused]] auto r = ::read(l.wake, &v, sizeof(v));
      std::unique_lock<std::mutex> guard{mtx_};
      if (stop_)
        return;
      l.up_faults = to_target_;
      l.down_faults = to_client_;
      auto wanted = mode_;
      auto resets = resets_requested_;
      auto id = requested_;
      guard.unlock();
      l.apply(wanted, resets);
      guard.lock();
      applied_ = id;
      guard.unlock();
      applied_cv_.notify_all();
      continue;  // the poll set refers to connections that may be gone
    }
    if (fds[1].revents & POLLIN)
      l.accept_all();
    for (std::size_t i = 2; i < fds.size(); ++i)
      if (fds[i].revents != 0)
        l.on_event(*slots[i].c, slots[i].is_client, fds[i].revents);
    for (auto& c : l.conns)
      l.pump(c);
    l.conns.remove_if([](const loop::conn& c) { return c.dead; });
  }
}

} // namespace warden
