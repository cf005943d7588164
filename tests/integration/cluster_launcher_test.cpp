// `warden cluster up|status|down` end to end: the real `warden` binary as the launcher,
// with a fake node program (fake_node.cpp, through WARDEN_NODE_COMMAND) so the tests do
// not depend on clustering itself. Each test takes a second or two.
//
// This test process is a child subreaper: nodes orphaned by a killed launcher are
// reparented to it, so it can reap them; `node_reaper` kills and reaps, by pid, every
// node the launcher recorded that still runs when a test ends.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include <random>
#include <thread>

#include <httplib.h>

#include "warden_process.hpp"

using namespace warden::it;

namespace {

// --- processes ---------------------------------------------------------------------------

std::vector<std::string> cmdline_of(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary};
  std::string raw{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
  std::vector<std::string> out;
  std::string cur;
  for (char c : raw) {
    if (c == '\0') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  return out;
}

/// Waits until `pid` has exited (reaping it when it is our child, e.g. an orphaned node
/// reparented to this subreaper). True when it is gone within `timeout`.
bool wait_gone(pid_t pid, std::chrono::milliseconds timeout) {
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0)
    return errno == ESRCH;
  pollfd p{fd, POLLIN, 0};
  int n = 0;
  do {
    n = ::poll(&p, 1, static_cast<int>(timeout.count()));
  } while (n < 0 && errno == EINTR);
  ::close(fd);
  ::waitpid(pid, nullptr, WNOHANG);
  return n > 0;
}

bool running(pid_t pid) {
  if (::kill(pid, 0) != 0)
    return false;
  return !cmdline_of(pid).empty();  // a zombie has no command line
}

/// Kills and reaps, when a test ends, every recorded node that still runs the command
/// the launcher recorded for it.
class node_reaper {
public:
  void track(const json& cluster) {
    for (auto& n : cluster.at("nodes"))
      nodes_.emplace_back(n.at("pid").get<pid_t>(), n.at("command").get<std::vector<std::string>>());
  }

  ~node_reaper() {
    for (auto& [pid, command] : nodes_) {
      if (cmdline_of(pid) == command)
        ::kill(pid, SIGKILL);
      wait_gone(pid, 5s);
    }
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
  }

private:
  std::vector<std::pair<pid_t, std::vector<std::string>>> nodes_;
};

/// A fake node started by the test itself (as if by a launcher that is gone); killed and
/// reaped on scope exit.
class own_node {
public:
  own_node(const std::string& name, uint16_t port, uint16_t http_port)
    : command_{FAKE_NODE_BIN, "node",      "--name", name, "--port", std::to_string(port),
               "--http-port", std::to_string(http_port)},
      http_port_(http_port) {
    std::vector<char*> argv;
    for (auto& a : command_)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    int null_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(null_fd, STDOUT_FILENO);
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(null_fd);
  }
  ~own_node() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  own_node(const own_node&) = delete;
  own_node& operator=(const own_node&) = delete;

  /// Waits until it answers 200 on /health/ready.
  bool wait_ready(std::chrono::milliseconds timeout) const {
    auto deadline = steady::now() + timeout;
    while (steady::now() < deadline) {
      httplib::Client cli{"127.0.0.1", http_port_};
      cli.set_connection_timeout(200ms);
      if (auto res = cli.Get("/health/ready"); res && res->status == 200)
        return true;
      std::this_thread::sleep_for(20ms);  // poll interval of the condition above
    }
    return false;
  }

  pid_t pid() const { return pid_; }
  const std::vector<std::string>& command() const { return command_; }

private:
  std::vector<std::string> command_;
  uint16_t http_port_;
  pid_t pid_ = -1;
};

// --- ports -------------------------------------------------------------------------------

bool port_free(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

/// A listening socket that occupies a port, closed on scope exit.
struct port_holder {
  explicit port_holder(uint16_t port) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(fd, 4) != 0)
      throw std::runtime_error("cannot hold port " + std::to_string(port));
  }
  ~port_holder() { ::close(fd); }
  int fd = -1;
};

struct port_plan {
  uint16_t base = 0;
  uint16_t http = 0;
};

/// Node and HTTP port ranges of `n` ports each, all free now (below the ephemeral range).
port_plan free_ports(int n) {
  std::mt19937 rng{std::random_device{}()};
  for (int attempt = 0; attempt < 500; ++attempt) {
    auto base = static_cast<uint16_t>(20000 + rng() % 5000);
    auto http = static_cast<uint16_t>(base + 5000);
    bool ok = true;
    for (int i = 0; i < n && ok; ++i)
      ok = port_free(static_cast<uint16_t>(base + i)) && port_free(static_cast<uint16_t>(http + i));
    if (ok)
      return {base, http};
  }
  throw std::runtime_error("no free port range");
}

// --- files -------------------------------------------------------------------------------

std::string read_text(const std::string& path) {
  std::ifstream in{path};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream is{text};
  std::string line;
  while (std::getline(is, line))
    out.push_back(line);
  return out;
}

/// Index of the first line of `text` containing `needle`, or -1.
int line_index(const std::string& text, const std::string& needle) {
  auto lines = lines_of(text);
  for (size_t i = 0; i < lines.size(); ++i)
    if (lines[i].find(needle) != std::string::npos)
      return static_cast<int>(i);
  return -1;
}

std::string dump(const warden_process& p) {
  return "--- stdout\n" + p.out() + "--- stderr\n" + p.err();
}

std::string dump_result(const run_result& r) {
  return "exit code: " + (r.exit_code ? std::to_string(*r.exit_code) : std::string{"none"})
         + "\n--- stdout\n" + r.out + "--- stderr\n" + r.err;
}

class cluster_launcher : public ::testing::Test {
protected:
  void SetUp() override {
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    ::setenv("WARDEN_NODE_COMMAND", FAKE_NODE_BIN, 1);
    ::setenv("FAKE_NODE_STOP_LOG", stop_log().c_str(), 1);
    for (auto var : {"FAKE_NODE_MEMBERS", "FAKE_NODE_VIEW", "FAKE_NODE_NAMES",
                     "FAKE_NODE_NEVER_READY", "WARDEN_CLUSTER_SECRET", "WARDEN_CLUSTER_NAME"})
      ::unsetenv(var);
  }

  std::string cluster_dir() const { return dir.file("cluster"); }
  std::string stop_log() const { return dir.file("stops.log"); }
  std::string cluster_json() const { return cluster_dir() + "/cluster.json"; }

  std::vector<std::string> up_args(int n, std::vector<std::string> extra = {}) {
    ports = free_ports(n);
    std::vector<std::string> args{"cluster",          "up",
                                  "-n",               std::to_string(n),
                                  "--base-port",      std::to_string(ports.base),
                                  "--http-base-port", std::to_string(ports.http),
                                  "--dir",            cluster_dir()};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  /// Waits for "cluster up", then reads cluster.json and tracks its nodes.
  json wait_up(warden_process& p, int n) {
    auto line = "cluster up: " + std::to_string(n) + (n == 1 ? " node" : " nodes");
    EXPECT_TRUE(p.wait_for_output(line, 20s)) << dump(p);
    EXPECT_TRUE(p.wait_for_output("(or Ctrl-C here)", 5s)) << dump(p);  // the last line of up
    auto j = json::parse(read_text(cluster_json()));
    reaper.track(j);
    return j;
  }

  /// The fake nodes' member list for `n` nodes.
  std::string members_env(int n) const {
    std::string out;
    for (int i = 0; i < n; ++i)
      out += (i ? "," : "") + std::string{"n"} + std::to_string(i + 1) + "=127.0.0.1:"
             + std::to_string(ports.base + i);
    return out;
  }

  temp_dir dir;
  node_reaper reaper;  // after dir: destroyed first, before the directory goes
  port_plan ports;
};

} // namespace

TEST_F(cluster_launcher, up_records_the_nodes_waits_until_ready_and_stops_them_in_reverse_order) {
  auto a = dir.write("a.toml", "");
  auto b = dir.write("b.toml", "");
  auto c = dir.write("c.toml", "");
  warden_process p{up_args(3, {"--tree", a, "--tree", b, "--tree", c, "--secret", "s3cret-xyz",
                               "--cluster-name", "itest", "--node-arg=--set",
                               "--node-arg=log.level=debug"})};
  auto j = wait_up(p, 3);

  // cluster.json
  EXPECT_EQ(j["launcher_pid"], p.pid());
  EXPECT_EQ(j["cluster"], "itest");
  ASSERT_EQ(j["nodes"].size(), 3u);
  std::vector<std::string> trees{a, b, c};
  for (int i = 0; i < 3; ++i) {
    auto& n = j["nodes"][i];
    auto name = "n" + std::to_string(i + 1);
    EXPECT_EQ(n["name"], name);
    EXPECT_EQ(n["port"], ports.base + i);
    EXPECT_EQ(n["http_port"], ports.http + i);
    EXPECT_EQ(n["log"], cluster_dir() + "/" + name + ".log");
    EXPECT_TRUE(running(n["pid"]));
    auto argv = n["command"].get<std::vector<std::string>>();
    EXPECT_EQ(cmdline_of(n["pid"]), argv);
    std::vector<std::string> expected{FAKE_NODE_BIN,
                                      "node",
                                      "--name",
                                      name,
                                      "--port",
                                      std::to_string(ports.base + i),
                                      "--http-port",
                                      std::to_string(ports.http + i),
                                      "--seed",
                                      "127.0.0.1:" + std::to_string(ports.base),
                                      "--seed",
                                      "127.0.0.1:" + std::to_string(ports.base + 1),
                                      "--tree",
                                      trees[static_cast<size_t>(i)],
                                      "--log-file",
                                      cluster_dir() + "/" + name + ".log",
                                      "--set",
                                      "log.level=debug"};
    EXPECT_EQ(argv, expected);
    for (auto& arg : argv)
      EXPECT_EQ(arg.find("s3cret"), std::string::npos) << "the secret is on a command line";
    // The node got the name and the secret through its environment; its output is in its log.
    EXPECT_NE(read_text(n["log"]).find("fake node " + name + ": cluster=itest secret_length=10"),
              std::string::npos)
      << read_text(n["log"]);
    // Ready, as the launcher said.
    httplib::Client cli{"127.0.0.1", ports.http + i};
    auto res = cli.Get("/health/ready");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    // The line the launcher printed for it.
    auto line = name + "  node 127.0.0.1:" + std::to_string(ports.base + i) + "  http http://127.0.0.1:"
                + std::to_string(ports.http + i) + "  log " + n["log"].get<std::string>() + "  pid "
                + std::to_string(n["pid"].get<int>());
    EXPECT_NE(p.out().find(line), std::string::npos) << dump(p);
  }
  EXPECT_NE(p.out().find("warden cluster status --dir " + cluster_dir()), std::string::npos);
  EXPECT_NE(p.out().find("warden cluster down --dir " + cluster_dir()), std::string::npos);

  p.signal(SIGTERM);
  ASSERT_EQ(p.wait(30s), 0) << dump(p);
  EXPECT_EQ(read_text(stop_log()), "n3\nn2\nn1\n");
  auto s3 = line_index(p.out(), "stopping n3");
  auto s2 = line_index(p.out(), "stopping n2");
  auto s1 = line_index(p.out(), "stopping n1");
  EXPECT_TRUE(s3 >= 0 && s3 < s2 && s2 < s1) << dump(p);
  EXPECT_NE(p.out().find("n1 stopped (status 0)"), std::string::npos) << dump(p);
  EXPECT_NE(p.out().find("cluster stopped"), std::string::npos) << dump(p);
  EXPECT_FALSE(std::filesystem::exists(cluster_json()));
  for (auto& n : j["nodes"])
    EXPECT_TRUE(wait_gone(n["pid"], 5s));
}

TEST_F(cluster_launcher, status_prints_members_names_and_disagreements_and_down_stops_in_reverse_order) {
  auto args = up_args(3);
  ::setenv("FAKE_NODE_MEMBERS", members_env(3).c_str(), 1);
  ::setenv("FAKE_NODE_VIEW", "n2:n3=unreachable", 1);
  ::setenv("FAKE_NODE_NAMES", "counter=n2,cache=n3", 1);
  warden_process p{args};
  auto j = wait_up(p, 3);

  auto st = run_warden({"cluster", "status", "--dir", cluster_dir()});
  ASSERT_EQ(st.exit_code, 0) << dump_result(st);
  EXPECT_NE(st.out.find("cluster warden in " + cluster_dir() + ": 3 nodes, launcher pid "
                        + std::to_string(p.pid()) + " running"),
            std::string::npos)
    << dump_result(st);
  EXPECT_NE(st.out.find("members as seen by n1:"), std::string::npos) << dump_result(st);
  for (int i = 0; i < 3; ++i) {
    auto row = line_index(st.out, "n" + std::to_string(i + 1) + "    127.0.0.1:"
                                    + std::to_string(ports.base + i) + "  up");
    EXPECT_GE(row, 0) << dump_result(st);
  }
  EXPECT_NE(st.out.find("n2 sees n3 as unreachable (n1: up)"), std::string::npos) << dump_result(st);
  EXPECT_NE(st.out.find("names as seen by n1:"), std::string::npos) << dump_result(st);
  EXPECT_GE(line_index(st.out, "counter  n2"), 0) << dump_result(st);
  EXPECT_GE(line_index(st.out, "cache    n3"), 0) << dump_result(st);

  auto sj = run_warden({"cluster", "status", "--dir", cluster_dir(), "--json"});
  ASSERT_EQ(sj.exit_code, 0) << dump_result(sj);
  auto status = json::parse(sj.out);
  EXPECT_EQ(status["all_answered"], true);
  EXPECT_EQ(status["launcher_running"], true);
  ASSERT_EQ(status["nodes"].size(), 3u);
  EXPECT_EQ(status["nodes"][1]["members"][2]["state"], "unreachable");

  auto down = run_warden({"cluster", "down", "--dir", cluster_dir()}, {}, 70s);
  ASSERT_EQ(down.exit_code, 0) << dump_result(down);
  EXPECT_NE(down.out.find("stopping the launcher (pid " + std::to_string(p.pid()) + ")"),
            std::string::npos)
    << dump_result(down);
  ASSERT_EQ(p.wait(10s), 0) << dump(p);
  EXPECT_EQ(read_text(stop_log()), "n3\nn2\nn1\n");
  EXPECT_FALSE(std::filesystem::exists(cluster_json()));
  for (auto& n : j["nodes"])
    EXPECT_TRUE(wait_gone(n["pid"], 5s));
}

TEST_F(cluster_launcher, the_nodes_die_with_a_launcher_killed_by_sigkill) {
  warden_process p{up_args(3)};
  auto j = wait_up(p, 3);
  std::vector<pid_t> pids;
  for (auto& n : j["nodes"])
    pids.push_back(n["pid"]);
  p.signal(SIGKILL);
  EXPECT_EQ(p.wait(5s), -1);
  for (auto pid : pids)
    EXPECT_TRUE(wait_gone(pid, 5s)) << "node pid " << pid << " outlived the launcher";
  // cluster.json is left behind; `down` sees the launcher is gone and cleans up.
  ASSERT_TRUE(std::filesystem::exists(cluster_json()));
  auto down = run_warden({"cluster", "down", "--dir", cluster_dir()});
  EXPECT_EQ(down.exit_code, 0) << dump_result(down);
  EXPECT_NE(down.out.find("the launcher (pid " + std::to_string(p.pid()) + ") is gone"),
            std::string::npos)
    << dump_result(down);
  EXPECT_EQ(down.out.find("stopping n"), std::string::npos) << dump_result(down);
  EXPECT_FALSE(std::filesystem::exists(cluster_json()));
  // And a new cluster can start in the same directory.
  warden_process again{up_args(1)};
  wait_up(again, 1);
  again.signal(SIGTERM);
  EXPECT_EQ(again.wait(30s), 0) << dump(again);
}

TEST_F(cluster_launcher, a_second_up_in_the_same_directory_is_refused) {
  warden_process first{up_args(2)};
  auto j = wait_up(first, 2);
  auto second = run_warden(up_args(2));
  EXPECT_EQ(second.exit_code, 1) << dump_result(second);
  EXPECT_NE(second.err.find("a cluster is already up in " + cluster_dir() + ", pid "
                            + std::to_string(first.pid())),
            std::string::npos)
    << dump_result(second);
  // The first cluster is untouched.
  EXPECT_EQ(json::parse(read_text(cluster_json()))["launcher_pid"], first.pid());
  for (auto& n : j["nodes"])
    EXPECT_TRUE(running(n["pid"]));
  first.signal(SIGTERM);
  EXPECT_EQ(first.wait(30s), 0) << dump(first);
}

TEST_F(cluster_launcher, a_node_that_fails_to_start_fails_up_with_its_log_tail) {
  auto args = up_args(3);
  port_holder taken{static_cast<uint16_t>(ports.base + 1)};  // n2's node port
  warden_process p{args};
  ASSERT_EQ(p.wait(30s), 1) << dump(p);
  EXPECT_NE(p.err().find("n2 exited (status 1) before it was ready"), std::string::npos) << dump(p);
  EXPECT_NE(p.err().find("cannot bind node port " + std::to_string(ports.base + 1)),
            std::string::npos)
    << dump(p);  // from the tail of n2's log
  EXPECT_NE(p.err().find("the cluster did not come up"), std::string::npos) << dump(p);
  EXPECT_FALSE(std::filesystem::exists(cluster_json()));
  // The others were started and are stopped again, in reverse order (a signal may reach
  // a fake node before it runs its main, so its own stop log is not asserted).
  auto s3 = line_index(p.out(), "n3 stopped (");
  auto s1 = line_index(p.out(), "n1 stopped (");
  EXPECT_TRUE(s3 >= 0 && s3 < s1) << dump(p);
}

TEST_F(cluster_launcher, nodes_not_ready_by_the_deadline_fail_up_with_their_log_tail) {
  ::setenv("FAKE_NODE_NEVER_READY", "n3", 1);
  warden_process p{up_args(3, {"--ready-timeout-ms", "1000"})};
  ASSERT_EQ(p.wait(30s), 1) << dump(p);
  EXPECT_NE(p.err().find("not ready after 1000 ms: n3"), std::string::npos) << dump(p);
  EXPECT_NE(p.err().find("/health/ready answered 503 status=not_ready"), std::string::npos)
    << dump(p);
  EXPECT_NE(p.err().find("| fake node n3 up"), std::string::npos) << dump(p);
  EXPECT_EQ(read_text(stop_log()), "n3\nn2\nn1\n");
  EXPECT_FALSE(std::filesystem::exists(cluster_json()));
}

TEST_F(cluster_launcher, a_node_that_exits_while_up_is_reported_and_the_cluster_keeps_going) {
  warden_process p{up_args(3)};
  auto j = wait_up(p, 3);
  pid_t n2 = j["nodes"][1]["pid"];
  ::kill(n2, SIGKILL);
  EXPECT_TRUE(p.wait_for_output("n2 exited (signal 9 (SIGKILL))", 10s)) << dump(p);
  auto st = run_warden({"cluster", "status", "--dir", cluster_dir()});
  EXPECT_EQ(st.exit_code, 1) << dump_result(st);
  EXPECT_NE(st.out.find("n2: no answer on http://127.0.0.1:" + std::to_string(ports.http + 1)),
            std::string::npos)
    << dump_result(st);
  EXPECT_NE(st.out.find("members as seen by n1:"), std::string::npos) << dump_result(st);
  p.signal(SIGTERM);
  ASSERT_EQ(p.wait(30s), 0) << dump(p);
  EXPECT_EQ(read_text(stop_log()), "n3\nn1\n");
}

TEST_F(cluster_launcher, duration_ms_stops_the_cluster_by_itself) {
  auto r = run_warden(up_args(1, {"--duration-ms", "200"}), {}, 30s);
  ASSERT_EQ(r.exit_code, 0) << dump_result(r);
  EXPECT_NE(r.out.find("cluster up: 1 node"), std::string::npos) << dump_result(r);
  EXPECT_NE(r.out.find("stopping the cluster (duration of 200 ms elapsed)"), std::string::npos)
    << dump_result(r);
  EXPECT_EQ(read_text(stop_log()), "n1\n");
}

TEST_F(cluster_launcher, status_and_down_without_a_cluster_exit_2) {
  auto st = run_warden({"cluster", "status", "--dir", cluster_dir()});
  EXPECT_EQ(st.exit_code, 2) << dump_result(st);
  EXPECT_NE(st.err.find("no cluster in " + cluster_dir()), std::string::npos) << dump_result(st);
  auto down = run_warden({"cluster", "down", "--dir", cluster_dir()});
  EXPECT_EQ(down.exit_code, 2) << dump_result(down);
}

TEST_F(cluster_launcher, bad_arguments_exit_2_before_anything_starts) {
  for (auto extra : std::vector<std::vector<std::string>>{
         {"cluster", "up", "-n", "0"},
         {"cluster", "up", "-n", "3", "--tree", "a.toml", "--tree", "b.toml"},
         {"cluster", "up", "-n", "2", "--base-port", "65535"},
         {"cluster", "up", "-n", "2", "--base-port", "8000", "--http-base-port", "8001"},
         {"cluster", "up"},
       }) {
    extra.insert(extra.end(), {"--dir", cluster_dir()});
    auto r = run_warden(extra);
    EXPECT_EQ(r.exit_code, 2) << dump_result(r);
  }
  EXPECT_FALSE(std::filesystem::exists(cluster_json()));
}

TEST_F(cluster_launcher, a_node_command_that_cannot_run_fails_up) {
  ::setenv("WARDEN_NODE_COMMAND", dir.file("no-such-node").c_str(), 1);
  auto r = run_warden(up_args(1), {}, 30s);
  EXPECT_EQ(r.exit_code, 1) << dump_result(r);
  EXPECT_NE(r.err.find("n1 exited (status 127) before it was ready"), std::string::npos)
    << dump_result(r);
  EXPECT_NE(r.err.find("cannot execute the node command " + dir.file("no-such-node")),
            std::string::npos)
    << dump_result(r);
}

TEST_F(cluster_launcher, down_never_signals_a_process_that_is_not_the_clusters) {
  // The pids cluster.json names belong to a stranger: this test process.
  pid_t me = ::getpid();  // this test process: alive, and certainly not the launcher
  std::filesystem::create_directories(cluster_dir());
  json cluster{{"launcher_pid", me},
               {"launcher_cmdline", {"/usr/bin/warden", "cluster", "up"}},
               {"cluster", "warden"},
               {"nodes",
                {{{"name", "n1"},
                  {"pid", me},
                  {"port", 7101},
                  {"http_port", 8101},
                  {"log", "x"},
                  {"command", {"/usr/bin/warden", "node"}}}}}};
  std::ofstream{cluster_json()} << cluster.dump();
  auto down = run_warden({"cluster", "down", "--dir", cluster_dir()});
  // Still here to assert: nothing signalled this process.
  EXPECT_EQ(down.exit_code, 0) << dump_result(down);
  EXPECT_NE(down.out.find("runs something else now"), std::string::npos) << dump_result(down);
  EXPECT_EQ(down.out.find("stopping"), std::string::npos) << dump_result(down);
}

TEST_F(cluster_launcher, down_stops_the_nodes_of_a_dead_launcher_in_reverse_order) {
  ports = free_ports(2);
  own_node n1{"n1", ports.base, ports.http};
  own_node n2{"n2", static_cast<uint16_t>(ports.base + 1), static_cast<uint16_t>(ports.http + 1)};
  ASSERT_TRUE(n1.wait_ready(10s));
  ASSERT_TRUE(n2.wait_ready(10s));
  warden_process dead{{"cluster", "status", "--dir", dir.file("nowhere")}};
  ASSERT_EQ(dead.wait(10s), 2);  // reaped: its pid names no launcher any more
  std::filesystem::create_directories(cluster_dir());
  auto node = [&](const std::string& name, const own_node& n, int i) {
    return json{{"name", name},
                {"pid", n.pid()},
                {"port", ports.base + i},
                {"http_port", ports.http + i},
                {"log", cluster_dir() + "/" + name + ".log"},
                {"command", n.command()}};
  };
  json cluster{{"launcher_pid", dead.pid()},
               {"launcher_cmdline", {WARDEN_BIN, "cluster", "up", "-n", "2"}},
               {"cluster", "warden"},
               {"nodes", {node("n1", n1, 0), node("n2", n2, 1)}}};
  std::ofstream{cluster_json()} << cluster.dump();
  auto down = run_warden({"cluster", "down", "--dir", cluster_dir()}, {}, 30s);
  ASSERT_EQ(down.exit_code, 0) << dump_result(down);
  EXPECT_NE(down.out.find("the launcher (pid " + std::to_string(dead.pid()) + ") is gone"),
            std::string::npos)
    << dump_result(down);
  EXPECT_NE(down.out.find("n2: stopped"), std::string::npos) << dump_result(down);
  EXPECT_NE(down.out.find("n1: stopped"), std::string::npos) << dump_result(down);
  EXPECT_EQ(read_text(stop_log()), "n2\nn1\n");
  EXPECT_FALSE(std::filesystem::exists(cluster_json()));
}
