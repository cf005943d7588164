// Lifecycle events: stable names and fixed fields, text and JSON renderings, their levels
// and the event log's level filter.
#include <sstream>

#include <nlohmann/json.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "support/deterministic.hpp"
#include "warden/event_log.hpp"

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

// --- levels ------------------------------------------------------------------------------

namespace {

lifecycle_event event_of(event_kind kind, caf::error reason = {}) {
  lifecycle_event ev;
  ev.kind = kind;
  ev.supervisor = "root";
  ev.child = "a";
  ev.reason = std::move(reason);
  return ev;
}

caf::error crash_reason() {
  return caf::make_error(caf::sec::runtime_error, std::string{"boom"});
}

/// An event log writing into memory; `lines()` waits for everything published so far.
struct captured_log {
  explicit captured_log(log_format format) {
    auto logger = std::make_shared<spdlog::logger>(
      "test", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
    logger->set_level(spdlog::level::trace);
    log = event_log::make(format, std::move(logger));
  }

  std::vector<std::string> lines() {
    log->flush();
    std::vector<std::string> result;
    std::istringstream in{out.str()};
    for (std::string l; std::getline(in, l);)
      result.push_back(l);
    return result;
  }

  std::ostringstream out;  // declared first: the log's thread writes here until it ends
  std::shared_ptr<event_log> log;
};

} // namespace

TEST(event_levels, progress_is_info_restarts_warn_failures_error) {
  EXPECT_EQ(severity(event_of(event_kind::child_started)), log_level::info);
  EXPECT_EQ(severity(event_of(event_kind::child_shutdown)), log_level::info);
  EXPECT_EQ(severity(event_of(event_kind::child_restarted)), log_level::warn);
  EXPECT_EQ(severity(event_of(event_kind::restart_delayed)), log_level::warn);
  EXPECT_EQ(severity(event_of(event_kind::start_error, crash_reason())), log_level::error);
  EXPECT_EQ(severity(event_of(event_kind::reached_max_restart_intensity)), log_level::error);
  // A child or supervisor that ends normally is progress; a crash is an error.
  EXPECT_EQ(severity(event_of(event_kind::child_terminated)), log_level::info);
  EXPECT_EQ(severity(event_of(event_kind::child_terminated, caf::exit_reason::user_shutdown)),
            log_level::info);
  EXPECT_EQ(severity(event_of(event_kind::child_terminated, crash_reason())), log_level::error);
  EXPECT_EQ(severity(event_of(event_kind::supervisor_stopped, caf::exit_reason::user_shutdown)),
            log_level::info);
  EXPECT_EQ(severity(event_of(event_kind::supervisor_stopped, crash_reason())), log_level::error);
}

TEST(event_levels, names_parse_back) {
  for (auto name : log_level_names)
    EXPECT_EQ(to_string(parse_log_level(name).value()), std::string{name});
  EXPECT_EQ(parse_log_level("warning"), std::nullopt);
  EXPECT_EQ(parse_log_level("INFO"), std::nullopt);
  EXPECT_EQ(parse_log_level(""), std::nullopt);
}

// The default level writes every event at info and above, as before levels existed.
TEST(event_log_level, default_info_writes_events_and_drops_debug_lines) {
  captured_log c{log_format::text};
  EXPECT_EQ(c.log->level(), log_level::info);
  c.log->publish(event_of(event_kind::child_started));
  c.log->publish(event_of(event_kind::child_restarted));
  c.log->publish(event_of(event_kind::child_terminated, crash_reason()));
  c.log->publish_line(log_level::debug, "chatty n1", R"({"event":"chatty"})");
  c.log->publish_line(log_level::trace, "chattier n1", R"({"event":"chattier"})");
  c.log->publish_line(log_level::info, "node_started n1", R"({"event":"node_started"})");
  auto lines = c.lines();
  ASSERT_EQ(lines.size(), 4u) << c.out.str();
  // Text lines keep their shape: "[time] event ...", no level word.
  EXPECT_NE(lines[0].find("] child_started root child=a"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("] child_restarted root"), std::string::npos) << lines[1];
  EXPECT_NE(lines[2].find("] child_terminated root"), std::string::npos) << lines[2];
  EXPECT_NE(lines[3].find("] node_started n1"), std::string::npos) << lines[3];
}

TEST(event_log_level, lines_below_the_level_are_not_written) {
  captured_log c{log_format::json};
  c.log->set_level(log_level::warn);
  c.log->publish(event_of(event_kind::child_started));                       // info
  c.log->publish(event_of(event_kind::child_terminated));                    // info (normal)
  c.log->publish(event_of(event_kind::child_terminated, crash_reason()));    // error
  c.log->publish(event_of(event_kind::child_restarted));                     // warn
  c.log->publish_line(log_level::info, "node_up n1", R"({"event":"node_up"})");
  c.log->publish_line(log_level::warn, "node_down n1", R"({"event":"node_down"})");
  std::vector<std::string> events;
  for (auto& l : c.lines())
    events.push_back(nlohmann::json::parse(l).value("event", ""));
  EXPECT_EQ(events,
            (std::vector<std::string>{"child_terminated", "child_restarted", "node_down"}));
  c.log->set_level(log_level::error);
  c.log->publish(event_of(event_kind::child_restarted));
  c.log->publish(event_of(event_kind::reached_max_restart_intensity));
  EXPECT_EQ(c.lines().size(), 4u);
}

TEST(event_log_level, off_writes_nothing) {
  for (auto format : {log_format::text, log_format::json}) {
    captured_log c{format};
    c.log->set_level(log_level::off);
    c.log->publish(event_of(event_kind::child_terminated, crash_reason()));
    c.log->publish(event_of(event_kind::reached_max_restart_intensity));
    c.log->publish_line(log_level::error, "boom n1", R"({"event":"boom"})");
    c.log->publish_line(log_level::off, "never n1", R"({"event":"never"})");
    EXPECT_TRUE(c.lines().empty()) << c.out.str();
  }
}

// A line published at level off is never written, even by a log at trace.
TEST(event_log_level, a_line_at_off_is_never_written) {
  captured_log c{log_format::json};
  c.log->set_level(log_level::trace);
  c.log->publish_line(log_level::off, "never n1", R"({"event":"never"})");
  c.log->publish_line(log_level::trace, "fine n1", R"({"event":"fine"})");
  auto lines = c.lines();
  ASSERT_EQ(lines.size(), 1u) << c.out.str();
  EXPECT_EQ(nlohmann::json::parse(lines[0])["level"], "trace");
}

TEST(event_log_level, json_lines_carry_their_level) {
  captured_log c{log_format::json};
  c.log->set_level(log_level::debug);
  c.log->publish(event_of(event_kind::child_started));
  c.log->publish(event_of(event_kind::child_restarted));
  c.log->publish(event_of(event_kind::start_error, crash_reason()));
  c.log->publish_line(log_level::debug, "probe n1", R"({"event":"probe","node":"n1"})");
  c.log->publish_line(log_level::error, "boom n1", R"({"event":"boom","level":"stale"})");
  std::vector<std::pair<std::string, std::string>> got;
  for (auto& l : c.lines()) {
    auto j = nlohmann::json::parse(l);
    got.emplace_back(j.value("event", ""), j.value("level", ""));
  }
  EXPECT_EQ(got, (std::vector<std::pair<std::string, std::string>>{{"child_started", "info"},
                                                                   {"child_restarted", "warn"},
                                                                   {"start_error", "error"},
                                                                   {"probe", "debug"},
                                                                   {"boom", "error"}}));
  // The rest of a published line is kept.
  EXPECT_EQ(nlohmann::json::parse(c.lines()[3]).value("node", ""), "n1");
}
