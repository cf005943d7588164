// Beyond OTP: restart backoff, the culprit carried up the escalation chain, restart
// observability, stable names across restarts, start timeouts on restarts.
#include <cmath>

#include "conformance/conformance.hpp"
#include "warden/service_registry.hpp"

using namespace std::chrono_literals;
using namespace warden;
using namespace warden::test;

namespace {

std::vector<caf::timespan> delays_of(const std::vector<lifecycle_event>& evs) {
  std::vector<caf::timespan> out;
  for (auto& e : evs)
    if (e.kind == event_kind::restart_delayed)
      out.push_back(e.delay);
  return out;
}

} // namespace

class beyond_otp : public conformance {
protected:
  supervisor_flags backoff_flags(strategy s = strategy::one_for_one) {
    auto f = flags(s, 100, 1h);
    f.backoff.min_delay = 100ms;
    f.backoff.max_delay = 1s;
    f.backoff.random_factor = 0.5;
    f.backoff.reset_after = 30s;
    f.seed = 42;
    return f;
  }

  // Crashes child `id` of `sup` and lets its delayed restart happen; answers the delay.
  caf::timespan crash_and_wait(const caf::actor& sup, const std::string& id) {
    auto before = delays_of(events->events()).size();
    crash(sup, id);
    auto ds = delays_of(events->events());
    EXPECT_EQ(ds.size(), before + 1);
    if (ds.size() != before + 1)
      return {};
    advance(ds.back());
    EXPECT_TRUE(child_of(sup, id));
    return ds.back();
  }
};

// Backoff: the n-th consecutive restart waits min(max, min * 2^n) * (1 + U[0,1) * rf); the
// delay is on the restart_delayed event; the child shows restarting meanwhile.
TEST_F(beyond_otp, backoff_delays_follow_the_formula) {
  auto sup = start_ok(backoff_flags(), {spec(ctl, "a"), spec(ctl, "b")});
  std::vector<double> bases{100, 200, 400, 800, 1000, 1000};
  bool some_jitter = false;
  for (size_t n = 0; n < bases.size(); ++n) {
    SCOPED_TRACE(n);
    auto before = delays_of(events->events()).size();
    crash(sup, "a");
    auto ds = delays_of(events->events());
    ASSERT_EQ(ds.size(), before + 1);
    auto d = std::chrono::duration<double, std::milli>(ds.back()).count();
    EXPECT_GE(d, bases[n]);
    EXPECT_LT(d, bases[n] * 1.5);
    some_jitter = some_jitter || d > bases[n];
    // Not restarted before the delay is over.
    EXPECT_EQ(row(sup, "a").state, child_state::restarting);
    advance(ds.back() - caf::timespan{1});
    EXPECT_EQ(row(sup, "a").state, child_state::restarting);
    advance(caf::timespan{1});
    EXPECT_EQ(row(sup, "a").state, child_state::running);
  }
  EXPECT_TRUE(some_jitter);
  EXPECT_EQ(events->count(event_kind::restart_delayed, "b"), 0u);
}

// Backoff resets after the child ran reset_after without needing a restart.
TEST_F(beyond_otp, backoff_resets_after_a_quiet_period) {
  auto sup = start_ok(backoff_flags(), {spec(ctl, "a")});
  for (int i = 0; i < 4; ++i)
    crash_and_wait(sup, "a");
  auto d = crash_and_wait(sup, "a");
  EXPECT_GE(d, caf::timespan{1s});  // capped at max
  advance(31s);
  d = crash_and_wait(sup, "a");
  EXPECT_GE(d, caf::timespan{100ms});
  EXPECT_LT(d, caf::timespan{150ms});
}

// With a fixed seed the jitter is reproducible.
TEST_F(beyond_otp, backoff_is_reproducible_with_a_seed) {
  auto sup1 = start_ok(backoff_flags(), {spec(ctl, "a")});
  for (int i = 0; i < 4; ++i)
    crash_and_wait(sup1, "a");
  auto first = delays_of(events->events());
  events->clear();
  auto sup2 = start_ok(backoff_flags(), {spec(ctl, "a")});
  for (int i = 0; i < 4; ++i)
    crash_and_wait(sup2, "a");
  EXPECT_EQ(delays_of(events->events()), first);
}

// Backoff works inside group strategies: the whole one_for_all restart waits for the delay,
// then runs in the usual order; one crash still counts once.
TEST_F(beyond_otp, backoff_in_group_restarts) {
  auto sup = start_ok(backoff_flags(strategy::one_for_all), {spec(ctl, "a"), spec(ctl, "b")});
  auto b = child_of(sup, "b");
  reset_trace();
  crash(sup, "a");
  EXPECT_EQ(child_of(sup, "b"), b);
  EXPECT_EQ(row(sup, "a").state, child_state::restarting);
  advance(1s);
  EXPECT_EQ(order(), (strings{"child_terminated:a", "child_shutdown:b", "child_started:a",
                              "child_started:b", "child_restarted:a"}));
  EXPECT_NE(child_of(sup, "b"), b);
  EXPECT_EQ(status(sup).total_restarts, 1u);
}

// Backoff counts toward intensity when the restart is decided; a give-up does not wait for
// any delay.
TEST_F(beyond_otp, backoff_and_intensity) {
  auto f = backoff_flags();
  f.intensity = 1;
  auto sup = start_ok(f, {spec(ctl, "a")});
  crash_and_wait(sup, "a");
  crash(sup, "a");
  EXPECT_FALSE(alive(sup));
}

// A supervisor asked to stop while a restart waits out its delay stops at once; the delayed
// restart never happens.
TEST_F(beyond_otp, backoff_shutdown_during_delay) {
  auto sup = start_ok(backoff_flags(), {spec(ctl, "a"), spec(ctl, "b")});
  crash(sup, "a");
  stop(sup);
  EXPECT_EQ(exit_of(sup), "shutdown");
  advance(2s);
  EXPECT_EQ(ctl->starts["a"], 1);
}

// terminate_child during the delay ends it: the child stays not running.
TEST_F(beyond_otp, backoff_terminate_during_delay) {
  auto sup = start_ok(backoff_flags(), {spec(ctl, "a")});
  crash(sup, "a");
  EXPECT_FALSE(call_ok(sup, terminate_child_atom::value, std::string{"a"}));
  advance(2s);
  EXPECT_EQ(ctl->starts["a"], 1);
  EXPECT_EQ(row(sup, "a").state, child_state::undefined);
}

// The culprit travels up the escalation chain: the root's exit reason names the innermost
// child and its reason.
TEST_F(beyond_otp, culprit_chain) {
  auto mid = supervisor_child("mid", flags(strategy::one_for_one, 0, 3600s),
                              {spec(ctl, "a"), spec(ctl, "w")});
  auto root = start_ok(flags(strategy::one_for_one, 0, 3600s), {mid, spec(ctl, "x")});
  crash(child_of(root, "mid"), "w");
  auto r = exit_reason_of(root);
  ASSERT_TRUE(r);
  EXPECT_TRUE(is_shutdown(*r));
  EXPECT_EQ(describe(*r),
            "shutdown(reached_max_restart_intensity(\"mid\", shutdown("
            "reached_max_restart_intensity(\"w\", runtime_error(\"crash w\")))))");
  // The give-up events name each level's culprit.
  auto evs = events->events();
  std::vector<std::string> give_ups;
  for (auto& e : evs)
    if (e.kind == event_kind::reached_max_restart_intensity)
      give_ups.push_back(e.supervisor + ":" + e.child);
  EXPECT_EQ(give_ups, (strings{"root/mid:w", "root:mid"}));
}

// Restart observability: per-child restart counts, total restarts and the room left in the
// intensity window, in child_status and on the events.
TEST_F(beyond_otp, restart_count_and_intensity_headroom) {
  auto sup = start_ok(flags(strategy::one_for_one, 3, 10s), {spec(ctl, "a"), spec(ctl, "b")});
  auto st = status(sup);
  EXPECT_EQ(st.path, "root");
  EXPECT_EQ(st.intensity, 3);
  EXPECT_EQ(st.intensity_headroom, 3);
  crash(sup, "a");
  crash(sup, "a");
  crash(sup, "b");
  st = status(sup);
  EXPECT_EQ(st.intensity_headroom, 0);
  EXPECT_EQ(st.total_restarts, 3u);
  ASSERT_EQ(st.children.size(), 2u);
  EXPECT_EQ(st.children[0].id, "a");  // start order
  EXPECT_EQ(st.children[0].restart_count, 2u);
  EXPECT_EQ(st.children[1].restart_count, 1u);
  EXPECT_EQ(row(sup, "a").restart_count, 2u);
  std::vector<std::pair<uint32_t, int32_t>> seen;
  for (auto& e : events->events())
    if (e.kind == event_kind::child_restarted)
      seen.emplace_back(e.restart_count, e.intensity_headroom);
  EXPECT_EQ(seen, (std::vector<std::pair<uint32_t, int32_t>>{{1, 2}, {2, 1}, {1, 0}}));
  advance(10s + caf::timespan{1});
  EXPECT_EQ(status(sup).intensity_headroom, 3);
  EXPECT_EQ(status(sup).total_restarts, 3u);
}

// Stable names: a request to lookup(sys, name) reaches the current instance, also after a
// restart, without looking the name up again.
TEST_F(beyond_otp, stable_name_reaches_the_new_instance) {
  auto s = spec(ctl, "a");
  s.name = "svc";
  auto sup = start_ok(flags(), {s});
  auto svc = lookup(sys, "svc");
  ASSERT_TRUE(svc);
  EXPECT_EQ(call<std::string>(*svc, ping_atom::value), "a");
  auto first = child_of(sup, "a");
  crash(sup, "a");
  auto second = child_of(sup, "a");
  ASSERT_NE(first, second);
  EXPECT_EQ(call<std::string>(*svc, ping_atom::value), "a");
  auto info = name_info(sys, "svc");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->state, name_state::bound);
  EXPECT_EQ(info->instance, second);
  EXPECT_ERRC(lookup(sys, "nope"), unknown_name);
}

// Messages sent to a name while its service restarts are kept and delivered to the new
// instance.
TEST_F(beyond_otp, messages_sent_while_restarting_are_delivered) {
  auto s = spec(ctl, "a");
  s.name = "svc";
  auto sup = start_ok(backoff_flags(), {s});
  auto svc = lookup(sys, "svc");
  ASSERT_TRUE(svc);
  crash(sup, "a");
  auto info = name_info(sys, "svc");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->state, name_state::restarting);
  auto answer = request<std::string>(*svc, ping_atom::value);
  run();
  EXPECT_FALSE(answer->has_value());
  EXPECT_EQ(name_info(sys, "svc")->buffered, 1u);
  advance(1s);
  ASSERT_TRUE(answer->has_value());
  ASSERT_TRUE(**answer);
  EXPECT_EQ(***answer, "a");
}

// When the service stops for good (terminate_child, a temporary exit, a give-up), requests
// to its name get service_unavailable.
TEST_F(beyond_otp, requests_after_the_service_stops_get_service_unavailable) {
  auto a = spec(ctl, "a");
  a.name = "svc_a";
  auto t = spec(ctl, "t", restart_type::temporary);
  t.name = "svc_t";
  auto p = spec(ctl, "p");
  p.name = "svc_p";
  auto sup = start_ok(flags(strategy::one_for_one, 0, 1h), {a, t, p});
  EXPECT_FALSE(call_ok(sup, terminate_child_atom::value, std::string{"a"}));
  EXPECT_ERRC(call<std::string>(*lookup(sys, "svc_a"), ping_atom::value), service_unavailable);
  exit_child(sup, "t", normal());
  EXPECT_ERRC(call<std::string>(*lookup(sys, "svc_t"), ping_atom::value), service_unavailable);
  EXPECT_EQ(call<std::string>(*lookup(sys, "svc_p"), ping_atom::value), "p");
  crash(sup, "p");  // intensity 0: the supervisor gives up
  EXPECT_FALSE(alive(sup));
  EXPECT_ERRC(call<std::string>(*lookup(sys, "svc_p"), ping_atom::value), service_unavailable);
  // Restarting a terminated child binds its name again.
  auto sup2 = start_ok(flags(), {a});
  EXPECT_EQ(call<std::string>(*lookup(sys, "svc_a"), ping_atom::value), "a");
}

// Never blocked by a slow start: a restart that hangs fails with start_timeout after the
// child's start timeout, counts toward intensity like any failed restart, and calls are
// served between attempts.
TEST_F(beyond_otp, hanging_restart_times_out) {
  auto calls = std::make_shared<int>(0);
  child_spec s;
  s.id = "a";
  s.start_timeout = 1s;
  s.start = [calls, w = worker(ctl, "a")](caf::local_actor* spawner, start_info info) {
    if ((*calls)++ == 0)
      return w(spawner, std::move(info));
    return never_ready()(spawner, std::move(info));
  };
  auto sup = start_ok(flags(strategy::one_for_one, 2, 1h), {s, spec(ctl, "b")});
  crash(sup, "a");
  auto kids = request<std::vector<child_info>>(sup, which_children_atom::value);
  run();
  EXPECT_FALSE(kids->has_value());  // the supervisor waits for the start ...
  advance(1s);
  ASSERT_TRUE(kids->has_value());   // ... and answers between attempts
  EXPECT_TRUE(alive(sup));
  EXPECT_EQ(events->count(event_kind::start_error, "a"), 1u);
  advance(1s);
  EXPECT_FALSE(alive(sup));
  auto r = exit_reason_of(sup);
  ASSERT_TRUE(r);
  EXPECT_EQ(describe(*r), "shutdown(reached_max_restart_intensity(\"a\", start_timeout(\"a\")))");
}
