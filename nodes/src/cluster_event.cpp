#include "warden/cluster_event.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "warden/membership.hpp"

namespace warden {

const char* to_string(member_state x) {
  switch (x) {
    case member_state::joining: return "joining";
    case member_state::up: return "up";
    case member_state::unreachable: return "unreachable";
    case member_state::down: return "down";
    case member_state::removed: return "removed";
  }
  return "?";
}

const char* to_string(cluster_event_kind x) {
  switch (x) {
    case cluster_event_kind::node_up: return "node_up";
    case cluster_event_kind::node_unreachable: return "node_unreachable";
    case cluster_event_kind::node_reachable: return "node_reachable";
    case cluster_event_kind::node_down: return "node_down";
    case cluster_event_kind::node_removed: return "node_removed";
    case cluster_event_kind::join_refused: return "join_refused";
    case cluster_event_kind::name_conflict: return "name_conflict";
    case cluster_event_kind::connection_rejected: return "connection_rejected";
    case cluster_event_kind::self_downed: return "self_downed";
  }
  return "?";
}

log_level severity(const cluster_event& ev) {
  switch (ev.kind) {
    case cluster_event_kind::node_up:
    case cluster_event_kind::node_reachable:
    case cluster_event_kind::node_removed:
      return log_level::info;
    case cluster_event_kind::node_unreachable:
    case cluster_event_kind::node_down:
    case cluster_event_kind::join_refused:
    case cluster_event_kind::name_conflict:
    case cluster_event_kind::connection_rejected:
    case cluster_event_kind::self_downed:
      return log_level::warn;
  }
  return log_level::warn;
}

cluster_event_sink::~cluster_event_sink() = default;

std::string to_text(const cluster_event& ev) {
  auto text = fmt::format("{} {} peer={} {}#{}", to_string(ev.kind), ev.node, ev.peer,
                          ev.address, ev.incarnation);
  if (!ev.reason.empty())
    text += fmt::format(" reason=\"{}\"", ev.reason);
  if (ev.kind == cluster_event_kind::node_unreachable)
    text += fmt::format(" phi={:.2f}", ev.phi);
  if (!ev.name.empty())
    text += fmt::format(" name=\"{}\"", ev.name);
  if (!ev.detail.empty())
    text += fmt::format(" {}", ev.detail);
  return text;
}

std::string to_json(const cluster_event& ev) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(ev.time.time_since_epoch());
  auto secs = std::chrono::floor<std::chrono::seconds>(us);
  nlohmann::json j;
  j["event"] = to_string(ev.kind);
  j["time"] = fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:06}Z",
                          fmt::gmtime(static_cast<time_t>(secs.count())),
                          (us - secs).count());
  j["node"] = ev.node;
  j["peer"] = ev.peer;
  j["address"] = ev.address;
  j["incarnation"] = ev.incarnation;
  j["reason"] = ev.reason;
  if (ev.kind == cluster_event_kind::node_unreachable)
    j["phi"] = ev.phi;
  if (!ev.name.empty())
    j["name"] = ev.name;
  if (!ev.detail.empty())
    j["detail"] = ev.detail;
  return j.dump();
}

void recording_cluster_sink::publish(const cluster_event& ev) {
  std::lock_guard<std::mutex> guard{mtx_};
  events_.push_back(ev);
}

std::vector<cluster_event> recording_cluster_sink::events() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return events_;
}

std::vector<std::string> recording_cluster_sink::trace() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<std::string> result;
  for (auto& ev : events_)
    result.push_back(std::string{to_string(ev.kind)} + ":" + ev.peer);
  return result;
}

size_t recording_cluster_sink::count(cluster_event_kind k, const std::string& peer) const {
  std::lock_guard<std::mutex> guard{mtx_};
  return static_cast<size_t>(std::count_if(events_.begin(), events_.end(), [&](auto& ev) {
    return ev.kind == k && (peer.empty() || ev.peer == peer);
  }));
}

void recording_cluster_sink::clear() {
  std::lock_guard<std::mutex> guard{mtx_};
  events_.clear();
}

} // namespace warden
