#include "warden/retry.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include <caf/sec.hpp>

#include "warden/errors.hpp"

namespace warden {

namespace {

// The first setting out of range as "field: what", or "" when all are fine.
std::string problem(const retry_settings& s) {
  if (s.max_attempts < 1)
    return "max_attempts: must be at least 1";
  if (s.base.count() <= 0)
    return "base: must be positive";
  if (s.cap < s.base)
    return "cap: must be at least base";
  return {};
}

bool is_sec(const caf::error& err, caf::sec code) {
  return err.category() == caf::atom("system") && err.code() == static_cast<uint8_t>(code);
}

} // namespace

bool is_transient(const caf::error& err) {
  if (!err)
    return false;
  if (err.category() == error_category) {
    switch (static_cast<errc>(err.code())) {
      case errc::call_timeout:
      case errc::node_down:
      case errc::node_unavailable:
      case errc::rejected:
      case errc::queue_timeout:
      case errc::circuit_open:
      case errc::service_restarting:
      case errc::buffer_full:
        return true;
      default:
        return false;
    }
  }
  return is_sec(err, caf::sec::request_timeout) || is_sec(err, caf::sec::request_receiver_down);
}

caf::error validate(const retry_settings& s) {
  auto what = problem(s);
  if (what.empty())
    return {};
  return make_error(errc::bad_config, "retry: " + what);
}

caf::timespan full_jitter_bound(const retry_settings& s, uint32_t retry_index) {
  using rep = caf::timespan::rep;
  rep base = std::max<rep>(0, s.base.count());
  rep cap = std::max<rep>(0, s.cap.count());
  // base * 2^k <= cap  <=>  base <= cap >> k; shifting cap never overflows.
  if (retry_index >= 63 || base > (cap >> retry_index))
    return caf::timespan{cap};
  return caf::timespan{base << retry_index};
}

caf::timespan full_jitter_delay(const retry_settings& s, uint32_t retry_index,
                                std::mt19937_64& rng) {
  auto bound = full_jitter_bound(s, retry_index).count();
  std::uniform_int_distribution<caf::timespan::rep> pick{0, bound};
  return caf::timespan{pick(rng)};
}

retry_state::retry_state(retry_settings s) : settings_(std::move(s)) {
  auto what = problem(settings_);
  if (!what.empty())
    throw std::invalid_argument("retry: " + what);
}

caf::expected<caf::timespan> retry_state::on_failure(const caf::error& why,
                                                     std::mt19937_64& rng) {
  ++attempts_;
  if (!why)  // a caller bug; an empty error cannot be an expected's error
    return caf::make_error(caf::sec::invalid_argument, std::string{"retry: failure without error"});
  bool retryable = settings_.retryable ? settings_.retryable(why) : is_transient(why);
  if (!retryable)
    return why;
  if (attempts_ >= settings_.max_attempts)
    return make_error(errc::retries_exhausted, attempts_, why);
  return full_jitter_delay(settings_, attempts_ - 1, rng);
}

} // namespace warden
