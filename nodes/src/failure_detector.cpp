#include "warden/failure_detector.hpp"

#include <algorithm>
#include <cmath>

namespace warden {

namespace {

/// ln(1 + e^x) without overflow for large x or precision loss for very negative x.
double softplus(double x) {
  return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}

/// Keeps a zero or negative deviation (a misconfigured floor) from dividing by zero.
constexpr double min_divisor_ms = 1e-3;

} // namespace

double phi_of(double elapsed_ms, double mean_ms, double std_deviation_ms) {
  auto y = (elapsed_ms - mean_ms) / std::max(std_deviation_ms, min_divisor_ms);
  // Logistic approximation: 1 - CDF = e / (1 + e) with e = exp(-z). Then
  // phi = -log10(e / (1 + e)) = ln(1 + e^z) / ln(10), finite for every finite z, where
  // Akka's form would hit log10(0) once e underflows (y above ~20).
  auto z = y * (1.5976 + 0.070566 * y * y);
  return softplus(z) / std::log(10.0);
}

fractional_ms failure_detection_time(const phi_settings& s, fractional_ms interval,
                                     fractional_ms jitter) {
  auto mean = interval.count() + fractional_ms{s.acceptable_pause}.count();
  auto sd = std::max(jitter.count(), fractional_ms{s.min_std_deviation}.count());
  sd = std::max(sd, min_divisor_ms);
  // phi_of is increasing in the elapsed time: bisect for phi = threshold on y.
  double lo = -50;
  double hi = 50;
  for (int i = 0; i < 200; ++i) {
    auto mid = (lo + hi) / 2;
    if (phi_of(mean + mid * sd, mean, sd) < s.threshold)
      lo = mid;
    else
      hi = mid;
  }
  return fractional_ms{mean + hi * sd};
}

phi_accrual_detector::phi_accrual_detector(phi_settings settings) : settings_(settings) {
  settings_.max_samples = std::max<size_t>(settings_.max_samples, 1);
}

void phi_accrual_detector::heartbeat(time_point now) {
  if (!last_) {
    // Seed the window so the first real interval is judged against a guess, not nothing.
    auto estimate = fractional_ms{settings_.first_heartbeat_estimate}.count();
    add_interval(estimate - estimate / 4);
    add_interval(estimate + estimate / 4);
  } else if (available(now)) {
    // Only while available: the first heartbeat after a suspicion would skew the stats.
    add_interval(std::max(fractional_ms{now - *last_}.count(), 0.0));
  }
  last_ = now;
}

double phi_accrual_detector::phi(time_point now) const {
  if (!last_)
    return 0;
  auto elapsed = fractional_ms{now - *last_}.count();
  auto sd = std::max(std_deviation_, fractional_ms{settings_.min_std_deviation}.count());
  return phi_of(elapsed, mean_ + fractional_ms{settings_.acceptable_pause}.count(), sd);
}

void phi_accrual_detector::add_interval(double ms) {
  intervals_.push_back(ms);
  while (intervals_.size() > settings_.max_samples)
    intervals_.pop_front();
  // Two passes over at most max_samples values, once per heartbeat: exact, and no
  // running sums that drift over millions of heartbeats.
  double sum = 0;
  for (auto x : intervals_)
    sum += x;
  mean_ = sum / static_cast<double>(intervals_.size());
  double sq = 0;
  for (auto x : intervals_)
    sq += (x - mean_) * (x - mean_);
  std_deviation_ = std::sqrt(sq / static_cast<double>(intervals_.size()));
}

} // namespace warden
