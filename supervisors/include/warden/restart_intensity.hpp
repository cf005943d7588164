/// @file
/// The restart intensity window (OTP's MaxR in MaxT): before every restart the supervisor
/// records the time, keeps the records no older than `period`, and gives up if more than
/// `intensity` remain.
///
/// ```cpp
/// warden::restart_intensity window{1, 5s};
/// window.record(now);        // true: allowed
/// window.record(now + 1s);   // false: 2 restarts within 5 s > 1
/// ```
#pragma once

#include <deque>

#include <caf/actor_clock.hpp>
#include <caf/timespan.hpp>

namespace warden {

class restart_intensity {
public:
  using time_point = caf::actor_clock::time_point;

  restart_intensity(int intensity, caf::timespan period)
    : intensity_(intensity), period_(period) {}

  /// Records a restart at `now`; false when it exceeds the intensity (give up).
  bool record(time_point now);

  /// Restarts still allowed at `now` before giving up.
  int headroom(time_point now) const;

  int intensity() const { return intensity_; }

private:
  void expire(time_point now);

  int intensity_;
  caf::timespan period_;
  std::deque<time_point> restarts_;
};

} // namespace warden
