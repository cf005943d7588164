// Target "warden": the same echo service and measurements as target "caf", through
// Warden's public API. The server is a `warden::node` (no tree, HTTP off) whose echo actor
// is registered cluster-wide as "echo"; the client is a second node seeded with the
// server's address. Case `byname` calls `cluster_client::call` / `send` by name on every
// message (over the call transport); `byname-actor` calls `cluster_request` from an
// event-based actor instead; `byname-caf` is `byname` with the call transport off;
// case `resolved` resolves the name once (`whereis`) and uses a scoped_actor request on
// the handle (CAF's path).
// Both nodes use Warden's own CAF settings (node.cpp: middleman.workers=0,
// scheduler.policy=sharing, scheduler.max-threads = cores); the variant's CAF keys do not
// apply here.
#include "cluster_bench.hpp"
#include "rtt_client.hpp"

#include <atomic>
#include <iostream>
#include <stdexcept>
#include <thread>
#include <utility>

#include <caf/all.hpp>

#include "bench.hpp"
#include "warden/cluster_names.hpp"
#include "warden/errors.hpp"
#include "warden/exit_reasons.hpp"
#include "warden/node.hpp"
#include "warden/node_config.hpp"

namespace warden::bench::cluster {

namespace {

// Both processes are started by the bench; any shared value will do.
constexpr const char* bench_secret = "warden-cluster-bench";
constexpr const char* echo_name = "echo";
// How long the client waits for the handshake and the name table to reach it.
constexpr auto name_visible_within = std::chrono::seconds{20};

std::atomic<uint16_t> node_port{0};

// The node settings of both sides: any free port (or `port`), no HTTP, no tree, no log;
// variant key calls=caf turns the call transport off.
warden::node_config bench_node_config(const variant& v, uint16_t port) {
  warden::node_config cfg;
  cfg.cluster.call_transport = v.get("calls", "warden") != "caf";
  cfg.node.port = port;
  cfg.http.enabled = false;
  cfg.cluster.secret = bench_secret;
  // Node events would go to stdout, between the JSON records (and before READY).
  cfg.log.file = "/dev/null";
  return cfg;
}

// Answers what the CAF target's echo answers (cluster_caf.cpp).
caf::behavior echo_actor(caf::event_based_actor* self) {
  auto ticks = std::make_shared<uint64_t>(0);
  return {
    [](cping_atom, uint64_t x) { return x; },
    [ticks](ctick_atom) { ++*ticks; },
    [ticks](ccount_atom) { return std::exchange(*ticks, 0); },
    [self](csetup_atom, bool nodelay) {
      nlohmann::json j;
      j["sockets"] = nodelay_of_connections(node_port.load(), nodelay);
      j["config"] = effective_config(self->system().config());
      j["scheduler_workers"] = self->system().scheduler().num_workers();
      return j.dump();
    },
  };
}

std::string text_of(const caf::error& err) {
  return describe(err);
}

} // namespace

int serve_warden(const variant& v, uint16_t port) {
  auto n = warden::node::start(bench_node_config(v, port));
  if (!n) {
    std::cerr << "warden_cluster_bench --serve: node start failed: " << text_of(n.error())
              << std::endl;
    return 1;
  }
  auto& sys = (*n)->system();
  auto echo = sys.spawn(echo_actor);
  if (auto err = register_cluster_name(sys, echo_name, echo)) {
    std::cerr << "warden_cluster_bench --serve: register_cluster_name failed: "
              << text_of(err) << std::endl;
    return 1;
  }
  node_port = (*n)->port();
  announce_ready((*n)->port());
  wait_for_stdin_eof();
  caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
  (*n)->stop();
  return 0;
}

sample measure_warden(const variant& v, const endpoint& server, const counts& c) {
  auto cfg = bench_node_config(v, 0);
  cfg.cluster.seeds.push_back({"127.0.0.1", server.port});
  auto n = warden::node::start(cfg);
  if (!n)
    throw std::runtime_error("node start failed: " + text_of(n.error()));
  auto& sys = (*n)->system();
  // The name arrives with the server's name table after the handshake.
  auto deadline = clock::now() + name_visible_within;
  auto handle = whereis(sys, echo_name);
  while (!handle && clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
    handle = whereis(sys, echo_name);
  }
  if (!handle)
    throw std::runtime_error("name 'echo' not visible within 20 s: " + text_of(handle.error()));
  const auto timeout = caf::timespan{cfg.cluster.call_timeout};
  const bool by_name = v.get("lookup", "name") != "once";
  // timeout=0 (resolved handle only): no timeout, like the CAF target; in CAF 0.17 every
  // request with a timeout also schedules a timer on the clock thread.
  const bool infinite = !by_name && v.get("timeout", "") == "0";
  warden::cluster_client client{sys};
  caf::scoped_actor self{sys};
  // One request, by name or on the resolved handle; throws on an error.
  auto call = [&](auto tag, auto... xs) {
    using result_type = decltype(tag);
    if (by_name) {
      auto r = client.call<result_type>(echo_name, timeout, xs...);
      if (!r)
        throw std::runtime_error("call by name failed: " + text_of(r.error()));
      return std::move(*r);
    }
    result_type out{};
    caf::error failure;
    auto rh = infinite ? self->request(*handle, caf::infinite, xs...)
                       : self->request(*handle, timeout, xs...);
    std::move(rh).receive([&](result_type& x) { out = std::move(x); },
               [&](caf::error& err) { failure = std::move(err); });
    if (failure)
      throw std::runtime_error("request failed: " + text_of(failure));
    return out;
  };
  sample s;
  bool nodelay = v.get("nodelay", "0") == "1";
  s.info["client"]["sockets"] = nodelay_of_connections(server.port, nodelay);
  s.info["client"]["config"] = effective_config(sys.config());
  s.info["client"]["scheduler_workers"] = sys.scheduler().num_workers();
  s.info["server"] = nlohmann::json::parse(call(std::string{}, csetup_atom::value, nodelay));
  s.info["lookup"] = by_name ? "every call (cluster_client)" : "once (whereis)";
  s.info["call_timeout_ms"] = infinite ? 0 : cfg.cluster.call_timeout.count();
  // Round trips.
  auto ping = [&](uint64_t i) {
    if (call(uint64_t{}, cping_atom::value, i) != i)
      throw std::runtime_error("wrong echo");
  };
  s.rtt_us.reserve(c.rtt);
  if (v.get("client", "scoped") == "actor") {
    // cluster_request from an event-based actor: the next request leaves from the handler.
    auto ctx = std::make_shared<rtt_ctx>();
    ctx->warmup = c.warmup;
    ctx->total = c.warmup + c.rtt;
    ctx->out = &s;
    ctx->server_pid = server.pid;
    auto done = ctx->done.get_future();
    sys.spawn([ctx, timeout](caf::event_based_actor* self) -> caf::behavior {
      rtt_step(self, ctx, [timeout](caf::event_based_actor* self, uint64_t i) {
        return cluster_request(self, echo_name, timeout, cping_atom::value, i);
      });
      return {[](ccount_atom) {}};  // keeps it alive; never used
    });
    if (auto err = done.get(); !err.empty())
      throw std::runtime_error(err);
  } else {
    blocking_rtt(s, c, server.pid, ping);
  }
  // One-way: reset the count, M ticks, then the final count request.
  if (c.oneway > 0) {
    call(uint64_t{}, ccount_atom::value);
    auto t0 = clock::now();
    for (size_t i = 0; i < c.oneway; ++i) {
      if (by_name) {
        if (auto err = client.send(echo_name, ctick_atom::value))
          throw std::runtime_error("send by name failed: " + text_of(err));
      } else {
        self->send(*handle, ctick_atom::value);
      }
    }
    auto got = call(uint64_t{}, ccount_atom::value);
    s.oneway_us = us_since(t0);
    if (got != c.oneway)
      throw std::runtime_error("one-way: server counted " + std::to_string(got) + " of "
                               + std::to_string(c.oneway));
    s.oneway_n = c.oneway;
  }
  // The node stops in its destructor, after `self` and `client`: an actor system waits
  // for its scoped actors, so stopping it while they live would never return.
  return s;
}

} // namespace warden::bench::cluster
