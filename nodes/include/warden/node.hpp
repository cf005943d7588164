/// @file
/// A node: one process's actor system with CAF's middleman, its node agent published on
/// the node port (node_agent.hpp), its declared supervision tree, and its management
/// endpoint (management_http.hpp). `warden node` is this class behind a command line;
/// tests and embedding programs use it directly.
///
/// Start order: actor system -> agent published on the node port -> tree started (its
/// `global = true` names registered cluster-wide) -> HTTP endpoint -> dialing the seeds.
/// `ready()` when the tree runs and the node joined (see cluster_snapshot::joined).
/// `stop()` leaves gracefully (members see `node_down` reason "left", then
/// `node_removed`), stops the tree in order, then the system.
///
/// Custom message types that cross nodes are registered once, in a `message_types` list
/// shared by every node's code; the handshake refuses a member whose list differs.
///
/// ```cpp
/// warden::message_types types;
/// types.add<order>("shop.order");
/// auto cfg = warden::load_node_config(sources);            // node_config.hpp
/// auto n = warden::node::start(cfg->config, {.types = types});
/// if (!n) { std::cerr << to_string(n.error()); return 2; }
/// warden::cluster_client client{(*n)->system()};
/// auto answer = client.call<std::string>("echo", 1s, std::string{"hi"});
/// (*n)->stop();
/// ```
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/expected.hpp>
#include <nlohmann/json.hpp>

#include "warden/cluster_event.hpp"
#include "warden/cluster_names.hpp"
#include "warden/event_log.hpp"
#include "warden/membership.hpp"
#include "warden/node_config.hpp"
#include "warden/service_catalog.hpp"

namespace warden {

namespace internal {
class port_guard;
} // namespace internal

/// Custom message types that cross nodes: register them once, for every node.
class message_types {
public:
  template <class T>
  message_types& add(std::string name) {
    names_.push_back(name);
    adders_.push_back([name](caf::actor_system_config& cfg) { cfg.add_message_type<T>(name); });
    return *this;
  }
  void apply(caf::actor_system_config& cfg) const {
    for (auto& f : adders_)
      f(cfg);
  }
  const std::vector<std::string>& names() const { return names_; }

private:
  std::vector<std::string> names_;
  std::vector<std::function<void(caf::actor_system_config&)>> adders_;
};

/// What code adds to a node beyond its configuration.
struct node_options {
  message_types types;
  /// Service types the tree file may name; the built-in ones when null.
  std::shared_ptr<service_catalog> catalog;
  /// Where lifecycle and cluster events go; made from the `log` settings when null.
  std::shared_ptr<event_log> log;
  /// An extra sink for cluster events (tests record them).
  cluster_event_sink_ptr cluster_events;
  /// Spawn the agent on its own thread (heartbeats never wait for a busy scheduler).
  bool detached_agent = true;
};

class node {
public:
  /// Starts a node; every failure is a named error: `errc::bad_config` (tree file) and
  /// `errc::invalid_config` (TLS files) before anything started, `errc::bind_failed` (a
  /// port in use) before the agent exists, `errc::failed_to_start_child` ... when the tree
  /// fails. A tree that fails to start leaves CAF's threads to the process exit (CAF 0.17.6
  /// may hang tearing that system down): exit the process after such a failure.
  static caf::expected<std::unique_ptr<node>> start(const node_config& cfg,
                                                    node_options opts = {});
  ~node();
  node(const node&) = delete;
  node& operator=(const node&) = delete;

  caf::actor_system& system() { return *sys_; }
  const member_info& self() const { return self_; }
  uint16_t port() const { return port_; }
  /// The management endpoint's port (0 when off).
  uint16_t http_port() const { return http_port_; }
  caf::actor agent() const { return agent_; }
  /// The root supervisor (invalid when the node has no tree).
  caf::actor root() const { return root_; }
  std::shared_ptr<const cluster_snapshot> snapshot() const { return view_->get(); }
  bool ready() const;

  /// The JSON documents of the management endpoint (also for tools and tests).
  nlohmann::json members_json() const;
  nlohmann::json names_json() const;
  nlohmann::json tree_json();
  /// Every running regulator's figures (regulator.hpp); one that does not answer within
  /// `regulation_read_timeout` is left out.
  nlohmann::json regulation_json();
  static constexpr std::chrono::milliseconds regulation_read_timeout{500};

  /// Leaves the cluster, stops the tree in order, stops the system. Idempotent. Every
  /// actor of the system must be gone first (the system waits for them): destroy your
  /// `scoped_actor`s and `cluster_client`s of this node before calling it.
  caf::error stop();

  /// Writes one node message to the event log: `{"event": name, "node": ..., fields...}`.
  /// A `level` field (trace ... error) sets the line's level: info by default
  /// (global_name_refused: error).
  void note(const std::string& event, nlohmann::json fields = nlohmann::json::object());

private:
  node() = default;
  /// A failed start after the agent exists: stop what can be stopped, leak the system.
  void abandon();

  node_config cfg_;
  std::unique_ptr<caf::actor_system_config> sys_cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  std::shared_ptr<event_log> log_;
  std::shared_ptr<cluster_view> view_;
  member_info self_;
  uint16_t port_ = 0;
  uint16_t http_port_ = 0;
  /// Watches connections on the node port until they are peers (internal/port_guard.hpp).
  std::unique_ptr<internal::port_guard> port_guard_;
  /// Calls by name between nodes (call_transport.hpp); null when off.
  std::shared_ptr<class call_transport> calls_;
  caf::actor agent_;
  caf::actor root_;
  /// Runs this node's share of the tree's cluster services (cluster_service_manager.hpp).
  caf::actor services_;
  std::unique_ptr<class management_server> http_;
  bool stopped_ = false;
};

} // namespace warden
