#include "bench.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>
#include <thread>

#include <unistd.h>

#include <caf/config.hpp>
#include <caf/defaults.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>

#include "warden/errors.hpp"

namespace warden::bench {

const char* to_string(mode m) {
  switch (m) {
    case mode::full: return "full";
    case mode::quick: return "quick";
    case mode::smoke: return "smoke";
  }
  return "?";
}

double percentile_sorted(const std::vector<double>& xs, double q) {
  if (xs.empty())
    return std::numeric_limits<double>::quiet_NaN();
  auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(xs.size())));
  rank = std::clamp<size_t>(rank, 1, xs.size());
  return xs[rank - 1];
}

double median(std::vector<double> xs) {
  if (xs.empty())
    return std::numeric_limits<double>::quiet_NaN();
  std::sort(xs.begin(), xs.end());
  auto n = xs.size();
  return n % 2 == 1 ? xs[n / 2] : (xs[n / 2 - 1] + xs[n / 2]) / 2.0;
}

namespace {

std::vector<result>& emitted() {
  static std::vector<result> all;
  return all;
}

double round_to(double x, int digits) {
  if (!std::isfinite(x))
    return x;
  double f = std::pow(10.0, digits);
  return std::round(x * f) / f;
}

std::string fmt_value(double x) {
  char buf[64];
  if (!std::isfinite(x))
    return "n/a";
  if (std::fabs(x) >= 1e6)
    std::snprintf(buf, sizeof(buf), "%.3g", x);
  else if (std::fabs(x) >= 100)
    std::snprintf(buf, sizeof(buf), "%.0f", x);
  else
    std::snprintf(buf, sizeof(buf), "%.2f", x);
  return buf;
}

} // namespace

nlohmann::json to_json(const result& r) {
  nlohmann::json j;
  j["impl"] = r.impl;
  j["workload"] = r.workload;
  j["case"] = r.kase;
  j["n"] = r.n;
  j["runs"] = r.runs.size();
  nlohmann::json med = nlohmann::json::object();
  nlohmann::json per = nlohmann::json::object();
  std::map<std::string, std::vector<double>> by_key;
  for (auto& run : r.runs)
    for (auto& [k, v] : run)
      by_key[k].push_back(v);
  for (auto& [k, vs] : by_key) {
    med[k] = round_to(median(vs), 3);
    nlohmann::json arr = nlohmann::json::array();
    for (auto v : vs)
      arr.push_back(round_to(v, 3));
    per[k] = arr;
  }
  j["metrics"] = med;
  j["per_run"] = per;
  j["config"] = r.config;
  return j;
}

void emit(const result& r) {
  std::cout << to_json(r).dump() << std::endl;
  emitted().push_back(r);
}

void print_table() {
  std::ostringstream out;
  out << "\n";
  char line[512];
  std::snprintf(line, sizeof(line), "%-7s %-11s %-28s %9s  %s\n", "impl", "workload", "case",
                "n/run", "metrics (median of runs)");
  out << line;
  out << std::string(110, '-') << "\n";
  for (auto& r : emitted()) {
    if (r.workload == "env")
      continue;
    auto j = to_json(r);
    std::string ms;
    for (auto& [k, v] : j["metrics"].items()) {
      if (!ms.empty())
        ms += "  ";
      ms += k + "=" + fmt_value(v.get<double>());
    }
    std::snprintf(line, sizeof(line), "%-7s %-11s %-28s %9llu  ", r.impl.c_str(),
                  r.workload.c_str(), r.kase.c_str(), static_cast<unsigned long long>(r.n));
    out << line << ms << "\n";
  }
  std::cerr << out.str() << std::flush;
}

void note(const std::string& line) {
  std::cerr << "[warden_bench] " << line << std::endl;
}

size_t rss_bytes() {
  std::ifstream in{"/proc/self/statm"};
  size_t size = 0;
  size_t resident = 0;
  in >> size >> resident;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

namespace {

size_t max_threads_override = 0;
std::string policy_override;

} // namespace

void set_scheduler_override(size_t max_threads, std::string policy) {
  max_threads_override = max_threads;
  policy_override = std::move(policy);
}

std::unique_ptr<caf::actor_system_config> make_config() {
  auto cfg = std::make_unique<caf::actor_system_config>();
  warden::configure(*cfg);
  if (max_threads_override != 0)
    cfg->set("scheduler.max-threads", max_threads_override);
  if (!policy_override.empty())
    cfg->set("scheduler.policy", caf::atom_from_string(policy_override));
  return cfg;
}

result environment(caf::actor_system& sys, const caf::actor_system_config& cfg) {
  result r;
  r.impl = "warden";
  r.workload = "env";
  r.kase = "scheduler";
  auto policy = caf::get_or(cfg, "scheduler.policy", caf::defaults::scheduler::policy);
  auto max_threads = caf::get_or(cfg, "scheduler.max-threads",
                                 caf::defaults::scheduler::max_threads);
  auto max_tp = caf::get_or(cfg, "scheduler.max-throughput",
                            caf::defaults::scheduler::max_throughput);
  r.config["caf_version"] = std::to_string(CAF_VERSION / 10000) + "."
                            + std::to_string((CAF_VERSION / 100) % 100) + "."
                            + std::to_string(CAF_VERSION % 100);
  r.config["scheduler.policy"] = caf::to_string(policy);
  r.config["scheduler.max-threads"] = max_threads;
  r.config["scheduler.workers"] = sys.scheduler().num_workers();
  r.config["scheduler.max-throughput"] =
    max_tp == std::numeric_limits<size_t>::max() ? std::string{"infinite"}
                                                   : std::to_string(max_tp);
  r.config["defaults_overridden"] = max_threads_override != 0 || !policy_override.empty();
  r.config["hardware_concurrency"] = std::thread::hardware_concurrency();
  {
    std::ifstream la{"/proc/loadavg"};
    std::string l1, l5, l15;
    la >> l1 >> l5 >> l15;
    r.config["loadavg"] = l1 + " " + l5 + " " + l15;
  }
#ifdef NDEBUG
  r.config["build"] = "release (NDEBUG)";
#else
  r.config["build"] = "assertions on";
#endif
  return r;
}

} // namespace warden::bench
