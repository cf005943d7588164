#include "warden/node_process.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <system_error>
#include <thread>

#include <httplib.h>

extern char** environ;

namespace warden {

namespace {

using steady = std::chrono::steady_clock;

// The last `n` lines of a text file ("" when missing).
std::string tail_of_file(const std::string& path, std::size_t n) {
  std::ifstream in{path, std::ios::binary};
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line))
    lines.push_back(std::move(line));
  std::string out;
  for (auto i = lines.size() > n ? lines.size() - n : 0; i < lines.size(); ++i)
    out += lines[i] + "\n";
  return out;
}

void sleep_within(const deadline& dl) {
  std::this_thread::sleep_for(std::min(poll_interval, dl.left()));
}

} // namespace

std::chrono::milliseconds deadline::left() const {
  auto d = std::chrono::duration_cast<std::chrono::milliseconds>(at_ - clock::now());
  return std::max(d, std::chrono::milliseconds{0});
}

namespace {

/// The first port of the kernel's ephemeral range (ip_local_port_range), where port-0
/// binds and outgoing connections land.
int ephemeral_low() {
  std::ifstream in{"/proc/sys/net/ipv4/ip_local_port_range"};
  int low = 32768;
  in >> low;
  return low;
}

/// A socket bound to 127.0.0.1:`port` (0: any), or -1 (errno says why).
int bind_loopback(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    int err = errno;
    ::close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

/// The port `fd` is bound to.
uint16_t local_port(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

} // namespace

std::vector<uint16_t> free_ports(std::size_t n) {
  // Below the ephemeral range when it leaves room: there, only another process picking
  // the same way can take a port between this pick and the node's bind, and a random
  // pick out of thousands makes that rare.
  constexpr int lowest = 10000;
  constexpr int tries_per_port = 100;
  auto below = ephemeral_low();
  bool room = below - lowest >= 1000;
  std::mt19937 rng{std::random_device{}()};
  std::uniform_int_distribution<int> pick{lowest, std::max(lowest, below - 1)};
  std::vector<int> fds;  // each stays bound until all are chosen: no port twice
  std::vector<uint16_t> ports;
  auto close_all = [&] {
    for (int fd : fds)
      ::close(fd);
  };
  for (std::size_t i = 0; i < n; ++i) {
    int fd = -1;
    for (int t = 0; room && fd < 0 && t < tries_per_port; ++t)
      fd = bind_loopback(static_cast<uint16_t>(pick(rng)));
    if (fd < 0)  // no room below the ephemeral range: any free port
      fd = bind_loopback(0);
    if (fd < 0) {
      int err = errno;
      close_all();
      throw std::system_error(err, std::generic_category(), "free_ports: bind");
    }
    fds.push_back(fd);
    ports.push_back(local_port(fd));
  }
  close_all();
  return ports;
}

// --- node_process ----------------------------------------------------------------------------

node_process::node_process(std::string warden_bin, node_process_options opts, std::string dir)
  : bin_(std::move(warden_bin)), opts_(std::move(opts)), dir_(std::move(dir)) {
}

node_process::~node_process() {
  kill9();
}

std::string node_process::file(const std::string& suffix) const {
  return file(suffix, std::max(starts_ - 1, 0));
}

std::string node_process::file(const std::string& suffix, int run) const {
  // Run 0 writes n1.log, run k > 0 writes n1.k.log: a restart never mixes two runs' lines.
  auto base = run == 0 ? opts_.name : opts_.name + "." + std::to_string(run);
  return (std::filesystem::path{dir_} / (base + suffix)).string();
}

std::string node_process::log_path() const {
  return file(".log");
}

std::vector<std::string> node_process::log_paths() const {
  std::vector<std::string> out;
  for (int run = 0; run < starts_; ++run)
    out.push_back(file(".log", run));
  return out;
}

std::string node_process::output_path() const {
  return file(".out");
}

std::string node_process::address() const {
  return "127.0.0.1:" + std::to_string(opts_.port);
}

std::vector<std::string> node_process::command_line() const {
  std::vector<std::string> args{bin_,       "node",
                                "--name",   opts_.name,
                                "--port",   std::to_string(opts_.port),
                                "--http-port", std::to_string(opts_.http_port)};
  for (auto& s : opts_.seeds)
    args.insert(args.end(), {"--seed", s});
  for (auto& v : opts_.connect_via)
    args.insert(args.end(), {"--connect-via", v});
  if (!opts_.tree.empty())
    args.insert(args.end(), {"--tree", opts_.tree});
  args.insert(args.end(), {"--json", "--log-file", log_path()});
  args.insert(args.end(), opts_.extra_args.begin(), opts_.extra_args.end());
  return args;
}

void node_process::start() {
  if (running())
    throw std::logic_error("node_process::start: " + opts_.name + " is running");
  ++starts_;
  log_offset_ = 0;
  log_partial_.clear();
  log_lines_.clear();

  // Everything the child needs is built before fork: it only makes async-signal-safe calls.
  auto args = command_line();
  std::map<std::string, std::string> env_map;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view kv{*e};
    auto eq = kv.find('=');
    if (eq != std::string_view::npos)
      env_map[std::string{kv.substr(0, eq)}] = std::string{kv.substr(eq + 1)};
  }
  env_map["WARDEN_CLUSTER_SECRET"] = opts_.secret;
  env_map["WARDEN_CLUSTER_NAME"] = opts_.cluster;
  for (auto& [k, v] : opts_.env)
    env_map[k] = v;
  std::vector<std::string> env_strs;
  for (auto& [k, v] : env_map)
    env_strs.push_back(k + "=" + v);
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& e : env_strs)
    envp.push_back(e.data());
  envp.push_back(nullptr);

  int out = ::open(output_path().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (out < 0 || in < 0) {
    int err = errno;
    for (int fd : {out, in})
      if (fd >= 0)
        ::close(fd);
    throw std::system_error(err, std::generic_category(), "node_process: open " + output_path());
  }
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    ::close(out);
    ::close(in);
    throw std::system_error(err, std::generic_category(), "node_process: fork");
  }
  if (pid == 0) {
    // Dies with the test binary, even when it crashes before any destructor runs.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent)
      ::_exit(127);
    ::dup2(in, STDIN_FILENO);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(out, STDERR_FILENO);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(out);
  ::close(in);
  pid_ = pid;
  pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
  reaped_ = false;
  paused_ = false;
  status_ = 0;
}

void node_process::reap(bool block) {
  if (reaped_)
    return;
  if (::waitpid(pid_, &status_, block ? 0 : WNOHANG) == pid_) {
    reaped_ = true;
    paused_ = false;
    if (pidfd_ >= 0)
      ::close(pidfd_);
    pidfd_ = -1;
  }
}

bool node_process::running() {
  reap(false);
  return !reaped_;
}

std::optional<int> node_process::exit_status() {
  reap(false);
  if (!reaped_ || pid_ < 0)
    return std::nullopt;
  if (WIFEXITED(status_))
    return WEXITSTATUS(status_);
  if (WIFSIGNALED(status_))
    return 128 + WTERMSIG(status_);
  return std::nullopt;
}

void node_process::kill9() {
  if (reaped_)
    return;
  ::kill(pid_, SIGKILL);  // also ends a stopped process
  reap(true);
}

void node_process::restart() {
  kill9();
  start();
}

void node_process::pause() {
  if (running() && ::kill(pid_, SIGSTOP) == 0)
    paused_ = true;
}

void node_process::resume() {
  if (running() && ::kill(pid_, SIGCONT) == 0)
    paused_ = false;
}

std::optional<int> node_process::terminate(deadline dl) {
  if (!running())
    return exit_status();
  ::kill(pid_, SIGTERM);
  if (paused_)
    ::kill(pid_, SIGCONT);  // a stopped process handles SIGTERM only once continued
  paused_ = false;
  for (;;) {
    reap(false);
    if (reaped_)
      return exit_status();
    if (dl.passed()) {
      kill9();
      return std::nullopt;
    }
    if (pidfd_ >= 0) {
      pollfd p{pidfd_, POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(dl.left().count()));
    } else {
      sleep_within(dl);  // kernels without pidfd: poll the exit
    }
  }
}

namespace {

/// One request with the timeouts of `node_process`, no keep-alive.
template <class Send>
std::optional<std::pair<int, json>> http_json(const std::string& host, uint16_t port, Send send) {
  httplib::Client cli{host, port};
  auto us = [](std::chrono::milliseconds ms) {
    return std::pair{static_cast<time_t>(ms.count() / 1000),
                     static_cast<time_t>(ms.count() % 1000 * 1000)};
  };
  auto [cs, cus] = us(node_process::http_connect_timeout);
  auto [rs, rus] = us(node_process::http_read_timeout);
  cli.set_connection_timeout(cs, cus);
  cli.set_read_timeout(rs, rus);
  cli.set_write_timeout(rs, rus);
  cli.set_keep_alive(false);
  auto res = send(cli);
  if (!res)
    return std::nullopt;
  auto body = json::parse(res->body, nullptr, false);
  if (body.is_discarded())
    body = res->body;
  return std::pair{res->status, std::move(body)};
}

} // namespace

std::optional<std::pair<int, json>> http_get_json(const std::string& host, uint16_t port,
                                                  const std::string& path) {
  return http_json(host, port, [&](httplib::Client& cli) { return cli.Get(path.c_str()); });
}

std::optional<std::pair<int, json>> http_post_json(const std::string& host, uint16_t port,
                                                   const std::string& path, const json& body) {
  return http_json(host, port, [&](httplib::Client& cli) {
    return cli.Post(path.c_str(), body.dump(), "application/json");
  });
}

std::optional<std::pair<int, json>> node_process::http_get(const std::string& path) const {
  return http_get_json("127.0.0.1", opts_.http_port, path);
}

bool node_process::wait_ready(deadline dl) {
  for (;;) {
    if (!running())
      return false;
    if (auto r = http_get("/health/ready"); r && r->first == 200)
      return true;
    if (dl.passed())
      return false;
    sleep_within(dl);
  }
}

json node_process::members() const {
  auto r = http_get("/cluster/members");
  if (!r || r->first != 200)
    return nullptr;
  return r->second;
}

std::string node_process::member_state(const std::string& name) const {
  auto m = members();
  if (!m.is_object() || !m.contains("members") || !m["members"].is_array())
    return "";
  for (auto& x : m["members"])
    if (x.is_object() && x.value("name", "") == name)
      return x.value("state", "");
  return "";
}

const std::vector<json>& node_process::log_lines() {
  std::ifstream in{log_path(), std::ios::binary};
  if (!in)
    return log_lines_;
  in.seekg(static_cast<std::streamoff>(log_offset_));
  std::string fresh{std::istreambuf_iterator<char>{in}, {}};
  log_offset_ += fresh.size();
  log_partial_ += fresh;
  std::size_t start = 0;
  for (auto nl = log_partial_.find('\n'); nl != std::string::npos;
       nl = log_partial_.find('\n', start)) {
    auto line = log_partial_.substr(start, nl - start);
    start = nl + 1;
    if (line.empty())
      continue;
    auto j = json::parse(line, nullptr, false);
    log_lines_.push_back(j.is_discarded() ? json(line) : std::move(j));
  }
  log_partial_.erase(0, start);  // keep an incomplete last line for the next read
  return log_lines_;
}

std::optional<json> node_process::wait_for_log_line(const std::function<bool(const json&)>& pred,
                                                    deadline dl, std::size_t from) {
  for (;;) {
    auto& lines = log_lines();
    for (; from < lines.size(); ++from)
      if (pred(lines[from]))
        return lines[from];
    if (dl.passed())
      return std::nullopt;
    sleep_within(dl);
  }
}

std::string node_process::log_tail(std::size_t n) const {
  return tail_of_file(log_path(), n);
}

std::string node_process::output_tail(std::size_t n) const {
  return tail_of_file(output_path(), n);
}

} // namespace warden
