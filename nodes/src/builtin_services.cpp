#include "warden/builtin_services.hpp"
#include "warden/cluster_service_manager.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <vector>
#include <map>
#include <memory>
#include <stdexcept>

#include <fmt/format.h>

#include "warden/circuit_breaker.hpp"
#include "warden/cluster_names.hpp"
#include "warden/exit_reasons.hpp"
#include "warden/fenced_ledger.hpp"
#include "warden/fault_plan.hpp"
#include "warden/flow_sender.hpp"
#include "warden/service.hpp"

namespace warden {

namespace {

using namespace builtin;

// --- what every built-in service shares --------------------------------------------------

// A start failure armed by a fail_next_start fault (nullopt: start normally).
std::optional<caf::error> armed_start_failure(const std::string& path) {
  if (path.empty())
    return std::nullopt;
  return fault_switches::global().take_start_failure(path);
}

// Replaces the service's exit handler: like the default one (normal is ignored, anything
// else runs terminate and quits), but a shutdown is ignored when asked to (always, or
// while a stall_shutdown fault is on for this path). Kill never reaches a handler.
void trap_exits(service_actor* self, std::string path, bool always_ignore_shutdown) {
  self->set_exit_handler([self, path = std::move(path), always_ignore_shutdown](caf::exit_msg& msg) {
    if (is_normal(msg.reason))
      return;
    if (is_shutdown(msg.reason)
        && (always_ignore_shutdown
            || (!path.empty() && fault_switches::global().shutdown_stalled(path))))
      return;
    try {
      self->terminate(msg.reason);
    } catch (...) {
      // The exit reason stays the one asked for.
    }
    self->quit(msg.reason);
  });
}

// The service's handlers plus the fault protocol: quit with any reason, throw from a
// handler.
template <class... Handlers>
caf::behavior with_fault_protocol(service_actor* self, Handlers... handlers) {
  return caf::behavior{
    std::move(handlers)...,
    [self](quit_atom, caf::error& reason) { self->quit(std::move(reason)); },
    [](throw_atom) { throw std::runtime_error("injected exception"); },
  };
}

// Common init steps; nullopt when the service may go on.
std::optional<caf::error> begin_init(service_actor* self, const std::string& path,
                                     bool always_ignore_shutdown = false) {
  if (auto failure = armed_start_failure(path))
    return failure;
  trap_exits(self, path, always_ignore_shutdown);
  return std::nullopt;
}

// --- the services ------------------------------------------------------------------------

init_result echo(service_actor* self, std::string path) {
  if (auto failure = begin_init(self, path))
    return *failure;
  return with_fault_protocol(self, [](const std::string& s) { return s; });
}

struct counter_state {
  int value = 0;
};

init_result counter(stateful_service<counter_state>* self, std::string path, int start) {
  if (auto failure = begin_init(self, path))
    return *failure;
  self->state.value = start;
  return with_fault_protocol(
    self, [self](add_atom) { return ++self->state.value; },
    [self](get_atom) { return self->state.value; },
    // A planned move (cluster_service_manager.hpp) carries the count to the successor.
    [self](handover_atom) { return handover_state{caf::make_message(self->state.value)}; },
    [self](takeover_atom, const caf::message& state) {
      if (state.match_elements<int>())
        self->state.value = state.get_as<int>(0);
    });
}

struct ledger_state {
  std::optional<fenced_ledger> store;
};

// The ledger is named after its cluster instance ("ledger", "ledger#1"), outside a cluster
// after its child id (the path's last segment).
init_result ledger(stateful_service<ledger_state>* self, std::string path, std::string dir) {
  if (auto failure = begin_init(self, path))
    return *failure;
  auto name = self->cluster_instance();
  if (name.empty())
    name = path.substr(path.rfind('/') + 1);
  std::string error;
  auto store = fenced_ledger::open(dir, name, self->fencing_epoch(), error);
  if (!store)
    return caf::make_error(caf::sec::runtime_error, "ledger: " + error);
  self->state.store = std::move(*store);
  return with_fault_protocol(
    self,
    // Acknowledged only once the id is in the file; a stale copy's write is refused by the
    // file's fence, never acknowledged.
    [self](add_atom, uint64_t id) -> caf::result<uint64_t> {
      std::string why;
      if (!self->state.store->append(id, why)) {
        if (!self->state.store->stale())
          return make_error(errc::service_unavailable, why);
        self->report_stale();  // the manager replaces this copy
        return make_error(errc::fenced, why);
      }
      return static_cast<uint64_t>(self->state.store->size());
    },
    [self](get_atom) {
      auto& ids = self->state.store->ids();
      return std::vector<uint64_t>(ids.begin(), ids.end());
    });
}

enum class fail_mode { error, exception, ignore };

init_result failing_start(service_actor* self, std::string path,
                          std::shared_ptr<std::atomic<int64_t>> starts, int64_t ok_starts,
                          int64_t fail_starts, fail_mode mode) {
  if (auto failure = begin_init(self, path))
    return *failure;
  auto n = ++*starts;  // this start's number, counted across restarts
  if (n > ok_starts && n <= ok_starts + fail_starts) {
    auto what = fmt::format("start {} fails on purpose (failing_start: ok_starts = {}, "
                            "fail_starts = {})",
                            n, ok_starts, fail_starts);
    switch (mode) {
      case fail_mode::error: return caf::make_error(caf::sec::runtime_error, what);
      case fail_mode::exception: throw std::runtime_error(what);
      case fail_mode::ignore: return warden::ignore;
    }
  }
  return with_fault_protocol(
    self, [](const std::string& s) { return s; }, [starts](get_atom) { return starts->load(); });
}

init_result ignores_shutdown(service_actor* self, std::string path) {
  if (auto failure = begin_init(self, path, true))
    return *failure;
  return with_fault_protocol(self, [](const std::string& s) { return s; });
}

struct ticker_state {
  int64_t ticks = 0;
};

init_result ticker(stateful_service<ticker_state>* self, std::string path,
                   std::chrono::milliseconds interval) {
  if (auto failure = begin_init(self, path))
    return *failure;
  self->delayed_send(self, interval, tick_atom::value);
  return with_fault_protocol(
    self,
    [self, interval](tick_atom) {
      ++self->state.ticks;
      self->delayed_send(self, interval, tick_atom::value);
    },
    [self](get_atom) { return self->state.ticks; });
}

struct caller_state {
  int64_t ok = 0;
  int64_t failed = 0;
  std::map<std::string, int64_t> errors;  // error name -> count
  std::string last;                       // the last answer
  std::shared_ptr<shared_circuit_breaker> breaker;  // when asked for: listed in the node
};

/// The caller's optional breaker: `failures` within 10 s open it (0: no breaker).
struct caller_breaker {
  uint32_t failures = 0;
  std::chrono::milliseconds reset{1000};
};

/// Calls the cluster name `target` every `interval` and reports every `report` and at
/// exit, one line on stdout: the node's log shows calls crossing nodes.
init_result caller(stateful_service<caller_state>* self, std::string path, std::string target,
                   std::string message, std::chrono::milliseconds interval,
                   std::chrono::milliseconds timeout, std::chrono::milliseconds report,
                   caller_breaker cb) {
  if (auto failure = begin_init(self, path))
    return *failure;
  if (cb.failures > 0) {
    breaker_settings bs;
    bs.name = fmt::format("{} -> {}", path, target);
    bs.max_failures = cb.failures;
    bs.reset_timeout = cb.reset;
    bs.max_reset_timeout = std::max<caf::timespan>(bs.max_reset_timeout, cb.reset);
    bs.events = self->events();
    bs.reporter = self->parent_path();
    self->state.breaker = make_listed_breaker(self->system(), bs);
  }
  auto say = [self, path, target] {
    auto& st = self->state;
    auto line = fmt::format("caller {} -> \"{}\": {} ok, {} failed", path, target, st.ok,
                            st.failed);
    for (auto& [name, n] : st.errors)
      line += fmt::format(", {} {}", n, name);
    if (!st.last.empty())
      line += fmt::format(" (last answer {})", st.last);
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  };
  self->on_terminate([say](const caf::error&) { say(); });
  auto failed = [self, target](caf::error& err) {
    if (auto& b = self->state.breaker)
      b->on_failure(self->clock().now(), err);
    ++self->state.failed;
    auto named = cluster_call_error(self->system(), target, std::move(err));
    self->state.errors[named.category() == error_category
                         ? to_string(static_cast<errc>(named.code()))
                         : describe(named)]++;
  };
  self->delayed_send(self, interval, tick_atom::value);
  self->delayed_send(self, report, report_atom::value);
  return with_fault_protocol(
    self,
    [=](tick_atom) {
      self->delayed_send(self, interval, tick_atom::value);
      auto& st = self->state;
      if (st.breaker) {
        if (auto err = st.breaker->admit(self->clock().now())) {
          ++st.failed;  // failed fast: nothing sent
          ++st.errors[to_string(errc::circuit_open)];
          return;
        }
      }
      auto succeeded = [self](std::string last) {
        if (auto& b = self->state.breaker)
          b->on_success(self->clock().now());
        ++self->state.ok;
        self->state.last = std::move(last);
      };
      auto timeout_span = caf::timespan{timeout};
      if (message == "add")
        cluster_request(self, target, timeout_span, add_atom::value)
          .then([succeeded](int n) { succeeded(std::to_string(n)); }, failed);
      else
        cluster_request(self, target, timeout_span, message)
          .then([succeeded](const std::string& answer) { succeeded("\"" + answer + "\""); },
                failed);
    },
    [=](report_atom) {
      say();
      self->delayed_send(self, report, report_atom::value);
    },
    [self](get_atom) { return self->state.ok; });
}

/// Answers each string with itself after `work`, several at a time (a regulator in front
/// decides how many): a slow consumer for flow and overload tests.
init_result slow(service_actor* self, std::string path, std::chrono::milliseconds work) {
  if (auto failure = begin_init(self, path))
    return *failure;
  using done_atom_t = caf::atom_constant<caf::atom("slowDone")>;
  auto pending = std::make_shared<std::map<uint64_t, caf::response_promise>>();
  auto next = std::make_shared<uint64_t>(0);
  return with_fault_protocol(
    self,
    [=](const std::string& s) {
      auto id = ++*next;
      pending->emplace(id, self->make_response_promise());
      self->delayed_send(self, work, done_atom_t::value, id, s);
    },
    [=](done_atom_t, uint64_t id, const std::string& s) {
      if (auto i = pending->find(id); i != pending->end()) {
        i->second.deliver(s);
        pending->erase(i);
      }
    });
}

struct producer_state {
  std::unique_ptr<flow_sender> out;
  uint64_t offered = 0;
  uint64_t refused = 0;  // buffer_full at the producer: the back pressure it felt
};

/// Offers `rate` strings per second to the cluster name `target` through a flow_sender
/// (flow_sender.hpp) and prints its figures every `report` and at exit.
init_result producer(stateful_service<producer_state>* self, std::string path,
                     std::string target, int64_t rate, flow_settings fs,
                     std::chrono::milliseconds report) {
  if (auto failure = begin_init(self, path))
    return *failure;
  self->state.out = std::make_unique<flow_sender>(
    self, [sys = &self->system(), target] { return call_route(*sys, target); }, fs);
  auto say = [self, path, target] {
    auto& st = self->state;
    auto f = st.out->stats();
    std::printf("producer %s -> \"%s\": offered %llu, refused %llu, sent %llu, answered %llu, "
                "failed %llu, in flight %u, grant %u, buffered %zu\n",
                path.c_str(), target.c_str(), static_cast<unsigned long long>(st.offered),
                static_cast<unsigned long long>(st.refused),
                static_cast<unsigned long long>(f.sent),
                static_cast<unsigned long long>(f.answered),
                static_cast<unsigned long long>(f.failed), f.in_flight, f.grant, f.buffered);
    std::fflush(stdout);
  };
  self->on_terminate([say](const caf::error&) { say(); });
  constexpr auto tick = std::chrono::milliseconds{10};
  auto per_tick = std::max<int64_t>(1, rate / 100);
  self->delayed_send(self, tick, tick_atom::value);
  self->delayed_send(self, report, report_atom::value);
  return with_fault_protocol(
    self,
    [=](tick_atom) {
      self->delayed_send(self, tick, tick_atom::value);
      auto& st = self->state;
      for (int64_t i = 0; i < per_tick; ++i) {
        ++st.offered;
        if (st.out->offer(caf::make_message(fmt::format("item {}", st.offered))))
          ++st.refused;
      }
    },
    [=](report_atom) {
      say();
      self->delayed_send(self, report, report_atom::value);
    });
}

// --- factories (read params up front, so a bad value fails the tree file) -----------------

caf::expected<start_function> make_echo(const service_params& p) {
  return service(echo, p.child_path);
}

caf::expected<start_function> make_counter(const service_params& p) {
  auto start = p.get_int("start", 0, INT32_MIN, INT32_MAX);
  if (!start)
    return start.error();
  return service(counter, p.child_path, static_cast<int>(*start));
}

caf::expected<start_function> make_ledger(const service_params& p) {
  auto* env = std::getenv(data_dir_env);
  auto dir = p.get_string("dir", env != nullptr && *env != '\0' ? env : default_data_dir);
  if (!dir)
    return dir.error();
  return service(ledger, p.child_path, *dir);
}

caf::expected<start_function> make_failing_start(const service_params& p) {
  auto fail_starts = p.get_int("fail_starts", 1, 0);
  if (!fail_starts)
    return fail_starts.error();
  auto ok_starts = p.get_int("ok_starts", 0, 0);
  if (!ok_starts)
    return ok_starts.error();
  auto mode_name = p.get_choice("mode", "error", {"error", "exception", "ignore"});
  if (!mode_name)
    return mode_name.error();
  auto mode = *mode_name == "error"       ? fail_mode::error
              : *mode_name == "exception" ? fail_mode::exception
                                          : fail_mode::ignore;
  // One counter per child spec, shared by all its starts: restarts see earlier starts.
  auto starts = std::make_shared<std::atomic<int64_t>>(0);
  return service(failing_start, p.child_path, starts, *ok_starts, *fail_starts, mode);
}

caf::expected<start_function> make_ignores_shutdown(const service_params& p) {
  return service(ignores_shutdown, p.child_path);
}

/// The duration parameter `key` (default `fallback`), which must be > 0.
caf::expected<std::chrono::milliseconds> positive_duration(const service_params& p,
                                                           const std::string& key,
                                                           std::chrono::milliseconds fallback) {
  auto x = p.get_duration(key, fallback);
  if (x && x->count() <= 0)
    return make_error(errc::bad_config, key, std::string{"must be > 0"});
  return x;
}

/// The required string parameter `target`; `what` says what it names.
caf::expected<std::string> required_target(const service_params& p, const char* what) {
  auto x = p.get_string("target", "");
  if (x && x->empty())
    return make_error(errc::bad_config, std::string{"target"},
                      std::string{what} + "; required");
  return x;
}

caf::expected<start_function> make_ticker(const service_params& p) {
  auto interval = positive_duration(p, "interval_ms", std::chrono::milliseconds{100});
  if (!interval)
    return interval.error();
  return service(ticker, p.child_path, *interval);
}

caf::expected<start_function> make_caller(const service_params& p) {
  auto target = required_target(p, "names the cluster service to call");
  if (!target)
    return target.error();
  auto message = p.get_string("message", "add");
  if (!message)
    return message.error();
  caller_breaker cb;
  auto interval = positive_duration(p, "interval_ms", std::chrono::milliseconds{200});
  auto timeout = positive_duration(p, "timeout_ms", std::chrono::milliseconds{1000});
  auto report = positive_duration(p, "report_ms", std::chrono::milliseconds{2000});
  auto reset = positive_duration(p, "breaker_reset_ms", cb.reset);
  for (auto* x : {&interval, &timeout, &report, &reset})
    if (!*x)
      return x->error();
  auto failures = p.get_int("breaker_failures", 0, 0, 1000000);
  if (!failures)
    return failures.error();
  cb.failures = static_cast<uint32_t>(*failures);
  cb.reset = *reset;
  return service(caller, p.child_path, *target, *message, *interval, *timeout, *report, cb);
}

caf::expected<start_function> make_slow(const service_params& p) {
  auto work = positive_duration(p, "work_ms", std::chrono::milliseconds{10});
  if (!work)
    return work.error();
  return service(slow, p.child_path, *work);
}

caf::expected<start_function> make_producer(const service_params& p) {
  auto target = required_target(p, "names the consumer to feed");
  if (!target)
    return target.error();
  auto rate = p.get_int("rate_per_s", 1000, 1, 1000000);
  auto buffer = p.get_int("buffer", 1000, 1, 100000000);
  auto window = p.get_int("max_in_flight", 64, 1, 1000000);
  for (auto* x : {&rate, &buffer, &window})
    if (!*x)
      return x->error();
  auto report = positive_duration(p, "report_ms", std::chrono::milliseconds{1000});
  if (!report)
    return report.error();
  flow_settings fs;
  fs.name = p.child_path;
  fs.buffer = static_cast<size_t>(*buffer);
  fs.max_in_flight = static_cast<uint32_t>(*window);
  return service(producer, p.child_path, *target, *rate, fs, *report);
}

} // namespace

void add_builtin_services(service_catalog& catalog) {
  catalog.add("caller", make_caller,
              "calls the cluster name target every interval_ms (200) with message (\"add\" "
              "for a counter, else that string), timeout_ms (1000); prints counts every "
              "report_ms (2000) and at exit; breaker_failures (0: none) failures within 10 s "
              "open a circuit breaker, probed after breaker_reset_ms (1000)");
  catalog.add("echo", make_echo, "replies to any string with the same string");
  catalog.add("counter", make_counter,
              "an int from param start (0): \"add\" increments and answers it, \"get\" answers it");
  catalog.add("ledger", make_ledger,
              "a fenced file of request ids in dir ($WARDEN_DATA_DIR, else .warden/data): "
              "(\"add\", id) stores it and answers the count, \"get\" answers every id");
  catalog.add("failing_start", make_failing_start,
              "after ok_starts (0) good starts, fail_starts (1) starts fail; mode = "
              "error|exception|ignore (error)");
  catalog.add("ignores_shutdown", make_ignores_shutdown,
              "like echo, but ignores shutdown signals: only kill stops it");
  catalog.add("slow", make_slow,
              "answers each string with itself after work_ms (10), several at a time (put a "
              "regulator in front to limit them)");
  catalog.add("producer", make_producer,
              "offers rate_per_s (1000) strings to the cluster name target through a "
              "credit-based flow (max_in_flight 64, buffer 1000); prints its figures every "
              "report_ms (1000) and at exit");
  catalog.add("ticker", make_ticker,
              "sends itself a tick every interval_ms (100) and counts; \"get\" answers the count");
}

} // namespace warden
