// TLS for node links, on CAF's openssl module (0.17.6): a start-time check of the
// certificate files, and a guard around libcaf_openssl's OpenSSL I/O. See docs/tls.md.
#pragma once

#include <caf/error.hpp>

#include "warden/node_config.hpp"

namespace warden::internal {

/// Loads `s.certificate` (a PEM chain), `s.key` (with `s.passphrase`) and `s.cafile` /
/// `s.capath` as CAF will, and checks that the key belongs to the certificate and that the
/// certificate is valid now. CAF reads these files only when a connection opens and aborts
/// the process when one fails to load, so a node checks them before it starts.
/// Errors: `invalid_config` ("tls.key /path: why").
caf::error check_tls_files(const tls_settings& s);

/// Links the OpenSSL I/O guard (tls.cpp) into the program; call before a TLS node starts.
/// The guard wraps SSL_read, SSL_write, SSL_connect and SSL_accept for libcaf_openssl:
/// - it clears the thread's OpenSSL error queue first, as SSL_get_error needs: CAF 0.17.6
///   does not, so one failed handshake (a plain node, a foreign certificate, a port scan)
///   left an error that made CAF close every healthy TLS link on the next read;
/// - when the first SSL_connect / SSL_accept of a socket fails, it closes the socket, which
///   CAF 0.17.6 drops without closing (one leaked descriptor per failed dial; fixed in
///   CAF after 0.17.6, so this part is compiled for CAF < 0.17.7 only).
/// Returns true when the wrappers are the ones the dynamic linker bound.
bool require_openssl_io_guard();

} // namespace warden::internal
