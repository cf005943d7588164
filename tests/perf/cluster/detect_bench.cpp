// warden_detect_bench: how fast a `warden node` notices that its peer crashed or hung, on
// an idle machine and with every core busy, and whether a busy machine makes it suspect a
// live peer (issue 3: "crash detection and hang detection time, p50/p99 over 20 runs, with
// the settings used").
//
//   warden_detect_bench [all] [--quick|--smoke] [--runs N] [--soak-seconds S]
//                       [--only crash,hang,soak] [--load idle,busy] [--busy K]
//                       [--heartbeat-ms H] [--threshold T] [--pause-ms P] [--min-std-ms D]
//                       [--stable-after-ms A] [--settle-ms W] [--crash-settle-ms W]
//                       [--warden PATH] [--keep]
//   warden_detect_bench report FILE.jsonl...     markdown section to stdout
//
// Every run starts a fresh pair of nodes n1, n2 (`warden node --json --log-file`, seeded at
// each other, on 127.0.0.1), waits until both logged node_up for the other, lets the
// failure detector warm up (--settle-ms), then injects the fault into n2 and reads n1's log:
// - crash: SIGKILL n2; n1 sees the connection close (node_unreachable "connection lost"),
//   probes n2's port, is refused: detection = "time" of n1's {"event":"node_down",
//   "peer":"n2","reason":"process gone"} minus the wall clock just before kill(2).
// - hang: SIGSTOP n2; detection = time of n1's node_unreachable for n2 minus the wall clock
//   at the stop. Then SIGCONT; recovery = time of n1's node_reachable minus the wall clock
//   at the continue; then --post-ms of watching that neither node suspects the other.
// - soak (busy only): a pair runs for --soak-seconds with every core busy; counts every
//   node_unreachable / node_down either node logs, and samples the highest phi via HTTP.
// Busy load: --busy K processes (default 2 = both cores here) spinning at normal priority,
// forked by the bench before the nodes start, killed by PID and reaped after the case.
//
// Results: JSON lines on stdout (workload "detect", one record per case, every run in
// "per_run", p50/p90/p99/max in "summary"), progress and the markdown on stderr.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench.hpp"
#include "support/node_cluster.hpp"
#include "warden/failure_detector.hpp"

#ifndef WARDEN_BIN
#define WARDEN_BIN "warden"
#endif

namespace warden::bench::detect {

namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using steady = std::chrono::steady_clock;
using wall = std::chrono::system_clock;
using test::deadline;
using test::node_process;

// --- settings ----------------------------------------------------------------------------------

/// Everything a run depends on; printed with the results. Defaults are the node defaults
/// (docs/node-config.md) and the counts of issue 3.
struct settings {
  std::string cmd = "all";
  mode level = mode::full;
  int runs = 0;                 ///< 0: 20 (quick 5, smoke 1)
  int soak_seconds = -1;        ///< -1: 60 (quick 20, smoke 3)
  std::vector<std::string> only{"crash", "hang", "soak"};
  std::vector<std::string> loads{"idle", "busy"};
  int busy = 2;                 ///< spinning processes in the busy variant
  int heartbeat_ms = 200;       ///< failure_detector.heartbeat_interval_ms
  double threshold = 8.0;       ///< failure_detector.threshold
  int pause_ms = 800;           ///< failure_detector.acceptable_pause_ms
  int min_std_ms = 100;         ///< failure_detector.min_std_deviation_ms
  int first_estimate_ms = 500;  ///< failure_detector.first_heartbeat_estimate_ms (not a flag)
  /// cluster.stable_after_ms. Above the node default (1000) on purpose: in a pair, n1 (if
  /// it holds the smaller address, its side wins) would down the paused n2 stable_after
  /// after node_unreachable; the hang case resumes n2 right after that event and measures
  /// node_reachable, which a downing in between would turn into a quarantined rejoin.
  /// Detection times do not depend on it.
  int stable_after_ms = 5000;
  /// Warm-up between "both up" and the hang: the detector's window starts with two seeded
  /// intervals (first_heartbeat_estimate +/- 25 %) that dilute away only with real ones;
  /// after 5 s (~25 heartbeats) the std floor applies and detection is within ~30 ms of
  /// the steady state.
  int settle_ms = 5000;
  /// Crash detection does not use the detector (the connection closes): a short warm-up.
  int crash_settle_ms = 1000;
  /// After node_reachable: watch this long that neither node suspects the other.
  int post_ms = 1000;
  std::string warden_bin = WARDEN_BIN;
  bool keep = false;
  std::vector<std::string> inputs;
};

bool wanted(const std::vector<std::string>& xs, const std::string& x) {
  return std::find(xs.begin(), xs.end(), x) != xs.end();
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in{s};
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty())
      out.push_back(item);
  return out;
}

std::string fmt_number(double x) {
  std::ostringstream out;
  out << x;
  return out.str();
}

/// The detector settings as `warden node` flags: passed explicitly, so the numbers
/// reported are the ones in force even if the node defaults change.
std::vector<std::string> detector_args(const settings& s) {
  return {"--set", "failure_detector.heartbeat_interval_ms=" + std::to_string(s.heartbeat_ms),
          "--set", "failure_detector.threshold=" + fmt_number(s.threshold),
          "--set", "failure_detector.acceptable_pause_ms=" + std::to_string(s.pause_ms),
          "--set", "failure_detector.min_std_deviation_ms=" + std::to_string(s.min_std_ms),
          "--set",
          "failure_detector.first_heartbeat_estimate_ms=" + std::to_string(s.first_estimate_ms),
          "--set", "cluster.stable_after_ms=" + std::to_string(s.stable_after_ms)};
}

json settings_json(const settings& s) {
  return {{"heartbeat_interval_ms", s.heartbeat_ms},
          {"threshold", s.threshold},
          {"acceptable_pause_ms", s.pause_ms},
          {"min_std_deviation_ms", s.min_std_ms},
          {"first_heartbeat_estimate_ms", s.first_estimate_ms},
          {"history_size", 100},
          {"stable_after_ms", s.stable_after_ms},
          {"settle_ms", s.settle_ms},
          {"crash_settle_ms", s.crash_settle_ms},
          {"post_ms", s.post_ms},
          {"busy_processes", s.busy},
          {"nodes", "fresh n1 + n2 per run"}};
}

/// Model of the hang detection time: the phi detector fed like n1's detector of n2 during
/// the warm-up (seeds, then one heartbeat every interval), then silent. Returns the time
/// after the last heartbeat at which phi reaches the threshold. The measured time from
/// SIGSTOP is this minus the age of the last heartbeat at the stop (0..interval) plus the
/// wait for the agent's next check (0..interval/2).
double model_detection_ms(const settings& s, int settle_ms) {
  phi_settings ps;
  ps.threshold = s.threshold;
  ps.acceptable_pause = milliseconds{s.pause_ms};
  ps.min_std_deviation = milliseconds{s.min_std_ms};
  ps.first_heartbeat_estimate = milliseconds{s.first_estimate_ms};
  phi_accrual_detector fd{ps};
  auto t = phi_accrual_detector::time_point{} + std::chrono::hours{1};
  auto hb = milliseconds{s.heartbeat_ms};
  for (int elapsed = 0; elapsed <= settle_ms; elapsed += s.heartbeat_ms, t += hb)
    fd.heartbeat(t);
  auto last = t - hb;
  double lo = 0;
  double hi = 60000;
  for (int i = 0; i < 60; ++i) {
    auto mid = (lo + hi) / 2;
    auto at = last + std::chrono::duration_cast<steady::duration>(fractional_ms{mid});
    (fd.available(at) ? lo : hi) = mid;
  }
  return hi;
}

/// The heartbeat silence that a sampled `phi` implies, taking the window's mean as one
/// interval and its deviation as the floor: a lower bound (a wider or slower window needs a
/// longer silence for the same phi). phi itself is logarithmic and hides how close it came.
double silence_lower_bound_ms(const settings& s, double phi) {
  if (phi <= 0)
    return 0;
  double mean = s.heartbeat_ms + s.pause_ms;
  double lo = 0;
  double hi = 60000;
  for (int i = 0; i < 60; ++i) {
    auto mid = (lo + hi) / 2;
    (phi_of(mid, mean, s.min_std_ms) < phi ? lo : hi) = mid;
  }
  return hi;
}

// --- small helpers -----------------------------------------------------------------------------

std::string loadavg() {
  std::ifstream la{"/proc/loadavg"};
  std::string l1, l5, l15;
  la >> l1 >> l5 >> l15;
  return l1 + " " + l5 + " " + l15;
}

double ms_between(wall::time_point a, wall::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

double ms_since(steady::time_point t0) {
  return std::chrono::duration<double, std::milli>(steady::now() - t0).count();
}

/// "2024-05-01T12:00:00.123456Z" (the node log's "time") as a wall-clock time point.
std::optional<wall::time_point> parse_time(const std::string& s) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  long us = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%6ldZ", &y, &mo, &d, &h, &mi, &sec, &us)
      != 7)
    return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  return wall::from_time_t(::timegm(&tm)) + std::chrono::microseconds{us};
}

wall::time_point time_of(const json& line) {
  auto t = line.is_object() ? parse_time(line.value("time", "")) : std::nullopt;
  if (!t)
    throw std::runtime_error("log line without a parsable time: " + line.dump());
  return *t;
}

std::function<bool(const json&)> event_is(std::vector<std::string> events, std::string peer) {
  return [events = std::move(events), peer = std::move(peer)](const json& l) {
    return l.is_object() && l.value("peer", "") == peer
           && wanted(events, l.value("event", ""));
  };
}

size_t count_events(node_process& n, const std::string& event, size_t from = 0) {
  auto& lines = n.log_lines();
  size_t k = 0;
  for (size_t i = from; i < lines.size(); ++i)
    if (lines[i].is_object() && lines[i].value("event", "") == event)
      ++k;
  return k;
}

/// A temporary directory, removed at the end unless kept.
class scratch_dir {
public:
  explicit scratch_dir(bool keep) : keep_(keep) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "warden-detect-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr)
      throw std::system_error(errno, std::generic_category(), "mkdtemp");
    path_ = tmpl;
  }
  ~scratch_dir() {
    if (keep_) {
      note("kept " + path_);
      return;
    }
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;

  /// A new empty subdirectory.
  std::string sub(const std::string& name) const {
    auto p = std::filesystem::path{path_} / name;
    std::filesystem::create_directories(p);
    return p.string();
  }

private:
  bool keep_;
  std::string path_;
};

// --- busy load ---------------------------------------------------------------------------------

/// K processes spinning at normal priority; each dies with the bench (PR_SET_PDEATHSIG) and
/// is killed by PID and reaped in the destructor.
class busy_loops {
public:
  explicit busy_loops(int k) {
    pid_t parent = ::getpid();
    for (int i = 0; i < k; ++i) {
      pid_t pid = ::fork();
      if (pid < 0) {
        stop();
        throw std::system_error(errno, std::generic_category(), "busy_loops: fork");
      }
      if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent)
          ::_exit(127);
        for (;;)
          asm volatile("" ::: "memory");
      }
      pids_.push_back(pid);
    }
    started_ = steady::now();
    cpu_at_start_ = cpu_seconds();
  }
  ~busy_loops() { stop(); }
  busy_loops(const busy_loops&) = delete;
  busy_loops& operator=(const busy_loops&) = delete;

  /// CPU time the loops used so far (utime + stime from /proc/PID/stat).
  double cpu_seconds() const {
    double total = 0;
    static const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
    for (auto pid : pids_) {
      std::ifstream in{"/proc/" + std::to_string(pid) + "/stat"};
      std::string line;
      std::getline(in, line);
      auto rp = line.rfind(')');  // the command name may hold spaces
      if (rp == std::string::npos)
        continue;
      std::istringstream fields{line.substr(rp + 2)};
      std::string f;
      unsigned long long utime = 0, stime = 0;
      for (int i = 3; i <= 15 && fields >> f; ++i) {
        if (i == 14)
          utime = std::stoull(f);
        if (i == 15)
          stime = std::stoull(f);
      }
      total += static_cast<double>(utime + stime) / ticks;
    }
    return total;
  }

  /// Mean share of one core each loop got since it started (1.0 = a full core).
  double core_share() const {
    if (pids_.empty())
      return 0;
    auto secs = ms_since(started_) / 1000.0;
    return secs <= 0 ? 0 : (cpu_seconds() - cpu_at_start_) / secs
                             / static_cast<double>(pids_.size());
  }

private:
  void stop() {
    for (auto pid : pids_)
      ::kill(pid, SIGKILL);
    for (auto pid : pids_)
      while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
    pids_.clear();
  }

  std::vector<pid_t> pids_;
  steady::time_point started_;
  double cpu_at_start_ = 0;
};

// --- a pair of nodes ---------------------------------------------------------------------------

/// n1 and n2 seeded at each other, files in `dir`; both SIGKILLed and reaped at the end.
class node_pair {
public:
  node_pair(const settings& s, const std::string& dir) {
    auto ports = test::free_ports(4);
    auto make = [&](const char* name, uint16_t port, uint16_t http, uint16_t peer) {
      test::node_options o;
      o.name = name;
      o.port = port;
      o.http_port = http;
      o.seeds = {"127.0.0.1:" + std::to_string(peer)};
      o.extra_args = detector_args(s);
      o.cluster = "detect";
      o.secret = "detect-bench";
      return std::make_unique<node_process>(s.warden_bin, o, dir);
    };
    n1_ = make("n1", ports[0], ports[1], ports[2]);
    n2_ = make("n2", ports[2], ports[3], ports[0]);
  }

  node_process& n1() { return *n1_; }
  node_process& n2() { return *n2_; }

  /// Starts both and waits until each logged node_up for the other; the time that took, or
  /// nullopt at `dl`.
  std::optional<double> start_and_join(deadline dl) {
    auto t0 = steady::now();
    n1_->start();
    n2_->start();
    if (!n1_->wait_for_log_line(event_is({"node_up"}, "n2"), dl)
        || !n2_->wait_for_log_line(event_is({"node_up"}, "n1"), dl))
      return std::nullopt;
    return ms_since(t0);
  }

  std::string diagnostics() {
    std::string out;
    for (auto* n : {n1_.get(), n2_.get()})
      out += "--- " + n->name() + " log:\n" + n->log_tail(15) + "--- " + n->name()
             + " output:\n" + n->output_tail(10);
    return out;
  }

private:
  std::unique_ptr<node_process> n1_;
  std::unique_ptr<node_process> n2_;
};

constexpr milliseconds join_timeout{20000};
/// Longer than any expected detection (a hang: ~1.5 s; a crash: milliseconds).
constexpr milliseconds detect_timeout{15000};

struct run_outcome {
  std::optional<metrics> m;
  std::string failure;  // why the run has no figures
  json timeline = json::object();  // wall-clock instants of the fault and the events
};

std::string iso(wall::time_point t) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch());
  auto secs = std::chrono::floor<std::chrono::seconds>(us);
  auto tt = static_cast<time_t>(secs.count());
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>((us - secs).count()));
  return buf;
}

/// Suspicions during the warm-up (there should be none; counted, not hidden).
double warmup_suspicions(node_pair& p) {
  return static_cast<double>(count_events(p.n1(), "node_unreachable")
                             + count_events(p.n2(), "node_unreachable")
                             + count_events(p.n1(), "node_down") + count_events(p.n2(), "node_down"));
}

run_outcome crash_run(const settings& s, const std::string& dir) {
  node_pair p{s, dir};
  auto up = p.start_and_join(join_timeout);
  if (!up)
    return {std::nullopt, "nodes did not join\n" + p.diagnostics()};
  // Warm-up: a deliberate interval, not a wait for a condition.
  std::this_thread::sleep_for(milliseconds{s.crash_settle_ms});
  metrics m;
  m["join_ms"] = *up;
  m["warmup_suspicions"] = warmup_suspicions(p);
  auto from = p.n1().log_lines().size();
  auto w0 = wall::now();
  auto t0 = steady::now();
  p.n2().kill9();
  // First node_unreachable "connection lost" (the socket closed), then node_down "process
  // gone" once the probe of n2's port is refused.
  auto line = p.n1().wait_for_log_line(event_is({"node_down"}, "n2"), detect_timeout, from);
  if (!line)
    return {std::nullopt, "no node_down for n2 in n1's log\n" + p.diagnostics()};
  m["seen_ms"] = ms_since(t0);
  m["detect_ms"] = ms_between(w0, time_of(*line));
  m["process_gone"] = line->value("reason", "") == "process gone" ? 1 : 0;
  json timeline = {{"sigkill", iso(w0)}, {"node_down", line->value("time", "")},
                   {"reason", line->value("reason", "")}};
  if (auto lost = p.n1().wait_for_log_line(event_is({"node_unreachable"}, "n2"),
                                           milliseconds{0}, from)) {
    m["connection_lost_ms"] = ms_between(w0, time_of(*lost));
    timeline["node_unreachable"] = lost->value("time", "");
  }
  return {m, {}, timeline};
}

run_outcome hang_run(const settings& s, const std::string& dir) {
  node_pair p{s, dir};
  auto up = p.start_and_join(join_timeout);
  if (!up)
    return {std::nullopt, "nodes did not join\n" + p.diagnostics()};
  std::this_thread::sleep_for(milliseconds{s.settle_ms});  // detector warm-up, see settings
  metrics m;
  m["join_ms"] = *up;
  m["warmup_suspicions"] = warmup_suspicions(p);
  auto from = p.n1().log_lines().size();
  auto w0 = wall::now();
  auto t0 = steady::now();
  p.n2().pause();
  auto line = p.n1().wait_for_log_line(event_is({"node_unreachable", "node_down"}, "n2"),
                                        detect_timeout, from);
  if (!line) {
    p.n2().resume();
    return {std::nullopt, "no node_unreachable for n2 in n1's log\n" + p.diagnostics()};
  }
  m["seen_ms"] = ms_since(t0);
  if ((*line)["event"] != "node_unreachable") {
    p.n2().resume();
    return {std::nullopt, "n1 logged " + line->dump() + " before node_unreachable"};
  }
  m["detect_ms"] = ms_between(w0, time_of(*line));
  m["phi"] = line->value("phi", 0.0);

  auto from1 = p.n1().log_lines().size();
  auto from2 = p.n2().log_lines().size();
  auto w1 = wall::now();
  p.n2().resume();
  auto back = p.n1().wait_for_log_line(event_is({"node_reachable", "node_down"}, "n2"),
                                        detect_timeout, from1);
  if (!back || (*back)["event"] != "node_reachable")
    return {std::nullopt, "no node_reachable for n2 after SIGCONT\n" + p.diagnostics()};
  m["reachable_ms"] = ms_between(w1, time_of(*back));
  // A bounded watch: the resumed node must not suspect n1 (its agent notices its own
  // pause), and n1 must not suspect n2 again.
  auto after1 = p.n1().log_lines().size();
  auto bad = [](const json& l) {
    return l.is_object()
           && (l.value("event", "") == "node_unreachable" || l.value("event", "") == "node_down");
  };
  p.n2().wait_for_log_line(bad, milliseconds{s.post_ms}, from2);
  m["post_resume_suspicions"] = static_cast<double>(
    count_events(p.n2(), "node_unreachable", from2) + count_events(p.n2(), "node_down", from2)
    + count_events(p.n1(), "node_unreachable", after1) + count_events(p.n1(), "node_down", after1));
  return {m, {}, {{"sigstop", iso(w0)}, {"node_unreachable", line->value("time", "")},
                  {"sigcont", iso(w1)}, {"node_reachable", back->value("time", "")}}};
}

run_outcome soak_run(const settings& s, const std::string& dir, int seconds) {
  node_pair p{s, dir};
  auto up = p.start_and_join(join_timeout);
  if (!up)
    return {std::nullopt, "nodes did not join\n" + p.diagnostics()};
  metrics m;
  m["join_ms"] = *up;
  auto from1 = p.n1().log_lines().size();
  auto from2 = p.n2().log_lines().size();
  // Sample both nodes' view every 250 ms: the highest phi shows the margin left.
  double max_phi = 0;
  deadline end = std::chrono::seconds{seconds};
  while (!end.passed()) {
    for (auto* n : {&p.n1(), &p.n2()}) {
      auto v = n->members();
      if (v.is_object() && v.contains("members") && v["members"].is_array())
        for (auto& row : v["members"])
          if (row.is_object() && !row.value("self", false))
            max_phi = std::max(max_phi, row.value("phi", 0.0));
    }
    std::this_thread::sleep_for(std::min(milliseconds{250}, end.left()));
  }
  m["soak_s"] = seconds;
  m["unreachable_events"] = static_cast<double>(count_events(p.n1(), "node_unreachable", from1)
                                                + count_events(p.n2(), "node_unreachable", from2));
  m["down_events"] = static_cast<double>(count_events(p.n1(), "node_down", from1)
                                         + count_events(p.n2(), "node_down", from2));
  m["max_phi"] = max_phi;
  // phi of a live peer is tiny (1e-6 for a heartbeat 200 ms late): keep its magnitude.
  m["max_phi_log10"] = max_phi > 0 ? std::log10(max_phi) : -99.0;
  m["max_silence_ms_min"] = silence_lower_bound_ms(s, max_phi);
  if (!p.n1().running() || !p.n2().running())
    return {std::nullopt, "a node exited during the soak\n" + p.diagnostics()};
  return {m, {}, {}};
}

// --- records -----------------------------------------------------------------------------------

/// p50/p90/p99/max (nearest rank over the runs; with 20 runs p99 is the maximum).
json summary_of(const result& r) {
  std::map<std::string, std::vector<double>> by_key;
  for (auto& run : r.runs)
    for (auto& [k, v] : run)
      by_key[k].push_back(v);
  json out = json::object();
  for (auto& [k, vs] : by_key) {
    std::sort(vs.begin(), vs.end());
    auto r3 = [](double x) { return std::round(x * 1000) / 1000; };
    out[k] = {{"min", r3(vs.front())},
              {"p50", r3(percentile_sorted(vs, 0.50))},
              {"p90", r3(percentile_sorted(vs, 0.90))},
              {"p99", r3(percentile_sorted(vs, 0.99))},
              {"max", r3(vs.back())}};
  }
  return out;
}

json record_json(const result& r) {
  auto j = to_json(r);
  j["summary"] = summary_of(r);
  return j;
}

using run_fn = std::function<run_outcome(const std::string& dir)>;

json run_case(const settings& s, scratch_dir& scratch, const std::string& kind,
              const std::string& load, int runs, const run_fn& fn) {
  result r;
  r.impl = "warden";
  r.workload = "detect";
  r.kase = kind + " " + load;
  r.n = static_cast<uint64_t>(runs);
  r.config = settings_json(s);
  r.config["load"] = load;
  r.config["loadavg_start"] = loadavg();
  r.config["hardware_concurrency"] = std::thread::hardware_concurrency();
  std::optional<busy_loops> busy;
  if (load == "busy")
    busy.emplace(s.busy);
  int failures = 0;
  json failure_notes = json::array();
  json timeline = json::array();
  for (int i = 0; i < runs; ++i) {
    auto dir = scratch.sub(kind + "-" + load + "-" + std::to_string(i + 1));
    run_outcome o;
    try {
      o = fn(dir);
    } catch (const std::exception& e) {
      o.failure = e.what();
    }
    if (o.m) {
      r.runs.push_back(*o.m);
      if (!o.timeline.empty())
        timeline.push_back(o.timeline);
      std::string line = kind + " " + load + " run " + std::to_string(i + 1) + "/"
                         + std::to_string(runs) + ":";
      for (auto& [k, v] : *o.m)
        line += " " + k + "=" + fmt_number(std::round(v * 10) / 10);
      note(line);
    } else {
      ++failures;
      failure_notes.push_back(o.failure.substr(0, o.failure.find('\n')));
      note(kind + " " + load + " run " + std::to_string(i + 1) + " FAILED: " + o.failure);
    }
  }
  if (busy)
    r.config["busy_core_share"] = std::round(busy->core_share() * 1000) / 1000;
  r.config["loadavg_end"] = loadavg();
  r.config["failed_runs"] = failures;
  r.config["failures"] = failure_notes;
  if (!timeline.empty())
    r.config["timeline"] = timeline;
  if (kind == "hang")
    r.config["model_detect_ms"] = std::round(model_detection_ms(s, s.settle_ms));
  auto j = record_json(r);
  std::cout << j.dump() << std::endl;
  return j;
}

// --- markdown ----------------------------------------------------------------------------------

std::string fmt_ms(const json& summary, const std::string& metric, const char* stat) {
  if (!summary.contains(metric) || !summary[metric].contains(stat))
    return "–";
  double v = summary[metric][stat].get<double>();
  char buf[32];
  std::snprintf(buf, sizeof(buf), v < 100 ? "%.1f" : "%.0f", v);
  return buf;
}

std::string markdown(const std::vector<json>& records) {
  std::ostringstream md;
  const json* any = nullptr;
  const json* soak = nullptr;
  md << "### Failure detection (`warden_detect_bench`)\n\n";
  md << "| fault -> event in n1's log | load | loadavg | runs | p50 ms | p90 ms | p99 ms |"
        " max ms | min ms |\n|---|---|---|---|---|---|---|---|---|\n";
  struct row_kind {
    const char* kind;
    const char* metric;
    const char* label;
  };
  const row_kind rows[] = {
    {"crash", "detect_ms", "SIGKILL n2 -> `node_down` \"process gone\" (crash)"},
    {"hang", "detect_ms", "SIGSTOP n2 -> `node_unreachable` (hang)"},
    {"hang", "reachable_ms", "SIGCONT n2 -> `node_reachable`"},
  };
  for (auto& rk : rows)
    for (auto* load : {"idle", "busy"})
      for (auto& r : records) {
        if (r.value("workload", "") != "detect"
            || r.value("case", "") != std::string{rk.kind} + " " + load)
          continue;
        any = &r;
        auto& sm = r["summary"];
        auto failed = r["config"].value("failed_runs", 0);
        md << "| " << rk.label << " | " << load;
        if (std::string{load} == "busy")
          md << " (" << r["config"].value("busy_processes", 0) << " spinning, "
             << fmt_number(std::round(r["config"].value("busy_core_share", 0.0) * 100))
             << "% core each)";
        // The 1-minute load average before and after: the machine may be shared.
        auto la = [&](const char* k) {
          auto v = r["config"].value(k, std::string{"?"});
          return v.substr(0, v.find(' '));
        };
        md << " | " << la("loadavg_start") << " -> " << la("loadavg_end");
        md << " | " << r.value("runs", 0);
        if (failed > 0)
          md << " (+" << failed << " failed)";
        for (auto* st : {"p50", "p90", "p99", "max", "min"})
          md << " | " << fmt_ms(sm, rk.metric, st);
        md << " |\n";
      }
  for (auto& r : records)
    if (r.value("workload", "") == "detect" && r.value("case", "").rfind("soak", 0) == 0) {
      soak = &r;
      any = any ? any : &r;
    }
  md << "\n";
  if (soak != nullptr) {
    auto& m = (*soak)["metrics"];
    auto& c = (*soak)["config"];
    md << "False suspicions, " << c.value("load", "busy") << " machine ("
       << c.value("busy_processes", 0) << " spinning processes, "
       << fmt_number(std::round(c.value("busy_core_share", 0.0) * 100))
       << "% of a core each): two nodes for " << m.value("soak_s", 0.0) << " s: **"
       << m.value("unreachable_events", 0.0) << " `node_unreachable`**, "
       << m.value("down_events", 0.0) << " `node_down` (both nodes' logs); highest phi sampled"
       << " every 250 ms: 1e" << fmt_number(std::round(m.value("max_phi_log10", -99.0) * 10) / 10)
       << " (threshold " << c.value("threshold", 0.0) << ")";
    if (m.contains("max_silence_ms_min"))
      md << ", i.e. a heartbeat silence of at least "
         << fmt_number(std::round(m.value("max_silence_ms_min", 0.0))) << " ms";
    md << ".\n\n";
  }
  if (any != nullptr) {
    auto& c = (*any)["config"];
    md << "Settings: heartbeat " << c.value("heartbeat_interval_ms", 0) << " ms, threshold "
       << c.value("threshold", 0.0) << ", acceptable pause " << c.value("acceptable_pause_ms", 0)
       << " ms, min std deviation " << c.value("min_std_deviation_ms", 0)
       << " ms, first heartbeat estimate " << c.value("first_heartbeat_estimate_ms", 0)
       << " ms, history 100, split-brain resolver stable_after " << c.value("stable_after_ms", 0)
       << " ms (a crash: connection lost, then the probe of the port is refused: down at once,"
          " no resolver). Fresh n1 + n2 per run (127.0.0.1); warm-up after both logged"
          " `node_up`: "
       << c.value("crash_settle_ms", 0) << " ms before a crash, " << c.value("settle_ms", 0)
       << " ms before a hang. Times are the node log's `time` minus the wall clock taken"
          " just before kill(2); p99 is nearest-rank (with 20 runs: the maximum).";
    for (auto& r : records)
      if (r.value("case", "").rfind("hang", 0) == 0 && r["config"].contains("model_detect_ms")) {
        md << " Model (failure_detector.hpp, window after the warm-up): phi reaches the"
              " threshold "
           << r["config"]["model_detect_ms"].get<double>()
           << " ms after the last heartbeat; from SIGSTOP that is minus the heartbeat's age (0.."
           << c.value("heartbeat_interval_ms", 0) << " ms) plus the next check (0.."
           << c.value("heartbeat_interval_ms", 0) / 2 << " ms).";
        break;
      }
    md << " Load average at start: " << c.value("loadavg_start", "?") << ", "
       << c.value("hardware_concurrency", 0) << " cores.\n";
  }
  return md.str();
}

int run_report(const std::vector<std::string>& inputs) {
  std::vector<json> records;
  for (auto& path : inputs) {
    std::ifstream in{path};
    if (!in)
      throw std::runtime_error("cannot read " + path);
    std::string line;
    while (std::getline(in, line)) {
      auto j = json::parse(line, nullptr, false);
      if (j.is_object() && j.value("workload", "") == "detect")
        records.push_back(std::move(j));
    }
  }
  std::cout << markdown(records);
  return 0;
}

void usage() {
  std::cerr
    << "usage: warden_detect_bench [all|report FILE.jsonl...] [options]\n"
       "  --quick | --smoke        5 runs, 20 s soak / 1 run, 3 s soak (default: 20, 60 s)\n"
       "  --runs N                 runs per case\n"
       "  --soak-seconds S         length of the busy false-suspicion soak\n"
       "  --only crash,hang,soak   cases (default: all three)\n"
       "  --load idle,busy         loads (default: both; the soak runs busy only)\n"
       "  --busy K                 spinning processes in the busy variant (2)\n"
       "  --heartbeat-ms H --threshold T --pause-ms P --min-std-ms D   detector (200 8 800 100)\n"
       "  --stable-after-ms A      cluster.stable_after_ms (5000: no downing during a hang run)\n"
       "  --settle-ms W            warm-up before a hang (5000)\n"
       "  --crash-settle-ms W      warm-up before a crash (1000)\n"
       "  --post-ms W              watch after node_reachable (1000)\n"
       "  --warden PATH            the warden binary (default: the one built with the bench)\n"
       "  --keep                   keep the node logs (the directory is printed)\n";
}

int run_all(settings& s) {
  if (s.runs <= 0)
    s.runs = s.level == mode::full ? 20 : s.level == mode::quick ? 5 : 1;
  if (s.soak_seconds < 0)
    s.soak_seconds = s.level == mode::full ? 60 : s.level == mode::quick ? 20 : 3;
  if (s.level == mode::smoke) {
    s.settle_ms = std::min(s.settle_ms, 1000);
    s.post_ms = std::min(s.post_ms, 300);
  }
  if (::access(s.warden_bin.c_str(), X_OK) != 0)
    throw std::runtime_error("warden binary not executable: " + s.warden_bin);
  note("settings: " + settings_json(s).dump() + ", runs " + std::to_string(s.runs)
       + ", soak " + std::to_string(s.soak_seconds) + " s, binary " + s.warden_bin);
  scratch_dir scratch{s.keep};
  std::vector<json> records;
  for (auto& load : s.loads) {
    if (wanted(s.only, "crash"))
      records.push_back(run_case(s, scratch, "crash", load, s.runs,
                                 [&](const std::string& d) { return crash_run(s, d); }));
    if (wanted(s.only, "hang"))
      records.push_back(run_case(s, scratch, "hang", load, s.runs,
                                 [&](const std::string& d) { return hang_run(s, d); }));
    if (wanted(s.only, "soak") && load == "busy")
      records.push_back(run_case(s, scratch, "soak", load, 1, [&](const std::string& d) {
        return soak_run(s, d, s.soak_seconds);
      }));
  }
  std::cerr << "\n" << markdown(records) << std::flush;
  int failed = 0;
  for (auto& r : records)
    failed += r["config"].value("failed_runs", 0);
  return failed == 0 ? 0 : 3;
}

} // namespace

} // namespace warden::bench::detect

int main(int argc, char** argv) {
  using namespace warden::bench;
  detect::settings s;
  try {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argc)
          throw std::invalid_argument(a + " needs a value");
        return argv[++i];
      };
      if (a == "--quick")
        s.level = mode::quick;
      else if (a == "--smoke")
        s.level = mode::smoke;
      else if (a == "--full")
        s.level = mode::full;
      else if (a == "--runs")
        s.runs = std::stoi(value());
      else if (a == "--soak-seconds")
        s.soak_seconds = std::stoi(value());
      else if (a == "--only")
        s.only = detect::split(value());
      else if (a == "--load")
        s.loads = detect::split(value());
      else if (a == "--busy")
        s.busy = std::stoi(value());
      else if (a == "--heartbeat-ms")
        s.heartbeat_ms = std::stoi(value());
      else if (a == "--threshold")
        s.threshold = std::stod(value());
      else if (a == "--pause-ms")
        s.pause_ms = std::stoi(value());
      else if (a == "--min-std-ms")
        s.min_std_ms = std::stoi(value());
      else if (a == "--stable-after-ms")
        s.stable_after_ms = std::stoi(value());
      else if (a == "--settle-ms")
        s.settle_ms = std::stoi(value());
      else if (a == "--crash-settle-ms")
        s.crash_settle_ms = std::stoi(value());
      else if (a == "--post-ms")
        s.post_ms = std::stoi(value());
      else if (a == "--warden")
        s.warden_bin = value();
      else if (a == "--keep")
        s.keep = true;
      else if (a == "-h" || a == "--help") {
        detect::usage();
        return 0;
      } else if (!a.empty() && a[0] != '-' && i == 1)
        s.cmd = a;
      else if (!a.empty() && a[0] != '-' && s.cmd == "report")
        s.inputs.push_back(a);
      else
        throw std::invalid_argument("unknown argument: " + a);
    }
    for (auto& x : s.only)
      if (x != "crash" && x != "hang" && x != "soak")
        throw std::invalid_argument("--only: unknown case " + x);
    for (auto& x : s.loads)
      if (x != "idle" && x != "busy")
        throw std::invalid_argument("--load: unknown load " + x);
    if (s.cmd == "report")
      return detect::run_report(s.inputs);
    if (s.cmd != "all")
      throw std::invalid_argument("unknown command: " + s.cmd);
    return detect::run_all(s);
  } catch (const std::exception& e) {
    std::cerr << "warden_detect_bench: " << e.what() << "\n";
    detect::usage();
    return 1;
  }
}
