/// @file
/// The phi-accrual failure detector (Hayashibara et al., 2004; the model of Akka's
/// `PhiAccrualFailureDetector`). Instead of a yes/no timeout it gives a suspicion level
/// `phi` that grows the longer a heartbeat is overdue, measured against the intervals seen
/// so far: phi = 1 means a 10 % chance that the peer is still alive and the heartbeat is
/// merely late, phi = 8 a 1e-8 chance.
///
/// Model: the last `max_samples` heartbeat intervals form a window with mean m and
/// standard deviation s. The first heartbeat seeds the window with
/// `first_heartbeat_estimate` +/- a quarter of it, so a peer that stops right after its
/// first heartbeat is still detected. Then
/// `phi(t) = -log10(1 - CDF(t; m + acceptable_pause, max(s, min_std_deviation)))`, t the
/// time since the last heartbeat, CDF the normal distribution's in the logistic
/// approximation `1 / (1 + e^(-y (1.5976 + 0.070566 y^2)))`. phi is computed in the log
/// domain, so it stays finite (no log10(0)) however late the heartbeat is. A heartbeat
/// that arrives while the peer counts as unavailable is not added to the window: one
/// long pause must not teach the detector that long pauses are normal.
///
/// Detection time with the defaults (threshold 8, acceptable pause 800 ms, min std
/// deviation 100 ms) and steady 200 ms heartbeats: the window's deviation is ~0, so
/// min_std_deviation applies and phi crosses 8 at
/// `mean + acceptable_pause + 5.23 * min_std_deviation` = 200 + 800 + 523 = ~1.52 s after
/// the last heartbeat. (5.23 is where the logistic approximation reaches 1e-8; the exact
/// normal tail would say 5.61, ~1.56 s.) `failure_detection_time` computes it.
///
/// Trade-off: a lower threshold or acceptable pause detects a dead peer sooner but
/// suspects live ones more often when a busy machine, a GC-like stall or a slow network
/// delays heartbeats; a higher min_std_deviation tolerates more jitter and detects later.
/// Jittery heartbeats raise the measured deviation and so delay detection by themselves.
///
/// Pure: no clock, no threads. Time is passed in, so tests drive it.
///
/// ```cpp
/// warden::phi_accrual_detector fd{warden::phi_settings{}};
/// fd.heartbeat(now);                 // on every heartbeat from the peer
/// if (!fd.available(now)) ...        // on a timer: the peer is suspected
/// ```
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <optional>

namespace warden {

/// Knobs of the phi-accrual failure detector. The defaults are the node defaults
/// (`failure_detector.*` in node_config.hpp).
struct phi_settings {
  /// phi at or above this counts as unavailable (8.0: a 1e-8 chance of a false suspicion
  /// if the intervals were normally distributed).
  double threshold = 8.0;
  /// Heartbeat intervals kept in the window (at least 1).
  size_t max_samples = 100;
  /// Floor of the standard deviation, so very regular heartbeats do not make the
  /// detector hair-trigger.
  std::chrono::milliseconds min_std_deviation{100};
  /// Extra delay tolerated on top of the mean interval (pauses, load, network).
  std::chrono::milliseconds acceptable_pause{800};
  /// Assumed interval before any was measured: seeds the window at the first heartbeat.
  std::chrono::milliseconds first_heartbeat_estimate{500};
};

/// Milliseconds as a double, the detector's unit for statistics.
using fractional_ms = std::chrono::duration<double, std::milli>;

/// Suspicion level for a heartbeat `elapsed_ms` overdue against the normal distribution
/// (`mean_ms`, `std_deviation_ms`), logistic approximation, computed without overflow:
/// finite for every finite input, 0 < phi, increasing in `elapsed_ms`.
double phi_of(double elapsed_ms, double mean_ms, double std_deviation_ms);

/// Time after the last heartbeat at which phi reaches `s.threshold`, for a peer whose
/// heartbeats came every `interval` with standard deviation `jitter` (once the window
/// holds only such intervals): `interval + acceptable_pause + y * max(jitter,
/// min_std_deviation)`, y solving phi = threshold. For docs, tests and timeouts.
fractional_ms failure_detection_time(const phi_settings& s, fractional_ms interval,
                                     fractional_ms jitter = fractional_ms{0});

/// The failure detector of one peer.
class phi_accrual_detector {
public:
  using clock_type = std::chrono::steady_clock;
  using time_point = clock_type::time_point;

  explicit phi_accrual_detector(phi_settings settings = {});

  /// Records a heartbeat arriving at `now`.
  void heartbeat(time_point now);

  /// Suspicion level at `now`: 0 before the first heartbeat (a peer never heard from is
  /// not suspected), then growing with the time since the last heartbeat.
  double phi(time_point now) const;

  /// True while `phi(now) < threshold`.
  bool available(time_point now) const { return phi(now) < settings_.threshold; }

  /// Mean of the intervals in the window, in ms (0 before the first heartbeat).
  double mean() const { return mean_; }

  /// Population standard deviation of the window, in ms, before the min_std_deviation
  /// floor is applied.
  double std_deviation() const { return std_deviation_; }

  /// Intervals in the window (the two seeds count).
  size_t samples() const { return intervals_.size(); }

  /// When the last heartbeat arrived; none before the first.
  std::optional<time_point> last_heartbeat() const { return last_; }

  const phi_settings& settings() const { return settings_; }

private:
  void add_interval(double ms);

  phi_settings settings_;
  std::deque<double> intervals_;  // ms, oldest first
  double mean_ = 0;
  double std_deviation_ = 0;
  std::optional<time_point> last_;
};

} // namespace warden
