// The node port guard: watches the connections accepted on a node's port until they become
// peers, because CAF 0.17.6 does not. See docs/cluster.md ("The node port").
//
// CAF closes a connection that sends garbage without a log line (its logging is compiled
// out in Debian's build), keeps a connection that never sends anything open forever (one
// descriptor each, until the process runs out), and resizes its read buffer to whatever
// payload length a BASP header announces before any handshake (a 32-byte header can make
// the node zero-fill 4 GiB on its only I/O thread). The guard wraps the C library's
// accept, recv and close for the program (like the OpenSSL guard in tls.hpp) and, for the
// connections accepted on a guarded port only:
// - follows the BASP frames: the first must be a client_handshake of at most
//   `max_handshake_bytes`, every later one an operation CAF knows of at most
//   `max_frame_bytes`; a violation makes recv fail (ECONNRESET), so CAF closes the socket
//   before it reads the rest;
// - closes a connection that has not completed its handshake within the deadline;
// - reports every connection closed before it became a peer (remote address and why),
//   on its own thread, at most `reports_per_second` per port (the rest are counted).
//
//   internal::port_guard guard{{.port = 7101, .report = [](auto& addr, auto& why) { ... }}};
#pragma once

#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace warden::internal {

/// Bytes of a BASP header in CAF 0.17.6 (caf/io/basp/header.hpp).
inline constexpr size_t basp_header_bytes = 32;
/// Largest client_handshake payload accepted (a real one is under 1 KiB).
inline constexpr uint32_t max_handshake_bytes = 64 * 1024;
/// Rejection reports per second and port; the rest are counted in the next report.
inline constexpr int reports_per_second = 20;

/// Follows the BASP frames arriving on one accepted connection (no I/O; unit-tested).
class basp_frame_check {
public:
  explicit basp_frame_check(uint32_t max_frame_bytes) : max_frame_(max_frame_bytes) {}

  /// Checks `n` more bytes; returns why the connection must close, or "" when they fit.
  std::string feed(const uint8_t* data, size_t n);

  /// The client_handshake and the header of a frame beyond the handshakes arrived (for a
  /// Warden node, its hello): the connection is a peer, no longer held to a deadline.
  bool peer() const { return peer_; }

  uint64_t bytes() const { return bytes_; }

  /// The whole client_handshake (header and payload) arrived.
  bool handshake_received() const { return frames_ > 1 || (frames_ == 1 && payload_left_ == 0); }

private:
  std::string check_header() const;

  uint32_t max_frame_;
  std::array<uint8_t, basp_header_bytes> header_{};
  size_t header_have_ = 0;
  uint64_t payload_left_ = 0;
  uint64_t frames_ = 0;
  uint64_t bytes_ = 0;
  bool peer_ = false;
};

/// What the guard checks on one port.
struct port_guard_settings {
  uint16_t port = 0;
  /// The port speaks TLS: frames are checked on what SSL_read returns, not on recv.
  bool tls = false;
  /// A connection that is not a peer after this long is closed.
  std::chrono::milliseconds handshake_deadline{2000};
  /// Largest BASP frame payload after the handshake.
  uint32_t max_frame_bytes = 64 * 1024 * 1024;
  /// Called on the guard's thread for every connection closed before it became a peer:
  /// remote "ip:port" and why.
  std::function<void(const std::string& address, const std::string& reason)> report;
};

struct guarded_port;

/// Guards the connections accepted on `settings.port` from now until destroyed. After the
/// destructor returns, `report` is not called any more.
class port_guard {
public:
  explicit port_guard(port_guard_settings settings);
  ~port_guard();
  port_guard(const port_guard&) = delete;
  port_guard& operator=(const port_guard&) = delete;

private:
  std::shared_ptr<guarded_port> port_;
};

/// True when the program's accept, recv and close are the guard's wrappers (the dynamic
/// linker bound them); the node logs it at start.
bool port_guard_linked();

/// For the OpenSSL wrappers (tls.cpp): `n` decrypted bytes read from `fd`. Returns `n`, or
/// -1 when the connection must close.
int port_guard_check_tls_read(int fd, const void* data, int n);

/// For the OpenSSL wrappers: the TLS handshake on `fd` failed.
void port_guard_tls_failed(int fd, const std::string& why);

} // namespace warden::internal
