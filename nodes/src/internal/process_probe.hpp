// Is the node process behind an address still there? A raw TCP connect to its own node port
// tells a crash (the kernel closed the listening socket: refused) from a hang or a cut link
// (the connect completes, or nothing answers). Issue 4's "process gone" fast path: a lost
// connection downs a member at once only when this says `refused`. It must not speak BASP:
// a BASP connect would give CAF a new route around a chaos partition's proxies.
//
//   if (probe_tcp("127.0.0.1", 7102, 200ms) == probe_result::refused) mark_down(...);
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "warden/node_agent.hpp"

namespace warden::internal {

/// `warden::probe_result` (node_agent.hpp, where the agent's injectable probe needs it):
/// refused = ECONNREFUSED, nothing listens there (the process is gone, or never bound the
/// port); accepted = the connect completed, something listens (a live, hung or stopped
/// process); no_answer = nothing within the timeout, or another error (unreachable host,
/// bad address). `warden::to_string` names them.
using warden::probe_result;

/// Connects to `host`:`port` (IPv4 literal or name) without blocking longer than `timeout`,
/// then closes the socket without sending anything.
probe_result probe_tcp(const std::string& host, uint16_t port, std::chrono::milliseconds timeout);

} // namespace warden::internal
