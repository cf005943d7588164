// Circuit breaker (statement 12) and retry with full jitter (statement 13): the pure logic
// on an injected clock and RNG, then actors on the deterministic scheduler guarding and
// retrying requests, including late replies (statement 14).
#include <atomic>
#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/deterministic.hpp"
#include "warden/circuit_breaker.hpp"
#include "warden/errors.hpp"
#include "warden/retry.hpp"

using namespace warden;
using namespace warden::test;
using namespace std::chrono_literals;

namespace {

using time_point = caf::actor_clock::time_point;

const time_point t0{};

caf::error boom() {
  return caf::make_error(caf::sec::runtime_error, std::string{"boom"});
}

breaker_settings small_breaker(std::shared_ptr<recording_sink> events = nullptr) {
  breaker_settings s;
  s.name = "db";
  s.max_failures = 3;
  s.failure_window = 10s;
  s.reset_timeout = 1s;
  s.reset_backoff = 2.0;
  s.max_reset_timeout = 5s;
  s.events = std::move(events);
  s.reporter = "root/api";
  return s;
}

// Fails `n` calls at `at` (each admitted first).
void fail_n(circuit_breaker& cb, time_point at, int n) {
  for (int i = 0; i < n; ++i) {
    ASSERT_FALSE(cb.admit(at));
    cb.on_failure(at, boom());
  }
}

// The ms-to-next-probe context of a circuit_open error (-1 when it has none).
int64_t ms_to_probe(const caf::error& err) {
  if (!is(err, errc::circuit_open) || !err.context().match_elements<std::string, int64_t>())
    return -1;
  return err.context().get_as<int64_t>(1);
}

} // namespace

// --- circuit breaker: pure logic --------------------------------------------------------

TEST(breaker_1, defaults_are_documented_values_and_bad_settings_are_refused) {
  breaker_settings d;
  EXPECT_EQ(d.name, "breaker");
  EXPECT_EQ(d.max_failures, 5u);
  EXPECT_EQ(d.failure_window, caf::timespan{10s});
  EXPECT_EQ(d.reset_timeout, caf::timespan{1s});
  EXPECT_EQ(d.reset_backoff, 2.0);
  EXPECT_EQ(d.max_reset_timeout, caf::timespan{60s});
  EXPECT_FALSE(d.events);
  EXPECT_FALSE(validate(d));
  circuit_breaker cb;
  EXPECT_EQ(cb.state(), breaker_state::closed);
  EXPECT_STREQ(to_string(breaker_state::half_open), "half_open");

  auto bad = [](auto change) {
    breaker_settings s;
    change(s);
    return s;
  };
  std::vector<breaker_settings> wrong{
    bad([](breaker_settings& s) { s.max_failures = 0; }),
    bad([](breaker_settings& s) { s.failure_window = caf::timespan{0}; }),
    bad([](breaker_settings& s) { s.reset_timeout = caf::timespan{-1}; }),
    bad([](breaker_settings& s) { s.reset_backoff = 0.5; }),
    bad([](breaker_settings& s) { s.max_reset_timeout = 500ms; }),
  };
  for (auto& s : wrong) {
    EXPECT_TRUE(is(validate(s), errc::bad_config));
    EXPECT_THROW(circuit_breaker{s}, std::invalid_argument);
  }
}

TEST(breaker_2, opens_at_max_failures_within_the_window_only) {
  circuit_breaker cb{small_breaker()};
  fail_n(cb, t0, 2);
  cb.on_success(t0 + 1s);  // successes do not clear failures (fuse, not Akka)
  EXPECT_EQ(cb.state(), breaker_state::closed);
  // 10.5 s later the first two failures are older than the window: forgotten.
  fail_n(cb, t0 + 10500ms, 2);
  EXPECT_EQ(cb.state(), breaker_state::closed);
  // A third failure within 10 s of the previous two opens it.
  fail_n(cb, t0 + 11s, 1);
  EXPECT_EQ(cb.state(), breaker_state::open);
  EXPECT_EQ(cb.counters().failures, 5u);
  EXPECT_EQ(cb.counters().successes, 1u);
  EXPECT_EQ(cb.counters().opened, 1u);
}

TEST(breaker_3, open_fails_fast_with_circuit_open_until_the_reset_timeout) {
  circuit_breaker cb{small_breaker()};
  fail_n(cb, t0, 3);
  auto err = cb.admit(t0 + 250ms);
  ASSERT_TRUE(is(err, errc::circuit_open));
  EXPECT_EQ(err.context().get_as<std::string>(0), "db");
  EXPECT_EQ(ms_to_probe(err), 750);
  EXPECT_EQ(ms_to_probe(cb.admit(t0 + 999500us)), 1);  // rounded up, never 0 while open
  EXPECT_EQ(cb.state(), breaker_state::open);
  // Late outcomes of calls admitted before it opened change nothing.
  cb.on_failure(t0 + 300ms, boom());
  cb.on_success(t0 + 300ms);
  EXPECT_EQ(cb.state(), breaker_state::open);
  EXPECT_EQ(cb.counters().admitted, 3u);
  EXPECT_EQ(cb.counters().rejected, 2u);
  EXPECT_EQ(cb.counters().opened, 1u);
}

TEST(breaker_4, half_open_admits_exactly_one_probe_and_success_closes) {
  circuit_breaker cb{small_breaker()};
  fail_n(cb, t0, 3);
  EXPECT_FALSE(cb.admit(t0 + 1s));  // the probe
  EXPECT_EQ(cb.state(), breaker_state::half_open);
  for (int i = 0; i < 5; ++i) {
    auto err = cb.admit(t0 + 1s + i * 1ms);
    EXPECT_TRUE(is(err, errc::circuit_open));
    EXPECT_EQ(ms_to_probe(err), 1000);  // the current reset timeout
  }
  cb.on_success(t0 + 1100ms);
  EXPECT_EQ(cb.state(), breaker_state::closed);
  EXPECT_FALSE(cb.admit(t0 + 1100ms));
  EXPECT_FALSE(cb.admit(t0 + 1100ms));
  // Closing cleared the failure count: it takes three new failures to open again.
  fail_n(cb, t0 + 1200ms, 2);
  EXPECT_EQ(cb.state(), breaker_state::closed);
  EXPECT_EQ(cb.counters().admitted, 8u);
  EXPECT_EQ(cb.counters().rejected, 5u);
}

TEST(breaker_5, failed_probe_reopens_with_a_longer_capped_timeout_and_success_resets_it) {
  circuit_breaker cb{small_breaker()};
  fail_n(cb, t0, 3);
  auto t = t0;
  // Probe failures: 1 s -> 2 s -> 4 s -> 5 s (cap) -> 5 s.
  for (auto expected : {2s, 4s, 5s, 5s}) {
    t += cb.current_reset_timeout();
    EXPECT_TRUE(is(cb.admit(t - 1ms), errc::circuit_open));  // not yet
    ASSERT_FALSE(cb.admit(t));                                // the probe
    cb.on_failure(t + 10ms, boom());
    EXPECT_EQ(cb.state(), breaker_state::open);
    EXPECT_EQ(cb.current_reset_timeout(), caf::timespan{expected});
    t += 10ms;
  }
  EXPECT_EQ(cb.counters().opened, 5u);
  t += 5s;
  ASSERT_FALSE(cb.admit(t));
  cb.on_success(t);
  EXPECT_EQ(cb.state(), breaker_state::closed);
  EXPECT_EQ(cb.current_reset_timeout(), caf::timespan{1s});
  fail_n(cb, t, 3);
  EXPECT_EQ(ms_to_probe(cb.admit(t)), 1000);
}

TEST(breaker_6, every_state_change_publishes_a_lifecycle_event) {
  auto rec = std::make_shared<recording_sink>();
  circuit_breaker cb{small_breaker(rec)};
  fail_n(cb, t0, 3);
  ASSERT_FALSE(cb.admit(t0 + 1s));
  cb.on_failure(t0 + 1s, caf::make_error(caf::sec::request_timeout));
  ASSERT_FALSE(cb.admit(t0 + 3s));
  cb.on_success(t0 + 3s);
  EXPECT_EQ(rec->names(), (std::vector<std::string>{"breaker_opened", "breaker_half_open",
                                                    "breaker_opened", "breaker_half_open",
                                                    "breaker_closed"}));
  auto evs = rec->events();
  for (auto& ev : evs) {
    EXPECT_EQ(ev.supervisor, "root/api");
    EXPECT_EQ(ev.child, "db");
  }
  EXPECT_EQ(evs[0].reason, boom());
  EXPECT_EQ(evs[0].detail, "failures=3 window_ms=10000 reset_ms=1000");
  EXPECT_EQ(evs[1].detail, "reset_ms=1000");
  EXPECT_EQ(evs[2].reason, caf::sec::request_timeout);
  EXPECT_EQ(evs[2].detail, "probe_failed reset_ms=2000");
  EXPECT_EQ(evs[4].detail, "reset_ms=2000");
  EXPECT_EQ(severity(evs[0]), log_level::warn);
  EXPECT_EQ(severity(evs[4]), log_level::info);
}

TEST(breaker_7, shared_breaker_keeps_its_counts_across_threads) {
  breaker_settings s = small_breaker();
  s.max_failures = 1000000;  // stays closed: every call is admitted
  shared_circuit_breaker cb{s};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&cb] {
      for (int j = 0; j < 10000; ++j) {
        if (!cb.admit(t0))
          cb.on_failure(t0, boom());
      }
    });
  for (auto& th : threads)
    th.join();
  auto c = cb.counters();
  EXPECT_EQ(c.admitted, 40000u);
  EXPECT_EQ(c.failures, 40000u);
  EXPECT_EQ(cb.state(), breaker_state::closed);
  shared_circuit_breaker tiny{small_breaker()};
  for (int i = 0; i < 3; ++i) {
    ASSERT_FALSE(tiny.admit(t0));
    tiny.on_failure(t0, boom());
  }
  EXPECT_TRUE(is(tiny.admit(t0), errc::circuit_open));
  EXPECT_EQ(tiny.state(), breaker_state::open);
}

// --- circuit breaker guarding an actor's requests ---------------------------------------

namespace {

using go_atom = caf::atom_constant<caf::atom("go")>;
using release_atom = caf::atom_constant<caf::atom("release")>;

// A dependency that answers "pong" while `answer` is set and otherwise keeps the request
// unanswered until told to release it.
struct dependency {
  int received = 0;
  bool answer = false;
};

caf::behavior dependency_actor(caf::event_based_actor* self, std::shared_ptr<dependency> st) {
  auto held = std::make_shared<std::vector<caf::response_promise>>();
  return {
    [=](ping_atom) {
      ++st->received;
      auto rp = self->make_response_promise();
      if (st->answer)
        rp.deliver(std::string{"pong"});
      else
        held->push_back(rp);
    },
    [=](release_atom) {
      for (auto& rp : *held)
        rp.deliver(std::string{"late pong"});
      held->clear();
    },
  };
}

// What the guarded client saw: "ok:<answer>", "failed:<error>" or "fast:<error>".
struct client_log {
  std::vector<std::string> outcomes;
  int unexpected = 0;  // messages that reached the default handler
};

// Guards each request to `dep` with `cb` (the pattern of circuit_breaker.hpp).
caf::behavior client_actor(caf::event_based_actor* self, caf::actor dep,
                           std::shared_ptr<circuit_breaker> cb, std::shared_ptr<client_log> log) {
  self->set_default_handler(
    [log](caf::scheduled_actor*, caf::message_view&) -> caf::result<caf::message> {
      ++log->unexpected;
      return caf::message{};
    });
  return {
    [=](go_atom) {
      if (auto err = cb->admit(self->clock().now())) {
        log->outcomes.push_back("fast:" + describe(err));
        return;
      }
      self->request(dep, 100ms, ping_atom::value)
        .then(
          [=](std::string& answer) {
            cb->on_success(self->clock().now());
            log->outcomes.push_back("ok:" + answer);
          },
          [=](caf::error& err) {
            cb->on_failure(self->clock().now(), err);
            log->outcomes.push_back("failed:" + describe(err));
          });
    },
  };
}

class breaker_8 : public deterministic {};
class breaker_9 : public deterministic {};

} // namespace

TEST_F(breaker_8, timeouts_trip_it_open_calls_fail_fast_unsent_one_probe_closes) {
  auto st = std::make_shared<dependency>();
  auto log = std::make_shared<client_log>();
  auto cb = std::make_shared<circuit_breaker>(small_breaker(events));
  auto dep = sys.spawn(dependency_actor, st);
  auto client = sys.spawn(client_actor, dep, cb, log);
  auto go = [&] {
    caf::anon_send(client, go_atom::value);
    run();
  };
  // Three requests that never get an answer: each times out after 100 ms.
  for (int i = 1; i <= 3; ++i) {
    go();
    EXPECT_EQ(st->received, i);
    EXPECT_EQ(cb->state(), breaker_state::closed);
    advance(100ms);
  }
  EXPECT_EQ(cb->state(), breaker_state::open);
  ASSERT_EQ(log->outcomes.size(), 3u);
  for (auto& o : log->outcomes)
    EXPECT_NE(o.find("request_timeout"), std::string::npos) << o;
  // Open: calls fail fast and nothing reaches the dependency.
  go();
  advance(999ms);  // t = 1.299 s, the breaker opened at 0.3 s
  go();
  EXPECT_EQ(st->received, 3);
  ASSERT_EQ(log->outcomes.size(), 5u);
  EXPECT_NE(log->outcomes[3].find("circuit_open"), std::string::npos) << log->outcomes[3];
  EXPECT_NE(log->outcomes[4].find("circuit_open"), std::string::npos) << log->outcomes[4];
  // Reset timeout passed: one probe goes, a second call fails fast while it is out.
  st->answer = true;
  advance(1ms);
  caf::anon_send(client, go_atom::value);
  caf::anon_send(client, go_atom::value);
  run();
  EXPECT_EQ(st->received, 4);
  ASSERT_EQ(log->outcomes.size(), 7u);
  EXPECT_NE(log->outcomes[5].find("circuit_open"), std::string::npos) << log->outcomes[5];
  EXPECT_EQ(log->outcomes[6], "ok:pong");
  EXPECT_EQ(cb->state(), breaker_state::closed);
  go();
  EXPECT_EQ(st->received, 5);
  EXPECT_EQ(log->outcomes.back(), "ok:pong");
  EXPECT_EQ(trace({event_kind::breaker_opened, event_kind::breaker_half_open,
                   event_kind::breaker_closed}),
            (std::vector<std::string>{"breaker_opened:db", "breaker_half_open:db",
                                      "breaker_closed:db"}));
  auto c = cb->counters();
  EXPECT_EQ(c.admitted, 5u);
  EXPECT_EQ(c.rejected, 3u);
  EXPECT_EQ(c.failures, 3u);
  EXPECT_EQ(c.successes, 2u);
  EXPECT_EQ(log->unexpected, 0);
}

TEST_F(breaker_9, a_reply_after_the_request_timeout_is_dropped) {
  auto st = std::make_shared<dependency>();
  auto log = std::make_shared<client_log>();
  auto cb = std::make_shared<circuit_breaker>(small_breaker(events));
  auto dep = sys.spawn(dependency_actor, st);
  auto client = sys.spawn(client_actor, dep, cb, log);
  caf::anon_send(client, go_atom::value);
  run();
  advance(100ms);
  ASSERT_EQ(log->outcomes.size(), 1u);
  caf::anon_send(dep, release_atom::value);  // the dependency answers, too late
  run();
  EXPECT_EQ(log->outcomes.size(), 1u);  // the then-handler saw only the timeout
  EXPECT_EQ(log->unexpected, 0);        // and the late reply went nowhere else either
  EXPECT_EQ(cb->counters().failures, 1u);
  EXPECT_EQ(cb->counters().successes, 0u);
  // The same release within the timeout is an answer: the drop above was the timeout's.
  caf::anon_send(client, go_atom::value);
  run();
  advance(99ms);
  caf::anon_send(dep, release_atom::value);
  run();
  ASSERT_EQ(log->outcomes.size(), 2u);
  EXPECT_EQ(log->outcomes[1], "ok:late pong");
  EXPECT_EQ(cb->counters().successes, 1u);
}

// --- retry: pure logic ------------------------------------------------------------------

TEST(retry_1, defaults_and_validation) {
  retry_settings d;
  EXPECT_EQ(d.max_attempts, 5u);
  EXPECT_EQ(d.base, caf::timespan{100ms});
  EXPECT_EQ(d.cap, caf::timespan{10s});
  EXPECT_FALSE(d.retryable);
  EXPECT_FALSE(validate(d));
  retry_settings zero;
  zero.max_attempts = 0;
  retry_settings no_base;
  no_base.base = caf::timespan{0};
  retry_settings low_cap;
  low_cap.cap = 50ms;
  for (auto& s : {zero, no_base, low_cap}) {
    EXPECT_TRUE(is(validate(s), errc::bad_config));
    EXPECT_THROW(retry_state{s}, std::invalid_argument);
  }
}

TEST(retry_2, transient_errors_are_retryable_by_default_others_not) {
  for (auto code : {errc::call_timeout, errc::node_down, errc::node_unavailable, errc::rejected,
                    errc::queue_timeout, errc::circuit_open, errc::service_restarting,
                    errc::buffer_full})
    EXPECT_TRUE(is_transient(make_error(code))) << to_string(code);
  EXPECT_TRUE(is_transient(caf::make_error(caf::sec::request_timeout)));
  EXPECT_TRUE(is_transient(caf::make_error(caf::sec::request_receiver_down)));
  for (auto code : {errc::bad_config, errc::unknown_name, errc::fenced, errc::retries_exhausted,
                    errc::service_unavailable, errc::not_found})
    EXPECT_FALSE(is_transient(make_error(code))) << to_string(code);
  EXPECT_FALSE(is_transient(caf::make_error(caf::sec::runtime_error)));
  EXPECT_FALSE(is_transient(caf::error{}));
  // Same code, other category: not transient.
  EXPECT_FALSE(is_transient(caf::error{static_cast<uint8_t>(errc::call_timeout),
                                       caf::atom("other")}));
}

TEST(retry_3, the_bound_doubles_up_to_the_cap_without_overflow) {
  retry_settings s;
  EXPECT_EQ(full_jitter_bound(s, 0), caf::timespan{100ms});
  EXPECT_EQ(full_jitter_bound(s, 1), caf::timespan{200ms});
  EXPECT_EQ(full_jitter_bound(s, 6), caf::timespan{6400ms});
  EXPECT_EQ(full_jitter_bound(s, 7), caf::timespan{10s});
  for (uint32_t k : {40u, 62u, 63u, 64u, 1000u, UINT32_MAX})
    EXPECT_EQ(full_jitter_bound(s, k), caf::timespan{10s}) << k;
  retry_settings huge;
  huge.base = caf::timespan{1};
  huge.cap = caf::timespan::max();
  EXPECT_EQ(full_jitter_bound(huge, 62), caf::timespan{int64_t{1} << 62});
  EXPECT_EQ(full_jitter_bound(huge, 63), caf::timespan::max());
}

TEST(retry_4, delays_stay_within_the_bound_and_average_half_of_it) {
  retry_settings s;
  std::mt19937_64 rng{2024};
  const int draws = 20000;
  for (uint32_t k = 0; k <= 40; ++k) {
    auto bound = full_jitter_bound(s, k);
    double sum = 0;
    caf::timespan lo = caf::timespan::max();
    caf::timespan hi{0};
    for (int i = 0; i < draws; ++i) {
      auto d = full_jitter_delay(s, k, rng);
      ASSERT_GE(d.count(), 0) << "k=" << k;
      ASSERT_LE(d, bound) << "k=" << k;
      ASSERT_LE(d, s.cap) << "k=" << k;
      sum += static_cast<double>(d.count());
      lo = std::min(lo, d);
      hi = std::max(hi, d);
    }
    auto b = static_cast<double>(bound.count());
    EXPECT_NEAR(sum / draws / b, 0.5, 0.02) << "k=" << k;  // sd of the mean ~0.002
    EXPECT_LT(static_cast<double>(lo.count()) / b, 0.01) << "k=" << k;
    EXPECT_GT(static_cast<double>(hi.count()) / b, 0.99) << "k=" << k;
  }
}

TEST(retry_5, the_same_seed_gives_the_same_delays) {
  retry_settings s;
  auto series = [&](uint64_t seed) {
    std::mt19937_64 rng{seed};
    std::vector<caf::timespan> out;
    for (uint32_t k = 0; k < 20; ++k)
      out.push_back(full_jitter_delay(s, k, rng));
    return out;
  };
  EXPECT_EQ(series(7), series(7));
  EXPECT_NE(series(7), series(8));
}

TEST(retry_6, max_attempts_are_kept_then_retries_exhausted_names_attempts_and_last_error) {
  retry_settings s;  // 5 attempts
  retry_state r{s};
  std::mt19937_64 rng{1};
  std::mt19937_64 ref{1};
  for (uint32_t k = 0; k < 4; ++k) {
    auto d = r.on_failure(make_error(errc::node_down), rng);
    ASSERT_TRUE(d) << "attempt " << k + 1;
    EXPECT_EQ(*d, full_jitter_delay(s, k, ref));  // retry k waits with bound base * 2^k
  }
  auto last = caf::make_error(caf::sec::request_timeout);
  auto end = r.on_failure(last, rng);
  ASSERT_FALSE(end);
  EXPECT_TRUE(is(end.error(), errc::retries_exhausted));
  ASSERT_TRUE((end.error().context().match_elements<uint32_t, caf::error>()));
  EXPECT_EQ(end.error().context().get_as<uint32_t>(0), 5u);
  EXPECT_EQ(end.error().context().get_as<caf::error>(1), last);
  EXPECT_EQ(r.attempts(), 5u);

  retry_settings once;
  once.max_attempts = 1;
  retry_state r1{once};
  EXPECT_TRUE(is(r1.on_failure(make_error(errc::rejected), rng).error(),
                 errc::retries_exhausted));
}

TEST(retry_7, non_retryable_errors_end_at_once_with_the_error_itself) {
  std::mt19937_64 rng{1};
  for (auto code : {errc::bad_config, errc::unknown_name, errc::fenced}) {
    retry_state r{retry_settings{}};
    auto err = make_error(code, std::string{"why"});
    auto d = r.on_failure(err, rng);
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error(), err);
    EXPECT_EQ(r.attempts(), 1u);
  }
  // A user predicate replaces the default: here only runtime_error is retried.
  retry_settings mine;
  mine.retryable = [](const caf::error& e) { return e == caf::sec::runtime_error; };
  retry_state r{mine};
  EXPECT_TRUE(r.on_failure(boom(), rng));
  auto d = r.on_failure(make_error(errc::node_down), rng);
  ASSERT_FALSE(d);
  EXPECT_TRUE(is(d.error(), errc::node_down));
}

// --- retry in an actor ------------------------------------------------------------------

namespace {

using again_atom = caf::atom_constant<caf::atom("again")>;

struct retry_log {
  std::vector<time_point> attempts;  // when the dependency saw each request
  std::optional<caf::expected<int>> result;
};

struct retrier_state {
  retry_state retry;
  std::mt19937_64 rng;
};

// Asks `dep` until it answers or the retry state gives up; waits with delayed sends.
caf::behavior retrier_actor(caf::stateful_actor<retrier_state>* self, caf::actor dep,
                            retry_settings s, uint64_t seed, std::shared_ptr<retry_log> log) {
  self->state.retry = retry_state{std::move(s)};
  self->state.rng.seed(seed);
  self->send(self, again_atom::value);
  return {
    [=](again_atom) {
      self->request(dep, 1s, ping_atom::value)
        .then([=](int x) { log->result = x; },
              [=](caf::error& err) {
                auto delay = self->state.retry.on_failure(err, self->state.rng);
                if (delay)
                  self->delayed_send(self, *delay, again_atom::value);
                else
                  log->result = delay.error();
              });
    },
  };
}

class retry_8 : public deterministic {};

} // namespace

TEST_F(retry_8, an_actor_retries_after_exact_jittered_waits_until_the_dependency_answers) {
  auto log = std::make_shared<retry_log>();
  auto dep = sys.spawn([log](caf::event_based_actor* self) -> caf::behavior {
    return {[=](ping_atom) -> caf::result<int> {
      log->attempts.push_back(self->clock().now());
      if (log->attempts.size() <= 2)
        return make_error(errc::node_unavailable, std::string{"dep"});
      return 42;
    }};
  });
  retry_settings s;
  const uint64_t seed = 11;
  std::mt19937_64 ref{seed};
  auto w0 = full_jitter_delay(s, 0, ref);  // in [0, 100 ms]
  auto w1 = full_jitter_delay(s, 1, ref);  // in [0, 200 ms]
  ASSERT_GT(w0, caf::timespan{1ms});
  ASSERT_GT(w1, caf::timespan{1ms});
  sys.spawn(retrier_actor, dep, s, seed, log);
  run();
  ASSERT_EQ(log->attempts.size(), 1u);
  auto start = log->attempts[0];
  advance(w0 - caf::timespan{1});
  EXPECT_EQ(log->attempts.size(), 1u);  // not a nanosecond early
  advance(caf::timespan{1});
  ASSERT_EQ(log->attempts.size(), 2u);
  EXPECT_EQ(log->attempts[1] - start, w0);
  advance(w1 - caf::timespan{1});
  EXPECT_EQ(log->attempts.size(), 2u);
  advance(caf::timespan{1});
  ASSERT_EQ(log->attempts.size(), 3u);
  EXPECT_EQ(log->attempts[2] - start, w0 + w1);
  ASSERT_TRUE(log->result);
  ASSERT_TRUE(*log->result);
  EXPECT_EQ(**log->result, 42);
}

// --- visibility: breakers listed in the actor system --------------------------------------

class breaker_10 : public deterministic {};
TEST_F(breaker_10, a_listed_breaker_shows_in_running_breakers_while_it_is_in_use) {
  EXPECT_TRUE(running_breakers(sys).empty());
  auto s = small_breaker();
  s.name = "db";
  auto b = make_listed_breaker(sys, s);
  for (int i = 0; i < 3; ++i) {
    ASSERT_FALSE(b->admit(t0));
    b->on_failure(t0, boom());
  }
  auto listed = running_breakers(sys);
  ASSERT_EQ(listed.size(), 1u);
  auto snap = listed[0]->snapshot();
  EXPECT_EQ(snap.name, "db");
  EXPECT_EQ(snap.state, breaker_state::open);
  EXPECT_EQ(snap.counters.failures, 3u);
  EXPECT_EQ(snap.counters.opened, 1u);
  EXPECT_EQ(snap.reset_timeout, s.reset_timeout);
  listed.clear();
  b.reset();  // its last user dropped it: no longer listed
  EXPECT_TRUE(running_breakers(sys).empty());
}
