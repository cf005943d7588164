/// @file
/// Declared trees: a supervision tree written down in a TOML file, turned into the
/// supervisor flags and child specs that `start_supervisor` takes. Services are named by
/// type and built by a `service_catalog`; a child with `type = "supervisor"` is a nested
/// supervisor with its own flags and `[[children.children]]`. docs/config-reference.md
/// lists every field and default.
///
/// Loading checks everything before anything starts: TOML syntax, unknown keys, types,
/// ranges, enum values, service types and their parameters, and then the same flag and
/// child-spec validation the supervisor runs at start. Every problem is one
/// `errc::bad_config` error whose context is a single string
/// `"FILE:LINE: FIELD: what is wrong"`, e.g.
/// `tree.toml:12: children[1].restart: "sometimes" is not one of: permanent, transient,
/// temporary`. Field paths count children from 0.
///
/// ```toml
/// strategy = "one_for_one"     # root supervisor flags at the top level
/// intensity = 3
///
/// [[children]]
/// id = "counter"
/// service = "counter"
/// [children.params]
/// start = 10
///
/// [[children]]
/// id = "db_sup"
/// type = "supervisor"
/// strategy = "one_for_all"
///   [[children.children]]
///   id = "db"
///   service = "echo"
/// ```
///
/// ```cpp
/// warden::service_catalog catalog;
/// warden::add_builtin_services(catalog);   // nodes/builtin_services.hpp
/// auto tree = warden::load_tree_file("tree.toml", catalog);
/// if (!tree) { std::cerr << warden::config_error_text(tree.error()) << '\n'; return 2; }
/// tree->flags.events = log;
/// auto root = warden::start_supervisor(sys, tree->flags, tree->children);
/// ```
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "warden/child_spec.hpp"
#include "warden/service_catalog.hpp"
#include "warden/supervisor_flags.hpp"

namespace warden {

/// One child of a declared tree, at any depth: where it sits and what it runs. For tools
/// (fault injection checks paths against it).
struct declared_child {
  /// Report path of the child: "<supervisor path>/<id>", e.g. "root/db_sup/db".
  std::string path;
  /// Service type; empty for a supervisor.
  std::string service;
  child_type type = child_type::worker;
  /// The one spec of a dynamic supervisor: its instances have no id and no path.
  bool dynamic_template = false;
  /// "FILE:LINE" of the child's table.
  std::string source;
};

/// How a cluster service is spread over the nodes that declare it.
enum class cluster_mode : uint8_t {
  /// One live instance in the whole cluster, named by the child's `name`.
  singleton,
  /// `instances` instances over the members, named "<name>#0" .. "<name>#N-1".
  spread,
};

/// A root child declared with `cluster = "singleton"` or `cluster = "spread"`: the node's
/// cluster-service manager starts it under the root when placement puts it on this node
/// (docs/cluster-services.md); the tree does not start it.
struct cluster_service {
  cluster_mode mode = cluster_mode::singleton;
  /// Spread only: how many instances (1..10000; default 1).
  uint32_t instances = 1;
  /// The child as declared (its `name` is the service's cluster name).
  child_spec spec;
  /// "FILE:LINE" of the child's table.
  std::string source;
};

/// The child spec of instance `index` of `cs`: the declared spec for a singleton;
/// for spread, id "<id>#<index>" and name "<name>#<index>".
child_spec cluster_instance_spec(const cluster_service& cs, uint32_t index);

/// A tree read from a file: ready for `start_supervisor(sys, flags, children)`.
struct declared_tree {
  /// Root supervisor flags (`events` is left empty: the caller decides where they go).
  supervisor_flags flags;
  std::vector<child_spec> children;
  /// Every child at every depth, parents before their children, in start order.
  std::vector<declared_child> layout;
  /// The file (or source name) the tree came from.
  std::string source;
  /// Stable names of children with `global = true`: a node registers them cluster-wide
  /// (nodes/cluster_names.hpp); `warden run` ignores them.
  std::vector<std::string> global_names;
  /// Children with `cluster = ...`, not in `children`: a node places them over the cluster;
  /// `warden run` (a cluster of one) starts them with the tree.
  std::vector<cluster_service> cluster_services;
};

/// Reads and checks the tree file at `path`. Errors: `errc::bad_config` with context
/// `"FILE:LINE: FIELD: what"` (a file that cannot be read: `"FILE: cannot read: why"`).
caf::expected<declared_tree> load_tree_file(const std::string& path,
                                            const service_catalog& catalog);

/// Same as `load_tree_file` for TOML text; `source_name` stands for the file in messages.
caf::expected<declared_tree> parse_tree(std::string_view toml_text,
                                        const std::string& source_name,
                                        const service_catalog& catalog);

/// The message of a `bad_config` error (its context string), or `describe(err)` for any
/// other error. For one-line reports on stderr.
std::string config_error_text(const caf::error& err);

} // namespace warden
