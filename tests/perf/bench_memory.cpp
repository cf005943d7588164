// Workload 4: memory per supervised child.
//
// Each measurement runs in a fresh process (`warden_bench mem-once`), because freed heap
// stays resident: RSS before vs after (a) N children started under a dynamic supervisor
// (start_child(args), 16 requests in flight, every start acknowledged), (b) N raw CAF
// stateful actors with the same behavior spawned from main and kept alive in a vector
// (we wait until every one of them ran its init). bytes/child = RSS delta / N.
#include <atomic>
#include <cstdio>
#include <future>
#include <iostream>
#include <thread>

#include <caf/all.hpp>

#include "bench.hpp"
#include "warden/exit_reasons.hpp"
#include "warden/supervisor.hpp"

namespace warden::bench {

namespace {

caf::behavior counted_raw_actor(caf::stateful_actor<bench_state>* self,
                                std::atomic<size_t>* ready) {
  ready->fetch_add(1, std::memory_order_relaxed);
  return bench_behavior(self);
}

struct starter_state {
  caf::actor sup;
  size_t n = 0;
  size_t sent = 0;
  size_t answered = 0;
  std::shared_ptr<std::promise<bool>> done;
};

using starter_actor = caf::stateful_actor<starter_state>;

void send_one(starter_actor* self) {
  auto& st = self->state;
  auto index = static_cast<uint64_t>(st.sent++);
  self
    ->request(st.sup, caf::infinite, warden::start_child_atom::value, caf::make_message(index))
    .then(
      [self](caf::actor&) {
        auto& st = self->state;
        if (++st.answered == st.n) {
          st.done->set_value(true);
          self->quit();
        } else if (st.sent < st.n) {
          send_one(self);
        }
      },
      [self](caf::error&) {
        self->state.done->set_value(false);
        self->quit();
      });
}

caf::behavior starter(starter_actor* self, caf::actor sup, size_t n,
                      std::shared_ptr<std::promise<bool>> done) {
  self->state.sup = std::move(sup);
  self->state.n = n;
  self->state.done = std::move(done);
  for (size_t i = 0; i < 16 && self->state.sent < n; ++i)
    send_one(self);
  return {[](bcount_atom) {}};
}

void settle() {
  std::this_thread::sleep_for(std::chrono::milliseconds{200});
}

} // namespace

int run_mem_once(const options& opts) {
  size_t n = opts.n != 0 ? opts.n : 100000;
  auto cfg = make_config();
  caf::actor_system sys{*cfg};
  double delta = 0;
  if (opts.kind == "warden") {
    warden::supervisor_flags flags;
    flags.strategy = warden::strategy::dynamic;
    warden::child_spec tmpl;
    tmpl.id = "worker";
    tmpl.start = warden::service(bench_dynamic_service);
    auto sup = warden::start_supervisor(sys, flags, {tmpl});
    if (!sup) {
      std::cerr << "start_supervisor failed\n";
      return 1;
    }
    settle();
    auto rss0 = rss_bytes();
    auto done = std::make_shared<std::promise<bool>>();
    auto fut = done->get_future();
    sys.spawn(starter, *sup, n, done);
    if (!fut.get()) {
      std::cerr << "start_child failed\n";
      return 1;
    }
    settle();
    auto rss1 = rss_bytes();
    delta = static_cast<double>(rss1) - static_cast<double>(rss0);
    warden::stop_supervisor(sys, *sup, std::chrono::minutes{10});
  } else if (opts.kind == "caf") {
    std::atomic<size_t> ready{0};
    // Warm up the scheduler the same way the Warden case does (one actor first).
    auto warm = sys.spawn(counted_raw_actor, &ready);
    settle();
    auto rss0 = rss_bytes();
    std::vector<caf::actor> actors;
    actors.reserve(n);
    for (size_t i = 0; i < n; ++i)
      actors.push_back(sys.spawn(counted_raw_actor, &ready));
    while (ready.load() < n + 1)
      std::this_thread::sleep_for(std::chrono::milliseconds{1});
    settle();
    auto rss1 = rss_bytes();
    delta = static_cast<double>(rss1) - static_cast<double>(rss0);
    for (auto& a : actors)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(warm, caf::exit_reason::user_shutdown);
    actors.clear();
  } else {
    std::cerr << "mem-once needs --kind warden|caf\n";
    return 2;
  }
  nlohmann::json j;
  j["kind"] = opts.kind;
  j["n"] = n;
  j["rss_delta"] = delta;
  std::cout << j.dump() << std::endl;
  return 0;
}

void run_memory(const options& opts) {
  size_t n = opts.level == mode::smoke ? 2000 : 100000;
  if (opts.n != 0)
    n = opts.n;
  std::vector<metrics> warden_runs;
  std::vector<metrics> caf_runs;
  auto once = [&](const std::string& kind) -> double {
    std::string cmd = "'" + opts.self_exe + "' mem-once --kind " + kind + " --n "
                      + std::to_string(n);
    FILE* p = popen(cmd.c_str(), "r");
    if (p == nullptr)
      throw std::runtime_error("cannot run " + cmd);
    std::string out;
    char buf[4096];
    while (fgets(buf, sizeof(buf), p) != nullptr)
      out += buf;
    if (pclose(p) != 0)
      throw std::runtime_error("failed: " + cmd);
    auto j = nlohmann::json::parse(out);
    return j["rss_delta"].get<double>();
  };
  for (int i = 0; i < opts.runs; ++i) {
    note("memory n=" + std::to_string(n) + " run " + std::to_string(i + 1) + "/"
         + std::to_string(opts.runs));
    auto w = once("warden") / static_cast<double>(n);
    auto c = once("caf") / static_cast<double>(n);
    warden_runs.push_back({{"rss_bytes_per_child", w}, {"above_raw_caf_bytes", w - c}});
    caf_runs.push_back({{"rss_bytes_per_child", c}});
  }
  result wr;
  wr.impl = "warden";
  wr.workload = "memory";
  wr.kase = "n=" + std::to_string(n);
  wr.n = n;
  wr.runs = warden_runs;
  wr.config["how"] = "RSS delta (/proc/self/statm), fresh process per run, dynamic supervisor";
  emit(wr);
  result cr;
  cr.impl = "caf";
  cr.workload = "memory";
  cr.kase = wr.kase;
  cr.n = n;
  cr.runs = caf_runs;
  cr.config["how"] = "RSS delta (/proc/self/statm), fresh process per run, idle raw actors";
  emit(cr);
}

} // namespace warden::bench
