#include "warden/regulator.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include <caf/all.hpp>
#include <fmt/format.h>

#include "warden/atoms.hpp"
#include "warden/detail/system_singleton.hpp"
#include "warden/errors.hpp"
#include "warden/service.hpp"

namespace warden {

namespace {

double ms(caf::timespan d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

} // namespace

const char* to_string(regulator_kind x) {
  return x == regulator_kind::counter ? "counter" : "rate";
}

const char* to_string(queue_order x) {
  return x == queue_order::fifo ? "fifo" : "lifo";
}

// --- samplers ----------------------------------------------------------------------------

sampler queue_delay_sampler(std::vector<double> thresholds_ms) {
  return {"queue_delay", {}, std::move(thresholds_ms)};
}

sampler in_flight_sampler(std::vector<double> thresholds) {
  return {"in_flight", {}, std::move(thresholds)};
}

sampler memory_sampler(std::vector<double> thresholds_mib) {
  return {"memory",
          [] {
            std::ifstream in{"/proc/self/statm"};
            double size = 0;
            double resident = 0;
            in >> size >> resident;
            return resident * static_cast<double>(::sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
          },
          std::move(thresholds_mib)};
}

sampler cpu_sampler(std::vector<double> thresholds_percent) {
  struct last_read {
    double cpu_s = -1;
    std::chrono::steady_clock::time_point at;
  };
  auto last = std::make_shared<last_read>();
  return {"cpu",
          [last] {
            std::ifstream in{"/proc/self/stat"};
            std::string text((std::istreambuf_iterator<char>(in)), {});
            // Fields after the command name (which may hold spaces) start after ')'.
            std::istringstream fields{text.substr(text.rfind(')') + 2)};
            std::string x;
            double utime = 0;
            double stime = 0;
            for (int i = 3; i <= 15 && fields >> x; ++i) {
              if (i == 14)
                utime = std::stod(x);
              if (i == 15)
                stime = std::stod(x);
            }
            auto cpu_s = (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
            auto now = std::chrono::steady_clock::now();
            double percent = 0;
            if (last->cpu_s >= 0) {
              auto wall = std::chrono::duration<double>(now - last->at).count();
              percent = wall > 0 ? 100.0 * (cpu_s - last->cpu_s) / wall : 0;
            }
            last->cpu_s = cpu_s;
            last->at = now;
            return percent;
          },
          std::move(thresholds_percent)};
}

// --- settings ----------------------------------------------------------------------------

overflow_policy overflow_of(const regulator_settings& s) {
  if (s.overflow)
    return *s.overflow;
  return s.order == queue_order::lifo ? overflow_policy::drop_oldest : overflow_policy::reject_new;
}

caf::error validate(const regulator_settings& s) {
  auto bad = [&](const char* field, const std::string& what) {
    return make_error(errc::bad_config, fmt::format("regulator {}: {}: {}", s.name, field, what));
  };
  if (!(s.limits.limit > 0))
    return bad("limit", "must be > 0");
  if (s.kind == regulator_kind::counter && s.limits.limit < 1)
    return bad("limit", "a counter regulator needs at least 1");
  if (s.limits.max_time.count() <= 0)
    return bad("max_time", "must be > 0 (no wait is infinite)");
  if (!(s.min_limit > 0) || s.min_limit > s.limits.limit)
    return bad("min_limit", "must be > 0 and <= limit");
  if (s.feedback_step < 0 || s.feedback_step > 1)
    return bad("feedback_step", "must be within 0..1");
  if (s.sample_interval.count() <= 0)
    return bad("sample_interval", "must be > 0");
  if (s.call_timeout.count() <= 0)
    return bad("call_timeout", "must be > 0");
  if (s.alarm_after.count() < 0 || s.alarm_clear_after.count() < 0)
    return bad("alarm_after", "alarm_after and alarm_clear_after must be >= 0");
  if (s.codel && (s.codel->target.count() <= 0 || s.codel->interval.count() <= 0))
    return bad("codel", "target and interval must be > 0");
  for (auto& x : s.samplers) {
    if (x.name.empty())
      return bad("samplers", "a sampler has no name");
    if (!x.read && x.name != "queue_delay" && x.name != "in_flight")
      return bad("samplers", x.name + ": no read function");
    if (!std::is_sorted(x.thresholds.begin(), x.thresholds.end()))
      return bad("samplers", x.name + ": thresholds must ascend");
  }
  return {};
}

regulator_settings regulator_config::get() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return settings_;
}

void regulator_config::set_limits(const regulator_limits& x) {
  std::lock_guard<std::mutex> guard{mtx_};
  settings_.limits = x;
}

// --- regulator_core ----------------------------------------------------------------------

regulator_core::regulator_core(regulator_settings s, time_point now)
  : s_(std::move(s)), next_token_(now) {
  st_.name = s_.name;
  st_.kind = to_string(s_.kind);
  st_.overflow = to_string(overflow_of(s_));
}

double regulator_core::effective_limit() const {
  unsigned sum = 0;
  for (auto& [name, level] : levels_)
    sum += level;
  auto lowered = s_.limits.limit * (1.0 - s_.feedback_step * sum);
  return std::max(std::min(s_.min_limit, s_.limits.limit), lowered);
}

unsigned regulator_core::level_of(const sampler& s, double figure) {
  unsigned n = 0;
  for (auto t : s.thresholds)
    if (figure >= t)
      ++n;
  return n;
}

bool regulator_core::set_level(const std::string& sampler, unsigned level) {
  auto before = effective_limit();
  if (level == 0)
    levels_.erase(sampler);
  else
    levels_[sampler] = level;
  return effective_limit() != before;
}

void regulator_core::set_limits(const regulator_limits& x) {
  s_.limits = x;
}

caf::timespan regulator_core::oldest_wait(time_point now) const {
  return queue_.empty() ? caf::timespan{0} : now - queue_.front().since;
}

bool regulator_core::permit_free(time_point now) const {
  if (s_.kind == regulator_kind::counter)
    return static_cast<double>(holders_.size()) + 1 <= std::floor(effective_limit()) + 1e-9;
  return now >= next_token_;
}

void regulator_core::take_permit(uint64_t ticket, time_point now) {
  ++st_.granted;
  if (s_.kind == regulator_kind::counter) {
    holders_.insert(ticket);
    return;
  }
  // GCRA with a burst of one: in any window W at most floor(rate * W) + 1 grants.
  auto period = std::chrono::duration_cast<caf::timespan>(
    std::chrono::duration<double>(1.0 / effective_limit()));
  next_token_ = std::max(now, next_token_) + period;
}

void regulator_core::answer(const waiter& w, caf::error err, time_point now,
                            std::vector<regulator_decision>& out) {
  auto sojourn = now - w.since;
  st_.last_sojourn_ms = ms(sojourn);
  st_.max_sojourn_ms = std::max(st_.max_sojourn_ms, st_.last_sojourn_ms);
  if (!err)
    take_permit(w.ticket, now);
  out.push_back({w.ticket, std::move(err), sojourn});
}

void regulator_core::expire(time_point now, std::vector<regulator_decision>& out) {
  // The oldest waiters sit at the front under both orders.
  while (!queue_.empty() && now - queue_.front().since >= s_.limits.max_time) {
    auto w = queue_.front();
    queue_.pop_front();
    ++st_.timed_out;
    auto waited = ms(now - w.since);
    answer(w,
           make_error(errc::queue_timeout,
                      fmt::format("{}: waited {:.1f} ms, max_time {:.0f} ms", s_.name, waited,
                                  ms(s_.limits.max_time)),
                      waited),
           now, out);
  }
}

bool regulator_core::codel_drops(caf::timespan sojourn, time_point now) {
  if (!s_.codel)
    return false;
  auto& c = *s_.codel;
  auto control_law = [&](time_point t, uint32_t count) {
    return t + std::chrono::duration_cast<caf::timespan>(c.interval / std::sqrt(count));
  };
  // RFC 8289's dodequeue: ok_to_drop once the sojourn stayed above target for an interval.
  bool ok_to_drop = false;
  if (sojourn < c.target) {
    first_above_ = {};
  } else if (first_above_ == time_point{}) {
    first_above_ = now + c.interval;
  } else if (now >= first_above_) {
    ok_to_drop = true;
  }
  if (dropping_) {
    if (!ok_to_drop) {
      dropping_ = false;
      return false;
    }
    if (now >= drop_next_) {
      ++drop_count_;
      drop_next_ = control_law(drop_next_, drop_count_);
      return true;
    }
    return false;
  }
  if (ok_to_drop) {
    dropping_ = true;
    // Resume near the previous drop rate when the last dropping state ended recently.
    auto delta = drop_count_ - last_drop_count_;
    drop_count_ = (delta > 1 && now - drop_next_ < 16 * c.interval) ? delta : 1;
    drop_next_ = control_law(now, drop_count_);
    last_drop_count_ = drop_count_;
    return true;
  }
  return false;
}

void regulator_core::grant_waiters(time_point now, std::vector<regulator_decision>& out) {
  while (!queue_.empty() && permit_free(now)) {
    auto lifo = s_.order == queue_order::lifo;
    auto w = lifo ? queue_.back() : queue_.front();
    if (lifo)
      queue_.pop_back();
    else
      queue_.pop_front();
    auto sojourn = now - w.since;
    if (codel_drops(sojourn, now)) {
      ++st_.rejected;
      ++st_.codel_drops;
      answer(w,
             make_error(errc::rejected,
                        fmt::format("{}: dropped by CoDel (queued {:.1f} ms, target {:.1f} ms)",
                                    s_.name, ms(sojourn), ms(s_.codel->target)),
                        ms(sojourn)),
             now, out);
      continue;
    }
    answer(w, {}, now, out);
  }
}

void regulator_core::ask(uint64_t ticket, time_point now, std::vector<regulator_decision>& out) {
  poll(now, out);
  if (queue_.empty() && permit_free(now)) {
    // Served at once: a zero sojourn also tells CoDel the queue is short again.
    codel_drops(caf::timespan{0}, now);
    answer({ticket, now}, {}, now, out);
    return;
  }
  if (queue_.size() >= s_.limits.max_size) {
    ++st_.rejected;
    auto full = [&](const waiter& w, const char* why) {
      answer(w,
             make_error(errc::rejected,
                        fmt::format("{}: queue full ({} waiting){}", s_.name, queue_.size(), why),
                        ms(now - w.since)),
             now, out);
    };
    if (overflow_of(s_) != overflow_policy::drop_oldest || queue_.empty()) {
      full({ticket, now}, "");
      return;
    }
    auto oldest = queue_.front();
    queue_.pop_front();
    ++st_.dropped_oldest;
    full(oldest, ", the oldest waiter gives way");
  }
  queue_.push_back({ticket, now});
}

void regulator_core::done(uint64_t ticket, time_point now, std::vector<regulator_decision>& out) {
  if (holders_.erase(ticket) == 0) {
    auto i = std::find_if(queue_.begin(), queue_.end(),
                          [&](const waiter& w) { return w.ticket == ticket; });
    if (i != queue_.end())
      queue_.erase(i);
  }
  poll(now, out);
}

void regulator_core::poll(time_point now, std::vector<regulator_decision>& out) {
  expire(now, out);
  // A lowered max_size: the newest over it are answered (they would wait longest).
  while (queue_.size() > s_.limits.max_size) {
    auto w = queue_.back();
    queue_.pop_back();
    ++st_.rejected;
    answer(w, make_error(errc::rejected, s_.name + ": queue shrunk", ms(now - w.since)), now,
           out);
  }
  grant_waiters(now, out);
}

std::optional<regulator_core::time_point> regulator_core::next_deadline() const {
  if (queue_.empty())
    return std::nullopt;
  auto at = queue_.front().since + s_.limits.max_time;
  if (s_.kind == regulator_kind::rate)
    at = std::min(at, next_token_);
  return at;
}

regulator_stats regulator_core::stats() const {
  auto out = st_;
  out.limit = s_.limits.limit;
  out.effective_limit = effective_limit();
  out.in_use = holders_.size();
  out.queued = queue_.size();
  return out;
}


// --- overload_alarm ----------------------------------------------------------------------

overload_alarm::change overload_alarm::observe(bool overloaded, time_point now) {
  if (overloaded == raised_) {
    since_.reset();  // the current state holds: a run of the other one is broken
    return change::none;
  }
  if (!since_)
    since_ = now;
  if (now - *since_ < (raised_ ? clear_after_ : raise_after_))
    return change::none;
  raised_ = overloaded;
  since_.reset();
  return raised_ ? change::raised : change::cleared;
}

// --- the directory of running regulators -------------------------------------------------

namespace {

constexpr caf::atom_value directory_key = caf::atom("wardenRegs");

} // namespace

std::vector<caf::actor> running_regulators(caf::actor_system& sys) {
  return detail::actor_directory::running(sys, directory_key);
}

// --- the actor ---------------------------------------------------------------------------

namespace {

using wake_atom = caf::atom_constant<caf::atom("regWake")>;
using sample_atom = caf::atom_constant<caf::atom("regSample")>;
using call_timeout_atom = caf::atom_constant<caf::atom("regCallTmo")>;

/// Late replies remembered after a call timeout, so they are dropped, not forwarded.
constexpr size_t max_remembered_late = 10000;

/// Settings without a sink report to the supervisor's, under its path.
regulator_settings reporting_to(regulator_settings s, const start_info& info) {
  if (!s.events) {
    s.events = info.events;
    s.reporter = info.parent_path;
  }
  return s;
}

/// A service the regulator starts itself and runs in front of (`regulated_service`).
struct inner_service {
  start_function start;
  start_info info;  // the front's own: the inner one reports to the same sink and path
};

class regulator_actor : public service_actor {
public:
  regulator_actor(caf::actor_config& cfg, start_info info,
                  std::shared_ptr<regulator_config> config, caf::actor guarded,
                  std::optional<inner_service> inner = std::nullopt)
    : service_actor(cfg, info),
      config_(std::move(config)),
      core_(reporting_to(config_->get(), info), clock().now()),
      guarded_(std::move(guarded)),
      inner_(std::move(inner)) {
    auto& s = core_.settings();
    if (s.alarm_after.count() > 0)
      alarm_.emplace(s.alarm_after, s.alarm_clear_after);
  }

  const char* name() const override { return "warden.regulator"; }

  init_result init() override {
    if (auto err = validate(core_.settings()))
      return err;
    if (inner_) {
      // The service reports its start to this front, and lives and dies with it.
      auto info = inner_->info;
      info.supervisor = caf::actor_cast<caf::actor>(this);
      info.token = 1;
      guarded_ = inner_->start(this, std::move(info));
      link_to(guarded_);
    }
    if (guarded_)
      monitor(guarded_);
    set_down_handler([this](caf::down_msg& dm) { on_down(dm); });
    set_default_handler([this](caf::scheduled_actor*, caf::message_view& mv) {
      return on_other(mv);
    });
    arm_sample();
    // Listed while it runs (the management endpoint reads every regulator's figures).
    detail::actor_directory::list_while_running(this, directory_key);
    return caf::behavior{
      [this](ask_atom) -> caf::result<permit> {
        auto ticket = ++last_ticket_;
        // Before make_response_promise: it takes the sender out of the current message.
        auto asker = caf::actor_cast<caf::actor>(current_sender());
        auto holder = caf::actor_cast<caf::actor_addr>(asker);
        auto rp = make_response_promise<permit>();
        asks_.emplace(ticket, ask_entry{rp, holder});
        if (holder) {
          if (held_by_[holder].empty())
            monitor(asker);
          held_by_[holder].insert(ticket);
        }
        run([&](auto now, auto& out) { core_.ask(ticket, now, out); });
        return rp;
      },
      [this](done_atom, uint64_t ticket) {
        release(ticket);
        return ok_atom::value;
      },
      [this](demand_atom) {
        // What it holds without refusing: the permits and the queue (flow_sender.hpp).
        auto& limits = core_.settings().limits;
        return static_cast<uint32_t>(
          std::min<double>(UINT32_MAX, std::floor(core_.effective_limit())
                                         + static_cast<double>(limits.max_size)));
      },
      [this](stats_atom) {
        auto st = core_.stats();
        st.alarm = alarm_ && alarm_->raised();
        st.dropped = dropped_;
        return st;
      },
      [this](reconfigure_atom, const regulator_limits& x) -> caf::result<ok_atom> {
        auto s = core_.settings();
        s.limits = x;
        if (auto err = validate(s))
          return err;
        auto before = core_.effective_limit();
        config_->set_limits(x);
        core_.set_limits(x);
        report_limit(before, "reconfigured");
        poll();
        return ok_atom::value;
      },
      [this](set_level_atom, const std::string& sampler, uint32_t level) {
        set_level(sampler, level);
        return ok_atom::value;
      },
      [this](wake_atom, uint64_t generation) {
        if (generation == wake_generation_) {
          wake_at_.reset();
          poll();
        }
      },
      [this](sample_atom) {
        sampling_ = false;
        sample();
        arm_sample();
      },
      [this](call_timeout_atom, uint64_t ticket) { call_timed_out(ticket); },
      [this](init_ack_atom, uint64_t, bool ignored, caf::error& reason) {
        // The inner service's start: a failure ends the front with its reason, so the
        // supervisor sees it as this child's crash.
        if (reason)
          quit(std::move(reason));
        else if (ignored)
          quit(make_error(errc::bad_config, core_.settings().name
                                              + ": a regulated service cannot answer ignore"));
      },
    };
  }

private:
  using time_point = caf::actor_clock::time_point;

  struct ask_entry {
    caf::typed_response_promise<permit> promise;
    caf::actor_addr holder;
  };

  /// (sender, request id): how a guarded actor's answer comes back through this stage.
  using call_key = std::pair<caf::actor_addr, uint64_t>;

  struct forward_entry {
    caf::response_promise promise;  // answers errors to the caller
    caf::strong_actor_ptr sender;
    caf::message_id mid;
    caf::mailbox_element::forwarding_stack stages;
    caf::message content;
    bool in_flight = false;
  };

  template <class F>
  void run(F f) {
    std::vector<regulator_decision> out;
    f(clock().now(), out);
    settle(out);
  }

  /// Carries out the core's decisions, then re-arms the timers they need.
  void settle(std::vector<regulator_decision>& out) {
    for (auto& d : out)
      apply(d);
    arm_wake();
    arm_sample();
  }

  /// The next sample, when there is something to watch: samplers, or for the alarm a
  /// queue, a refusal not yet judged, or an alarm (or a run towards one) in progress. An
  /// idle regulator arms no timer, so one that nobody references any more goes away.
  void arm_sample() {
    if (sampling_)
      return;
    bool watch = !core_.settings().samplers.empty()
                 || (alarm_
                     && (core_.queued() > 0 || core_.refused() > refused_before_
                         || alarm_->raised() || alarm_->counting()));
    if (!watch)
      return;
    sampling_ = true;
    delayed_send(this, core_.settings().sample_interval, sample_atom::value);
  }

  void poll() {
    run([&](auto now, auto& out) { core_.poll(now, out); });
  }

  void apply(regulator_decision& d) {
    if (auto i = asks_.find(d.ticket); i != asks_.end()) {
      if (d.error) {
        i->second.promise.deliver(std::move(d.error));
        forget_ask(i);
      } else {
        i->second.promise.deliver(permit{d.ticket, ms(d.queued)});
        if (core_.settings().kind == regulator_kind::rate)
          forget_ask(i);  // a rate permit is spent when granted: nothing to give back
      }
      return;
    }
    auto f = forwards_.find(d.ticket);
    if (f == forwards_.end())
      return;
    if (d.error) {
      // A one-way sender gets no answer (an unasked error would reach its error handler,
      // which ends it by default): the message is counted as dropped instead.
      if (f->second.mid.is_request())
        f->second.promise.deliver(std::move(d.error));
      else
        ++dropped_;
      forwards_.erase(f);
      return;
    }
    forward(d.ticket, f->second);
  }

  void forget_ask(std::map<uint64_t, ask_entry>::iterator i) {
    if (auto h = held_by_.find(i->second.holder); h != held_by_.end()) {
      h->second.erase(i->first);
      if (h->second.empty()) {
        if (auto strong = caf::actor_cast<caf::actor>(h->first))
          demonitor(strong);
        held_by_.erase(h);
      }
    }
    asks_.erase(i);
  }

  void release(uint64_t ticket) {
    if (auto i = asks_.find(ticket); i != asks_.end())
      forget_ask(i);
    run([&](auto now, auto& out) { core_.done(ticket, now, out); });
  }

  /// Sends a granted request on to the guarded actor with this actor as a stage, so its
  /// answer passes here (and gives the permit back) on its way to the caller.
  void forward(uint64_t ticket, forward_entry& f) {
    if (!f.mid.is_request()) {
      // A one-way message goes as this front's own request, so its end (any answer, an
      // error, call_timeout) frees the permit: a flood of them waits here, within
      // max_size, not in the service's mailbox. The service sees the front as the sender.
      auto content = std::move(f.content);
      forwards_.erase(ticket);
      auto done = [this, ticket] {
        run([&](auto now, auto& out) { core_.done(ticket, now, out); });
      };
      request(guarded_, core_.settings().call_timeout, std::move(content))
        .then([done] { done(); }, [done](caf::error&) { done(); });
      return;
    }
    auto stages = f.stages;
    stages.push_back(ctrl());
    guarded_->enqueue(caf::make_mailbox_element(f.sender, f.mid, std::move(stages),
                                                std::move(f.content)),
                      context());
    f.in_flight = true;
    calls_[{caf::actor_cast<caf::actor_addr>(f.sender), f.mid.integer_value()}] = ticket;
    delayed_send(this, core_.settings().call_timeout, call_timeout_atom::value, ticket);
  }

  caf::result<caf::message> on_other(caf::message_view& mv) {
    auto* e = current_mailbox_element();
    call_key key{caf::actor_cast<caf::actor_addr>(e->sender), e->mid.integer_value()};
    if (auto i = calls_.find(key); i != calls_.end()) {
      // The guarded actor's answer: back to the caller (CAF replies with it), permit back.
      auto ticket = i->second;
      calls_.erase(i);
      forwards_.erase(ticket);
      run([&](auto now, auto& out) { core_.done(ticket, now, out); });
      return mv.move_content_to_message();
    }
    if (late_.erase(key) > 0) {
      e->mid.mark_as_answered();  // the caller had its call_timeout already
      return caf::delegated<caf::message>{};
    }
    if (!guarded_)
      return caf::sec::unexpected_message;
    auto ticket = ++last_ticket_;
    std::vector<regulator_decision> out;
    core_.ask(ticket, clock().now(), out);
    auto own = std::find_if(out.begin(), out.end(),
                            [ticket](const regulator_decision& d) { return d.ticket == ticket; });
    if (own != out.end() && own->error) {
      // Refused at once (the common case under overload): answered right here, without
      // the bookkeeping of a forwarded call.
      auto err = std::move(own->error);
      out.erase(own);
      settle(out);
      if (e->mid.is_request())
        return err;
      ++dropped_;  // a one-way sender is never sent an error (see apply)
      return caf::delegated<caf::message>{};
    }
    forward_entry f;
    f.sender = e->sender;  // before make_response_promise, which takes them
    f.mid = e->mid;
    f.stages = e->stages;
    f.promise = make_response_promise();
    f.content = mv.move_content_to_message();
    forwards_.emplace(ticket, std::move(f));
    settle(out);
    return caf::delegated<caf::message>{};
  }

  void call_timed_out(uint64_t ticket) {
    auto f = forwards_.find(ticket);
    if (f == forwards_.end() || !f->second.in_flight)
      return;
    call_key key{caf::actor_cast<caf::actor_addr>(f->second.sender), f->second.mid.integer_value()};
    calls_.erase(key);
    late_.insert(key);
    late_order_.push_back(key);
    if (late_order_.size() > max_remembered_late) {
      late_.erase(late_order_.front());
      late_order_.pop_front();
    }
    f->second.promise.deliver(make_error(
      errc::call_timeout, fmt::format("{}: no answer within call_timeout {:.0f} ms",
                                      core_.settings().name, ms(core_.settings().call_timeout))));
    forwards_.erase(f);
    run([&](auto now, auto& out) { core_.done(ticket, now, out); });
  }

  void on_down(const caf::down_msg& dm) {
    if (guarded_ && dm.source == guarded_.address()) {
      // Its calls will never be answered: give their permits back, answer the callers.
      std::vector<uint64_t> lost;
      for (auto& [ticket, f] : forwards_)
        if (f.in_flight)
          lost.push_back(ticket);
      for (auto t : lost) {
        auto& f = forwards_.at(t);
        calls_.erase({caf::actor_cast<caf::actor_addr>(f.sender), f.mid.integer_value()});
        f.promise.deliver(make_error(errc::service_unavailable, core_.settings().name));
        forwards_.erase(t);
        run([&](auto now, auto& out) { core_.done(t, now, out); });
      }
      if (inner_)
        quit(dm.reason);  // the child is the pair: its supervisor restarts both
      return;
    }
    auto h = held_by_.find(dm.source);
    if (h == held_by_.end())
      return;
    // A holder died: its permits come back, its waits end.
    auto tickets = h->second;
    held_by_.erase(h);
    for (auto t : tickets) {
      asks_.erase(t);
      run([&](auto now, auto& out) { core_.done(t, now, out); });
    }
  }

  void set_level(const std::string& sampler, unsigned level) {
    auto before = core_.effective_limit();
    if (core_.set_level(sampler, level)) {
      report_limit(before, fmt::format("{} level {}", sampler, level));
      poll();
    }
  }

  void sample() {
    judge_period();
    for (auto& s : core_.settings().samplers) {
      double figure = 0;
      if (s.name == "queue_delay" && !s.read)
        figure = ms(core_.oldest_wait(clock().now()));
      else if (s.name == "in_flight" && !s.read)
        figure = static_cast<double>(core_.in_use());
      else
        figure = s.read();
      set_level(s.name, regulator_core::level_of(s, figure));
    }
  }

  /// The overload alarm's observation of the period since the last sample.
  void judge_period() {
    if (!alarm_)
      return;
    auto st = core_.stats();
    auto refused = st.rejected + st.timed_out;
    auto now = clock().now();
    bool overloaded = refused > refused_before_
                      || core_.oldest_wait(now) * 2 >= core_.settings().limits.max_time;
    auto period_refused = refused - refused_before_;
    refused_before_ = refused;
    auto change = alarm_->observe(overloaded, now);
    auto& s = core_.settings();
    if (change == overload_alarm::change::none || !s.events)
      return;
    publish(change == overload_alarm::change::raised ? event_kind::overload_raised
                                                     : event_kind::overload_cleared,
            fmt::format("refused {} in the last {:.0f} ms, {} waiting, limit {:g}",
                        period_refused, ms(s.sample_interval), st.queued,
                        core_.effective_limit()));
  }

  void report_limit(double before, const std::string& why) {
    auto now = core_.effective_limit();
    auto& s = core_.settings();
    if (!s.events || now == before)
      return;
    publish(event_kind::limit_changed, fmt::format("limit {:g} -> {:g} ({})", before, now, why));
  }

  /// One lifecycle event about this regulator (the caller checked `events`).
  void publish(event_kind kind, std::string detail) {
    auto& s = core_.settings();
    lifecycle_event ev;
    ev.kind = kind;
    ev.time = std::chrono::system_clock::now();
    ev.supervisor = s.reporter;
    ev.child = s.name;
    ev.detail = std::move(detail);
    s.events->publish(ev);
  }

  /// One pending wake-up at the core's next deadline; an earlier deadline replaces it.
  void arm_wake() {
    auto at = core_.next_deadline();
    if (!at || (wake_at_ && *wake_at_ <= *at))
      return;
    wake_at_ = *at;
    auto delay = std::max(caf::timespan{0}, *at - clock().now());
    delayed_send(this, delay, wake_atom::value, ++wake_generation_);
  }

  std::shared_ptr<regulator_config> config_;
  regulator_core core_;
  caf::actor guarded_;
  uint64_t last_ticket_ = 0;
  std::map<uint64_t, ask_entry> asks_;
  std::map<caf::actor_addr, std::set<uint64_t>> held_by_;
  std::map<uint64_t, forward_entry> forwards_;
  std::map<call_key, uint64_t> calls_;
  std::set<call_key> late_;
  std::deque<call_key> late_order_;
  std::optional<time_point> wake_at_;
  uint64_t wake_generation_ = 0;
  std::optional<inner_service> inner_;
  std::optional<overload_alarm> alarm_;
  uint64_t refused_before_ = 0;
  uint64_t dropped_ = 0;  // one-way messages refused or timed out (front)
  bool sampling_ = false;  // a sample timer is pending
};

} // namespace

caf::actor spawn_regulator(caf::actor_system& sys, std::shared_ptr<regulator_config> config,
                           caf::actor guarded) {
  return sys.spawn<regulator_actor>(start_info{}, std::move(config), std::move(guarded));
}

start_function regulator_service(std::shared_ptr<regulator_config> config, caf::actor guarded) {
  return service_class<regulator_actor>(std::move(config), std::move(guarded));
}

start_function regulated_service(start_function service, std::shared_ptr<regulator_config> config) {
  return [service = std::move(service), config = std::move(config)](caf::local_actor* spawner,
                                                                     start_info info) {
    auto inner = inner_service{service, info};
    return spawner->spawn<regulator_actor>(std::move(info), config, caf::actor{},
                                           std::optional<inner_service>{std::move(inner)});
  };
}

} // namespace warden
