#include "warden/inbox.hpp"

#include <algorithm>
#include <memory>

namespace warden {

regulator_settings to_regulator_settings(const inbox_settings& s) {
  regulator_settings r;
  r.name = s.name;
  r.kind = regulator_kind::counter;
  r.limits.limit = s.in_flight;
  r.limits.max_size = s.capacity;
  r.limits.max_time = s.max_wait;
  r.order = queue_order::fifo;
  r.overflow = s.overflow;
  r.call_timeout = s.call_timeout;
  r.min_limit = std::min<double>(r.min_limit, s.in_flight);
  return r;
}

start_function with_inbox(start_function service, const inbox_settings& s) {
  return regulated_service(std::move(service),
                           std::make_shared<regulator_config>(to_regulator_settings(s)));
}

} // namespace warden
