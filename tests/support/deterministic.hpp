// Test support: an actor system on CAF's deterministic scheduler with an injected clock,
// plus helpers to start supervisors, call them and make test services do things.
#pragma once

#include <algorithm>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <gtest/gtest.h>

#include "warden/errors.hpp"
#include "warden/exit_reasons.hpp"
#include "warden/lifecycle_event.hpp"
#include "warden/service.hpp"
#include "warden/supervisor.hpp"

namespace warden::test {

using crash_atom = caf::atom_constant<caf::atom("crash")>;
using ping_atom = caf::atom_constant<caf::atom("ping")>;
using quit_atom = caf::atom_constant<caf::atom("quit")>;

/// What a test worker's next init does.
enum class init_mode { ok, fail, ignore, crash };

/// Shared switches for test workers, by child id; survives restarts.
struct control {
  std::map<std::string, std::vector<init_mode>> next;  // consumed front first
  std::map<std::string, bool> ignore_shutdown;          // exit handler ignores shutdown
  std::vector<std::string> log;                         // "start:id", "stop:id"
  std::map<std::string, int> starts;

  init_mode take(const std::string& id) {
    auto& q = next[id];
    if (q.empty())
      return init_mode::ok;
    auto m = q.front();
    q.erase(q.begin());
    return m;
  }
};

/// A worker controlled by `ctl`: answers ping with its id, crashes on crash_atom.
inline start_function worker(std::shared_ptr<control> ctl, std::string id) {
  return service(
    [](service_actor* self, std::shared_ptr<control> ctl, std::string id) -> init_result {
      auto mode = ctl->take(id);
      ctl->starts[id]++;
      switch (mode) {
        case init_mode::fail: return caf::make_error(caf::sec::runtime_error, "init failed: " + id);
        case init_mode::ignore: return warden::ignore;
        case init_mode::crash: throw std::runtime_error("init crashed: " + id);
        case init_mode::ok: break;
      }
      ctl->log.push_back("start:" + id);
      if (ctl->ignore_shutdown[id])
        self->set_exit_handler([self](caf::exit_msg& msg) {
          if (!is_shutdown(msg.reason) && !is_normal(msg.reason))
            self->quit(msg.reason);
        });
      self->on_terminate([ctl, id](const caf::error&) { ctl->log.push_back("stop:" + id); });
      return caf::behavior{
        [id](ping_atom) { return id; },
        [self](quit_atom, caf::error& reason) { self->quit(std::move(reason)); },
        [id](crash_atom) -> std::string { throw std::runtime_error("boom in " + id); },
      };
    },
    std::move(ctl), std::move(id));
}

/// A child that never reports ready (its start can only time out).
inline start_function never_ready() {
  return [](caf::local_actor* spawner, start_info) {
    return spawner->spawn([](caf::event_based_actor*) -> caf::behavior {
      return {[](ping_atom) {}};
    });
  };
}

/// A test child spec with a controlled worker.
inline child_spec spec(std::shared_ptr<control> ctl, std::string id,
                       restart_type restart = restart_type::permanent) {
  child_spec s;
  s.id = id;
  s.start = worker(std::move(ctl), id);
  s.restart = restart;
  return s;
}

struct test_config : caf::actor_system_config {
  test_config() {
    set("scheduler.policy", caf::atom("testing"));
    set("logger.verbosity", caf::atom("quiet"));
    warden::configure(*this);
  }
};

/// Base fixture: deterministic scheduler, recording sink, helpers.
class deterministic : public ::testing::Test {
protected:
  deterministic()
    : sys(cfg),
      sched(dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())),
      events(std::make_shared<recording_sink>()),
      ctl(std::make_shared<control>()) {
    sys.await_actors_before_shutdown(false);
  }

  ~deterministic() override {
    for (auto& a : started_)
      caf::anon_send_exit(a, caf::exit_reason::kill);
    run();
  }

  /// Runs all messages, no time passes.
  void run() { sched.run(); }

  /// Lets `d` pass on the injected clock, firing due timers, then runs.
  void advance(caf::timespan d) {
    sched.advance_time(d);
    run();
  }

  supervisor_flags flags(strategy s = strategy::one_for_one, int intensity = 1,
                         caf::timespan period = std::chrono::seconds{5}) {
    supervisor_flags f;
    f.strategy = s;
    f.intensity = intensity;
    f.period = period;
    f.events = events;
    f.seed = 42;
    return f;
  }

  /// Starts a root supervisor; the answer is the supervisor or its start error.
  caf::expected<caf::actor> start(supervisor_flags f, std::vector<child_spec> children) {
    auto pending = start_pending(std::move(f), std::move(children));
    if (!*pending.ack)
      return caf::make_error(caf::sec::request_timeout, std::string{"no init ack"});
    if (**pending.ack)
      return **pending.ack;
    return pending.sup;
  }

  /// Starts and asserts success.
  caf::actor start_ok(supervisor_flags f, std::vector<child_spec> children) {
    auto res = start(std::move(f), std::move(children));
    EXPECT_TRUE(res) << describe(res.error());
    return res ? *res : caf::actor{};
  }

  /// Records the exit reason of `a` (see `exit_reason_of`).
  void watch(const caf::actor& a) {
    auto reasons = reasons_;
    auto id = a.id();
    auto w = sys.spawn([a, id, reasons](caf::event_based_actor* self) -> caf::behavior {
      self->monitor(a);
      self->set_down_handler([id, reasons](caf::down_msg& msg) { (*reasons)[id] = msg.reason; });
      return {[](ping_atom) {}};
    });
    started_.push_back(w);
  }

  bool alive(const caf::actor& a) const { return reasons_->count(a.id()) == 0; }

  std::optional<caf::error> exit_reason_of(const caf::actor& a) const {
    auto i = reasons_->find(a.id());
    if (i == reasons_->end())
      return std::nullopt;
    return i->second;
  }

  /// One request, run to completion; the answer or the error.
  template <class T, class... Ts>
  caf::expected<T> call(const caf::actor& dest, Ts... xs) {
    auto out = std::make_shared<std::optional<caf::expected<T>>>();
    auto a = sys.spawn([=](caf::event_based_actor* self) {
      self->request(dest, caf::infinite, xs...)
        .then([out](T& x) { *out = std::move(x); },
              [out](caf::error& err) { *out = std::move(err); });
    });
    run();
    if (!*out)
      return caf::make_error(caf::sec::request_timeout, std::string{"no answer"});
    return **out;
  }

  /// Calls that answer ok or an error.
  template <class... Ts>
  caf::error call_ok(const caf::actor& dest, Ts... xs) {
    auto res = call<ok_atom>(dest, xs...);
    return res ? caf::error{} : res.error();
  }

  /// Where the answer of a `request` appears (empty until it arrives).
  template <class T>
  using answer = std::shared_ptr<std::optional<caf::expected<T>>>;

  /// Puts one request into `dest`'s mailbox right now, behind what is already there and
  /// ahead of anything sent later, and returns where its answer will appear. Runs nothing
  /// else: use it to place a call between two steps of a supervisor (see `run_until`) or
  /// for an answer that needs `advance()`.
  template <class T, class... Ts>
  answer<T> request(const caf::actor& dest, Ts... xs) {
    auto out = std::make_shared<std::optional<caf::expected<T>>>();
    auto a = sys.spawn([=](caf::event_based_actor* self) {
      self->request(dest, caf::infinite, xs...)
        .then([out](T& x) { *out = std::move(x); },
              [out](caf::error& err) { *out = std::move(err); });
    });
    sched.prioritize(a);
    sched.run_once();
    return out;
  }

  /// Runs one job at a time until `pred` holds (true) or nothing is left to run (false).
  bool run_until(const std::function<bool()>& pred) {
    while (!pred())
      if (!sched.try_run_once())
        return false;
    return true;
  }

  /// A root supervisor spawned by `start_pending`; `ack` holds its init answer once sent.
  struct pending_start {
    caf::actor sup;
    std::shared_ptr<std::optional<caf::error>> ack;
  };

  /// Spawns a root supervisor and runs until it is idle, without requiring its start to
  /// have completed (e.g. a child that never reports ready: `advance()` then look at
  /// `ack`). The supervisor is watched (`exit_reason_of`) and killed at the end.
  pending_start start_pending(supervisor_flags f, std::vector<child_spec> children) {
    auto ack = std::make_shared<std::optional<caf::error>>();
    auto collector = sys.spawn([ack](caf::event_based_actor*) -> caf::behavior {
      return {[ack](init_ack_atom, uint64_t, bool, caf::error& err) { *ack = err; }};
    });
    started_.push_back(collector);
    start_info info;
    info.supervisor = collector;
    info.token = 1;
    auto sup = spawn_supervisor(sys, std::move(f), std::move(children), info);
    watch(sup);
    started_.push_back(sup);
    run();
    return {sup, ack};
  }

  /// "name:child" of the recorded events whose kind is in `kinds`, in order.
  std::vector<std::string> trace(std::initializer_list<event_kind> kinds) const {
    std::vector<std::string> out;
    for (auto& ev : events->events())
      if (std::find(kinds.begin(), kinds.end(), ev.kind) != kinds.end())
        out.push_back(std::string{to_string(ev.kind)} + ":" + ev.child);
    return out;
  }

  std::vector<child_info> children(const caf::actor& sup) {
    auto res = call<std::vector<child_info>>(sup, which_children_atom::value);
    EXPECT_TRUE(res);
    return res ? *res : std::vector<child_info>{};
  }

  /// The running instance of child `id`.
  caf::actor child_of(const caf::actor& sup, const std::string& id) {
    for (auto& c : children(sup))
      if (c.id == id)
        return c.actor;
    return {};
  }

  child_counts counts(const caf::actor& sup) {
    auto res = call<child_counts>(sup, count_children_atom::value);
    EXPECT_TRUE(res);
    return res ? *res : child_counts{};
  }

  /// Makes child `id` of `sup` exit with `reason` (as a crash would).
  void kill_child(const caf::actor& sup, const std::string& id, caf::error reason) {
    auto c = child_of(sup, id);
    ASSERT_TRUE(c) << "child " << id << " not running";
    send_exit_signal(c, std::move(reason));
    run();
  }

  /// Makes child `id` quit by itself with `reason` (normal, shutdown, anything).
  void exit_child(const caf::actor& sup, const std::string& id, caf::error reason) {
    auto c = child_of(sup, id);
    ASSERT_TRUE(c) << "child " << id << " not running";
    caf::anon_send(c, quit_atom::value, std::move(reason));
    run();
  }

  void crash(const caf::actor& sup, const std::string& id) {
    kill_child(sup, id, caf::make_error(caf::sec::runtime_error, std::string{"crash " + id}));
  }

  test_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;
  std::shared_ptr<recording_sink> events;
  std::shared_ptr<control> ctl;

private:
  std::vector<caf::actor> started_;
  std::shared_ptr<std::map<caf::actor_id, caf::error>> reasons_
    = std::make_shared<std::map<caf::actor_id, caf::error>>();
};

/// Reasons used in tests.
inline caf::error abnormal() {
  return caf::make_error(caf::sec::runtime_error, std::string{"abnormal"});
}
inline caf::error normal() {
  return caf::exit_reason::normal;
}
inline caf::error shutdown() {
  return caf::exit_reason::user_shutdown;
}

} // namespace warden::test
