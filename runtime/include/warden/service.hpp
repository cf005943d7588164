/// @file
/// Services: a service is a CAF actor that a supervisor starts, watches and stops.
///
/// Write one as a function or as a class. Its *init* runs first, inside the new actor, and
/// answers one of three things (OTP's `init/1`):
/// - a `caf::behavior`: the service is ready; the supervisor goes on;
/// - a `caf::error`: the start failed with that reason;
/// - `warden::ignore`: nothing to run; the supervisor keeps (or drops) the spec.
/// An uncaught exception in init or in a handler is a crash whose reason is
/// `sec::runtime_error` with the exception's text.
///
/// On an orderly shutdown (any exit signal but `kill`) the service's terminate hook runs
/// with the reason, then the actor exits; the supervisor kills it if that takes longer
/// than the child's shutdown time. A service also exits when its supervisor dies.
///
/// ```cpp
/// // A function service:
/// warden::init_result echo(warden::service_actor* self) {
///   self->on_terminate([](const caf::error&) { /* flush, close, ... */ });
///   return caf::behavior{[](const std::string& s) { return s; }};
/// }
///
/// // A stateful function service: state lives in `self->state`.
/// struct counter_state { int value = 0; };
/// warden::init_result counter(warden::stateful_service<counter_state>* self, int start) {
///   self->state.value = start;
///   return caf::behavior{[self](caf::add_atom) { return ++self->state.value; }};
/// }
///
/// // A class service:
/// class store : public warden::service_actor {
/// public:
///   using service_actor::service_actor;
///   warden::init_result init() override { return caf::behavior{...}; }
///   void terminate(const caf::error& reason) override { ... }
/// };
///
/// child_spec{.id = "echo", .start = warden::service(echo)};
/// child_spec{.id = "c", .start = warden::service(counter, 10)};   // bound arguments
/// child_spec{.id = "s", .start = warden::service_class<store>()};
/// ```
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

#include <caf/actor.hpp>
#include <caf/behavior.hpp>
#include <caf/error.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/message.hpp>
#include <caf/stateful_actor.hpp>

#include "warden/errors.hpp"
#include "warden/lifecycle_event.hpp"

namespace warden {

/// What a supervisor hands to a child it starts.
struct start_info {
  /// Receives the init ack: `(init_ack_atom, token, ignored, reason)`.
  caf::actor supervisor;
  /// Identifies this start attempt.
  uint64_t token = 0;
  /// Arguments from `start_child(args)` on a dynamic supervisor (else empty).
  caf::message args;
  /// Report path of the supervisor, e.g. "root/db_sup" (child supervisors extend it).
  std::string parent_path;
  /// The supervisor's lifecycle event sink (child supervisors inherit it).
  std::shared_ptr<event_sink> events;
  /// A cluster service's fencing epoch: the same for every restart of one placement, higher
  /// for every later placement (cluster_service_manager.hpp). 0 outside cluster services.
  uint64_t fencing_epoch = 0;
  /// A cluster service's instance name ("ledger", "echo#2"); empty outside cluster services.
  std::string cluster_instance;
  /// Tells the cluster-service manager that a resource refused `fencing_epoch` (empty
  /// outside cluster services); see `service_actor::report_stale`.
  std::function<void()> report_stale;
};

/// Starts one child: spawns an actor (from `spawner`) that sends exactly one init ack to
/// `info.supervisor`, then returns its handle. `warden::service(...)` makes these.
using start_function = std::function<caf::actor(caf::local_actor* spawner, start_info info)>;

/// Marker for "nothing to run" (OTP's `ignore`).
struct ignore_t {};
inline constexpr ignore_t ignore{};

/// The answer of a service's init: ready with a behavior, failed, or ignore.
class init_result {
public:
  init_result(caf::behavior bhvr) : value_(std::move(bhvr)) {}
  init_result(caf::error reason) : value_(std::move(reason)) {}
  init_result(ignore_t) : value_(ignore_t{}) {}

  bool ready() const { return std::holds_alternative<caf::behavior>(value_); }
  bool failed() const { return std::holds_alternative<caf::error>(value_); }
  bool ignored() const { return std::holds_alternative<ignore_t>(value_); }
  caf::behavior& behavior() { return std::get<caf::behavior>(value_); }
  caf::error& reason() { return std::get<caf::error>(value_); }

private:
  std::variant<caf::behavior, caf::error, ignore_t> value_;
};

/// The base of every service actor. Runs init, reports readiness to the supervisor,
/// turns exceptions into crash reasons and runs the terminate hook on shutdown.
class service_actor : public caf::event_based_actor {
public:
  service_actor(caf::actor_config& cfg, start_info info);

  /// The service's init. Class services override it; function services call their
  /// function here.
  virtual init_result init() = 0;

  /// Runs on an orderly shutdown, before the actor exits with `reason`. The default
  /// calls the hook set with `on_terminate` (if any).
  virtual void terminate(const caf::error& reason);

  /// Sets the terminate hook of a function service.
  void on_terminate(std::function<void(const caf::error&)> hook) {
    terminate_hook_ = std::move(hook);
  }

  /// Arguments given to `start_child(args)` on a dynamic supervisor.
  const caf::message& start_args() const { return info_.args; }

  /// The supervisor that started this service.
  const caf::actor& supervisor() const { return info_.supervisor; }

  /// The supervisor's lifecycle event sink (may be empty) and report path: where a
  /// service's own helpers (a circuit breaker, a regulator) report their events.
  const std::shared_ptr<event_sink>& events() const { return info_.events; }
  const std::string& parent_path() const { return info_.parent_path; }

  /// This placement's fencing epoch when the service runs as a cluster service, else 0.
  /// Hand it to the resources the service writes, so they can refuse a stale copy's writes
  /// (a copy cut off or paused may run a moment after its successor started elsewhere).
  uint64_t fencing_epoch() const { return info_.fencing_epoch; }

  /// The instance name when the service runs as a cluster service ("ledger", "echo#2"),
  /// else empty.
  const std::string& cluster_instance() const { return info_.cluster_instance; }

  /// A resource refused this copy's fencing epoch: a newer copy wrote there, so this one is
  /// stale. The manager stops it (`cluster_service_stopped`, reason "fenced at a resource")
  /// and, if the placement still puts the instance here, starts a fresh copy with a higher
  /// epoch at its next check. Without it a fenced copy would go on refusing every request.
  /// No-op outside cluster services.
  void report_stale() const {
    if (info_.report_stale)
      info_.report_stale();
  }

  const char* name() const override { return "warden.service"; }

protected:
  caf::behavior make_behavior() final;

private:
  void report(bool ignored, const caf::error& reason);

  start_info info_;
  std::function<void(const caf::error&)> terminate_hook_;
};

/// A service whose state lives in `self->state` (CAF's stateful actor over
/// `service_actor`).
template <class State>
using stateful_service = caf::stateful_actor<State, service_actor>;

namespace detail {

template <class F>
struct fn_traits : fn_traits<decltype(&F::operator())> {};
template <class R, class... Ts>
struct fn_traits<R (*)(Ts...)> {
  using args = std::tuple<Ts...>;
};
template <class R, class... Ts>
struct fn_traits<R (&)(Ts...)> : fn_traits<R (*)(Ts...)> {};
template <class R, class... Ts>
struct fn_traits<R(Ts...)> : fn_traits<R (*)(Ts...)> {};
template <class C, class R, class... Ts>
struct fn_traits<R (C::*)(Ts...) const> : fn_traits<R (*)(Ts...)> {};
template <class C, class R, class... Ts>
struct fn_traits<R (C::*)(Ts...)> : fn_traits<R (*)(Ts...)> {};

/// Calls `f(self, bound..., dynamic args...)`: the dynamic args come from the
/// `start_child(args)` message and must match the remaining parameters.
template <class Self, class F, class Bound, class... Rest>
init_result invoke_init(Self* self, F& f, Bound& bound, std::tuple<Rest...>*) {
  const auto& args = self->start_args();
  if constexpr (sizeof...(Rest) == 0) {
    return std::apply([&](auto&... xs) { return f(self, xs...); }, bound);
  } else {
    if (!args.template match_elements<std::decay_t<Rest>...>())
      return make_error(errc::bad_start_args, caf::to_string(args));
    return [&]<size_t... Is>(std::index_sequence<Is...>) {
      return std::apply(
        [&](auto&... xs) {
          return f(self, xs..., args.template get_as<std::decay_t<Rest>>(Is)...);
        },
        bound);
    }(std::index_sequence_for<Rest...>{});
  }
}

template <class Tuple, size_t N, class = std::make_index_sequence<std::tuple_size_v<Tuple> - N>>
struct drop_front;
template <class Tuple, size_t N, size_t... Is>
struct drop_front<Tuple, N, std::index_sequence<Is...>> {
  using type = std::tuple<std::tuple_element_t<N + Is, Tuple>...>;
};

/// A service actor running a user function as its init.
template <class Base, class F, class... Bound>
class function_service final : public Base {
public:
  function_service(caf::actor_config& cfg, start_info info, F f, std::tuple<Bound...> bound)
    : Base(cfg, std::move(info)), f_(std::move(f)), bound_(std::move(bound)) {}

  init_result init() override {
    using all = typename fn_traits<F>::args;
    using rest = typename drop_front<all, 1 + sizeof...(Bound)>::type;
    return invoke_init(static_cast<typename std::tuple_element_t<0, all>>(this), f_, bound_,
                       static_cast<rest*>(nullptr));
  }

private:
  F f_;
  std::tuple<Bound...> bound_;
};

} // namespace detail

/// The start function of a function service. `f(self, bound..., dynamic...)` where
/// `self` is `service_actor*` or `stateful_service<S>*`, `bound` are the values given
/// here and `dynamic` the arguments of a dynamic supervisor's `start_child(args)`.
template <class F, class... Bound>
start_function service(F f, Bound... bound) {
  using self_ptr = std::tuple_element_t<0, typename detail::fn_traits<F>::args>;
  using base = std::remove_pointer_t<self_ptr>;
  static_assert(std::is_base_of_v<service_actor, base>,
                "the first parameter of a service function must be service_actor* or "
                "stateful_service<State>*");
  return [f = std::move(f), bound = std::make_tuple(std::move(bound)...)](
           caf::local_actor* spawner, start_info info) {
    return spawner->spawn<detail::function_service<base, F, Bound...>>(std::move(info), f,
                                                                       bound);
  };
}

/// The start function of a class service `T` (derived from `service_actor`, constructed
/// as `T(cfg, info, args...)`).
template <class T, class... Args>
start_function service_class(Args... args) {
  static_assert(std::is_base_of_v<service_actor, T>);
  return [=](caf::local_actor* spawner, start_info info) {
    return spawner->spawn<T>(std::move(info), args...);
  };
}

} // namespace warden
