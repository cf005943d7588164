#include "warden/errors.hpp"

#include <caf/actor_system_config.hpp>

#include "warden/exit_reasons.hpp"

namespace warden {

std::string to_string(errc x) {
  switch (x) {
    case errc::none: return "none";
    case errc::already_started: return "already_started";
    case errc::already_present: return "already_present";
    case errc::not_found: return "not_found";
    case errc::running: return "running";
    case errc::restarting: return "restarting";
    case errc::not_supported: return "not_supported";
    case errc::max_children: return "max_children";
    case errc::failed_to_start_child: return "failed_to_start_child";
    case errc::start_timeout: return "start_timeout";
    case errc::no_supervisor: return "no_supervisor";
    case errc::reached_max_restart_intensity: return "reached_max_restart_intensity";
    case errc::bad_start_args: return "bad_start_args";
    case errc::exited_before_ready: return "exited_before_ready";
    case errc::bad_strategy: return "bad_strategy";
    case errc::bad_intensity: return "bad_intensity";
    case errc::bad_period: return "bad_period";
    case errc::bad_auto_shutdown: return "bad_auto_shutdown";
    case errc::bad_backoff: return "bad_backoff";
    case errc::bad_max_children: return "bad_max_children";
    case errc::missing_id: return "missing_id";
    case errc::missing_start: return "missing_start";
    case errc::bad_shutdown: return "bad_shutdown";
    case errc::duplicate_id: return "duplicate_id";
    case errc::significant_permanent: return "significant_permanent";
    case errc::significant_without_auto_shutdown: return "significant_without_auto_shutdown";
    case errc::dynamic_needs_one_spec: return "dynamic_needs_one_spec";
    case errc::dynamic_auto_shutdown: return "dynamic_auto_shutdown";
    case errc::bad_start_timeout: return "bad_start_timeout";
    case errc::unknown_name: return "unknown_name";
    case errc::name_taken: return "name_taken";
    case errc::service_unavailable: return "service_unavailable";
    case errc::service_restarting: return "service_restarting";
    case errc::bad_config: return "bad_config";
    case errc::unknown_service_type: return "unknown_service_type";
    case errc::node_down: return "node_down";
    case errc::call_timeout: return "call_timeout";
    case errc::cluster_mismatch: return "cluster_mismatch";
    case errc::settings_mismatch: return "settings_mismatch";
    case errc::types_mismatch: return "types_mismatch";
    case errc::auth_failed: return "auth_failed";
    case errc::not_a_member: return "not_a_member";
    case errc::node_unavailable: return "node_unavailable";
    case errc::fenced: return "fenced";
    case errc::invalid_config: return "invalid_config";
    case errc::bind_failed: return "bind_failed";
    case errc::rejected: return "rejected";
    case errc::queue_timeout: return "queue_timeout";
    case errc::buffer_full: return "buffer_full";
    case errc::circuit_open: return "circuit_open";
    case errc::retries_exhausted: return "retries_exhausted";
  }
  return "errc(" + std::to_string(static_cast<int>(x)) + ")";
}

void configure(caf::actor_system_config& cfg) {
  cfg.add_error_category(error_category,
                         [](uint8_t code, caf::atom_value, const caf::message& ctx) {
                           return describe(caf::error{code, error_category, ctx});
                         });
}

} // namespace warden
