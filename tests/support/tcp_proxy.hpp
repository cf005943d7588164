/// @file
/// Test support: the link proxy under its test name, and helpers for tests of a server's
/// port. The proxy itself is the product's `warden::link_proxy` (warden/link_proxy.hpp:
/// cut, blackhole, delay, jitter, loss, reset, restore); `tcp_proxy` and its enums are
/// aliases so tests keep their names.
///
/// ```cpp
/// warden::test::tcp_proxy proxy{"127.0.0.1", node_port};   // listens on a free port
/// connect_to(proxy.port());                                  // traffic goes through it
/// proxy.cut();                                               // peers see a RST now
/// auto r = warden::test::send_garbage(node_port, warden::test::random_bytes(64));
/// EXPECT_TRUE(r.closed);                                     // the server hung up
/// ```
///
/// Helpers: `send_garbage()` (write bytes, see whether and when the peer closes),
/// `random_bytes()` and `half_open_connection` (connect and stay silent).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "warden/link_proxy.hpp"

namespace warden::test {

using namespace std::chrono_literals;

using tcp_proxy = warden::link_proxy;
using proxy_mode = warden::proxy_mode;
using proxy_direction = warden::proxy_direction;
using proxy_stats = warden::proxy_stats;
using warden::to_string;

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
