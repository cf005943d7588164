// Shared by the demos: an actor system on the real scheduler, a text event log on stdout,
// and a sink that lets a demo wait for an event instead of sleeping.
#pragma once

#include <condition_variable>
#include <cstdlib>
#include <iostream>
#include <mutex>

#include <caf/all.hpp>

#include "warden/event_log.hpp"
#include "warden/exit_reasons.hpp"
#include "warden/service_registry.hpp"
#include "warden/supervisor.hpp"

namespace demo {

/// Records events and wakes waiters.
class waiting_sink : public warden::event_sink {
public:
  void publish(const warden::lifecycle_event& ev) override {
    std::lock_guard<std::mutex> guard{mtx_};
    events_.push_back(ev);
    cv_.notify_all();
  }

  /// Waits until `n` events of `kind` (for `child`, if given) were published.
  bool wait_for(warden::event_kind kind, const std::string& child = {}, size_t n = 1,
                std::chrono::milliseconds timeout = std::chrono::seconds{10}) {
    std::unique_lock<std::mutex> guard{mtx_};
    return cv_.wait_for(guard, timeout, [&] {
      size_t k = 0;
      for (auto& ev : events_)
        if (ev.kind == kind && (child.empty() || ev.child == child))
          ++k;
      return k >= n;
    });
  }

  std::vector<warden::lifecycle_event> events() {
    std::lock_guard<std::mutex> guard{mtx_};
    return events_;
  }

private:
  std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<warden::lifecycle_event> events_;
};

struct config : caf::actor_system_config {
  config() { warden::configure(*this); }
};

/// Events go to stdout as text and to a waiting sink.
struct setup {
  std::shared_ptr<warden::event_log> log = warden::event_log::make(warden::log_format::text);
  std::shared_ptr<waiting_sink> seen = std::make_shared<waiting_sink>();
  warden::event_sink_ptr events = std::make_shared<warden::fanout_sink>(
    std::vector<warden::event_sink_ptr>{log, seen});
};

/// Fails the demo (and its smoke test) with a message.
inline void check(bool ok, const std::string& what) {
  if (!ok) {
    std::cerr << "DEMO FAILED: " << what << std::endl;
    std::exit(1);
  }
}

inline void say(const std::string& text) {
  std::cout << "\n== " << text << std::endl;
}

} // namespace demo
