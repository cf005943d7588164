// `warden_bench report FILE...`: reads the JSON lines of the C++ and the Erlang side and
// prints the side-by-side markdown (medians, ratios, targets, machine, schedulers).
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include <sys/utsname.h>
#include <unistd.h>

#include "bench.hpp"

namespace warden::bench {

namespace {

using nlohmann::json;

struct key {
  std::string workload;
  std::string kase;
  friend bool operator<(const key& a, const key& b) {
    return std::tie(a.workload, a.kase) < std::tie(b.workload, b.kase);
  }
};

struct store {
  std::map<std::string, std::map<key, json>> by_impl;  // impl -> (workload, case) -> record
  std::vector<key> order;                             // first appearance (any impl)
  std::map<std::string, json> env;                    // impl -> env record

  void add(const json& j) {
    auto impl = j.value("impl", "");
    key k{j.value("workload", ""), j.value("case", "")};
    if (k.workload == "env") {
      env[impl] = j;
      return;
    }
    if (std::find_if(order.begin(), order.end(), [&](const key& x) {
          return !(x < k) && !(k < x);
        }) == order.end())
      order.push_back(k);
    by_impl[impl][k] = j;
  }

  const json* find(const std::string& impl, const key& k) const {
    auto i = by_impl.find(impl);
    if (i == by_impl.end())
      return nullptr;
    auto j = i->second.find(k);
    return j == i->second.end() ? nullptr : &j->second;
  }

  std::optional<double> metric(const std::string& impl, const key& k,
                               const std::string& m) const {
    auto* j = find(impl, k);
    if (j == nullptr || !(*j)["metrics"].contains(m) || !(*j)["metrics"][m].is_number())
      return std::nullopt;
    return (*j)["metrics"][m].get<double>();
  }
};

std::string fmt(std::optional<double> x) {
  if (!x || !std::isfinite(*x))
    return "–";
  char buf[64];
  double v = *x;
  if (std::fabs(v) >= 1e6)
    std::snprintf(buf, sizeof(buf), "%.3g", v);
  else if (std::fabs(v) >= 1000)
    std::snprintf(buf, sizeof(buf), "%.0f", v);
  else if (std::fabs(v) >= 10)
    std::snprintf(buf, sizeof(buf), "%.1f", v);
  else
    std::snprintf(buf, sizeof(buf), "%.2f", v);
  return buf;
}

std::string ratio(std::optional<double> a, std::optional<double> b) {
  if (!a || !b || *b == 0 || !std::isfinite(*a) || !std::isfinite(*b))
    return "–";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f", *a / *b);
  return buf;
}

std::string read_first_line_with(const std::string& path, const std::string& prefix) {
  std::ifstream in{path};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(prefix, 0) == 0) {
      auto pos = line.find(':');
      if (pos != std::string::npos) {
        auto v = line.substr(pos + 1);
        v.erase(0, v.find_first_not_of(" \t"));
        return v;
      }
    }
  return "unknown";
}

// The metrics shown per workload, in order, with their unit / direction note.
struct metric_row {
  const char* name;          // metric of the Erlang (and raw CAF) record
  const char* label;
  const char* warden = nullptr;  // metric of the Warden record, when it differs
};

const std::vector<metric_row>& rows_of(const std::string& workload) {
  static const std::map<std::string, std::vector<metric_row>> all{
    {"restart",
     {{"p50_us", "p50 µs"},
      {"p99_us", "p99 µs"},
      {"p999_us", "p99.9 µs"},
      {"first10_p50_us", "p50 first 10% µs"},
      {"last10_p50_us", "p50 last 10% µs"},
      {"cycle_us", "wall / restart µs"},
      {"retries_per_restart", "probe retries / restart"},
      {"p50_us_cleared", "p50 µs [Erlang: OTP restart list cleared]", "p50_us"},
      {"p99_us_cleared", "p99 µs [Erlang: list cleared]", "p99_us"},
      {"p999_us_cleared", "p99.9 µs [Erlang: list cleared]", "p999_us"},
      {"first10_p50_us_cleared", "p50 first 10% µs [Erlang: list cleared]", "first10_p50_us"},
      {"last10_p50_us_cleared", "p50 last 10% µs [Erlang: list cleared]", "last10_p50_us"},
      {"cycle_us_cleared", "wall / restart µs [Erlang: list cleared]", "cycle_us"}}},
    {"dynamic",
     {{"start_us_per_child", "start µs/child"},
      {"stop_us_per_child", "shutdown µs/child"},
      {"total_s", "start+shutdown s"}}},
    {"throughput",
     {{"oneway_msgs_per_s", "one-way msgs/s (higher is better)"},
      {"rtt_p50_us", "round trip p50 µs"},
      {"rtt_p99_us", "round trip p99 µs"},
      {"rtt_per_s", "round trips/s (higher is better)"}}},
    {"memory",
     {{"rss_bytes_per_child", "RSS bytes/child"},
      {"proc_bytes_per_child", "erlang:memory(processes) bytes/child"},
      {"above_raw_caf_bytes", "bytes/child above raw CAF"}}},
  };
  static const std::vector<metric_row> none;
  auto i = all.find(workload);
  return i == all.end() ? none : i->second;
}

// For throughput the raw CAF column is the single "raw" record.
key caf_key(const key& k) {
  if (k.workload == "throughput")
    return {k.workload, "raw"};
  return k;
}

} // namespace

int run_report(const options& opts) {
  store db;
  for (auto& path : opts.inputs) {
    std::ifstream in{path};
    if (!in) {
      std::cerr << "cannot read " << path << "\n";
      return 1;
    }
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] != '{')
        continue;
      try {
        db.add(json::parse(line));
      } catch (const std::exception& e) {
        std::cerr << "skipping bad line in " << path << ": " << e.what() << "\n";
      }
    }
  }
  std::ostringstream md;
  std::string mode_name = "?";
  int runs = 0;
  if (db.env.count("warden")) {
    auto& c = db.env["warden"]["config"];
    mode_name = c.value("mode", "?");
    runs = c.value("runs", 0);
  }
  md << "# Warden benchmarks: Warden vs raw CAF vs Erlang/OTP\n\n";
  md << "Mode **" << mode_name << "**; every figure is the median over " << runs
     << " runs (Erlang: same number of runs). Generated by `tests/perf/run.sh`.\n\n";
  // --- machine ---
  utsname u{};
  uname(&u);
  md << "## Machine and schedulers\n\n";
  md << "- CPU: " << read_first_line_with("/proc/cpuinfo", "model name") << ", nproc "
     << sysconf(_SC_NPROCESSORS_ONLN) << "\n";
  md << "- Kernel: " << u.sysname << " " << u.release << " (" << u.machine << ")\n";
  {
    std::ifstream la{"/proc/loadavg"};
    std::string l1, l5, l15;
    la >> l1 >> l5 >> l15;
    md << "- Load average (1/5/15 min): C++ start "
       << (db.env.count("warden") ? db.env["warden"]["config"].value("loadavg", "?") : "?")
       << ", Erlang start "
       << (db.env.count("erlang") ? db.env["erlang"]["config"].value("loadavg", "?") : "?")
       << ", end " << l1 << " " << l5 << " " << l15 << "\n";
  }
  if (db.env.count("warden")) {
    auto& c = db.env["warden"]["config"];
    md << "- CAF " << c.value("caf_version", "?") << " (defaults, nothing tuned): "
       << "scheduler.policy=" << c.value("scheduler.policy", "?")
       << ", scheduler.max-threads=" << c["scheduler.max-threads"].dump()
       << " (workers: " << c["scheduler.workers"].dump() << ")"
       << ", scheduler.max-throughput=" << c.value("scheduler.max-throughput", "?")
       << "; build: " << c.value("build", "?") << ", " << c.value("compiler", "?") << "\n";
  }
  if (db.env.count("erlang")) {
    auto& c = db.env["erlang"]["config"];
    md << "- Erlang/OTP " << c.value("otp_release", "?") << " (erts " << c.value("erts", "?")
       << "): schedulers " << c["schedulers"].dump() << ", online "
       << c["schedulers_online"].dump() << " (default +S), logger level "
       << c.value("logger_level", "?") << "\n";
  }
  md << "\n";
  // --- side-by-side tables ---
  const std::vector<std::pair<std::string, std::string>> sections{
    {"restart", "1. Restart latency (crash -> restarted child answers via its name)"},
    {"dynamic", "2. Dynamic supervisor: start N children, then stop the supervisor"},
    {"throughput", "3. Throughput and request latency"},
    {"memory", "4. Memory per supervised child"},
  };
  for (auto& [workload, title] : sections) {
    md << "## " << title << "\n\n";
    md << "| case | metric | Warden | raw CAF | Erlang | Warden/Erlang | Warden/raw CAF |\n";
    md << "|---|---|---:|---:|---:|---:|---:|\n";
    for (auto& k : db.order) {
      if (k.workload != workload)
        continue;
      bool is_caf_only = db.find("warden", k) == nullptr && db.find("erlang", k) == nullptr;
      if (workload == "throughput" && k.kase == "raw")
        is_caf_only = true;
      if (is_caf_only && workload == "throughput")
        continue;  // shown as the raw CAF column of the other rows
      std::string label = k.kase;
      auto* w = db.find("warden", k);
      auto* e = db.find("erlang", k);
      std::string ns;
      if (w)
        ns += "W n=" + std::to_string((*w)["n"].get<uint64_t>());
      if (e) {
        ns += std::string{ns.empty() ? "" : ", "} + "E n="
              + std::to_string((*e)["n"].get<uint64_t>());
        if ((*e)["config"].contains("n_cleared"))
          ns += ", E cleared n=" + (*e)["config"]["n_cleared"].dump();
      }
      if (!ns.empty())
        label += " (" + ns + ")";
      for (auto& row : rows_of(workload)) {
        auto wv = db.metric("warden", k, row.warden != nullptr ? row.warden : row.name);
        auto cv = db.metric("caf", caf_key(k), row.name);
        auto ev = db.metric("erlang", k, row.name);
        if (!wv && !cv && !ev)
          continue;
        md << "| " << label << " | " << row.label << " | " << fmt(wv) << " | " << fmt(cv)
           << " | " << fmt(ev) << " | " << ratio(wv, ev) << " | " << ratio(wv, cv) << " |\n";
        label = "";
      }
    }
    md << "\n";
  }
  // --- targets ---
  md << "## Targets\n\n| target | case | Warden | reference | met? |\n|---|---|---:|---:|:---:|\n";
  auto yes = [](bool b) { return b ? "yes" : "**no**"; };
  for (auto& k : db.order) {
    if (k.workload != "restart" || db.find("warden", k) == nullptr)
      continue;
    auto wp50 = db.metric("warden", k, "p50_us");
    auto ep50 = db.metric("erlang", k, "p50_us");
    if (wp50 && ep50)
      md << "| restart p50 <= Erlang (as configured) | " << k.kase << " | " << fmt(wp50)
         << " µs | " << fmt(ep50) << " µs | " << yes(*wp50 <= *ep50) << " |\n";
    auto ec = db.metric("erlang", k, "p50_us_cleared");
    if (wp50 && ec)
      md << "| restart p50 <= Erlang (OTP restart list cleared) | " << k.kase << " | "
         << fmt(wp50) << " µs | " << fmt(ec) << " µs | " << yes(*wp50 <= *ec) << " |\n";
  }
  for (auto& k : db.order) {
    if (k.workload != "restart" || db.find("warden", k) == nullptr)
      continue;
    auto p99 = db.metric("warden", k, "p99_us");
    if (p99)
      md << "| restart p99 < 100 µs | " << k.kase << " | " << fmt(p99) << " µs | 100 µs | "
         << yes(*p99 < 100) << " |\n";
  }
  for (auto& k : db.order) {
    if (k.workload != "restart" || db.find("warden", k) == nullptr)
      continue;
    auto f = db.metric("warden", k, "first10_p50_us");
    auto l = db.metric("warden", k, "last10_p50_us");
    auto* w = db.find("warden", k);
    if (f && l && (*w)["n"].get<uint64_t>() >= 10000)
      md << "| no drift (p50 last 10% <= 1.1 x first 10%) | " << k.kase << " | " << fmt(l)
         << " µs | " << fmt(f) << " µs | " << yes(*l <= 1.1 * *f) << " |\n";
  }
  for (auto& k : db.order) {
    if (k.workload != "dynamic" || k.kase.find("n=100000") == std::string::npos)
      continue;
    auto wt = db.metric("warden", k, "total_s");
    auto et = db.metric("erlang", key{k.workload, "n=100000"}, "total_s");
    if (wt && et)
      md << "| 100k dynamic children start+stop faster than Erlang | " << k.kase << " | "
         << fmt(wt) << " s | " << fmt(et) << " s | " << yes(*wt < *et) << " |\n";
  }
  for (auto& k : db.order) {
    if (k.workload != "throughput" || k.kase == "raw")
      continue;
    auto wv = db.metric("warden", k, "oneway_msgs_per_s");
    auto cv = db.metric("caf", caf_key(k), "oneway_msgs_per_s");
    if (wv && cv)
      md << "| one-way throughput >= 0.95 x raw CAF | " << k.kase << " | " << fmt(wv)
         << " msg/s | " << fmt(cv) << " msg/s | " << yes(*wv >= 0.95 * *cv) << " |\n";
    auto wr = db.metric("warden", k, "rtt_per_s");
    auto cr = db.metric("caf", caf_key(k), "rtt_per_s");
    if (wr && cr)
      md << "| round-trip throughput >= 0.95 x raw CAF | " << k.kase << " | " << fmt(wr)
         << " /s | " << fmt(cr) << " /s | " << yes(*wr >= 0.95 * *cr) << " |\n";
  }
  for (auto& k : db.order) {
    if (k.workload != "memory")
      continue;
    auto above = db.metric("warden", k, "above_raw_caf_bytes");
    if (above)
      md << "| <= 512 bytes/child above a raw CAF actor | " << k.kase << " | " << fmt(above)
         << " B | 512 B | " << yes(*above <= 512) << " |\n";
  }
  md << "\n";
  // --- notes ---
  md << "## What was measured\n\n"
     << "- **Restart**: a supervisor with the strategy over k named children (intensity "
        "INT_MAX per 1 s, so it never gives up); the victim is the child at index k/2. The "
        "driver sends the victim an exit signal with an abnormal reason, then asks `ping` "
        "through the stable name until the *new* instance answers (Warden: the "
        "`warden::lookup` handle, a request without timeout, retried when it reaches the "
        "dying instance, kept by the name while the service restarts; Erlang: "
        "`whereis(Name)` polled with `erlang:yield()` until a new pid is registered, then "
        "`gen_server:call(Name, ping)`). The next crash follows at once, so for "
        "one_for_all/rest_for_one the restart of the children after the victim overlaps "
        "the next sample. Counts are smaller where one restart restarts many children.\n"
     << "- **Erlang as configured vs. restart list cleared**: with an intensity that never "
        "gives up, OTP's supervisor keeps every restart time of the period in a list and "
        "walks it on each restart (`add_restart/3`), so each restart costs O(restarts in the "
        "last 1-2 s) and Erlang's latency drifts upwards. Erlang is measured both ways: as "
        "configured (n capped at 20000, quick 2000, because each restart then costs ~0.4 ms "
        "of wall time) and with the list emptied every 32 samples by `sys:replace_state` "
        "outside the timed interval (same n as Warden; the list never exceeds 32 entries): the rows marked [Erlang: list "
        "cleared] compare the restart path itself.\n"
     << "- **Dynamic**: `start_child(args)` N times, one request at a time (w=64: 64 in "
        "flight), then the supervisor is stopped (children: default 5000 ms shutdown; OTP: "
        "simple_one_for_one, shutdown 5000, `supervisor:start_child/2` in a loop).\n"
     << "- **Throughput**: one-way = M `tick` messages in batches of 1000, each followed by "
        "a `count` request, at most 4 batches in flight (Erlang: the same with "
        "`gen_server:cast` and `gen_server:send_request`); round trips = N sequential `ping` requests. A run "
        "is 10 rounds in which the targets take turns; a run's rate is the median of its "
        "rounds; Warden/raw CAF ratios are also taken per run (`oneway_vs_raw`, "
        "`rtt_rate_vs_raw` in the JSON). `name` = via the stable name handle (Erlang: "
        "registered name), `direct` = via the actor handle (Erlang: pid). The raw CAF "
        "column is a plain `stateful_actor` with the same behavior.\n"
     << "- **Memory**: a fresh process per run. Warden: RSS delta / N after N dynamic "
        "children started; raw CAF: RSS delta / N after N idle actors with the same behavior "
        "ran their init; Erlang: `erlang:memory(processes)` and RSS deltas / N for N "
        "simple_one_for_one children (a fresh `erl` per run).\n"
     << "- The machine may be shared: the load average at the start of each side and at "
        "the end is listed above; figures taken under load are noisier (tails first).\n";
  std::cout << md.str();
  return 0;
}

} // namespace warden::bench
