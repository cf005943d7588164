/// @file
/// Stable names for services on this node (OTP's registered names).
///
/// `lookup(sys, "db")` returns a handle that stays valid across restarts of the service:
/// a small forwarding actor that hands each message straight to the current instance on
/// the sender's thread (no extra hop; replies go straight back to the sender). Keep it and
/// use it with `send`, `request` and `monitor` like any `caf::actor`.
///
/// Messages sent while the service restarts are kept, in order, up to a bound
/// (`defaults::name_buffer_size`, 1024 per name) and delivered to the new instance. Past
/// the bound, requests are answered with `errc::service_restarting` and one-way messages
/// are dropped and counted (`name_stats::dropped`). When the service stops for good
/// (temporary exit, terminate_child, supervisor gave up), kept and new requests are
/// answered with `errc::service_unavailable`. A message that reaches an instance in the
/// instant it dies is handled as CAF does (a request gets `sec::request_receiver_down`).
///
/// Supervisors bind names (child_spec::name); users only look them up.
///
/// ```cpp
/// auto db = warden::lookup(sys, "db");            // expected<caf::actor>
/// if (!db) ...                                    // errc::unknown_name
/// self->request(*db, 1s, get_atom_v, key).then(...);
/// ```
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

namespace warden {

namespace defaults {
/// Messages kept per name while its service restarts.
inline constexpr size_t name_buffer_size = 1024;
} // namespace defaults

/// What a name is bound to right now.
enum class name_state : uint8_t {
  bound,       ///< a running instance receives messages
  restarting,  ///< messages are kept until the next instance is bound
  unbound,     ///< no instance, none coming: requests are answered with an error
};

const char* to_string(name_state x);

/// Counters of one name.
struct name_stats {
  std::string name;
  name_state state = name_state::unbound;
  caf::actor instance;    ///< the current instance (null unless bound)
  size_t buffered = 0;    ///< messages kept right now
  uint64_t dropped = 0;   ///< one-way messages dropped because the buffer was full
  uint64_t rejected = 0;  ///< requests answered with an error
};

/// Returns the stable handle of `name`, or `errc::unknown_name` if no service was ever
/// bound to it on this actor system.
caf::expected<caf::actor> lookup(caf::actor_system& sys, const std::string& name);

/// Like `lookup`, as a typed handle: the service's message protocol declared as a CAF
/// typed actor interface, checked at compile time on the caller's side.
/// ```cpp
/// using greeter_protocol = caf::typed_actor<caf::replies_to<std::string>::with<std::string>>;
/// auto greeter = warden::lookup_as<greeter_protocol>(sys, "greeter");
/// self->request(*greeter, 1s, "world"s);   // a message outside the protocol won't compile
/// ```
template <class Protocol>
caf::expected<Protocol> lookup_as(caf::actor_system& sys, const std::string& name) {
  auto hdl = lookup(sys, name);
  if (!hdl)
    return hdl.error();
  return caf::actor_cast<Protocol>(*hdl);
}

/// The state and counters of `name`, or `errc::unknown_name`.
caf::expected<name_stats> name_info(caf::actor_system& sys, const std::string& name);

/// All names known on this actor system, sorted.
std::vector<std::string> registered_names(caf::actor_system& sys);

/// Supervisor side: the names a supervisor binds for its children.
namespace names {

/// Binds `name` to `instance` (creating the name if needed) and delivers kept messages.
/// Fails with `errc::name_taken` when another live instance holds it.
caf::error bind(caf::actor_system& sys, const std::string& name, const caf::actor& instance,
                size_t buffer_size = defaults::name_buffer_size);

/// The instance died and a restart is coming: keep messages from now on.
void restarting(caf::actor_system& sys, const std::string& name);

/// No instance is coming: answer kept and future requests with `service_unavailable`.
void unbind(caf::actor_system& sys, const std::string& name);

} // namespace names

} // namespace warden
