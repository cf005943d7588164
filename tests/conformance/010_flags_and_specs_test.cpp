// Defaults and validation: supervisor flags and child specs (supervisor_SUITE: sup_start_map,
// sup_start_map_faulty_specs, child_specs, sup_flags).
#include "conformance/conformance.hpp"

using namespace std::chrono_literals;
using namespace warden;
using namespace warden::test;

namespace {

// A start function that is never called (validation fails first).
start_function unused() {
  return never_ready();
}

child_spec valid(std::string id) {
  child_spec s;
  s.id = std::move(id);
  s.start = unused();
  return s;
}

} // namespace

// Flags default to one_for_one, intensity 1, period 5 s, auto_shutdown never (OTP
// default_flags), with Warden's extras off.
TEST_F(conformance, sup_flags_defaults) {
  supervisor_flags f;
  EXPECT_EQ(f.strategy, strategy::one_for_one);
  EXPECT_EQ(f.intensity, 1);
  EXPECT_EQ(f.period, caf::timespan{5s});
  EXPECT_EQ(f.auto_shutdown, auto_shutdown::never);
  EXPECT_FALSE(f.max_children);
  EXPECT_FALSE(f.backoff.enabled());
}

// Child spec defaults: permanent worker, shutdown 5000 ms for a worker and infinity for a
// supervisor, not significant (sup_start_map: defaults filled in).
TEST_F(conformance, sup_start_map) {
  child_spec w;
  EXPECT_EQ(w.restart, restart_type::permanent);
  EXPECT_EQ(w.type, child_type::worker);
  EXPECT_FALSE(w.significant);
  EXPECT_EQ(w.effective_shutdown(), shutdown_policy::timeout(5000ms));
  child_spec s;
  s.type = child_type::supervisor;
  EXPECT_EQ(s.effective_shutdown(), shutdown_policy::infinity());
  child_spec b;
  b.shutdown = shutdown_policy::brutal_kill();
  EXPECT_EQ(b.effective_shutdown(), shutdown_policy::brutal_kill());
  // A spec given without those fields reads back with the defaults in force.
  auto sup = start_ok(flags(), {spec(ctl, "child1"), with_shutdown(spec(ctl, "child2"),
                                                                     shutdown_policy::brutal_kill())});
  auto c1 = call<child_spec>(sup, get_childspec_atom::value, std::string{"child1"});
  ASSERT_TRUE(c1);
  EXPECT_EQ(c1->id, "child1");
  EXPECT_EQ(c1->restart, restart_type::permanent);
  EXPECT_EQ(c1->type, child_type::worker);
  EXPECT_EQ(c1->effective_shutdown(), shutdown_policy::timeout(5000ms));
  auto c2 = call<child_spec>(sup, get_childspec_atom::value, std::string{"child2"});
  ASSERT_TRUE(c2);
  EXPECT_EQ(c2->effective_shutdown(), shutdown_policy::brutal_kill());
  EXPECT_ERRC(call<child_spec>(sup, get_childspec_atom::value, std::string{"child4"}), not_found);
}

// Beyond OTP: a worker's start timeout defaults to 5000 ms, a supervisor's to infinity.
TEST_F(conformance, start_timeout_defaults) {
  child_spec w;
  EXPECT_EQ(w.effective_start_timeout(), std::optional<caf::timespan>{5000ms});
  child_spec s;
  s.type = child_type::supervisor;
  EXPECT_FALSE(s.effective_start_timeout());
}

// Invalid flags fail the start with a named error: bad strategy, intensity < 0,
// period <= 0, bad auto_shutdown (sup_flags).
TEST_F(conformance, sup_flags) {
  auto f = flags();
  f.strategy = static_cast<strategy>(42);
  EXPECT_ERRC(start(f, {}), bad_strategy);
  f = flags();
  f.intensity = -1;
  EXPECT_ERRC(start(f, {}), bad_intensity);
  f = flags();
  f.period = caf::timespan{0};
  EXPECT_ERRC(start(f, {}), bad_period);
  f.period = -1s;
  EXPECT_ERRC(start(f, {}), bad_period);
  f = flags();
  f.auto_shutdown = static_cast<auto_shutdown>(42);
  EXPECT_ERRC(start(f, {}), bad_auto_shutdown);
  // Beyond OTP: the extras are checked too.
  f = flags();
  f.max_children = 3;
  EXPECT_ERRC(start(f, {}), bad_max_children);
  f = flags();
  f.backoff.min_delay = 2s;
  f.backoff.max_delay = 1s;
  EXPECT_ERRC(start(f, {}), bad_backoff);
  // intensity 0 is valid.
  f = flags();
  f.intensity = 0;
  EXPECT_TRUE(start(f, {}));
}

// A supervisor whose flags are invalid exits (shutdown) and starts no child.
TEST_F(conformance, sup_flags_invalid_starts_nothing) {
  auto f = flags();
  f.intensity = -5;
  auto res = start_pending(f, {spec(ctl, "a")});
  ASSERT_TRUE(res.ack->has_value());
  EXPECT_ERRC(**res.ack, bad_intensity);
  EXPECT_EQ(ctl->starts["a"], 0);
  auto reason = exit_reason_of(res.sup);
  ASSERT_TRUE(reason);
  EXPECT_TRUE(is_shutdown(*reason)) << describe(*reason);
}

// Faulty specs fail the start with named errors: missing id, missing start
// (sup_start_map_faulty_specs).
TEST_F(conformance, sup_start_map_faulty_specs) {
  child_spec no_id;
  no_id.start = unused();
  EXPECT_ERRC(start(flags(), {no_id}), missing_id);
  child_spec no_start;
  no_start.id = "child2";
  EXPECT_ERRC(start(flags(), {no_start}), missing_start);
}

// Negative shutdown is invalid, 0 is valid; infinity is valid for workers and supervisors;
// duplicate ids are refused; start_child gives the same named errors (child_specs).
TEST_F(conformance, child_specs) {
  auto neg = with_shutdown(valid("child"), shutdown_policy::timeout(-10ms));
  EXPECT_ERRC(start(flags(), {neg}), bad_shutdown);
  EXPECT_TRUE(start(flags(), {with_shutdown(spec(ctl, "zero"), shutdown_policy::timeout(0ms))}));
  auto c1 = with_shutdown(spec(ctl, "c1"), shutdown_policy::infinity());
  c1.type = child_type::supervisor;
  auto c5 = with_shutdown(spec(ctl, "c5"), shutdown_policy::infinity());
  EXPECT_TRUE(start(flags(), {c1, c5}));
  EXPECT_ERRC(start(flags(), {spec(ctl, "child"), spec(ctl, "child")}), duplicate_id);
  // The same checks on start_child; the supervisor keeps running.
  auto sup = start_ok(flags(), {});
  EXPECT_ERRC(call<caf::actor>(sup, start_child_atom::value, neg), bad_shutdown);
  child_spec no_id;
  no_id.start = unused();
  EXPECT_ERRC(call<caf::actor>(sup, start_child_atom::value, no_id), missing_id);
  child_spec no_start;
  no_start.id = "x";
  EXPECT_ERRC(call<caf::actor>(sup, start_child_atom::value, no_start), missing_start);
  auto bad_timeout = valid("t");
  bad_timeout.start_timeout = caf::timespan{0};
  EXPECT_ERRC(call<caf::actor>(sup, start_child_atom::value, bad_timeout), bad_start_timeout);
  EXPECT_TRUE(alive(sup));
  EXPECT_TRUE(children(sup).empty());
}

// significant + permanent and significant with auto_shutdown never are invalid, at start
// and on start_child.
TEST_F(conformance, significant_specs) {
  auto f = flags();
  f.auto_shutdown = auto_shutdown::any_significant;
  EXPECT_ERRC(start(f, {significant(valid("s"))}), significant_permanent);
  auto transient_sig = significant(valid("s"));
  transient_sig.restart = restart_type::transient;
  EXPECT_ERRC(start(flags(), {transient_sig}), significant_without_auto_shutdown);
  EXPECT_TRUE(start(f, {significant(spec(ctl, "s", restart_type::transient))}));
  auto sup = start_ok(flags(), {});
  EXPECT_ERRC(call<caf::actor>(sup, start_child_atom::value, transient_sig),
              significant_without_auto_shutdown);
  auto sup2 = start_ok(f, {});
  EXPECT_ERRC(call<caf::actor>(sup2, start_child_atom::value, significant(valid("p"))),
              significant_permanent);
}

// The dynamic strategy needs exactly one spec and auto_shutdown never.
TEST_F(conformance, dynamic_specs) {
  auto f = flags(strategy::dynamic);
  EXPECT_ERRC(start(f, {}), dynamic_needs_one_spec);
  EXPECT_ERRC(start(f, {valid("a"), valid("b")}), dynamic_needs_one_spec);
  f.auto_shutdown = auto_shutdown::any_significant;
  EXPECT_ERRC(start(f, {valid("a")}), dynamic_auto_shutdown);
  // The template needs no id.
  child_spec no_id;
  no_id.start = unused();
  EXPECT_TRUE(start(flags(strategy::dynamic), {no_id}));
}

// Error names are stable strings (they appear in reports).
TEST_F(conformance, named_errors_have_stable_names) {
  EXPECT_EQ(to_string(errc::already_present), "already_present");
  EXPECT_EQ(to_string(errc::failed_to_start_child), "failed_to_start_child");
  EXPECT_EQ(to_string(errc::bad_strategy), "bad_strategy");
  EXPECT_EQ(to_string(errc::significant_permanent), "significant_permanent");
  auto f = flags();
  f.period = caf::timespan{0};
  auto res = start(f, {});
  ASSERT_FALSE(res);
  EXPECT_NE(describe(res.error()).find("bad_period"), std::string::npos) << describe(res.error());
}
