#include "warden/restart_intensity.hpp"

namespace warden {

void restart_intensity::expire(time_point now) {
  while (!restarts_.empty() && now - restarts_.front() > period_)
    restarts_.pop_front();
}

bool restart_intensity::record(time_point now) {
  expire(now);
  restarts_.push_back(now);
  return static_cast<int>(restarts_.size()) <= intensity_;
}

int restart_intensity::headroom(time_point now) const {
  int in_window = 0;
  for (auto t : restarts_)
    if (now - t <= period_)
      ++in_window;
  return intensity_ - in_window;
}

} // namespace warden
