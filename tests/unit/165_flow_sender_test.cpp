// Credit-based flow (flow_sender.hpp) on the deterministic scheduler: a producer actor
// with a flow_sender feeds a slow consumer behind a regulator front. The producer never
// has more in flight than the consumer granted, a full producer buffer says buffer_full to
// the producer's callers, nothing accepted is lost or reordered, a lowered grant is
// followed, and a consumer that is not there yet is waited for.
#include <memory>
#include <algorithm>
#include <numeric>
#include <vector>

#include <gtest/gtest.h>

#include "support/deterministic.hpp"
#include "warden/flow_sender.hpp"
#include "warden/regulator.hpp"

using namespace std::chrono_literals;
using namespace warden;
using namespace warden::test;

namespace {

/// A consumer that keeps every item's promise until `(ping_atom, n)` answers the n oldest.
struct sink_log {
  std::vector<int> seen;  // in arrival order
  std::vector<caf::response_promise> held;
};

caf::behavior slow_sink(caf::event_based_actor* self, std::shared_ptr<sink_log> log) {
  return {
    [self, log](int x) {
      log->seen.push_back(x);
      log->held.push_back(self->make_response_promise());
    },
    [log](ping_atom, int n) {
      for (int i = 0; i < n && !log->held.empty(); ++i) {
        log->held.front().deliver(caf::unit);
        log->held.erase(log->held.begin());
      }
    },
  };
}

class flow_test : public deterministic {
protected:
  /// A regulator front (limit 2, queue 3: a grant of 5) before a slow sink.
  void start_consumer(double limit = 2, size_t queue = 3) {
    regulator_settings s;
    s.name = "sink";
    s.limits = {limit, queue, 60s};
    s.call_timeout = 60s;
    s.alarm_after = caf::timespan{0};
    config = std::make_shared<regulator_config>(s);
    sink = sys.spawn(slow_sink, log);
    consumer = spawn_regulator(sys, config, sink);
    run();
  }

  /// The sink answers its `n` oldest items.
  void release(int n) {
    caf::anon_send(sink, ping_atom::value, n);
    run();
  }

  /// A producer actor whose `(int)` offers the int to the flow and answers ok or the error.
  void start_producer(flow_settings fs) {
    auto holder = sender;
    auto route = route_fn;
    producer = sys.spawn([holder, route, fs](caf::event_based_actor* self) -> caf::behavior {
      *holder = std::make_shared<flow_sender>(self, route, fs);
      return {[holder](int x) -> caf::result<ok_atom> {
        if (auto err = (*holder)->offer(caf::make_message(x)))
          return err;
        return ok_atom::value;
      }};
    });
    run();
  }

  flow_stats flow() { return (*sender)->stats(); }

  regulator_stats consumer_stats() {
    auto st = call<regulator_stats>(consumer, stats_atom::value);
    EXPECT_TRUE(st);
    return st ? *st : regulator_stats{};
  }

  ~flow_test() override {
    for (auto* a : {&producer, &consumer, &sink})
      if (*a)
        caf::anon_send_exit(*a, caf::exit_reason::kill);
    run();
  }

  std::shared_ptr<sink_log> log = std::make_shared<sink_log>();
  std::shared_ptr<regulator_config> config;
  caf::actor sink;
  caf::actor consumer;
  caf::actor producer;
  std::shared_ptr<std::shared_ptr<flow_sender>> sender
    = std::make_shared<std::shared_ptr<flow_sender>>();
  flow_sender::route_function route_fn = [this]() -> caf::expected<caf::actor> {
    if (!consumer)
      return make_error(errc::unknown_name, std::string{"sink"});
    return consumer;
  };
};

} // namespace

TEST_F(flow_test, flow_1_never_more_in_flight_than_granted_and_a_full_buffer_says_so) {
  start_consumer();
  start_producer({.name = "to-sink", .buffer = 10});
  std::vector<caf::expected<ok_atom>> answers;
  for (int i = 1; i <= 20; ++i)
    answers.push_back(call<ok_atom>(producer, i));
  // The grant is 5 (2 at once + 3 waiting): 5 in flight, 10 buffered, 5 refused.
  EXPECT_EQ(flow().grant, 5u);
  EXPECT_EQ(flow().in_flight, 5u);
  EXPECT_EQ(flow().buffered, 10u);
  for (int i = 0; i < 20; ++i) {
    if (i < 15) {
      EXPECT_TRUE(answers[i]) << i;
    } else {
      ASSERT_FALSE(answers[i]) << i;
      EXPECT_TRUE(is(answers[i].error(), errc::buffer_full)) << describe(answers[i].error());
    }
  }
  auto st = consumer_stats();
  EXPECT_EQ(st.in_use, 2u);
  EXPECT_EQ(st.queued, 3u);
  EXPECT_EQ(st.rejected, 0u) << "the producer never sent beyond its grant";
  // The consumer works through everything; the producer refills the window as it goes.
  for (int round = 0; round < 10 && log->seen.size() < 15; ++round) {
    release(2);
    EXPECT_LE(flow().in_flight, 5u);
    EXPECT_EQ(consumer_stats().rejected, 0u);
  }
  release(5);
  std::vector<int> expect(15);
  std::iota(expect.begin(), expect.end(), 1);
  EXPECT_EQ(log->seen, expect) << "all accepted items, once, in order";
  EXPECT_EQ(flow().answered, 15u);
  EXPECT_EQ(flow().failed, 0u);
}

TEST_F(flow_test, flow_2_a_lowered_grant_is_followed_after_one_refusal) {
  start_consumer(4, 0);  // grant 4, no queue
  start_producer({.name = "to-sink", .buffer = 100});
  for (int i = 1; i <= 10; ++i)
    ASSERT_TRUE(call<ok_atom>(producer, i));
  EXPECT_EQ(flow().in_flight, 4u);
  // The consumer's limit falls to 1 while 4 are in flight.
  ASSERT_TRUE(call<ok_atom>(consumer, reconfigure_atom::value, regulator_limits{1, 0, 60s}));
  release(4);  // the producer refills while 3 are still held: a refusal stops it
  auto refused = flow().refused;
  EXPECT_GE(refused, 1u);
  EXPECT_EQ(flow().grant, 1u) << "asked again after the refusal";
  // From now on one at a time, never refused again.
  while (flow().in_flight > 0) {
    EXPECT_LE(flow().in_flight, 1u);
    release(1);
  }
  EXPECT_EQ(flow().refused, refused);
  EXPECT_EQ(flow().failed, refused);  // at most once: refused items are not resent
  EXPECT_EQ(flow().answered + refused, 10u);
  EXPECT_TRUE(std::is_sorted(log->seen.begin(), log->seen.end()));
}

TEST_F(flow_test, flow_3_a_consumer_not_there_yet_is_waited_for_without_losing_items) {
  start_producer({.name = "to-sink", .buffer = 10, .regrant_interval = 1s});
  for (int i = 1; i <= 3; ++i)
    ASSERT_TRUE(call<ok_atom>(producer, i));
  EXPECT_EQ(flow().buffered, 3u);
  EXPECT_EQ(flow().sent, 0u);
  start_consumer();
  advance(1s);  // the flow asks again after regrant_interval
  EXPECT_EQ(flow().grant, 5u);
  EXPECT_EQ(flow().in_flight, 3u);
  release(2);  // 2 ran at once (limit 2), the third waited in the front
  release(1);
  EXPECT_EQ(log->seen, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(flow().answered, 3u);
}
