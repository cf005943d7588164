/// @file
/// Log levels: the severity of every line the event log writes (event_log.hpp), and the
/// threshold below which it drops lines (`event_log::set_level`, the node setting
/// `log.level`). One list of names, shared by the log, its JSON `"level"` field and the
/// settings' validation.
///
/// | level   | what Warden writes at it                                                  |
/// |---------|---------------------------------------------------------------------------|
/// | `trace` | nothing yet (finer than debug)                                            |
/// | `debug` | nothing yet                                                               |
/// | `info`  | progress: children started and stopped in order, nodes up, node started   |
/// | `warn`  | a failure that was handled: restarts, backoff, suspicions, refused joins  |
/// | `error` | a failure: crashes, start errors, a supervisor giving up                  |
/// | `off`   | a threshold only: no line has it, `off` writes nothing                    |
///
/// Each event's level: `severity` in lifecycle_event.hpp and in cluster_event.hpp; node
/// messages in node.cpp (`node::note`).
///
/// ```cpp
/// auto level = warden::parse_log_level("warn");  // std::nullopt for an unknown name
/// log->set_level(level.value_or(warden::default_log_level));
/// ```
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace warden {

/// Severities, lowest first; a log writes the lines at or above its level.
enum class log_level : uint8_t { trace, debug, info, warn, error, off };

/// The level a log has unless told otherwise.
constexpr log_level default_log_level = log_level::info;

/// The names of the levels, in the order of the enum: the spelling of `log.level` and of
/// the JSON lines' `"level"`.
constexpr std::array<const char*, 6> log_level_names = {"trace", "debug", "info",
                                                        "warn",  "error", "off"};

/// The name of `x`, e.g. "warn".
constexpr const char* to_string(log_level x) {
  return log_level_names[static_cast<size_t>(x)];
}

/// The level named `text` (exact, lowercase), or nullopt.
constexpr std::optional<log_level> parse_log_level(std::string_view text) {
  for (size_t i = 0; i < log_level_names.size(); ++i)
    if (text == log_level_names[i])
      return static_cast<log_level>(i);
  return std::nullopt;
}

} // namespace warden
