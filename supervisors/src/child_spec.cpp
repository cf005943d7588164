#include "warden/child_spec.hpp"

#include "warden/supervisor.hpp"

namespace warden {

const char* to_string(restart_type x) {
  switch (x) {
    case restart_type::permanent: return "permanent";
    case restart_type::transient: return "transient";
    case restart_type::temporary: return "temporary";
  }
  return "unknown";
}

const char* to_string(child_type x) {
  return x == child_type::supervisor ? "supervisor" : "worker";
}

const char* to_string(strategy x) {
  switch (x) {
    case strategy::one_for_one: return "one_for_one";
    case strategy::one_for_all: return "one_for_all";
    case strategy::rest_for_one: return "rest_for_one";
    case strategy::dynamic: return "dynamic";
  }
  return "unknown";
}

const char* to_string(auto_shutdown x) {
  switch (x) {
    case auto_shutdown::never: return "never";
    case auto_shutdown::any_significant: return "any_significant";
    case auto_shutdown::all_significant: return "all_significant";
  }
  return "unknown";
}

const char* to_string(child_state x) {
  switch (x) {
    case child_state::running: return "running";
    case child_state::undefined: return "undefined";
    case child_state::restarting: return "restarting";
  }
  return "unknown";
}

std::string to_string(const shutdown_policy& x) {
  switch (x.how) {
    case shutdown_policy::kind::brutal_kill: return "brutal_kill";
    case shutdown_policy::kind::infinity: return "infinity";
    case shutdown_policy::kind::timeout:
      return std::to_string(x.time.count() / 1000000) + "ms";
  }
  return "unknown";
}

shutdown_policy child_spec::effective_shutdown() const {
  if (shutdown)
    return *shutdown;
  return type == child_type::supervisor ? shutdown_policy::infinity()
                                        : shutdown_policy::timeout(defaults::worker_shutdown);
}

std::optional<caf::timespan> child_spec::effective_start_timeout() const {
  if (start_timeout)
    return start_timeout;
  if (type == child_type::supervisor)
    return std::nullopt;
  return defaults::worker_start_timeout;
}

} // namespace warden
