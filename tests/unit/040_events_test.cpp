// Lifecycle events: stable names and fixed fields, text and JSON renderings.
#include <nlohmann/json.hpp>

#include "support/deterministic.hpp"

using namespace warden;
using namespace warden::test;

class events_test : public deterministic {};

TEST_F(events_test, a_crash_and_restart_produce_terminated_started_restarted) {
  auto sup = start_ok(flags(), {spec(ctl, "a")});
  events->clear();
  crash(sup, "a");
  EXPECT_EQ(events->names(),
            (std::vector<std::string>{"child_terminated", "child_started", "child_restarted"}));
  auto evs = events->events();
  EXPECT_EQ(evs[0].supervisor, "root");
  EXPECT_EQ(evs[0].child, "a");
  EXPECT_EQ(evs[0].restart_type, "permanent");
  EXPECT_EQ(evs[2].restart_count, 1u);
  EXPECT_EQ(evs[2].intensity_headroom, 0);
}

TEST_F(events_test, json_rendering_has_every_field) {
  lifecycle_event ev;
  ev.kind = event_kind::child_terminated;
  ev.supervisor = "root/db_sup";
  ev.child = "db";
  ev.restart_type = "transient";
  ev.reason = caf::make_error(caf::sec::runtime_error, std::string{"boom"});
  ev.restart_count = 3;
  auto j = nlohmann::json::parse(to_json(ev));
  EXPECT_EQ(j["event"], "child_terminated");
  EXPECT_EQ(j["supervisor"], "root/db_sup");
  EXPECT_EQ(j["child"], "db");
  EXPECT_EQ(j["restart_type"], "transient");
  EXPECT_EQ(j["reason"], "runtime_error(\"boom\")");
  EXPECT_EQ(j["restart_count"], 3);
  EXPECT_TRUE(j.contains("time"));
  EXPECT_NE(to_text(ev).find("child_terminated root/db_sup child=db"), std::string::npos);
}

TEST_F(events_test, describe_names_reasons_like_otp) {
  EXPECT_EQ(describe(caf::error{}), "normal");
  EXPECT_EQ(describe(caf::exit_reason::user_shutdown), "shutdown");
  EXPECT_EQ(describe(caf::exit_reason::kill), "killed");
  EXPECT_EQ(describe(make_error(errc::failed_to_start_child, std::string{"db"},
                                make_error(errc::start_timeout))),
            "failed_to_start_child(\"db\", start_timeout)");
}
