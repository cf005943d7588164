// Bounded inboxes (inbox.hpp): the overflow policies in the regulator's queue, then a
// service behind an inbox on the deterministic scheduler (one-way floods, calls, the drop
// count), then `[children.inbox]` in a tree file. Statement 9 of
// ../shared/design/regulation-and-streams.md, for a service's own inbox.
#include <map>

#include <gtest/gtest.h>

#include "support/deterministic.hpp"
#include "warden/inbox.hpp"
#include "warden/service_catalog.hpp"
#include "warden/tree_file.hpp"

using namespace std::chrono_literals;
using namespace warden;

namespace {

using time_point = regulator_core::time_point;
using test::ping_atom;

const time_point t0 = time_point{} + 1000s;

/// The fate of each ticket a core decided.
struct fates {
  std::map<uint64_t, caf::error> of;
  void take(std::vector<regulator_decision>& out) {
    for (auto& d : out)
      of[d.ticket] = std::move(d.error);
    out.clear();
  }
  bool granted(uint64_t t) const { return of.count(t) > 0 && !of.at(t); }
  bool rejected(uint64_t t) const { return of.count(t) > 0 && is(of.at(t), errc::rejected); }
};

inbox_settings inbox(uint32_t capacity, overflow_policy overflow, uint32_t in_flight = 1) {
  inbox_settings s;
  s.name = "ingest";
  s.capacity = capacity;
  s.overflow = overflow;
  s.in_flight = in_flight;
  s.max_wait = 1s;
  return s;
}

} // namespace

// --- 1. the policies in the queue --------------------------------------------------------

TEST(inbox_1, drop_oldest_makes_room_for_the_newcomer_and_still_serves_in_order) {
  regulator_core core{to_regulator_settings(inbox(2, overflow_policy::drop_oldest)), t0};
  std::vector<regulator_decision> out;
  fates f;
  for (uint64_t t = 1; t <= 5; ++t)  // 1 runs, 2 and 3 wait, 4 and 5 push out 2 and 3
    core.ask(t, t0 + std::chrono::milliseconds{t}, out);
  f.take(out);
  EXPECT_TRUE(f.granted(1));
  EXPECT_TRUE(f.rejected(2));
  EXPECT_TRUE(f.rejected(3));
  EXPECT_NE(describe(f.of[2]).find("the oldest waiter gives way"), std::string::npos);
  core.done(1, t0 + 10ms, out);
  f.take(out);
  EXPECT_TRUE(f.granted(4)) << "FIFO: the older of the two left is served first";
  EXPECT_EQ(f.of.count(5), 0u);
  auto st = core.stats();
  EXPECT_EQ(st.overflow, "drop_oldest");
  EXPECT_EQ(st.rejected, 2u);
  EXPECT_EQ(st.dropped_oldest, 2u);
}

TEST(inbox_2, reject_new_and_keep_old_refuse_the_newcomer_and_keep_the_waiters) {
  for (auto policy : {overflow_policy::reject_new, overflow_policy::keep_old}) {
    regulator_core core{to_regulator_settings(inbox(2, policy)), t0};
    std::vector<regulator_decision> out;
    fates f;
    for (uint64_t t = 1; t <= 5; ++t)
      core.ask(t, t0, out);
    f.take(out);
    EXPECT_TRUE(f.granted(1)) << to_string(policy);
    EXPECT_EQ(f.of.count(2) + f.of.count(3), 0u) << to_string(policy);
    EXPECT_TRUE(f.rejected(4)) << to_string(policy);
    EXPECT_TRUE(f.rejected(5)) << to_string(policy);
    EXPECT_EQ(core.stats().dropped_oldest, 0u);
    EXPECT_EQ(core.stats().overflow, to_string(policy));
  }
}

TEST(inbox_3, the_default_overflow_follows_the_order_and_an_inbox_is_a_fifo_counter) {
  regulator_settings s;
  EXPECT_EQ(overflow_of(s), overflow_policy::reject_new);
  s.order = queue_order::lifo;
  EXPECT_EQ(overflow_of(s), overflow_policy::drop_oldest);
  s.overflow = overflow_policy::reject_new;
  EXPECT_EQ(overflow_of(s), overflow_policy::reject_new);
  auto r = to_regulator_settings(inbox_settings{});
  EXPECT_EQ(r.name, "inbox");
  EXPECT_EQ(r.kind, regulator_kind::counter);
  EXPECT_EQ(r.order, queue_order::fifo);
  EXPECT_EQ(r.limits.limit, 4);
  EXPECT_EQ(r.limits.max_size, 1000u);
  EXPECT_EQ(r.limits.max_time, 5s);
  EXPECT_EQ(r.call_timeout, 5s);
  EXPECT_FALSE(validate(r));
}

// --- 2. a service behind an inbox ----------------------------------------------------------

namespace {

/// Records every int it handles; holds strings until `ping`.
init_result recorder(service_actor* self, std::shared_ptr<std::vector<int>> got) {
  auto held = std::make_shared<std::vector<caf::response_promise>>();
  return caf::behavior{
    [got](int x) {
      got->push_back(x);
      return x;
    },
    [self, held](const std::string&) { held->push_back(self->make_response_promise()); },
    [held](ping_atom) {
      for (auto& rp : *held)
        rp.deliver(7);
      held->clear();
    },
  };
}

class inbox_test : public test::deterministic {
protected:
  caf::actor start_inbox(const inbox_settings& s) {
    auto start = with_inbox(service(recorder, got), s);
    sup = start_ok(flags(), {child_spec{.id = "ingest", .start = std::move(start)}});
    return child_of(sup, "ingest");
  }

  /// An actor that sends `n` one-way ints to `dest` at once, then waits.
  caf::actor flood(const caf::actor& dest, int n) {
    auto a = sys.spawn([dest, n](caf::event_based_actor* self) -> caf::behavior {
      for (int i = 0; i < n; ++i)
        self->send(dest, i);
      return {[](ping_atom) {}};
    });
    watch(a);
    return a;
  }

  regulator_stats stats(const caf::actor& front) {
    auto st = call<regulator_stats>(front, stats_atom::value);
    EXPECT_TRUE(st);
    return st ? *st : regulator_stats{};
  }

  std::shared_ptr<std::vector<int>> got = std::make_shared<std::vector<int>>();
  caf::actor sup;
};

} // namespace

TEST_F(inbox_test, inbox_4_a_one_way_flood_stays_within_capacity_and_its_sender_lives_on) {
  auto front = start_inbox(inbox(5, overflow_policy::reject_new));
  auto sender = flood(front, 100);
  run();
  // 1 in flight + 5 waiting reach the service, in order; 94 are refused and counted.
  EXPECT_EQ(*got, (std::vector<int>{0, 1, 2, 3, 4, 5}));
  auto st = stats(front);
  EXPECT_EQ(st.rejected, 94u);
  EXPECT_EQ(st.dropped, 94u) << "one-way senders are not told: the drop count says it";
  EXPECT_TRUE(alive(sender)) << "a refused one-way message sends its sender no error";
  caf::anon_send_exit(sender, caf::exit_reason::kill);
  run();
}

TEST_F(inbox_test, inbox_5_drop_oldest_keeps_the_newest_messages) {
  auto front = start_inbox(inbox(5, overflow_policy::drop_oldest));
  auto sender = flood(front, 100);
  run();
  // 0 went on at once; each newcomer pushed out the oldest waiter: the last 5 remain.
  EXPECT_EQ(*got, (std::vector<int>{0, 95, 96, 97, 98, 99}));
  auto st = stats(front);
  EXPECT_EQ(st.dropped_oldest, 94u);
  EXPECT_EQ(st.dropped, 94u);
  EXPECT_EQ(st.overflow, "drop_oldest");
  caf::anon_send_exit(sender, caf::exit_reason::kill);
  run();
}

TEST_F(inbox_test, inbox_6_callers_see_back_pressure_a_full_answer_or_a_bounded_wait) {
  auto front = start_inbox(inbox(1, overflow_policy::reject_new));
  auto busy = request<int>(front, std::string{"hold"});  // in flight until ping
  run();
  auto waiting = request<int>(front, 1);                  // the inbox's one place
  run();
  auto full = call<int>(front, 2);                        // no room: answered at once
  ASSERT_FALSE(full);
  EXPECT_TRUE(is(full.error(), errc::rejected)) << describe(full.error());
  EXPECT_FALSE(*waiting);
  advance(1s);  // max_wait: the waiting call ends with a named error, never runs later
  ASSERT_TRUE(*waiting);
  EXPECT_TRUE(is((*waiting)->error(), errc::queue_timeout)) << describe((*waiting)->error());
  caf::anon_send(front, ping_atom::value);  // one-way: waits behind the held call
  run();
  EXPECT_EQ(stats(front).queued, 1u);
  advance(1s);  // its max_wait: dropped and counted (its sender cannot be told)
  EXPECT_EQ(stats(front).dropped, 1u);
  EXPECT_FALSE(*busy);
  advance(3s);  // the held call's call_timeout (5 s): answered, its permit comes back
  ASSERT_TRUE(*busy);
  EXPECT_TRUE(is((*busy)->error(), errc::call_timeout)) << describe((*busy)->error());
  EXPECT_EQ(call<int>(front, 3), 3);
  EXPECT_EQ(*got, std::vector<int>{3}) << "the timed-out call never ran";
  auto st = stats(front);
  EXPECT_EQ(st.timed_out, 2u);
  EXPECT_EQ(st.dropped, 1u) << "the call was answered; only the one-way message counts";
}

// --- 3. `[children.inbox]` in a tree file --------------------------------------------------

TEST_F(inbox_test, inbox_7_a_tree_file_declares_an_inbox_and_every_mistake_is_named) {
  service_catalog catalog;
  catalog.add("recorder", [this](const service_params&) -> caf::expected<start_function> {
    return service(recorder, got);
  }, "test");
  auto tree = parse_tree(R"(
[[children]]
id = "ingest"
service = "recorder"
[children.inbox]
capacity = 3
overflow = "drop_oldest"
max_wait_ms = 250
in_flight = 2
call_timeout_ms = 900
)", "t.toml", catalog);
  ASSERT_TRUE(tree) << describe(tree.error());
  sup = start_ok(flags(), tree->children);
  auto front = child_of(sup, "ingest");
  ASSERT_TRUE(front);
  auto st = stats(front);
  EXPECT_EQ(st.name, "ingest");
  EXPECT_EQ(st.overflow, "drop_oldest");
  EXPECT_EQ(st.limit, 2);
  EXPECT_EQ(call<uint32_t>(front, demand_atom::value), 5u) << "in_flight + capacity";
  EXPECT_EQ(call<int>(front, 8), 8);

  auto bad = [&](const std::string& table, const std::string& expect) {
    auto t = parse_tree("[[children]]\nid = \"o\"\nservice = \"recorder\"\n[children.inbox]\n"
                          + table,
                        "t.toml", catalog);
    ASSERT_FALSE(t) << table;
    EXPECT_NE(config_error_text(t.error()).find(expect), std::string::npos)
      << config_error_text(t.error());
  };
  bad("size = 3\n", "t.toml:5: children[0].inbox.size: unknown key");
  bad("overflow = \"drop_newest\"\n",
      "children[0].inbox.overflow: \"drop_newest\" is not one of: reject_new, drop_oldest, "
      "keep_old");
  bad("capacity = -1\n", "children[0].inbox.capacity: must be >= 0");
  bad("in_flight = 0\n", "children[0].inbox.in_flight: must be >= 1");
  bad("max_wait_ms = 0\n", "children[0].inbox.max_wait_ms: must be >= 1");
  bad("capacity = 3\n[children.regulator]\nlimit = 2\n",
      "children[0].inbox: a child has either a regulator or an inbox");
  auto reg = parse_tree("[[children]]\nid = \"o\"\nservice = \"recorder\"\n"
                        "[children.regulator]\noverflow = \"keep_old\"\n",
                        "t.toml", catalog);
  ASSERT_TRUE(reg) << describe(reg.error());
}
