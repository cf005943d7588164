// Messages between node agents (the handshake). Registered with the actor system by
// add_node_message_types; the type names are part of the wire format.
#pragma once

#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

#include "warden/cluster_names.hpp"
#include "warden/membership.hpp"

namespace warden::internal {

struct hello_msg {
  std::string cluster;
  member_info from;
  std::string settings;
  std::vector<std::string> types;
  std::string nonce;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, hello_msg& x) {
  return f(caf::meta::type_name("warden_hello"), x.cluster, x.from, x.settings, x.types,
           x.nonce);
}

struct challenge_msg {
  member_info from;
  std::string nonce;
  std::string proof;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, challenge_msg& x) {
  return f(caf::meta::type_name("warden_challenge"), x.from, x.nonce, x.proof);
}

struct auth_msg {
  std::string proof;
  std::vector<member_info> members;
  std::vector<name_entry> names;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, auth_msg& x) {
  return f(caf::meta::type_name("warden_auth"), x.proof, x.members, x.names);
}

struct welcome_msg {
  std::vector<member_info> members;
  std::vector<name_entry> names;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, welcome_msg& x) {
  return f(caf::meta::type_name("warden_welcome"), x.members, x.names);
}

/// Makes `agent` and `view` the node of `sys` (node_agent_of, cluster_view_of, whereis).
void register_node(caf::actor_system& sys, const caf::actor& agent,
                   std::shared_ptr<cluster_view> view);

/// Forgets the node of `sys` (the registry's reference would keep the agent alive).
void unregister_node(caf::actor_system& sys);

/// Random bytes as hex (OpenSSL's RAND_bytes).
std::string make_nonce();

/// HMAC-SHA256(secret, text) as hex.
std::string prove(const std::string& secret, const std::string& text);

/// Constant-time comparison of two proofs.
bool same_proof(const std::string& x, const std::string& y);

} // namespace warden::internal
