/// @file
/// Fault injection: make a declared tree fail on a schedule and watch it recover.
///
/// A fault is *when* (milliseconds after the tree is up), *where* (a child path) and
/// *what*. The path names a child by the ids of the supervisors above it:
/// `root/db_sup/db` is child `db` of supervisor `db_sup`, a child of the root; the root's
/// name may be left out (`db_sup/db`, or `db` for a root child). Children of dynamic
/// supervisors have no id and cannot be named.
///
/// | action            | effect                                                   | works on                 |
/// |-------------------|----------------------------------------------------------|--------------------------|
/// | `crash`           | exit signal `runtime_error("injected crash")`            | any child                |
/// | `kill`            | exit signal `kill` (untrappable)                         | any child                |
/// | `shutdown`        | exit signal `shutdown`                                   | any child                |
/// | `normal`          | the service quits with reason normal (`quit_atom`)       | cooperating services     |
/// | `exception`       | a handler throws `runtime_error("injected exception")`   | cooperating services     |
/// | `fail_next_start` | the child's next start fails (`fault_switches`)          | cooperating services     |
/// | `stall_shutdown`  | from now on the child ignores shutdown signals, so the   | cooperating services     |
/// |                   | supervisor kills it after its shutdown timeout           |                          |
///
/// Exit faults work for every child, supervisors included. The other four need the
/// service's help: the built-in services (builtin_services.hpp) all cooperate; your own
/// service does when it handles `builtin::quit_atom` / `builtin::throw_atom` and consults
/// `fault_switches::global()` with its `service_params::child_path` in init (start
/// failures) and in its exit handler (stalls). Stalls stay on until the process ends.
///
/// Faults come from the command line (`--fault 500ms:root/db:kill`, also `500` or `2s`)
/// or a TOML scenario file:
/// ```toml
/// [[fault]]
/// at_ms = 500
/// path = "root/db_sup/db"
/// action = "kill"
/// ```
///
/// ```cpp
/// auto f = warden::parse_fault("500ms:root/db:kill");            // expected<fault>
/// std::vector<warden::fault> plan{*f};
/// if (auto err = warden::resolve_fault_paths(plan, tree)) ...    // bad_config
/// ... // start the tree, wait until plan[i].at
/// auto err = warden::inject(sys, root, plan[i]);
/// ```
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "warden/tree_file.hpp"

namespace warden {

/// What a fault does (see the table above).
enum class fault_action : uint8_t {
  crash,
  exception,
  kill,
  shutdown,
  normal,
  fail_next_start,
  stall_shutdown,
};

/// The stable name of `x`, e.g. "fail_next_start".
const char* to_string(fault_action x);

/// The action named `name` ("kill", ...), or none.
std::optional<fault_action> fault_action_named(std::string_view name);

/// True for the actions that need the service's cooperation.
bool needs_cooperation(fault_action x);

/// One scheduled fault.
struct fault {
  /// When, counted from the moment the tree is up.
  std::chrono::milliseconds at{0};
  /// The child, as written; `resolve_fault_paths` makes it a full path ("root/.../id").
  std::string path;
  fault_action action = fault_action::crash;
  /// Where the path and the action were written, as message prefixes:
  /// `faults.toml:7: fault[0].path` or `--fault "SPEC": path`.
  std::string path_source;
  std::string action_source;
};

/// Parses a command-line fault "AT:PATH:ACTION" (AT: "500ms", "500" or "2s"). Errors:
/// `errc::bad_config` with context `--fault "SPEC": FIELD: what`.
caf::expected<fault> parse_fault(std::string_view spec);

/// Reads a TOML scenario file (`[[fault]]` tables with at_ms, path, action). Errors:
/// `errc::bad_config` with context "FILE:LINE: FIELD: what".
caf::expected<std::vector<fault>> load_fault_file(const std::string& path);

/// Same as `load_fault_file` for TOML text; `source_name` stands for the file.
caf::expected<std::vector<fault>> parse_fault_text(std::string_view toml_text,
                                                   const std::string& source_name);

/// Checks every fault against the declared tree before anything starts: the path names a
/// child (not a dynamic one), cooperative actions target a worker. Rewrites paths to full
/// paths and sorts the faults by time (stable). Errors: `errc::bad_config`.
caf::error resolve_fault_paths(std::vector<fault>& faults, const declared_tree& tree);

/// Process-wide switches that cooperating services consult, by full child path.
/// Thread-safe.
class fault_switches {
public:
  /// The switches built-in services consult.
  static fault_switches& global();

  /// Makes the next start of `path` fail with `reason`.
  void fail_next_start(const std::string& path, caf::error reason);

  /// Consumes an armed start failure of `path` (services call this in init).
  std::optional<caf::error> take_start_failure(const std::string& path);

  /// From now on the service at `path` ignores shutdown exit signals (or stops ignoring).
  void stall_shutdown(const std::string& path, bool on = true);

  /// Whether the service at `path` should ignore a shutdown exit signal.
  bool shutdown_stalled(const std::string& path) const;

  /// Turns every switch off.
  void clear();

private:
  mutable std::mutex mtx_;
  std::map<std::string, caf::error> start_failures_;
  std::set<std::string> stalled_;
};

/// The running instance at full path `path` under `root`, found by walking
/// which_children. Errors: `errc::not_found` naming the missing step or the child that
/// is not running; call errors of the supervisors.
caf::expected<caf::actor> find_child(caf::actor_system& sys, const caf::actor& root,
                                     const std::string& path);

/// Injects `f` (its path resolved) into the tree under `root`. Exit, normal and
/// exception faults need the child to be running; switch faults never fail.
caf::error inject(caf::actor_system& sys, const caf::actor& root, const fault& f,
                  fault_switches& switches = fault_switches::global());

} // namespace warden
