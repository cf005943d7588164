#include "warden/chaos_runner.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <set>
#include <thread>

#include <CLI/CLI.hpp>
#include <caf/all.hpp>
#include <fmt/format.h>

#include "warden/builtin_services.hpp"
#include "warden/chaos_report.hpp"
#include "warden/chaos_scenario.hpp"
#include "warden/cluster_launcher.hpp"
#include "warden/cluster_names.hpp"
#include "warden/errors.hpp"
#include "warden/exit_reasons.hpp"
#include "warden/fault_plan.hpp"
#include "warden/link_proxy.hpp"
#include "warden/node.hpp"
#include "warden/node_process.hpp"
#include "warden/service_catalog.hpp"
#include "warden/tree_file.hpp"

namespace warden::chaos {

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using wall = std::chrono::system_clock;
using json = nlohmann::json;

/// The tool's own member: it sends the workload and reads the ledgers.
constexpr const char* client_name = "chaos";
/// The cluster name of a run's nodes.
constexpr const char* run_cluster_name = "chaos";
/// How often the workload actor looks at what is due.
constexpr auto workload_tick = 10ms;
/// How often the `singleton_copies` check samples the claims (plus every claim's start).
constexpr double claim_sample_ms = 100;
/// How long nodes get to stop (SIGTERM) at the end before SIGKILL.
constexpr auto node_stop_timeout = 10s;
/// Polling interval of the hypothesis checks.
constexpr auto hypothesis_poll = 100ms;

int64_t wall_us(wall::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

/// Wall clock of a log line's "time" ("2026-12-07T02:55:02.030661Z") in microseconds, or
/// nullopt.
std::optional<int64_t> line_time_us(const json& line) {
  auto text = line.value("time", "");
  std::tm tm{};
  auto* rest = ::strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (rest == nullptr)
    return std::nullopt;
  int64_t micros = 0;
  if (*rest == '.') {
    std::string digits;
    for (++rest; *rest >= '0' && *rest <= '9'; ++rest)
      digits += *rest;
    digits.resize(6, '0');
    micros = std::stoll(digits);
  }
  return static_cast<int64_t>(::timegm(&tm)) * 1000000 + micros;
}

/// The short name of a failed call's error: "call_timeout", "node_down", ...
std::string error_name(const caf::error& err) {
  if (err.category() == error_category)
    return to_string(static_cast<errc>(err.code()));
  if (err.category() == caf::atom("system"))
    return caf::to_string(static_cast<caf::sec>(err.code()));
  return describe(err);
}

// --- what the workload calls -------------------------------------------------------------

/// How a service type is called: a ledger stores the request id, a counter counts, an
/// echo (and any unknown type) echoes a string.
enum class call_style : uint8_t { ledger, counter, echo };

/// One instance the workload and the checks call: "ledger", "echo#2".
struct call_target {
  std::string instance;
  std::string service;  ///< the service's cluster name ("echo" for "echo#2")
  call_style style = call_style::echo;
  /// From the tree file; else (an attached cluster) found by the first probe answered.
  bool style_known = true;
};

call_style style_of(const std::string& type) {
  if (type == "ledger")
    return call_style::ledger;
  if (type == "counter")
    return call_style::counter;
  return call_style::echo;
}

/// The instances of `names` (cluster services of `tree`, or plain names when unknown).
std::vector<call_target> targets_of(const std::vector<std::string>& names,
                                    const std::optional<declared_tree>& tree) {
  std::vector<call_target> out;
  for (auto& name : names) {
    const cluster_service* cs = nullptr;
    if (tree)
      for (auto& x : tree->cluster_services)
        if (x.spec.name == name)
          cs = &x;
    if (cs == nullptr) {
      out.push_back({name, name, call_style::echo, tree.has_value()});
      continue;
    }
    std::string type;
    for (auto& d : tree->layout)
      if (d.path.ends_with("/" + cs->spec.id) && std::count(d.path.begin(), d.path.end(), '/') == 1)
        type = d.service;
    if (cs->mode == cluster_mode::singleton)
      out.push_back({name, name, style_of(type), true});
    else
      for (uint32_t i = 0; i < cs->instances; ++i)
        out.push_back({fmt::format("{}#{}", name, i), name, style_of(type), true});
  }
  return out;
}

/// An overload fault's extra requests: `rate_per_s` from `t0` on, round robin over the
/// instances of one service.
struct burst {
  std::vector<call_target> targets;
  double rate_per_s = 0;
  steady::time_point t0;
  int64_t sent = 0;
};

/// Where the workload stands; shared by the workload actor and the runner's thread.
struct workload_state {
  chaos_recorder* rec = nullptr;
  std::vector<call_target> targets;
  double rate_per_s = 0;
  caf::timespan timeout{};
  steady::time_point t0;
  std::atomic<bool> stopping{false};
  std::atomic<bool> finished{false};
  int64_t sent = 0;  // actor only
  int64_t open = 0;  // actor only
  std::mutex bursts_mtx;
  std::map<const scheduled_fault*, burst> bursts;  // the overload faults on now
};

/// Requests due at `elapsed` s at `rate` per s, of which `sent` went already.
int64_t due_now(double elapsed, double rate, int64_t sent) {
  return std::max<int64_t>(0, static_cast<int64_t>(std::floor(elapsed * rate)) - sent);
}

using tick_atom = caf::atom_constant<caf::atom("wChaosTck")>;

/// Sends `rate_per_s` requests per second, round robin over the targets, each with a
/// fresh id, recorded as invoke / ok / fail, and the requests of the overload faults on
/// now. Once `stopping`, sends nothing more and quits when every request is answered or
/// timed out.
caf::behavior workload_actor(caf::event_based_actor* self, std::shared_ptr<workload_state> w) {
  self->send(self, tick_atom::value);
  auto issue = [self, w](const call_target& t) {
    auto id = w->rec->invoke(t.instance, client_name);
    ++w->open;
    auto on_ok = [w, id] {
      w->rec->ok(id);
      --w->open;
    };
    auto on_fail = [self, w, id, name = t.instance](caf::error& err) {
      w->rec->fail(id, error_name(cluster_call_error(self->system(), name, std::move(err))));
      --w->open;
    };
    switch (t.style) {
      case call_style::ledger:
        cluster_request(self, t.instance, w->timeout, builtin::add_atom::value, id)
          .then([on_ok](uint64_t) { on_ok(); }, on_fail);
        break;
      case call_style::counter:
        cluster_request(self, t.instance, w->timeout, builtin::add_atom::value)
          .then([on_ok](int) { on_ok(); }, on_fail);
        break;
      case call_style::echo:
        cluster_request(self, t.instance, w->timeout, fmt::format("chaos {}", id))
          .then([on_ok](const std::string&) { on_ok(); }, on_fail);
        break;
    }
  };
  return {
    [self, w, issue](tick_atom) {
      if (w->stopping) {
        if (w->open == 0) {
          w->finished = true;
          self->quit();
          return;
        }
      } else {
        auto now = steady::now();
        if (!w->targets.empty())
          for (auto n = due_now(std::chrono::duration<double>(now - w->t0).count(),
                                w->rate_per_s, w->sent);
               n > 0; --n)
            issue(w->targets[static_cast<size_t>(w->sent++) % w->targets.size()]);
        std::lock_guard<std::mutex> guard{w->bursts_mtx};
        for (auto& [fault, b] : w->bursts)
          for (auto n = due_now(std::chrono::duration<double>(now - b.t0).count(),
                                b.rate_per_s, b.sent);
               n > 0; --n)
            issue(b.targets[static_cast<size_t>(b.sent++) % b.targets.size()]);
      }
      self->delayed_send(self, workload_tick, tick_atom::value);
    },
  };
}

// --- the cluster under test ----------------------------------------------------------------

/// One node of the run: started by the tool (`proc`), or attached (`proc` null: found by
/// its address, its HTTP port learned from the membership, its PID from its listening
/// socket).
struct node_slot {
  std::string name;
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  uint16_t call_port = 0;
  uint16_t http_port = 0;
  std::unique_ptr<node_process> proc;
  /// Wall µs at which the tool killed or stopped run i (n1.log is run 0, n1.1.log run 1).
  std::vector<int64_t> run_ends_us;
  /// Attached: the process the tool stopped with SIGSTOP (-1: none).
  pid_t paused_pid = -1;
  /// Set while the tool holds the node stopped (read by the claims sampler's thread).
  std::shared_ptr<std::atomic<bool>> paused = std::make_shared<std::atomic<bool>>(false);

  std::string address() const { return fmt::format("{}:{}", host, port); }
};

/// The PID of the local process listening on TCP `port` (from /proc/net/tcp{,6} and the
/// processes' descriptors), or nullopt.
std::optional<pid_t> pid_listening_on(uint16_t port) {
  std::set<std::string> inodes;
  for (auto* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in{table};
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream fields{line};
      std::string slot, local, remote, state, skip, inode;
      fields >> slot >> local >> remote >> state;
      for (int i = 0; i < 5; ++i)
        fields >> skip;  // tx_queue:rx_queue tr:tm->when retrnsmt uid timeout
      fields >> inode;
      auto colon = local.rfind(':');
      if (state == "0A" && colon != std::string::npos
          && std::stoul(local.substr(colon + 1), nullptr, 16) == port)
        inodes.insert("socket:[" + inode + "]");
    }
  }
  if (inodes.empty())
    return std::nullopt;
  std::error_code ec;
  for (auto& proc : std::filesystem::directory_iterator{"/proc", ec}) {
    auto pid_text = proc.path().filename().string();
    if (pid_text.find_first_not_of("0123456789") != std::string::npos)
      continue;
    std::error_code fd_ec;
    for (auto& fd : std::filesystem::directory_iterator{proc.path() / "fd", fd_ec}) {
      std::error_code link_ec;
      auto target = std::filesystem::read_symlink(fd.path(), link_ec).string();
      if (!link_ec && inodes.count(target) > 0)
        return static_cast<pid_t>(std::stol(pid_text));
    }
  }
  return std::nullopt;
}

/// The proxies of one directed link: the node port and the call port.
struct link_pair {
  std::unique_ptr<link_proxy> node;
  std::unique_ptr<link_proxy> calls;
};

/// A "I am running it" claim of one node, from its log.
struct claim {
  std::string key;
  std::string node;
  uint64_t epoch = 0;
  double from_ms = 0;
  double to_ms = 0;
};

std::string random_secret() {
  std::random_device rd;
  std::string out;
  for (int i = 0; i < 32; ++i)
    out += "0123456789abcdef"[rd() % 16];
  return out;
}

class chaos_run {
public:
  chaos_run(chaos_scenario sc, uint64_t seed, std::filesystem::path dir, const run_options& opt)
    : sc_(std::move(sc)), seed_(seed), dir_(std::move(dir)), opt_(opt) {
  }

  ~chaos_run() {
    stop_client();
    for (auto& s : slots_)
      s.proc.reset();  // SIGKILL what still runs
  }

  int run();

private:
  void say(const std::string& text) const {
    if (!opt_.quiet)
      std::cout << "chaos: " << text << std::endl;
  }

  int64_t now_wall_us() const { return wall_us(wall::now()); }
  double run_ms() const {
    return std::chrono::duration<double, std::milli>(steady::now() - t0_).count();
  }

  node_slot& slot(const std::string& name) {
    return *std::find_if(slots_.begin(), slots_.end(),
                         [&](const node_slot& s) { return s.name == name; });
  }

  /// The four proxies between `a` and `b` (both directions, node and call ports).
  std::vector<link_proxy*> link(const std::string& a, const std::string& b) {
    std::vector<link_proxy*> out;
    for (auto key : {std::pair{a, b}, std::pair{b, a}}) {
      auto& lp = links_.at(key);
      out.push_back(lp.node.get());
      out.push_back(lp.calls.get());
    }
    return out;
  }

  bool attached() const { return !sc_.cluster.attach.empty(); }

  bool start_nodes(std::string& why);
  /// Attached: one slot per address (no process is started).
  bool attach_nodes(std::string& why);
  bool start_client(std::string& why);
  void stop_client();

  /// True when `s`'s management port is known (attached: learned from the membership).
  bool knows_http_port(node_slot& s);
  /// GET /cluster/members of a node (null when it does not answer).
  json members_of(node_slot& s);
  /// Node faults on started and attached nodes alike.
  void kill_node(node_slot& s);
  void pause_node(node_slot& s);
  void resume_node(node_slot& s);
  /// kill_service: a child path (with a '/') by POST /tree/fault, a cluster service by the
  /// fault protocol's (quit, kill) to the instance the node runs.
  void kill_service(const scheduled_fault& f);
  /// Attached: samples every node's own registrations (while it holds the lease) until
  /// `stop`: the claims oracle without logs.
  void sample_claims(const std::atomic<bool>& stop);

  /// Every node's view has every node up; `figure` says how many do.
  bool members_up(std::string& figure);
  /// Attached: a name the registry does not hold but whose instances it does ("echo" with
  /// "echo#0", "echo#1", ...) stands for those instances, including any registered since
  /// the last call. True if that added targets.
  bool expand_spread(std::vector<call_target>& targets);
  /// Every hypothesis service answers; `figure` lists those that do not.
  bool services_answer(std::string& figure);
  /// One call to `t` that reads (never adds); true when it answered. A target whose type
  /// is unknown is tried as a ledger, a counter, then an echo: the first that answers is it.
  bool probe(call_target& t, caf::timespan timeout);
  /// Polls the hypothesis until it holds or `until`; records the checks for `phase`.
  bool check_hypothesis(hypothesis_phase phase, steady::time_point until);

  /// An attached cluster's workload types: from the hypothesis's probes, else probed now.
  void learn_workload_styles();
  /// Injects and undoes every fault at its time (since t0_).
  void run_faults(const std::vector<scheduled_fault>& faults);
  void inject(const scheduled_fault& f, std::optional<size_t>& open_fault);
  void undo(const scheduled_fault& f, std::optional<size_t>& open_fault);

  void read_ledgers();
  void stop_nodes();
  /// Adds the nodes' logged events and claims to `run`.
  void collect_logs(chaos_record& run, double end_ms);
  /// p99 of the ok requests invoked in [from, to) against the bound.
  void add_p99_check(hypothesis_phase phase, const chaos_record& run, double from, double to);

  chaos_scenario sc_;
  uint64_t seed_;
  std::filesystem::path dir_;
  run_options opt_;
  std::string secret_ = random_secret();
  std::string cluster_name_ = run_cluster_name;
  std::optional<declared_tree> tree_;
  std::vector<node_slot> slots_;
  std::map<std::pair<std::string, std::string>, link_pair> links_;
  std::unique_ptr<node> client_;
  std::unique_ptr<chaos_recorder> rec_;
  steady::time_point t0_;
  int64_t t0_wall_us_ = 0;
  std::vector<call_target> hypothesis_targets_;
  std::vector<call_target> workload_targets_;
  std::shared_ptr<workload_state> workload_;
};

bool chaos_run::start_nodes(std::string& why) {
  auto program = opt_.node_program;
  if (program.empty())
    if (auto* env = std::getenv(node_command_env); env != nullptr && *env != '\0')
      program = env;
  if (program.empty()) {
    std::error_code ec;
    program = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  }
  auto names = sc_.node_names();
  auto ports = free_ports(3 * names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    node_slot slot;
    slot.name = names[i];
    slot.port = ports[3 * i];
    slot.call_port = ports[3 * i + 1];
    slot.http_port = ports[3 * i + 2];
    slots_.push_back(std::move(slot));
  }
  auto addr = [](uint16_t port) { return fmt::format("127.0.0.1:{}", port); };
  uint64_t proxy_seed = seed_;
  for (auto& a : slots_)
    for (auto& b : slots_)
      if (a.name != b.name)
        links_[{a.name, b.name}] = {
          std::make_unique<link_proxy>("127.0.0.1", b.port, 0, ++proxy_seed),
          std::make_unique<link_proxy>("127.0.0.1", b.call_port, 0, ++proxy_seed)};
  auto node_dir = dir_ / "nodes";
  for (auto& a : slots_) {
    node_process_options o;
    o.name = a.name;
    o.port = a.port;
    o.http_port = a.http_port;
    o.tree = sc_.cluster.tree;
    o.secret = secret_;
    o.cluster = run_cluster_name;
    o.env["WARDEN_DATA_DIR"] = (dir_ / "data").string();
    // Mutations on: kill_service by child path goes through POST /tree/fault.
    o.extra_args = {"--call-port", std::to_string(a.call_port), "--set",
                    "http.allow_mutations=true"};
    for (auto& b : slots_) {
      if (a.name == b.name)
        continue;
      auto& lp = links_.at({a.name, b.name});
      o.seeds.push_back(addr(b.port));
      o.connect_via.push_back(addr(b.port) + "=" + addr(lp.node->port()));
      o.connect_via.push_back(addr(b.call_port) + "=" + addr(lp.calls->port()));
    }
    a.proc = std::make_unique<node_process>(program, std::move(o), node_dir.string());
  }
  try {
    for (auto& a : slots_)
      a.proc->start();
  } catch (const std::exception& e) {
    why = fmt::format("cannot start {}: {}", program, e.what());
    return false;
  }
  deadline dl = std::chrono::milliseconds{opt_.start_timeout_ms};
  for (auto& a : slots_)
    if (!a.proc->wait_ready(dl)) {
      why = fmt::format("{} was not ready within {} ms; its output:\n{}", a.name,
                        opt_.start_timeout_ms, a.proc->output_tail(20));
      return false;
    }
  return true;
}

bool chaos_run::attach_nodes(std::string& why) {
  auto* secret = std::getenv("WARDEN_CLUSTER_SECRET");
  if (secret == nullptr || *secret == '\0') {
    why = "cluster.attach: set WARDEN_CLUSTER_SECRET to the cluster's secret (the tool joins "
          "it as a client member)";
    return false;
  }
  secret_ = secret;
  auto* name = std::getenv("WARDEN_CLUSTER_NAME");
  cluster_name_ = name != nullptr && *name != '\0' ? name : cluster_settings{}.name;
  auto names = sc_.node_names();
  for (size_t i = 0; i < names.size(); ++i) {
    auto ep = endpoint::parse(sc_.cluster.attach[i]);
    if (!ep) {
      why = "cluster.attach: not host:port: " + sc_.cluster.attach[i];
      return false;
    }
    node_slot slot;
    slot.name = names[i];
    slot.host = ep->host;
    slot.port = ep->port;
    slots_.push_back(std::move(slot));
  }
  return true;
}

bool chaos_run::knows_http_port(node_slot& s) {
  if (s.http_port == 0 && client_)  // learned from the membership: member_info::http
    for (auto& row : client_->snapshot()->members)
      if (row.info.address == s.address())
        if (auto ep = endpoint::parse(row.info.http)) {
          s.http_port = ep->port;
          break;
        }
  return s.http_port != 0;
}

json chaos_run::members_of(node_slot& s) {
  if (s.proc)
    return s.proc->members();
  if (!knows_http_port(s))
    return nullptr;
  auto r = http_get_json(s.host, s.http_port, "/cluster/members");
  return r && r->first == 200 ? r->second : json(nullptr);
}

void chaos_run::kill_node(node_slot& s) {
  if (s.proc)
    s.proc->kill9();
  else if (auto pid = pid_listening_on(s.port))
    ::kill(*pid, SIGKILL);
  else
    rec_->add_event(s.name, "fault_missed", {{"why", "no local process listens on " + s.address()}});
  s.run_ends_us.push_back(now_wall_us());
}

void chaos_run::pause_node(node_slot& s) {
  *s.paused = true;
  if (s.proc) {
    s.proc->pause();
  } else if (auto pid = pid_listening_on(s.port)) {
    ::kill(*pid, SIGSTOP);
    s.paused_pid = *pid;
  } else {
    rec_->add_event(s.name, "fault_missed", {{"why", "no local process listens on " + s.address()}});
  }
}

void chaos_run::resume_node(node_slot& s) {
  *s.paused = false;
  if (s.proc)
    s.proc->resume();
  else if (s.paused_pid > 0)
    ::kill(std::exchange(s.paused_pid, -1), SIGCONT);
}

void chaos_run::sample_claims(const std::atomic<bool>& stop) {
  while (!stop) {
    auto t = run_ms();
    std::map<std::string, std::pair<std::vector<std::string>, std::vector<uint64_t>>> by_key;
    for (auto& s : slots_) {
      if (*s.paused)
        continue;  // stopped: it cannot act (nor answer)
      auto members = members_of(s);
      if (!members.is_object() || !members["lease"].value("valid", false))
        continue;  // no lease: its manager stops every copy
      auto names = http_get_json(s.host, s.http_port, "/cluster/names");
      if (!names || names->first != 200 || !names->second["names"].is_array())
        continue;
      auto self = names->second.value("node", "");
      for (auto& n : names->second["names"])
        if (n.value("node", "") == self && n.value("epoch", uint64_t{0}) != 0) {
          auto& [nodes, epochs] = by_key[n.value("name", "")];
          nodes.push_back(s.name);
          epochs.push_back(n.value("epoch", uint64_t{0}));
        }
    }
    for (auto& [key, claim] : by_key)
      rec_->add_sample(key, claim.first, claim.second);
    std::this_thread::sleep_until(t0_ + std::chrono::duration<double, std::milli>(t + claim_sample_ms));
  }
}

bool chaos_run::start_client(std::string& why) {
  node_config cfg;
  cfg.node.name = client_name;
  cfg.node.port = 0;
  cfg.http.enabled = false;
  cfg.cluster.secret = secret_;
  cfg.cluster.name = cluster_name_;
  cfg.cluster.client = true;
  cfg.log.json = true;
  cfg.log.file = (dir_ / "nodes" / "chaos.log").string();
  for (auto& s : slots_)
    cfg.cluster.seeds.push_back(*endpoint::parse(s.address()));
  auto n = node::start(cfg);
  if (!n) {
    why = "the client member did not start: " + describe(n.error());
    return false;
  }
  client_ = std::move(*n);
  return true;
}

void chaos_run::stop_client() {
  if (client_) {
    client_->stop();
    client_.reset();
  }
}

bool chaos_run::members_up(std::string& figure) {
  size_t agree = 0;
  for (auto& s : slots_) {
    auto m = members_of(s);
    size_t up = 0;
    if (m.is_object() && m["members"].is_array())
      for (auto& x : m["members"])
        if (x.value("state", "") == "up" && x.value("name", "") != client_name)
          ++up;
    // A node lists itself among the members.
    if (up >= slots_.size())
      ++agree;
  }
  figure = fmt::format("{}/{} nodes see all {} up", agree, slots_.size(), slots_.size());
  return agree == slots_.size();
}

bool chaos_run::probe(call_target& t, caf::timespan timeout) {
  cluster_client cc{client_->system()};
  auto answers_as = [&](call_style style) {
    switch (style) {
      case call_style::ledger:
        return static_cast<bool>(
          cc.call<std::vector<uint64_t>>(t.instance, timeout, builtin::get_atom::value));
      case call_style::counter:
        return static_cast<bool>(cc.call<int>(t.instance, timeout, builtin::get_atom::value));
      case call_style::echo:
        return static_cast<bool>(
          cc.call<std::string>(t.instance, timeout, std::string{"chaos probe"}));
    }
    return false;
  };
  if (t.style_known)
    return answers_as(t.style);
  for (auto style : {call_style::ledger, call_style::counter, call_style::echo})
    if (answers_as(style)) {
      t.style = style;
      t.style_known = true;
      return true;
    }
  return false;
}

bool chaos_run::expand_spread(std::vector<call_target>& targets) {
  auto snap = client_->snapshot();
  std::set<std::string> have;
  for (auto& t : targets)
    have.insert(t.instance);
  std::vector<call_target> out;
  bool grew = false;
  for (auto& t : targets) {
    // A spread name the registry does not hold, or one of its instances found earlier
    // (probed or not): instances register one by one, so a later poll adds those seen late.
    bool base = !t.style_known && t.instance == t.service && snap->names.count(t.instance) == 0;
    bool instance = t.instance != t.service;
    std::vector<call_target> found;
    if (base || instance)
      for (auto& [name, entry] : snap->names)
        if (name.starts_with(t.service + "#") && have.insert(name).second)
          found.push_back({name, t.service, t.style, false});
    grew = grew || !found.empty();
    if (!base || found.empty())
      out.push_back(t);
    out.insert(out.end(), found.begin(), found.end());
  }
  targets = std::move(out);
  return grew;
}

bool chaos_run::services_answer(std::string& figure) {
  std::vector<std::string> silent;
  for (auto& t : hypothesis_targets_)
    if (!probe(t, sc_.workload.timeout))
      silent.push_back(t.instance);
  auto n = hypothesis_targets_.size();
  figure = fmt::format("{}/{} answer", n - silent.size(), n);
  if (!silent.empty())
    figure += fmt::format(" (silent: {})", fmt::join(silent, ", "));
  return silent.empty();
}

bool chaos_run::check_hypothesis(hypothesis_phase phase, steady::time_point until) {
  bool want_members = sc_.hypothesis.all_members_up;
  bool want_services = !hypothesis_targets_.empty();
  std::string members_figure = "not checked", services_figure = "not checked";
  bool members_ok = !want_members, services_ok = !want_services;
  for (;;) {
    // Attached: the hypothesis holds only once a poll found no new spread instance.
    bool grew = false;
    if (attached() && phase == hypothesis_phase::before) {
      grew = expand_spread(hypothesis_targets_);
      grew = expand_spread(workload_targets_) || grew;
    }
    if (want_members)
      members_ok = members_up(members_figure);
    if (want_services && members_ok)
      services_ok = services_answer(services_figure);
    if ((members_ok && services_ok && !grew) || steady::now() >= until)
      break;
    std::this_thread::sleep_for(hypothesis_poll);
  }
  if (want_members)
    rec_->add_check(phase, "all_members_up", members_ok, members_figure);
  if (want_services)
    rec_->add_check(phase, "services_answer", services_ok, services_figure);
  if (!want_members && !want_services)
    rec_->add_check(phase, "nothing_to_check", true, "no hypothesis declared");
  return members_ok && services_ok;
}

void chaos_run::inject(const scheduled_fault& f, std::optional<size_t>& open_fault) {
  auto report = to_report_fault(f);
  say(fmt::format("{:8.1f} s  {} {}", run_ms() / 1000, report.name, report.target));
  // A fault lasts until the tool undoes it (a kill until its restart), else one instant.
  if (report.end_ms > report.start_ms)
    open_fault = rec_->fault_started(report.name, report.target);
  else
    rec_->instant_fault(report.name, report.target);
  switch (f.kind) {
    case fault_kind::kill_node:
      kill_node(slot(f.nodes[0]));
      break;
    case fault_kind::pause_node:
      pause_node(slot(f.nodes[0]));
      break;
    case fault_kind::partition:
      for (size_t i = 0; i < f.groups.size(); ++i)
        for (size_t j = i + 1; j < f.groups.size(); ++j)
          for (auto& a : f.groups[i])
            for (auto& b : f.groups[j])
              for (auto* p : link(a, b))
                p->cut();
      break;
    case fault_kind::cut_link:
      for (auto* p : link(f.nodes[0], f.nodes[1]))
        p->cut();
      break;
    case fault_kind::latency:
      for (auto* p : link(f.nodes[0], f.nodes[1]))
        p->set_delay(std::chrono::milliseconds{static_cast<int64_t>(f.ms)});
      break;
    case fault_kind::jitter:
      for (auto* p : link(f.nodes[0], f.nodes[1]))
        p->set_jitter(std::chrono::milliseconds{static_cast<int64_t>(f.ms)});
      break;
    case fault_kind::loss:
      for (auto* p : link(f.nodes[0], f.nodes[1]))
        p->set_loss(f.probability);
      break;
    case fault_kind::reset:
      for (auto* p : link(f.nodes[0], f.nodes[1]))
        p->reset_connections();
      break;
    case fault_kind::kill_service:
      kill_service(f);
      break;
    case fault_kind::overload: {
      std::lock_guard<std::mutex> guard{workload_->bursts_mtx};
      workload_->bursts[&f] = burst{targets_of({f.service}, tree_), f.rate_per_s, steady::now()};
      break;
    }
  }
}

void chaos_run::kill_service(const scheduled_fault& f) {
  auto missed = [&](const std::string& service, const std::string& why) {
    rec_->add_event(f.nodes[0], "kill_service_missed", {{"service", service}, {"why", why}});
  };
  if (f.service.find('/') != std::string::npos) {
    // A child path: an untrappable exit signal through the node's management endpoint,
    // so any service can be killed, cooperating or not.
    auto& s = slot(f.nodes[0]);
    if (!knows_http_port(s))
      return missed(f.service, "the node's management endpoint is unknown");
    auto r = http_post_json(s.host, s.http_port, "/tree/fault",
                            {{"path", f.service}, {"action", "kill"}});
    if (!r)
      return missed(f.service, "the node's management endpoint did not answer");
    if (r->first != 200) {
      auto& why = r->second;
      return missed(f.service, why.is_object() ? why.value("message", why.dump()) : why.dump());
    }
    return;
  }
  // A cluster service: the instance the node runs, by the client's registry.
  auto snap = client_->snapshot();
  std::string victim;
  for (auto& [name, entry] : snap->names)
    if ((name == f.service || name.starts_with(f.service + "#"))
        && entry.owner.name == f.nodes[0])
      victim = name;
  if (victim.empty())
    return missed(f.service, "not registered on this node");
  cluster_client cc{client_->system()};
  auto kill = caf::make_error(caf::exit_reason::kill);
  if (auto err = cc.send(victim, builtin::quit_atom::value, kill))
    missed(victim, describe(err));
}

void chaos_run::undo(const scheduled_fault& f, std::optional<size_t>& open_fault) {
  switch (f.kind) {
    case fault_kind::kill_node: {
      auto& s = slot(f.nodes[0]);
      s.proc->start();
      rec_->add_event(s.name, "node_restarted", {{"by", client_name}});
      break;
    }
    case fault_kind::pause_node:
      resume_node(slot(f.nodes[0]));
      break;
    case fault_kind::partition:
      for (auto& [key, lp] : links_) {
        lp.node->restore();
        lp.calls->restore();
      }
      break;
    case fault_kind::overload: {
      std::lock_guard<std::mutex> guard{workload_->bursts_mtx};
      workload_->bursts.erase(&f);
      break;
    }
    default:
      for (auto* p : link(f.nodes[0], f.nodes[1]))
        p->restore();
      break;
  }
  say(fmt::format("{:8.1f} s  end of {} {}", run_ms() / 1000, to_string(f.kind),
                  f.target_text()));
  if (open_fault) {
    rec_->fault_ended(*open_fault);
    open_fault.reset();
  }
}

void chaos_run::learn_workload_styles() {
  for (auto& t : workload_targets_)
    for (auto& h : hypothesis_targets_)
      if (!t.style_known && h.style_known && h.instance == t.instance) {
        t.style = h.style;
        t.style_known = true;
      }
  for (auto& t : workload_targets_)
    if (!t.style_known)
      probe(t, sc_.workload.timeout);
}

void chaos_run::run_faults(const std::vector<scheduled_fault>& faults) {
  // Undo before inject at the same instant (two windows never share a node).
  struct action {
    int64_t at_ms;
    bool undo;
    size_t fault;
  };
  std::vector<action> actions;
  for (size_t i = 0; i < faults.size(); ++i) {
    actions.push_back({faults[i].start_ms, false, i});
    if (!is_instant(faults[i].kind) || faults[i].restart)
      actions.push_back({faults[i].end_ms, true, i});
  }
  std::stable_sort(actions.begin(), actions.end(), [](const action& a, const action& b) {
    return a.at_ms != b.at_ms ? a.at_ms < b.at_ms : a.undo > b.undo;
  });
  std::vector<std::optional<size_t>> open_faults(faults.size());
  for (auto& a : actions) {
    std::this_thread::sleep_until(t0_ + std::chrono::milliseconds{a.at_ms});
    if (a.undo)
      undo(faults[a.fault], open_faults[a.fault]);
    else
      inject(faults[a.fault], open_faults[a.fault]);
  }
}

void chaos_run::read_ledgers() {
  cluster_client cc{client_->system()};
  auto until = steady::now() + sc_.hypothesis.settle;
  for (auto& t : workload_targets_) {
    if (t.style != call_style::ledger)
      continue;
    for (;;) {
      auto ids = cc.call<std::vector<uint64_t>>(t.instance, sc_.workload.timeout,
                                                builtin::get_atom::value);
      if (ids) {
        rec_->set_final_read(t.instance, {ids->begin(), ids->end()});
        break;
      }
      if (steady::now() >= until) {
        rec_->add_event(client_name, "final_read_failed",
                        {{"service", t.instance}, {"error", error_name(ids.error())}});
        break;
      }
      std::this_thread::sleep_for(hypothesis_poll);
    }
  }
}

void chaos_run::stop_nodes() {
  for (auto& s : slots_)
    if (s.proc && s.proc->running())
      ::kill(s.proc->pid(), SIGTERM);
  deadline dl = node_stop_timeout;
  for (auto& s : slots_)
    if (s.proc && s.proc->running()) {
      s.proc->terminate(dl);
      s.run_ends_us.push_back(now_wall_us());
    }
}

void chaos_run::collect_logs(chaos_record& run, double end_ms) {
  static const std::set<std::string> membership{"node_up",          "node_joining",
                                                "node_unreachable", "node_reachable",
                                                "node_down",        "node_removed"};
  auto to_run_ms = [this](int64_t us) { return static_cast<double>(us - t0_wall_us_) / 1000; };
  // The lane of a member named in a membership line: by its address (an attached node's
  // own name may differ from n1..nN); not one of the run's nodes (the client): none.
  auto lane_of = [this](const json& line) -> std::string {
    auto address = line.value("address", "");
    for (auto& s : slots_)
      if (s.address() == address)
        return s.name;
    return {};
  };
  std::vector<claim> claims;
  // Reads one run's log; `claims_to`: where its node's claims end if still open at the end.
  auto read_log = [&](const std::string& path, const std::string& observer,
                      std::optional<double> claims_to) {
    std::ifstream in{path};
    std::map<std::string, claim> open;  // by key
    std::string text;
    while (std::getline(in, text)) {
      auto line = json::parse(text, nullptr, false);
      if (!line.is_object() || !line.contains("event"))
        continue;
      auto us = line_time_us(line);
      if (!us)
        continue;
      auto t = to_run_ms(*us);
      auto name = line.value("event", "");
      if (name == "cluster_service_started") {
        auto key = line.value("name", "");
        open[key] = {key, observer, line.value("epoch", uint64_t{0}), t, t};
      } else if (name == "cluster_service_stopped") {
        if (auto i = open.find(line.value("name", "")); i != open.end()) {
          i->second.to_ms = t;
          if (line.contains("lease_ended_us"))
            i->second.to_ms = std::min(t, to_run_ms(line.value("lease_ended_us", *us)));
          claims.push_back(i->second);
          open.erase(i);
        }
      }
      if (t < 0 || t > end_ms)
        continue;
      auto lane = observer;
      json detail = line;
      for (auto field : {"event", "time", "node"})
        detail.erase(field);
      if (membership.count(name) > 0) {
        lane = lane_of(line);
        if (lane.empty())
          continue;
        detail["observer"] = observer;
      }
      run.events.push_back({t, lane, name, std::move(detail)});
    }
    if (claims_to)
      for (auto& [key, c] : open) {
        c.to_ms = *claims_to;
        claims.push_back(c);
      }
  };
  for (auto& s : slots_) {
    if (!s.proc)
      continue;
    auto paths = s.proc->log_paths();
    for (size_t r = 0; r < paths.size(); ++r)  // still running when killed or stopped
      read_log(paths[r], s.name,
               r < s.run_ends_us.size() ? to_run_ms(s.run_ends_us[r]) : end_ms);
  }
  if (attached()) {
    // No node logs: membership as the client saw it; claims were sampled during the run.
    read_log((dir_ / "nodes" / "chaos.log").string(), client_name, std::nullopt);
    return;
  }
  std::stable_sort(run.events.begin(), run.events.end(),
                   [](const event& a, const event& b) { return a.time_ms < b.time_ms; });
  // Sample who claims each key: at every claim's start and every claim_sample_ms.
  std::set<std::string> keys;
  std::set<double> instants;
  for (auto& c : claims) {
    keys.insert(c.key);
    if (c.from_ms >= 0 && c.from_ms <= end_ms)
      instants.insert(c.from_ms);
  }
  for (double t = 0; t <= end_ms; t += claim_sample_ms)
    instants.insert(t);
  for (auto t : instants)
    for (auto& key : keys) {
      copies_sample sample{t, key, {}, {}};
      for (auto& c : claims)
        if (c.key == key && c.from_ms <= t && t < c.to_ms) {
          sample.nodes.push_back(c.node);
          sample.epochs.push_back(c.epoch);
        }
      if (!sample.nodes.empty())
        run.copies.push_back(std::move(sample));
    }
}

void chaos_run::add_p99_check(hypothesis_phase phase, const chaos_record& run, double from,
                              double to) {
  std::vector<double> xs;
  for (auto& op : run.history)
    if (op.kind == op_kind::ok && op.time - op.latency_ms >= from && op.time - op.latency_ms < to)
      xs.push_back(op.latency_ms);
  if (xs.empty()) {
    rec_->add_check(phase, "p99_under_bound", true,
                    fmt::format("no requests in {:.0f}..{:.0f} ms", from, to));
    return;
  }
  std::sort(xs.begin(), xs.end());
  auto p99 = percentile(xs, 99);
  rec_->add_check(phase, "p99_under_bound", p99 <= *sc_.hypothesis.p99_ms,
                  fmt::format("p99 {:.1f} ms <= {:.1f} ms ({} requests, {:.0f}..{:.0f} ms)", p99,
                              *sc_.hypothesis.p99_ms, xs.size(), from, to));
}

int chaos_run::run() {
  std::error_code ec;
  std::filesystem::create_directories(dir_ / "nodes", ec);
  std::filesystem::create_directories(dir_ / "data", ec);
  if (ec) {
    std::cerr << "warden chaos: " << dir_.string() << ": " << ec.message() << "\n";
    return exit_run_failed;
  }
  if (!sc_.cluster.tree.empty()) {
    service_catalog catalog;
    add_builtin_services(catalog);
    if (auto t = load_tree_file(sc_.cluster.tree, catalog))
      tree_ = std::move(*t);
    else {
      std::cerr << "warden chaos: " << config_error_text(t.error()) << "\n";
      return exit_bad_scenario;
    }
  }
  hypothesis_targets_ = targets_of(sc_.hypothesis.services, tree_);
  workload_targets_ = targets_of(sc_.workload.services, tree_);
  auto faults = expand_faults(sc_, seed_);
  // An overload's service must be a cluster service of the tree the nodes run.
  for (auto& f : faults)
    if (tree_ && f.kind == fault_kind::overload
        && std::none_of(tree_->cluster_services.begin(), tree_->cluster_services.end(),
                        [&](auto& cs) { return cs.spec.name == f.service; })) {
      std::cerr << fmt::format("warden chaos: {}: overload at {} ms: service \"{}\" is not a "
                               "cluster service of {}\n",
                               opt_.scenario_file, f.start_ms, f.service, sc_.cluster.tree);
      return exit_bad_scenario;
    }
  // A kill_service child path must name a child of the tree the nodes run.
  for (auto& f : faults)
    if (tree_ && f.kind == fault_kind::kill_service && f.service.find('/') != std::string::npos) {
      std::vector<warden::fault> probe{{.path = f.service,
                                .action = fault_action::kill,
                                .path_source = fmt::format("{}: kill_service at {} ms: service",
                                                           opt_.scenario_file, f.start_ms)}};
      if (auto err = resolve_fault_paths(probe, *tree_)) {
        std::cerr << "warden chaos: " << config_error_text(err) << "\n";
        return exit_bad_scenario;
      }
    }
  say(fmt::format("{}: seed {}, {} nodes, {} faults, {:.1f} s; results in {}", sc_.name, seed_,
                  sc_.cluster.nodes, faults.size(), sc_.duration_ms / 1000.0, dir_.string()));

  std::string why;
  if (!(attached() ? attach_nodes(why) : start_nodes(why)) || !start_client(why)) {
    std::cerr << "warden chaos: " << why << "\n";
    return exit_run_failed;
  }
  t0_ = steady::now();
  t0_wall_us_ = now_wall_us();
  rec_ = std::make_unique<chaos_recorder>(sc_.name, seed_, [this] { return run_ms(); });
  for (auto& s : slots_)
    rec_->add_node(s.name);
  rec_->set_rerun(fmt::format("warden chaos {} --seed {}", opt_.scenario_file, seed_));

  say("waiting for the steady state");
  bool steady_before = check_hypothesis(
    hypothesis_phase::before, steady::now() + std::chrono::milliseconds{opt_.start_timeout_ms});
  // The run's clock starts in the steady state: fault times count from here.
  t0_ = steady::now();
  t0_wall_us_ = now_wall_us();
  if (!steady_before)
    say("the steady state does not hold: no faults are injected");
  if (steady_before)
    learn_workload_styles();
  // Attached nodes leave no logs here: sample their claims while the run goes.
  std::atomic<bool> stop_sampling{false};
  std::thread sampler;
  if (attached() && steady_before) {
    for (auto& s : slots_)
      members_of(s);  // learns the HTTP ports before the sampler's thread reads them
    sampler = std::thread{[this, &stop_sampling] { sample_claims(stop_sampling); }};
  }

  workload_ = std::make_shared<workload_state>();
  workload_->rec = rec_.get();
  workload_->targets = workload_targets_;
  workload_->rate_per_s = sc_.workload.rate_per_s;
  workload_->timeout = sc_.workload.timeout;
  workload_->t0 = t0_;
  bool overloads = std::any_of(faults.begin(), faults.end(),
                               [](auto& f) { return f.kind == fault_kind::overload; });
  if (steady_before && (!workload_targets_.empty() || overloads))
    client_->system().spawn(workload_actor, workload_);
  else
    workload_->finished = true;

  if (steady_before) {
    run_faults(faults);
    std::this_thread::sleep_until(t0_ + std::chrono::milliseconds{sc_.duration_ms});
  }

  // After: the workload keeps running while the system settles.
  if (steady_before) {
    say("checking the steady state again");
    check_hypothesis(hypothesis_phase::after, steady::now() + sc_.hypothesis.settle);
  }
  workload_->stopping = true;
  auto workload_deadline = steady::now() + sc_.workload.timeout + 2s;
  while (!workload_->finished && steady::now() < workload_deadline)
    std::this_thread::sleep_for(workload_tick);
  double end_ms = run_ms();
  stop_sampling = true;
  if (sampler.joinable())
    sampler.join();
  if (steady_before)
    read_ledgers();

  if (sc_.hypothesis.p99_ms) {
    auto so_far = rec_->finish();
    double first_fault = faults.empty() ? end_ms : static_cast<double>(faults.front().start_ms);
    double last_end = 0;
    for (auto& f : faults)
      last_end = std::max(last_end, static_cast<double>(f.end_ms));
    double settled = last_end + static_cast<double>(sc_.bounds.max_recovery.count());
    add_p99_check(hypothesis_phase::before, so_far, 0, first_fault);
    if (steady_before)
      add_p99_check(hypothesis_phase::after, so_far, settled, end_ms);
  }

  say("stopping the cluster");
  stop_client();
  stop_nodes();
  auto record = rec_->finish();
  record.duration_ms = end_ms;
  collect_logs(record, end_ms);
  auto verdict = evaluate(record, sc_.bounds);
  if (auto err = write_chaos_results(dir_, record, verdict)) {
    std::cerr << "warden chaos: " << *err << "\n";
    return exit_run_failed;
  }
  std::cout << summary_text(record, verdict);
  std::cout << "results: " << dir_.string() << "\n";
  return verdict.ok ? exit_valid : exit_invalid;
}

} // namespace

int run_chaos(const run_options& opt) {
  auto sc = load_chaos_scenario(opt.scenario_file);
  if (!sc) {
    std::cerr << "warden chaos: " << config_error_text(sc.error()) << "\n";
    return exit_bad_scenario;
  }
  auto seed = opt.seed ? *opt.seed
              : sc->seed ? *sc->seed
                         : std::random_device{}() % (uint64_t{1} << 31);
  auto dir = opt.out_dir.empty()
               ? std::filesystem::path{".warden/chaos"}
                   / fmt::format("{}-{}",
                                 std::filesystem::path{opt.scenario_file}.stem().string(), seed)
               : std::filesystem::path{opt.out_dir};
  // Node processes die with this one (PR_SET_PDEATHSIG); a broken pipe on stdout must not
  // end the run before they are stopped and the report is written.
  ::signal(SIGPIPE, SIG_IGN);
  chaos_run r{std::move(*sc), seed, dir, opt};
  return r.run();
}

void add_chaos_command(CLI::App& app) {
  auto opt = std::make_shared<run_options>();
  auto* cmd = app.add_subcommand(
    "chaos", "Run a chaos scenario against a local cluster; the exit code is the verdict");
  cmd->add_option("scenario", opt->scenario_file, "The scenario file (docs/chaos.md)")
    ->required();
  cmd->add_option("--seed", opt->seed, "Seed of the run (overrides the scenario's)");
  cmd->add_option("--out", opt->out_dir,
                  "Run directory (default .warden/chaos/<scenario>-<seed>)");
  cmd->add_option("--start-timeout-ms", opt->start_timeout_ms,
                  "Nodes ready and steady state reached within this")
    ->capture_default_str();
  cmd->add_flag("--quiet", opt->quiet, "Print only the summary");
  cmd->callback([opt] {
    std::cout.flush();
    std::exit(run_chaos(*opt));
  });
}

} // namespace warden::chaos
