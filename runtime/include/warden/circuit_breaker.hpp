/// @file
/// Circuit breaker: stops calling a dependency that keeps failing, so callers fail fast
/// instead of piling up behind timeouts, and probes it now and then to find out when it is
/// back. It follows Akka's `CircuitBreaker` (closed / open / half-open, exponential reset
/// backoff) and Erlang's `fuse` (failures counted within a time window, `{standard, MaxR,
/// MaxT}`). Differences: the breaker is pure logic on an injected clock (no timers, no
/// futures; the caller reports each outcome), the open -> half_open step happens at the
/// first `admit` after the reset timeout, and successes do not clear the failure count
/// while closed (fuse, not Akka: only failures older than the window are forgotten).
///
/// - closed: calls pass; the `max_failures`-th failure within `failure_window` opens it.
/// - open: calls fail fast with `errc::circuit_open` (context: name, ms until the next
///   probe) until `reset_timeout` has passed.
/// - half_open: exactly one probe call passes, others fail fast until its outcome is
///   reported. Success closes the breaker and resets the reset timeout; failure reopens it
///   with the reset timeout multiplied by `reset_backoff`, capped at `max_reset_timeout`.
///
/// The caller must report the outcome of every admitted call, and a call that gets no
/// answer (a request timeout, `sec::request_timeout`) counts as a failure: a probe whose
/// outcome is never reported keeps the breaker half open for good. Outcomes are not tied
/// to calls; keep request timeouts at or below `reset_timeout` so that every call admitted
/// before the breaker opened has its outcome before the probe goes. Outcomes reported
/// while open are counted and otherwise ignored.
///
/// Every state change publishes a lifecycle event (`breaker_opened` with `reason` = the
/// last failure, `breaker_half_open`, `breaker_closed`) to `events`, with `supervisor` =
/// `reporter` and `child` = `name`.
///
/// | setting           | default     | meaning                                              |
/// |-------------------|-------------|------------------------------------------------------|
/// | name              | "breaker"   | in errors and events                                 |
/// | max_failures      | 5           | failures within the window that open the breaker     |
/// | failure_window    | 10 s        | older failures are forgotten (fuse's MaxT)           |
/// | reset_timeout     | 1 s         | open time before the first probe                     |
/// | reset_backoff     | 2.0         | a failed probe multiplies the reset timeout by this  |
/// | max_reset_timeout | 60 s        | cap of the reset timeout                             |
/// | events            | none        | where state changes go                               |
/// | reporter          | ""          | `supervisor` field of the events                     |
///
/// A stateful actor guarding its requests to `db` (the breaker lives in its state), in a
/// handler returning `caf::result<std::string>`:
/// ```cpp
/// if (auto err = self->state.breaker.admit(self->clock().now()))
///   return err;                                    // circuit_open: nothing sent to db
/// auto rp = self->make_response_promise<std::string>();
/// self->request(db, 500ms, caf::get_atom::value, key).then(
///   [=](std::string& v) mutable {
///     self->state.breaker.on_success(self->clock().now());
///     rp.deliver(std::move(v));
///   },
///   [=](caf::error& err) mutable {                 // sec::request_timeout is a failure too
///     self->state.breaker.on_failure(self->clock().now(), err);
///     rp.deliver(std::move(err));
///   });
/// return rp;
/// ```
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include <caf/actor_clock.hpp>
#include <caf/error.hpp>
#include <caf/timespan.hpp>

#include "warden/lifecycle_event.hpp"

namespace warden {

/// The state of a circuit breaker.
enum class breaker_state : uint8_t {
  closed,     ///< calls pass, failures are counted
  open,       ///< calls fail fast until the reset timeout passed
  half_open,  ///< one probe call passes; its outcome closes or reopens the breaker
};

/// The stable name of `x`, e.g. "half_open".
const char* to_string(breaker_state x);

/// Settings of one circuit breaker; the defaults are the values in the table above.
struct breaker_settings {
  /// Names the breaker in errors and events (the dependency it guards).
  std::string name = "breaker";
  /// Failures within `failure_window` that open the breaker (>= 1).
  uint32_t max_failures = 5;
  /// Failures older than this are forgotten (> 0).
  caf::timespan failure_window = std::chrono::seconds{10};
  /// Time the breaker stays open before the first probe (> 0).
  caf::timespan reset_timeout = std::chrono::seconds{1};
  /// A failed probe multiplies the current reset timeout by this (>= 1).
  double reset_backoff = 2.0;
  /// The reset timeout never grows beyond this (>= reset_timeout).
  caf::timespan max_reset_timeout = std::chrono::seconds{60};
  /// Receives breaker_opened / breaker_half_open / breaker_closed; none by default.
  event_sink_ptr events;
  /// The `supervisor` field of the events: the reporter's path or name.
  std::string reporter;
};

/// `errc::bad_config` (context: "breaker <name>: <field>: <what>") when a setting is out of
/// range, else none.
caf::error validate(const breaker_settings& s);

/// What a breaker did so far.
struct breaker_counters {
  uint64_t admitted = 0;   ///< calls admitted (probes included)
  uint64_t rejected = 0;   ///< calls failed fast with circuit_open
  uint64_t successes = 0;  ///< successes reported
  uint64_t failures = 0;   ///< failures reported
  uint64_t opened = 0;     ///< times the breaker opened (reopens after a probe included)
};

/// A breaker's figures at one moment (`GET /regulation` shows them).
struct breaker_snapshot {
  std::string name;
  breaker_state state = breaker_state::closed;
  breaker_counters counters;
  caf::timespan reset_timeout{0};  ///< the one in force (grows with failed probes)
};

/// One circuit breaker. Pure logic on an injected clock; not thread-safe (one owner, e.g.
/// an actor's state; see `shared_circuit_breaker` for several threads).
class circuit_breaker {
public:
  using time_point = caf::actor_clock::time_point;

  /// Throws `std::invalid_argument` when `validate(s)` fails.
  explicit circuit_breaker(breaker_settings s = {});

  /// None: make the call, then report its outcome. Else `errc::circuit_open` with context
  /// (name, ms until the next probe as int64_t; in half_open the current reset timeout).
  caf::error admit(time_point now);

  /// Reports a success of an admitted call.
  void on_success(time_point now);

  /// Reports a failure of an admitted call (a timeout is a failure).
  void on_failure(time_point now, const caf::error& why);

  /// The state as of the last call (open turns half_open at the next `admit`).
  breaker_state state() const { return state_; }

  /// The reset timeout in force: grows with failed probes, back to the setting on close.
  caf::timespan current_reset_timeout() const { return reset_; }

  const breaker_counters& counters() const { return counters_; }

  const breaker_settings& settings() const { return settings_; }

  breaker_snapshot snapshot() const { return {settings_.name, state_, counters_, reset_}; }

private:
  void trip(time_point now, const caf::error& why, std::string detail);
  void publish(event_kind kind, std::string detail, const caf::error& why = {});

  breaker_settings settings_;
  breaker_state state_ = breaker_state::closed;
  std::deque<time_point> failures_;  // within the window, closed only
  caf::timespan reset_;
  time_point probe_at_{};     // open: when the next probe may go
  bool probe_out_ = false;    // half_open: the probe is in flight
  breaker_counters counters_;
};

/// A `circuit_breaker` behind a mutex, for callers on several actors or threads. One per
/// dependency keeps failure state apart (a bulkhead). Events are published under the lock.
class shared_circuit_breaker {
public:
  using time_point = caf::actor_clock::time_point;

  explicit shared_circuit_breaker(breaker_settings s = {}) : cb_(std::move(s)) {}

  caf::error admit(time_point now) {
    std::lock_guard<std::mutex> guard{mtx_};
    return cb_.admit(now);
  }

  void on_success(time_point now) {
    std::lock_guard<std::mutex> guard{mtx_};
    cb_.on_success(now);
  }

  void on_failure(time_point now, const caf::error& why) {
    std::lock_guard<std::mutex> guard{mtx_};
    cb_.on_failure(now, why);
  }

  breaker_state state() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return cb_.state();
  }

  /// A copy of the counters.
  breaker_counters counters() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return cb_.counters();
  }

  breaker_snapshot snapshot() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return cb_.snapshot();
  }

private:
  mutable std::mutex mtx_;
  circuit_breaker cb_;
};

/// A shared breaker listed in `sys` for as long as it is in use, so the management endpoint
/// shows its state and counters (`GET /regulation`). Throws as `circuit_breaker` does.
std::shared_ptr<shared_circuit_breaker> make_listed_breaker(caf::actor_system& sys,
                                                            breaker_settings s);

/// The breakers made by `make_listed_breaker` in `sys` that are still in use.
std::vector<std::shared_ptr<shared_circuit_breaker>> running_breakers(caf::actor_system& sys);

} // namespace warden
