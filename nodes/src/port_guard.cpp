// The node port guard (internal/port_guard.hpp): BASP frame checks, the handshake deadline,
// rejection reports, and the accept/recv/close wrappers that feed them.
#include "internal/port_guard.hpp"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

namespace warden::internal {

// --- frames -------------------------------------------------------------------------------

namespace {

constexpr uint8_t client_handshake = 0x01;
constexpr uint8_t heartbeat = 0x06;

const char* basp_operation(uint8_t op) {
  static constexpr const char* names[] = {"server_handshake", "client_handshake",
                                          "direct_message",   "routed_message",
                                          "monitor_message",  "down_message",
                                          "heartbeat"};
  return op <= heartbeat ? names[op] : "no BASP operation";
}

/// "47 45 54 20 (\"GET \")": how the first bytes of a garbage connection look.
std::string show_bytes(const uint8_t* data, size_t n) {
  std::string hex;
  std::string text;
  for (size_t i = 0; i < n; ++i) {
    hex += fmt::format("{}{:02x}", i == 0 ? "" : " ", data[i]);
    text += std::isprint(data[i]) ? static_cast<char>(data[i]) : '.';
  }
  return fmt::format("{} (\"{}\")", hex, text);
}

} // namespace

std::string basp_frame_check::check_header() const {
  auto op = header_[0];
  uint32_t len = (uint32_t{header_[4]} << 24) | (uint32_t{header_[5]} << 16)
                 | (uint32_t{header_[6]} << 8) | uint32_t{header_[7]};
  bool first = frames_ == 0;
  if (first && op != client_handshake)
    return fmt::format("not a BASP client_handshake: first bytes {}",
                       show_bytes(header_.data(), std::min<size_t>(header_have_, 16)));
  if (header_have_ < basp_header_bytes)
    return {};
  if (!first && op > heartbeat)  // CAF itself may send a second client_handshake
    return fmt::format("BASP frame {} with operation {:#04x} ({}) after the handshake",
                       frames_ + 1, op, basp_operation(op));
  if (header_[1] != 0 || header_[2] != 0)
    return fmt::format("BASP frame {}: padding bytes {:02x} {:02x} are not zero", frames_ + 1,
                       header_[1], header_[2]);
  if (first && len > max_handshake_bytes)
    return fmt::format("BASP client_handshake announces {} bytes (at most {})", len,
                       max_handshake_bytes);
  if (!first && len > max_frame_)
    return fmt::format("BASP {} announces {} bytes, more than cluster.max_frame_bytes = {}",
                       basp_operation(op), len, max_frame_);
  return {};
}

std::string basp_frame_check::feed(const uint8_t* data, size_t n) {
  while (n > 0) {
    if (payload_left_ > 0) {
      auto k = static_cast<size_t>(std::min<uint64_t>(n, payload_left_));
      payload_left_ -= k;
      bytes_ += k;
      data += k;
      n -= k;
      continue;
    }
    auto k = std::min(n, basp_header_bytes - header_have_);
    std::memcpy(header_.data() + header_have_, data, k);
    header_have_ += k;
    bytes_ += k;
    data += k;
    n -= k;
    // The first byte already tells a stranger apart: say so before 32 bytes arrive.
    if (auto why = check_header(); !why.empty())
      return why;
    if (header_have_ == basp_header_bytes) {
      payload_left_ = (uint32_t{header_[4]} << 24) | (uint32_t{header_[5]} << 16)
                      | (uint32_t{header_[6]} << 8) | uint32_t{header_[7]};
      header_have_ = 0;
      peer_ = peer_ || header_[0] > client_handshake;
      ++frames_;
    }
  }
  return {};
}

// --- the guarded ports and their connections ----------------------------------------------

using steady = std::chrono::steady_clock;

struct guarded_port {
  explicit guarded_port(port_guard_settings s) : settings(std::move(s)) {}
  port_guard_settings settings;
  bool active = true;  ///< under the state's report_mtx
  // Rate limit, touched by the guard's thread only.
  steady::time_point window;
  int in_window = 0;
  uint64_t suppressed = 0;
};

namespace {

/// Descriptors the guard can follow (a flag each; higher ones are never tracked).
constexpr size_t max_tracked_fd = 65536;

struct connection {
  std::shared_ptr<guarded_port> port;
  std::string address;
  steady::time_point accepted;
  basp_frame_check frames;
  bool reported = false;  ///< closed or being closed by the guard, or already reported
};

struct report {
  std::shared_ptr<guarded_port> port;
  std::string address;
  std::string reason;
};

/// The process-wide guard. Never destroyed: close() runs until the process exits.
class guard_state {
public:
  static guard_state& get() {
    static auto* state = new guard_state;
    return *state;
  }

  bool tracked(int fd) const {
    return active_ports_.load(std::memory_order_relaxed) > 0 && fd >= 0
           && static_cast<size_t>(fd) < max_tracked_fd
           && tracked_[fd].load(std::memory_order_acquire);
  }

  void add(const std::shared_ptr<guarded_port>& p) {
    std::lock_guard lk{mtx_};
    ports_.push_back(p);
    active_ports_.fetch_add(1);
    if (!janitor_.joinable()) {
      stop_ = false;
      janitor_ = std::thread{[this] { run(); }};
    }
  }

  void remove(const std::shared_ptr<guarded_port>& p) {
    std::thread done;
    {
      std::lock_guard lk{mtx_};
      std::erase(ports_, p);
      active_ports_.fetch_sub(1);
      for (auto i = conns_.begin(); i != conns_.end();) {
        if (i->second.port == p) {
          tracked_[i->first].store(false, std::memory_order_release);
          i = conns_.erase(i);
        } else {
          ++i;
        }
      }
      if (ports_.empty()) {
        stop_ = true;
        done = std::move(janitor_);
      }
    }
    cv_.notify_all();
    if (done.joinable())
      done.join();
    std::lock_guard rl{report_mtx_};  // waits for a report in flight
    p->active = false;
  }

  void accepted(int listener, int fd) {
    if (active_ports_.load(std::memory_order_relaxed) == 0 || fd < 0
        || static_cast<size_t>(fd) >= max_tracked_fd)
      return;
    sockaddr_storage local{};
    socklen_t len = sizeof(local);
    if (::getsockname(listener, reinterpret_cast<sockaddr*>(&local), &len) != 0)
      return;
    auto port = port_of(local);
    std::lock_guard lk{mtx_};
    auto i = std::find_if(ports_.begin(), ports_.end(),
                          [&](auto& p) { return p->settings.port == port; });
    if (i == ports_.end())
      return;
    conns_.insert_or_assign(
      fd, connection{*i, remote_address(fd), steady::now(),
                     basp_frame_check{(*i)->settings.max_frame_bytes}, false});
    tracked_[fd].store(true, std::memory_order_release);
  }

  /// `n` bytes arrived on `fd` (or end of stream at 0); returns n or -1 (close it).
  ssize_t received(int fd, const void* data, ssize_t n, bool tls) {
    std::lock_guard lk{mtx_};
    auto i = conns_.find(fd);
    if (i == conns_.end() || i->second.port->settings.tls != tls)
      return n;
    auto& c = i->second;
    if (n == 0 && !c.frames.peer() && !c.reported)
      reject(c, fd, fmt::format("closed by the remote before the handshake ({} bytes received)",
                                c.frames.bytes()), false);
    if (n <= 0 || c.reported)
      return n;
    auto why = c.frames.feed(static_cast<const uint8_t*>(data), static_cast<size_t>(n));
    if (why.empty())
      return n;
    reject(c, fd, why, true);
    return -1;
  }

  void tls_failed(int fd, const std::string& why) {
    std::lock_guard lk{mtx_};
    if (auto i = conns_.find(fd); i != conns_.end() && !i->second.reported)
      reject(i->second, fd, "TLS handshake failed: " + why, false);
  }

  void closing(int fd) {
    std::lock_guard lk{mtx_};
    auto i = conns_.find(fd);
    if (i == conns_.end())
      return;
    auto& c = i->second;
    if (!c.frames.peer() && !c.reported)
      reject(c, fd,
             c.frames.handshake_received()
               ? fmt::format("closed by this node after the BASP handshake ({} bytes received): "
                             "CAF refused it, or the node was already connected (both "
                             "dialed at once)",
                             c.frames.bytes())
               : fmt::format("closed by this node before the handshake completed ({} bytes "
                             "received; not a valid BASP handshake)",
                             c.frames.bytes()),
             false);
    tracked_[fd].store(false, std::memory_order_release);
    conns_.erase(i);
  }

private:
  guard_state() = default;

  static uint16_t port_of(const sockaddr_storage& a) {
    if (a.ss_family == AF_INET)
      return ntohs(reinterpret_cast<const sockaddr_in&>(a).sin_port);
    if (a.ss_family == AF_INET6)
      return ntohs(reinterpret_cast<const sockaddr_in6&>(a).sin6_port);
    return 0;
  }

  static std::string remote_address(int fd) {
    sockaddr_storage a{};
    socklen_t len = sizeof(a);
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      return "?";
    char host[INET6_ADDRSTRLEN] = "?";
    if (a.ss_family == AF_INET)
      ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in&>(a).sin_addr, host, sizeof(host));
    else if (a.ss_family == AF_INET6)
      ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6&>(a).sin6_addr, host, sizeof(host));
    return fmt::format("{}:{}", host, port_of(a));
  }

  /// Queues the report (under mtx_); `shut` also shuts the socket down, so CAF closes it.
  void reject(connection& c, int fd, std::string why, bool shut) {
    c.reported = true;
    if (shut)
      ::shutdown(fd, SHUT_RDWR);
    reports_.push_back({c.port, c.address, std::move(why)});
    cv_.notify_all();
  }

  void run() {
    std::unique_lock lk{mtx_};
    while (!stop_) {
      cv_.wait_for(lk, std::chrono::milliseconds{100});
      auto now = steady::now();
      for (auto& [fd, c] : conns_)
        if (!c.reported && !c.frames.peer()
            && now - c.accepted >= c.port->settings.handshake_deadline)
          reject(c, fd,
                 fmt::format("no handshake within {} ms ({} bytes received)",
                             c.port->settings.handshake_deadline.count(), c.frames.bytes()),
                 true);
      if (reports_.empty())
        continue;
      auto batch = std::move(reports_);
      reports_.clear();
      lk.unlock();  // a report may close a socket: never hold mtx_ while reporting
      {
        std::lock_guard rl{report_mtx_};
        for (auto& r : batch)
          deliver(r, now);
      }
      lk.lock();
    }
  }

  static void deliver(report& r, steady::time_point now) {
    auto& p = *r.port;
    if (!p.active || !p.settings.report)
      return;
    if (now - p.window >= std::chrono::seconds{1}) {
      p.window = now;
      p.in_window = 0;
    }
    if (++p.in_window > reports_per_second) {
      ++p.suppressed;
      return;
    }
    if (p.suppressed > 0) {
      r.reason += fmt::format(" ({} more rejected connections not reported)", p.suppressed);
      p.suppressed = 0;
    }
    p.settings.report(r.address, r.reason);
  }

  std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<guarded_port>> ports_;
  std::atomic<int> active_ports_{0};
  std::unordered_map<int, connection> conns_;
  std::array<std::atomic<bool>, max_tracked_fd> tracked_{};
  std::vector<report> reports_;
  std::thread janitor_;
  bool stop_ = false;
  std::mutex report_mtx_;  ///< held while reports are delivered
};

/// The C library function the wrapper below stands for.
template <class F>
F libc_symbol(const char* name) {
  auto* f = ::dlsym(RTLD_NEXT, name);
  if (f == nullptr) {
    std::fprintf(stderr, "warden: port guard: no %s after the program: %s\n", name,
                 ::dlerror());
    std::abort();
  }
  return reinterpret_cast<F>(f);
}

} // namespace

port_guard::port_guard(port_guard_settings settings)
  : port_(std::make_shared<guarded_port>(std::move(settings))) {
  guard_state::get().add(port_);
}

port_guard::~port_guard() {
  guard_state::get().remove(port_);
}

bool port_guard_linked() {
  return reinterpret_cast<void*>(::dlsym(RTLD_DEFAULT, "recv"))
           != libc_symbol<void*>("recv")
         && reinterpret_cast<void*>(::dlsym(RTLD_DEFAULT, "accept"))
              != libc_symbol<void*>("accept");
}

int port_guard_check_tls_read(int fd, const void* data, int n) {
  auto& g = guard_state::get();
  if (n <= 0 || !g.tracked(fd))
    return n;
  return static_cast<int>(g.received(fd, data, n, true));
}

void port_guard_tls_failed(int fd, const std::string& why) {
  auto& g = guard_state::get();
  if (g.tracked(fd))
    g.tls_failed(fd, why);
}

} // namespace warden::internal

// The wrappers: the program's symbols come before libc's for libcaf_io.
extern "C" {

int accept(int fd, sockaddr* addr, socklen_t* len) {
  static auto next = warden::internal::libc_symbol<int (*)(int, sockaddr*, socklen_t*)>("accept");
  auto result = next(fd, addr, len);
  if (result >= 0) {
    auto saved = errno;
    warden::internal::guard_state::get().accepted(fd, result);
    errno = saved;
  }
  return result;
}

ssize_t recv(int fd, void* buf, size_t n, int flags) {
  static auto next = warden::internal::libc_symbol<ssize_t (*)(int, void*, size_t, int)>("recv");
  auto result = next(fd, buf, n, flags);
  auto& g = warden::internal::guard_state::get();
  if (!g.tracked(fd) || (flags & MSG_PEEK) != 0)
    return result;
  auto saved = errno;
  auto checked = g.received(fd, buf, result, false);
  errno = checked < 0 && result >= 0 ? ECONNRESET : saved;
  return checked;
}

int close(int fd) {
  static auto next = warden::internal::libc_symbol<int (*)(int)>("close");
  auto& g = warden::internal::guard_state::get();
  if (g.tracked(fd))
    g.closing(fd);
  return next(fd);
}

} // extern "C"
