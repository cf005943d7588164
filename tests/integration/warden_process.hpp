// Integration test support: run the real `warden` binary as a child process, feed it
// files in a temporary directory, and read its JSON event log.
//
// Every process is tracked by PID and always killed and reaped (the destructor of
// `warden_process` does it), so a failing assertion never leaves one behind. Waiting is
// on the process itself (a pidfd, or its pipes), never a sleep.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace warden::it {

using namespace std::chrono_literals;
using json = nlohmann::json;
using steady = std::chrono::steady_clock;

/// A fresh directory under $TMPDIR, removed with everything in it at the end (kept when
/// WARDEN_KEEP_TEST_DIRS is set, as the cluster harness's).
class temp_dir {
public:
  temp_dir() {
    auto base = std::filesystem::temp_directory_path() / "warden-it-XXXXXX";
    std::string tmpl = base.string();
    if (::mkdtemp(tmpl.data()) == nullptr)
      throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~temp_dir() {
    if (auto* keep = std::getenv("WARDEN_KEEP_TEST_DIRS");
        keep != nullptr && *keep != '\0' && std::string_view{keep} != "0")
      return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  /// Writes `text` to `name` in the directory; returns the full path.
  std::string write(const std::string& name, const std::string& text) const {
    auto p = (path_ / name).string();
    std::ofstream{p} << text;
    return p;
  }

  std::string file(const std::string& name) const { return (path_ / name).string(); }

private:
  std::filesystem::path path_;
};

/// One `warden` process with stdout and stderr captured through pipes.
class warden_process {
public:
  explicit warden_process(const std::vector<std::string>& args) {
    int out[2];
    int err[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0)
      throw std::runtime_error("pipe2 failed");
    // argv is built before fork: the child only calls async-signal-safe functions.
    std::vector<std::string> all{WARDEN_BIN};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ < 0)
      throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      ::dup2(err[1], STDERR_FILENO);
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    out_fd_ = out[0];
    err_fd_ = err[0];
    pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
  }

  ~warden_process() {
    if (!reaped_) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    for (int fd : {out_fd_, err_fd_, pidfd_})
      if (fd >= 0)
        ::close(fd);
  }

  warden_process(const warden_process&) = delete;
  warden_process& operator=(const warden_process&) = delete;

  pid_t pid() const { return pid_; }

  void signal(int sig) { ::kill(pid_, sig); }

  /// Reads output until stdout contains `needle` or the timeout passes.
  bool wait_for_output(const std::string& needle, std::chrono::milliseconds timeout) {
    auto deadline = steady::now() + timeout;
    while (out_.find(needle) == std::string::npos) {
      if (!pump(deadline, false))
        return out_.find(needle) != std::string::npos;
    }
    return true;
  }

  /// Waits until the process exits (reading its output meanwhile); its exit code, or -1
  /// after a signal. nullopt when it is still running at the timeout: then it is killed.
  std::optional<int> wait(std::chrono::milliseconds timeout) {
    auto deadline = steady::now() + timeout;
    while (!reaped_) {
      if (try_reap())
        break;
      if (!pump(deadline, true)) {
        if (try_reap())
          break;
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status_, 0);
        reaped_ = true;
        return std::nullopt;
      }
    }
    drain();
    if (WIFEXITED(status_))
      return WEXITSTATUS(status_);
    return -1;
  }

  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }

private:
  bool try_reap() {
    if (reaped_)
      return true;
    if (::waitpid(pid_, &status_, WNOHANG) == pid_)
      reaped_ = true;
    return reaped_;
  }

  // One poll round on the pipes (and the pidfd when `for_exit`): false at the deadline.
  bool pump(steady::time_point deadline, bool for_exit) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
    if (left.count() <= 0)
      return false;
    std::vector<pollfd> fds;
    if (out_fd_ >= 0)
      fds.push_back({out_fd_, POLLIN, 0});
    if (err_fd_ >= 0)
      fds.push_back({err_fd_, POLLIN, 0});
    if (for_exit && pidfd_ >= 0)
      fds.push_back({pidfd_, POLLIN, 0});
    int wait_ms = static_cast<int>(left.count());
    // Without a pidfd (old kernels) and with both pipes closed, fall back to short polls.
    if (for_exit && pidfd_ < 0 && out_fd_ < 0 && err_fd_ < 0)
      wait_ms = std::min(wait_ms, 10);
    if (fds.empty() && !for_exit)
      return false;  // no more output will come
    int n = ::poll(fds.data(), fds.size(), wait_ms);
    if (n < 0 && errno != EINTR)
      return false;
    for (auto& p : fds) {
      if (p.revents == 0)
        continue;
      if (p.fd == out_fd_)
        read_some(out_fd_, out_);
      else if (p.fd == err_fd_)
        read_some(err_fd_, err_);
    }
    return true;
  }

  static void read_some(int& fd, std::string& into) {
    char buf[4096];
    auto n = ::read(fd, buf, sizeof(buf));
    if (n > 0) {
      into.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
      ::close(fd);
      fd = -1;
    }
  }

  // After exit: read whatever is left in the pipes.
  void drain() {
    for (auto* p : {&out_fd_, &err_fd_}) {
      auto& into = p == &out_fd_ ? out_ : err_;
      while (*p >= 0)
        read_some(*p, into);
    }
  }

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  int pidfd_ = -1;
  int status_ = 0;
  bool reaped_ = false;
  std::string out_;
  std::string err_;
};

/// The result of one `warden` run.
struct run_result {
  std::optional<int> exit_code;  ///< nullopt: it did not exit in time (and was killed)
  std::string out;
  std::string err;
  std::vector<json> events;      ///< the JSON event log, in order
  std::chrono::milliseconds elapsed{0};
};

/// Reads a JSON-lines event log (missing file: no events).
inline std::vector<json> read_events(const std::string& path) {
  std::vector<json> out;
  std::ifstream in{path};
  std::string line;
  while (std::getline(in, line))
    if (!line.empty())
      out.push_back(json::parse(line));
  return out;
}

/// Runs `warden` with `args` to completion (killed after `timeout`).
inline run_result run_warden(const std::vector<std::string>& args,
                             const std::string& log_file = {},
                             std::chrono::milliseconds timeout = 20s) {
  run_result r;
  auto t0 = steady::now();
  warden_process p{args};
  r.exit_code = p.wait(timeout);
  r.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t0);
  r.out = p.out();
  r.err = p.err();
  if (!log_file.empty())
    r.events = read_events(log_file);
  return r;
}

// --- event queries -----------------------------------------------------------------------

/// "supervisor/child" of an event ("supervisor" alone when it has no child).
inline std::string where(const json& ev) {
  auto child = ev.value("child", std::string{});
  auto sup = ev.value("supervisor", std::string{});
  return child.empty() ? sup : sup + "/" + child;
}

/// The paths of all events named `name`, in order.
inline std::vector<std::string> paths_of(const std::vector<json>& evs, const std::string& name) {
  std::vector<std::string> out;
  for (auto& ev : evs)
    if (ev.value("event", std::string{}) == name)
      out.push_back(where(ev));
  return out;
}

/// "event" names of all events concerning the child at `path`, in order.
inline std::vector<std::string> history(const std::vector<json>& evs, const std::string& path) {
  std::vector<std::string> out;
  for (auto& ev : evs)
    if (where(ev) == path)
      out.push_back(ev.value("event", std::string{}));
  return out;
}

/// "event:path" of every event, in order.
inline std::vector<std::string> trace(const std::vector<json>& evs) {
  std::vector<std::string> out;
  for (auto& ev : evs)
    out.push_back(ev.value("event", std::string{}) + ":" + where(ev));
  return out;
}

/// The first event named `name` for `path`, or null.
inline const json* find_event(const std::vector<json>& evs, const std::string& name,
                              const std::string& path) {
  for (auto& ev : evs)
    if (ev.value("event", std::string{}) == name && where(ev) == path)
      return &ev;
  return nullptr;
}

/// Diagnostics for a failed assertion: the output and the events.
inline std::string dump(const run_result& r) {
  std::ostringstream os;
  os << "exit code: " << (r.exit_code ? std::to_string(*r.exit_code) : "none (killed)")
     << "\n--- stdout\n"
     << r.out << "--- stderr\n"
     << r.err << "--- events\n";
  for (auto& ev : r.events)
    os << ev.dump() << "\n";
  return os.str();
}

} // namespace warden::it
