/// @file
/// Child specs: how a supervisor starts, restarts and stops one child (OTP's
/// `child_spec()`). Fill in what you need; the rest has OTP's defaults.
///
/// | field          | default                                             |
/// |----------------|-----------------------------------------------------|
/// | restart        | permanent                                           |
/// | type           | worker                                              |
/// | shutdown       | 5000 ms for a worker, infinity for a supervisor     |
/// | significant    | false                                               |
/// | start_timeout  | 5000 ms for a worker, infinity for a supervisor     |
/// | name           | none (set it to reach the child by name)            |
///
/// ```cpp
/// warden::child_spec db{.id = "db", .start = warden::service(db_service),
///                       .restart = warden::restart_type::transient,
///                       .shutdown = warden::shutdown_policy::timeout(2s), .name = "db"};
/// ```
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/timespan.hpp>

#include "warden/service.hpp"

namespace warden {

/// When a child that exits is restarted.
enum class restart_type : uint8_t {
  permanent,  ///< always
  transient,  ///< only after an abnormal exit (not normal, not shutdown)
  temporary,  ///< never; its spec is deleted when it exits
};

/// A worker or a supervisor (affects the shutdown default and count_children).
enum class child_type : uint8_t { worker, supervisor };

const char* to_string(restart_type x);
const char* to_string(child_type x);

/// How a supervisor stops a child.
struct shutdown_policy {
  enum class kind : uint8_t {
    brutal_kill,  ///< kill at once (reason killed)
    timeout,      ///< send shutdown, wait `time`, then kill
    infinity,     ///< send shutdown and wait as long as it takes
  };
  kind how = kind::timeout;
  caf::timespan time{std::chrono::milliseconds{5000}};

  static shutdown_policy brutal_kill() { return {kind::brutal_kill, caf::timespan{0}}; }
  static shutdown_policy timeout(caf::timespan t) { return {kind::timeout, t}; }
  static shutdown_policy infinity() { return {kind::infinity, caf::timespan{0}}; }
  friend bool operator==(const shutdown_policy&, const shutdown_policy&) = default;
};

std::string to_string(const shutdown_policy& x);

namespace defaults {
/// Shutdown time of a worker (OTP: 5000 ms).
inline constexpr caf::timespan worker_shutdown = std::chrono::milliseconds{5000};
/// Start timeout of a worker. OTP has none; a hanging start must not hang the tree.
inline constexpr caf::timespan worker_start_timeout = std::chrono::milliseconds{5000};
} // namespace defaults

/// Everything a supervisor needs to know about one child.
struct child_spec {
  /// Unique among the supervisor's children. Ignored by dynamic supervisors.
  std::string id;
  /// Spawns the child; see service.hpp (`warden::service`, `warden::service_class`) and
  /// supervisor.hpp (`warden::supervisor_child`).
  start_function start;
  restart_type restart = restart_type::permanent;
  child_type type = child_type::worker;
  /// Unset: 5000 ms for a worker, infinity for a supervisor.
  std::optional<shutdown_policy> shutdown;
  /// A significant child can stop its supervisor (see supervisor_flags::auto_shutdown).
  bool significant = false;
  /// Unset: 5000 ms for a worker, infinity for a supervisor. A start that takes longer is
  /// killed and fails with `errc::start_timeout`.
  std::optional<caf::timespan> start_timeout;
  /// If set, the child is reachable under this name across restarts (see
  /// service_registry.hpp).
  std::string name;

  /// The shutdown policy in force (default filled in).
  shutdown_policy effective_shutdown() const;
  /// The start timeout in force (default filled in); nullopt means infinity.
  std::optional<caf::timespan> effective_start_timeout() const;
};

} // namespace warden

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(warden::child_spec)
