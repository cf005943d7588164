/// @file
/// The event log: an `event_sink` that formats and writes lifecycle events through
/// spdlog on a background thread, so reporting never sits on the restart path. The
/// reporting actor only moves the event into a queue.
///
/// Formats: readable text (default) or one JSON object per line.
///
/// ```cpp
/// auto log = warden::event_log::make(warden::log_format::json);  // stdout
/// flags.events = log;
/// ...
/// log->flush();  // waits until everything queued so far is written
/// ```
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "warden/lifecycle_event.hpp"

namespace spdlog {
class logger;
}

namespace warden {

/// How the event log renders events.
enum class log_format { text, json };

/// Writes lifecycle events through spdlog on its own thread.
class event_log : public event_sink, public std::enable_shared_from_this<event_log> {
public:
  /// Logs to `logger`, or to a new stdout logger named "warden" when null.
  static std::shared_ptr<event_log>
  make(log_format format = log_format::text, std::shared_ptr<spdlog::logger> logger = nullptr);

  /// Logs JSON lines (or text) to the file at `path` (appending).
  static std::shared_ptr<event_log> to_file(const std::string& path,
                                            log_format format = log_format::json);

  ~event_log() override;

  void publish(const lifecycle_event& ev) override;

  /// Queues a line rendered by another layer (cluster events, node messages): `text` in
  /// text format, `json` (one JSON object) in JSON format.
  void publish_line(std::string text, std::string json);

  log_format format() const { return format_; }

  /// Blocks until every event published before the call is written and flushed.
  void flush();

  event_log(std::shared_ptr<spdlog::logger> logger, log_format format);

private:
  void run();

  std::shared_ptr<spdlog::logger> logger_;
  log_format format_;
  std::mutex mtx_;
  std::condition_variable cv_;
  std::condition_variable drained_;
  /// A lifecycle event, or a line rendered elsewhere (text, json).
  using entry = std::variant<lifecycle_event, std::pair<std::string, std::string>>;
  std::vector<entry> queue_;
  uint64_t published_ = 0;
  uint64_t written_ = 0;
  bool stop_ = false;
  std::thread worker_;
};

} // namespace warden
