// warden_cluster_bench: cross-node round trip and one-way throughput, CAF BASP vs raw TCP
// vs Warden nodes (call by name)
// (the Erlang side is erlang/cluster_bench.erl; tests/perf/run.sh --only cluster runs both).
//
//   warden_cluster_bench [all] [--quick|--smoke] [--runs N] [--variant SPEC]...
//       headline: caf "best", "node", "defaults", tcp "raw", warden "byname",
//       "byname-actor", "resolved", "byname-caf"
//       (--variant replaces the caf ones)
//   warden_cluster_bench matrix [--quick] [--runs N] [--variant SPEC]...
//       the investigation variants (all presets, or only those given)
//   warden_cluster_bench one --target caf|tcp|warden --variant SPEC   one run, for strace/perf
//   warden_cluster_bench report FILE.jsonl...           markdown section to stdout
//   warden_cluster_bench merge FILE.jsonl...            runs of several invocations, merged
//   warden_cluster_bench --serve PORT --target T --variant SPEC   the server role
//   counts: --warmup W --rtt N --oneway M override the mode's.
//
// Results: JSON lines on stdout (workload "cluster"), a table and progress on stderr.
#include "cluster_bench.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>
#include <thread>

#include <unistd.h>

#include <caf/all.hpp>
#include <caf/config.hpp>
#include <caf/defaults.hpp>
#include <caf/io/all.hpp>

#include "bench.hpp"

namespace warden::bench::cluster {

// --- variants ---------------------------------------------------------------------------------

namespace {

const std::vector<std::string>& known_keys() {
  static const std::vector<std::string> keys{"sched",   "threads", "aggr",     "moderate",
                                             "msleep",  "rsleep",  "workers",  "reads",
                                             "nodelay", "echo",    "client",   "lookup",
                                             "timeout", "calls"};
  return keys;
}

variant make(std::string name, std::map<std::string, std::string> settings) {
  return variant{std::move(name), std::move(settings)};
}

} // namespace

std::string variant::spec() const {
  std::string out = name;
  char sep = ':';
  for (auto& [k, v] : settings) {
    out += sep + k + "=" + v;
    sep = ',';
  }
  return out;
}

std::string variant::get(const std::string& key, const std::string& fallback) const {
  auto i = settings.find(key);
  return i == settings.end() ? fallback : i->second;
}

// The presets. "best" is the fastest remote round trip the investigation found
// (FINDINGS.md): no scheduler hop on the receive path (middleman.workers=0) and workers
// that block on their condition variable, where an enqueue from the I/O thread wakes them
// at once, instead of polling with 50 us sleeps (work-stealing.moderate-poll-attempts=0).
// It slows local supervision down (idle workers no longer pick up work another worker
// queued), so "node", the recommended Warden node setting, gets the immediate wake-up
// from the sharing scheduler instead. TCP_NODELAY is in neither: CAF 0.17.6 sets it on
// every socket it manages (event_handler::set_fd_flags).
const std::vector<variant>& presets() {
  using settings = std::map<std::string, std::string>;
  const settings best{{"workers", "0"}, {"moderate", "0"}};
  auto best_and = [&](settings more) {
    more.insert(best.begin(), best.end());
    return more;
  };
  static const std::vector<variant> all{
    make("defaults", {}),
    make("raw", {}),  // the tcp target's only variant
    make("best", best),
    make("node", {{"workers", "0"}, {"sched", "sharing"}}),
    // one change from the defaults each
    make("workers0", {{"workers", "0"}}),
    make("nomoderate", {{"moderate", "0"}}),
    make("sharing", {{"sched", "sharing"}}),
    make("msleep0", {{"msleep", "0"}}),
    make("spin", {{"aggr", "1000000"}}),
    make("threads1", {{"threads", "1"}}),
    make("threads2", {{"threads", "2"}}),
    make("nodelay", {{"nodelay", "1"}}),
    make("reads1", {{"reads", "1"}}),
    make("reads500", {{"reads", "500"}}),
    make("detached", {{"echo", "detached"}}),
    make("actorclient", {{"client", "actor"}}),
    // combinations
    make("w0+msleep0", {{"workers", "0"}, {"msleep", "0"}}),
    make("w0+detached", {{"workers", "0"}, {"echo", "detached"}}),
    make("best+nodelay", best_and({{"nodelay", "1"}})),
    make("best+t1", best_and({{"threads", "1"}})),
    make("best+t2", best_and({{"threads", "2"}})),
    make("best+aggr2k+t1", best_and({{"threads", "1"}, {"aggr", "2000"}})),
    make("best+aggr20k", best_and({{"aggr", "20000"}})),
    make("best+detached", best_and({{"echo", "detached"}})),
    make("best+actorclient", best_and({{"client", "actor"}})),
    make("best+reads500", best_and({{"reads", "500"}})),
    // Where the time goes: the echo actor / the client as brokers, which run on the
    // middleman's I/O thread: no scheduler hop on that side.
    make("best+echobroker", best_and({{"echo", "broker"}})),
    make("best+bothbroker", best_and({{"echo", "broker"}, {"client", "broker"}})),
    // target "warden" only (a node sets its own CAF configuration)
    make("byname", {{"lookup", "name"}}),
    make("resolved", {{"lookup", "once"}}),
    make("byname-actor", {{"lookup", "name"}, {"client", "actor"}}),
    make("byname-caf", {{"lookup", "name"}, {"calls", "caf"}}),
  };
  return all;
}

std::vector<variant> matrix_variants() {
  std::vector<variant> out;
  for (auto& v : presets())
    if (v.name != "raw" && v.settings.count("lookup") == 0)
      out.push_back(v);
  return out;
}

variant parse_variant(const std::string& spec) {
  auto colon = spec.find(':');
  if (colon == std::string::npos) {
    for (auto& v : presets())
      if (v.name == spec)
        return v;
    throw std::invalid_argument("unknown variant '" + spec + "' (a preset or name:key=value,...)");
  }
  variant v;
  v.name = spec.substr(0, colon);
  std::stringstream in{spec.substr(colon + 1)};
  std::string item;
  while (std::getline(in, item, ',')) {
    auto eq = item.find('=');
    if (eq == std::string::npos)
      throw std::invalid_argument("variant setting without '=': " + item);
    auto key = item.substr(0, eq);
    if (std::find(known_keys().begin(), known_keys().end(), key) == known_keys().end())
      throw std::invalid_argument("unknown variant key: " + key);
    v.settings[key] = item.substr(eq + 1);
  }
  return v;
}

void apply(const variant& v, caf::actor_system_config& cfg) {
  cfg.load<caf::io::middleman>();
  auto num = [](const std::string& s) { return static_cast<size_t>(std::stoul(s)); };
  auto us = [](const std::string& s) {
    return caf::timespan{std::chrono::microseconds{std::stol(s)}};
  };
  for (auto& [k, val] : v.settings) {
    if (k == "sched")
      cfg.set("scheduler.policy", caf::atom_from_string(val));
    else if (k == "threads")
      cfg.set("scheduler.max-threads", num(val));
    else if (k == "aggr")
      cfg.set("work-stealing.aggressive-poll-attempts", num(val));
    else if (k == "moderate")
      cfg.set("work-stealing.moderate-poll-attempts", num(val));
    else if (k == "msleep")
      cfg.set("work-stealing.moderate-sleep-duration", us(val));
    else if (k == "rsleep")
      cfg.set("work-stealing.relaxed-sleep-duration", us(val));
    else if (k == "workers")
      cfg.set("middleman.workers", num(val));
    else if (k == "reads")
      cfg.set("middleman.max-consecutive-reads", num(val));
  }
}

nlohmann::json effective_config(const caf::actor_system_config& cfg) {
  namespace d = caf::defaults;
  auto us = [](caf::timespan t) { return static_cast<double>(t.count()) / 1000.0; };
  auto max_tp = caf::get_or(cfg, "scheduler.max-throughput", d::scheduler::max_throughput);
  nlohmann::json j;
  j["scheduler.policy"] =
    caf::to_string(caf::get_or(cfg, "scheduler.policy", d::scheduler::policy));
  j["scheduler.max-threads"] =
    caf::get_or(cfg, "scheduler.max-threads", d::scheduler::max_threads);
  j["scheduler.max-throughput"] = max_tp == std::numeric_limits<size_t>::max()
                                    ? std::string{"infinite"}
                                    : std::to_string(max_tp);
  j["work-stealing.aggressive-poll-attempts"] =
    caf::get_or(cfg, "work-stealing.aggressive-poll-attempts",
                d::work_stealing::aggressive_poll_attempts);
  j["work-stealing.moderate-poll-attempts"] = caf::get_or(
    cfg, "work-stealing.moderate-poll-attempts", d::work_stealing::moderate_poll_attempts);
  j["work-stealing.moderate-sleep-duration-us"] = us(caf::get_or(
    cfg, "work-stealing.moderate-sleep-duration", d::work_stealing::moderate_sleep_duration));
  j["work-stealing.relaxed-sleep-duration-us"] = us(caf::get_or(
    cfg, "work-stealing.relaxed-sleep-duration", d::work_stealing::relaxed_sleep_duration));
  j["middleman.workers"] = caf::get_or(cfg, "middleman.workers", d::middleman::workers);
  j["middleman.max-consecutive-reads"] =
    caf::get_or(cfg, "middleman.max-consecutive-reads", d::middleman::max_consecutive_reads);
  return j;
}

// --- targets ------------------------------------------------------------------------------------

std::vector<std::string> self_server_argv(const std::string& self_exe, const target& t,
                                          const variant& v) {
  return {self_exe, "--serve", "0", "--target", t.name, "--variant", v.spec()};
}

const std::vector<target>& targets() {
  static const std::vector<target> all{
    {"caf", "CAF 0.17.6 BASP: publish / remote_actor, request + response", serve_caf,
     measure_caf, self_server_argv},
    {"tcp", "raw loopback TCP, TCP_NODELAY, blocking ping-pong of 16-byte frames", serve_tcp,
     measure_tcp, self_server_argv},
    {"warden", "Warden nodes: echo registered cluster-wide, cluster_client call by name",
     serve_warden, measure_warden, self_server_argv},
  };
  return all;
}

const target& find_target(const std::string& name) {
  for (auto& t : targets())
    if (t.name == name)
      return t;
  throw std::invalid_argument("unknown target: " + name);
}

} // namespace warden::bench::cluster

// --- the driver ---------------------------------------------------------------------------------

using namespace warden::bench;
using namespace warden::bench::cluster;

namespace {

struct cli {
  std::string cmd = "all";
  mode level = mode::full;
  int runs = 0;
  std::vector<std::string> variants;
  std::string target_name = "caf";
  long serve_port = -1;
  size_t warmup = 0;
  size_t rtt = 0;
  size_t oneway = std::numeric_limits<size_t>::max();
  std::vector<std::string> inputs;
  std::string self_exe;
};

void usage() {
  std::cerr
    << "usage: warden_cluster_bench [all|matrix|one|report|merge] [options]\n"
       "  --quick | --smoke        reduced / tiny counts (default: full)\n"
       "  --runs N                 runs per figure, the median is reported (5; quick 3;"
       " smoke 1)\n"
       "  --variant SPEC           a preset (defaults, best, ...) or name:key=value,...;"
       " repeatable\n"
       "  --target caf|tcp|warden  one: the target\n"
       "  --warmup W --rtt N --oneway M   counts per run\n"
       "  --serve PORT             server role (used by the bench itself)\n"
       "presets:";
  for (auto& v : presets())
    std::cerr << " " << v.spec();
  std::cerr << "\n";
}

std::string self_exe(const char* argv0) {
  char buf[4096];
  auto len = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (len > 0) {
    buf[len] = '\0';
    return buf;
  }
  return argv0;
}

counts counts_of(const cli& c) {
  counts n;
  switch (c.level) {
    case mode::full: n = {2000, 20000, 500000}; break;
    case mode::quick: n = {1000, 10000, 100000}; break;
    case mode::smoke: n = {50, 200, 2000}; break;
  }
  if (c.warmup != 0)
    n.warmup = c.warmup;
  if (c.rtt != 0)
    n.rtt = c.rtt;
  if (c.oneway != std::numeric_limits<size_t>::max())
    n.oneway = c.oneway;
  return n;
}

std::string loadavg() {
  std::ifstream la{"/proc/loadavg"};
  std::string l1, l5, l15;
  la >> l1 >> l5 >> l15;
  return l1 + " " + l5 + " " + l15;
}

metrics metrics_of(sample& s) {
  metrics m;
  std::sort(s.rtt_us.begin(), s.rtt_us.end());
  double sum = 0;
  for (auto x : s.rtt_us)
    sum += x;
  m["rtt_p50_us"] = percentile_sorted(s.rtt_us, 0.5);
  m["rtt_p99_us"] = percentile_sorted(s.rtt_us, 0.99);
  m["rtt_p999_us"] = percentile_sorted(s.rtt_us, 0.999);
  m["rtt_mean_us"] = s.rtt_us.empty() ? 0.0 : sum / static_cast<double>(s.rtt_us.size());
  if (s.rtt_wall_us > 0)
    m["rtt_per_s"] = static_cast<double>(s.rtt_us.size()) / (s.rtt_wall_us / 1e6);
  if (s.rtt_cpu_us > 0 && !s.rtt_us.empty())
    m["rtt_cpu_us"] = s.rtt_cpu_us / static_cast<double>(s.rtt_us.size());
  if (s.oneway_n > 0 && s.oneway_us > 0)
    m["oneway_msgs_per_s"] = static_cast<double>(s.oneway_n) / (s.oneway_us / 1e6);
  return m;
}

struct job {
  const target* t;
  variant v;
  result r;
};

// Every (target, variant) once per run, in an order rotated per run so that drifting
// machine load does not favour one of them; a fresh server process each time.
void run_jobs(std::vector<job>& jobs, const cli& c, const counts& n) {
  for (int run = 0; run < c.runs; ++run) {
    for (size_t j = 0; j < jobs.size(); ++j) {
      auto& jb = jobs[(j + static_cast<size_t>(run)) % jobs.size()];
      note(jb.t->name + " " + jb.v.name + " run " + std::to_string(run + 1) + "/"
           + std::to_string(c.runs));
      server_process srv{jb.t->server_argv(c.self_exe, *jb.t, jb.v)};
      auto s = jb.t->measure(jb.v, {srv.port(), srv.pid()}, n);
      srv.stop();
      jb.r.runs.push_back(metrics_of(s));
      jb.r.config["info"] = s.info;  // the last run's facts (nodelay seen, configs)
    }
  }
  for (auto& jb : jobs)
    emit(jb.r);
}

std::vector<job> make_jobs(const std::vector<std::pair<std::string, variant>>& list,
                           const counts& n, const std::string& group) {
  std::vector<job> jobs;
  for (auto& [tname, v] : list) {
    job jb{&find_target(tname), v, {}};
    jb.r.impl = tname;
    jb.r.workload = "cluster";
    jb.r.kase = v.name;
    jb.r.n = n.rtt;
    jb.r.config["group"] = group;
    jb.r.config["target"] = jb.t->what;
    jb.r.config["variant"] = v.spec();
    jb.r.config["settings"] = v.settings;
    jb.r.config["warmup"] = n.warmup;
    jb.r.config["round_trips"] = n.rtt;
    jb.r.config["oneway_messages"] = n.oneway;
    jobs.push_back(std::move(jb));
  }
  return jobs;
}

void emit_env(const cli& c, const counts& n) {
  result env;
  env.impl = "env";
  env.workload = "cluster";
  env.kase = "env";
  caf::actor_system_config cfg;
  apply(variant{}, cfg);
  env.config["caf_version"] = std::to_string(CAF_VERSION / 10000) + "."
                              + std::to_string((CAF_VERSION / 100) % 100) + "."
                              + std::to_string(CAF_VERSION % 100);
  env.config["caf_defaults"] = effective_config(cfg);
  env.config["mode"] = to_string(c.level);
  env.config["runs"] = c.runs;
  env.config["warmup"] = n.warmup;
  env.config["round_trips"] = n.rtt;
  env.config["oneway_messages"] = n.oneway;
  env.config["hardware_concurrency"] = std::thread::hardware_concurrency();
  env.config["loadavg"] = loadavg();
  env.config["compiler"] = std::string{"g++ "} + __VERSION__;
#ifdef NDEBUG
  env.config["build"] = "release (NDEBUG)";
#else
  env.config["build"] = "assertions on";
#endif
  emit(env);
}

} // namespace

int main(int argc, char** argv) {
  cli c;
  c.self_exe = self_exe(argv[0]);
  try {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argc)
          throw std::invalid_argument(a + " needs a value");
        return argv[++i];
      };
      if (a == "--quick")
        c.level = mode::quick;
      else if (a == "--smoke")
        c.level = mode::smoke;
      else if (a == "--full")
        c.level = mode::full;
      else if (a == "--runs")
        c.runs = std::stoi(value());
      else if (a == "--variant")
        c.variants.push_back(value());
      else if (a == "--target")
        c.target_name = value();
      else if (a == "--serve")
        c.serve_port = std::stol(value());
      else if (a == "--warmup")
        c.warmup = std::stoul(value());
      else if (a == "--rtt")
        c.rtt = std::stoul(value());
      else if (a == "--oneway")
        c.oneway = std::stoul(value());
      else if (a == "-h" || a == "--help") {
        usage();
        return 0;
      } else if (!a.empty() && a[0] != '-' && i == 1)
        c.cmd = a;
      else if (!a.empty() && a[0] != '-' && (c.cmd == "report" || c.cmd == "merge"))
        c.inputs.push_back(a);
      else
        throw std::invalid_argument("unknown argument: " + a);
    }
    if (c.serve_port >= 0) {
      auto v = c.variants.empty() ? parse_variant("defaults") : parse_variant(c.variants[0]);
      auto& t = find_target(c.target_name);
      return t.serve(v, static_cast<uint16_t>(c.serve_port));
    }
    if (c.cmd == "report")
      return run_report(c.inputs);
    if (c.cmd == "merge")
      return run_merge(c.inputs);
    if (c.runs == 0)
      c.runs = c.level == mode::full ? 5 : c.level == mode::quick ? 3 : 1;
    auto n = counts_of(c);
    std::vector<std::pair<std::string, variant>> list;
    std::string group;
    if (c.cmd == "all") {
      group = "headline";
      if (c.variants.empty())
        c.variants = {"best", "node", "defaults"};
      for (auto& s : c.variants)
        list.emplace_back("caf", parse_variant(s));
      list.emplace_back("tcp", parse_variant("raw"));
      list.emplace_back("warden", parse_variant("byname"));
      list.emplace_back("warden", parse_variant("byname-actor"));
      list.emplace_back("warden", parse_variant("resolved"));
      list.emplace_back("warden", parse_variant("byname-caf"));
    } else if (c.cmd == "matrix") {
      group = "matrix";
      if (c.variants.empty())
        for (auto& v : matrix_variants())
          list.emplace_back("caf", v);
      for (auto& s : c.variants)
        list.emplace_back("caf", parse_variant(s));
    } else if (c.cmd == "one") {
      group = "one";
      c.runs = 1;
      list.emplace_back(c.target_name,
                        parse_variant(c.variants.empty() ? "defaults" : c.variants[0]));
    } else {
      throw std::invalid_argument("unknown command: " + c.cmd);
    }
    emit_env(c, n);
    auto jobs = make_jobs(list, n, group);
    run_jobs(jobs, c, n);
    print_table();
  } catch (const std::invalid_argument& e) {
    std::cerr << "warden_cluster_bench: " << e.what() << "\n";
    usage();
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "warden_cluster_bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
