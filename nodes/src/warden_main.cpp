// The `warden` command.
//
//   warden run TREE_FILE [--json] [--log-file PATH] [--fault AT:PATH:ACTION]...
//                        [--faults FILE] [--duration-ms N]
//   warden types
//   warden node [--config FILE] [flags] [--print-config]   (node_config.hpp lists them)
//   warden cluster up|status|down ...                      (cluster_launcher.hpp)
//
// `run` loads and checks the tree (and the faults) before anything starts, starts the
// root supervisor, injects faults on schedule and stops the tree in order on SIGINT /
// SIGTERM or after --duration-ms. Exit codes: 0 the tree ran and stopped in order (or the
// root ended by auto_shutdown); 1 the tree failed to start, the root gave up, or the
// stop failed; 2 bad command line, tree file or fault plan (nothing was started).
//
// Signals: SIGINT, SIGTERM and SIGUSR1 are blocked before any thread exists, so every
// thread inherits the mask and only the main thread takes them, with sigtimedwait. There
// is no signal handler. SIGUSR1 is the internal wake-up: the root's monitor and the stop
// thread send it to the main thread when something it waits for happened.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <fmt/format.h>

#include "internal/signal_wait.hpp"
#include "warden/builtin_services.hpp"
#include "warden/chaos_runner.hpp"
#include "warden/cluster_launcher.hpp"
#include "warden/node.hpp"
#include "warden/node_config.hpp"
#include "warden/errors.hpp"
#include "warden/event_log.hpp"
#include "warden/exit_reasons.hpp"
#include "warden/fault_plan.hpp"
#include "warden/supervisor.hpp"
#include "warden/tree_file.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

constexpr int exit_ok = 0;
constexpr int exit_failed = 1;
constexpr int exit_usage = 2;

/// How long an orderly stop may take before the tree is killed. Children's own shutdown
/// timeouts apply inside it; this only guards against `shutdown = "infinity"` hangs.
constexpr auto stop_timeout = std::chrono::seconds{60};

struct run_options {
  std::string tree_file;
  bool json = false;
  std::string log_file;
  std::vector<std::string> faults;
  std::string faults_file;
  std::optional<int64_t> duration_ms;
};

/// Writes one whole line with a single stdio call, so it never interleaves with the
/// event log's lines on the same stream.
void say(FILE* out, const std::string& line) {
  auto text = "warden: " + line + "\n";
  std::fwrite(text.data(), 1, text.size(), out);
  std::fflush(out);
}

// --- signals -----------------------------------------------------------------------------

sigset_t waited_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR1);
  return set;
}

/// Waits for one of `waited_signals` until `deadline` (forever if none). Returns the
/// signal, or 0 when the deadline passed.
int wait_signal(std::optional<clock_type::time_point> deadline) {
  return warden::internal::wait_for_signal(waited_signals(), deadline);
}

// --- watching the root -------------------------------------------------------------------

/// Filled in by an actor that monitors the root; wakes the main thread when it dies.
struct root_watch {
  std::mutex mtx;
  bool down = false;
  caf::error reason;

  bool is_down() {
    std::lock_guard<std::mutex> guard{mtx};
    return down;
  }
  caf::error exit_reason() {
    std::lock_guard<std::mutex> guard{mtx};
    return reason;
  }
};

/// Returns the watcher: keep the handle while watching. CAF 0.17 ends an actor nobody
/// holds a handle to (reason unreachable), and a monitor is no handle.
caf::actor watch_root(caf::actor_system& sys, const caf::actor& root,
                      std::shared_ptr<root_watch> watch, pthread_t main_thread) {
  return sys.spawn([root, watch, main_thread](caf::event_based_actor* self) -> caf::behavior {
    self->monitor(root);
    self->set_down_handler([self, watch, main_thread](caf::down_msg& msg) {
      {
        std::lock_guard<std::mutex> guard{watch->mtx};
        watch->down = true;
        watch->reason = msg.reason;
      }
      pthread_kill(main_thread, SIGUSR1);
      self->quit();
    });
    return {[](warden::ok_atom) {}};  // stays alive for its down handler
  });
}

/// A plain `shutdown` is an orderly end; anything else (a give-up carries its culprit
/// as context, a kill, a crash) is a failure.
bool orderly(const caf::error& reason) {
  return warden::is_shutdown(reason) && reason.context().empty();
}

// --- warden run --------------------------------------------------------------------------

int run(const run_options& opt) {
  // Check everything before anything starts.
  warden::service_catalog catalog;
  warden::add_builtin_services(catalog);
  auto tree = warden::load_tree_file(opt.tree_file, catalog);
  if (!tree) {
    say(stderr, warden::config_error_text(tree.error()));
    return exit_usage;
  }
  std::vector<warden::fault> faults;
  for (auto& spec : opt.faults) {
    auto f = warden::parse_fault(spec);
    if (!f) {
      say(stderr, warden::config_error_text(f.error()));
      return exit_usage;
    }
    faults.push_back(*f);
  }
  if (!opt.faults_file.empty()) {
    auto more = warden::load_fault_file(opt.faults_file);
    if (!more) {
      say(stderr, warden::config_error_text(more.error()));
      return exit_usage;
    }
    faults.insert(faults.end(), more->begin(), more->end());
  }
  if (auto err = warden::resolve_fault_paths(faults, *tree)) {
    say(stderr, warden::config_error_text(err));
    return exit_usage;
  }
  auto format = opt.json ? warden::log_format::json : warden::log_format::text;
  std::shared_ptr<warden::event_log> log;
  try {
    log = opt.log_file.empty() ? warden::event_log::make(format)
                               : warden::event_log::to_file(opt.log_file, format);
  } catch (const std::exception& e) {
    say(stderr, fmt::format("--log-file {}: {}", opt.log_file, e.what()));
    return exit_usage;
  }
  // Status lines share stdout with a text log; JSON lines on stdout stay pure JSON.
  FILE* status = opt.json && opt.log_file.empty() ? stderr : stdout;

  caf::actor_system_config cfg;
  warden::configure(cfg);
  caf::actor_system sys{cfg};
  tree->flags.events = log;
  // A single process is a cluster of one: its cluster services run here, in declared order
  // after the other children.
  for (auto& cs : tree->cluster_services)
    for (uint32_t i = 0; i < (cs.mode == warden::cluster_mode::spread ? cs.instances : 1u); ++i)
      tree->children.push_back(warden::cluster_instance_spec(cs, i));
  auto root = warden::start_supervisor(sys, tree->flags, tree->children);
  if (!root) {
    log->flush();
    say(stderr, "the tree failed to start: " + warden::describe(root.error()));
    return exit_failed;
  }
  auto watch = std::make_shared<root_watch>();
  auto main_thread = pthread_self();
  auto watcher = watch_root(sys, *root, watch, main_thread);
  log->flush();  // the start events come before the "up" line
  auto n = std::count_if(tree->layout.begin(), tree->layout.end(),
                         [](const warden::declared_child& c) { return !c.dynamic_template; });
  say(status, fmt::format("tree up: {} ({} {})", tree->source, n, n == 1 ? "child" : "children"));

  // Run: inject faults when due, until a signal, the duration, or the root's death.
  auto t0 = clock_type::now();
  std::optional<clock_type::time_point> end;
  if (opt.duration_ms)
    end = t0 + std::chrono::milliseconds{*opt.duration_ms};
  size_t next = 0;
  std::string stop_cause;
  while (!watch->is_down()) {
    auto now = clock_type::now();
    if (next < faults.size() && t0 + faults[next].at <= now) {
      auto& f = faults[next++];
      auto what = fmt::format("fault at {}ms: {} {}", f.at.count(), to_string(f.action), f.path);
      if (auto err = warden::inject(sys, *root, f))
        say(status, what + ": skipped: " + warden::describe(err));
      else
        say(status, what);
      continue;
    }
    if (end && now >= *end) {
      stop_cause = fmt::format("duration of {}ms elapsed", *opt.duration_ms);
      break;
    }
    auto wake = end;
    if (next < faults.size() && (!wake || t0 + faults[next].at < *wake))
      wake = t0 + faults[next].at;
    auto sig = wait_signal(wake);
    if (sig == SIGINT || sig == SIGTERM) {
      stop_cause = sig == SIGINT ? "SIGINT" : "SIGTERM";
      break;
    }
  }

  if (watch->is_down()) {
    // The root ended on its own: it gave up, or a significant child ended it.
    log->flush();
    auto reason = watch->exit_reason();
    if (orderly(reason)) {
      say(status, "root supervisor stopped on its own (auto_shutdown)");
      return exit_ok;
    }
    say(stderr, "root supervisor gave up: " + warden::describe(reason));
    return exit_failed;
  }

  // Orderly stop on a helper thread, so a second SIGINT / SIGTERM can still kill the tree.
  say(status, "stopping the tree (" + stop_cause + ")");
  std::atomic<bool> stop_done{false};
  caf::error stop_reason;
  std::thread stopper{[&] {
    stop_reason = warden::stop_supervisor(sys, *root, stop_timeout);
    stop_done = true;
    pthread_kill(main_thread, SIGUSR1);
  }};
  while (!stop_done) {
    auto sig = wait_signal(std::nullopt);
    if (sig == SIGINT || sig == SIGTERM) {
      say(status, "second signal: killing the tree");
      caf::anon_send_exit(*root, caf::exit_reason::kill);
    }
  }
  stopper.join();
  if (warden::is(stop_reason, warden::errc::start_timeout)) {  // the stop itself timed out
    caf::anon_send_exit(*root, caf::exit_reason::kill);
    while (!watch->is_down())
      wait_signal(std::nullopt);
  }
  if (warden::is(stop_reason, warden::errc::no_supervisor))  // died while we asked
    stop_reason = watch->exit_reason();
  log->flush();
  if (!orderly(stop_reason)) {
    say(stderr, "the tree did not stop in order: " + warden::describe(stop_reason));
    return exit_failed;
  }
  say(status, "tree stopped");
  return exit_ok;
}

// --- warden node -------------------------------------------------------------------------

/// Runs one node until SIGINT / SIGTERM (or POST /cluster/leave), then leaves the cluster
/// and stops the tree in order. Exit codes: 0 stopped in order; 1 the node failed to start
/// or to stop; 2 bad configuration (nothing was started).
int run_node(const warden::node_flags& flags) {
  auto loaded = warden::load_node_config(warden::to_sources(flags));
  if (!loaded) {
    say(stderr, warden::node_config_error_text(loaded.error()));
    return exit_usage;
  }
  if (flags.print_config) {
    std::fputs(warden::print_config(*loaded).c_str(), stdout);
    return exit_ok;
  }
  auto n = warden::node::start(loaded->config);
  if (!n) {
    bool bad_tree = warden::is(n.error(), warden::errc::bad_config);
    bool bad_file = bad_tree || warden::is(n.error(), warden::errc::invalid_config);
    say(stderr, bad_tree ? warden::config_error_text(n.error())
                         : "node failed to start: " + warden::describe(n.error()));
    // _Exit: the node may have left CAF's threads running (see node::stop).
    std::_Exit(bad_file ? exit_usage : exit_failed);
  }
  auto& nd = **n;
  say(stdout, fmt::format("node {} listening on {} (cluster \"{}\"){}", nd.self().name,
                          nd.self().address, loaded->config.cluster.name,
                          nd.http_port() != 0
                            ? fmt::format(", http http://{}", nd.self().http)
                            : std::string{}));
  for (;;) {
    auto sig = wait_signal(std::nullopt);
    if (sig == SIGINT || sig == SIGTERM)
      break;
  }
  auto err = nd.stop();
  if (err) {
    say(stderr, "node did not stop in order: " + warden::describe(err));
    return exit_failed;
  }
  return exit_ok;
}

// --- warden types ------------------------------------------------------------------------

int types() {
  warden::service_catalog catalog;
  warden::add_builtin_services(catalog);
  size_t width = 0;
  for (auto& name : catalog.names())
    width = std::max(width, name.size());
  for (auto& name : catalog.names())
    std::printf("%-*s  %s\n", static_cast<int>(width), name.c_str(),
                catalog.description(name).c_str());
  return exit_ok;
}

} // namespace

int main(int argc, char** argv) {
  // Before any thread exists: all threads inherit the mask; only sigtimedwait takes them.
  auto set = waited_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  CLI::App app{"Warden: supervision trees and cluster nodes", "warden"};
  app.require_subcommand(1);
  run_options opt;
  auto* run_cmd = app.add_subcommand("run", "Run a tree file until SIGINT/SIGTERM or --duration-ms");
  run_cmd->add_option("tree_file", opt.tree_file, "The TOML tree file")->required();
  run_cmd->add_flag("--json", opt.json, "Write events as JSON lines (default: text)");
  run_cmd->add_option("--log-file", opt.log_file, "Write events to this file (default: stdout)");
  run_cmd->add_option("--fault", opt.faults,
                      "Inject a fault: AT:PATH:ACTION, e.g. 500ms:root/db:kill (repeatable)");
  run_cmd->add_option("--faults", opt.faults_file, "A TOML fault scenario file ([[fault]])");
  run_cmd->add_option("--duration-ms", opt.duration_ms,
                      "Stop the tree in order after this many milliseconds");
  auto* types_cmd = app.add_subcommand("types", "List the built-in service types");
  warden::node_flags node_opt;
  auto* node_cmd = app.add_subcommand("node", "Run one cluster node (settings: file < env < flags)");
  warden::add_node_flags(*node_cmd, node_opt);
  warden::add_cluster_commands(app);
  warden::chaos::add_chaos_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? exit_ok : exit_usage;
  }
  if (types_cmd->parsed())
    return types();
  if (node_cmd->parsed())
    return run_node(node_opt);
  if (opt.duration_ms && *opt.duration_ms < 0) {
    say(stderr, fmt::format("--duration-ms: must be >= 0, got {}", *opt.duration_ms));
    return exit_usage;
  }
  return run(opt);
}
