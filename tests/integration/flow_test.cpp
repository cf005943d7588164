// Credit-based flow across nodes (flow_sender.hpp, docs/regulation.md): n2's `producer`
// offers 2000 items/s by name to n1's `slow` consumer, which takes 100/s behind a regulator
// (one at a time, 10 ms each, 20 waiting). The producer never sends beyond the consumer's
// grant, so the consumer refuses nothing, its queue stays within its bound and its memory
// stays flat; the back pressure ends at the producer, which refuses what its own buffer
// cannot hold.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "support/node_cluster.hpp"

namespace {

using namespace warden::test;
using namespace std::chrono_literals;

/// Resident memory of process `pid` in KiB (VmRSS), 0 if unreadable.
long rss_kib(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stol(line.substr(6));
  return 0;
}

/// The numbers of the producer's last report line in `out` ("offered N, refused M, ...").
std::map<std::string, long> last_producer_report(const std::string& out) {
  std::map<std::string, long> figures;
  std::istringstream in{out};
  std::string line, last;
  while (std::getline(in, line))
    if (line.rfind("producer ", 0) == 0)
      last = line;
  std::regex field{R"(([a-z ]+?) (\d+))"};
  auto tail = last.substr(last.find(':') + 1);
  for (std::sregex_iterator i{tail.begin(), tail.end(), field}, end; i != end; ++i) {
    auto name = (*i)[1].str();
    name.erase(0, name.find_first_not_of(' '));
    figures[name] = std::stol((*i)[2].str());
  }
  return figures;
}

} // namespace

TEST(flow, a_slow_consumer_on_another_node_slows_its_producer_and_memory_stays_bounded) {
  test_cluster c{WARDEN_BIN, 2, {.start = false}};
  c.node("n1").options().tree = c.write_file("n1.toml", R"(
[[children]]
id = "sink"
service = "slow"
name = "sink"
global = true
params = { work_ms = 10 }
[children.regulator]
limit = 1
max_size = 20
max_time_ms = 5000
call_timeout_ms = 5000
)");
  c.node("n2").options().tree = c.write_file("n2.toml", R"(
[[children]]
id = "feed"
service = "producer"
params = { target = "sink", rate_per_s = 2000, buffer = 200, max_in_flight = 64, report_ms = 500 }
)");
  c.start_all();
  ASSERT_TRUE(c.wait_all_ready(15s));
  ASSERT_TRUE(c.wait_converged(15s));
  // Let the flow settle, then watch the consumer's memory for 6 s of 20x overload.
  ASSERT_TRUE(c.wait_until(
    [&] { return last_producer_report(c.node("n2").output_tail(50))["answered"] > 50; }, 10s,
    "the producer's items are answered across nodes"));
  auto consumer_pid = c.node("n1").pid();
  auto before = rss_kib(consumer_pid);
  long peak = before;
  for (int i = 0; i < 60; ++i) {
    std::this_thread::sleep_for(100ms);
    peak = std::max(peak, rss_kib(consumer_pid));
  }
  auto regulation = c.node("n1").http_get("/regulation");
  ASSERT_TRUE(regulation);
  auto regs = regulation->second["regulators"];
  ASSERT_EQ(regs.size(), 1u) << regulation->second.dump();
  auto& sink = regs[0];
  EXPECT_EQ(sink["rejected"], 0) << "the producer never sent beyond its grant: " << sink.dump();
  EXPECT_EQ(sink["timed_out"], 0) << sink.dump();
  EXPECT_LE(sink["queued"].get<long>(), 20) << sink.dump();
  EXPECT_GT(sink["granted"].get<long>(), 300) << sink.dump();
  auto p = last_producer_report(c.node("n2").output_tail(50));
  EXPECT_GT(p["refused"], 1000) << "the back pressure reached the producer: "
                                << c.node("n2").output_tail(3);
  EXPECT_LE(p["in flight"], 21) << "at most the grant (1 + 20) in flight";
  EXPECT_EQ(p["grant"], 21);
  EXPECT_LE(p["buffered"], 200);
  // 6 s at 20x the consumer's capacity: an unbounded mailbox would hold ~11 000 more items.
  EXPECT_LT(peak - before, 8 * 1024) << "consumer RSS " << before << " KiB -> peak " << peak
                                     << " KiB";
  std::cout << "[ measured ] consumer RSS " << before << " KiB, peak " << peak
            << " KiB; producer: " << c.node("n2").output_tail(1) << std::endl;
}
