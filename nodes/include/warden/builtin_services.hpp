/// @file
/// Built-in service types for tree files, demos and tests: small, predictable services
/// you can name in a tree file (`service = "counter"`) without writing C++.
///
/// | type               | params (default)                                  | answers                                   |
/// |--------------------|---------------------------------------------------|-------------------------------------------|
/// | `echo`             | none                                              | any string -> the same string             |
/// | `counter`          | `start` (0)                                       | `add` -> incremented int, `get` -> int; hands its count over on a planned move (cluster services) |
/// | `failing_start`    | `fail_starts` (1), `ok_starts` (0), `mode` ("error") | like echo once running; `get` -> starts so far (int64) |
/// | `ignores_shutdown` | none                                              | like echo; only `kill` stops it           |
/// | `ledger`           | `dir` ($WARDEN_DATA_DIR, else `.warden/data`)     | `(add, uint64 id)` -> ids stored (uint64) once the id is in the file; `get` -> every id (vector<uint64>) |
/// | `ticker`           | `interval_ms` (100)                               | `get` -> ticks so far (int64)             |
/// | `caller`           | `target` (required), `message` ("add"), `interval_ms` (200), `timeout_ms` (1000), `report_ms` (2000) | `get` -> calls answered (int64) |
///
/// `caller` calls the cluster name `target` (cluster_names.hpp) every `interval_ms`:
/// `message = "add"` sends a counter's add, any other text is sent to an echo as a string.
/// It prints `caller PATH -> "target": N ok, M failed, ...` every `report_ms` and at exit.
///
/// `ledger`: a `fenced_ledger` (fenced_ledger.hpp) named after the cluster instance
/// ("ledger", "ledger#1"; outside a cluster the child id) and fenced with the placement's
/// epoch: a stale copy's `add` gets `errc::fenced` and stores nothing. The chaos workload
/// calls it and reads it at the end (docs/chaos.md).
///
/// `failing_start`: starts number `ok_starts + 1` to `ok_starts + fail_starts` fail (the
/// count survives restarts: it lives in the start function); `mode` says how: "error"
/// (init answers an error), "exception" (init throws) or "ignore" (init answers ignore).
///
/// Every built-in service also speaks the fault protocol (see fault_plan.hpp):
/// - `(quit_atom, caf::error reason)`: quits with `reason` (also normal, which an exit
///   signal cannot do: services ignore normal exit signals);
/// - `(throw_atom)`: the handler throws `std::runtime_error("injected exception")`;
/// - fault switches: a start failure armed for the child's path makes the next init fail;
///   a stalled path makes the service ignore shutdown exit signals (kill still works).
///
/// ```cpp
/// warden::service_catalog catalog;
/// warden::add_builtin_services(catalog);
/// warden::service_params p;
/// p.set("start", int64_t{10});
/// auto start = catalog.make("counter", p);   // expected<start_function>
/// ...
/// self->request(counter, 1s, warden::builtin::add_atom::value).then([](int n) { ... });
/// ```
#pragma once

#include <caf/atom.hpp>

#include "warden/service_catalog.hpp"

namespace warden {

namespace builtin {

/// `(quit_atom, caf::error)`: quit with that reason.
using quit_atom = caf::atom_constant<caf::atom("quit")>;
/// `(throw_atom)`: throw from the handler (a crash with reason runtime_error).
using throw_atom = caf::atom_constant<caf::atom("throw")>;
/// counter: `(add_atom)` -> the incremented value (int).
using add_atom = caf::atom_constant<caf::atom("add")>;
/// counter, ticker, failing_start: `(get_atom)` -> the current value.
using get_atom = caf::atom_constant<caf::atom("get")>;
/// ticker, caller: the self message of each tick.
using tick_atom = caf::atom_constant<caf::atom("tick")>;
/// caller: the self message of each report.
using report_atom = caf::atom_constant<caf::atom("report")>;

} // namespace builtin

/// Environment variable naming the directory of services' files (the ledger's).
inline constexpr const char* data_dir_env = "WARDEN_DATA_DIR";
/// The directory of services' files when WARDEN_DATA_DIR is unset.
inline constexpr const char* default_data_dir = ".warden/data";

/// Registers echo, counter, ledger, failing_start, ignores_shutdown, ticker and caller in
/// `catalog`.
void add_builtin_services(service_catalog& catalog);

} // namespace warden
