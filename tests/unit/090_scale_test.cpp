// Scale, on the real scheduler: a dynamic supervisor starts 100k children and shuts
// them all down. Guards against quadratic behaviour (CAF's work-stealing queue walk);
// the time it takes is measured in tests/perf, not asserted here.
#include <chrono>
#include <cstdlib>
#include <iostream>

#include <gtest/gtest.h>

#include <caf/all.hpp>

#include "warden/exit_reasons.hpp"
#include "warden/supervisor.hpp"

using namespace warden;

namespace {

struct config : caf::actor_system_config {
  config() { warden::configure(*this); }
};

init_result idle(service_actor*, int) {
  return caf::behavior{[](int x) { return x; }};
}

} // namespace

TEST(scale, dynamic_supervisor_starts_and_stops_100k_children) {
  config cfg;
  caf::actor_system sys{cfg};
  supervisor_flags flags;
  flags.strategy = strategy::dynamic;
  auto sup = start_supervisor(sys, flags, {{.start = service(idle)}});
  ASSERT_TRUE(sup);
  const int n = std::getenv("WARDEN_SCALE_N") ? std::atoi(std::getenv("WARDEN_SCALE_N")) : 100000;
  auto t0 = std::chrono::steady_clock::now();
  caf::scoped_actor self{sys};
  int started = 0;
  for (int i = 0; i < n; ++i)
    self->request(*sup, std::chrono::seconds{60}, start_child_atom::value, caf::make_message(i))
      .receive([&](caf::actor&) { ++started; }, [](caf::error&) {});
  EXPECT_EQ(started, n);
  auto t1 = std::chrono::steady_clock::now();
  std::cout << "start: " << std::chrono::duration<double>(t1 - t0).count() << " s" << std::endl;
  supervisor_client client{sys, *sup, std::chrono::seconds{60}};
  auto counts = client.count_children();
  ASSERT_TRUE(counts);
  EXPECT_EQ(counts->active, static_cast<size_t>(n));
  auto t2 = std::chrono::steady_clock::now();
  auto reason = stop_supervisor(sys, *sup, std::chrono::minutes{2});
  std::cout << "stop: " << std::chrono::duration<double>(std::chrono::steady_clock::now() - t2).count() << " s" << std::endl;
  EXPECT_TRUE(is_shutdown(reason)) << describe(reason);
}
