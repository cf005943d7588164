/// @file
/// Supervisor flags: the strategy and its limits (OTP's `sup_flags()`), plus what OTP
/// lacks: restart backoff with jitter, max_children, a name for reports and a sink for
/// lifecycle events.
///
/// | field          | default       | OTP equivalent / note                              |
/// |----------------|---------------|----------------------------------------------------|
/// | strategy       | one_for_one   | strategy                                           |
/// | intensity      | 1             | intensity: restarts allowed ...                     |
/// | period         | 5 s           | ... within this window                              |
/// | auto_shutdown  | never         | auto_shutdown                                      |
/// | max_children   | unlimited     | Elixir DynamicSupervisor max_children (dynamic)     |
/// | backoff        | off           | Akka's restartWithBackoff, under every strategy     |
/// | name           | "root"        | the last part of the supervisor's report path       |
/// | events         | none          | where lifecycle events go; children inherit it      |
/// | seed           | 0 = random    | seeds the backoff jitter                            |
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <caf/timespan.hpp>

#include "warden/lifecycle_event.hpp"

namespace warden {

/// Which children restart when one exits.
enum class strategy : uint8_t {
  one_for_one,   ///< only the exited child
  one_for_all,   ///< all: the others stop (reverse order), then all start (in order)
  rest_for_one,  ///< the exited child and those started after it
  dynamic,       ///< OTP's simple_one_for_one: one template, children added at run time
};

/// When significant children stop their supervisor.
enum class auto_shutdown : uint8_t {
  never,            ///< significant children are not allowed
  any_significant,  ///< when any significant child ends for good
  all_significant,  ///< when the last running significant child ends for good
};

const char* to_string(strategy x);
const char* to_string(auto_shutdown x);

/// Delay before a restart: for the n-th consecutive restart of a child,
/// `min(max, min_delay * 2^n) * (1 + U[0,1) * random_factor)`; n resets to 0 after the
/// child ran `reset_after` without a restart. Off while `min_delay` is 0.
struct backoff_policy {
  caf::timespan min_delay{0};
  caf::timespan max_delay{std::chrono::seconds{30}};
  double random_factor = 0.2;
  caf::timespan reset_after{std::chrono::seconds{30}};

  bool enabled() const { return min_delay.count() > 0; }
};

struct supervisor_flags {
  warden::strategy strategy = strategy::one_for_one;
  /// Restarts allowed within `period`; one more and the supervisor gives up.
  int intensity = 1;
  caf::timespan period{std::chrono::seconds{5}};
  warden::auto_shutdown auto_shutdown = auto_shutdown::never;
  /// Dynamic supervisors only: refuse start_child past this many children.
  std::optional<size_t> max_children;
  backoff_policy backoff;
  /// Report name; a child supervisor's path is "<parent path>/<child id>".
  std::string name = "root";
  /// Lifecycle events go here; a child supervisor with none inherits its parent's.
  event_sink_ptr events;
  /// Seeds the backoff jitter (0: from std::random_device).
  uint64_t seed = 0;
};

} // namespace warden
