// The supervisor actor: serial execution, start and stop steps, its own start and
// shutdown, and the runtime API. Restart decisions live in restart.cpp.
#include "internal/supervisor_actor.hpp"

#include <algorithm>

#include <caf/actor_cast.hpp>

#include "internal/validation.hpp"
#include "warden/atoms.hpp"
#include "warden/exit_reasons.hpp"
#include "warden/service_registry.hpp"

namespace warden::internal {

namespace {

// An exit before the init ack is a start failure, even a normal one. A normal exit is an
// empty caf::error (exit_reason::normal is code 0), so it needs a name of its own.
caf::error as_start_failure(caf::error reason) {
  return reason ? reason : make_error(errc::exited_before_ready);
}

} // namespace

supervisor_actor::supervisor_actor(caf::actor_config& cfg, supervisor_flags flags,
                                   std::vector<child_spec> specs, start_info info,
                                   std::string path)
  : caf::event_based_actor(cfg),
    flags_(std::move(flags)),
    initial_specs_(std::move(specs)),
    info_(std::move(info)),
    path_(std::move(path)),
    intensity_(flags_.intensity, flags_.period),
    rng_(flags_.seed != 0 ? flags_.seed : std::random_device{}()) {
  if (!flags_.events)
    flags_.events = info_.events;
}

// --- serial execution --------------------------------------------------------------------

void supervisor_actor::run_or_defer(std::function<void()> fn, caf::response_promise rp) {
  if (busy_ || !pending_.empty()) {
    pending_.push_back(pending_call{std::move(fn), std::move(rp)});
    return;
  }
  fn();
}

void supervisor_actor::done() {
  busy_ = false;
  while (!busy_ && !pending_.empty() && !stopped_) {
    auto next = std::move(pending_.front());
    pending_.pop_front();
    next.fn();
  }
}

// --- steps -------------------------------------------------------------------------------

void supervisor_actor::start_one(child& c, std::function<void(caf::error, bool)> cont) {
  clear_timeout(c);
  c.token = next_token_++;
  c.state = child::phase::starting;
  c.exit_reason = caf::error{};
  c.killed_after_timeout = false;
  c.on_done = std::move(cont);
  start_info info;
  info.supervisor = caf::actor_cast<caf::actor>(this);
  info.token = c.token;
  info.args = c.args;
  info.parent_path = path_;
  info.events = flags_.events;
  caf::actor instance;
  try {
    instance = c.spec->start(this, std::move(info));
  } catch (...) {
    finish_start(c, exception_reason(std::current_exception()), false);
    return;
  }
  if (!instance) {
    finish_start(c, make_error(errc::missing_start, c.id()), false);
    return;
  }
  c.actor = instance;
  by_actor_.emplace(instance.address(), c.key);
  monitor(instance);
  if (auto timeout = c.spec->effective_start_timeout())
    arm_timeout(c, *timeout, timeout_kind::start);
}

void supervisor_actor::finish_start(child& c, caf::error reason, bool ignored) {
  clear_timeout(c);
  auto cont = std::move(c.on_done);
  c.on_done = nullptr;
  if (!reason && !ignored && !c.spec->name.empty()) {
    if (auto err = names::bind(home_system(), c.spec->name, c.actor)) {
      send_exit(c.actor, caf::exit_reason::kill);
      reason = std::move(err);
    }
  }
  if (!reason && !ignored) {
    c.state = child::phase::running;
    emit(event_kind::child_started, c);
  } else {
    if (c.actor) {
      demonitor(c.actor);
      by_actor_.erase(c.actor.address());
      c.actor = nullptr;
    }
    c.state = child::phase::stopped;
    if (ignored)
      emit(event_kind::child_ignored, c);
    else
      emit(event_kind::start_error, c, reason);
  }
  cont(std::move(reason), ignored);
}

void supervisor_actor::on_init_ack(uint64_t token, bool ignored, caf::error reason) {
  auto* c = find(caf::actor_cast<caf::actor_addr>(current_sender()));
  if (c == nullptr || c->state != child::phase::starting || c->token != token)
    return;
  finish_start(*c, reason ? std::move(reason) : caf::error{}, ignored);
}

void supervisor_actor::on_start_timeout(uint64_t key, uint64_t token) {
  auto* c = find(key);
  if (c == nullptr || c->state != child::phase::starting || c->token != token)
    return;
  send_exit(c->actor, caf::exit_reason::kill);
  finish_start(*c, make_error(errc::start_timeout, c->id()), false);
}

void supervisor_actor::stop_one(child& c, std::function<void()> cont) {
  if (!c.actor) {
    // Already dead (its exit may still wait in pending_; the new token voids it).
    auto reason = std::move(c.exit_reason);
    if (c.state == child::phase::exited)
      report_stop(c, reason);
    set_stopped(c);
    cont();
    return;
  }
  clear_timeout(c);
  c.state = child::phase::stopping;
  c.token = next_token_++;
  c.on_done = [cont = std::move(cont)](caf::error, bool) { cont(); };
  auto policy = c.spec->effective_shutdown();
  switch (policy.how) {
    case shutdown_policy::kind::brutal_kill:
      send_exit(c.actor, caf::exit_reason::kill);
      break;
    case shutdown_policy::kind::timeout:
      send_exit(c.actor, caf::exit_reason::user_shutdown);
      arm_timeout(c, policy.time, timeout_kind::stop);
      break;
    case shutdown_policy::kind::infinity:
      send_exit(c.actor, caf::exit_reason::user_shutdown);
      break;
  }
}

void supervisor_actor::report_stop(child& c, const caf::error& reason) {
  // OTP's shutdown/1: brutal_kill expects killed, the others plain shutdown; a child that
  // is not permanent may also end with normal, shutdown or {shutdown, Term}. Anything else
  // (and a kill after the shutdown timeout) is a shutdown error.
  bool brutal = c.spec->effective_shutdown().how == shutdown_policy::kind::brutal_kill;
  bool as_asked = brutal ? is_killed(reason)
                         : is_shutdown(reason) && reason.context().empty()
                             && !c.killed_after_timeout;
  if (c.spec->restart != restart_type::permanent && is_shutdown(reason))
    as_asked = true;
  if (as_asked)
    emit(event_kind::child_shutdown, c, reason);
  else if (!(is_normal(reason) && c.spec->restart != restart_type::permanent))
    emit(event_kind::shutdown_error, c, reason);  // OTP: normal is fine unless permanent
}

void supervisor_actor::finish_stop(child& c, const caf::error& reason) {
  report_stop(c, reason);
  auto cont = std::move(c.on_done);
  c.on_done = nullptr;
  set_stopped(c);
  if (cont)
    cont(caf::error{}, false);
}

void supervisor_actor::on_stop_timeout(uint64_t key, uint64_t token) {
  if (key == 0) {  // the shared timer of a dynamic supervisor's shutdown
    for (auto& c : children_)
      if (c.state == child::phase::stopping && c.token == token) {
        c.killed_after_timeout = true;
        send_exit(c.actor, caf::exit_reason::kill);
      }
    return;
  }
  auto* c = find(key);
  if (c == nullptr || c->state != child::phase::stopping || c->token != token)
    return;
  c->killed_after_timeout = true;
  send_exit(c->actor, caf::exit_reason::kill);
}

// --- timeouts ------------------------------------------------------------------------------

void supervisor_actor::arm_timeout(child& c, caf::timespan after, timeout_kind kind) {
  clear_timeout(c);
  c.deadline = now() + after;
  deadlines_.emplace(deadline_key{c.deadline, c.token}, std::make_pair(kind, c.key));
  rearm_timer();
}

void supervisor_actor::clear_timeout(child& c) {
  if (c.deadline == caf::actor_clock::time_point{})
    return;
  deadlines_.erase(deadline_key{c.deadline, c.token});
  c.deadline = {};
}

void supervisor_actor::rearm_timer() {
  if (deadlines_.empty())
    return;
  auto when = deadlines_.begin()->first.first;
  if (armed_ && armed_for_ <= when)
    return;  // the armed timer fires first and re-arms
  armed_ = true;
  armed_for_ = when;
  auto t = now();
  delayed_send(this, when > t ? when - t : caf::timespan{0}, timer_atom::value,
               ++timer_generation_);
}

void supervisor_actor::on_timer(uint64_t generation) {
  if (generation != timer_generation_)
    return;  // superseded by a timer for an earlier deadline
  armed_ = false;
  auto t = now();
  while (!deadlines_.empty() && deadlines_.begin()->first.first <= t) {
    auto node = deadlines_.extract(deadlines_.begin());
    auto token = node.key().second;
    auto [kind, key] = node.mapped();
    if (auto* c = find(key); c != nullptr && c->token == token)
      c->deadline = {};
    if (kind == timeout_kind::start)
      on_start_timeout(key, token);
    else
      on_stop_timeout(key, token);
  }
  rearm_timer();
}

void supervisor_actor::on_down(caf::down_msg& msg) {
  auto i = by_actor_.find(msg.source);
  if (i == by_actor_.end())
    return;  // not (or no longer) one of our children
  auto key = i->second;
  by_actor_.erase(i);
  auto* c = find(key);
  if (c == nullptr)
    return;
  c->actor = nullptr;
  c->last_actor = msg.source;
  switch (c->state) {
    case child::phase::starting:
      finish_start(*c, as_start_failure(std::move(msg.reason)), false);
      break;
    case child::phase::stopping:
      finish_stop(*c, msg.reason);
      break;
    case child::phase::running: {
      c->state = child::phase::exited;
      c->exit_reason = std::move(msg.reason);
      auto token = c->token;
      run_or_defer([this, key, token] { handle_exit(key, token); });
      break;
    }
    default:
      break;
  }
}

void supervisor_actor::stop_in_reverse(std::vector<uint64_t> keys, std::function<void()> cont) {
  while (!keys.empty()) {
    auto key = keys.back();
    keys.pop_back();
    auto* c = find(key);
    if (c == nullptr || c->state == child::phase::stopped)
      continue;
    if (c->state == child::phase::restarting) {
      set_stopped(*c);
      continue;
    }
    stop_one(*c, [this, keys = std::move(keys), cont = std::move(cont)]() mutable {
      stop_in_reverse(std::move(keys), std::move(cont));
    });
    return;
  }
  cont();
}

void supervisor_actor::start_in_order(std::vector<uint64_t> keys, size_t pos,
                                      std::function<void(caf::error, uint64_t)> cont) {
  for (; pos < keys.size(); ++pos) {
    auto* c = find(keys[pos]);
    if (c == nullptr || c->state == child::phase::running)
      continue;
    auto key = keys[pos];
    start_one(*c, [this, key, keys = std::move(keys), pos,
                   cont = std::move(cont)](caf::error err, bool ignored) mutable {
      if (err) {
        cont(std::move(err), key);
        return;
      }
      if (auto* c = find(key); ignored && c != nullptr && c->temporary())
        remove_child(key);
      start_in_order(std::move(keys), pos + 1, std::move(cont));
    });
    return;
  }
  cont(caf::error{}, 0);
}

// --- lifecycle ---------------------------------------------------------------------------

caf::behavior supervisor_actor::make_behavior() {
  set_exception_handler([](caf::scheduled_actor*, std::exception_ptr& ptr) {
    return exception_reason(ptr);
  });
  set_down_handler([this](caf::down_msg& msg) { on_down(msg); });
  set_exit_handler([this](caf::exit_msg& msg) {
    if (!is_normal(msg.reason))
      shutdown(std::move(msg.reason));
  });
  auto err = validate_flags(flags_);
  if (!err)
    err = validate_children(initial_specs_, flags_);
  if (err) {
    reply_init(false, err);
    quit(shutdown_with(err));
    return {};
  }
  if (dynamic()) {
    template_ = std::make_shared<const child_spec>(std::move(initial_specs_.front()));
  } else {
    for (auto& spec : initial_specs_)
      add_child(std::make_shared<const child_spec>(std::move(spec)), caf::message{});
  }
  initial_specs_.clear();
  start_initial_children();
  return {
    [this](init_ack_atom, uint64_t token, bool ignored, caf::error& reason) {
      on_init_ack(token, ignored, std::move(reason));
    },
    [this](start_timeout_atom, uint64_t key, uint64_t token) { on_start_timeout(key, token); },
    [this](stop_timeout_atom, uint64_t key, uint64_t token) { on_stop_timeout(key, token); },
    [this](timer_atom, uint64_t generation) { on_timer(generation); },
    [this](retry_atom, uint64_t key, uint64_t token) {
      run_or_defer([this, key, token] { on_retry(key, token); });
    },
    [this](delayed_atom, uint64_t key, uint64_t token) {
      run_or_defer([this, key, token] {
        if (auto* c = find(key); c && c->state == child::phase::restarting && c->token == token)
          execute_restart(key);
      });
    },
    [this](start_child_atom, child_spec& spec) {
      auto rp = make_response_promise();
      run_or_defer([this, spec = std::move(spec), rp]() mutable {
        api_start_child(std::move(spec), rp); }, rp);
    },
    [this](start_child_atom, caf::message& args) {
      auto rp = make_response_promise();
      run_or_defer([this, args = std::move(args), rp]() mutable {
        api_start_dynamic(std::move(args), rp); }, rp);
    },
    [this](terminate_child_atom, std::string& id) {
      auto rp = make_response_promise();
      run_or_defer([this, id = std::move(id), rp]() mutable {
        if (dynamic())  // OTP: {error, simple_one_for_one}
          rp.deliver(make_error(errc::not_supported,
                                std::string{"terminate_child(id) on a dynamic supervisor"}));
        else
          api_terminate_child(find(id), rp);
      }, rp);
    },
    [this](terminate_child_atom, caf::actor& hdl) {
      auto rp = make_response_promise();
      run_or_defer([this, hdl = std::move(hdl), rp]() mutable {
        api_terminate_dynamic(hdl, rp); }, rp);
    },
    [this](restart_child_atom, std::string& id) {
      auto rp = make_response_promise();
      run_or_defer([this, id = std::move(id), rp]() mutable {
        api_restart_child(id, rp); }, rp);
    },
    [this](delete_child_atom, std::string& id) {
      auto rp = make_response_promise();
      run_or_defer([this, id = std::move(id), rp]() mutable {
        api_delete_child(id, rp); }, rp);
    },
    [this](which_children_atom) {
      auto rp = make_response_promise();
      run_or_defer([this, rp]() mutable { rp.deliver(which_children()); }, rp);
    },
    [this](count_children_atom) {
      auto rp = make_response_promise();
      run_or_defer([this, rp]() mutable { rp.deliver(count_children()); }, rp);
    },
    [this](get_childspec_atom, std::string& id) {
      auto rp = make_response_promise();
      run_or_defer([this, id = std::move(id), rp]() mutable {
        auto* c = dynamic() ? nullptr : find(id);
        if (c == nullptr)
          rp.deliver(make_error(errc::not_found, id));
        else
          rp.deliver(*c->spec);
      }, rp);
    },
    [this](get_childspec_atom, caf::actor& hdl) {
      auto rp = make_response_promise();
      run_or_defer([this, hdl = std::move(hdl), rp]() mutable {
        auto* c = find(hdl.address());
        if (c == nullptr)
          rp.deliver(make_error(errc::not_found));
        else
          rp.deliver(*c->spec);
      }, rp);
    },
    [this](child_status_atom) {
      auto rp = make_response_promise();
      run_or_defer([this, rp]() mutable { rp.deliver(status()); }, rp);
    },
  };
}

void supervisor_actor::reply_init(bool ignored, const caf::error& reason) {
  if (info_.supervisor)
    send(info_.supervisor, init_ack_atom::value, info_.token, ignored, reason);
}

void supervisor_actor::start_initial_children() {
  begin();
  std::vector<uint64_t> keys;
  for (auto& c : children_)
    keys.push_back(c.key);
  start_in_order(std::move(keys), 0, [this](caf::error err, uint64_t failed) {
    if (!err) {
      reply_init(false, caf::error{});
      done();
      return;
    }
    auto* c = find(failed);
    auto reason = make_error(errc::failed_to_start_child, c ? c->id() : std::string{}, err);
    stopping_ = true;
    stop_in_reverse(running_keys(), [this, reason] {
      reply_init(false, reason);
      quit(shutdown_with(reason));
      stopped_ = true;
    });
  });
}

void supervisor_actor::shutdown(caf::error reason) {
  if (stopping_)
    return;
  run_or_defer([this, reason = std::move(reason)] { stop_all_and_quit(reason); });
}

void supervisor_actor::stop_all_and_quit(caf::error reason) {
  if (stopping_)
    return;
  stopping_ = true;
  begin();
  auto finish = [this, reason] {
    lifecycle_event ev;
    if (flags_.events) {
      ev.kind = event_kind::supervisor_stopped;
      ev.time = std::chrono::system_clock::now();
      ev.supervisor = path_;
      ev.reason = reason;
      flags_.events->publish(ev);
    }
    quit(reason);
    stopped_ = true;
  };
  if (!dynamic()) {
    stop_in_reverse(running_keys(), finish);
    return;
  }
  // Dynamic: all children stop together under one shared timer. Exit signals go out in
  // a bounded window: a burst of 100k would fill one worker's queue, and CAF 0.17's work
  // stealing walks that queue on every steal (quadratic).
  constexpr size_t window = 64;
  auto policy = template_->effective_shutdown();
  auto how = policy.how == shutdown_policy::kind::brutal_kill ? caf::exit_reason::kill
                                                               : caf::exit_reason::user_shutdown;
  struct wave {
    std::deque<caf::actor> unsignaled;
    size_t outstanding = 0;
    size_t in_flight = 0;
  };
  auto w = std::make_shared<wave>();
  auto signal_more = [this, w, how] {
    while (w->in_flight < window && !w->unsignaled.empty()) {
      send_exit(w->unsignaled.front(), how);
      w->unsignaled.pop_front();
      ++w->in_flight;
    }
  };
  auto token = next_token_++;
  auto one_done = [w, finish, signal_more] {
    if (w->in_flight > 0)
      --w->in_flight;
    if (--w->outstanding == 0)
      finish();
    else
      signal_more();
  };
  for (auto& c : children_) {
    if (!c.actor) {
      set_stopped(c);
      continue;
    }
    ++w->outstanding;
    c.state = child::phase::stopping;
    c.token = token;
    c.on_done = [one_done](caf::error, bool) { one_done(); };
    w->unsignaled.push_back(c.actor);
  }
  if (w->outstanding == 0) {
    finish();
    return;
  }
  signal_more();
  if (policy.how == shutdown_policy::kind::timeout)
    delayed_send(this, policy.time, stop_timeout_atom::value, uint64_t{0}, token);
}

void supervisor_actor::on_exit() {
  // Killed (or crashed) before an orderly stop: children do not outlive us (OTP: the
  // exit signal `killed` through the links). Children do not monitor their supervisor:
  // 100k monitors on one actor make CAF's exit handling (unlink_from) quadratic.
  if (!stopped_)
    for (auto& c : children_)
      if (c.actor)
        send_exit(c.actor, caf::exit_reason::kill);
  for (auto& c : children_)
    if (!c.spec->name.empty())
      names::unbind(home_system(), c.spec->name);
  for (auto& call : pending_)
    if (call.rp.pending())
      call.rp.deliver(make_error(errc::no_supervisor));
  pending_.clear();
}

// --- runtime API -------------------------------------------------------------------------

void supervisor_actor::api_start_child(child_spec spec, caf::response_promise rp) {
  if (dynamic()) {
    rp.deliver(make_error(errc::not_supported, std::string{"start_child(spec) on a dynamic supervisor"}));
    return;
  }
  if (auto err = validate_spec(spec, flags_)) {
    rp.deliver(err);
    return;
  }
  if (auto* c = find(spec.id)) {
    if (c->actor)
      rp.deliver(make_error(errc::already_started, c->actor));
    else
      rp.deliver(make_error(errc::already_present, c->id()));
    return;
  }
  auto& c = add_child(std::make_shared<const child_spec>(std::move(spec)), caf::message{});
  begin();
  start_one(c, [this, key = c.key, rp](caf::error err, bool ignored) mutable {
    auto* c = find(key);
    if (err) {
      remove_child(key);  // OTP: a spec whose start failed is not kept
      rp.deliver(std::move(err));
    } else if (ignored) {
      if (c->temporary())
        remove_child(key);
      rp.deliver(caf::actor{});
    } else {
      rp.deliver(c->actor);
    }
    done();
  });
}

void supervisor_actor::api_start_dynamic(caf::message args, caf::response_promise rp) {
  if (!dynamic()) {
    rp.deliver(make_error(errc::not_supported, std::string{"start_child(args) needs strategy dynamic"}));
    return;
  }
  if (flags_.max_children && children_.size() >= *flags_.max_children) {
    rp.deliver(make_error(errc::max_children, *flags_.max_children));
    return;
  }
  auto& c = add_child(template_, std::move(args));
  begin();
  start_one(c, [this, key = c.key, rp](caf::error err, bool ignored) mutable {
    auto* c = find(key);
    if (err || ignored) {
      remove_child(key);
      if (err)
        rp.deliver(std::move(err));
      else
        rp.deliver(caf::actor{});
    } else {
      rp.deliver(c->actor);
    }
    done();
  });
}

void supervisor_actor::api_terminate_child(child* c, caf::response_promise rp) {
  if (c == nullptr) {
    rp.deliver(make_error(errc::not_found));
    return;
  }
  auto key = c->key;
  auto finish = [this, key, rp]() mutable {
    if (auto* c = find(key)) {
      release_name(*c);
      if (c->temporary() || dynamic())
        remove_child(key);
    }
    rp.deliver(ok_atom::value);
  };
  if (c->state == child::phase::stopped || c->state == child::phase::restarting) {
    set_stopped(*c);  // ends a retry loop: its message finds a new token
    finish();
    return;
  }
  begin();
  stop_one(*c, [this, finish]() mutable {
    finish();
    done();
  });
}

void supervisor_actor::api_terminate_dynamic(const caf::actor& hdl, caf::response_promise rp) {
  // OTP: terminate_child by pid is for simple_one_for_one only. A child between failed
  // restarts is found by the actor that died; a dead actor that is no child is ok (it was
  // terminated already); a live one is not_found.
  if (!dynamic() || !hdl) {
    rp.deliver(make_error(errc::not_found));
    return;
  }
  auto* c = find(hdl.address());
  if (c == nullptr)
    for (auto& x : children_)
      if (x.state == child::phase::restarting && x.last_actor == hdl.address()) {
        c = &x;
        break;
      }
  if (c == nullptr
      && caf::actor_cast<caf::abstract_actor*>(hdl)->getf(
        caf::abstract_actor::is_cleaned_up_flag)) {
    rp.deliver(ok_atom::value);
    return;
  }
  api_terminate_child(c, rp);
}

void supervisor_actor::api_restart_child(const std::string& id, caf::response_promise rp) {
  if (dynamic()) {
    rp.deliver(make_error(errc::not_supported, std::string{"restart_child on a dynamic supervisor"}));
    return;
  }
  auto* c = find(id);
  if (c == nullptr) {
    rp.deliver(make_error(errc::not_found, id));
    return;
  }
  if (c->state == child::phase::restarting) {
    rp.deliver(make_error(errc::restarting, id));
    return;
  }
  if (c->state != child::phase::stopped) {
    rp.deliver(make_error(errc::running, id));
    return;
  }
  begin();
  start_one(*c, [this, key = c->key, rp](caf::error err, bool) mutable {
    auto* c = find(key);
    if (err)
      rp.deliver(std::move(err));
    else
      rp.deliver(c->actor);  // null when ignored (OTP: {ok, undefined})
    done();
  });
}

void supervisor_actor::api_delete_child(const std::string& id, caf::response_promise rp) {
  if (dynamic()) {
    rp.deliver(make_error(errc::not_supported, std::string{"delete_child on a dynamic supervisor"}));
    return;
  }
  auto* c = find(id);
  if (c == nullptr) {
    rp.deliver(make_error(errc::not_found, id));
  } else if (c->state == child::phase::restarting) {
    rp.deliver(make_error(errc::restarting, id));
  } else if (c->state != child::phase::stopped) {
    rp.deliver(make_error(errc::running, id));
  } else {
    release_name(*c);
    remove_child(c->key);
    rp.deliver(ok_atom::value);
  }
}

namespace {

child_info info_of(const child& c, bool dynamic) {
  child_info out;
  out.id = dynamic ? std::string{} : c.id();
  out.actor = c.actor;
  switch (c.state) {
    case child::phase::running:
    case child::phase::stopping:
    case child::phase::starting:
      out.state = c.actor ? child_state::running : child_state::undefined;
      break;
    case child::phase::restarting:
      out.state = child_state::restarting;
      break;
    default:
      out.state = child_state::undefined;
  }
  out.type = c.spec->type;
  out.restart = c.spec->restart;
  out.restart_count = c.restart_count;
  return out;
}

} // namespace

std::vector<child_info> supervisor_actor::which_children() const {
  std::vector<child_info> out;
  out.reserve(children_.size());
  for (auto i = children_.rbegin(); i != children_.rend(); ++i)
    out.push_back(info_of(*i, dynamic()));
  return out;
}

child_counts supervisor_actor::count_children() const {
  child_counts out;
  if (dynamic()) {
    // OTP: one spec (the template); supervisors / workers count every instance.
    out.specs = 1;
    for (auto& c : children_)
      if (c.actor)
        ++out.active;
    if (template_->type == child_type::supervisor)
      out.supervisors = children_.size();
    else
      out.workers = children_.size();
    return out;
  }
  for (auto& c : children_) {
    ++out.specs;
    if (c.actor)
      ++out.active;
    if (c.spec->type == child_type::supervisor)
      ++out.supervisors;
    else
      ++out.workers;
  }
  return out;
}

supervisor_status supervisor_actor::status() {
  supervisor_status out;
  out.path = path_;
  out.intensity = flags_.intensity;
  out.intensity_headroom = intensity_.headroom(now());
  out.total_restarts = total_restarts_;
  for (auto& c : children_)
    out.children.push_back(info_of(c, dynamic()));
  return out;
}

// --- bookkeeping -------------------------------------------------------------------------

child* supervisor_actor::find(uint64_t key) {
  auto i = by_key_.find(key);
  return i == by_key_.end() ? nullptr : &*i->second;
}

child* supervisor_actor::find(const std::string& id) {
  auto i = by_id_.find(id);
  return i == by_id_.end() ? nullptr : &*i->second;
}

child* supervisor_actor::find(const caf::actor_addr& addr) {
  auto i = by_actor_.find(addr);
  return i == by_actor_.end() ? nullptr : find(i->second);
}

child& supervisor_actor::add_child(std::shared_ptr<const child_spec> spec, caf::message args) {
  children_.emplace_back();
  auto i = std::prev(children_.end());
  i->key = next_key_++;
  i->spec = std::move(spec);
  i->args = std::move(args);
  by_key_.emplace(i->key, i);
  if (!dynamic())
    by_id_.emplace(i->spec->id, i);
  return *i;
}

void supervisor_actor::remove_child(uint64_t key) {
  auto i = by_key_.find(key);
  if (i == by_key_.end())
    return;
  auto iter = i->second;
  clear_timeout(*iter);
  if (iter->actor)
    by_actor_.erase(iter->actor.address());
  if (!dynamic())
    by_id_.erase(iter->spec->id);
  by_key_.erase(i);
  children_.erase(iter);
}

void supervisor_actor::set_stopped(child& c) {
  clear_timeout(c);
  c.state = child::phase::stopped;
  c.token = next_token_++;
  c.exit_reason = caf::error{};
  c.on_done = nullptr;
}

void supervisor_actor::release_name(const child& c) {
  if (!c.spec->name.empty())
    names::unbind(home_system(), c.spec->name);
}

std::vector<uint64_t> supervisor_actor::keys_after(const child& c) const {
  std::vector<uint64_t> out;
  bool after = false;
  for (auto& x : children_) {
    if (after)
      out.push_back(x.key);
    else if (x.key == c.key)
      after = true;
  }
  return out;
}

std::vector<uint64_t> supervisor_actor::running_keys() const {
  std::vector<uint64_t> out;
  for (auto& c : children_)
    if (c.state != child::phase::stopped)
      out.push_back(c.key);
  return out;
}

void supervisor_actor::emit(event_kind kind, const child& c, caf::error reason,
                            caf::timespan delay) {
  if (!flags_.events)
    return;
  lifecycle_event ev;
  ev.kind = kind;
  ev.time = std::chrono::system_clock::now();
  ev.supervisor = path_;
  if (!dynamic())
    ev.child = c.id();
  ev.restart_type = to_string(c.spec->restart);
  ev.reason = std::move(reason);
  ev.restart_count = c.restart_count;
  ev.intensity_headroom = intensity_.headroom(now());
  ev.actor_id = c.actor ? c.actor.id() : 0;
  ev.delay = delay;
  flags_.events->publish(ev);
}

} // namespace warden::internal
