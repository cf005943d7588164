// The server child process (fork/exec, readiness line, kill by PID, reap) and socket
// helpers shared by the targets.
#include "cluster_bench.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace warden::bench::cluster {

namespace {

std::runtime_error sys_error(const std::string& what) {
  return std::runtime_error(what + ": " + std::strerror(errno));
}

void close_fd(int& fd) {
  if (fd >= 0)
    ::close(fd);
  fd = -1;
}

} // namespace

server_process::server_process(const std::vector<std::string>& argv,
                               std::chrono::milliseconds ready_within,
                               std::chrono::seconds limit) {
  if (argv.empty())
    throw std::invalid_argument("server_process: empty command line");
  int in_pipe[2];
  int out_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0)
    throw sys_error("pipe2");
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    ::close(in_pipe[0]);
    ::close(in_pipe[1]);
    throw sys_error("pipe2");
  }
  // Everything the child needs is prepared before fork: after it, only async-signal-safe
  // calls (the parent may run threads).
  std::vector<char*> cargv;
  for (auto& a : argv)
    cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  auto parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) {
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1]})
      ::close(fd);
    throw sys_error("fork");
  }
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent)
      ::_exit(127);
    ::dup2(in_pipe[0], STDIN_FILENO);   // dup2 clears O_CLOEXEC on the copy
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  stdin_fd_ = in_pipe[1];
  stdout_fd_ = out_pipe[0];
  // Read "READY <port>\n" within the deadline.
  auto deadline = std::chrono::steady_clock::now() + ready_within;
  std::string line;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      stop();
      throw std::runtime_error("server '" + argv[0] + "' not ready within "
                               + std::to_string(ready_within.count()) + " ms");
    }
    pollfd pfd{stdout_fd_, POLLIN, 0};
    auto rc = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (rc < 0 && errno == EINTR)
      continue;
    if (rc < 0) {
      stop();
      throw sys_error("poll");
    }
    if (rc == 0)
      continue;  // deadline check above
    char c;
    auto n = ::read(stdout_fd_, &c, 1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      stop();
      throw std::runtime_error("server '" + argv[0] + "' exited before READY (got '" + line
                               + "')");
    }
    if (c != '\n') {
      line += c;
      continue;
    }
    if (line.rfind("READY ", 0) == 0) {
      port_ = static_cast<uint16_t>(std::stoul(line.substr(6)));
      break;
    }
    line.clear();  // anything else on stdout is ignored
  }
  watch(limit);
}

void server_process::watch(std::chrono::seconds limit) {
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
  if (pidfd < 0 || ::pipe2(cancel_, O_CLOEXEC) != 0) {
    if (pidfd >= 0)
      ::close(pidfd);
    stop();
    throw sys_error("pidfd_open / pipe2");
  }
  watchdog_ = std::thread{[this, pidfd, limit] {
    pollfd fds[2] = {{cancel_[0], POLLIN, 0}, {pidfd, POLLIN, 0}};
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
      auto rc = ::poll(fds, 2, static_cast<int>(std::max<int64_t>(left.count(), 0)));
      if (rc < 0 && errno == EINTR)
        continue;
      if (rc > 0 && (fds[0].revents & (POLLIN | POLLHUP)) != 0)
        break;  // stop() owns the server from here
      const char* why = rc > 0 ? "the server process died" : "time limit exceeded";
      std::fprintf(stderr, "warden_cluster_bench: %s (pid %d); giving up\n", why,
                   static_cast<int>(pid_));
      ::kill(pid_, SIGKILL);
      int status = 0;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      std::_Exit(3);
    }
    ::close(pidfd);
  }};
}

server_process::~server_process() {
  stop();
}

void server_process::stop() {
  if (watchdog_.joinable()) {
    char c = 1;
    while (::write(cancel_[1], &c, 1) < 0 && errno == EINTR) {
    }
    watchdog_.join();
  }
  close_fd(cancel_[0]);
  close_fd(cancel_[1]);
  close_fd(stdin_fd_);
  close_fd(stdout_fd_);
  if (pid_ <= 0)
    return;
  ::kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{2};
  int status = 0;
  for (;;) {
    auto rc = ::waitpid(pid_, &status, WNOHANG);
    if (rc == pid_ || (rc < 0 && errno != EINTR)) {
      pid_ = -1;
      return;
    }
    if (std::chrono::steady_clock::now() >= deadline)
      break;
    // Polling waitpid is the portable way to wait for a child with a deadline.
    std::this_thread::sleep_for(std::chrono::milliseconds{2});
  }
  ::kill(pid_, SIGKILL);
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

double cpu_us(pid_t pid) {
  std::ifstream in{pid == 0 ? std::string{"/proc/self/stat"}
                            : "/proc/" + std::to_string(pid) + "/stat"};
  std::string line;
  std::getline(in, line);
  // Fields after the command name (which may hold spaces) start after the last ')'.
  auto pos = line.rfind(')');
  if (pos == std::string::npos)
    return 0;
  std::istringstream rest{line.substr(pos + 2)};
  std::string field;
  double utime = 0;
  double stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14)
      utime = std::stod(field);
    else if (i == 15)
      stime = std::stod(field);
  }
  return (utime + stime) * 1e6 / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

void wait_for_stdin_eof() {
  char buf[256];
  for (;;) {
    auto n = ::read(STDIN_FILENO, buf, sizeof(buf));
    if (n == 0 || (n < 0 && errno != EINTR))
      return;
  }
}

void announce_ready(uint16_t port) {
  std::printf("READY %u\n", static_cast<unsigned>(port));
  std::fflush(stdout);
}

nlohmann::json nodelay_of_connections(uint16_t port, bool set) {
  int sockets = 0;
  int before = 0;
  int after = 0;
  std::error_code ec;
  for (auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    int fd = -1;
    try {
      fd = std::stoi(entry.path().filename().string());
    } catch (...) {
      continue;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode))
      continue;
    int type = 0;
    socklen_t len = sizeof(type);
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM)
      continue;
    sockaddr_in local{};
    sockaddr_in peer{};
    socklen_t llen = sizeof(local);
    socklen_t plen = sizeof(peer);
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen) != 0
        || local.sin_family != AF_INET)
      continue;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &plen) != 0)
      continue;  // a listener
    if (ntohs(local.sin_port) != port && ntohs(peer.sin_port) != port)
      continue;
    ++sockets;
    int on = 0;
    len = sizeof(on);
    ::getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len);
    before += on != 0 ? 1 : 0;
    if (set) {
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    on = 0;
    len = sizeof(on);
    ::getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len);
    after += on != 0 ? 1 : 0;
  }
  return {{"sockets", sockets}, {"nodelay_before", before}, {"nodelay_after", after}};
}

} // namespace warden::bench::cluster
