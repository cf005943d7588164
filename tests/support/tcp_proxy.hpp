/// @file
/// Test support: an in-process TCP proxy for fault injection on links between processes,
/// since this kernel has no `tc netem`. It listens on 127.0.0.1, forwards each accepted
/// connection to one target host:port in both directions (half-closes included) on its own
/// thread, and injects faults on command: `cut()` (reset everything, refuse new
/// connections), `blackhole()` (connections stay open but no byte gets through: a hang, not
/// a close), `set_delay()` (latency per chunk), `restore()` (all faults off).
///
/// Every control is thread-safe and synchronous: when it returns, the proxy thread has
/// applied it (a cut connection is already reset), so a test needs no sleep after it.
///
/// ```cpp
/// warden::test::tcp_proxy proxy{"127.0.0.1", node_port};   // listens on a free port
/// connect_to(proxy.port());                                  // traffic goes through it
/// proxy.cut();                                               // peers see a RST now
/// proxy.restore();                                           // new connections flow again
/// proxy.set_delay(50ms);                                     // +50 ms per chunk, both ways
/// EXPECT_EQ(proxy.stats().open, 1u);
/// ```
///
/// Also here, for tests of a server's port: `send_garbage()` (write bytes, see whether and
/// when the peer closes) and `half_open_connection` (connect and stay silent).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

namespace warden::test {

using namespace std::chrono_literals;

/// What the proxy does with connections.
enum class proxy_mode {
  forward,    ///< normal forwarding (with the configured delays)
  cut,        ///< no connection lives: new ones are accepted and reset at once
  blackhole,  ///< connections are kept (new ones too) but every byte is dropped
};

/// "forward", "cut" or "blackhole".
std::string_view to_string(proxy_mode m);

/// One direction of a proxied connection, named by where the bytes go.
enum class proxy_direction {
  to_target,  ///< from the connecting client to the target
  to_client,  ///< from the target back to the client
  both,
};

/// A snapshot of the proxy's counters (since construction).
struct proxy_stats {
  uint64_t accepted = 0;         ///< connections accepted and forwarded or blackholed
  uint64_t refused = 0;          ///< connections accepted and reset at once while cut
  uint64_t bytes_to_target = 0;  ///< bytes written to the target
  uint64_t bytes_to_client = 0;  ///< bytes written to clients
  uint64_t bytes_dropped = 0;    ///< bytes read and discarded (blackhole, or queued at a cut)
  uint64_t open = 0;             ///< proxied connections open now
  uint64_t queued = 0;           ///< bytes read and not yet written (e.g. held by a delay)
};

/// A TCP proxy from 127.0.0.1:`port()` to a target, with fault injection.
class tcp_proxy {
public:
  /// Bytes queued per direction and connection before the proxy stops reading the sender
  /// (back pressure, as a real link's window would).
  static constexpr std::size_t max_queued_bytes = 1 << 20;

  /// Listens on 127.0.0.1:`listen_port` (0: any free port) and forwards to
  /// `target_host`:`target_port` (resolved once, here). Throws std::system_error when the
  /// port cannot be bound or the host does not resolve.
  tcp_proxy(const std::string& target_host, uint16_t target_port, uint16_t listen_port = 0);

  /// Stops the thread and resets every connection.
  ~tcp_proxy();

  tcp_proxy(const tcp_proxy&) = delete;
  tcp_proxy& operator=(const tcp_proxy&) = delete;

  /// The port this proxy listens on.
  uint16_t port() const { return port_; }

  /// Resets every proxied connection on both sides (SO_LINGER 0: the peers get a RST, not
  /// a FIN) and, until `restore()`, resets every new connection right after accepting it.
  void cut();

  /// Keeps connections open but drops every byte in both directions, with no FIN or RST:
  /// a partition that looks like a hang. New connections are accepted (the target never
  /// sees them) and blackholed too. Bytes still queued are dropped.
  void blackhole();

  /// Delays every chunk read from now on by `delay` before it is forwarded, in one
  /// direction or both (0 = off). Order within a direction is kept.
  void set_delay(std::chrono::milliseconds delay,
                 proxy_direction dir = proxy_direction::both);

  /// Back to plain forwarding: ends a cut or a blackhole and sets both delays to 0.
  /// Connections blackholed before are reset on both sides (their streams lost bytes);
  /// connections opened after forward normally.
  void restore();

  /// The current mode.
  proxy_mode mode() const;

  /// The counters now.
  proxy_stats stats() const;

private:
  struct loop;

  // Sets the wanted state and waits until the proxy thread applied it.
  template <class F>
  void command(F&& change);

  void run();

  uint16_t port_ = 0;
  std::unique_ptr<loop> loop_;  // sockets and connections, owned by the proxy thread

  // Wanted state, guarded by mtx_; the thread copies it when woken.
  mutable std::mutex mtx_;
  std::condition_variable applied_cv_;
  proxy_mode mode_ = proxy_mode::forward;
  std::chrono::milliseconds delay_to_target_{0};
  std::chrono::milliseconds delay_to_client_{0};
  uint64_t requested_ = 0;  // commands issued
  uint64_t applied_ = 0;    // commands the thread has applied
  bool stop_ = false;

  std::thread thread_;
};

// --- helpers for tests of a server's port ------------------------------------------------

/// What `send_garbage` saw.
struct garbage_result {
  bool connected = false;      ///< the connect succeeded
  std::size_t written = 0;     ///< bytes the peer took before closing (or all of them)
  bool closed = false;         ///< the peer closed (FIN or RST) within the timeout
  bool reset = false;          ///< ... and it was a RST
  std::chrono::milliseconds after{0};  ///< connect to close (or to the timeout)
  std::string local;           ///< our end, "127.0.0.1:54321" (as the server logs it)
};

/// Connects to `host`:`port`, writes `bytes` and reads (discarding) until the peer closes
/// or `timeout` passes since the connect. A server that resets the connection right at
/// accept counts as connected and closed (reset, after 0).
garbage_result send_garbage(uint16_t port, std::string_view bytes,
                            std::chrono::milliseconds timeout = 2s,
                            const std::string& host = "127.0.0.1");

/// `n` pseudo-random bytes, the same for the same seed.
std::string random_bytes(std::size_t n, uint64_t seed = 42);

/// A connection that says nothing: connects in the constructor, closes in the destructor.
class half_open_connection {
public:
  /// Connects to `host`:`port` within `timeout`; `connected()` tells whether it did.
  explicit half_open_connection(uint16_t port, std::chrono::milliseconds timeout = 2s,
                                const std::string& host = "127.0.0.1");
  ~half_open_connection();

  half_open_connection(half_open_connection&& other) noexcept;
  half_open_connection& operator=(half_open_connection&& other) noexcept;

  bool connected() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  /// Our end, "127.0.0.1:54321" (as the server logs it).
  std::string local() const;

  /// Waits up to `timeout` for the peer to close the connection (bytes it sends are
  /// discarded); the time from connect to close, or nullopt if it stayed open.
  std::optional<std::chrono::milliseconds> wait_closed(std::chrono::milliseconds timeout);

private:
  int fd_ = -1;
  std::chrono::steady_clock::time_point connected_at_{};
};

} // namespace warden::test
