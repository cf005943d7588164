#include "internal/validation.hpp"

#include <unordered_set>

#include "warden/errors.hpp"

namespace warden::internal {

caf::error validate_flags(const supervisor_flags& flags) {
  if (static_cast<uint8_t>(flags.strategy) > static_cast<uint8_t>(strategy::dynamic))
    return make_error(errc::bad_strategy, static_cast<int>(flags.strategy));
  if (flags.intensity < 0)
    return make_error(errc::bad_intensity, flags.intensity);
  if (flags.period.count() <= 0)
    return make_error(errc::bad_period, flags.period);
  if (static_cast<uint8_t>(flags.auto_shutdown)
      > static_cast<uint8_t>(auto_shutdown::all_significant))
    return make_error(errc::bad_auto_shutdown, static_cast<int>(flags.auto_shutdown));
  if (flags.strategy == strategy::dynamic && flags.auto_shutdown != auto_shutdown::never)
    return make_error(errc::dynamic_auto_shutdown, std::string{to_string(flags.auto_shutdown)});
  if (flags.max_children && flags.strategy != strategy::dynamic)
    return make_error(errc::bad_max_children, std::string{"max_children needs strategy dynamic"});
  auto& b = flags.backoff;
  if (b.min_delay.count() < 0 || (b.enabled() && b.max_delay < b.min_delay)
      || b.random_factor < 0 || b.reset_after.count() < 0)
    return make_error(errc::bad_backoff,
                      std::string{"need 0 <= min_delay <= max_delay, random_factor >= 0, "
                                  "reset_after >= 0"});
  return {};
}

caf::error validate_spec(const child_spec& spec, const supervisor_flags& flags) {
  if (spec.id.empty() && flags.strategy != strategy::dynamic)
    return make_error(errc::missing_id);
  if (!spec.start)
    return make_error(errc::missing_start, spec.id);
  if (static_cast<uint8_t>(spec.restart) > static_cast<uint8_t>(restart_type::temporary))
    return make_error(errc::bad_config, spec.id, std::string{"bad restart type"});
  if (spec.shutdown && spec.shutdown->how == shutdown_policy::kind::timeout
      && spec.shutdown->time.count() < 0)
    return make_error(errc::bad_shutdown, spec.id, spec.shutdown->time);
  if (spec.start_timeout && spec.start_timeout->count() <= 0)
    return make_error(errc::bad_start_timeout, spec.id, *spec.start_timeout);
  if (spec.significant) {
    if (spec.restart == restart_type::permanent)
      return make_error(errc::significant_permanent, spec.id);
    if (flags.auto_shutdown == auto_shutdown::never)
      return make_error(errc::significant_without_auto_shutdown, spec.id);
  }
  return {};
}

caf::error validate_children(const std::vector<child_spec>& specs,
                             const supervisor_flags& flags) {
  if (flags.strategy == strategy::dynamic && specs.size() != 1)
    return make_error(errc::dynamic_needs_one_spec, specs.size());
  std::unordered_set<std::string> ids;
  for (auto& spec : specs) {
    if (auto err = validate_spec(spec, flags))
      return err;
    if (!ids.insert(spec.id).second)
      return make_error(errc::duplicate_id, spec.id);
  }
  return {};
}

} // namespace warden::internal
