// warden_bench: Warden vs raw CAF benchmarks (the Erlang side is erlang/warden_bench.erl;
// tests/perf/run.sh runs both and builds the side-by-side report).
//
//   warden_bench [all] [--quick|--smoke] [--runs N] [--only restart,dynamic,...]
//   warden_bench restart    [--strategy one_for_one|one_for_all|rest_for_one] [--k K] [--n N]
//   warden_bench dynamic    [--n N] [--window W]
//   warden_bench throughput [--n N]
//   warden_bench memory     [--n N]
//   warden_bench report FILE.jsonl...      (markdown to stdout)
//   warden_bench --smoke                   (tiny counts of everything; the ctest smoke entry)
//
// Results: JSON lines on stdout, a readable table and progress on stderr.
#include <cstring>
#include <iostream>
#include <sstream>

#include <unistd.h>

#include <caf/all.hpp>

#include "bench.hpp"

using namespace warden::bench;

namespace {

void usage() {
  std::cerr
    << "usage: warden_bench [all|restart|dynamic|throughput|memory|report] [options]\n"
       "  --quick | --smoke     reduced / tiny counts (default: full)\n"
       "  --runs N              runs per figure, the median is reported (default 5; quick 3;"
       " smoke 1)\n"
       "  --only a,b            all: only these workloads\n"
       "  --strategy S --k K    restart: one case\n"
       "  --n N --window W      operations per run; dynamic: requests in flight\n"
       "  --max-threads N       experiments only: override scheduler.max-threads\n"
       "  --policy P            experiments only: scheduler.policy (stealing|sharing)\n";
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

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in{s};
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty())
      out.push_back(item);
  return out;
}

void emit_env(const options& opts) {
  auto cfg = make_config();
  caf::actor_system sys{*cfg};
  auto env = environment(sys, *cfg);
  env.config["mode"] = to_string(opts.level);
  env.config["runs"] = opts.runs;
  env.config["compiler"] = std::string{"g++ "} + __VERSION__;
  emit(env);
}

} // namespace

int main(int argc, char** argv) {
  options opts;
  opts.self_exe = self_exe(argv[0]);
  std::string cmd = "all";
  bool runs_given = false;
  size_t max_threads = 0;
  std::string policy;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        usage();
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--quick")
      opts.level = mode::quick;
    else if (a == "--smoke")
      opts.level = mode::smoke;
    else if (a == "--runs") {
      opts.runs = std::stoi(value());
      runs_given = true;
    } else if (a == "--strategy")
      opts.strategy = value();
    else if (a == "--k")
      opts.k = std::stoul(value());
    else if (a == "--n")
      opts.n = std::stoul(value());
    else if (a == "--window")
      opts.window = std::stoul(value());
    else if (a == "--kind")
      opts.kind = value();
    else if (a == "--only")
      opts.only = split(value());
    else if (a == "--max-threads")
      max_threads = std::stoul(value());
    else if (a == "--policy")
      policy = value();
    else if (a == "-h" || a == "--help") {
      usage();
      return 0;
    } else if (!a.empty() && a[0] != '-' && i == 1)
      cmd = a;
    else if (!a.empty() && a[0] != '-' && cmd == "report")
      opts.inputs.push_back(a);
    else {
      std::cerr << "unknown argument: " << a << "\n";
      usage();
      return 2;
    }
  }
  set_scheduler_override(max_threads, policy);
  if (!runs_given)
    opts.runs = opts.level == mode::full ? 5 : opts.level == mode::quick ? 3 : 1;
  try {
    if (cmd == "report")
      return run_report(opts);
    if (cmd == "mem-once")
      return run_mem_once(opts);
    emit_env(opts);
    auto wanted = [&](const std::string& w) {
      if (cmd != "all")
        return cmd == w;
      return opts.only.empty()
             || std::find(opts.only.begin(), opts.only.end(), w) != opts.only.end();
    };
    bool any = false;
    if (wanted("restart")) {
      run_restart(opts);
      any = true;
    }
    if (wanted("dynamic")) {
      run_dynamic(opts);
      any = true;
    }
    if (wanted("throughput")) {
      run_throughput(opts);
      any = true;
    }
    if (wanted("memory")) {
      run_memory(opts);
      any = true;
    }
    if (!any) {
      std::cerr << "unknown command or workload: " << cmd << "\n";
      usage();
      return 2;
    }
    print_table();
  } catch (const std::exception& e) {
    std::cerr << "warden_bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
