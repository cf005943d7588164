// The intensity window and the backoff formula on their own.
#include <gtest/gtest.h>

#include "warden/backoff.hpp"
#include "warden/restart_intensity.hpp"

using namespace warden;
using namespace std::chrono_literals;

TEST(restart_intensity, more_than_intensity_within_period_gives_up) {
  restart_intensity w{2, 5s};
  caf::actor_clock::time_point t{};
  EXPECT_TRUE(w.record(t));
  EXPECT_TRUE(w.record(t + 1s));
  EXPECT_EQ(w.headroom(t + 1s), 0);
  EXPECT_FALSE(w.record(t + 2s));
}

TEST(restart_intensity, old_restarts_leave_the_window) {
  restart_intensity w{1, 1s};
  caf::actor_clock::time_point t{};
  EXPECT_TRUE(w.record(t));
  EXPECT_TRUE(w.record(t + 2100ms));
  EXPECT_EQ(w.headroom(t + 5s), 1);
}

TEST(restart_intensity, zero_intensity_refuses_the_first_restart) {
  restart_intensity w{0, 5s};
  EXPECT_FALSE(w.record(caf::actor_clock::time_point{}));
}

TEST(backoff, doubles_caps_and_resets) {
  backoff_policy p{.min_delay = 10ms, .max_delay = 50ms, .random_factor = 0, .reset_after = 1s};
  backoff_state b;
  std::mt19937_64 rng{1};
  caf::actor_clock::time_point t{};
  EXPECT_EQ(b.next(p, t, rng), caf::timespan{10ms});
  EXPECT_EQ(b.next(p, t + 10ms, rng), caf::timespan{20ms});
  EXPECT_EQ(b.next(p, t + 20ms, rng), caf::timespan{40ms});
  EXPECT_EQ(b.next(p, t + 30ms, rng), caf::timespan{50ms});
  EXPECT_EQ(b.next(p, t + 2s, rng), caf::timespan{10ms});  // quiet for > reset_after
}

TEST(backoff, jitter_stays_within_random_factor) {
  backoff_policy p{.min_delay = 100ms, .max_delay = 100ms, .random_factor = 0.5, .reset_after = 1s};
  std::mt19937_64 rng{7};
  for (int i = 0; i < 1000; ++i) {
    backoff_state b;
    auto d = b.next(p, caf::actor_clock::time_point{}, rng);
    EXPECT_GE(d, caf::timespan{100ms});
    EXPECT_LT(d, caf::timespan{150ms});
  }
}

TEST(backoff, off_by_default) {
  backoff_state b;
  std::mt19937_64 rng{1};
  EXPECT_EQ(b.next(backoff_policy{}, caf::actor_clock::time_point{}, rng), caf::timespan{0});
}
