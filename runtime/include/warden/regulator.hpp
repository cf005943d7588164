/// @file
/// Regulators: admission queues in front of work (Erlang's `jobs`, with `sbroker`'s CoDel).
///
/// A regulator hands out *permits*. A **counter** regulator allows `limit` jobs at once (a
/// permit is held until `done`, or until its holder dies); a **rate** regulator allows
/// `limit` jobs per second (a permit is spent when granted). A request that finds no permit
/// waits in a bounded queue, FIFO or LIFO. It leaves the queue in one of three ways, each
/// answered, never silently:
/// - granted: the answer carries the time it spent queued;
/// - `errc::rejected`: the queue was full (the newcomer, or under `drop_oldest` the oldest
///   waiter, which gives way to it) or CoDel dropped it;
/// - `errc::queue_timeout`: it waited `max_time`; it is never run afterwards.
/// Both errors carry `"<name>: why"` and the milliseconds spent queued (a double).
///
/// **Feedback** (jobs' samplers): every `sample_interval` each sampler reads a figure and
/// maps it to a level (how many of its thresholds the figure reaches). The effective limit
/// is `max(min_limit, limit * (1 - feedback_step * sum of levels))`, so load lowers it and
/// it comes back at the first sample after the load fell. Built in: `queue_delay` (age of
/// the oldest waiter, ms) and `in_flight` (permits held); `memory_sampler` and
/// `cpu_sampler` read /proc; any `std::function<double()>` works.
///
/// **Where regulators go.** `spawn_regulator` starts one as an actor. With a guarded actor
/// it is a front: every message it does not know is a request for the guarded actor, sent
/// on under a permit (counter: held until the answer, or `call_timeout`); callers talk to
/// the front as they would to the service. Without one, actors ask for permits themselves.
/// Its settings live in a `regulator_config` that outlives it: a regulator restarted by its
/// supervisor comes back with the limits it had, reconfigurations included.
///
/// | setting           | default   | meaning                                                  |
/// |-------------------|-----------|----------------------------------------------------------|
/// | `name`            | "regulator" | in errors, events and stats                            |
/// | `kind`            | counter   | counter (jobs at once) or rate (jobs per second)         |
/// | `limit`           | 16        | jobs at once, or per second                              |
/// | `max_size`        | 1000      | waiters at most; 0 = no queue (reject at once)           |
/// | `max_time`        | 1 s       | longest wait (never infinite)                            |
/// | `order`           | fifo      | fifo, or lifo (newest first)                             |
/// | `overflow`        | by order  | full queue: reject_new (fifo), drop_oldest (lifo)        |
/// | `codel`           | off       | CoDel on the queue: `target` 5 ms, `interval` 100 ms     |
/// | `samplers`        | none      | feedback sources                                         |
/// | `feedback_step`   | 0.25      | share of `limit` removed per sampler level               |
/// | `min_limit`       | 1         | feedback never lowers the limit below this               |
/// | `sample_interval` | 1 s       | how often the actor samples                              |
/// | `call_timeout`    | 5 s       | front: a request's longest hold of a permit              |
/// | `alarm_after`     | 5 s       | overloaded this long raises the alarm (0: no alarm)      |
/// | `alarm_clear_after` | 10 s    | calm this long clears it                                 |
///
/// ```cpp
/// warden::regulator_settings s;
/// s.name = "orders";
/// s.limit = 8;                                           // 8 orders at once
/// s.samplers.push_back(warden::queue_delay_sampler({50, 200}));  // ms
/// auto cfg = std::make_shared<warden::regulator_config>(s);
/// auto front = warden::spawn_regulator(sys, cfg, orders_service);
/// self->request(front, 2s, order{...}).then(...);       // rejected / queue_timeout / reply
///
/// auto gate = warden::spawn_regulator(sys, cfg);         // explicit permits
/// self->request(gate, 2s, warden::ask_atom::value).then([=](const warden::permit& p) {
///   ... // work
///   self->send(gate, warden::done_atom::value, p.ticket);
/// });
/// ```
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_clock.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/meta/type_name.hpp>

#include "warden/atoms.hpp"
#include "warden/lifecycle_event.hpp"
#include "warden/overflow_policy.hpp"
#include "warden/service.hpp"

namespace warden {

// --- protocol ----------------------------------------------------------------------------

using ask_atom = caf::atom_constant<caf::atom("ask")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using reconfigure_atom = caf::atom_constant<caf::atom("reconfig")>;
using set_level_atom = caf::atom_constant<caf::atom("setLevel")>;

/// A granted request: its ticket (for `done`) and how long it waited.
struct permit {
  uint64_t ticket = 0;
  double queued_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, permit& x) {
  return f(caf::meta::type_name("warden_permit"), x.ticket, x.queued_ms);
}

// --- settings ----------------------------------------------------------------------------

enum class regulator_kind : uint8_t { counter, rate };
enum class queue_order : uint8_t { fifo, lifo };

const char* to_string(regulator_kind x);
const char* to_string(queue_order x);

/// CoDel (RFC 8289) on the waiting queue: once waiters have queued longer than `target`
/// for a whole `interval`, the regulator drops (rejects) waiters as it dequeues them, at a
/// rate that grows with the square root of the drops, until the sojourn falls below target.
struct codel_settings {
  caf::timespan target = std::chrono::milliseconds{5};
  caf::timespan interval = std::chrono::milliseconds{100};
};

/// One feedback source: `read` gives a figure, `thresholds` (ascending) map it to a level.
struct sampler {
  std::string name;
  std::function<double()> read;  ///< empty for the built-in samplers
  std::vector<double> thresholds;
};

/// Built-in: the age of the oldest waiter, in ms.
sampler queue_delay_sampler(std::vector<double> thresholds_ms);
/// Built-in: permits held (counter) or requests forwarded and not yet answered (front).
sampler in_flight_sampler(std::vector<double> thresholds);
/// The process's resident memory in MiB (/proc/self/statm).
sampler memory_sampler(std::vector<double> thresholds_mib);
/// The process's CPU use since the previous read, in percent of one core (/proc/self/stat).
sampler cpu_sampler(std::vector<double> thresholds_percent);

/// The limits that `reconfigure` changes at run time.
struct regulator_limits {
  double limit = 16;
  size_t max_size = 1000;
  caf::timespan max_time = std::chrono::seconds{1};
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, regulator_limits& x) {
  return f(caf::meta::type_name("warden_regulator_limits"), x.limit, x.max_size, x.max_time);
}

/// Everything a regulator is; the defaults are the table above.
struct regulator_settings {
  std::string name = "regulator";
  regulator_kind kind = regulator_kind::counter;
  regulator_limits limits;
  queue_order order = queue_order::fifo;
  /// What a full queue does; unset: reject_new under fifo, drop_oldest under lifo.
  std::optional<overflow_policy> overflow;
  std::optional<codel_settings> codel;
  std::vector<sampler> samplers;
  double feedback_step = 0.25;
  double min_limit = 1;
  caf::timespan sample_interval = std::chrono::seconds{1};
  caf::timespan call_timeout = std::chrono::seconds{5};
  /// The overload alarm: raised after this long overloaded (0: no alarm) ...
  caf::timespan alarm_after = std::chrono::seconds{5};
  /// ... and cleared after this long calm (hysteresis).
  caf::timespan alarm_clear_after = std::chrono::seconds{10};
  /// Receives limit_changed events; `reporter` is their `supervisor` field.
  event_sink_ptr events;
  std::string reporter;
};

/// The overflow policy `s` runs with (its default follows the order).
overflow_policy overflow_of(const regulator_settings& s);

/// Checks `s`: positive limit, min_limit and intervals, a non-zero max_time, ascending
/// thresholds. Errors: errc::bad_config naming the field.
caf::error validate(const regulator_settings& s);

/// The settings of one regulator, shared by all its incarnations (thread-safe).
class regulator_config {
public:
  explicit regulator_config(regulator_settings s) : settings_(std::move(s)) {}
  regulator_settings get() const;
  void set_limits(const regulator_limits& x);

private:
  mutable std::mutex mtx_;
  regulator_settings settings_;
};

// --- the logic ---------------------------------------------------------------------------

/// What became of one request: granted (`error` empty) or answered with `error`.
struct regulator_decision {
  uint64_t ticket = 0;
  caf::error error;
  caf::timespan queued{0};
};

/// Figures of one regulator.
struct regulator_stats {
  std::string name;
  std::string kind;
  std::string overflow;        ///< the overflow policy
  double limit = 0;            ///< configured
  double effective_limit = 0;  ///< after feedback
  uint64_t in_use = 0;         ///< counter: permits held
  uint64_t queued = 0;         ///< waiting now
  uint64_t granted = 0;
  uint64_t rejected = 0;       ///< queue full or CoDel
  uint64_t codel_drops = 0;    ///< of `rejected`
  uint64_t dropped_oldest = 0; ///< of `rejected`: waiters that gave way (drop_oldest)
  uint64_t timed_out = 0;
  /// Front: one-way messages it never delivered (refused or timed out); their senders
  /// were not told (pobox's drop count). Calls are always answered and not counted here.
  uint64_t dropped = 0;
  double last_sojourn_ms = 0;  ///< of the last request that left the queue
  double max_sojourn_ms = 0;
  bool alarm = false;          ///< the overload alarm is raised
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, regulator_stats& x) {
  return f(caf::meta::type_name("warden_regulator_stats"), x.name, x.kind, x.overflow, x.limit,
           x.effective_limit, x.in_use, x.queued, x.granted, x.rejected, x.codel_drops,
           x.dropped_oldest, x.timed_out, x.dropped, x.last_sojourn_ms, x.max_sojourn_ms,
           x.alarm);
}

/// The overload alarm with hysteresis: fed one observation per sample (overloaded or
/// not), it raises after `raise_after` of unbroken overload and clears after
/// `clear_after` of unbroken calm, so a service at the edge does not flap.
class overload_alarm {
public:
  using time_point = caf::actor_clock::time_point;
  enum class change { none, raised, cleared };

  overload_alarm(caf::timespan raise_after, caf::timespan clear_after)
    : raise_after_(raise_after), clear_after_(clear_after) {
  }

  change observe(bool overloaded, time_point now);
  bool raised() const { return raised_; }
  /// True while a run of the other state is being counted.
  bool counting() const { return since_.has_value(); }

private:
  caf::timespan raise_after_;
  caf::timespan clear_after_;
  bool raised_ = false;
  std::optional<time_point> since_;  // start of the current run of the other state
};

/// The regulator as pure logic: no actors, time passed in. Every call appends what it
/// decided to `out` (the newcomer's own fate included). Not thread-safe.
class regulator_core {
public:
  using time_point = caf::actor_clock::time_point;

  regulator_core(regulator_settings s, time_point now);

  /// A new request `ticket` (unique, chosen by the caller).
  void ask(uint64_t ticket, time_point now, std::vector<regulator_decision>& out);
  /// Counter: `ticket`'s permit comes back (unknown tickets are ignored). A waiting
  /// `ticket` leaves the queue unanswered (its asker is gone).
  void done(uint64_t ticket, time_point now, std::vector<regulator_decision>& out);
  /// Expires waiters and grants what the limit allows at `now` (rate: due tokens).
  void poll(time_point now, std::vector<regulator_decision>& out);
  /// When `poll` has something to do next (a waiter's max_time, a rate token).
  std::optional<time_point> next_deadline() const;

  /// Sets `sampler`'s level; true when the effective limit changed.
  bool set_level(const std::string& sampler, unsigned level);
  /// New limits; waiters now over max_size or max_time are answered at the next `poll`.
  void set_limits(const regulator_limits& x);

  /// Level of a sampler's figure: how many thresholds it reaches.
  static unsigned level_of(const sampler& s, double figure);

  double effective_limit() const;
  /// Age of the oldest waiter (0 when none).
  caf::timespan oldest_wait(time_point now) const;
  uint64_t in_use() const { return holders_.size(); }
  uint64_t queued() const { return queue_.size(); }
  /// Requests refused so far: rejected or timed out.
  uint64_t refused() const { return st_.rejected + st_.timed_out; }
  regulator_stats stats() const;
  const regulator_settings& settings() const { return s_; }

private:
  struct waiter {
    uint64_t ticket;
    time_point since;
  };

  bool permit_free(time_point now) const;
  void take_permit(uint64_t ticket, time_point now);
  void answer(const waiter& w, caf::error err, time_point now,
              std::vector<regulator_decision>& out);
  void expire(time_point now, std::vector<regulator_decision>& out);
  void grant_waiters(time_point now, std::vector<regulator_decision>& out);
  /// CoDel's verdict for a waiter about to be served.
  bool codel_drops(caf::timespan sojourn, time_point now);

  regulator_settings s_;
  std::deque<waiter> queue_;  // oldest at the front
  std::set<uint64_t> holders_;
  time_point next_token_;     // rate: the earliest time of the next grant
  std::map<std::string, unsigned> levels_;
  regulator_stats st_;
  // CoDel state (RFC 8289 names)
  time_point first_above_{};
  time_point drop_next_{};
  uint32_t drop_count_ = 0;
  uint32_t last_drop_count_ = 0;
  bool dropping_ = false;
};

// --- the actor ---------------------------------------------------------------------------

/// Starts a regulator with the settings in `config`, in front of `guarded` when given.
///
/// | message                                   | answer                                  |
/// |-------------------------------------------|-----------------------------------------|
/// | `(ask_atom)`                              | `permit`; `rejected`, `queue_timeout`   |
/// | `(done_atom, uint64_t ticket)`            | `ok_atom`: the permit is back (counter) |
/// | `(stats_atom)`                            | `regulator_stats`                       |
/// | `(demand_atom)`                           | `uint32_t`: floor(effective limit) + max_size, a producer's grant (flow_sender.hpp) |
/// | `(reconfigure_atom, regulator_limits)`    | `ok_atom`, kept in `config`; `bad_config` |
/// | `(set_level_atom, std::string, uint32_t)` | `ok_atom`: an outside sampler's level   |
/// | anything else, with `guarded`             | its answer; `rejected`, `queue_timeout`, `call_timeout` |
/// | anything else, without                    | `sec::unexpected_message`               |
///
/// Every `sample_interval` the regulator reads its samplers and judges the last period:
/// overloaded when it rejected or timed out a request, or its oldest waiter has waited
/// half of `max_time`; `overload_raised` / `overload_cleared` events report the alarm.
///
/// Permits held by an asker that dies come back (the regulator monitors askers). A
/// front's permit comes back with the answer, at `call_timeout` (the caller then gets
/// `call_timeout`), or when `guarded` dies.
caf::actor spawn_regulator(caf::actor_system& sys, std::shared_ptr<regulator_config> config,
                           caf::actor guarded = {});

/// The same as a supervised service: each (re)start reads `config`, so a restarted
/// regulator has the limits it had (reconfigurations included). Settings that fail
/// `validate` fail the start with `bad_config`.
start_function regulator_service(std::shared_ptr<regulator_config> config,
                                 caf::actor guarded = {});

/// `service` behind its own regulator, as one child: the start spawns the regulator, which
/// starts `service` (linked) and fronts it. The child's handle and its name are the
/// front's, so every call to it is regulated. The two live and die together: a crash of
/// either ends both and the supervisor restarts the pair (the limits stay in `config`);
/// a failed start of `service` is a crash of the child. Tree files declare it with a
/// `[children.regulator]` table (docs/regulation.md).
start_function regulated_service(start_function service,
                                 std::shared_ptr<regulator_config> config);

/// The regulators running in `sys` (for the management endpoint: their `stats_atom`).
std::vector<caf::actor> running_regulators(caf::actor_system& sys);

} // namespace warden
