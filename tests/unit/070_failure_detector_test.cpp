// The phi-accrual failure detector on its own, with time driven by the test.
#include <gtest/gtest.h>

#include <cmath>

#include "warden/failure_detector.hpp"

using namespace warden;
using namespace std::chrono_literals;

namespace {

using time_point = phi_accrual_detector::time_point;

/// Heartbeats every `interval`, `n` times from `t`; returns the time of the last one.
time_point beat(phi_accrual_detector& fd, time_point t, std::chrono::milliseconds interval,
                int n) {
  for (int i = 0; i < n; ++i) {
    t += interval;
    fd.heartbeat(t);
  }
  return t;
}

/// The first whole millisecond after `last` at which the detector suspects the peer,
/// found by stepping time 1 ms at a time (up to a minute).
std::chrono::milliseconds first_unavailable(const phi_accrual_detector& fd, time_point last) {
  for (auto dt = 0ms; dt < 60s; dt += 1ms)
    if (!fd.available(last + dt))
      return dt;
  return 60s;
}

} // namespace

TEST(failure_detector, phi_is_zero_before_the_first_heartbeat) {
  phi_accrual_detector fd{phi_settings{}};
  time_point t{};
  EXPECT_EQ(fd.phi(t), 0.0);
  EXPECT_EQ(fd.phi(t + 1h), 0.0);
  EXPECT_TRUE(fd.available(t + 1h));
  EXPECT_FALSE(fd.last_heartbeat());
  EXPECT_EQ(fd.samples(), 0u);
}

TEST(failure_detector, first_heartbeat_seeds_the_window_with_the_estimate) {
  phi_accrual_detector fd{phi_settings{}};
  time_point t{};
  fd.heartbeat(t);
  EXPECT_EQ(fd.samples(), 2u);            // 500 - 125 and 500 + 125
  EXPECT_DOUBLE_EQ(fd.mean(), 500.0);
  EXPECT_DOUBLE_EQ(fd.std_deviation(), 125.0);
  EXPECT_EQ(fd.last_heartbeat(), t);
  // A peer that dies right after its first heartbeat is still detected, judged against
  // the estimate: mean 500 + pause 800 + y * 125.
  auto expected = failure_detection_time(phi_settings{}, fractional_ms{500}, fractional_ms{125});
  EXPECT_EQ(first_unavailable(fd, t), std::chrono::milliseconds{
                                          static_cast<int64_t>(std::ceil(expected.count()))});
}

TEST(failure_detector, steady_heartbeats_keep_phi_low) {
  phi_accrual_detector fd{phi_settings{}};
  time_point t{};
  fd.heartbeat(t);
  for (int i = 0; i < 300; ++i) {
    // Just before each heartbeat is due, and at the moment it arrives.
    EXPECT_LT(fd.phi(t + 200ms), 0.01) << "heartbeat " << i;
    t += 200ms;
    fd.heartbeat(t);
    EXPECT_TRUE(fd.available(t));
  }
  // The seeds have left the window: it holds max_samples intervals of exactly 200 ms.
  EXPECT_EQ(fd.samples(), 100u);
  EXPECT_DOUBLE_EQ(fd.mean(), 200.0);
  EXPECT_DOUBLE_EQ(fd.std_deviation(), 0.0);
  // Late by a whole acceptable pause is still fine: phi(mean + pause) = log10(2).
  EXPECT_NEAR(fd.phi(t + 1000ms), std::log10(2.0), 1e-9);
}

TEST(failure_detector, defaults_detect_a_stopped_peer_after_about_1_52_s) {
  phi_accrual_detector fd{phi_settings{}};
  time_point t{};
  fd.heartbeat(t);
  t = beat(fd, t, 200ms, 150);
  // 200 + 800 + y * 100 with y ~ 5.226 where the logistic approximation reaches 1e-8.
  auto predicted = failure_detection_time(phi_settings{}, fractional_ms{200});
  EXPECT_NEAR(predicted.count(), 1522.6, 0.1);
  auto crossing = first_unavailable(fd, t);
  EXPECT_EQ(crossing, 1523ms);
  EXPECT_GE(crossing, 1400ms);
  EXPECT_LE(crossing, 1700ms);
  EXPECT_LT(fd.phi(t + 1522ms), 8.0);
  EXPECT_GE(fd.phi(t + 1523ms), 8.0);
}

TEST(failure_detector, phi_grows_with_the_delay_and_stays_finite) {
  phi_accrual_detector fd{phi_settings{}};
  time_point t{};
  fd.heartbeat(t);
  t = beat(fd, t, 200ms, 150);
  double prev = fd.phi(t);
  for (std::chrono::milliseconds dt : {500ms, 1000ms, 1500ms, 2000ms, 5000ms, 60000ms}) {
    auto p = fd.phi(t + dt);
    EXPECT_GT(p, prev) << dt.count();
    prev = p;
  }
  // Where Akka's -log10(e / (1 + e)) would hit log10(0): still a finite, growing number.
  auto hour = fd.phi(t + 1h);
  auto day = fd.phi(t + 24h);
  EXPECT_TRUE(std::isfinite(hour));
  EXPECT_TRUE(std::isfinite(day));
  EXPECT_GT(day, hour);
  EXPECT_FALSE(fd.available(t + 1h));
}

TEST(failure_detector, jittery_heartbeats_raise_the_deviation_and_delay_detection) {
  phi_settings s;
  phi_accrual_detector steady{s};
  phi_accrual_detector jittery{s};
  time_point t{};
  steady.heartbeat(t);
  jittery.heartbeat(t);
  auto ts = beat(steady, t, 200ms, 150);
  // Alternating 50 ms and 350 ms: the same mean of 200 ms, a deviation of 150 ms.
  auto tj = t;
  for (int i = 0; i < 150; ++i) {
    tj += i % 2 == 0 ? 50ms : 350ms;
    jittery.heartbeat(tj);
  }
  EXPECT_DOUBLE_EQ(jittery.mean(), 200.0);
  EXPECT_NEAR(jittery.std_deviation(), 150.0, 1e-9);
  auto steady_crossing = first_unavailable(steady, ts);
  auto jittery_crossing = first_unavailable(jittery, tj);
  EXPECT_GT(jittery_crossing, steady_crossing + 200ms);
  auto predicted = failure_detection_time(s, fractional_ms{200}, fractional_ms{150});
  EXPECT_EQ(jittery_crossing, std::chrono::milliseconds{
                                  static_cast<int64_t>(std::ceil(predicted.count()))});
  EXPECT_NEAR(predicted.count(), 1000 + 5.226 * 150, 1.0);
}

TEST(failure_detector, recovers_after_a_heartbeat_without_learning_the_pause) {
  phi_accrual_detector fd{phi_settings{}};
  time_point t{};
  fd.heartbeat(t);
  t = beat(fd, t, 200ms, 150);
  EXPECT_FALSE(fd.available(t + 3s));
  auto mean = fd.mean();
  auto sd = fd.std_deviation();
  t += 3s;
  fd.heartbeat(t);  // the peer is back
  EXPECT_TRUE(fd.available(t));
  EXPECT_LT(fd.phi(t + 200ms), 0.01);
  // The 3 s gap arrived while suspected: not added, so detection is as fast as before.
  EXPECT_EQ(fd.mean(), mean);
  EXPECT_EQ(fd.std_deviation(), sd);
  t = beat(fd, t, 200ms, 1);
  EXPECT_EQ(first_unavailable(fd, t), 1523ms);
}

TEST(failure_detector, a_lower_threshold_detects_sooner) {
  phi_settings fast;
  fast.threshold = 3.0;
  fast.acceptable_pause = 200ms;
  phi_accrual_detector fd{fast};
  time_point t{};
  fd.heartbeat(t);
  t = beat(fd, t, 200ms, 150);
  auto crossing = first_unavailable(fd, t);
  EXPECT_LT(crossing, 1000ms);
  auto predicted = failure_detection_time(fast, fractional_ms{200});
  EXPECT_EQ(crossing, std::chrono::milliseconds{
                          static_cast<int64_t>(std::ceil(predicted.count()))});
}

TEST(failure_detector, the_window_is_bounded) {
  phi_settings s;
  s.max_samples = 10;
  phi_accrual_detector fd{s};
  time_point t{};
  fd.heartbeat(t);
  t = beat(fd, t, 300ms, 5);
  EXPECT_EQ(fd.samples(), 7u);  // two seeds + five intervals
  t = beat(fd, t, 100ms, 10);
  EXPECT_EQ(fd.samples(), 10u);
  EXPECT_DOUBLE_EQ(fd.mean(), 100.0);  // the older intervals have left
}

TEST(failure_detector, phi_of_matches_the_logistic_normal_approximation) {
  // At the mean: 1 - CDF = 1/2.
  EXPECT_NEAR(phi_of(1000, 1000, 100), std::log10(2.0), 1e-12);
  // Akka's closed form where it does not underflow.
  for (double y : {-3.0, -1.0, 0.5, 1.0, 2.0, 4.0, 6.0}) {
    auto e = std::exp(-y * (1.5976 + 0.070566 * y * y));
    auto akka = y > 0 ? -std::log10(e / (1.0 + e)) : -std::log10(1.0 - 1.0 / (1.0 + e));
    EXPECT_NEAR(phi_of(1000 + y * 100, 1000, 100), akka, 1e-9 * std::max(1.0, akka)) << y;
  }
  // A zero deviation does not divide by zero.
  EXPECT_TRUE(std::isfinite(phi_of(2000, 1000, 0)));
}
