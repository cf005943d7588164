// The raw TCP probe of a node port (internal/process_probe.hpp).
#include "internal/process_probe.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

namespace warden {

const char* to_string(probe_result x) {
  switch (x) {
    case probe_result::refused: return "refused";
    case probe_result::accepted: return "accepted";
    case probe_result::no_answer: return "no_answer";
  }
  return "no_answer";
}

} // namespace warden

namespace warden::internal {

probe_result probe_tcp(const std::string& host, uint16_t port,
                       std::chrono::milliseconds timeout) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0)
    return probe_result::no_answer;
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> list{found, ::freeaddrinfo};
  int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return probe_result::no_answer;
  auto result = probe_result::no_answer;
  if (::connect(fd, found->ai_addr, found->ai_addrlen) == 0) {
    result = probe_result::accepted;
  } else if (errno == ECONNREFUSED) {
    result = probe_result::refused;
  } else if (errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) == 1) {
      int err = 0;
      socklen_t len = sizeof(err);
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      result = err == 0              ? probe_result::accepted
               : err == ECONNREFUSED ? probe_result::refused
                                     : probe_result::no_answer;
    }
  }
  ::close(fd);
  return result;
}

} // namespace warden::internal
