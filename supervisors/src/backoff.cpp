#include "warden/backoff.hpp"

#include <algorithm>
#include <cmath>

namespace warden {

caf::timespan backoff_state::next(const backoff_policy& policy, time_point now,
                                  std::mt19937_64& rng) {
  if (!policy.enabled())
    return caf::timespan{0};
  if (any_ && now - last_ > policy.reset_after)
    consecutive_ = 0;
  any_ = true;
  last_ = now;
  // min * 2^n, capped; the exponent is capped too so the double cannot overflow.
  auto n = std::min(consecutive_, 62u);
  double base = std::min(static_cast<double>(policy.max_delay.count()),
                         static_cast<double>(policy.min_delay.count()) * std::ldexp(1.0, n));
  double jitter = 1.0 + std::uniform_real_distribution<double>{0.0, 1.0}(rng)
                          * policy.random_factor;
  ++consecutive_;
  return caf::timespan{static_cast<int64_t>(base * jitter)};
}

} // namespace warden
