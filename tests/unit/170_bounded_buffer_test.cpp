// Bounded buffers (statements 9 and 10): the pure buffer, then the buffer actor on the
// deterministic scheduler with its injected clock.
#include <random>

#include <gtest/gtest.h>

#include "support/deterministic.hpp"
#include "warden/bounded_buffer.hpp"

using namespace warden;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> fill(overflow_policy p, std::vector<push_result>* results = nullptr) {
  bounded_buffer<std::string> b{3, p};
  for (auto x : {"a", "b", "c", "d", "e"}) {
    auto r = b.push(x);
    if (results)
      results->push_back(r);
  }
  return b.take(10);
}

using strings = std::vector<std::string>;

/// The strings held in buffered messages, in order.
strings texts(const std::vector<caf::message>& xs) {
  strings out;
  for (auto& x : xs)
    out.push_back(x.match_elements<std::string>() ? x.get_as<std::string>(0) : "?");
  return out;
}

/// A registered-looking user type carried through the buffer.
struct reading {
  std::string sensor;
  int value = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, reading& x) {
  return f(caf::meta::type_name("test.reading"), x.sensor, x.value);
}

} // namespace

// --- the pure buffer ---

TEST(buffer_1, statement_9_each_policy) {
  std::vector<push_result> r;
  EXPECT_EQ(fill(overflow_policy::keep_old, &r), (strings{"a", "b", "c"}));
  EXPECT_EQ(r[3], push_result::dropped_new);
  r.clear();
  EXPECT_EQ(fill(overflow_policy::drop_oldest, &r), (strings{"c", "d", "e"}));
  EXPECT_EQ(r[2], push_result::accepted);
  EXPECT_EQ(r[3], push_result::dropped_oldest);
  r.clear();
  EXPECT_EQ(fill(overflow_policy::reject_new, &r), (strings{"a", "b", "c"}));
  EXPECT_EQ(r[4], push_result::rejected);
}

TEST(buffer_2, counters_per_kind) {
  bounded_buffer<int> keep{3, overflow_policy::keep_old};
  bounded_buffer<int> drop{3, overflow_policy::drop_oldest};
  bounded_buffer<int> reject{3, overflow_policy::reject_new};
  for (int i = 0; i < 5; ++i) {
    keep.push(i);
    drop.push(i);
    reject.push(i);
  }
  EXPECT_EQ(keep.counters().accepted, 3u);
  EXPECT_EQ(keep.counters().dropped_new, 2u);
  EXPECT_EQ(keep.counters().dropped(), 2u);
  EXPECT_EQ(drop.counters().accepted, 5u);
  EXPECT_EQ(drop.counters().dropped_oldest, 2u);
  EXPECT_EQ(reject.counters().rejected, 2u);
  EXPECT_EQ(reject.counters().dropped(), 0u);
  EXPECT_EQ(reject.counters().peak_size, 3u);
}

TEST(buffer_3, take_removes_oldest_in_order) {
  bounded_buffer<int> b{10, overflow_policy::reject_new};
  for (int i = 0; i < 5; ++i)
    b.push(i);
  EXPECT_EQ(b.take(2), (std::vector<int>{0, 1}));
  EXPECT_EQ(b.take(0), std::vector<int>{});
  EXPECT_EQ(b.take(10), (std::vector<int>{2, 3, 4}));
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.counters().taken, 5u);
  EXPECT_EQ(bounded_buffer<int>(0, overflow_policy::keep_old).capacity(), 1u);
}

TEST(buffer_4, resize_drops_per_policy_and_counts) {
  bounded_buffer<int> drop{5, overflow_policy::drop_oldest};
  bounded_buffer<int> keep{5, overflow_policy::keep_old};
  for (int i = 0; i < 5; ++i) {
    drop.push(i);
    keep.push(i);
  }
  EXPECT_EQ(drop.resize(2), 3u);
  EXPECT_EQ(keep.resize(2), 3u);
  EXPECT_EQ(drop.take(5), (std::vector<int>{3, 4}));  // the newest stay
  EXPECT_EQ(keep.take(5), (std::vector<int>{0, 1}));  // the oldest stay
  EXPECT_EQ(drop.counters().dropped_on_resize, 3u);
  drop.push(9);
  EXPECT_TRUE(drop.put_back(4));   // taken earlier, unused: back to the front
  EXPECT_FALSE(drop.put_back(3));  // full: the oldest is dropped
  EXPECT_EQ(drop.counters().taken, 0u);
  EXPECT_EQ(drop.counters().dropped_oldest, 1u);
  EXPECT_EQ(drop.take(5), (std::vector<int>{4, 9}));
  EXPECT_EQ(keep.resize(4), 0u);
  for (int i = 0; i < 6; ++i)
    keep.push(i);
  EXPECT_EQ(keep.size(), 4u);
}

// Statement 10, pure: 10 000 pushes into 100 slots, any policy, random takes and
// resizes in between, never hold more than the capacity, and every item is accounted for.
TEST(buffer_5, memory_bound_property) {
  std::mt19937_64 rng{2024};
  for (auto p : {overflow_policy::reject_new, overflow_policy::drop_oldest,
                 overflow_policy::keep_old}) {
    bounded_buffer<int> b{100, p};
    uint64_t pushes = 0;
    for (int i = 0; i < 10000; ++i) {
      b.push(i);
      ++pushes;
      ASSERT_LE(b.size(), 100u);
      if (rng() % 50 == 0)
        b.take(rng() % 20);
      if (rng() % 1000 == 0)
        b.resize(50 + rng() % 51);
      ASSERT_LE(b.size(), b.capacity());
    }
    auto& c = b.counters();
    EXPECT_LE(c.peak_size, 100u);
    EXPECT_EQ(pushes, c.accepted + c.rejected + c.dropped_new) << to_string(p);
    EXPECT_EQ(c.accepted, b.size() + c.taken + c.dropped_oldest + c.dropped_on_resize);
  }
}

// --- the buffer actor ---

class buffer_actor_test : public warden::test::deterministic {
protected:
  caf::actor buffer(buffer_settings s) {
    auto b = spawn_bounded_buffer(sys, std::move(s));
    buffers_.push_back(b);
    run();
    return b;
  }

  buffer_stats stats(const caf::actor& b) {
    auto res = call<buffer_stats>(b, stats_atom::value);
    EXPECT_TRUE(res);
    return res ? *res : buffer_stats{};
  }

  strings take(const caf::actor& b, uint32_t n) {
    auto res = call<std::vector<caf::message>>(b, take_atom::value, n, caf::timespan{0});
    EXPECT_TRUE(res) << describe(res.error());
    return res ? texts(*res) : strings{};
  }

  void send_all(const caf::actor& b, const strings& xs) {
    for (auto& x : xs)
      caf::anon_send(b, x);
    run();
  }

  ~buffer_actor_test() override {
    for (auto& b : buffers_)
      caf::anon_send_exit(b, caf::exit_reason::kill);
    run();
  }

  std::vector<caf::actor> buffers_;
};

using buffer_6 = buffer_actor_test;
TEST_F(buffer_6, statement_9_through_the_actor) {
  strings all{"a", "b", "c", "d", "e"};
  auto keep = buffer({.name = "keep", .capacity = 3, .policy = overflow_policy::keep_old});
  auto drop = buffer({.name = "drop", .capacity = 3, .policy = overflow_policy::drop_oldest});
  auto reject = buffer({.name = "rej", .capacity = 3, .policy = overflow_policy::reject_new});
  send_all(keep, all);
  send_all(drop, all);
  send_all(reject, all);
  auto sk = stats(keep);
  EXPECT_EQ(sk.size, 3u);
  EXPECT_EQ(sk.counters.dropped_new, 2u);
  EXPECT_EQ(stats(drop).counters.dropped_oldest, 2u);
  EXPECT_EQ(stats(reject).counters.rejected, 2u);
  EXPECT_EQ(take(keep, 10), (strings{"a", "b", "c"}));
  EXPECT_EQ(take(drop, 10), (strings{"c", "d", "e"}));
  EXPECT_EQ(take(reject, 2), (strings{"a", "b"}));
  EXPECT_EQ(take(reject, 2), (strings{"c"}));
  EXPECT_EQ(stats(drop).counters.taken, 3u);
}

using buffer_7 = buffer_actor_test;
TEST_F(buffer_7, post_says_full_at_once) {
  auto rej = buffer({.name = "rej", .capacity = 2, .policy = overflow_policy::reject_new});
  auto keep = buffer({.name = "keep", .capacity = 2, .policy = overflow_policy::keep_old});
  auto drop = buffer({.name = "drop", .capacity = 2, .policy = overflow_policy::drop_oldest});
  for (auto& b : {rej, keep, drop}) {
    EXPECT_FALSE(call_ok(b, post_atom::value, caf::make_message(std::string{"a"})));
    EXPECT_FALSE(call_ok(b, post_atom::value, caf::make_message(std::string{"b"})));
  }
  // One run, no time passes: the answer is there at once.
  auto r1 = request<ok_atom>(rej, post_atom::value, caf::make_message(std::string{"c"}));
  auto r2 = request<ok_atom>(keep, post_atom::value, caf::make_message(std::string{"c"}));
  auto r3 = request<ok_atom>(drop, post_atom::value, caf::make_message(std::string{"c"}));
  run();
  ASSERT_TRUE(*r1 && *r2 && *r3);
  ASSERT_FALSE(**r1);
  EXPECT_TRUE(is((*r1)->error(), errc::buffer_full)) << describe((*r1)->error());
  EXPECT_NE(describe((*r1)->error()).find("rej"), std::string::npos);
  ASSERT_FALSE(**r2);
  EXPECT_TRUE(is((*r2)->error(), errc::buffer_full));
  EXPECT_TRUE(**r3);  // drop_oldest always takes the new item
  EXPECT_EQ(take(drop, 5), (strings{"b", "c"}));
  EXPECT_EQ(take(rej, 5), (strings{"a", "b"}));
}

using buffer_8 = buffer_actor_test;
TEST_F(buffer_8, post_wait_is_released_by_a_take_in_order) {
  auto b = buffer({.capacity = 1, .policy = overflow_policy::drop_oldest});
  send_all(b, {"a"});
  auto w1 = request<ok_atom>(b, post_wait_atom::value, caf::make_message(std::string{"b"}),
                             caf::timespan{1s});
  auto w2 = request<ok_atom>(b, post_wait_atom::value, caf::make_message(std::string{"c"}),
                             caf::timespan{1s});
  run();
  EXPECT_FALSE(*w1);
  EXPECT_FALSE(*w2);
  EXPECT_EQ(stats(b).waiting_posters, 2u);
  EXPECT_EQ(take(b, 1), (strings{"a"}));
  ASSERT_TRUE(*w1);
  EXPECT_TRUE(**w1);
  EXPECT_FALSE(*w2);  // FIFO: the second waits for the next free slot
  EXPECT_EQ(take(b, 1), (strings{"b"}));
  ASSERT_TRUE(*w2);
  EXPECT_TRUE(**w2);
  EXPECT_EQ(take(b, 1), (strings{"c"}));
  advance(2s);  // the stale timers change nothing
  EXPECT_EQ(stats(b).timed_out, 0u);
}

using buffer_9 = buffer_actor_test;
TEST_F(buffer_9, post_wait_times_out_at_exactly_max_wait_and_is_never_buffered) {
  auto b = buffer({.capacity = 1, .max_waiting = 1});
  send_all(b, {"a"});
  auto w = request<ok_atom>(b, post_wait_atom::value, caf::make_message(std::string{"late"}),
                            caf::timespan{250ms});
  run();
  // A second waiter exceeds max_waiting: full at once.
  auto w2 = request<ok_atom>(b, post_wait_atom::value, caf::make_message(std::string{"x"}),
                             caf::timespan{250ms});
  run();
  ASSERT_TRUE(*w2);
  EXPECT_TRUE(is((*w2)->error(), errc::buffer_full));
  advance(250ms - 1ns);
  EXPECT_FALSE(*w);
  advance(1ns);
  ASSERT_TRUE(*w);
  ASSERT_FALSE(**w);
  EXPECT_TRUE(is((*w)->error(), errc::buffer_full));
  EXPECT_NE(describe((*w)->error()).find("waited 250 ms"), std::string::npos)
    << describe((*w)->error());
  EXPECT_EQ(stats(b).timed_out, 1u);
  EXPECT_EQ(take(b, 10), (strings{"a"}));
  advance(1s);
  EXPECT_EQ(take(b, 10), strings{});
  EXPECT_EQ(stats(b).counters.accepted, 1u);
}

using buffer_10 = buffer_actor_test;
TEST_F(buffer_10, post_wait_is_capped_and_zero_does_not_wait) {
  auto b = buffer({.capacity = 1, .max_wait_limit = 2s});
  send_all(b, {"a"});
  auto now = request<ok_atom>(b, post_wait_atom::value, caf::make_message(std::string{"b"}),
                              caf::timespan{0});
  auto capped = request<ok_atom>(b, post_wait_atom::value, caf::make_message(std::string{"c"}),
                                 caf::timespan{1h});
  run();
  ASSERT_TRUE(*now);
  EXPECT_TRUE(is((*now)->error(), errc::buffer_full));
  advance(2s);
  ASSERT_TRUE(*capped);
  EXPECT_TRUE(is((*capped)->error(), errc::buffer_full));
}

using buffer_11 = buffer_actor_test;
TEST_F(buffer_11, take_waits_for_an_item_then_gives_up_empty) {
  auto b = buffer({.capacity = 10, .take_wait = 5s});
  auto t = request<std::vector<caf::message>>(b, take_atom::value, uint32_t{3});
  run();
  EXPECT_FALSE(*t);
  EXPECT_EQ(stats(b).waiting_takers, 1u);
  caf::anon_send(b, std::string{"x"});
  run();
  ASSERT_TRUE(*t);
  ASSERT_TRUE(**t);
  EXPECT_EQ(texts(***t), (strings{"x"}));
  // Nothing arrives: an empty answer after take_wait, not before.
  auto t2 = request<std::vector<caf::message>>(b, take_atom::value, uint32_t{3});
  run();
  advance(5s - 1ns);
  EXPECT_FALSE(*t2);
  advance(1ns);
  ASSERT_TRUE(*t2);
  ASSERT_TRUE(**t2);
  EXPECT_TRUE((**t2)->empty());
  // Explicit wait; any message type goes through the buffer.
  auto t3 = request<std::vector<caf::message>>(b, take_atom::value, uint32_t{1},
                                               caf::timespan{1s});
  caf::anon_send(b, reading{"t1", 21});
  run();
  ASSERT_TRUE(*t3 && **t3);
  ASSERT_EQ((**t3)->size(), 1u);
  auto& m = (***t3)[0];
  ASSERT_TRUE(m.match_elements<reading>());
  EXPECT_EQ(m.get_as<reading>(0).value, 21);
}

using buffer_12 = buffer_actor_test;
TEST_F(buffer_12, a_request_that_is_no_protocol_message_is_refused) {
  auto b = buffer({.capacity = 10});
  auto res = call<ok_atom>(b, std::string{"not a post"});
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error(), caf::sec::unexpected_message);
  EXPECT_EQ(stats(b).size, 0u);
}

/// A worker that records what it gets and replies only when released.
struct slow_worker {
  std::shared_ptr<strings> got = std::make_shared<strings>();
  std::shared_ptr<std::vector<caf::response_promise>> open
    = std::make_shared<std::vector<caf::response_promise>>();
};

using release_atom = caf::atom_constant<caf::atom("release")>;

using buffer_13 = buffer_actor_test;
TEST_F(buffer_13, active_mode_never_gives_a_second_item_before_the_ack) {
  slow_worker w;
  auto worker = sys.spawn([w](caf::event_based_actor* self) -> caf::behavior {
    return {
      [self, w](std::string& x) {
        w.got->push_back(x);
        auto rp = self->make_response_promise();
        w.open->push_back(rp);
        return rp;
      },
      [w](release_atom) {
        for (auto& rp : *w.open)
          rp.deliver(ack_atom::value);
        w.open->clear();
      },
    };
  });
  auto b = buffer({.capacity = 10, .worker = worker});
  send_all(b, {"a", "b", "c"});
  EXPECT_EQ(*w.got, (strings{"a"}));
  auto s = stats(b);
  EXPECT_TRUE(s.active && s.in_flight);
  EXPECT_EQ(s.size, 2u);
  for (int i = 0; i < 2; ++i) {
    caf::anon_send(worker, release_atom::value);
    run();
    EXPECT_EQ(w.got->size(), size_t(i + 2));
    EXPECT_EQ(w.open->size(), 1u);  // one at a time
  }
  EXPECT_EQ(*w.got, (strings{"a", "b", "c"}));
  caf::anon_send(worker, release_atom::value);
  run();
  EXPECT_FALSE(stats(b).in_flight);
  // No reply within ack_timeout (30 s by default): counted, the next item goes out.
  send_all(b, {"d", "e"});
  advance(30s);
  EXPECT_EQ(*w.got, (strings{"a", "b", "c", "d", "e"}));
  EXPECT_EQ(stats(b).ack_timeouts, 1u);
  // A worker that dies ends active mode; items stay buffered.
  caf::anon_send_exit(worker, caf::exit_reason::kill);
  run();
  send_all(b, {"f"});
  s = stats(b);
  EXPECT_FALSE(s.active);
  EXPECT_EQ(s.size, 1u);
}

using buffer_14 = buffer_actor_test;
TEST_F(buffer_14, active_mode_with_a_plain_worker_and_passive) {
  auto got = std::make_shared<strings>();
  auto worker = sys.spawn([got](caf::event_based_actor*) -> caf::behavior {
    return {[got](std::string& x) { got->push_back(x); }};  // void: the empty reply acks
  });
  auto b = buffer({.capacity = 10});
  send_all(b, {"a", "b"});
  EXPECT_FALSE(call_ok(b, active_atom::value, worker));
  EXPECT_EQ(*got, (strings{"a", "b"}));
  EXPECT_FALSE(call_ok(b, passive_atom::value));
  send_all(b, {"c"});
  EXPECT_EQ(got->size(), 2u);
  EXPECT_EQ(take(b, 5), (strings{"c"}));
  caf::anon_send_exit(worker, caf::exit_reason::kill);
  run();
}

using buffer_15 = buffer_actor_test;
TEST_F(buffer_15, resize_shrinks_with_drops_and_grows_for_waiters) {
  auto b = buffer({.capacity = 5, .policy = overflow_policy::drop_oldest});
  send_all(b, {"a", "b", "c", "d", "e"});
  EXPECT_FALSE(call_ok(b, resize_atom::value, uint32_t{2}));
  auto s = stats(b);
  EXPECT_EQ(s.capacity, 2u);
  EXPECT_EQ(s.counters.dropped_on_resize, 3u);
  auto w = request<ok_atom>(b, post_wait_atom::value, caf::make_message(std::string{"f"}),
                            caf::timespan{1s});
  run();
  EXPECT_FALSE(*w);
  EXPECT_FALSE(call_ok(b, resize_atom::value, uint32_t{3}));
  ASSERT_TRUE(*w);
  EXPECT_TRUE(**w);
  EXPECT_EQ(take(b, 10), (strings{"d", "e", "f"}));
}

// Statement 10 through the actor: 10 000 items into capacity 100 never hold more than 100.
using buffer_16 = buffer_actor_test;
TEST_F(buffer_16, memory_bound_under_overload) {
  for (auto p : {overflow_policy::reject_new, overflow_policy::drop_oldest,
                 overflow_policy::keep_old}) {
    auto b = buffer({.capacity = 100, .policy = p});
    for (int i = 0; i < 10000; ++i) {
      caf::anon_send(b, i);
      run();
      if (i % 1000 == 500)
        take(b, 10);
    }
    auto s = stats(b);
    EXPECT_EQ(s.size, 100u);
    EXPECT_EQ(s.counters.peak_size, 100u) << to_string(p);
    EXPECT_EQ(10000u, s.counters.accepted + s.counters.rejected + s.counters.dropped_new);
  }
}

using buffer_17 = buffer_actor_test;
TEST_F(buffer_17, an_error_is_an_item_and_an_exit_answers_every_waiter) {
  auto b = buffer({.capacity = 1});
  caf::anon_send(b, caf::make_error(caf::sec::runtime_error, "as data"));
  run();
  auto items = call<std::vector<caf::message>>(b, take_atom::value, uint32_t{1});
  ASSERT_TRUE(items);
  ASSERT_EQ(items->size(), 1u);
  EXPECT_TRUE((*items)[0].match_elements<caf::error>());
  send_all(b, {"a"});
  auto w = request<ok_atom>(b, post_wait_atom::value, caf::make_message(std::string{"b"}),
                            caf::timespan{1s});
  auto b2 = buffer({.capacity = 1});
  auto t = request<std::vector<caf::message>>(b2, take_atom::value, uint32_t{1});
  run();
  caf::anon_send_exit(b, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(b2, caf::exit_reason::user_shutdown);
  run();
  ASSERT_TRUE(*w && *t);
  EXPECT_EQ((*w)->error(), caf::exit_reason::user_shutdown);
  EXPECT_EQ((*t)->error(), caf::exit_reason::user_shutdown);
}

using buffer_18 = buffer_actor_test;
TEST_F(buffer_18, a_worker_crashing_on_an_item_loses_only_that_item) {
  auto got = std::make_shared<strings>();
  auto worker = sys.spawn([got](caf::event_based_actor* self) -> caf::behavior {
    return {[self, got](std::string& x) {
      got->push_back(x);
      if (x == "boom")
        self->quit(caf::make_error(caf::sec::runtime_error, "poison"));
    }};
  });
  auto b = buffer({.capacity = 10});
  send_all(b, {"a", "boom", "x", "y"});
  EXPECT_FALSE(call_ok(b, active_atom::value, worker));
  EXPECT_EQ(*got, (strings{"a", "boom"}));
  auto s = stats(b);
  EXPECT_FALSE(s.active);
  EXPECT_EQ(take(b, 10), (strings{"x", "y"}));  // at most once: "boom" is gone
  auto c = stats(b).counters;
  EXPECT_EQ(c.accepted, c.taken + c.dropped());
}

using buffer_19 = buffer_actor_test;
TEST_F(buffer_19, running_buffers_lists_a_buffer_while_it_runs) {
  EXPECT_TRUE(running_buffers(sys).empty());
  auto b = buffer({.name = "ingest"});
  ASSERT_EQ(running_buffers(sys), std::vector<caf::actor>{b});
  caf::anon_send_exit(b, caf::exit_reason::kill);
  run();
  EXPECT_TRUE(running_buffers(sys).empty());
}
