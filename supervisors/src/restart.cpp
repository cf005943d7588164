// What a supervisor does when a child exits: whether to restart (restart type), which
// children restart (strategy), whether it may (intensity window), when (backoff), what
// happens when a restart fails (retry as a self message) and when it gives up.
#include "internal/supervisor_actor.hpp"

#include "warden/atoms.hpp"
#include "warden/exit_reasons.hpp"

namespace warden::internal {

void supervisor_actor::handle_exit(uint64_t key, uint64_t token) {
  auto* c = find(key);
  if (c == nullptr || c->state != child::phase::exited || c->token != token)
    return;  // an exit already dealt with by a group restart or a stop
  auto reason = c->exit_reason;
  emit(event_kind::child_terminated, *c, reason);
  bool needs_restart = c->spec->restart == restart_type::permanent
                       || (c->spec->restart == restart_type::transient
                           && !is_normal_or_shutdown(reason));
  if (needs_restart) {
    restart(*c, std::move(reason));
    return;
  }
  set_stopped(*c);
  release_name(*c);
  bool stop_self = check_auto_shutdown(*c);
  if (stop_self)
    emit(event_kind::auto_shutdown, *c, reason);
  // Temporary specs are deleted on exit; dynamic children are never kept without a pid.
  if (c->temporary() || dynamic())
    remove_child(key);
  if (stop_self)
    stop_all_and_quit(caf::exit_reason::user_shutdown);
}

bool supervisor_actor::check_auto_shutdown(const child& c) {
  if (!c.spec->significant || flags_.auto_shutdown == auto_shutdown::never)
    return false;
  if (flags_.auto_shutdown == auto_shutdown::any_significant)
    return true;
  for (auto& other : children_)
    if (&other != &c && other.spec->significant && other.state != child::phase::stopped)
      return false;
  return true;
}

void supervisor_actor::restart(child& c, caf::error reason) {
  if (stopping_)
    return;
  if (!intensity_.record(now())) {
    give_up(c, reason);
    return;
  }
  ++c.restart_count;
  ++total_restarts_;
  caf::timespan delay{0};
  if (flags_.backoff.enabled()) {
    if (!c.backoff)
      c.backoff = std::make_unique<backoff_state>();
    delay = c.backoff->next(flags_.backoff, now(), rng_);
  }
  if (delay.count() > 0) {
    c.state = child::phase::restarting;
    c.token = next_token_++;
    c.exit_reason = std::move(reason);
    emit(event_kind::restart_delayed, c, c.exit_reason, delay);
    delayed_send(this, delay, delayed_atom::value, c.key, c.token);
    return;
  }
  execute_restart(c.key);
}

void supervisor_actor::execute_restart(uint64_t key) {
  auto* c = find(key);
  if (c == nullptr || stopping_)
    return;
  switch (flags_.strategy) {
    case strategy::one_for_one:
    case strategy::dynamic:
      begin();
      start_one(*c, [this, key](caf::error err, bool ignored) {
        if (auto* c = find(key)) {
          if (err)
            restart_failed(*c, err);
          else if (ignored && (c->temporary() || dynamic()))
            remove_child(key);
          else if (!ignored)
            emit(event_kind::child_restarted, *c);
        }
        done();
      });
      return;
    case strategy::one_for_all: {
      std::vector<uint64_t> others;
      for (auto& x : children_)
        if (x.key != key)
          others.push_back(x.key);
      std::vector<uint64_t> all;
      for (auto& x : children_)
        all.push_back(x.key);
      restart_group(*c, std::move(others), std::move(all));
      return;
    }
    case strategy::rest_for_one: {
      auto later = keys_after(*c);
      std::vector<uint64_t> from_failed{key};
      from_failed.insert(from_failed.end(), later.begin(), later.end());
      restart_group(*c, std::move(later), std::move(from_failed));
      return;
    }
  }
}

void supervisor_actor::restart_group(child& failed, std::vector<uint64_t> stop_keys,
                                     std::vector<uint64_t> start_keys) {
  begin();
  // OTP: del_child / split_child first. The failed child already exited (or is between
  // attempts): if this attempt fails before reaching it, a retry or a shutdown must not
  // stop and report it again.
  set_stopped(failed);
  auto failed_key = failed.key;
  auto stopped = stop_keys;
  stop_in_reverse(std::move(stop_keys), [this, failed_key, stopped = std::move(stopped),
                                         start_keys = std::move(start_keys)]() mutable {
    // Temporary siblings are not restarted: their specs go.
    for (auto key : stopped)
      if (auto* c = find(key); c != nullptr && c->temporary()) {
        release_name(*c);
        remove_child(key);
      }
    std::erase_if(start_keys, [this](uint64_t key) {
      auto* c = find(key);
      return c == nullptr || c->temporary();
    });
    start_in_order(std::move(start_keys), 0, [this, failed_key](caf::error err, uint64_t bad) {
      if (!err) {
        // As under one_for_one: a child whose restart answered ignore was not restarted.
        if (auto* c = find(failed_key); c != nullptr && c->state == child::phase::running)
          emit(event_kind::child_restarted, *c);
      } else if (auto* c = find(bad)) {
        restart_failed(*c, err);
      }
      done();
    });
  });
}

void supervisor_actor::restart_failed(child& c, const caf::error& reason) {
  // OTP: mark it restarting and queue the retry behind whatever waits already, so API
  // calls and shutdown are served between attempts.
  c.state = child::phase::restarting;
  c.token = next_token_++;
  c.exit_reason = reason;
  send(this, retry_atom::value, c.key, c.token);
}

void supervisor_actor::on_retry(uint64_t key, uint64_t token) {
  auto* c = find(key);
  if (c == nullptr || c->state != child::phase::restarting || c->token != token)
    return;  // terminate_child or a shutdown ended the retry loop
  restart(*c, c->exit_reason);
}

void supervisor_actor::give_up(child& c, const caf::error& reason) {
  emit(event_kind::reached_max_restart_intensity, c, reason);
  // OTP: del_child(Child) first. The culprit already exited (its exit was reported), so the
  // shutdown below must not stop and report it a second time.
  set_stopped(c);
  // The culprit travels up: {shutdown, reached_max_restart_intensity(id, reason)}.
  stop_all_and_quit(
    shutdown_with(make_error(errc::reached_max_restart_intensity, c.id(), reason)));
}

} // namespace warden::internal
