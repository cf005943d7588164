/// @file
/// The call transport: Warden's own connections for calls by name between nodes.
///
/// CAF 0.17's middleman moves every remote message through its I/O thread (about six
/// thread wake-ups and thirty system calls per round trip, docs/performance.md); the call
/// transport takes the path Erlang's distribution takes instead. Each node listens on a
/// second port (advertised in the handshake as `member_info::calls`). A caller writes its
/// frame to the socket itself, under the connection's lock; one reader thread per
/// connection hands each frame to the target actor's mailbox, and the target's answer is
/// written back by the thread that produced it. The connection is authenticated with the
/// cluster secret (HMAC proofs in both directions, like the join handshake).
///
/// `cluster_request`, `cluster_send` and `cluster_client` use it when the name's owner is
/// another node that advertises a call port; CAF's transport remains the path for
/// everything else (handles from `whereis`, monitors, links, the node agents), and the
/// fallback when the call port cannot be reached (the next try waits `redial_after`). A
/// request whose owner looks gone (its connection closed and the call port now refuses)
/// is answered `sec::request_receiver_down` at once instead: CAF's path could lose it.
/// Messages keep their order per caller and target name, as with CAF.
///
/// What differs from a send to the remote handle:
/// - the target sees no sender: `current_sender()` is empty for a one-way send, and a
///   request's sender is the connection's reply channel (answer by returning a value or
///   through a response promise; to talk to the caller later, pass its handle in the
///   message);
/// - messages that carry actor handles of a third node, or of the caller's node, are
///   decoded on CAF's I/O thread (which owns CAF's proxies): correct, but as slow as CAF;
/// - with `tls.enabled` the transport is off (calls use CAF's openssl transport).
///
/// ```cpp
/// // nothing to do: cluster_request / cluster_send / cluster_client pick the path
/// warden::cluster_client client{sys};
/// auto n = client.call<int64_t>("counter", 2s, get_atom_v);
/// // [cluster] call_transport = false  turns it off; call_port = 7201 fixes its port
/// ```
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "warden/cluster_names.hpp"

namespace warden {

/// Settings of a node's call transport (node.cpp fills them from node_config).
struct call_transport_settings {
  /// Address to bind; the advertised host is the node's.
  std::string host = "127.0.0.1";
  /// 0: any free port.
  uint16_t port = 0;
  std::string cluster;
  std::string secret;
  /// This node (its incarnation is checked by connecting clients).
  member_info self;
  /// The node's names, to find a request's target.
  std::shared_ptr<cluster_view> view;
  /// Connect plus handshake, either side (cluster.handshake_timeout_ms, 2 s).
  std::chrono::milliseconds handshake_timeout{2000};
  /// A write that cannot finish within this closes the connection (1 s).
  std::chrono::milliseconds write_timeout{1000};
  /// After a failed dial, calls to that node use CAF's transport this long (1 s); a
  /// call port that refuses within this long of its connection closing marks the owner
  /// gone (requests answered at once) until the next dial.
  std::chrono::milliseconds redial_after{1000};
  /// "To reach X dial Y" (cluster.connect_via, e.g. a test's TCP proxy on a link).
  std::map<std::string, std::string> connect_via;
  /// Largest frame body accepted (cluster.max_frame_bytes, 64 MiB).
  uint32_t max_frame_bytes = 64 * 1024 * 1024;
  /// A connection on the call port refused (garbage, wrong secret, oversized frame...):
  /// peer address and reason.
  std::function<void(const std::string&, const std::string&)> rejected;
  /// A message that arrived but could not be delivered (undecodable one-way send).
  std::function<void(const std::string&)> dropped;
};

/// Counters of one node's transport (for tests and benchmarks).
struct call_transport_stats {
  uint64_t requests_sent = 0;
  uint64_t sends_sent = 0;
  uint64_t replies_received = 0;
  uint64_t frames_served = 0;   ///< requests and sends received and delivered
  uint64_t slow_decodes = 0;    ///< messages decoded on CAF's I/O thread
  uint64_t fallbacks = 0;       ///< messages given to CAF's transport instead
  uint64_t dials = 0;           ///< connections opened by this node
  uint64_t rejected = 0;        ///< connections refused on the call port
  uint64_t owner_gone = 0;      ///< requests answered at once: their owner looked gone
};

/// One node's call transport: the listener, the connections, the per-name proxies.
class call_transport {
public:
  /// Binds the port and starts accepting. `errc::bind_failed` when the port is taken.
  static caf::expected<std::shared_ptr<call_transport>>
  start(caf::actor_system& sys, call_transport_settings settings);

  ~call_transport();

  /// The bound port.
  uint16_t port() const;

  /// Closes the listener and every connection; calls in flight fail with
  /// `sec::request_receiver_down`. Idempotent.
  void stop();

  /// The handle a call by name should go to: a proxy that writes to `entry`'s owner's
  /// call port, or `entry.target` when the owner is this node or has no call port.
  caf::actor route(const name_entry& entry);

  call_transport_stats stats() const;

  struct impl;

private:
  explicit call_transport(std::shared_ptr<impl> x) : impl_(std::move(x)) {}
  std::shared_ptr<impl> impl_;
};

/// The node's call transport in `sys` (null when off or no node runs there).
std::shared_ptr<call_transport> call_transport_of(caf::actor_system& sys);

} // namespace warden
