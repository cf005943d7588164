/// @file
/// Retry with exponential backoff and full jitter (the "full jitter" of the AWS
/// Architecture Blog, "Exponential Backoff And Jitter"; Akka's `RetrySupport.retry` and
/// ferd's Erlang `backoff` jitter differently): the wait before retry k (k = 0 for the first
/// retry) is uniform in `[0, min(cap, base * 2^k)]`, so clients that failed together do
/// not retry together.
/// Only transient errors are retried, at most `max_attempts` tries in all (the first one
/// included). Pure logic: the caller waits (in an actor: a delayed send to itself, never a
/// sleep) and the RNG is injected.
///
/// Giving up answers:
/// - the error itself when it is not retryable (e.g. `bad_config`, `unknown_name`,
///   `fenced`, any application error): it is final, retrying cannot help;
/// - `errc::retries_exhausted` with context (attempts made as uint32_t, the last error)
///   when the last allowed attempt failed with a retryable error.
///
/// | setting      | default        | meaning                                             |
/// |--------------|----------------|-----------------------------------------------------|
/// | max_attempts | 5              | tries in all, the first included (>= 1)             |
/// | base         | 100 ms         | bound of the first retry's wait (> 0)               |
/// | cap          | 10 s           | no wait is longer (>= base)                         |
/// | retryable    | `is_transient` | which errors are retried; a user predicate may replace it |
///
/// ```cpp
/// // In an actor: state.retry = retry_state{settings}; state.rng = std::mt19937_64{seed};
/// auto delay = self->state.retry.on_failure(err, self->state.rng);
/// if (delay)
///   self->delayed_send(self, *delay, again_atom::value);   // try again later
/// else
///   rp.deliver(delay.error());                              // give up with this error
/// ```
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <random>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/timespan.hpp>

namespace warden {

/// True for the errors that may pass by themselves: Warden's `call_timeout`, `node_down`,
/// `node_unavailable`, `rejected`, `queue_timeout`, `circuit_open`, `service_restarting`,
/// `buffer_full`, and CAF's `sec::request_timeout`, `sec::request_receiver_down`.
bool is_transient(const caf::error& err);

/// Settings of a retry loop; the defaults are the values in the table above.
struct retry_settings {
  /// Tries in all, the first one included (>= 1; 1 = never retry).
  uint32_t max_attempts = 5;
  /// Bound of the first retry's wait; doubles with every retry (> 0).
  caf::timespan base = std::chrono::milliseconds{100};
  /// No wait is longer than this (>= base).
  caf::timespan cap = std::chrono::seconds{10};
  /// Which errors are retried; empty means `is_transient`.
  std::function<bool(const caf::error&)> retryable;
};

/// `errc::bad_config` (context: "retry: <field>: <what>") when a setting is out of range.
caf::error validate(const retry_settings& s);

/// `min(cap, base * 2^k)` for retry index `k`, without overflow for any `k`.
caf::timespan full_jitter_bound(const retry_settings& s, uint32_t retry_index);

/// The wait before retry `retry_index` (0 = the first retry): uniform in
/// `[0, full_jitter_bound(s, retry_index)]`, drawn from `rng`.
caf::timespan full_jitter_delay(const retry_settings& s, uint32_t retry_index,
                                std::mt19937_64& rng);

/// The attempts of one operation. Create it before the first try and call `on_failure`
/// after every failed try; a success needs no call.
class retry_state {
public:
  /// Throws `std::invalid_argument` when `validate(s)` fails.
  explicit retry_state(retry_settings s = {});

  /// Counts a failed attempt. The wait before the next attempt, or the error to give up
  /// with: `why` itself when it is not retryable, `errc::retries_exhausted` (attempts,
  /// `why`) when no attempt is left.
  caf::expected<caf::timespan> on_failure(const caf::error& why, std::mt19937_64& rng);

  /// Failed attempts so far.
  uint32_t attempts() const { return attempts_; }

  const retry_settings& settings() const { return settings_; }

private:
  retry_settings settings_;
  uint32_t attempts_ = 0;
};

} // namespace warden
