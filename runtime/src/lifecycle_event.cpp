#include "warden/lifecycle_event.hpp"

#include <ctime>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "warden/exit_reasons.hpp"

namespace warden {

event_sink::~event_sink() = default;

const char* to_string(event_kind x) {
  switch (x) {
    case event_kind::child_started: return "child_started";
    case event_kind::child_ignored: return "child_ignored";
    case event_kind::child_terminated: return "child_terminated";
    case event_kind::child_restarted: return "child_restarted";
    case event_kind::restart_delayed: return "restart_delayed";
    case event_kind::start_error: return "start_error";
    case event_kind::child_shutdown: return "child_shutdown";
    case event_kind::shutdown_error: return "shutdown_error";
    case event_kind::reached_max_restart_intensity: return "reached_max_restart_intensity";
    case event_kind::auto_shutdown: return "auto_shutdown";
    case event_kind::supervisor_stopped: return "supervisor_stopped";
    case event_kind::breaker_opened: return "breaker_opened";
    case event_kind::breaker_half_open: return "breaker_half_open";
    case event_kind::breaker_closed: return "breaker_closed";
    case event_kind::limit_changed: return "limit_changed";
    case event_kind::overload_raised: return "overload_raised";
    case event_kind::overload_cleared: return "overload_cleared";
  }
  return "unknown";
}

log_level severity(const lifecycle_event& ev) {
  switch (ev.kind) {
    case event_kind::child_started:
    case event_kind::child_ignored:
    case event_kind::child_shutdown:
    case event_kind::auto_shutdown:
    case event_kind::breaker_half_open:
    case event_kind::breaker_closed:
    case event_kind::limit_changed:
    case event_kind::overload_cleared:
      return log_level::info;
    case event_kind::child_restarted:
    case event_kind::restart_delayed:
    case event_kind::breaker_opened:
    case event_kind::overload_raised:
      return log_level::warn;
    case event_kind::start_error:
    case event_kind::shutdown_error:
    case event_kind::reached_max_restart_intensity:
      return log_level::error;
    case event_kind::child_terminated:
    case event_kind::supervisor_stopped:
      // OTP reports only abnormal exits (as errors); a normal end is progress.
      return is_normal_or_shutdown(ev.reason) ? log_level::info : log_level::error;
  }
  return log_level::error;
}

namespace {

std::string iso_time(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  auto secs = time_point_cast<seconds>(t);
  auto micros = duration_cast<microseconds>(t - secs).count();
  std::time_t tt = system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, micros);
}

} // namespace

std::string to_text(const lifecycle_event& ev) {
  std::string out = fmt::format("{} {}", to_string(ev.kind), ev.supervisor);
  if (!ev.child.empty())
    out += fmt::format(" child={}", ev.child);
  if (!ev.restart_type.empty())
    out += fmt::format(" restart={}", ev.restart_type);
  if (ev.reason)
    out += fmt::format(" reason={}", describe(ev.reason));
  out += fmt::format(" restarts={}", ev.restart_count);
  if (ev.intensity_headroom >= 0)
    out += fmt::format(" headroom={}", ev.intensity_headroom);
  if (ev.delay.count() > 0)
    out += fmt::format(" delay_ms={:.3f}", ev.delay.count() / 1e6);
  if (!ev.detail.empty())
    out += " " + ev.detail;
  if (ev.actor_id != 0)
    out += fmt::format(" actor={}", ev.actor_id);
  return out;
}

std::string to_json(const lifecycle_event& ev) {
  nlohmann::json j{
    {"event", to_string(ev.kind)},
    {"time", iso_time(ev.time)},
    {"supervisor", ev.supervisor},
    {"child", ev.child},
    {"restart_type", ev.restart_type},
    {"reason", describe(ev.reason)},
    {"restart_count", ev.restart_count},
    {"intensity_headroom", ev.intensity_headroom},
    {"actor_id", ev.actor_id},
  };
  if (ev.delay.count() > 0)
    j["delay_ms"] = ev.delay.count() / 1e6;
  if (!ev.detail.empty())
    j["detail"] = ev.detail;
  return j.dump();
}

void recording_sink::publish(const lifecycle_event& ev) {
  std::lock_guard<std::mutex> guard{mtx_};
  events_.push_back(ev);
}

std::vector<lifecycle_event> recording_sink::events() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return events_;
}

std::vector<std::string> recording_sink::names() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<std::string> out;
  for (auto& ev : events_)
    out.emplace_back(to_string(ev.kind));
  return out;
}

std::vector<std::string> recording_sink::trace() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<std::string> out;
  for (auto& ev : events_)
    out.emplace_back(std::string{to_string(ev.kind)} + ":" + ev.child);
  return out;
}

size_t recording_sink::count(event_kind k, const std::string& child) const {
  std::lock_guard<std::mutex> guard{mtx_};
  size_t n = 0;
  for (auto& ev : events_)
    if (ev.kind == k && (child.empty() || ev.child == child))
      ++n;
  return n;
}

void recording_sink::clear() {
  std::lock_guard<std::mutex> guard{mtx_};
  events_.clear();
}

} // namespace warden
