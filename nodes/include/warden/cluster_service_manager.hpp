/// @file
/// The cluster-service manager: runs this node's share of the cluster services declared in
/// its tree file (`cluster = "singleton"` / `"spread"`, docs/cluster-services.md).
///
/// Every node computes the placement of every instance from its own view
/// (placement.hpp: rendezvous hashing over the candidates, the members not yet down that
/// declare the service) and runs the instances placed on itself, as long as it holds the
/// quorum lease (quorum_lease.hpp). It checks every `check_interval`:
///
/// | situation | what the manager does |
/// |---|---|
/// | an instance is placed here, the node joined, the lease is valid, nobody else holds the name | starts it under the root supervisor, then registers its name cluster-wide |
/// | the node still dials members that others report up (`joining_members`) | nothing starts, stops or moves until the views agree (at most 2 x handshake timeout + reconnect_max per introduced member) |
/// | placed here but another member still holds the name | waits: that member stops its copy and unregisters when it sees the new placement, or is downed (its names go with it); so a move is always stop there, then start here |
/// | it runs here and is placed elsewhere (a member joined or came back) | unregisters the name, stops it |
/// | the lease is lost or about to end (minority side, cut off) | stops every instance at once (fencing: the majority starts them only after downing this node, later than the lease ends) |
/// | the name is held by another node when it registers | stops its copy again and retries later (never two copies reachable) |
/// | another member registered the name with a higher fencing epoch | the local copy is stale: stops at once |
/// | a resource refused the copy's epoch (`service_actor::report_stale`) | stops it; a fresh copy with a higher epoch starts at the next check if still placed here |
/// | the node stops (graceful leave) | hands over first: asks each instance for its state (`handover_atom`), gives it to the successor's manager, stops the instance, then the node leaves |
///
/// The hand-over hook: an instance that answers `(handover_atom)` with a
/// `handover_state{message}` gets its successor started with `(takeover_atom, message)`
/// as its first message.
/// Services that do not handle `handover_atom` are moved without state. Only planned moves
/// hand over; after a crash or a partition the successor starts fresh.
///
/// Fencing epochs: every start registers the instance's name with an epoch above every
/// epoch this node saw for it and above the wall clock in ms; the registry keeps the higher
/// epoch when two registrations meet (cluster_names.hpp), and a copy that sees a higher
/// epoch registered elsewhere stops.
///
/// Events (node log, JSON field `event`): `cluster_service_started` (name, instance, epoch),
/// `cluster_service_stopped` (name, reason: "placed elsewhere", "lease lost", "leaving",
/// "name held elsewhere", "stale: ...", "fenced at a resource"), `cluster_service_handed_over` (name, to), and
/// `cluster_service_start_failed` (name, error).
///
/// ```cpp
/// // node.cpp does this for a tree with cluster services:
/// warden::cluster_service_settings s;
/// s.services = tree.cluster_services; s.root = root; s.view = view; s.agent = agent;
/// s.self = self_info;
/// auto manager = warden::spawn_cluster_service_manager(sys, std::move(s));
/// // a service that hands its state over:
/// [&](warden::handover_atom) { return warden::handover_state{caf::make_message(count)}; },
/// [&](warden::takeover_atom, const caf::message& m) { count = m.get_as<int>(0); },
/// ```
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/message.hpp>
#include <caf/meta/type_name.hpp>
#include <nlohmann/json.hpp>

#include "warden/cluster_names.hpp"
#include "warden/tree_file.hpp"

namespace warden {

/// `(handover_atom) -> caf::message`: asked of an instance before a planned move.
using handover_atom = caf::atom_constant<caf::atom("wHandover")>;
/// `(takeover_atom, caf::message)`: the successor's first message after a hand-over
/// (instances); between managers `(takeover_atom, std::string name, caf::message)` -> ok.
using takeover_atom = caf::atom_constant<caf::atom("wTakeover")>;
/// `(stale_atom, std::string name, uint64_t epoch)`: an instance's copy with that epoch was
/// refused by a resource (`service_actor::report_stale`); the manager stops it.
using stale_atom = caf::atom_constant<caf::atom("wStale")>;

/// The answer to `(handover_atom)`: the state for the successor (a node registers the
/// type; a handler returning a plain message would answer with its elements instead).
struct handover_state {
  caf::message state;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, handover_state& x) {
  return f(caf::meta::type_name("warden_handover_state"), x.state);
}

/// One instance of a cluster service: a singleton's only one, or instance `index` of a
/// spread service.
struct service_instance {
  /// Index into the declared services.
  size_t service = 0;
  uint32_t index = 0;
  /// The instance's cluster name: "ledger", "worker#2".
  std::string name;

  bool operator==(const service_instance&) const = default;
};

/// The instances placed on this node in `snap` (this node's view): the placement over the
/// candidates, the members up or unreachable (not joining, down or removed) whose
/// `member_info::services` lists the service. Ignores the lease. Pure.
std::vector<service_instance> placed_here(const cluster_snapshot& snap,
                                          std::span<const cluster_service> services);

/// The cluster name of the manager of node `node_name` (hand-overs are sent there).
std::string cluster_service_manager_name(const std::string& node_name);

struct cluster_service_settings {
  /// As declared in the node's tree file.
  std::vector<cluster_service> services;
  /// The root supervisor: instances are its children.
  caf::actor root;
  std::shared_ptr<cluster_view> view;
  caf::actor agent;
  /// This node (its name names the manager cluster-wide).
  member_info self;
  /// How often placement and lease are checked (50 ms).
  std::chrono::milliseconds check_interval{50};
  /// How long an instance may take to answer `handover_atom`, and the successor's manager
  /// to take the state (1000 ms each).
  std::chrono::milliseconds handover_timeout{1000};
  /// A successor keeps state handed over to it this long for the instance to start here
  /// (30 s).
  std::chrono::milliseconds handover_keep{30000};
  /// Writes one node event (node.cpp: node::note).
  std::function<void(const std::string&, nlohmann::json)> note;
};

/// Spawns the manager; it registers itself as `cluster_service_manager_name(self)`.
/// `(leave_atom) -> ok_atom` hands over and stops every local instance (node::stop sends
/// it before the node leaves).
caf::actor spawn_cluster_service_manager(caf::actor_system& sys,
                                         cluster_service_settings settings);

} // namespace warden
