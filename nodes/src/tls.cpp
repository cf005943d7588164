// TLS support for nodes: the start-time check of the TLS files and the OpenSSL I/O guard.
// See internal/tls.hpp for why each exists.
#include "internal/tls.hpp"

#include "internal/port_guard.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include <caf/config.hpp>
#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "warden/errors.hpp"

namespace warden::internal {

namespace {

/// The reasons on this thread's OpenSSL error queue, oldest first, each once (clears it).
std::string ssl_errors() {
  std::string text;
  while (auto code = ERR_get_error()) {
    auto* reason = ERR_reason_error_string(code);
    std::string r = reason != nullptr ? reason : fmt::format("error {:#x}", code);
    if (text.find(r) == std::string::npos)
      text += text.empty() ? r : "; " + r;
  }
  return text.empty() ? "unknown OpenSSL error" : text;
}

/// Gives OpenSSL the passphrase; without a callback it would prompt on the terminal.
int passphrase_cb(char* buf, int size, int, void* user) {
  auto& pass = *static_cast<const std::string*>(user);
  if (size <= 0 || pass.size() >= static_cast<size_t>(size))
    return 0;
  std::memcpy(buf, pass.data(), pass.size());
  return static_cast<int>(pass.size());
}

} // namespace

caf::error check_tls_files(const tls_settings& s) {
  auto fail = [](const std::string& what) { return make_error(errc::invalid_config, what); };
  ERR_clear_error();
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx{SSL_CTX_new(TLS_method()),
                                                         SSL_CTX_free};
  if (!ctx)
    return fail("tls: cannot create an OpenSSL context: " + ssl_errors());
  SSL_CTX_set_default_passwd_cb(ctx.get(), passphrase_cb);
  SSL_CTX_set_default_passwd_cb_userdata(ctx.get(), const_cast<std::string*>(&s.passphrase));
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), s.certificate.c_str()) != 1)
    return fail(fmt::format("tls.certificate {}: {}", s.certificate, ssl_errors()));
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), s.key.c_str(), SSL_FILETYPE_PEM) != 1)
    return fail(fmt::format("tls.key {}: {} (wrong tls.passphrase, or not the key of "
                            "tls.certificate?)",
                            s.key, ssl_errors()));
  if (SSL_CTX_check_private_key(ctx.get()) != 1)
    return fail(fmt::format("tls.key {} does not belong to tls.certificate {}: {}", s.key,
                            s.certificate, ssl_errors()));
  auto* cert = SSL_CTX_get0_certificate(ctx.get());
  if (X509_cmp_current_time(X509_get0_notBefore(cert)) >= 0)
    return fail(fmt::format("tls.certificate {}: not valid yet", s.certificate));
  if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0)
    return fail(fmt::format("tls.certificate {}: expired", s.certificate));
  auto* cafile = s.cafile.empty() ? nullptr : s.cafile.c_str();
  auto* capath = s.capath.empty() ? nullptr : s.capath.c_str();
  if ((cafile || capath) && SSL_CTX_load_verify_locations(ctx.get(), cafile, capath) != 1)
    return fail(fmt::format("tls.cafile {} / tls.capath {}: {}", s.cafile, s.capath,
                            ssl_errors()));
  return caf::none;
}

namespace {

/// The libssl function the wrapper below stands for.
template <class F>
F next_symbol(const char* name) {
  auto* f = ::dlsym(RTLD_NEXT, name);
  if (f == nullptr) {
    std::fprintf(stderr, "warden: OpenSSL I/O guard: no %s after the program: %s\n", name,
                 ::dlerror());
    std::abort();
  }
  return reinterpret_cast<F>(f);
}

/// A handshake that failed on its first step: CAF 0.17.6 then drops the socket unclosed.
void close_if_first_step_failed([[maybe_unused]] SSL* ssl, [[maybe_unused]] bool first,
                                [[maybe_unused]] int ret) {
#if CAF_VERSION < 1707
  if (!first || ret > 0)
    return;
  auto err = SSL_get_error(ssl, ret);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
    return;
  if (auto fd = SSL_get_fd(ssl); fd >= 0)
    ::close(fd);
#endif
}

/// Tells the port guard why an accepted TLS connection failed its handshake.
void report_if_failed(SSL* ssl, int ret) {
  if (ret > 0)
    return;
  auto err = SSL_get_error(ssl, ret);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
    return;
  auto* reason = ERR_reason_error_string(ERR_peek_error());
  port_guard_tls_failed(SSL_get_fd(ssl), reason != nullptr ? reason : "connection closed");
}

} // namespace

bool require_openssl_io_guard() {
  // SSL_read as the program sees it is the wrapper below when the guard is in place.
  return reinterpret_cast<void*>(::dlsym(RTLD_DEFAULT, "SSL_read"))
         != next_symbol<void*>("SSL_read");
}

} // namespace warden::internal

// The wrappers: found before libssl's by libcaf_openssl (the program's symbols come first).
extern "C" {

int SSL_read(SSL* ssl, void* buf, int num) {
  static auto next = warden::internal::next_symbol<int (*)(SSL*, void*, int)>("SSL_read");
  ERR_clear_error();
  return warden::internal::port_guard_check_tls_read(SSL_get_fd(ssl), buf, next(ssl, buf, num));
}

int SSL_write(SSL* ssl, const void* buf, int num) {
  static auto next =
    warden::internal::next_symbol<int (*)(SSL*, const void*, int)>("SSL_write");
  ERR_clear_error();
  return next(ssl, buf, num);
}

int SSL_connect(SSL* ssl) {
  static auto next = warden::internal::next_symbol<int (*)(SSL*)>("SSL_connect");
  bool first = SSL_in_before(ssl);
  ERR_clear_error();
  auto ret = next(ssl);
  warden::internal::close_if_first_step_failed(ssl, first, ret);
  return ret;
}

int SSL_accept(SSL* ssl) {
  static auto next = warden::internal::next_symbol<int (*)(SSL*)>("SSL_accept");
  bool first = SSL_in_before(ssl);
  ERR_clear_error();
  auto ret = next(ssl);
  warden::internal::report_if_failed(ssl, ret);
  warden::internal::close_if_first_step_failed(ssl, first, ret);
  return ret;
}

} // extern "C"
