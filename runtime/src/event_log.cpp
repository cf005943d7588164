#include "warden/event_log.hpp"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

namespace warden {

namespace {

spdlog::level::level_enum spdlog_level(log_level x) {
  switch (x) {
    case log_level::trace: return spdlog::level::trace;
    case log_level::debug: return spdlog::level::debug;
    case log_level::info: return spdlog::level::info;
    case log_level::warn: return spdlog::level::warn;
    case log_level::error: return spdlog::level::err;
    case log_level::off: return spdlog::level::off;
  }
  return spdlog::level::info;
}

/// `json` with `"level"` set; unchanged when it is not one JSON object.
std::string with_level(const std::string& json, log_level level) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (!j.is_object())
    return json;
  j["level"] = to_string(level);
  return j.dump();
}

} // namespace

event_log::event_log(std::shared_ptr<spdlog::logger> logger, log_format format)
  : logger_(std::move(logger)), format_(format) {
}

std::shared_ptr<event_log> event_log::make(log_format format,
                                           std::shared_ptr<spdlog::logger> logger) {
  if (!logger) {
    logger = std::make_shared<spdlog::logger>(
      "warden", std::make_shared<spdlog::sinks::stdout_sink_mt>());
    logger->set_level(spdlog::level::trace);  // our own level filters
  }
  // JSON lines carry their own time and name; text lines get spdlog's time stamp.
  logger->set_pattern(format == log_format::json ? "%v" : "[%Y-%m-%d %H:%M:%S.%f] %v");
  auto result = std::make_shared<event_log>(std::move(logger), format);
  result->worker_ = std::thread{[ptr = result.get()] { ptr->run(); }};
  return result;
}

std::shared_ptr<event_log> event_log::to_file(const std::string& path, log_format format) {
  auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, false);
  auto logger = std::make_shared<spdlog::logger>("warden", std::move(sink));
  logger->set_level(spdlog::level::trace);  // our own level filters
  return make(format, std::move(logger));
}

event_log::~event_log() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable())
    worker_.join();
}

void event_log::publish(const lifecycle_event& ev) {
  if (!enabled(severity(ev)))
    return;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    queue_.push_back(ev);
    ++published_;
  }
  cv_.notify_one();
}

void event_log::publish_line(log_level level, std::string text, std::string json) {
  if (!enabled(level))
    return;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    queue_.emplace_back(line{level, std::move(text), std::move(json)});
    ++published_;
  }
  cv_.notify_one();
}

void event_log::flush() {
  std::unique_lock<std::mutex> guard{mtx_};
  auto target = published_;
  drained_.wait(guard, [&] { return written_ >= target; });
}

void event_log::run() {
  std::vector<entry> batch;
  std::unique_lock<std::mutex> guard{mtx_};
  for (;;) {
    cv_.wait(guard, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty() && stop_)
      break;
    batch.swap(queue_);
    guard.unlock();
    bool json = format_ == log_format::json;
    for (auto& x : batch) {
      if (auto* ev = std::get_if<lifecycle_event>(&x)) {
        auto level = severity(*ev);
        logger_->log(spdlog_level(level), json ? with_level(to_json(*ev), level) : to_text(*ev));
      } else {
        auto& l = std::get<line>(x);
        logger_->log(spdlog_level(l.level), json ? with_level(l.json, l.level) : l.text);
      }
    }
    logger_->flush();
    auto n = batch.size();
    batch.clear();
    guard.lock();
    written_ += n;
    drained_.notify_all();
  }
}

} // namespace warden
