// Target "caf": an echo actor published with the CAF io middleman (BASP over TCP) in the
// server process; the client connects with remote_actor and measures request round
// trips (one outstanding) and one-way throughput (M ticks, then a final count request).
#include "cluster_bench.hpp"
#include "rtt_client.hpp"

#include <atomic>
#include <future>
#include <iostream>
#include <optional>
#include <utility>
#include <stdexcept>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "bench.hpp"

namespace warden::bench::cluster {

namespace {

// The published port, for the setup message (the echo actor exists before publish).
std::atomic<uint16_t> published_port{0};

// The echo behavior, for a scheduled or detached actor and for a broker alike.
template <class Self>
caf::behavior echo_behavior(Self* self) {
  auto ticks = std::make_shared<uint64_t>(0);
  return {
    [](cping_atom, uint64_t x) { return x; },
    [ticks](ctick_atom) { ++*ticks; },
    [ticks](ccount_atom) { return std::exchange(*ticks, 0); },
    [self](csetup_atom, bool nodelay) {
      nlohmann::json j;
      j["sockets"] = nodelay_of_connections(published_port.load(), nodelay);
      j["config"] = effective_config(self->system().config());
      j["scheduler_workers"] = self->system().scheduler().num_workers();
      return j.dump();
    },
  };
}

caf::behavior echo_actor(caf::event_based_actor* self) {
  return echo_behavior(self);
}

caf::behavior echo_broker(caf::io::broker* self) {
  return echo_behavior(self);
}

// --- event-based clients (an actor on the scheduler or a broker on the I/O thread) ---

struct oneway_ctx {
  caf::actor target;
  size_t m = 0;
  std::promise<std::pair<double, uint64_t>> done;  // {us, count answered}
};

template <class Self>
void oneway_run(Self* self, std::shared_ptr<oneway_ctx> ctx) {
  auto t0 = clock::now();
  for (size_t i = 0; i < ctx->m; ++i)
    self->send(ctx->target, ctick_atom::value);
  self->request(ctx->target, caf::infinite, ccount_atom::value)
    .then(
      [self, t0, ctx](uint64_t n) {
        ctx->done.set_value({us_since(t0), n});
        self->quit();
      },
      [self, ctx](caf::error&) {
        ctx->done.set_value({0.0, 0});
        self->quit();
      });
}

struct caf_rtt_ctx : rtt_ctx {
  caf::actor target;
};

template <class Self>
caf::behavior rtt_client(Self* self, std::shared_ptr<caf_rtt_ctx> ctx) {
  auto target = ctx->target;
  rtt_step(self, std::shared_ptr<rtt_ctx>{ctx}, [target](Self* self, uint64_t i) {
    return self->request(target, caf::infinite, cping_atom::value, i);
  });
  return {[](ccount_atom) {}};  // keeps it alive; never used
}

template <class Self>
caf::behavior oneway_client(Self* self, std::shared_ptr<oneway_ctx> ctx) {
  oneway_run(self, std::move(ctx));
  return {[](ccount_atom) {}};
}

// Runs one event-based client as an actor or as a broker and waits for its result.
template <class Ctx>
void spawn_client(caf::actor_system& sys, const std::string& kind, std::shared_ptr<Ctx> ctx,
                  caf::behavior (*actor_fn)(caf::event_based_actor*, std::shared_ptr<Ctx>),
                  caf::behavior (*broker_fn)(caf::io::broker*, std::shared_ptr<Ctx>)) {
  if (kind == "broker")
    sys.middleman().spawn_broker(broker_fn, std::move(ctx));
  else
    sys.spawn(actor_fn, std::move(ctx));
}

} // namespace

int serve_caf(const variant& v, uint16_t port) {
  caf::actor_system_config cfg;
  apply(v, cfg);
  caf::actor_system sys{cfg};
  auto kind = v.get("echo", "scheduled");
  caf::actor echo = kind == "detached" ? sys.spawn<caf::detached>(echo_actor)
                    : kind == "broker" ? sys.middleman().spawn_broker(echo_broker)
                                       : sys.spawn(echo_actor);
  auto p = sys.middleman().publish(echo, port, "127.0.0.1", true);
  if (!p) {
    std::cerr << "warden_cluster_bench --serve: publish failed: " << sys.render(p.error())
              << std::endl;
    return 1;
  }
  published_port = *p;
  announce_ready(*p);
  wait_for_stdin_eof();
  caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
  return 0;
}

sample measure_caf(const variant& v, const endpoint& server, const counts& c) {
  caf::actor_system_config cfg;
  apply(v, cfg);
  caf::actor_system sys{cfg};
  auto remote = sys.middleman().remote_actor("127.0.0.1", server.port);
  if (!remote)
    throw std::runtime_error("remote_actor failed: " + sys.render(remote.error()));
  sample s;
  bool nodelay = v.get("nodelay", "0") == "1";
  s.info["client"]["sockets"] = nodelay_of_connections(server.port, nodelay);
  s.info["client"]["config"] = effective_config(cfg);
  s.info["client"]["scheduler_workers"] = sys.scheduler().num_workers();
  caf::scoped_actor self{sys};
  std::string failure;
  auto fail = [&](caf::error& err) { failure = sys.render(err); };
  self->request(*remote, caf::infinite, csetup_atom::value, nodelay)
    .receive([&](std::string& facts) { s.info["server"] = nlohmann::json::parse(facts); },
             fail);
  if (!failure.empty())
    throw std::runtime_error("setup failed: " + failure);
  auto kind = v.get("client", "scoped");
  // Round trips.
  s.rtt_us.reserve(c.rtt);
  if (kind == "actor" || kind == "broker") {
    auto ctx = std::make_shared<caf_rtt_ctx>();
    ctx->target = *remote;
    ctx->warmup = c.warmup;
    ctx->total = c.warmup + c.rtt;
    ctx->out = &s;
    ctx->server_pid = server.pid;
    auto fut = ctx->done.get_future();
    spawn_client(sys, kind, ctx, rtt_client<caf::event_based_actor>, rtt_client<caf::io::broker>);
    auto err = fut.get();
    if (!err.empty())
      throw std::runtime_error(err);
  } else {
    auto ping = [&](uint64_t i) {
      uint64_t got = ~uint64_t{0};
      self->request(*remote, caf::infinite, cping_atom::value, i)
        .receive([&](uint64_t x) { got = x; }, fail);
      if (!failure.empty())
        throw std::runtime_error("ping failed: " + failure);
      if (got != i)
        throw std::runtime_error("wrong echo");
    };
    blocking_rtt(s, c, server.pid, ping);
  }
  // One-way: reset the count, M ticks, then the final count request.
  if (c.oneway > 0) {
    self->request(*remote, caf::infinite, ccount_atom::value).receive([](uint64_t) {}, fail);
    uint64_t got = 0;
    if (kind == "actor" || kind == "broker") {
      auto ctx = std::make_shared<oneway_ctx>();
      ctx->target = *remote;
      ctx->m = c.oneway;
      auto fut = ctx->done.get_future();
      spawn_client(sys, kind, ctx, oneway_client<caf::event_based_actor>,
                   oneway_client<caf::io::broker>);
      auto [us, n] = fut.get();
      s.oneway_us = us;
      got = n;
    } else {
      auto t0 = clock::now();
      for (size_t i = 0; i < c.oneway; ++i)
        self->send(*remote, ctick_atom::value);
      self->request(*remote, caf::infinite, ccount_atom::value)
        .receive([&](uint64_t x) { got = x; }, fail);
      s.oneway_us = us_since(t0);
    }
    if (!failure.empty())
      throw std::runtime_error("count failed: " + failure);
    if (got != c.oneway)
      throw std::runtime_error("one-way: server counted " + std::to_string(got) + " of "
                               + std::to_string(c.oneway));
    s.oneway_n = c.oneway;
  }
  return s;
}

} // namespace warden::bench::cluster
