/// @file
/// Supervisors: actors that start children in order, watch them with monitors, restart
/// them by strategy within a restart intensity, and stop them in reverse order.
/// Semantics follow Erlang/OTP's `supervisor` (see docs/supervision.md, which lists every
/// flag, default, answer and event), plus backoff, cause-carrying give-ups, per-child
/// restart counts and start timeouts.
///
/// Starting a tree:
/// ```cpp
/// warden::supervisor_flags flags{.strategy = warden::strategy::one_for_all,
///                                .intensity = 3, .period = 10s};
/// auto sup = warden::start_supervisor(sys, flags, {
///   {.id = "db", .start = warden::service(db), .name = "db"},
///   warden::supervisor_child("workers", {.strategy = warden::strategy::dynamic},
///                            {{.id = "w", .start = warden::service(worker)}}),
/// });
/// if (!sup) std::cerr << warden::describe(sup.error());  // failed_to_start_child(...)
/// warden::supervisor_client client{sys, *sup};
/// auto kids = client.which_children();
/// ```
///
/// The runtime API is a message protocol; `supervisor_client` wraps it for blocking
/// code, actors use `request` directly:
///
/// | request                                     | answers                                                   |
/// |---------------------------------------------|-----------------------------------------------------------|
/// | (start_child_atom, child_spec)              | actor; actor() if ignored; already_started(actor), already_present, spec errors, failed start's error |
/// | (start_child_atom, caf::message args)       | dynamic: actor; max_children; the start error             |
/// | (terminate_child_atom, std::string id)      | ok (unit); not_found; not_supported (dynamic)             |
/// | (terminate_child_atom, caf::actor child)    | dynamic: ok (also for a dead actor); not_found            |
/// | (restart_child_atom, std::string id)        | actor; running; restarting; not_found; not_supported; the start error |
/// | (delete_child_atom, std::string id)         | ok; running; restarting; not_found; not_supported         |
/// | (which_children_atom)                       | std::vector<child_info>, newest first                     |
/// | (count_children_atom)                       | child_counts (dynamic: specs is 1, the template)          |
/// | (get_childspec_atom, std::string id)        | child_spec; not_found                                     |
/// | (get_childspec_atom, caf::actor child)      | child_spec; not_found                                     |
/// | (child_status_atom)                         | supervisor_status (restart counts, intensity headroom)    |
///
/// A call to a supervisor that no longer exists fails with `errc::no_supervisor` (client)
/// or `sec::request_receiver_down` (raw request).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/scoped_actor.hpp>

#include "warden/atoms.hpp"
#include "warden/child_spec.hpp"
#include "warden/supervisor_flags.hpp"

namespace warden {

/// The state of a child as which_children reports it.
enum class child_state : uint8_t {
  running,     ///< an instance runs (`actor` is set)
  undefined,   ///< no instance (never started, ignored, terminated, transient done)
  restarting,  ///< between failed restart attempts or waiting out a backoff delay
};

const char* to_string(child_state x);

/// One row of which_children (OTP: {Id, Child, Type, Modules}), plus restart counts.
struct child_info {
  std::string id;  ///< "" for dynamic children (OTP: undefined)
  caf::actor actor;
  child_state state = child_state::undefined;
  child_type type = child_type::worker;
  restart_type restart = restart_type::permanent;
  uint32_t restart_count = 0;  ///< restarts the supervisor made of this child
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, child_info& x) {
  uint8_t state = static_cast<uint8_t>(x.state);
  uint8_t type = static_cast<uint8_t>(x.type);
  uint8_t restart = static_cast<uint8_t>(x.restart);
  return f(caf::meta::type_name("warden.child_info"), x.id, x.actor, state, type, restart,
           x.restart_count);
}

/// count_children (OTP: specs, active, supervisors, workers).
struct child_counts {
  size_t specs = 0;
  size_t active = 0;
  size_t supervisors = 0;
  size_t workers = 0;
  friend bool operator==(const child_counts&, const child_counts&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, child_counts& x) {
  return f(caf::meta::type_name("warden.child_counts"), x.specs, x.active, x.supervisors,
           x.workers);
}

/// Beyond OTP: the supervisor's restart bookkeeping.
struct supervisor_status {
  std::string path;
  int intensity = 0;                ///< the configured limit
  int intensity_headroom = 0;       ///< restarts left in the current window
  uint64_t total_restarts = 0;      ///< restarts made since start
  std::vector<child_info> children; ///< in start order
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, supervisor_status& x) {
  return f(caf::meta::type_name("warden.supervisor_status"), x.path, x.intensity,
           x.intensity_headroom, x.total_restarts, x.children);
}

/// A child spec whose child is a supervisor over `children`.
child_spec supervisor_child(std::string id, supervisor_flags flags,
                            std::vector<child_spec> children);

/// The start function of a supervisor; for custom child specs.
start_function supervisor_start(supervisor_flags flags, std::vector<child_spec> children);

/// Spawns a root supervisor without waiting; its init ack goes to `info.supervisor`
/// (use a test actor, or `start_supervisor` to wait).
caf::actor spawn_supervisor(caf::actor_system& sys, supervisor_flags flags,
                            std::vector<child_spec> children, start_info info);

/// Starts a root supervisor and waits until all its children started (or the start
/// failed: the error then says which child and why; nothing is left running).
caf::expected<caf::actor> start_supervisor(caf::actor_system& sys, supervisor_flags flags,
                                           std::vector<child_spec> children,
                                           caf::timespan timeout = std::chrono::minutes{1});

/// Stops a supervisor in order (its children in reverse start order) and waits for it.
/// Returns the supervisor's exit reason.
caf::error stop_supervisor(caf::actor_system& sys, const caf::actor& sup,
                           caf::timespan timeout = std::chrono::minutes{1});

/// Blocking calls to a supervisor, each with a timeout (default 5 s). For main(),
/// tools and tests on the real scheduler; actors use `request` instead.
class supervisor_client {
public:
  supervisor_client(caf::actor_system& sys, caf::actor sup,
                    caf::timespan timeout = std::chrono::seconds{5});

  caf::expected<caf::actor> start_child(child_spec spec);
  caf::expected<caf::actor> start_child(caf::message args);
  caf::error terminate_child(const std::string& id);
  caf::error terminate_child(const caf::actor& child);
  caf::expected<caf::actor> restart_child(const std::string& id);
  caf::error delete_child(const std::string& id);
  caf::expected<std::vector<child_info>> which_children();
  caf::expected<child_counts> count_children();
  caf::expected<child_spec> get_childspec(const std::string& id);
  caf::expected<supervisor_status> status();

  const caf::actor& handle() const { return sup_; }

private:
  template <class T, class... Ts>
  caf::expected<T> call(Ts&&... xs);

  caf::actor_system& sys_;
  caf::actor sup_;
  caf::timespan timeout_;
};

} // namespace warden
