/// @file
/// The atoms of Warden's message protocols (CAF 0.17 atoms hold at most 10 characters).
#pragma once

#include <caf/atom.hpp>

namespace warden {

// --- service start protocol (child -> supervisor) ---
/// `(init_ack_atom, uint64_t token, bool ignored, caf::error reason)`
using init_ack_atom = caf::atom_constant<caf::atom("initAck")>;

/// The answer "ok" of calls that return nothing else.
using ok_atom = caf::atom_constant<caf::atom("ok")>;

// --- supervisor runtime API (see supervisor.hpp for every answer) ---
using start_child_atom = caf::atom_constant<caf::atom("startChild")>;
using terminate_child_atom = caf::atom_constant<caf::atom("termChild")>;
using restart_child_atom = caf::atom_constant<caf::atom("restChild")>;
using delete_child_atom = caf::atom_constant<caf::atom("delChild")>;
using which_children_atom = caf::atom_constant<caf::atom("whichChild")>;
using count_children_atom = caf::atom_constant<caf::atom("countChild")>;
using get_childspec_atom = caf::atom_constant<caf::atom("getSpec")>;
using child_status_atom = caf::atom_constant<caf::atom("childStat")>;

// --- supervisor internals (self messages) ---
using retry_atom = caf::atom_constant<caf::atom("retry")>;
using delayed_atom = caf::atom_constant<caf::atom("delayed")>;
using start_timeout_atom = caf::atom_constant<caf::atom("startTmo")>;
using stop_timeout_atom = caf::atom_constant<caf::atom("stopTmo")>;

// --- load regulation (regulator.hpp, bounded_buffer.hpp) ---
/// `(stats_atom)`: a regulation actor's figures (regulator_stats, buffer_stats).
using stats_atom = caf::atom_constant<caf::atom("stats")>;
/// `(demand_atom)`: a consumer's grant to a producer, as `uint32_t` (flow_sender.hpp).
using demand_atom = caf::atom_constant<caf::atom("demand")>;

} // namespace warden
