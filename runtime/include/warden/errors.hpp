/// @file
/// Named errors. Every answer Warden gives that is not a success is a `caf::error` in the
/// category `warden` with one of the codes below; its context carries the details (the
/// child id, the nested reason, ...). Register the category once per actor system with
/// `warden::configure(cfg)` so `to_string` shows the names.
///
/// ```cpp
/// auto res = client.restart_child("db");
/// if (!res && warden::is(res.error(), warden::errc::running)) { ... }
/// ```
#pragma once

#include <cstdint>
#include <string>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/make_message.hpp>

namespace caf {
class actor_system_config;
}

namespace warden {

/// The error category atom of all Warden errors.
constexpr caf::atom_value error_category = caf::atom("warden");

/// Warden's named errors.
enum class errc : uint8_t {
  none = 0,
  // --- supervisor runtime API answers (OTP names) ---
  already_started = 1,  ///< start_child: the id runs; context: the actor
  already_present,      ///< start_child: the id is known but not running
  not_found,            ///< no child with that id (or actor)
  running,              ///< restart_child / delete_child on a running child
  restarting,           ///< the child is between failed restart attempts
  not_supported,        ///< the call makes no sense for this strategy (dynamic supervisor)
  max_children,         ///< the dynamic supervisor already has max_children
  failed_to_start_child,  ///< context: child id, the start error
  start_timeout,        ///< the child did not report ready within its start timeout
  no_supervisor,        ///< the supervisor called no longer exists
  reached_max_restart_intensity,  ///< the supervisor gave up; context: child id, reason
  bad_start_args,       ///< a dynamic child's start arguments do not fit its init
  exited_before_ready,  ///< a child exited normally before its init ack (OTP: {error, normal})
  // --- supervisor flag validation ---
  bad_strategy = 32,
  bad_intensity,
  bad_period,
  bad_auto_shutdown,
  bad_backoff,
  bad_max_children,
  // --- child spec validation ---
  missing_id = 48,
  missing_start,
  bad_shutdown,
  duplicate_id,
  significant_permanent,         ///< a significant child may not be permanent
  significant_without_auto_shutdown,
  dynamic_needs_one_spec,        ///< a dynamic supervisor has exactly one child spec
  dynamic_auto_shutdown,         ///< a dynamic supervisor's auto_shutdown must be never
  bad_start_timeout,
  // --- names ---
  unknown_name = 64,     ///< no service is registered under that name
  name_taken,            ///< another live service holds that name
  service_unavailable,   ///< the named service is not running and will not be restarted
  service_restarting,    ///< the named service is restarting and its buffer is full
  // --- configuration ---
  bad_config = 80,       ///< context: "file:line: field: what"
  unknown_service_type,  ///< a tree file names a service type nobody registered
  // --- cluster (nodes) ---
  node_down = 96,        ///< the node that owns the name (or the call's target) is down
  call_timeout,          ///< a cluster call got no answer within its timeout
  cluster_mismatch,      ///< join refused: the peer belongs to another cluster
  settings_mismatch,     ///< join refused: failure-detector settings differ
  types_mismatch,        ///< join refused: registered message types differ
  auth_failed,           ///< join refused: the peer does not know the cluster secret
  not_a_member,          ///< a message from a node that has not joined
  node_unavailable,      ///< no connection to the node (refused, unreachable, timed out)
  fenced,                ///< a resource refused a stale copy: its fencing epoch is older than the newest it saw; context: the text
  // --- node settings ---
  invalid_config = 112,  ///< node settings (file, env, flags); context: one message string
  // --- management HTTP ---
  bind_failed = 128,     ///< a server could not bind its address; context: "host:port: why"
  // --- load regulation (regulator.hpp, bounded_buffer.hpp, circuit_breaker.hpp, retry.hpp) ---
  rejected = 144,     ///< overload: queue full or CoDel dropped it; context: "queue: why", ms queued
  queue_timeout,      ///< waited longer than max_time, never run; context: "queue: why", ms queued
  buffer_full,        ///< a bounded buffer refused the item (reject_new); context: buffer name
  circuit_open,       ///< the breaker fails calls fast; context: breaker name, ms to next probe
  retries_exhausted,  ///< every attempt failed; context: attempts, the last error
};

/// The stable name of `x`, e.g. "already_present".
std::string to_string(errc x);

/// Makes a Warden error with optional context.
template <class... Ts>
caf::error make_error(errc code, Ts&&... context) {
  if constexpr (sizeof...(Ts) == 0)
    return caf::error{static_cast<uint8_t>(code), error_category};
  else
    return caf::error{static_cast<uint8_t>(code), error_category,
                      caf::make_message(std::forward<Ts>(context)...)};
}

/// True when `err` is the Warden error `code`.
inline bool is(const caf::error& err, errc code) {
  return err && err.category() == error_category && err.code() == static_cast<uint8_t>(code);
}

/// Registers Warden's error category and message types with `cfg`. Call once before
/// constructing an actor system that runs Warden supervisors.
void configure(caf::actor_system_config& cfg);

} // namespace warden
