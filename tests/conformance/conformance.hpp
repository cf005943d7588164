// Shared fixture of the conformance suite (the supervisor_SUITE port): the deterministic
// fixture plus spec builders and readers that keep each test close to its OTP original.
#pragma once

#include <string>
#include <vector>

#include "support/deterministic.hpp"

namespace warden::test {

/// Expected traces and child lists.
using strings = std::vector<std::string>;

/// An abnormal exit reason used across the suite.
inline caf::error died() {
  return caf::make_error(caf::sec::runtime_error, std::string{"died"});
}

/// The event kinds that describe starts, stops and decisions, in the order they happen.
inline constexpr std::initializer_list<event_kind> order_kinds = {
  event_kind::child_started,    event_kind::child_terminated,
  event_kind::child_restarted,  event_kind::start_error,
  event_kind::child_shutdown,   event_kind::shutdown_error,
  event_kind::reached_max_restart_intensity,
  event_kind::auto_shutdown,
};

/// `s` with another shutdown policy.
inline child_spec with_shutdown(child_spec s, shutdown_policy p) {
  s.shutdown = p;
  return s;
}

/// `s` marked significant.
inline child_spec significant(child_spec s) {
  s.significant = true;
  return s;
}

/// A child that never reports ready, with a start timeout (unset: the default).
inline child_spec hanging(std::string id, std::optional<caf::timespan> timeout = std::nullopt,
                          child_type type = child_type::worker) {
  child_spec s;
  s.id = std::move(id);
  s.start = never_ready();
  s.start_timeout = timeout;
  s.type = type;
  return s;
}

/// A dynamic worker: `start_child(make_message(n))` starts an instance that answers ping
/// with `n`. Its init reads `ctl->next["dyn"]`; it logs "start:<n>" and "stop:<n>".
inline child_spec dyn_spec(std::shared_ptr<control> ctl,
                           restart_type restart = restart_type::permanent) {
  child_spec s;
  s.id = "dyn";
  s.restart = restart;
  s.start = service(
    [](service_actor* self, std::shared_ptr<control> ctl, int n) -> init_result {
      auto mode = ctl->take("dyn");
      ctl->starts["dyn"]++;
      switch (mode) {
        case init_mode::fail: return caf::make_error(caf::sec::runtime_error, std::string{"init failed: dyn"});
        case init_mode::ignore: return warden::ignore;
        case init_mode::crash: throw std::runtime_error("init crashed: dyn");
        case init_mode::ok: break;
      }
      auto name = std::to_string(n);
      ctl->log.push_back("start:" + name);
      if (ctl->ignore_shutdown["dyn"])
        self->set_exit_handler([self](caf::exit_msg& msg) {
          if (!is_shutdown(msg.reason) && !is_normal(msg.reason))
            self->quit(msg.reason);
        });
      self->on_terminate([ctl, name](const caf::error&) { ctl->log.push_back("stop:" + name); });
      return caf::behavior{
        [n](ping_atom) { return n; },
        [self](quit_atom, caf::error& reason) { self->quit(std::move(reason)); },
      };
    },
    std::move(ctl));
  return s;
}

/// The conformance fixture.
class conformance : public deterministic {
protected:
  /// "kind:child" of the start/stop/decision events so far.
  std::vector<std::string> order() const { return trace(order_kinds); }

  /// Forgets the events and the control log so far (to assert on what follows).
  void reset_trace() {
    events->clear();
    ctl->log.clear();
  }

  /// Ids of the running children of `sup`, in start order.
  std::vector<std::string> running(const caf::actor& sup) {
    std::vector<std::string> out;
    auto kids = children(sup);
    for (auto i = kids.rbegin(); i != kids.rend(); ++i)
      if (i->state == child_state::running)
        out.push_back(i->id);
    return out;
  }

  /// Ids of all children of `sup` as which_children lists them (newest first).
  std::vector<std::string> ids(const caf::actor& sup) {
    std::vector<std::string> out;
    for (auto& c : children(sup))
      out.push_back(c.id);
    return out;
  }

  /// The which_children row of `id` (state undefined and id "" if absent).
  child_info row(const caf::actor& sup, const std::string& id) {
    for (auto& c : children(sup))
      if (c.id == id)
        return c;
    return {};
  }

  supervisor_status status(const caf::actor& sup) {
    auto res = call<supervisor_status>(sup, child_status_atom::value);
    EXPECT_TRUE(res);
    return res ? *res : supervisor_status{};
  }

  /// Stops `sup` as its parent would (exit signal shutdown) and runs.
  void stop(const caf::actor& sup) {
    caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
    run();
  }

  /// The exit reason of `a`, described ("alive" while it runs).
  std::string exit_of(const caf::actor& a) const {
    auto r = exit_reason_of(a);
    return r ? describe(*r) : std::string{"alive"};
  }

  /// Starts a dynamic child with argument `n`.
  caf::expected<caf::actor> start_dyn(const caf::actor& sup, int n) {
    return call<caf::actor>(sup, start_child_atom::value, caf::make_message(n));
  }
};

/// The error of `x` (none when it holds a value).
template <class T>
caf::error err_of(const caf::expected<T>& x) {
  return x ? caf::error{} : x.error();
}
inline caf::error err_of(const caf::error& x) {
  return x;
}

} // namespace warden::test

/// Expects that `x` (a caf::error or a caf::expected) holds Warden's error `code`.
#define EXPECT_ERRC(x, code)                                                                \
  do {                                                                                      \
    caf::error warden_err_ = ::warden::test::err_of(x);                                     \
    EXPECT_TRUE(::warden::is(warden_err_, ::warden::errc::code))                            \
      << "expected " #code ", got " << ::warden::describe(warden_err_);                     \
  } while (false)
