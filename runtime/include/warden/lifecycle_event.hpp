/// @file
/// Structured lifecycle events: the counterpart of OTP's progress, crash and supervisor
/// reports. Every start, exit, restart, start error, shutdown error and give-up is one
/// `lifecycle_event` with a stable name and fixed fields, handed to an `event_sink`, and
/// has a log level (`severity`: info for progress, warn for restarts, error for failures).
///
/// Sinks are called on the supervisor's thread, so they must be cheap: store or enqueue,
/// never format or write. `event_log` (event_log.hpp) is the sink that formats and writes
/// through spdlog on its own thread; `recording_sink` keeps events for tests.
///
/// ```cpp
/// auto rec = std::make_shared<warden::recording_sink>();
/// flags.events = rec;
/// ... // run the tree
/// EXPECT_EQ(rec->names(), (std::vector<std::string>{"child_started", ...}));
/// ```
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/timespan.hpp>

#include "warden/log_level.hpp"

namespace warden {

/// The kinds of lifecycle events. `to_string` gives the stable name used in logs.
enum class event_kind : uint8_t {
  child_started,      ///< a child reported ready (first start or restart)
  child_ignored,      ///< a child's init answered "ignore"
  child_terminated,   ///< a child exited on its own; `reason` says why
  child_restarted,    ///< the supervisor restarted a child after an exit
  restart_delayed,    ///< backoff: the restart waits `delay`
  start_error,        ///< a start or restart attempt failed; `reason` says why
  child_shutdown,     ///< the supervisor stopped a child in order (reason shutdown/killed)
  shutdown_error,     ///< a child stopped with another reason than asked, or was killed
                      ///< after its shutdown timeout
  reached_max_restart_intensity,  ///< the supervisor gives up; `child` is the culprit
  auto_shutdown,      ///< a significant child ended and the supervisor stops itself
  supervisor_stopped, ///< a supervisor finished its own shutdown; `reason` is its exit
  // --- load regulation: `supervisor` is the reporter's path or name, `child` the
  // regulator's or breaker's name, `detail` the figures ---
  breaker_opened,     ///< a circuit breaker opened: calls fail fast (`reason`: last failure)
  breaker_half_open,  ///< the reset timeout passed: one probe call may pass
  breaker_closed,     ///< a probe succeeded: calls pass again
  limit_changed,      ///< a regulator's limit changed (feedback or reconfiguration)
  overload_raised,    ///< the overload alarm: a service stayed overloaded
  overload_cleared,   ///< the overload alarm cleared (with hysteresis)
};

/// The stable name of `x`, e.g. "child_started".
const char* to_string(event_kind x);

/// One lifecycle fact. Fields that do not apply stay at their defaults.
struct lifecycle_event {
  event_kind kind = event_kind::child_started;
  /// Wall-clock time of the fact.
  std::chrono::system_clock::time_point time;
  /// Path of the supervisor that reports, e.g. "root/db_sup".
  std::string supervisor;
  /// Id of the child concerned; dynamic children have none ("").
  std::string child;
  /// "permanent", "transient" or "temporary".
  std::string restart_type;
  /// Why it happened (exit reason, start error); formatted by the sink, not here.
  caf::error reason;
  /// Restarts the supervisor made of this child so far.
  uint32_t restart_count = 0;
  /// Restarts left in the supervisor's intensity window after this fact (-1: n/a).
  int32_t intensity_headroom = -1;
  /// Actor id of the child instance concerned (0: none).
  uint64_t actor_id = 0;
  /// restart_delayed: the backoff delay.
  caf::timespan delay{0};
  /// Load regulation events: their figures as text, e.g. "limit 8 -> 4 (queue_delay)".
  std::string detail;
};

/// The level each event is logged at (log_level.hpp), as OTP's logger grades SASL
/// reports: progress reports are info, supervisor and crash reports are errors; restarts
/// and their backoff, which OTP does not report apart, are warnings.
///
/// | event                           | level                                          |
/// |---------------------------------|------------------------------------------------|
/// | `child_started`                 | info                                           |
/// | `child_ignored`                 | info                                           |
/// | `child_terminated`              | info when `reason` is normal or shutdown, else error |
/// | `child_restarted`               | warn                                           |
/// | `restart_delayed`               | warn                                           |
/// | `start_error`                   | error                                          |
/// | `child_shutdown`                | info                                           |
/// | `shutdown_error`                | error                                          |
/// | `reached_max_restart_intensity` | error                                          |
/// | `auto_shutdown`                 | info                                           |
/// | `supervisor_stopped`            | info when `reason` is normal or shutdown, else error |
/// | `breaker_opened`                | warn                                           |
/// | `breaker_half_open`, `breaker_closed` | info                                     |
/// | `limit_changed`                 | info                                           |
/// | `overload_raised`               | warn                                           |
/// | `overload_cleared`              | info                                           |
log_level severity(const lifecycle_event& ev);

/// Receives lifecycle events. Called on the reporting actor's thread: keep it cheap.
class event_sink {
public:
  virtual ~event_sink();
  virtual void publish(const lifecycle_event& ev) = 0;
};

using event_sink_ptr = std::shared_ptr<event_sink>;

/// Renders one event as readable text: `child_terminated root/db permanent
/// reason=runtime_error("boom") restarts=0`.
std::string to_text(const lifecycle_event& ev);

/// Renders one event as one JSON object (no newline) with the fields above;
/// `event` holds the stable name and `time` is ISO 8601 UTC with microseconds.
std::string to_json(const lifecycle_event& ev);

/// Keeps every event in memory; for tests and demos. Thread-safe.
class recording_sink : public event_sink {
public:
  void publish(const lifecycle_event& ev) override;

  /// A copy of all events so far.
  std::vector<lifecycle_event> events() const;

  /// The stable names of all events so far, in order.
  std::vector<std::string> names() const;

  /// "name:child" for all events so far, in order; handy for order assertions.
  std::vector<std::string> trace() const;

  /// Number of events of kind `k` (for child `child` if given).
  size_t count(event_kind k, const std::string& child = {}) const;

  void clear();

private:
  mutable std::mutex mtx_;
  std::vector<lifecycle_event> events_;
};

/// Sends every event to several sinks.
class fanout_sink : public event_sink {
public:
  explicit fanout_sink(std::vector<event_sink_ptr> sinks) : sinks_(std::move(sinks)) {}
  void publish(const lifecycle_event& ev) override {
    for (auto& s : sinks_)
      s->publish(ev);
  }

private:
  std::vector<event_sink_ptr> sinks_;
};

} // namespace warden
