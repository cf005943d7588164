/// @file
/// Restart backoff (Akka's formula), usable under every strategy: the n-th consecutive
/// restart of a child waits `min(max, min * 2^n) * (1 + U[0,1) * random_factor)`, and n
/// resets after the child ran `reset_after` without needing a restart.
///
/// ```cpp
/// warden::backoff_state b;
/// auto d = b.next(policy, now, rng);  // 0 while the policy is off
/// ```
#pragma once

#include <random>

#include <caf/actor_clock.hpp>

#include "warden/supervisor_flags.hpp"

namespace warden {

/// Backoff bookkeeping of one child.
class backoff_state {
public:
  using time_point = caf::actor_clock::time_point;

  /// The delay before the next restart at `now`, and counts it.
  caf::timespan next(const backoff_policy& policy, time_point now, std::mt19937_64& rng);

  /// Consecutive restarts counted so far.
  unsigned consecutive() const { return consecutive_; }

private:
  unsigned consecutive_ = 0;
  time_point last_{};
  bool any_ = false;
};

} // namespace warden
