/// @file
/// The chaos run's verdict and report (`warden chaos`, docs/chaos.md "Results and report").
///
/// A run records what happened as plain records: every request (`operation`), every fault
/// it injected (`fault`), every lifecycle and cluster event (`event`), samples of which
/// nodes claim each cluster-service instance (`copies_sample`), the steady-state
/// hypothesis checked before and after (`hypothesis_check`) and, at the end, the request
/// ids each service's state holds (`acknowledged_read`). `evaluate` turns the record into
/// checks with figures; `write_chaos_results` writes the run directory (results.json,
/// history.jsonl, events.jsonl, copies.jsonl, summary.txt, timeline.html). All times are
/// milliseconds since the run started. `chaos_recorder` fills a record from many threads.
///
/// ```cpp
/// warden::chaos::chaos_recorder rec{"kill-leader", seed};
/// auto id = rec.invoke("counter", "n1");  ... rec.ok(id);  // or rec.fail(id, "call_timeout")
/// auto f = rec.fault_started("kill_node", "n2");  ... rec.fault_ended(f);
/// auto run = rec.finish();
/// auto verdict = warden::chaos::evaluate(run, {});
/// if (auto err = warden::chaos::write_chaos_results(dir, run, verdict)) ...  // *err: why
/// return verdict.ok ? 0 : 1;
/// ```
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

// A nested namespace: `fault` and `event` would clash with fault_plan.hpp's names.
namespace warden::chaos {

// --- records (one JSON object each; the .jsonl files hold one per line) -----------------

/// What an operation line records: a request sent, or its outcome.
enum class op_kind : uint8_t { invoke, ok, fail };

/// "invoke", "ok" or "fail".
const char* to_string(op_kind x);

/// One line of history.jsonl. A request is an `invoke` line and, once it completes, an
/// `ok` or `fail` line with the same id; a request still open at the end has only the
/// invoke (it counts as invoked, not as ok).
struct operation {
  uint64_t id = 0;          ///< request id, unique in the run; the service's state stores it
  std::string service;      ///< the cluster service called (by name)
  op_kind kind = op_kind::invoke;
  std::string node;         ///< the node whose client sent the request
  double time = 0;          ///< ms since run start (of the send, or of the outcome)
  std::string error;        ///< fail: the error's name ("call_timeout", "node_down", ...)
  double latency_ms = 0;    ///< ok: send to answer

  bool operator==(const operation&) const = default;
};

/// One injected fault ("kill_node", "pause_node", "partition", "cut_link", "latency",
/// "loss", "reset", "kill_service", ...).
struct fault {
  std::string name;
  std::string target;              ///< free text: "n2", "n1,n2 | n3", "n1->n3"
  double start_ms = 0;
  std::optional<double> end_ms;    ///< nullopt (JSON null): still on at the end of the run

  bool operator==(const fault&) const = default;
};

/// One lifecycle or cluster event. `node` is the node the event is about: its timeline
/// lane. For membership events (node_up, node_unreachable, node_reachable, node_down,
/// node_removed, node_joining) that is the member concerned, and `detail.observer` names
/// the node that saw it; for child_restarted it is the node the child runs on.
struct event {
  double time_ms = 0;
  std::string node;
  std::string name;
  nlohmann::json detail = nlohmann::json::object();

  bool operator==(const event&) const = default;
};

/// At one instant, the nodes that claim to run one cluster-service instance `key`
/// ("name" or "name#i"), gathered from every node. `epochs[i]` is `nodes[i]`'s epoch.
struct copies_sample {
  double time_ms = 0;
  std::string key;
  std::vector<std::string> nodes;
  std::vector<uint64_t> epochs;

  bool operator==(const copies_sample&) const = default;
};

enum class hypothesis_phase : uint8_t { before, after };

/// "before" or "after".
const char* to_string(hypothesis_phase x);

/// One steady-state check ("all_members_up", "services_answer", "p99_under_bound", ...).
struct hypothesis_check {
  hypothesis_phase phase = hypothesis_phase::before;
  std::string name;
  bool ok = false;
  std::string figure;    ///< what was measured: "3/3 up", "p99 12.5 ms"

  bool operator==(const hypothesis_check&) const = default;
};

/// At the end of the run: every request id `service`'s state holds.
struct acknowledged_read {
  std::string service;
  std::set<uint64_t> ids;

  bool operator==(const acknowledged_read&) const = default;
};

// Throw (nlohmann::json::exception, std::invalid_argument) on a missing field or an
// unknown kind/phase.
void to_json(nlohmann::json& j, const operation& x);
void from_json(const nlohmann::json& j, operation& x);
void to_json(nlohmann::json& j, const fault& x);
void from_json(const nlohmann::json& j, fault& x);
void to_json(nlohmann::json& j, const event& x);
void from_json(const nlohmann::json& j, event& x);
void to_json(nlohmann::json& j, const copies_sample& x);
void from_json(const nlohmann::json& j, copies_sample& x);
void to_json(nlohmann::json& j, const hypothesis_check& x);
void from_json(const nlohmann::json& j, hypothesis_check& x);
void to_json(nlohmann::json& j, const acknowledged_read& x);
void from_json(const nlohmann::json& j, acknowledged_read& x);

/// Everything one run recorded.
struct chaos_record {
  std::string scenario;
  uint64_t seed = 0;
  std::string rerun;                 ///< command that reruns it; empty: summary shows the seed
  double duration_ms = 0;
  std::vector<std::string> nodes;    ///< timeline lane order; nodes seen elsewhere follow
  std::vector<operation> history;
  std::vector<fault> faults;
  std::vector<event> events;
  std::vector<copies_sample> copies;
  std::vector<hypothesis_check> hypothesis;
  std::vector<acknowledged_read> final_reads;  ///< services without one are not checked for loss
};

// --- recording ---------------------------------------------------------------------------

/// Fills a `chaos_record` while the run goes; every member is thread-safe. Times come from
/// `clock` (ms since run start; default: a steady clock started by the constructor).
class chaos_recorder {
public:
  using clock_fn = std::function<double()>;

  explicit chaos_recorder(std::string scenario, uint64_t seed = 0, clock_fn clock = {});

  double now_ms() const;
  void add_node(const std::string& name);

  /// Records a request sent now; returns its id (1, 2, ...).
  uint64_t invoke(const std::string& service, const std::string& node);
  /// Records the answer to `id` (latency from its invoke). False: no open request `id`.
  bool ok(uint64_t id);
  /// Records the failure of `id` with an error name. False: no open request `id`.
  bool fail(uint64_t id, const std::string& error);

  /// Records a fault starting now; returns its index for `fault_ended`.
  size_t fault_started(const std::string& name, const std::string& target);
  /// Records a fault of one instant (a kill without restart, a reset): end = start = now.
  void instant_fault(const std::string& name, const std::string& target);
  void fault_ended(size_t index);

  void add_event(const std::string& node, const std::string& name,
                 nlohmann::json detail = nlohmann::json::object());
  void add_sample(const std::string& key, std::vector<std::string> nodes,
                  std::vector<uint64_t> epochs);
  void add_check(hypothesis_phase phase, const std::string& name, bool ok,
                 const std::string& figure);
  void set_final_read(const std::string& service, std::set<uint64_t> ids);
  void set_rerun(const std::string& command);

  /// A copy of the record so far, with duration_ms = now.
  chaos_record finish() const;

private:
  mutable std::mutex mtx_;
  clock_fn clock_;
  chaos_record run_;
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, operation> open_;  // invoke lines of requests in flight
};

// --- verdict -----------------------------------------------------------------------------

/// Bounds of the checks; the defaults are the design's failover target after a hang or
/// partition (3 s) and no bound on availability or latency.
struct chaos_bounds {
  /// Fault start to recovery of every service it disrupted.
  std::chrono::milliseconds max_recovery{3000};
  /// Per fault name, overrides max_recovery (e.g. {"kill_node", 500ms}).
  std::map<std::string, std::chrono::milliseconds> max_recovery_for;
  /// ok / invoked, 0..1; nullopt: reported, not checked.
  std::optional<double> min_availability;
  /// p99 latency of ok requests; nullopt: reported, not checked.
  std::optional<double> max_p99_ms;
};

/// One check of the verdict: "hypothesis_before", "hypothesis_after", "lost_acknowledged",
/// "singleton_copies", "recovery <fault> <target> @<start>ms" (one per fault),
/// "availability", "latency" (docs/chaos.md lists figures and rules).
struct check_result {
  std::string name;
  bool ok = false;
  std::string figure;   ///< the number: "0 lost", "812 ms", "99.2% (992/1000)"
  std::string detail;   ///< why, when it matters: ids lost, nodes and epochs, per service

  bool operator==(const check_result&) const = default;
};

void to_json(nlohmann::json& j, const check_result& x);
void from_json(const nlohmann::json& j, check_result& x);

struct chaos_verdict {
  bool ok = false;      ///< every check ok
  std::vector<check_result> checks;

  /// The check named `name`, or nullptr.
  const check_result* find(std::string_view name) const;
};

/// Nearest-rank percentile `p` (0..100] of sorted, non-empty `xs`.
double percentile(const std::vector<double>& xs, double p);

/// Runs every check on `run`. Pure: the record may come from a run or be made by hand.
chaos_verdict evaluate(const chaos_record& run, const chaos_bounds& bounds);

// --- files -------------------------------------------------------------------------------

/// results.json: {"valid", "scenario", "seed", "rerun", "duration_ms", "checks",
/// "hypothesis", "faults", "final_reads", "counts"}.
nlohmann::json results_json(const chaos_record& run, const chaos_verdict& verdict);

/// summary.txt: scenario, seed, duration, each check PASS/FAIL with figure, how to rerun.
std::string summary_text(const chaos_record& run, const chaos_verdict& verdict);

/// timeline.html: one self-contained page (inline CSS and one SVG, no script, no URLs).
std::string timeline_html(const chaos_record& run, const chaos_verdict& verdict);

/// Creates `dir` if needed and writes results.json, history.jsonl, events.jsonl,
/// copies.jsonl, summary.txt and timeline.html. nullopt when all were written, else
/// "path: why" of the first failure.
std::optional<std::string> write_chaos_results(const std::filesystem::path& dir,
                                               const chaos_record& run,
                                               const chaos_verdict& verdict);

} // namespace warden::chaos
