#include "internal/signal_wait.hpp"
#include "warden/cluster_launcher.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <sstream>
#include <system_error>
#include <thread>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

extern char** environ;

namespace warden {

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using json = nlohmann::json;
namespace fs = std::filesystem;

constexpr int exit_ok = 0;
constexpr int exit_failed = 1;
constexpr int exit_usage = 2;

constexpr int max_nodes = 100;
/// How often `up` asks the nodes that are not ready yet.
constexpr auto ready_poll_interval = 100ms;
/// Lines of a node's log shown when it did not come up.
constexpr size_t log_tail_lines = 20;
constexpr const char* cluster_file = "cluster.json";
/// Held (flock) by a running launcher, so two `up`s cannot share a directory.
constexpr const char* lock_file = "launcher.lock";
constexpr const char* node_host = "127.0.0.1";
constexpr const char* secret_env = "WARDEN_CLUSTER_SECRET";
constexpr const char* name_env = "WARDEN_CLUSTER_NAME";

// --- output ------------------------------------------------------------------------------

/// One whole line per stdio call, flushed: nodes and tests read it as it comes.
void out_line(const std::string& line) {
  auto text = line + "\n";
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

void err_line(const std::string& line) {
  auto text = "warden: " + line + "\n";
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

std::string errno_text(int err) {
  return std::generic_category().message(err);
}

/// "status 1", "signal 9 (SIGKILL)".
std::string describe_wait_status(int status) {
  if (WIFEXITED(status))
    return fmt::format("status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    const char* abbrev = sigabbrev_np(sig);
    return abbrev != nullptr ? fmt::format("signal {} (SIG{})", sig, abbrev)
                             : fmt::format("signal {}", sig);
  }
  return fmt::format("wait status {}", status);
}

/// The last `n` lines of a file (empty when unreadable).
std::vector<std::string> tail_lines(const std::string& path, size_t n) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return {};
  in.seekg(0, std::ios::end);
  auto size = static_cast<std::streamoff>(in.tellg());
  constexpr std::streamoff window = 64 * 1024;  // enough for 20 lines of any sane log
  in.seekg(size > window ? size - window : 0);
  std::string text{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
  std::vector<std::string> lines;
  std::istringstream is{text};
  std::string line;
  while (std::getline(is, line))
    lines.push_back(line);
  if (size > window && !lines.empty())
    lines.erase(lines.begin());  // probably cut in the middle
  if (lines.size() > n)
    lines.erase(lines.begin(), lines.end() - static_cast<std::ptrdiff_t>(n));
  return lines;
}

void print_log_tail(const std::string& name, const std::string& path) {
  auto lines = tail_lines(path, log_tail_lines);
  if (lines.empty()) {
    err_line(fmt::format("{}: its log {} is empty", name, path));
    return;
  }
  err_line(fmt::format("{}: last {} lines of {}:", name, lines.size(), path));
  for (auto& line : lines)
    std::fprintf(stderr, "  | %s\n", line.c_str());
  std::fflush(stderr);
}

// --- signals -----------------------------------------------------------------------------

sigset_t launcher_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGCHLD);  // a node exited: wakes the wait
  return set;
}

/// Waits for SIGINT, SIGTERM or SIGCHLD until `deadline` (forever if none). Returns the
/// signal, or 0 when the deadline passed.
int wait_signal(std::optional<clock_type::time_point> deadline) {
  return warden::internal::wait_for_signal(launcher_signals(), deadline);
}

// --- processes ---------------------------------------------------------------------------

/// The command line of `pid`; empty when it is gone, a zombie, or not ours to read.
std::vector<std::string> read_cmdline(pid_t pid) {
  std::ifstream in{fmt::format("/proc/{}/cmdline", pid), std::ios::binary};
  std::string raw{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
  std::vector<std::string> out;
  size_t start = 0;
  while (start < raw.size()) {
    auto end = raw.find('\0', start);
    if (end == std::string::npos)
      end = raw.size();
    out.push_back(raw.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

/// True when `pid` runs exactly `cmdline`: the identity check before any signal, so a
/// reused pid is never signalled.
bool runs(pid_t pid, const std::vector<std::string>& cmdline) {
  return pid > 0 && !cmdline.empty() && read_cmdline(pid) == cmdline;
}

/// A process that is not our child, held by a pidfd so a signal cannot reach a process
/// that reused its pid after the identity check.
class other_process {
public:
  explicit other_process(pid_t pid) : pid_(pid) {
    fd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  }
  ~other_process() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  other_process(const other_process&) = delete;
  other_process& operator=(const other_process&) = delete;

  bool signal(int sig) {
    if (pid_ <= 0)
      return false;  // kill(-1) would signal every process we may signal
    if (fd_ >= 0)
      return ::syscall(SYS_pidfd_send_signal, fd_, sig, nullptr, 0) == 0;
    return ::kill(pid_, sig) == 0;
  }

  /// Waits until the process has exited (a zombie counts), at most until `deadline`.
  bool wait_gone(clock_type::time_point deadline) {
    for (;;) {
      if (gone())
        return true;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline
                                                                        - clock_type::now());
      if (left.count() <= 0)
        return gone();
      if (fd_ >= 0) {
        pollfd p{fd_, POLLIN, 0};
        ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
      } else {
        // No pidfd (kernel < 5.3): poll /proc.
        std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(left, 20ms));
      }
    }
  }

private:
  bool gone() const {
    if (fd_ >= 0) {
      pollfd p{fd_, POLLIN, 0};
      return ::poll(&p, 1, 0) > 0;  // readable once the process exited
    }
    if (::kill(pid_, 0) != 0 && errno == ESRCH)
      return true;
    std::ifstream stat{fmt::format("/proc/{}/stat", pid_)};
    std::string text{std::istreambuf_iterator<char>{stat}, std::istreambuf_iterator<char>{}};
    auto paren = text.rfind(')');
    return paren == std::string::npos || (paren + 2 < text.size() && text[paren + 2] == 'Z');
  }

  pid_t pid_;
  int fd_ = -1;
};

/// Stops a process that is not our child: SIGTERM, then SIGKILL after `timeout`. Returns
/// a description of what happened.
std::string stop_other(other_process& p, std::chrono::seconds timeout) {
  if (!p.signal(SIGTERM))
    return "already gone";
  if (p.wait_gone(clock_type::now() + timeout))
    return "stopped";
  p.signal(SIGKILL);
  if (p.wait_gone(clock_type::now() + 5s))
    return fmt::format("did not stop within {} s: killed", timeout.count());
  return fmt::format("did not stop within {} s, and not even after SIGKILL", timeout.count());
}

/// A file descriptor closed on scope exit.
class unique_fd {
public:
  explicit unique_fd(int fd = -1) : fd_(fd) {
  }
  ~unique_fd() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  int get() const { return fd_; }

private:
  int fd_;
};

/// Writes a decimal number with write(2): async-signal-safe, for the forked child.
void write_number(int fd, long value) {
  char buf[24];
  int i = sizeof(buf);
  bool negative = value < 0;
  unsigned long v = negative ? static_cast<unsigned long>(-value) : static_cast<unsigned long>(value);
  do {
    buf[--i] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0 && i > 1);
  if (negative)
    buf[--i] = '-';
  [[maybe_unused]] auto n = ::write(fd, buf + i, sizeof(buf) - static_cast<size_t>(i));
}

/// Forks and executes `argv` with `env`, stdout and stderr to `log_fd`, stdin from
/// `null_fd`. The child dies when the launcher does (PR_SET_PDEATHSIG) and gets its own
/// process group, so a terminal's Ctrl-C reaches only the launcher, which then stops the
/// nodes in order. Returns the pid, or -1 with errno.
pid_t spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env,
            int log_fd, int null_fd) {
  // Everything the child needs is built before fork: it only calls async-signal-safe
  // functions.
  std::vector<char*> cargv;
  for (auto& a : argv)
    cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  std::vector<char*> cenv;
  for (auto& e : env)
    cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);
  static constexpr char exec_failed[] = "warden cluster: cannot execute the node command ";
  static constexpr char errno_is[] = ": errno ";
  auto launcher = ::getpid();
  auto pid = ::fork();
  if (pid != 0)
    return pid;
  // --- child ---
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);  // the node blocks what it waits for itself
  if (::prctl(PR_SET_PDEATHSIG, SIGTERM) != 0)
    ::_exit(126);
  if (::getppid() != launcher)
    ::_exit(126);  // the launcher died before prctl: nobody would stop this node
  ::setpgid(0, 0);
  ::dup2(null_fd, STDIN_FILENO);
  ::dup2(log_fd, STDOUT_FILENO);
  ::dup2(log_fd, STDERR_FILENO);
  ::execve(cargv[0], cargv.data(), cenv.data());
  int err = errno;
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, exec_failed, sizeof(exec_failed) - 1);
  n = ::write(STDERR_FILENO, cargv[0], ::strlen(cargv[0]));
  n = ::write(STDERR_FILENO, errno_is, sizeof(errno_is) - 1);
  write_number(STDERR_FILENO, err);
  n = ::write(STDERR_FILENO, "\n", 1);
  ::_exit(127);
}

/// The node program: $WARDEN_NODE_COMMAND, else this executable.
std::string node_command() {
  if (const char* cmd = std::getenv(node_command_env); cmd != nullptr && *cmd != '\0')
    return cmd;
  std::error_code ec;
  auto self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string{"/proc/self/exe"} : self.string();
}

/// The launcher's environment with the cluster's name and secret set.
std::vector<std::string> node_environment(const std::string& cluster, const std::string& secret) {
  std::vector<std::string> out;
  auto ours = [](std::string_view var, const char* name) {
    auto n = std::strlen(name);
    return var.size() > n && var.substr(0, n) == name && var[n] == '=';
  };
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view var{*e};
    if (!ours(var, secret_env) && !ours(var, name_env))
      out.emplace_back(var);
  }
  out.push_back(fmt::format("{}={}", secret_env, secret));
  out.push_back(fmt::format("{}={}", name_env, cluster));
  return out;
}

std::string random_secret() {
  std::random_device rd;
  std::string out;
  for (int i = 0; i < 4; ++i)
    out += fmt::format("{:08x}", static_cast<uint32_t>(rd()));
  return out;
}

// --- cluster.json ------------------------------------------------------------------------

struct node_record {
  std::string name;
  pid_t pid = -1;
  uint16_t port = 0;
  uint16_t http_port = 0;
  std::string log;
  std::vector<std::string> command;
};

struct cluster_record {
  pid_t launcher_pid = -1;
  std::vector<std::string> launcher_cmdline;
  std::string cluster;
  std::vector<node_record> nodes;
};

json to_json(const cluster_record& c, const fs::path& dir) {
  auto nodes = json::array();
  for (auto& n : c.nodes)
    nodes.push_back({{"name", n.name},
                     {"pid", n.pid},
                     {"port", n.port},
                     {"http_port", n.http_port},
                     {"log", n.log},
                     {"command", n.command}});
  return json{{"launcher_pid", c.launcher_pid},
              {"launcher_cmdline", c.launcher_cmdline},
              {"cluster", c.cluster},
              {"dir", dir.string()},
              {"nodes", nodes}};
}

/// Reads DIR/cluster.json: nullopt with `error` empty when there is none, with `error`
/// set when it cannot be read.
std::optional<cluster_record> read_cluster(const fs::path& dir, std::string& error) {
  auto path = dir / cluster_file;
  std::ifstream in{path};
  if (!in)
    return std::nullopt;
  try {
    auto j = json::parse(in);
    cluster_record c;
    c.launcher_pid = j.value("launcher_pid", -1);
    c.launcher_cmdline = j.value("launcher_cmdline", std::vector<std::string>{});
    c.cluster = j.value("cluster", std::string{});
    for (auto& n : j.at("nodes")) {
      node_record r;
      r.name = n.value("name", std::string{});
      r.pid = n.value("pid", -1);
      r.port = n.value("port", uint16_t{0});
      r.http_port = n.value("http_port", uint16_t{0});
      r.log = n.value("log", std::string{});
      r.command = n.value("command", std::vector<std::string>{});
      c.nodes.push_back(std::move(r));
    }
    return c;
  } catch (const std::exception& e) {
    error = fmt::format("{}: {}", path.string(), e.what());
    return std::nullopt;
  }
}

/// Writes DIR/cluster.json atomically (temporary file + rename).
bool write_cluster(const fs::path& dir, const cluster_record& c, std::string& error) {
  auto path = dir / cluster_file;
  auto tmp = dir / (std::string{cluster_file} + ".tmp");
  {
    std::ofstream out{tmp, std::ios::trunc};
    out << to_json(c, dir).dump(2) << "\n";
    if (!out) {
      error = fmt::format("cannot write {}", tmp.string());
      return false;
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    error = fmt::format("cannot write {}: {}", path.string(), ec.message());
    return false;
  }
  return true;
}

void remove_cluster_file(const fs::path& dir) {
  std::error_code ec;
  fs::remove(dir / cluster_file, ec);
}

// --- HTTP --------------------------------------------------------------------------------

std::string http_error_text(httplib::Error err) {
  switch (err) {
    case httplib::Error::Connection: return "connection failed";
    case httplib::Error::Read: return "no answer (read failed or timed out)";
    case httplib::Error::Write: return "request not sent (write failed)";
    case httplib::Error::ConnectionTimeout: return "connection timed out";
    default: return httplib::to_string(err);
  }
}

std::string http_url(uint16_t port) {
  return fmt::format("http://{}:{}", node_host, port);
}

struct http_get_result {
  std::optional<json> body;  ///< set on 200 with a JSON body
  std::string error;         ///< else: why not
};

http_get_result http_get_json(uint16_t port, const std::string& path,
                              std::chrono::milliseconds connect_timeout,
                              std::chrono::milliseconds read_timeout) {
  httplib::Client cli{node_host, port};
  cli.set_connection_timeout(connect_timeout);
  cli.set_read_timeout(read_timeout);
  cli.set_write_timeout(read_timeout);
  http_get_result r;
  auto res = cli.Get(path);
  if (!res) {
    r.error = http_error_text(res.error());
    return r;
  }
  auto body = json::parse(res->body, nullptr, false);
  if (res->status != 200) {
    r.error = fmt::format("{} answered {}", path, res->status);
    if (!body.is_discarded() && body.is_object())
      for (auto key : {"status", "error", "message"})
        if (body.contains(key) && body[key].is_string())
          r.error += fmt::format(" {}={}", key, body[key].get<std::string>());
    return r;
  }
  if (body.is_discarded()) {
    r.error = fmt::format("{} answered something that is not JSON", path);
    return r;
  }
  r.body = std::move(body);
  return r;
}

// --- the nodes of `up` -------------------------------------------------------------------

struct node_proc {
  node_record rec;
  bool running = false;  ///< started and not reaped yet
  bool ready = false;
  int wait_status = 0;   ///< once reaped
  std::string not_ready_why;
};

/// The launcher's nodes. The destructor kills and reaps whatever still runs, so no early
/// return or exception leaves a node behind.
class node_group {
public:
  ~node_group() {
    for (auto& n : nodes)
      if (n.running) {
        ::kill(n.rec.pid, SIGKILL);
        reap(n, true);
      }
  }

  /// Reaps `n` if it exited (blocking: waits for it). True when it is no longer running.
  static bool reap(node_proc& n, bool block) {
    if (!n.running)
      return true;
    for (;;) {
      auto r = ::waitpid(n.rec.pid, &n.wait_status, block ? 0 : WNOHANG);
      if (r == n.rec.pid) {
        n.running = false;
        return true;
      }
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0) {  // ECHILD: not ours any more
        n.running = false;
        return true;
      }
      return false;
    }
  }

  /// Reaps every node that exited; calls `exited` for each.
  void reap_exited(const std::function<void(node_proc&)>& exited) {
    for (auto& n : nodes)
      if (n.running && reap(n, false) && exited)
        exited(n);
  }

  /// Stops the running nodes in reverse start order: SIGTERM, up to node_stop_timeout
  /// each, then SIGKILL. A second SIGINT / SIGTERM kills the rest at once.
  void stop_all() {
    bool kill_rest = false;
    for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
      auto& n = *it;
      reap_exited([](node_proc& other) {
        out_line(fmt::format("{} exited ({})", other.rec.name, describe_wait_status(other.wait_status)));
      });
      if (!n.running)
        continue;
      if (kill_rest) {
        ::kill(n.rec.pid, SIGKILL);
        reap(n, true);
        out_line(fmt::format("{} killed", n.rec.name));
        continue;
      }
      out_line(fmt::format("stopping {} (pid {})", n.rec.name, n.rec.pid));
      ::kill(n.rec.pid, SIGTERM);
      auto deadline = clock_type::now() + node_stop_timeout;
      while (!reap(n, false)) {
        if (clock_type::now() >= deadline) {
          out_line(fmt::format("{} did not stop within {} s: SIGKILL", n.rec.name,
                               node_stop_timeout.count()));
          ::kill(n.rec.pid, SIGKILL);
          reap(n, true);
          break;
        }
        auto sig = wait_signal(deadline);
        if (sig == SIGINT || sig == SIGTERM) {
          out_line("second signal: killing the remaining nodes");
          kill_rest = true;
          ::kill(n.rec.pid, SIGKILL);
          reap(n, true);
          break;
        }
      }
      out_line(fmt::format("{} stopped ({})", n.rec.name, describe_wait_status(n.wait_status)));
    }
  }

  std::vector<node_proc> nodes;
};

/// Asks `n` whether it is ready; records why not.
bool probe_ready(node_proc& n) {
  auto r = http_get_json(n.rec.http_port, "/health/ready", 250ms, 1s);
  if (!r.body) {
    n.not_ready_why = fmt::format("{}/health/ready: {}", http_url(n.rec.http_port), r.error);
    return false;
  }
  // Another process on the port (another cluster's node) must not count as ours.
  auto& b = *r.body;
  if (b.is_object() && b.contains("node") && b["node"].is_string() && b["node"] != n.rec.name) {
    n.not_ready_why = fmt::format("{} answers for node {}", http_url(n.rec.http_port),
                                  b["node"].get<std::string>());
    return false;
  }
  return true;
}

/// Validates the options; an error message, or empty.
std::string check_up_options(const cluster_up_options& opt) {
  if (opt.nodes < 1 || opt.nodes > max_nodes)
    return fmt::format("-n: must be 1..{}, got {}", max_nodes, opt.nodes);
  auto last = [&](uint16_t base) { return static_cast<int>(base) + opt.nodes - 1; };
  if (opt.base_port == 0 || last(opt.base_port) > 65535)
    return fmt::format("--base-port {}: ports {}..{} are not all valid", opt.base_port,
                       opt.base_port, last(opt.base_port));
  if (opt.http_base_port == 0 || last(opt.http_base_port) > 65535)
    return fmt::format("--http-base-port {}: ports {}..{} are not all valid", opt.http_base_port,
                       opt.http_base_port, last(opt.http_base_port));
  if (opt.base_port <= last(opt.http_base_port) && opt.http_base_port <= last(opt.base_port))
    return fmt::format("node ports {}..{} and HTTP ports {}..{} overlap", opt.base_port,
                       last(opt.base_port), opt.http_base_port, last(opt.http_base_port));
  auto trees = opt.trees.size();
  if (trees > 1 && trees != static_cast<size_t>(opt.nodes))
    return fmt::format("--tree: give one tree for all nodes or one per node ({}), got {}",
                       opt.nodes, trees);
  if (opt.ready_timeout_ms <= 0)
    return fmt::format("--ready-timeout-ms: must be > 0, got {}", opt.ready_timeout_ms);
  if (opt.duration_ms && *opt.duration_ms < 0)
    return fmt::format("--duration-ms: must be >= 0, got {}", *opt.duration_ms);
  if (opt.cluster_name.empty())
    return "--cluster-name: must not be empty";
  return {};
}

std::vector<std::string> node_argv(const cluster_up_options& opt, const std::string& command,
                                   int i, const node_record& rec) {
  std::vector<std::string> argv{command,     "node",      "--name", rec.name,
                                "--port",    std::to_string(rec.port),
                                "--http-port", std::to_string(rec.http_port)};
  for (int s = 0; s < std::min(opt.nodes, 2); ++s)
    argv.insert(argv.end(), {"--seed", fmt::format("{}:{}", node_host, opt.base_port + s)});
  if (!opt.config.empty())
    argv.insert(argv.end(), {"--config", opt.config});
  if (!opt.trees.empty())
    argv.insert(argv.end(), {"--tree", opt.trees.size() == 1 ? opt.trees[0] : opt.trees[i]});
  if (opt.json)
    argv.push_back("--json");
  argv.insert(argv.end(), {"--log-file", rec.log});
  argv.insert(argv.end(), opt.node_args.begin(), opt.node_args.end());
  return argv;
}

fs::path absolute_dir(const std::string& dir) {
  std::error_code ec;
  auto p = fs::absolute(dir, ec);
  return (ec ? fs::path{dir} : p).lexically_normal();
}

/// "a cluster is already up in DIR, pid N" when DIR/cluster.json names a live launcher.
std::optional<std::string> live_launcher(const fs::path& dir) {
  std::string error;
  auto c = read_cluster(dir, error);
  if (c && runs(c->launcher_pid, c->launcher_cmdline))
    return fmt::format("a cluster is already up in {}, pid {}", dir.string(), c->launcher_pid);
  return std::nullopt;
}

} // namespace

// --- warden cluster up -------------------------------------------------------------------

int cluster_up(const cluster_up_options& opt) {
  if (auto problem = check_up_options(opt); !problem.empty()) {
    err_line(problem);
    return exit_usage;
  }
  // Before any thread exists (there is none in the launcher): only sigtimedwait takes them.
  auto sigs = launcher_signals();
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  auto dir = absolute_dir(opt.dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    err_line(fmt::format("--dir {}: {}", dir.string(), ec.message()));
    return exit_failed;
  }
  // The lock is the reliable "already up" test (released by the kernel even on kill -9);
  // cluster.json gives the message its pid.
  unique_fd lock{::open((dir / lock_file).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)};
  if (lock.get() < 0) {
    err_line(fmt::format("{}: {}", (dir / lock_file).string(), errno_text(errno)));
    return exit_failed;
  }
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    auto live = live_launcher(dir);
    err_line(live ? *live
                  : fmt::format("a cluster is already up in {} (another launcher holds {})",
                                dir.string(), lock_file));
    return exit_failed;
  }
  if (auto live = live_launcher(dir)) {
    err_line(*live);
    return exit_failed;
  }
  {
    std::string error;
    if (auto stale = read_cluster(dir, error))
      out_line(fmt::format("replacing the stale {} (launcher pid {} is gone)",
                           (dir / cluster_file).string(), stale->launcher_pid));
  }

  unique_fd null_fd{::open("/dev/null", O_RDWR | O_CLOEXEC)};
  auto command = node_command();
  auto env = node_environment(opt.cluster_name, opt.secret.empty() ? random_secret() : opt.secret);

  cluster_record record;
  record.launcher_pid = ::getpid();
  record.launcher_cmdline = read_cmdline(record.launcher_pid);
  record.cluster = opt.cluster_name;

  node_group group;
  // On every return from here on, the group's destructor kills what still runs; the
  // orderly paths stop the nodes before.
  struct cluster_file_remover {
    fs::path dir;
    ~cluster_file_remover() { remove_cluster_file(dir); }
  } remover{dir};

  for (int i = 0; i < opt.nodes; ++i) {
    node_proc n;
    n.rec.name = fmt::format("n{}", i + 1);
    n.rec.port = static_cast<uint16_t>(opt.base_port + i);
    n.rec.http_port = static_cast<uint16_t>(opt.http_base_port + i);
    n.rec.log = (dir / (n.rec.name + ".log")).string();
    n.rec.command = node_argv(opt, command, i, n.rec);
    unique_fd log{::open(n.rec.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC,
                         0644)};
    if (log.get() < 0) {
      err_line(fmt::format("{}: {}", n.rec.log, errno_text(errno)));
      group.stop_all();
      return exit_failed;
    }
    n.rec.pid = spawn(n.rec.command, env, log.get(), null_fd.get());
    if (n.rec.pid < 0) {
      err_line(fmt::format("cannot start {}: fork: {}", n.rec.name, errno_text(errno)));
      group.stop_all();
      return exit_failed;
    }
    n.running = true;
    record.nodes.push_back(n.rec);
    group.nodes.push_back(std::move(n));
  }
  if (std::string error; !write_cluster(dir, record, error)) {
    err_line(error);
    group.stop_all();
    return exit_failed;
  }
  for (auto& n : group.nodes)
    out_line(fmt::format("{}  node {}:{}  http {}  log {}  pid {}", n.rec.name, node_host,
                         n.rec.port, http_url(n.rec.http_port), n.rec.log, n.rec.pid));

  // Wait until every node answers 200 on /health/ready.
  auto ready_deadline = clock_type::now() + std::chrono::milliseconds{opt.ready_timeout_ms};
  for (;;) {
    node_proc* failed = nullptr;
    group.reap_exited([&](node_proc& n) {
      if (failed == nullptr)
        failed = &n;
    });
    if (failed != nullptr) {
      err_line(fmt::format("{} exited ({}) before it was ready", failed->rec.name,
                           describe_wait_status(failed->wait_status)));
      print_log_tail(failed->rec.name, failed->rec.log);
      out_line("stopping the nodes");
      group.stop_all();
      err_line("the cluster did not come up");
      return exit_failed;
    }
    bool all = true;
    for (auto& n : group.nodes) {
      if (!n.ready)
        n.ready = probe_ready(n);
      all = all && n.ready;
    }
    if (all)
      break;
    auto now = clock_type::now();
    if (now >= ready_deadline) {
      std::vector<std::string> names;
      for (auto& n : group.nodes)
        if (!n.ready)
          names.push_back(n.rec.name);
      err_line(fmt::format("not ready after {} ms: {}", opt.ready_timeout_ms,
                           fmt::join(names, ", ")));
      for (auto& n : group.nodes)
        if (!n.ready) {
          err_line(fmt::format("{}: {}", n.rec.name, n.not_ready_why));
          print_log_tail(n.rec.name, n.rec.log);
        }
      out_line("stopping the nodes");
      group.stop_all();
      err_line("the cluster did not come up");
      return exit_failed;
    }
    auto sig = wait_signal(std::min(ready_deadline, now + ready_poll_interval));
    if (sig == SIGINT || sig == SIGTERM) {
      out_line(fmt::format("{} before the cluster was up: stopping the nodes",
                           sig == SIGINT ? "SIGINT" : "SIGTERM"));
      group.stop_all();
      return exit_failed;
    }
  }
  out_line(fmt::format("cluster up: {} node{}", opt.nodes, opt.nodes == 1 ? "" : "s"));
  out_line(fmt::format("  status: warden cluster status --dir {}", dir.string()));
  out_line(fmt::format("  stop:   warden cluster down --dir {}   (or Ctrl-C here)", dir.string()));

  // Foreground until a signal or the duration; report nodes that exit on their own.
  std::optional<clock_type::time_point> end;
  if (opt.duration_ms)
    end = clock_type::now() + std::chrono::milliseconds{*opt.duration_ms};
  std::string cause;
  for (;;) {
    group.reap_exited([](node_proc& n) {
      out_line(fmt::format("{} exited ({})", n.rec.name, describe_wait_status(n.wait_status)));
    });
    if (end && clock_type::now() >= *end) {
      cause = fmt::format("duration of {} ms elapsed", *opt.duration_ms);
      break;
    }
    auto sig = wait_signal(end);
    if (sig == SIGINT || sig == SIGTERM) {
      cause = sig == SIGINT ? "SIGINT" : "SIGTERM";
      break;
    }
  }
  out_line(fmt::format("stopping the cluster ({})", cause));
  group.stop_all();
  remove_cluster_file(dir);
  out_line("cluster stopped");
  return exit_ok;
}

// --- warden cluster status ---------------------------------------------------------------

namespace {

struct node_view {
  const node_record* node = nullptr;
  std::optional<json> members;  ///< the "members" array
  std::optional<json> names;    ///< the "names" array
  std::string error;
  bool answered() const { return members && names; }
};

std::string json_text(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key))
    return "-";
  auto& v = j[key];
  if (v.is_string())
    return v.get<std::string>();
  if (v.is_null())
    return "-";
  return v.dump();
}

/// Member name -> the member object, from one node's answer.
std::map<std::string, json> by_name(const json& list, const char* key = "name") {
  std::map<std::string, json> out;
  if (list.is_array())
    for (auto& m : list)
      out[json_text(m, key)] = m;
  return out;
}

/// Prints `rows` as left-aligned columns under `header`, indented.
void print_table(const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t c = 0; c < header.size(); ++c) {
    width[c] = header[c].size();
    for (auto& r : rows)
      width[c] = std::max(width[c], r[c].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out = " ";
    for (size_t c = 0; c < cells.size(); ++c)
      out += c + 1 < cells.size() ? fmt::format(" {:<{}} ", cells[c], width[c]) : " " + cells[c];
    while (!out.empty() && out.back() == ' ')
      out.pop_back();
    out_line(out);
  };
  line(header);
  for (auto& r : rows)
    line(r);
}

/// How `other` differs from `ref` about the members: one line per difference.
std::vector<std::string> member_disagreements(const node_view& ref, const node_view& other) {
  std::vector<std::string> out;
  auto mine = by_name(*ref.members);
  auto theirs = by_name(*other.members);
  auto& me = ref.node->name;
  auto& them = other.node->name;
  for (auto& [name, m] : mine) {
    auto it = theirs.find(name);
    if (it == theirs.end()) {
      out.push_back(fmt::format("{} does not list {} ({}: {})", them, name, me, json_text(m, "state")));
      continue;
    }
    auto s1 = json_text(m, "state");
    auto s2 = json_text(it->second, "state");
    if (s1 != s2)
      out.push_back(fmt::format("{} sees {} as {} ({}: {})", them, name, s2, me, s1));
    auto i1 = json_text(m, "incarnation");
    auto i2 = json_text(it->second, "incarnation");
    if (i1 != i2)
      out.push_back(fmt::format("{} sees {} with incarnation {} ({}: {})", them, name, i2, me, i1));
  }
  for (auto& [name, m] : theirs)
    if (!mine.count(name))
      out.push_back(fmt::format("{} lists {} as {} (unknown to {})", them, name,
                                json_text(m, "state"), me));
  return out;
}

std::vector<std::string> name_disagreements(const node_view& ref, const node_view& other) {
  std::vector<std::string> out;
  auto mine = by_name(*ref.names);
  auto theirs = by_name(*other.names);
  auto& me = ref.node->name;
  auto& them = other.node->name;
  for (auto& [name, entry] : mine) {
    auto it = theirs.find(name);
    if (it == theirs.end())
      out.push_back(fmt::format("{} does not know the name {} ({}: on {})", them, name, me,
                                json_text(entry, "node")));
    else if (json_text(entry, "node") != json_text(it->second, "node"))
      out.push_back(fmt::format("{} has {} on {} ({}: on {})", them, name,
                                json_text(it->second, "node"), me, json_text(entry, "node")));
  }
  for (auto& [name, entry] : theirs)
    if (!mine.count(name))
      out.push_back(fmt::format("{} has {} on {} (unknown to {})", them, name,
                                json_text(entry, "node"), me));
  return out;
}

/// The array under `key` of a node's answer, or an error.
std::optional<json> array_of(const json& body, const char* key, std::string& error) {
  if (body.is_object() && body.contains(key) && body[key].is_array())
    return body[key];
  error = fmt::format("the answer has no \"{}\" array", key);
  return std::nullopt;
}

/// The cluster recorded in `dir`; else reports why on stderr and sets `rc` (exit_usage:
/// no cluster there; exit_failed: the record is unreadable).
std::optional<cluster_record> read_cluster_or_report(const fs::path& dir, int& rc) {
  std::string error;
  auto c = read_cluster(dir, error);
  if (!c && !error.empty()) {
    err_line(error);
    rc = exit_failed;
  } else if (!c) {
    err_line(fmt::format("no cluster in {} (no {})", dir.string(), cluster_file));
    rc = exit_usage;
  }
  return c;
}

} // namespace

int cluster_status(const cluster_status_options& opt) {
  auto dir = absolute_dir(opt.dir);
  int rc = exit_ok;
  auto c = read_cluster_or_report(dir, rc);
  if (!c)
    return rc;
  bool launcher_up = runs(c->launcher_pid, c->launcher_cmdline);
  std::vector<node_view> views;
  auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(status_http_timeout);
  for (auto& n : c->nodes) {
    node_view v;
    v.node = &n;
    auto members = http_get_json(n.http_port, "/cluster/members", timeout, timeout);
    if (members.body)
      v.members = array_of(*members.body, "members", members.error);
    if (!v.members) {
      v.error = members.error;
    } else {
      auto names = http_get_json(n.http_port, "/cluster/names", timeout, timeout);
      if (names.body)
        v.names = array_of(*names.body, "names", names.error);
      if (!v.names)
        v.error = names.error;
    }
    views.push_back(std::move(v));
  }
  bool all = std::all_of(views.begin(), views.end(), [](auto& v) { return v.answered(); });

  if (opt.json) {
    auto nodes = json::array();
    for (auto& v : views) {
      json j{{"name", v.node->name},
             {"pid", v.node->pid},
             {"http", http_url(v.node->http_port)},
             {"answered", v.answered()}};
      if (v.answered()) {
        j["members"] = *v.members;
        j["names"] = *v.names;
      } else {
        j["error"] = v.error;
      }
      nodes.push_back(std::move(j));
    }
    out_line(json{{"cluster", c->cluster},
                  {"dir", dir.string()},
                  {"launcher_pid", c->launcher_pid},
                  {"launcher_running", launcher_up},
                  {"all_answered", all},
                  {"nodes", nodes}}
               .dump());
    return all ? exit_ok : exit_failed;
  }

  out_line(fmt::format("cluster {} in {}: {} nodes, launcher pid {} {}", c->cluster, dir.string(),
                       c->nodes.size(), c->launcher_pid, launcher_up ? "running" : "gone"));
  for (auto& v : views)
    if (!v.answered())
      out_line(fmt::format("{}: no answer on {}: {}", v.node->name, http_url(v.node->http_port),
                           v.error));
  auto ref = std::find_if(views.begin(), views.end(), [](auto& v) { return v.answered(); });
  if (ref == views.end()) {
    out_line("no node answered");
    return exit_failed;
  }
  out_line(fmt::format("members as seen by {}:", ref->node->name));
  std::vector<std::vector<std::string>> rows;
  for (auto& m : *ref->members)
    rows.push_back({json_text(m, "name"), json_text(m, "address"), json_text(m, "state"),
                    json_text(m, "incarnation")});
  print_table({"NODE", "ADDRESS", "STATE", "INCARNATION"}, rows);
  std::vector<std::string> member_diff;
  std::vector<std::string> name_diff;
  size_t answered = 0;
  for (auto& v : views) {
    if (!v.answered())
      continue;
    ++answered;
    if (&v == &*ref)
      continue;
    for (auto& d : member_disagreements(*ref, v))
      member_diff.push_back(d);
    for (auto& d : name_disagreements(*ref, v))
      name_diff.push_back(d);
  }
  if (member_diff.empty()) {
    out_line(fmt::format("  (all {} answering nodes agree)", answered));
  } else {
    out_line("disagreements:");
    for (auto& d : member_diff)
      out_line("  " + d);
  }
  out_line(fmt::format("names as seen by {}:", ref->node->name));
  rows.clear();
  for (auto& n : *ref->names)
    rows.push_back({json_text(n, "name"), json_text(n, "node"), json_text(n, "address")});
  if (rows.empty())
    out_line("  (none registered)");
  else
    print_table({"NAME", "NODE", "ADDRESS"}, rows);
  if (!name_diff.empty()) {
    out_line("name disagreements:");
    for (auto& d : name_diff)
      out_line("  " + d);
  }
  return all ? exit_ok : exit_failed;
}

// --- warden cluster down -----------------------------------------------------------------

int cluster_down(const cluster_down_options& opt) {
  auto dir = absolute_dir(opt.dir);
  int rc = exit_ok;
  auto c = read_cluster_or_report(dir, rc);
  if (!c)
    return rc;
  other_process launcher{c->launcher_pid};  // before the check: no pid reuse in between
  bool launcher_up = runs(c->launcher_pid, c->launcher_cmdline);
  if (launcher_up) {
    out_line(fmt::format("stopping the launcher (pid {}); it stops the nodes in reverse order",
                         c->launcher_pid));
    launcher.signal(SIGTERM);
    if (!launcher.wait_gone(clock_type::now() + launcher_stop_timeout)) {
      err_line(fmt::format("the launcher (pid {}) did not stop within {} s", c->launcher_pid,
                           launcher_stop_timeout.count()));
      return exit_failed;
    }
    out_line("launcher stopped");
  } else if (c->launcher_pid > 0 && ::kill(c->launcher_pid, 0) == 0
             && !read_cmdline(c->launcher_pid).empty()) {
    out_line(fmt::format("the launcher is gone (pid {} runs something else now)",
                         c->launcher_pid));
  } else {
    out_line(fmt::format("the launcher (pid {}) is gone", c->launcher_pid));
  }
  // Nodes still running: none after an orderly launcher stop, and a killed launcher's
  // nodes die with it; this is the safety net.
  for (auto it = c->nodes.rbegin(); it != c->nodes.rend(); ++it) {
    other_process node{it->pid};
    if (!runs(it->pid, it->command)) {
      if (!launcher_up && it->pid > 0 && ::kill(it->pid, 0) == 0
          && !read_cmdline(it->pid).empty())
        out_line(fmt::format("{}: pid {} runs something else now: left alone", it->name, it->pid));
      continue;
    }
    out_line(fmt::format("stopping {} (pid {})", it->name, it->pid));
    auto what = stop_other(node, node_stop_timeout);
    out_line(fmt::format("{}: {}", it->name, what));
    if (what.find("not even") != std::string::npos)
      rc = exit_failed;
  }
  // A launcher that stopped in order removed its file itself (and a new `up` may own the
  // directory by now); after a dead launcher, clean up for it.
  if (!launcher_up)
    remove_cluster_file(dir);
  out_line("cluster down");
  return rc;
}

// --- command line ------------------------------------------------------------------------

namespace {

/// Runs a command and ends the process with its exit code: nothing of it is left to
/// clean up by then.
[[noreturn]] void run_and_exit(const std::function<int()>& command) {
  int rc = exit_failed;
  try {
    rc = command();
  } catch (const std::exception& e) {
    err_line(std::string{"cluster: "} + e.what());
  }
  std::fflush(stdout);
  std::fflush(stderr);
  std::exit(rc);
}

} // namespace

void add_cluster_commands(CLI::App& app) {
  auto* cluster = app.add_subcommand("cluster", "Run a local cluster of nodes on this machine");
  cluster->require_subcommand(1);

  auto up_opt = std::make_shared<cluster_up_options>();
  auto* up = cluster->add_subcommand(
    "up", "Start N nodes, wait until they are ready, stop them on SIGINT/SIGTERM");
  up->add_option("-n,--nodes", up_opt->nodes, "How many nodes (n1..nN)")->required();
  up->add_option("--base-port", up_opt->base_port, "Node port of n1; n<i> gets base + i - 1")
    ->capture_default_str();
  up->add_option("--http-base-port", up_opt->http_base_port,
                 "Management HTTP port of n1; n<i> gets base + i - 1")
    ->capture_default_str();
  up->add_option("--dir", up_opt->dir, "Directory for cluster.json and the node logs")
    ->capture_default_str();
  up->add_option("--tree", up_opt->trees,
                 "Tree file: once for all nodes, or once per node in order");
  up->add_option("--config", up_opt->config, "Node settings file, passed to every node");
  up->add_option("--cluster-name", up_opt->cluster_name, "Cluster name (WARDEN_CLUSTER_NAME)")
    ->capture_default_str();
  up->add_option("--secret", up_opt->secret,
                 "Cluster secret (WARDEN_CLUSTER_SECRET); default: a random one");
  up->add_flag("--json", up_opt->json, "Nodes log JSON lines");
  up->add_option("--duration-ms", up_opt->duration_ms,
                 "Stop the cluster this many milliseconds after it is up");
  up->add_option("--ready-timeout-ms", up_opt->ready_timeout_ms,
                 "Every node must be ready within this many milliseconds")
    ->capture_default_str();
  up->add_option("--node-arg", up_opt->node_args,
                 "Extra argument for every node, e.g. --node-arg=--set=http.allow_mutations=true "
                 "(repeatable)");
  up->callback([up_opt] { run_and_exit([&] { return cluster_up(*up_opt); }); });

  auto status_opt = std::make_shared<cluster_status_options>();
  auto* status = cluster->add_subcommand("status", "Show the members and names each node sees");
  status->add_option("--dir", status_opt->dir, "The cluster's directory")->capture_default_str();
  status->add_flag("--json", status_opt->json, "Print one JSON object");
  status->callback([status_opt] { run_and_exit([&] { return cluster_status(*status_opt); }); });

  auto down_opt = std::make_shared<cluster_down_options>();
  auto* down = cluster->add_subcommand("down", "Stop the cluster that --dir describes");
  down->add_option("--dir", down_opt->dir, "The cluster's directory")->capture_default_str();
  down->callback([down_opt] { run_and_exit([&] { return cluster_down(*down_opt); }); });
}

} // namespace warden
