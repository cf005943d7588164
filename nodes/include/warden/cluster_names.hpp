/// @file
/// Cluster names: string names registered cluster-wide (CAF's own registry takes atoms
/// of at most 10 characters and is per node), looked up locally, and calls by name.
///
/// A node owns the names it registers and tells every member; each node keeps the whole
/// table, so `whereis` never leaves the process. Names owned by a node that goes down are
/// removed; until the name is registered again, calls to it fail with `errc::node_down`
/// instead of `errc::unknown_name`.
///
/// Conflicts: two nodes that could not see each other (a partition) may both register one
/// name. When they meet, every node applies the same rule, so all agree without a vote:
/// between two cluster-service registrations (both with a fencing epoch, see
/// cluster_service_manager.hpp) **the higher epoch wins**; otherwise **the older
/// registration wins** (earlier `registered_at`, wall clock in microseconds;
/// ties go to the smaller owner address, then the smaller incarnation). The loser's entry
/// is dropped everywhere and its node reports `name_conflict`; the losing service keeps
/// running (killing it would lose its state, the lesson of Horde's issues 161 and 186) and
/// stays reachable through its local name.
///
/// Tree files export a child's stable name cluster-wide with `global = true`; code does it
/// with `register_cluster_name`.
///
/// ```cpp
/// // in any actor of a node:
/// if (auto rh = warden::cluster_request(self, "counter", 2s, get_atom_v))
///   rh->then([](int64_t n) { ... }, [](const caf::error& err) { ... });
/// // in main() or tests (blocking):
/// warden::cluster_client client{sys};
/// auto n = client.call<int64_t>("counter", 2s, get_atom_v);   // expected<int64_t>
/// ```
///
/// Errors of calls by name: `errc::unknown_name` (nobody registered it),
/// `errc::node_down` (its node is down), `errc::call_timeout` (no answer in time; actor
/// code sees CAF's `sec::request_timeout`), `errc::service_unavailable` (the target died
/// during the call; actor code sees `sec::request_receiver_down`).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/scoped_actor.hpp>

#include "warden/errors.hpp"
#include "warden/membership.hpp"

namespace warden {

/// One registration: a name, the actor it stands for, and its owner.
struct name_entry {
  std::string name;
  caf::actor target;
  member_info owner;
  /// Wall clock of the registration in microseconds since the epoch (conflict rule).
  uint64_t registered_at = 0;
  /// The fencing epoch of a cluster-service instance's registration (0: a plain name).
  /// Between two registrations with epochs, the higher epoch wins.
  uint64_t epoch = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, name_entry& x) {
  return f(caf::meta::type_name("warden_name_entry"), x.name, x.target, x.owner,
           x.registered_at, x.epoch);
}

/// The conflict rule: true when `x` wins against `y` (see the file comment).
bool wins(const name_entry& x, const name_entry& y);

/// What a node knows of the cluster right now; published by its node agent after every
/// change, read by anyone without messaging (HTTP endpoint, lookups).
struct cluster_snapshot {
  member_info self;
  std::string cluster;
  /// This node first, then the others by address.
  std::vector<member_status> members;
  std::map<std::string, name_entry> names;
  /// Names whose owner went down: name -> that owner.
  std::map<std::string, member_info> lost_names;
  /// At least one other member is up, or this node may form the cluster alone.
  bool joined = false;
  /// This node holds the quorum lease (quorum_lease.hpp): it may run cluster services.
  bool lease_valid = false;
  /// Milliseconds until the lease ends; none while it cannot end (this node alone in the
  /// member set) or when there is no lease.
  std::optional<int64_t> lease_left_ms;
  /// When the agent computed this snapshot (the real steady clock; unset in snapshots made
  /// by hand). `lease_left_ms` counts from here: a reader that sees the snapshot late (its
  /// process was stopped in between) must not count it from when it saw it.
  std::optional<std::chrono::steady_clock::time_point> published_at;
  /// Members another member introduced (up there) that this node is still dialing, for at
  /// most 2 x handshake timeout + reconnect_max after the introduction. While any is
  /// listed, views of the membership differ and the cluster-service manager starts nothing.
  std::vector<std::string> joining_members;
};

/// The current snapshot, swapped atomically by the agent.
class cluster_view {
public:
  std::shared_ptr<const cluster_snapshot> get() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return current_;
  }
  void set(std::shared_ptr<const cluster_snapshot> x) {
    std::lock_guard<std::mutex> guard{mtx_};
    current_ = std::move(x);
  }

private:
  mutable std::mutex mtx_;
  std::shared_ptr<const cluster_snapshot> current_ = std::make_shared<cluster_snapshot>();
};

/// The view and agent of the node running in `sys` (null / invalid before it started).
std::shared_ptr<cluster_view> cluster_view_of(caf::actor_system& sys);
caf::actor node_agent_of(caf::actor_system& sys);

/// The actor registered under `name` anywhere in the cluster, from the local table:
/// `errc::unknown_name`, or `errc::node_down` when its node went down.
caf::expected<caf::actor> whereis(caf::actor_system& sys, const std::string& name);

/// Where a call by name goes: `whereis`'s actor, or, when its owner is another node with
/// a call port, the call transport's proxy for it (call_transport.hpp). Errors as
/// `whereis`.
caf::expected<caf::actor> call_route(caf::actor_system& sys, const std::string& name);

/// Registers `target` under `name` cluster-wide (blocking, for main() and tests; actors
/// send `(register_name_atom, name, target)` to `node_agent_of(sys)`).
/// `errc::name_taken` when another registration holds it.
caf::error register_cluster_name(caf::actor_system& sys, const std::string& name,
                                 const caf::actor& target,
                                 caf::timespan timeout = std::chrono::seconds{5});

/// Sends to the service registered under `name` (one-way). Errors as `whereis`.
template <class Self, class... Ts>
caf::error cluster_send(Self* self, const std::string& name, Ts&&... xs) {
  auto target = call_route(self->system(), name);
  if (!target)
    return std::move(target.error());
  self->send(*target, std::forward<Ts>(xs)...);
  return caf::none;
}

/// Requests from the service registered under `name`. Unknown and lost names answer
/// through the returned handle's error handler, like any failed request.
template <class Self, class... Ts>
auto cluster_request(Self* self, const std::string& name, caf::timespan timeout, Ts&&... xs) {
  if (auto target = call_route(self->system(), name))
    return self->request(*target, timeout, std::forward<Ts>(xs)...);
  // The agent answers with the named error (or forwards, if the name appeared meanwhile).
  return self->request(node_agent_of(self->system()), timeout, caf::atom("route"), name,
                       caf::make_message(std::forward<Ts>(xs)...));
}

/// Maps CAF's errors of a failed call by name to Warden's: request_timeout ->
/// `errc::call_timeout`, request_receiver_down / remote_link_unreachable ->
/// `errc::node_down` if the name's node is down, else `errc::service_unavailable`.
caf::error cluster_call_error(caf::actor_system& sys, const std::string& name,
                              caf::error err);

/// Blocking calls by name, for main() and tests (never inside an actor).
class cluster_client {
public:
  explicit cluster_client(caf::actor_system& sys) : sys_(sys), self_(sys) {}

  /// One request; the answer as `T`, or a named error.
  template <class T, class... Ts>
  caf::expected<T> call(const std::string& name, caf::timespan timeout, Ts&&... xs) {
    auto target = call_route(sys_, name);
    if (!target)
      return std::move(target.error());
    caf::expected<T> result{caf::make_error(caf::sec::bad_function_call)};
    self_->request(*target, timeout, std::forward<Ts>(xs)...)
      .receive([&](T& x) { result = std::move(x); },
               [&](caf::error& err) { result = cluster_call_error(sys_, name, std::move(err)); });
    return result;
  }

  /// One-way send by name.
  template <class... Ts>
  caf::error send(const std::string& name, Ts&&... xs) {
    return cluster_send(self_.ptr(), name, std::forward<Ts>(xs)...);
  }

private:
  caf::actor_system& sys_;
  caf::scoped_actor self_;
};

} // namespace warden
