// Round-trip clients shared by the targets. `blocking_rtt`: a thread that waits for each
// answer. `rtt_step`: an event-based client; `ping(self, i)` sends one
// request (to a handle, or by name) and returns its response handle; the actor sends the
// next one from the answer's handler, records each round trip after the warm-up and
// reports "" (or the error) through `done`.
#pragma once

#include <future>
#include <memory>
#include <optional>
#include <string>

#include <caf/all.hpp>

#include "bench.hpp"
#include "cluster_bench.hpp"

namespace warden::bench::cluster {

struct rtt_ctx {
  size_t warmup = 0;
  size_t total = 0;
  size_t i = 0;
  clock::time_point t0;
  clock::time_point started;
  sample* out = nullptr;
  pid_t server_pid = -1;
  std::optional<cpu_meter> cpu;    // from the end of the warm-up
  std::promise<std::string> done;  // "" or the error
};

/// The blocking client: `c.warmup` calls of `ping(i)`, then `c.rtt` timed ones, from this
/// thread (`ping` throws on a failed or wrong answer).
template <class Ping>
void blocking_rtt(sample& s, const counts& c, pid_t server_pid, Ping ping) {
  for (size_t i = 0; i < c.warmup; ++i)
    ping(i);
  cpu_meter cpu{server_pid};
  auto started = clock::now();
  for (size_t i = 0; i < c.rtt; ++i) {
    auto t0 = clock::now();
    ping(i);
    s.rtt_us.push_back(us_since(t0));
  }
  s.rtt_wall_us = us_since(started);
  s.rtt_cpu_us = cpu.elapsed_us();
}

template <class Self, class Ping>
void rtt_step(Self* self, std::shared_ptr<rtt_ctx> ctx, Ping ping) {
  if (ctx->i == ctx->total) {
    ctx->out->rtt_wall_us = us_since(ctx->started);
    ctx->out->rtt_cpu_us = ctx->cpu ? ctx->cpu->elapsed_us() : 0.0;
    ctx->done.set_value("");
    self->quit();
    return;
  }
  if (ctx->i == ctx->warmup) {
    ctx->cpu.emplace(ctx->server_pid);
    ctx->started = clock::now();
  }
  ctx->t0 = clock::now();
  auto expected = static_cast<uint64_t>(ctx->i);
  ping(self, expected)
    .then(
      [self, ctx, expected, ping](uint64_t x) {
        auto dt = us_since(ctx->t0);
        if (x != expected) {
          ctx->done.set_value("wrong echo");
          self->quit();
          return;
        }
        if (ctx->i >= ctx->warmup)
          ctx->out->rtt_us.push_back(dt);
        ++ctx->i;
        rtt_step(self, ctx, ping);
      },
      [self, ctx](caf::error& err) {
        ctx->done.set_value("ping failed: " + self->system().render(err));
        self->quit();
      });
}

} // namespace warden::bench::cluster
