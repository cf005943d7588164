// Supervisor basics: ordered start, one_for_one restart, intensity, events.
#include "support/deterministic.hpp"

using namespace warden;
using namespace warden::test;

class supervisor_basics : public deterministic {};

TEST_F(supervisor_basics, starts_children_in_order) {
  auto sup = start_ok(flags(), {spec(ctl, "a"), spec(ctl, "b"), spec(ctl, "c")});
  EXPECT_EQ(ctl->log, (std::vector<std::string>{"start:a", "start:b", "start:c"}));
  EXPECT_EQ(counts(sup), (child_counts{3, 3, 0, 3}));
}

TEST_F(supervisor_basics, one_for_one_restarts_only_the_crashed_child) {
  auto sup = start_ok(flags(), {spec(ctl, "a"), spec(ctl, "b")});
  auto a = child_of(sup, "a");
  auto b = child_of(sup, "b");
  crash(sup, "b");
  EXPECT_EQ(child_of(sup, "a"), a);
  EXPECT_NE(child_of(sup, "b"), b);
  EXPECT_TRUE(child_of(sup, "b"));
  EXPECT_EQ(events->count(event_kind::child_restarted, "b"), 1u);
}

TEST_F(supervisor_basics, gives_up_past_intensity_and_names_the_culprit) {
  auto sup = start_ok(flags(strategy::one_for_one, 1), {spec(ctl, "a"), spec(ctl, "b")});
  crash(sup, "b");
  crash(sup, "b");
  auto reason = exit_reason_of(sup);
  ASSERT_TRUE(reason);
  EXPECT_TRUE(is_shutdown(*reason));
  EXPECT_NE(describe(*reason).find("reached_max_restart_intensity(\"b\""), std::string::npos)
    << describe(*reason);
  EXPECT_EQ(events->count(event_kind::reached_max_restart_intensity, "b"), 1u);
}

TEST_F(supervisor_basics, crashes_further_apart_than_period_do_not_add_up) {
  auto sup = start_ok(flags(strategy::one_for_one, 1, std::chrono::seconds{1}),
                      {spec(ctl, "a")});
  crash(sup, "a");
  advance(std::chrono::milliseconds{2100});
  crash(sup, "a");
  EXPECT_TRUE(alive(sup));
}
