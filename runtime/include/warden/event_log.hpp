/// @file
/// The event log: an `event_sink` that formats and writes lifecycle events through
/// spdlog on a background thread, so reporting never sits on the restart path. The
/// reporting actor only moves the event into a queue.
///
/// Formats: readable text (default) or one JSON object per line. Every line has a level
/// (log_level.hpp: lifecycle events by `severity`, other lines by their publisher); the
/// log drops lines below its own level (default info: all but debug and trace) and JSON
/// lines carry it as `"level":"warn"`. Text lines read `[time] event ...`, without it.
///
/// ```cpp
/// auto log = warden::event_log::make(warden::log_format::json);  // stdout
/// log->set_level(warden::log_level::warn);  // restarts and failures only
/// flags.events = log;
/// ...
/// log->flush();  // waits until everything queued so far is written
/// ```
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "warden/lifecycle_event.hpp"
#include "warden/log_level.hpp"

namespace spdlog {
class logger;
}

namespace warden {

/// How the event log renders events.
enum class log_format { text, json };

/// Writes lifecycle events through spdlog on its own thread.
class event_log : public event_sink, public std::enable_shared_from_this<event_log> {
public:
  /// Logs to `logger`, or to a new stdout logger named "warden" when null. Lines go out at
  /// the matching spdlog level: a logger of yours keeps its own spdlog level, which
  /// filters too; the loggers made here pass everything.
  static std::shared_ptr<event_log>
  make(log_format format = log_format::text, std::shared_ptr<spdlog::logger> logger = nullptr);

  /// Logs JSON lines (or text) to the file at `path` (appending).
  static std::shared_ptr<event_log> to_file(const std::string& path,
                                            log_format format = log_format::json);

  ~event_log() override;

  void publish(const lifecycle_event& ev) override;

  /// Queues a line rendered by another layer (cluster events, node messages) at `level`:
  /// `text` in text format, `json` (one JSON object, to which the log adds `"level"`) in
  /// JSON format. Dropped when `level` is below the log's level, or is `off`.
  void publish_line(log_level level, std::string text, std::string json);

  log_format format() const { return format_; }

  /// Writes only lines at `min` or above from now on; `off` writes nothing. Thread-safe.
  void set_level(log_level min) { level_.store(min, std::memory_order_relaxed); }

  /// The current minimum level (default_log_level unless set).
  log_level level() const { return level_.load(std::memory_order_relaxed); }

  /// True when a line at `x` would be written.
  bool enabled(log_level x) const { return x != log_level::off && x >= level(); }

  /// Blocks until every event published before the call is written and flushed.
  void flush();

  event_log(std::shared_ptr<spdlog::logger> logger, log_format format);

private:
  void run();

  /// A line rendered elsewhere.
  struct line {
    log_level level;
    std::string text;
    std::string json;
  };

  std::shared_ptr<spdlog::logger> logger_;
  log_format format_;
  std::atomic<log_level> level_{default_log_level};
  std::mutex mtx_;
  std::condition_variable cv_;
  std::condition_variable drained_;
  /// A lifecycle event (its level is its severity), or a line rendered elsewhere.
  using entry = std::variant<lifecycle_event, line>;
  std::vector<entry> queue_;
  uint64_t published_ = 0;
  uint64_t written_ = 0;
  bool stop_ = false;
  std::thread worker_;
};

} // namespace warden
