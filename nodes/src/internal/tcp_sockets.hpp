// Small POSIX TCP helpers shared by the link proxy (nodes/src/link_proxy.cpp) and the test
// support around it (tests/support/tcp_proxy.cpp). Not part of the API.
#pragma once

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <system_error>

namespace warden::internal {

inline void close_fd(int& fd) {
  if (fd >= 0)
    ::close(fd);
  fd = -1;
}

/// A resolved TCP address.
struct resolved {
  sockaddr_storage addr{};
  socklen_t len = 0;
  int family = AF_INET;
};

/// Resolves `host`:`port`; throws std::system_error "cannot resolve HOST: why".
inline resolved resolve(const std::string& host, uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  auto service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &res); rc != 0 || !res)
    throw std::system_error(std::make_error_code(std::errc::host_unreachable),
                            "cannot resolve " + host + ": " + ::gai_strerror(rc));
  resolved r;
  std::memcpy(&r.addr, res->ai_addr, res->ai_addrlen);
  r.len = res->ai_addrlen;
  r.family = res->ai_family;
  ::freeaddrinfo(res);
  return r;
}

/// A non-blocking connect (TCP_NODELAY); 0 when done or in progress (EINPROGRESS), else
/// the errno (and `fd` closed).
inline int start_connect(const resolved& to, int& fd) {
  fd = ::socket(to.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return errno;
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&to.addr), to.len) == 0
      || errno == EINPROGRESS)
    return 0;
  int err = errno;
  close_fd(fd);
  return err;
}

/// The pending error of a socket (SO_ERROR), 0 for none.
inline int socket_error(int fd) {
  int err = 0;
  socklen_t len = sizeof(err);
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
    return errno;
  return err;
}

} // namespace warden::internal
