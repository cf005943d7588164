/// @file
/// The link proxy: an in-process TCP proxy that `warden chaos` puts on every directed link
/// between nodes to inject link faults, since this kernel has no `tc netem` (docs/chaos.md
/// "Link faults"). It listens on 127.0.0.1, forwards each accepted connection to one target
/// host:port in both directions (half-closes included) on its own thread, and injects
/// faults on command:
///
/// - `cut()`: reset every connection, then reset every new one at accept (until `restore()`).
/// - `blackhole()`: connections stay open but no byte gets through: a hang, not a close.
/// - `set_delay(d)`: every chunk read is held `d` before it is forwarded (latency).
/// - `set_jitter(max)`: every chunk read is held an extra random [0, max] (order kept).
/// - `set_loss(p)`: with probability `p` a chunk is held an extra `retransmit_delay` (200 ms):
///   a lost segment as the application sees it (see `set_loss`).
/// - `reset_connections()`: reset every connection open now, once; new ones flow.
/// - `restore()`: all faults off.
///
/// Delay, jitter and loss are per direction (`proxy_direction`, default both) and add up;
/// a chunk is never forwarded before the chunk read before it in the same direction, as
/// TCP delivers a stream in order. A chunk is what one read from the socket returned (up to
/// 64 KiB). Every control is thread-safe and synchronous: when it returns, the proxy thread
/// has applied it (a reset connection is already reset), so a caller needs no sleep after
/// it. Random draws (jitter, loss) come from std::mt19937_64 seeded by the constructor's
/// `seed` and mapped to ranges by `warden::chaos::portable_rng`, the same on every
/// standard library (the timing of a run still varies, so outcomes are not replayable).
///
/// ```cpp
/// warden::link_proxy proxy{"127.0.0.1", node_port, 0, seed};  // listens on a free port
/// connect_to(proxy.port());                                  // traffic goes through it
/// proxy.set_delay(50ms);                                     // +50 ms per chunk, both ways
/// proxy.set_jitter(20ms, warden::proxy_direction::to_target); // +[0, 20] ms one way
/// proxy.set_loss(0.1);                                       // 10% of chunks +200 ms
/// proxy.reset_connections();                                 // peers see a RST now
/// proxy.cut();                                               // ... and on every new one
/// proxy.restore();                                           // all faults off
/// EXPECT_EQ(proxy.stats().open, 1u);
/// ```
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace warden {

/// What the proxy does with connections.
enum class proxy_mode {
  forward,    ///< normal forwarding (with the configured delay, jitter and loss)
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
  uint64_t bytes_dropped = 0;    ///< bytes read and discarded (blackhole, or queued at a reset)
  uint64_t open = 0;             ///< proxied connections open now
  uint64_t queued = 0;           ///< bytes read and not yet written (e.g. held by a delay)
  uint64_t chunks_lost = 0;      ///< chunks held back a `retransmit_delay` by `set_loss`
  /// Open connections reset by a command: `cut()`, `reset_connections()`, or `restore()`
  /// after `blackhole()` (not counting `refused`).
  uint64_t connections_reset = 0;
};

/// A TCP proxy from 127.0.0.1:`port()` to a target, with link fault injection.
class link_proxy {
public:
  /// Bytes queued per direction and connection before the proxy stops reading the sender
  /// (back pressure, as a real link's window would): 1 MiB.
  static constexpr std::size_t max_queued_bytes = 1 << 20;

  /// The extra hold of a chunk that `set_loss` "loses": 200 ms, Linux's minimum
  /// retransmission timeout (TCP_RTO_MIN), the least a real loss costs the stream.
  static constexpr std::chrono::milliseconds retransmit_delay{200};

  /// Listens on 127.0.0.1:`listen_port` (0, the default: any free port) and forwards to
  /// `target_host`:`target_port` (resolved once, here). `seed` (default 0) seeds the
  /// jitter and loss draws. Starts with no fault. Throws std::system_error when the port
  /// cannot be bound or the host does not resolve.
  link_proxy(const std::string& target_host, uint16_t target_port, uint16_t listen_port = 0,
             uint64_t seed = 0);

  /// Stops the thread and resets every connection.
  ~link_proxy();

  link_proxy(const link_proxy&) = delete;
  link_proxy& operator=(const link_proxy&) = delete;

  /// The port this proxy listens on.
  uint16_t port() const { return port_; }

  /// Resets every proxied connection on both sides (SO_LINGER 0: the peers get a RST, not
  /// a FIN) and, until `restore()`, resets every new connection right after accepting it.
  void cut();

  /// Keeps connections open but drops every byte in both directions, with no FIN or RST:
  /// a partition that looks like a hang. New connections are accepted (the target never
  /// sees them) and blackholed too. Bytes still queued are dropped.
  void blackhole();

  /// Holds every chunk read from now on `delay` before it is forwarded, in one direction
  /// or both (0, the initial value, = off). Throws std::invalid_argument if negative.
  void set_delay(std::chrono::milliseconds delay,
                 proxy_direction dir = proxy_direction::both);

  /// Holds every chunk read from now on an extra random time, uniform in [0, `max`]
  /// (microsecond steps), in one direction or both (0, the initial value, = off). Order is
  /// kept: a chunk waits for the one read before it, so a long draw also holds the chunks
  /// behind it (as TCP's in-order delivery does). Throws std::invalid_argument if negative.
  void set_jitter(std::chrono::milliseconds max, proxy_direction dir = proxy_direction::both);

  /// Packet loss as the application sees it. TCP never loses bytes of the stream: a lost
  /// segment is retransmitted, and the stream stalls until the copy arrives. So a "lost"
  /// chunk is not dropped but held an extra `retransmit_delay` (200 ms), order kept (the
  /// chunks behind it wait too: head-of-line blocking). Each chunk read from now on, in
  /// one direction or both, is lost with `probability` (0, the initial value, = off; 1:
  /// every chunk), counted in `stats().chunks_lost`. Throws std::invalid_argument unless
  /// 0 <= `probability` <= 1.
  void set_loss(double probability, proxy_direction dir = proxy_direction::both);

  /// Resets every connection open now on both sides (RST, SO_LINGER 0), once, including
  /// ones the kernel accepted that the proxy had not taken yet; connections opened after
  /// the call forward as before (unlike `cut()`). The mode and the other faults stay.
  void reset_connections();

  /// Back to plain forwarding: ends a cut or a blackhole and sets delay, jitter and loss to
  /// 0 in both directions (chunks already held keep their time). Connections blackholed
  /// before are reset on both sides (their streams lost bytes); connections opened after
  /// forward normally.
  void restore();

  /// The current mode.
  proxy_mode mode() const;

  /// The counters now.
  proxy_stats stats() const;

private:
  struct loop;

  /// The faults on one direction.
  struct direction_faults {
    std::chrono::milliseconds delay{0};
    std::chrono::milliseconds jitter{0};
    double loss = 0;
  };

  // Sets the wanted state and waits until the proxy thread applied it.
  template <class F>
  void command(F&& change);

  // Applies `change` to the faults of the directions `dir` names.
  template <class F>
  void set_faults(proxy_direction dir, F&& change);

  void run();

  uint16_t port_ = 0;
  std::unique_ptr<loop> loop_;  // sockets and connections, owned by the proxy thread

  // Wanted state, guarded by mtx_; the thread copies it when woken.
  mutable std::mutex mtx_;
  std::condition_variable applied_cv_;
  proxy_mode mode_ = proxy_mode::forward;
  direction_faults to_target_;
  direction_faults to_client_;
  uint64_t resets_requested_ = 0;  // reset_connections() calls
  uint64_t requested_ = 0;         // commands issued
  uint64_t applied_ = 0;           // commands the thread has applied
  bool stop_ = false;

  std::thread thread_;
};

} // namespace warden
