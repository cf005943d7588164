/// @file
/// Exit reasons, mapped from OTP to CAF 0.17.
///
/// | OTP              | CAF                                          | helper              |
/// |------------------|----------------------------------------------|---------------------|
/// | normal           | `exit_reason::normal` (or no error)          | `is_normal`         |
/// | shutdown         | `exit_reason::user_shutdown`                 | `is_shutdown`       |
/// | {shutdown, Term} | `exit_reason::user_shutdown` with a context  | `shutdown_with`     |
/// | killed           | `exit_reason::kill`                          | `is_killed`         |
/// | noconnection     | `exit_reason::remote_link_unreachable`       |                     |
/// | {Exception, ..}  | `sec::runtime_error` with the exception text | `exception_reason`  |
///
/// `describe(reason)` renders any reason for reports without needing the actor system.
#pragma once

#include <exception>
#include <string>

#include <caf/actor.hpp>
#include <caf/error.hpp>
#include <caf/exit_reason.hpp>
#include <caf/make_message.hpp>

namespace warden {

/// OTP `normal`: no error, or `exit_reason::normal`.
bool is_normal(const caf::error& reason);

/// OTP `shutdown` or `{shutdown, Term}`: `exit_reason::user_shutdown`, with or without
/// a context.
bool is_shutdown(const caf::error& reason);

/// OTP `killed`: `exit_reason::kill`.
bool is_killed(const caf::error& reason);

/// Normal or shutdown: the reasons after which a transient child is not restarted.
inline bool is_normal_or_shutdown(const caf::error& reason) {
  return is_normal(reason) || is_shutdown(reason);
}

/// OTP `{shutdown, Term}`: shutdown carrying details (e.g. the culprit of a give-up).
template <class... Ts>
caf::error shutdown_with(Ts&&... details) {
  return caf::error{static_cast<uint8_t>(caf::exit_reason::user_shutdown),
                    caf::atom("exit"), caf::make_message(std::forward<Ts>(details)...)};
}

/// The reason for an uncaught exception: `sec::runtime_error` with its text.
caf::error exception_reason(const std::exception_ptr& ptr);

/// Sends `dest` an exit signal with any reason (CAF's `send_exit` takes only
/// `exit_reason` codes). Used for fault injection and tests.
void send_exit_signal(const caf::actor& dest, caf::error reason);

/// Renders a reason for reports, e.g. `shutdown`, `killed`,
/// `runtime_error("boom")`, `warden:failed_to_start_child("db", start_timeout)`.
std::string describe(const caf::error& reason);

} // namespace warden
