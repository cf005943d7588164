#include "warden/circuit_breaker.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include <fmt/format.h>

#include "warden/detail/system_singleton.hpp"
#include "warden/errors.hpp"

namespace warden {

namespace {

int64_t to_ms(caf::timespan d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

// The first setting out of range as "field: what", or "" when all are fine.
std::string problem(const breaker_settings& s) {
  if (s.max_failures < 1)
    return "max_failures: must be at least 1";
  if (s.failure_window.count() <= 0)
    return "failure_window: must be positive";
  if (s.reset_timeout.count() <= 0)
    return "reset_timeout: must be positive";
  if (!(s.reset_backoff >= 1.0))
    return "reset_backoff: must be at least 1";
  if (s.max_reset_timeout < s.reset_timeout)
    return "max_reset_timeout: must be at least reset_timeout";
  return {};
}

} // namespace

const char* to_string(breaker_state x) {
  switch (x) {
    case breaker_state::closed: return "closed";
    case breaker_state::open: return "open";
    case breaker_state::half_open: return "half_open";
  }
  return "unknown";
}

caf::error validate(const breaker_settings& s) {
  auto what = problem(s);
  if (what.empty())
    return {};
  return make_error(errc::bad_config, "breaker " + s.name + ": " + what);
}

circuit_breaker::circuit_breaker(breaker_settings s)
  : settings_(std::move(s)), reset_(settings_.reset_timeout) {
  auto what = problem(settings_);
  if (!what.empty())
    throw std::invalid_argument("breaker " + settings_.name + ": " + what);
}

caf::error circuit_breaker::admit(time_point now) {
  if (state_ == breaker_state::open && now >= probe_at_) {
    state_ = breaker_state::half_open;
    probe_out_ = false;
    publish(event_kind::breaker_half_open, fmt::format("reset_ms={}", to_ms(reset_)));
  }
  switch (state_) {
    case breaker_state::closed:
      ++counters_.admitted;
      return {};
    case breaker_state::half_open:
      if (!probe_out_) {
        probe_out_ = true;
        ++counters_.admitted;
        return {};
      }
      ++counters_.rejected;
      return make_error(errc::circuit_open, settings_.name, to_ms(reset_));
    case breaker_state::open:
      break;
  }
  ++counters_.rejected;
  // Rounded up: a caller that waits this long finds the probe slot open.
  auto left = std::chrono::ceil<std::chrono::milliseconds>(probe_at_ - now).count();
  return make_error(errc::circuit_open, settings_.name, static_cast<int64_t>(left));
}

void circuit_breaker::on_success(time_point) {
  ++counters_.successes;
  if (state_ != breaker_state::half_open)
    return;
  state_ = breaker_state::closed;
  probe_out_ = false;
  failures_.clear();
  auto was = reset_;
  reset_ = settings_.reset_timeout;
  publish(event_kind::breaker_closed, fmt::format("reset_ms={}", to_ms(was)));
}

void circuit_breaker::on_failure(time_point now, const caf::error& why) {
  ++counters_.failures;
  switch (state_) {
    case breaker_state::open:
      return;  // a late outcome of a call admitted before the breaker opened
    case breaker_state::half_open: {
      // The probe failed: reopen with a longer timeout, capped (in double: no overflow).
      auto next = std::min(static_cast<double>(reset_.count()) * settings_.reset_backoff,
                           static_cast<double>(settings_.max_reset_timeout.count()));
      reset_ = caf::timespan{static_cast<caf::timespan::rep>(next)};
      trip(now, why, fmt::format("probe_failed reset_ms={}", to_ms(reset_)));
      return;
    }
    case breaker_state::closed:
      break;
  }
  failures_.push_back(now);
  while (!failures_.empty() && now - failures_.front() > settings_.failure_window)
    failures_.pop_front();
  if (failures_.size() < settings_.max_failures)
    return;
  auto n = failures_.size();
  failures_.clear();
  trip(now, why,
       fmt::format("failures={} window_ms={} reset_ms={}", n, to_ms(settings_.failure_window),
                   to_ms(reset_)));
}

void circuit_breaker::trip(time_point now, const caf::error& why, std::string detail) {
  state_ = breaker_state::open;
  probe_out_ = false;
  probe_at_ = now + reset_;
  ++counters_.opened;
  publish(event_kind::breaker_opened, std::move(detail), why);
}

void circuit_breaker::publish(event_kind kind, std::string detail, const caf::error& why) {
  if (!settings_.events)
    return;
  lifecycle_event ev;
  ev.kind = kind;
  ev.time = std::chrono::system_clock::now();  // wall time for the log; logic uses `now`
  ev.supervisor = settings_.reporter;
  ev.child = settings_.name;
  ev.reason = why;
  ev.detail = std::move(detail);
  settings_.events->publish(ev);
}

// --- the breakers listed per actor system ------------------------------------------------

namespace {

/// The listed breakers of one actor system (weak: a breaker goes when its users drop it).
class breaker_directory final : public detail::system_object {
public:
  explicit breaker_directory(caf::actor_config& cfg) : detail::system_object(cfg) {}

  const char* name() const override { return "warden.breakers"; }

  void add(const std::shared_ptr<shared_circuit_breaker>& x) {
    std::lock_guard<std::mutex> guard{mtx_};
    std::erase_if(all_, [](auto& w) { return w.expired(); });
    all_.push_back(x);
  }

  std::vector<std::shared_ptr<shared_circuit_breaker>> running() {
    std::lock_guard<std::mutex> guard{mtx_};
    std::vector<std::shared_ptr<shared_circuit_breaker>> out;
    for (auto& w : all_)
      if (auto x = w.lock())
        out.push_back(std::move(x));
    return out;
  }

private:
  std::mutex mtx_;
  std::vector<std::weak_ptr<shared_circuit_breaker>> all_;
};

constexpr caf::atom_value breaker_directory_key = caf::atom("wardenBrks");

} // namespace

std::shared_ptr<shared_circuit_breaker> make_listed_breaker(caf::actor_system& sys,
                                                            breaker_settings s) {
  auto x = std::make_shared<shared_circuit_breaker>(std::move(s));
  detail::system_singleton<breaker_directory>(sys, breaker_directory_key).add(x);
  return x;
}

std::vector<std::shared_ptr<shared_circuit_breaker>> running_breakers(caf::actor_system& sys) {
  return detail::system_singleton<breaker_directory>(sys, breaker_directory_key).running();
}

} // namespace warden
