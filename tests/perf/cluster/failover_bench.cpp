// warden_failover_bench: how long a singleton cluster service is unavailable when its node
// crashes, hangs or is cut off (issue 4: "failover time (fault -> the service answers
// again on another node), p50/p99 over at least 20 runs each for kill -9, SIGSTOP and a
// partition ... zero double activations across all runs").
//
//   warden_failover_bench [--quick|--smoke] [--runs N] [--only kill,stop,partition]
//                         [--warden PATH]
//
// Every run starts three fresh `warden node`s (n1..n3 on 127.0.0.1, every node-to-node
// link through a TCP proxy) running a tree with one singleton "ledger" (the built-in
// counter), and joins them from this process as a client node without services. Once the
// ledger answers, the fault hits the ledger's node: SIGKILL, SIGSTOP, or every link between
// it and the others cut, the client's included (the client is on the majority's side;
// for this case its links run through proxies too). The failover
// time is from just before the fault to the first `add` answered by the ledger on another
// node (calls by name every 5 ms, 200 ms timeout each). Double activations: from every
// node's log, the intervals in which each node ran the ledger (cluster_service_started
// to cluster_service_stopped; a killed node's ends at the kill; a paused node's window
// between SIGSTOP and SIGCONT is left out: it cannot act then, but counts again after
// SIGCONT until it logs the stop); two overlapping intervals of different nodes count
// as one double activation.
//
// A copy stopped for "lease lost" is also counted up to the end of its lease (the stop
// line's `lease_ended_us`): a paused node's lease ends while it is stopped, and its
// manager stops the copy at its first check after SIGCONT; both counts are printed.
//
// Output: one JSON line per kind on stdout (workload "failover": per_run, p50, p99, max,
// double_activations, double_activations_lease) and a markdown table on stderr. Exit 1
// when a run failed or copies overlapped within their leases.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "bench.hpp"
#include "support/node_cluster.hpp"
#include "warden/builtin_services.hpp"
#include "warden/cluster_names.hpp"
#include "warden/node.hpp"

#ifndef WARDEN_BIN
#define WARDEN_BIN "warden"
#endif

namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using wall = std::chrono::system_clock;
using warden::test::test_cluster;

const char* ledger_tree = R"(
[[children]]
id = "ledger"
service = "counter"
name = "ledger"
cluster = "singleton"
)";

struct options {
  warden::bench::mode level = warden::bench::mode::full;
  int runs = 0;  // 0: 20 (quick 5, smoke 1)
  std::vector<std::string> kinds{"kill", "stop", "partition"};
  std::string warden = WARDEN_BIN;
};

/// Wall clock of a log line ("time": "2026-12-07T02:55:02.030661Z") in microseconds.
int64_t line_time_us(const json& line) {
  auto text = line.value("time", "");
  std::tm tm{};
  int64_t micros = 0;
  std::istringstream in{text};
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
  if (in.peek() == '.') {
    in.get();
    std::string digits;
    while (std::isdigit(in.peek()))
      digits += static_cast<char>(in.get());
    digits.resize(6, '0');
    micros = std::stoll(digits);
  }
  return static_cast<int64_t>(timegm(&tm)) * 1000000 + micros;
}

int64_t wall_us(wall::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

/// The intervals [start, end) in which `node` ran the ledger, from its log; an interval
/// still open ends at `open_end`.
std::vector<std::pair<int64_t, int64_t>> ledger_intervals(warden::test::node_process& node,
                                                          int64_t open_end,
                                                          bool fenced_by_lease) {
  std::vector<std::pair<int64_t, int64_t>> out;
  int64_t since = -1;  // -1: not running
  for (auto& line : node.log_lines()) {
    if (!line.is_object() || line.value("name", "") != "ledger")
      continue;
    auto event = line.value("event", "");
    if (event == "cluster_service_started") {
      since = line_time_us(line);
    } else if (event == "cluster_service_stopped" && since >= 0) {
      auto end = line_time_us(line);
      if (fenced_by_lease)  // the copy stopped counting when the lease ended
        end = std::min(end, line.value("lease_ended_us", end));
      out.emplace_back(since, std::max(since, end));
      since = -1;
    }
  }
  if (since >= 0)
    out.emplace_back(since, open_end);
  return out;
}

std::string ledger_node(test_cluster& c) {
  for (auto& name : c.names()) {
    auto& n = c.node(name);
    if (!n.running() || n.paused())
      continue;
    bool on = false;
    for (auto& line : n.log_lines())
      if (line.is_object() && line.value("name", "") == "ledger")
        on = line.value("event", "") == "cluster_service_started";
    if (on)
      return name;
  }
  return "";
}

/// The owner of "ledger" in the client's table ("" when none).
std::string owner_seen_by(warden::node& client) {
  auto snap = client.snapshot();
  auto i = snap->names.find("ledger");
  return i == snap->names.end() ? "" : i->second.owner.name;
}

bool add_once(warden::node& client) {
  warden::cluster_client cc{client.system()};
  return static_cast<bool>(cc.call<int>("ledger", 200ms, warden::builtin::add_atom::value));
}

struct run_result {
  double failover_ms = 0;
  /// Overlaps of the copies' intervals up to their `cluster_service_stopped` lines.
  int double_activations = 0;
  /// The same with a copy stopped for "lease lost" ending when its lease ended.
  int double_activations_lease = 0;
  std::string from;
  std::string to;
};

/// One run of `kind`; nullopt (and a message on stderr) when the run could not be set up
/// or the service never came back within 30 s.
std::optional<run_result> one_run(const options& opts, const std::string& kind) {
  test_cluster c{opts.warden, 3, {.with_proxies = true, .start = false}};
  auto tree = c.write_file("tree.toml", ledger_tree);
  warden::node_config cfg;
  cfg.node.port = 0;
  cfg.http.enabled = false;
  cfg.cluster.secret = "test-secret";
  cfg.cluster.name = "test";
  cfg.log.file = "/dev/null";
  cfg.cluster.client = true;  // a client member: counts for no majority and no lease
  // For a partition the client's links go through proxies too (node and call ports, both
  // directions), so that the cut puts the client on the majority's side.
  std::map<std::string, std::vector<std::unique_ptr<warden::test::tcp_proxy>>> client_links;
  auto ports = warden::test::free_ports(4);
  if (kind == "partition")
    cfg.node.port = ports[0];
  auto route = [](uint16_t to, uint16_t via) {
    return *warden::route::parse("127.0.0.1:" + std::to_string(to) + "=127.0.0.1:"
                                 + std::to_string(via));
  };
  for (size_t i = 0; i < c.names().size(); ++i) {
    auto name = c.names()[i];
    auto& n = c.node(name);
    n.options().tree = tree;
    cfg.cluster.seeds.push_back(*warden::endpoint::parse(n.address()));
    if (kind != "partition")
      continue;
    auto& links = client_links[name];
    uint16_t call_port = ports[i + 1];
    n.options().extra_args.insert(n.options().extra_args.end(),
                                  {"--call-port", std::to_string(call_port)});
    using warden::test::tcp_proxy;
    links.push_back(std::make_unique<tcp_proxy>("127.0.0.1", cfg.node.port));
    n.options().connect_via.push_back("127.0.0.1:" + std::to_string(cfg.node.port)
                                      + "=127.0.0.1:" + std::to_string(links.back()->port()));
    links.push_back(std::make_unique<tcp_proxy>("127.0.0.1", n.options().port));
    cfg.cluster.connect_via.push_back(route(n.options().port, links.back()->port()));
    links.push_back(std::make_unique<tcp_proxy>("127.0.0.1", call_port));
    cfg.cluster.connect_via.push_back(route(call_port, links.back()->port()));
  }
  c.start_all();
  if (!c.wait_all_ready(15s) || !c.wait_converged(15s)) {
    std::cerr << "failover: the nodes did not start and converge within 15 s\n"
              << c.diagnostics() << '\n';
    return std::nullopt;
  }
  auto started = warden::node::start(cfg);
  if (!started) {
    std::cerr << "failover: client node: " << caf::to_string(started.error()) << '\n';
    return std::nullopt;
  }
  auto& client = **started;
  auto ready_by = steady::now() + 15s;
  std::string owner;
  while (steady::now() < ready_by) {
    owner = ledger_node(c);
    if (!owner.empty() && owner_seen_by(client) == owner && add_once(client))
      break;
    owner.clear();
    std::this_thread::sleep_for(10ms);
  }
  if (owner.empty()) {
    std::cerr << "failover: the ledger never answered (ledger on '" << ledger_node(c)
              << "', client sees '" << owner_seen_by(client) << "')\n"
              << c.diagnostics() << '\n';
    client.stop();
    return std::nullopt;
  }
  // The detectors leave their start-up estimate on steady heartbeats (docs/performance.md,
  // detection: ~1.9 s right after a join, ~1.45 s in the steady state).
  std::this_thread::sleep_for(kind == "stop" ? 5s : 500ms);
  auto fault_at = wall::now();
  auto t0 = steady::now();
  if (kind == "kill") {
    c.node(owner).kill9();
  } else if (kind == "stop") {
    c.node(owner).pause();
  } else {
    for (auto& other : c.names())
      if (other != owner)
        c.link(owner, other).cut();
    for (auto& link : client_links[owner])
      link->cut();
  }
  std::optional<run_result> result;
  auto give_up = steady::now() + 30s;
  while (steady::now() < give_up) {
    auto now_owner = owner_seen_by(client);
    if (!now_owner.empty() && now_owner != owner && add_once(client)) {
      result = run_result{};
      result->failover_ms
        = std::chrono::duration<double, std::milli>(steady::now() - t0).count();
      result->from = owner;
      result->to = now_owner;
      break;
    }
    std::this_thread::sleep_for(5ms);
  }
  // Let the faulty side act: a cut-off node stops its copy on its own; a paused one when
  // it runs again (it cannot act while stopped: that window is not counted).
  std::optional<int64_t> resumed_at;
  if (kind == "stop") {
    resumed_at = wall_us(wall::now());
    c.node(owner).resume();
  }
  std::this_thread::sleep_for(kind == "kill" ? 200ms : 1500ms);
  if (result) {
    auto end = wall_us(wall::now());
    auto overlaps = [&](bool fenced_by_lease) {
      std::vector<std::pair<std::string, std::pair<int64_t, int64_t>>> all;
      for (auto& name : c.names()) {
        // A killed node's copy died with it.
        auto open_end = name == owner && kind == "kill" ? wall_us(fault_at) : end;
        for (auto iv : ledger_intervals(c.node(name), open_end, fenced_by_lease)) {
          if (name == owner && resumed_at && iv.second > wall_us(fault_at)) {
            all.emplace_back(name, std::pair{iv.first, wall_us(fault_at)});
            iv.first = std::max(iv.first, *resumed_at);  // after SIGCONT until it stopped
            if (iv.first >= iv.second)
              continue;
          }
          all.emplace_back(name, iv);
        }
      }
      int n = 0;
      for (size_t i = 0; i < all.size(); ++i)
        for (size_t j = i + 1; j < all.size(); ++j)
          if (all[i].first != all[j].first && all[i].second.first < all[j].second.second
              && all[j].second.first < all[i].second.second)
            ++n;
      return n;
    };
    result->double_activations = overlaps(false);
    result->double_activations_lease = overlaps(true);
  } else {
    std::cerr << "failover: " << kind << ": no answer from another node within 30 s\n"
              << c.diagnostics() << '\n';
  }
  client.stop();
  return result;
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc)
        throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    if (a == "--quick")
      o.level = warden::bench::mode::quick;
    else if (a == "--smoke")
      o.level = warden::bench::mode::smoke;
    else if (a == "--runs")
      o.runs = std::stoi(next());
    else if (a == "--warden")
      o.warden = next();
    else if (a == "--only") {
      o.kinds.clear();
      std::stringstream in{next()};
      for (std::string k; std::getline(in, k, ',');) {
        if (k != "kill" && k != "stop" && k != "partition")
          throw std::invalid_argument("unknown fault '" + k + "' (kill, stop, partition)");
        o.kinds.push_back(k);
      }
    } else
      throw std::invalid_argument("unknown argument '" + a + "'");
  }
  if (o.runs == 0)
    o.runs = o.level == warden::bench::mode::full ? 20 : o.level == warden::bench::mode::quick ? 5 : 1;
  return o;
}

} // namespace

int main(int argc, char** argv) {
  options opts;
  try {
    opts = parse(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "warden_failover_bench: " << e.what()
              << "\nusage: warden_failover_bench [--quick|--smoke] [--runs N]"
                 " [--only kill,stop,partition] [--warden PATH]\n";
    return 2;
  }
  std::cerr << "| fault | runs | failover p50 ms | p99 ms | max ms | double activations "
               "(to the stop line) | double activations (to the lease's end) |\n"
            << "|---|---:|---:|---:|---:|---:|---:|\n";
  bool ok = true;
  for (auto& kind : opts.kinds) {
    std::vector<double> times;
    int doubles = 0;
    int doubles_lease = 0;
    int failed = 0;
    json per_run = json::array();
    for (int r = 0; r < opts.runs; ++r) {
      auto res = one_run(opts, kind);
      if (!res) {
        ++failed;
        continue;
      }
      times.push_back(res->failover_ms);
      doubles += res->double_activations;
      doubles_lease += res->double_activations_lease;
      per_run.push_back({{"failover_ms", res->failover_ms}, {"from", res->from},
                         {"to", res->to}, {"double_activations", res->double_activations},
                         {"double_activations_lease", res->double_activations_lease}});
    }
    std::sort(times.begin(), times.end());
    auto pct = [&](double q) {
      return times.empty() ? 0.0 : warden::bench::percentile_sorted(times, q);
    };
    json rec{{"workload", "failover"}, {"fault", kind}, {"runs", opts.runs},
             {"failed_runs", failed}, {"p50_ms", pct(0.5)}, {"p99_ms", pct(0.99)},
             {"max_ms", times.empty() ? 0.0 : times.back()},
             {"double_activations", doubles}, {"double_activations_lease", doubles_lease},
             {"per_run", per_run}};
    std::cout << rec.dump() << std::endl;
    std::cerr << "| " << kind << " | " << times.size() << (failed ? " (+" + std::to_string(failed) + " failed)" : "")
              << " | " << pct(0.5) << " | " << pct(0.99) << " | " << rec["max_ms"].get<double>()
              << " | " << doubles << " | " << doubles_lease << " |\n";
    ok = ok && failed == 0 && doubles_lease == 0;
  }
  return ok ? 0 : 1;
}
