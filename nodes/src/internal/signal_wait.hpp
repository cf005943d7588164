// Waiting for signals without handlers: the commands block their signals before any
// thread exists, so every thread inherits the mask and only the main thread takes them.
#pragma once

#include <signal.h>

#include <cerrno>
#include <chrono>
#include <ctime>
#include <optional>

namespace warden::internal {

/// Waits for one of `set` until `deadline` (forever if none). Returns the signal, or 0
/// when the deadline passed.
inline int wait_for_signal(const sigset_t& set,
                           std::optional<std::chrono::steady_clock::time_point> deadline) {
  using clock = std::chrono::steady_clock;
  for (;;) {
    int sig = 0;
    if (!deadline) {
      sig = sigwaitinfo(&set, nullptr);
    } else {
      auto left = *deadline - clock::now();
      if (left <= clock::duration::zero())
        return 0;
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
      sig = sigtimedwait(&set, nullptr, &ts);
    }
    if (sig > 0)
      return sig;
    if (errno == EAGAIN)
      return 0;
    // EINTR: a signal outside the set (e.g. SIGCHLD of a debugger); wait again.
  }
}

} // namespace warden::internal
