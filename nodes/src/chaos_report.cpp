#include "warden/chaos_report.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <stdexcept>

#include <fmt/format.h>

#include "warden/detail/text.hpp"

namespace warden::chaos {

namespace {

using json = nlohmann::json;

// Names come from users and may hold invalid UTF-8: replace it rather than throw.
std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string ms_text(double ms) {
  return std::abs(ms) >= 100 ? fmt::format("{:.0f} ms", ms) : fmt::format("{:.1f} ms", ms);
}

std::string s_text(double ms) {
  return fmt::format("{:.2f} s", ms / 1000);
}

using detail::join;

} // namespace

// --- records -----------------------------------------------------------------------------

const char* to_string(op_kind x) {
  switch (x) {
    case op_kind::invoke: return "invoke";
    case op_kind::ok: return "ok";
    case op_kind::fail: return "fail";
  }
  return "?";
}

const char* to_string(hypothesis_phase x) {
  return x == hypothesis_phase::before ? "before" : "after";
}

void to_json(json& j, const operation& x) {
  j = json{{"id", x.id}, {"service", x.service}, {"kind", to_string(x.kind)},
           {"node", x.node}, {"time", x.time}};
  if (x.kind == op_kind::fail)
    j["error"] = x.error;
  if (x.kind == op_kind::ok)
    j["latency_ms"] = x.latency_ms;
}

void from_json(const json& j, operation& x) {
  x.id = j.at("id").get<uint64_t>();
  x.service = j.at("service").get<std::string>();
  auto kind = j.at("kind").get<std::string>();
  if (kind == "invoke")
    x.kind = op_kind::invoke;
  else if (kind == "ok")
    x.kind = op_kind::ok;
  else if (kind == "fail")
    x.kind = op_kind::fail;
  else
    throw std::invalid_argument("operation: unknown kind \"" + kind + "\"");
  x.node = j.at("node").get<std::string>();
  x.time = j.at("time").get<double>();
  x.error = j.value("error", std::string{});
  x.latency_ms = j.value("latency_ms", 0.0);
}

void to_json(json& j, const fault& x) {
  j = json{{"name", x.name}, {"target", x.target}, {"start_ms", x.start_ms}, {"end_ms", nullptr}};
  if (x.end_ms)
    j["end_ms"] = *x.end_ms;
}

void from_json(const json& j, fault& x) {
  x.name = j.at("name").get<std::string>();
  x.target = j.value("target", std::string{});
  x.start_ms = j.at("start_ms").get<double>();
  auto end = j.find("end_ms");
  x.end_ms = end == j.end() || end->is_null() ? std::nullopt
                                              : std::optional<double>{end->get<double>()};
}

void to_json(json& j, const event& x) {
  j = json{{"time_ms", x.time_ms}, {"node", x.node}, {"name", x.name}, {"detail", x.detail}};
}

void from_json(const json& j, event& x) {
  x.time_ms = j.at("time_ms").get<double>();
  x.node = j.at("node").get<std::string>();
  x.name = j.at("name").get<std::string>();
  x.detail = j.value("detail", json::object());
}

void to_json(json& j, const copies_sample& x) {
  j = json{{"time_ms", x.time_ms}, {"key", x.key}, {"nodes", x.nodes}, {"epochs", x.epochs}};
}

void from_json(const json& j, copies_sample& x) {
  x.time_ms = j.at("time_ms").get<double>();
  x.key = j.at("key").get<std::string>();
  x.nodes = j.at("nodes").get<std::vector<std::string>>();
  x.epochs = j.value("epochs", std::vector<uint64_t>{});
}

void to_json(json& j, const hypothesis_check& x) {
  j = json{{"phase", to_string(x.phase)}, {"name", x.name}, {"ok", x.ok}, {"figure", x.figure}};
}

void from_json(const json& j, hypothesis_check& x) {
  auto phase = j.at("phase").get<std::string>();
  if (phase == "before")
    x.phase = hypothesis_phase::before;
  else if (phase == "after")
    x.phase = hypothesis_phase::after;
  else
    throw std::invalid_argument("hypothesis_check: unknown phase \"" + phase + "\"");
  x.name = j.at("name").get<std::string>();
  x.ok = j.at("ok").get<bool>();
  x.figure = j.value("figure", std::string{});
}

void to_json(json& j, const acknowledged_read& x) {
  j = json{{"service", x.service}, {"ids", x.ids}};
}

void from_json(const json& j, acknowledged_read& x) {
  x.service = j.at("service").get<std::string>();
  x.ids = j.at("ids").get<std::set<uint64_t>>();
}

void to_json(json& j, const check_result& x) {
  j = json{{"name", x.name}, {"ok", x.ok}, {"figure", x.figure}, {"detail", x.detail}};
}

void from_json(const json& j, check_result& x) {
  x.name = j.at("name").get<std::string>();
  x.ok = j.at("ok").get<bool>();
  x.figure = j.value("figure", std::string{});
  x.detail = j.value("detail", std::string{});
}

// --- recording ---------------------------------------------------------------------------

chaos_recorder::chaos_recorder(std::string scenario, uint64_t seed, clock_fn clock)
  : clock_(std::move(clock)) {
  if (!clock_) {
    auto start = std::chrono::steady_clock::now();
    clock_ = [start] {
      return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
        .count();
    };
  }
  run_.scenario = std::move(scenario);
  run_.seed = seed;
}

double chaos_recorder::now_ms() const {
  return clock_();
}

void chaos_recorder::add_node(const std::string& name) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (std::find(run_.nodes.begin(), run_.nodes.end(), name) == run_.nodes.end())
    run_.nodes.push_back(name);
}

// Times are taken under the lock so the history stays in time order.
uint64_t chaos_recorder::invoke(const std::string& service, const std::string& node) {
  std::lock_guard<std::mutex> guard{mtx_};
  operation op{next_id_++, service, op_kind::invoke, node, clock_(), {}, 0};
  open_.emplace(op.id, op);
  run_.history.push_back(std::move(op));
  return run_.history.back().id;
}

bool chaos_recorder::ok(uint64_t id) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = open_.find(id);
  if (i == open_.end())
    return false;
  auto op = i->second;
  open_.erase(i);
  auto sent = op.time;
  op.kind = op_kind::ok;
  op.time = clock_();
  op.latency_ms = op.time - sent;
  run_.history.push_back(std::move(op));
  return true;
}

bool chaos_recorder::fail(uint64_t id, const std::string& error) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = open_.find(id);
  if (i == open_.end())
    return false;
  auto op = i->second;
  open_.erase(i);
  op.kind = op_kind::fail;
  op.time = clock_();
  op.error = error;
  run_.history.push_back(std::move(op));
  return true;
}

size_t chaos_recorder::fault_started(const std::string& name, const std::string& target) {
  std::lock_guard<std::mutex> guard{mtx_};
  run_.faults.push_back(fault{name, target, clock_(), std::nullopt});
  return run_.faults.size() - 1;
}

void chaos_recorder::instant_fault(const std::string& name, const std::string& target) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto now = clock_();
  run_.faults.push_back(fault{name, target, now, now});
}

void chaos_recorder::fault_ended(size_t index) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (index < run_.faults.size())
    run_.faults[index].end_ms = clock_();
}

void chaos_recorder::add_event(const std::string& node, const std::string& name,
                               nlohmann::json detail) {
  std::lock_guard<std::mutex> guard{mtx_};
  run_.events.push_back(event{clock_(), node, name, std::move(detail)});
}

void chaos_recorder::add_sample(const std::string& key, std::vector<std::string> nodes,
                                std::vector<uint64_t> epochs) {
  std::lock_guard<std::mutex> guard{mtx_};
  run_.copies.push_back(copies_sample{clock_(), key, std::move(nodes), std::move(epochs)});
}

void chaos_recorder::add_check(hypothesis_phase phase, const std::string& name, bool ok,
                               const std::string& figure) {
  std::lock_guard<std::mutex> guard{mtx_};
  run_.hypothesis.push_back(hypothesis_check{phase, name, ok, figure});
}

void chaos_recorder::set_final_read(const std::string& service, std::set<uint64_t> ids) {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& r : run_.final_reads)
    if (r.service == service) {
      r.ids = std::move(ids);
      return;
    }
  run_.final_reads.push_back(acknowledged_read{service, std::move(ids)});
}

void chaos_recorder::set_rerun(const std::string& command) {
  std::lock_guard<std::mutex> guard{mtx_};
  run_.rerun = command;
}

chaos_record chaos_recorder::finish() const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto result = run_;
  result.duration_ms = clock_();
  return result;
}

// --- verdict -----------------------------------------------------------------------------

const check_result* chaos_verdict::find(std::string_view name) const {
  for (auto& c : checks)
    if (c.name == name)
      return &c;
  return nullptr;
}

namespace {

check_result check_hypothesis(const chaos_record& run, hypothesis_phase phase) {
  check_result c{std::string{"hypothesis_"} + to_string(phase), false, {}, {}};
  size_t total = 0;
  size_t held = 0;
  std::vector<std::string> failed;
  for (auto& h : run.hypothesis) {
    if (h.phase != phase)
      continue;
    ++total;
    if (h.ok)
      ++held;
    else
      failed.push_back(h.name + ": " + h.figure);
  }
  if (total == 0) {
    // Without a steady state the run proves nothing.
    c.figure = "not checked";
    c.detail = "no hypothesis check recorded for this phase";
    return c;
  }
  c.ok = held == total;
  c.figure = fmt::format("{}/{} hold", held, total);
  c.detail = join(failed, "; ");
  return c;
}

check_result check_lost(const chaos_record& run) {
  constexpr size_t max_ids_shown = 20;
  std::map<std::string, const std::set<uint64_t>*> reads;
  for (auto& r : run.final_reads)
    reads[r.service] = &r.ids;
  std::map<std::string, std::set<uint64_t>> lost;
  std::set<std::string> unchecked;
  for (auto& op : run.history) {
    if (op.kind != op_kind::ok)
      continue;
    auto i = reads.find(op.service);
    if (i == reads.end())
      unchecked.insert(op.service);
    else if (i->second->count(op.id) == 0)
      lost[op.service].insert(op.id);
  }
  size_t total = 0;
  std::vector<std::string> parts;
  for (auto& [service, ids] : lost) {
    total += ids.size();
    std::vector<std::string> shown;
    for (auto id : ids) {
      if (shown.size() == max_ids_shown) {
        shown.push_back(fmt::format("... (+{})", ids.size() - max_ids_shown));
        break;
      }
      shown.push_back(std::to_string(id));
    }
    parts.push_back(service + ": " + join(shown, ", "));
  }
  if (!unchecked.empty())
    parts.push_back("not checked (no final read): " +
                    join(std::vector<std::string>(unchecked.begin(), unchecked.end()), ", "));
  return {"lost_acknowledged", total == 0, fmt::format("{} lost", total), join(parts, "; ")};
}

check_result check_copies(const chaos_record& run) {
  check_result c{"singleton_copies", true, {}, {}};
  if (run.copies.empty()) {
    c.figure = "no samples";
    return c;
  }
  size_t most = 0;
  size_t over = 0;
  const copies_sample* first = nullptr;
  for (auto& s : run.copies) {
    most = std::max(most, s.nodes.size());
    if (s.nodes.size() > 1) {
      ++over;
      if (!first || s.time_ms < first->time_ms)
        first = &s;
    }
  }
  c.figure = fmt::format("max {} at once", most);
  if (first) {
    c.ok = false;
    std::vector<std::string> owners;
    for (size_t i = 0; i < first->nodes.size(); ++i)
      owners.push_back(fmt::format("{} (epoch {})", first->nodes[i],
                                   i < first->epochs.size() ? first->epochs[i] : 0));
    c.detail = fmt::format("{} copies of '{}' at {}: {}; {} of {} samples had more than one",
                           first->nodes.size(), first->key, ms_text(first->time_ms),
                           join(owners, ", "), over, run.copies.size());
  }
  return c;
}

std::string recovery_check_name(const fault& f) {
  return fmt::format("recovery {} {} @{:.0f}ms", f.name, f.target, f.start_ms);
}

// Recovery is measured per client stream (service, client node): a client cut off with a
// minority fails until the heal, and a minority copy answers its local client until its
// lease fences it, so neither the last failure nor the first answer of the service as a
// whole says when it came back. A stream that failed in an episode's window was out from
// the send of that failed request (not before the episode) to its first ok after it: a
// request to a hung node fails only at its timeout, and a move long after the episode
// began (a node rejoining after its quarantine) is a short outage, not a slow recovery.
// One that only succeeded recovered at once (0); the service recovers with its first
// stream.
std::vector<check_result> check_recovery(const chaos_record& run, const chaos_bounds& bounds) {
  struct outcomes {
    std::vector<double> ok;
    std::vector<double> fail;       // outcome times, sorted
    std::vector<double> fail_sent;  // fail_sent[i]: when the request of fail[i] was sent
  };
  std::unordered_map<uint64_t, double> sent;
  for (auto& op : run.history)
    if (op.kind == op_kind::invoke)
      sent[op.id] = op.time;
  std::map<std::string, std::map<std::string, std::vector<std::pair<double, double>>>> failed_at;
  std::map<std::string, std::map<std::string, outcomes>> streams;  // service -> node -> ...
  for (auto& op : run.history) {
    if (op.kind == op_kind::ok) {
      streams[op.service][op.node].ok.push_back(op.time);
    } else if (op.kind == op_kind::fail) {
      auto i = sent.find(op.id);
      failed_at[op.service][op.node].emplace_back(op.time, i != sent.end() ? i->second : op.time);
      streams[op.service][op.node];
    }
  }
  for (auto& [service, by_node] : streams)
    for (auto& [node, o] : by_node) {
      std::sort(o.ok.begin(), o.ok.end());
      auto& fails = failed_at[service][node];
      std::sort(fails.begin(), fails.end());
      for (auto& [at, from] : fails) {
        o.fail.push_back(at);
        o.fail_sent.push_back(from);
      }
    }
  auto in = [](const std::vector<double>& xs, double from, double to) {
    auto i = std::lower_bound(xs.begin(), xs.end(), from);
    return i != xs.end() && *i < to ? i : xs.end();
  };
  // Every fault starts an episode, and so does the end of a lasting one (the heal, the
  // resume: services move back then); failures belong to the latest episode before them,
  // and each episode's recovery counts from its own start.
  struct episode {
    const fault* f;
    double from;
    std::string name;
  };
  std::vector<episode> episodes;
  for (auto& f : run.faults) {
    episodes.push_back({&f, f.start_ms, recovery_check_name(f)});
    if (f.end_ms && *f.end_ms > f.start_ms)
      episodes.push_back({&f, *f.end_ms,
                          fmt::format("recovery end of {} {} @{:.0f}ms", f.name, f.target,
                                      *f.end_ms)});
  }
  std::vector<check_result> result;
  for (auto& e : episodes) {
    auto& f = *e.f;
    auto window_end = std::numeric_limits<double>::infinity();
    for (auto& other : episodes)
      if (other.from > e.from)
        window_end = std::min(window_end, other.from);
    auto b = bounds.max_recovery_for.find(f.name);
    auto bound = static_cast<double>(
      (b != bounds.max_recovery_for.end() ? b->second : bounds.max_recovery).count());
    check_result c{e.name, true, {}, {}};
    double worst = 0;
    bool recovered = true;
    std::vector<std::string> parts;
    for (auto& [service, by_node] : streams) {
      std::optional<double> took;  // the service's: its earliest stream's
      bool failed = false;
      std::vector<std::string> per_node;
      for (auto& [node, o] : by_node) {
        auto first_fail = in(o.fail, e.from, window_end);
        if (first_fail == o.fail.end()) {
          if (in(o.ok, e.from, window_end) != o.ok.end()) {
            took = 0;
            per_node.push_back(node + " unaffected");
          }
          continue;
        }
        failed = true;
        auto first_ok = std::upper_bound(o.ok.begin(), o.ok.end(), *first_fail);
        if (first_ok == o.ok.end()) {
          per_node.push_back(node + " not recovered");
          continue;
        }
        auto out_since = std::max(e.from, o.fail_sent[first_fail - o.fail.begin()]);
        auto t = *first_ok - out_since;
        took = std::min(took.value_or(t), t);
        per_node.push_back(fmt::format("{} {}", node, ms_text(t)));
      }
      if (!failed)
        continue;  // this fault did not disrupt the service
      auto streams_text = join(per_node, ", ");
      if (!took) {
        recovered = false;
        parts.push_back(fmt::format("{} not recovered ({})", service, streams_text));
        continue;
      }
      worst = std::max(worst, *took);
      parts.push_back(fmt::format("{} {} ({})", service, ms_text(*took), streams_text));
    }
    if (parts.empty()) {
      c.figure = "no failed requests";
    } else if (!recovered) {
      c.ok = false;
      c.figure = "not recovered";
    } else {
      c.ok = worst <= bound;
      c.figure = ms_text(worst);
    }
    parts.push_back("bound " + ms_text(bound));
    c.detail = join(parts, "; ");
    result.push_back(std::move(c));
  }
  return result;
}

check_result check_availability(const chaos_record& run, const chaos_bounds& bounds) {
  size_t invoked = 0;
  size_t ok = 0;
  size_t failed = 0;
  std::map<std::string, size_t> failed_by_error;  // a refusal under overload is no outage
  for (auto& op : run.history) {
    invoked += op.kind == op_kind::invoke;
    ok += op.kind == op_kind::ok;
    if (op.kind == op_kind::fail) {
      ++failed;
      ++failed_by_error[op.error];
    }
  }
  if (invoked == 0)  // a hand-made history may hold outcomes only
    invoked = ok + failed;
  check_result c{"availability", !bounds.min_availability, {}, {}};
  if (invoked == 0) {
    c.figure = "no requests";
    return c;
  }
  auto share = static_cast<double>(ok) / static_cast<double>(invoked);
  c.figure = fmt::format("{:.2f}% ({}/{})", share * 100, ok, invoked);
  std::vector<std::pair<size_t, std::string>> by_count;
  for (auto& [error, n] : failed_by_error)
    by_count.emplace_back(n, error);
  std::stable_sort(by_count.begin(), by_count.end(),
                   [](auto& x, auto& y) { return x.first > y.first; });
  std::vector<std::string> parts;
  for (auto& [n, error] : by_count)
    parts.push_back(fmt::format("{} {}", n, error));
  c.detail = fmt::format("{} failed{}, {} without an answer", failed,
                         parts.empty() ? "" : " (" + join(parts, ", ") + ")",
                         invoked - ok - failed);
  if (bounds.min_availability) {
    c.ok = share >= *bounds.min_availability;
    c.detail += fmt::format(", bound {:.2f}%", *bounds.min_availability * 100);
  }
  return c;
}

/// One check per overload fault: every request sent to its service while the fault was on
/// got an answer before the caller gave up, ok or a named refusal (a regulated service
/// refuses explicitly; an unregulated one queues until callers time out).
std::vector<check_result> check_overload(const chaos_record& run) {
  std::vector<check_result> out;
  for (auto& f : run.faults) {
    if (f.name != "overload")
      continue;
    auto service = f.target.substr(0, f.target.find(' '));
    auto end = f.end_ms.value_or(run.duration_ms);
    auto of_service = [&](const std::string& x) {
      return x == service || x.starts_with(service + "#");
    };
    std::set<uint64_t> ids;
    for (auto& op : run.history)
      if (op.kind == op_kind::invoke && of_service(op.service) && op.time >= f.start_ms
          && op.time <= end)
        ids.insert(op.id);
    size_t ok = 0;
    std::map<std::string, size_t> refused;
    for (auto& op : run.history)
      if (op.kind != op_kind::invoke && ids.count(op.id) > 0) {
        if (op.kind == op_kind::ok)
          ++ok;
        else
          ++refused[op.error];
      }
    size_t answered = ok;
    std::vector<std::string> parts;
    for (auto& [name, n] : refused) {
      answered += n;
      parts.push_back(fmt::format("{} {}", n, name));
    }
    auto unanswered = ids.size() - answered;
    auto timeouts = refused.count("call_timeout") > 0 ? refused["call_timeout"] : 0;
    check_result c{fmt::format("overload {} @{:.0f}ms", f.target, f.start_ms), false, {}, {}};
    auto secs = std::max(end - f.start_ms, 1.0) / 1000;
    c.figure = fmt::format("{} sent, {} ok ({:.0f}/s), {} refused, {} timed out or unanswered",
                           ids.size(), ok, static_cast<double>(ok) / secs,
                           answered - ok - timeouts, timeouts + unanswered);
    c.ok = !ids.empty() && timeouts + unanswered == 0;
    c.detail = ids.empty() ? "no request was sent to the service while the fault was on"
                           : fmt::format("answers: {} ok{}{}", ok, parts.empty() ? "" : ", ",
                                         join(parts, ", "));
    out.push_back(std::move(c));
  }
  return out;
}

} // namespace

double percentile(const std::vector<double>& xs, double p) {
  auto rank = static_cast<size_t>(std::ceil(p / 100 * static_cast<double>(xs.size())));
  return xs[std::clamp<size_t>(rank, 1, xs.size()) - 1];
}

namespace {

check_result check_latency(const chaos_record& run, const chaos_bounds& bounds) {
  std::vector<double> xs;
  for (auto& op : run.history)
    if (op.kind == op_kind::ok)
      xs.push_back(op.latency_ms);
  check_result c{"latency", !bounds.max_p99_ms, {}, {}};
  if (xs.empty()) {
    c.figure = "no ok requests";
    return c;
  }
  std::sort(xs.begin(), xs.end());
  auto p99 = percentile(xs, 99);
  c.figure = fmt::format("p50 {}, p99 {}", ms_text(percentile(xs, 50)), ms_text(p99));
  c.detail = fmt::format("{} ok requests, max {}", xs.size(), ms_text(xs.back()));
  if (bounds.max_p99_ms) {
    c.ok = p99 <= *bounds.max_p99_ms;
    c.detail += ", bound p99 " + ms_text(*bounds.max_p99_ms);
  }
  return c;
}

} // namespace

chaos_verdict evaluate(const chaos_record& run, const chaos_bounds& bounds) {
  chaos_verdict v;
  v.checks.push_back(check_hypothesis(run, hypothesis_phase::before));
  v.checks.push_back(check_hypothesis(run, hypothesis_phase::after));
  v.checks.push_back(check_lost(run));
  v.checks.push_back(check_copies(run));
  for (auto& c : check_recovery(run, bounds))
    v.checks.push_back(std::move(c));
  for (auto& c : check_overload(run))
    v.checks.push_back(std::move(c));
  v.checks.push_back(check_availability(run, bounds));
  v.checks.push_back(check_latency(run, bounds));
  v.ok = std::all_of(v.checks.begin(), v.checks.end(), [](auto& c) { return c.ok; });
  return v;
}

// --- results.json, summary.txt -----------------------------------------------------------

nlohmann::json results_json(const chaos_record& run, const chaos_verdict& verdict) {
  size_t requests = 0;
  for (auto& op : run.history)
    requests += op.kind == op_kind::invoke;
  return json{
    {"valid", verdict.ok},
    {"scenario", run.scenario},
    {"seed", run.seed},
    {"rerun", run.rerun},
    {"duration_ms", run.duration_ms},
    {"checks", verdict.checks},
    {"hypothesis", run.hypothesis},
    {"faults", run.faults},
    {"final_reads", run.final_reads},
    {"counts",
     {{"operations", run.history.size()},
      {"requests", requests},
      {"events", run.events.size()},
      {"faults", run.faults.size()},
      {"samples", run.copies.size()}}},
  };
}

std::string summary_text(const chaos_record& run, const chaos_verdict& verdict) {
  size_t failed = 0;
  size_t width = 0;
  for (auto& c : verdict.checks) {
    failed += !c.ok;
    width = std::max(width, c.name.size());
  }
  size_t requests = 0;
  for (auto& op : run.history)
    requests += op.kind == op_kind::invoke;
  auto out = fmt::format("chaos run \"{}\": {}", run.scenario, verdict.ok ? "VALID" : "INVALID");
  if (failed > 0)
    out += fmt::format(" ({} of {} checks failed)", failed, verdict.checks.size());
  out += fmt::format("\nseed {}, duration {:.1f} s, {} requests, {} faults, {} events\n\n",
                     run.seed, run.duration_ms / 1000, requests, run.faults.size(),
                     run.events.size());
  for (auto& c : verdict.checks) {
    out += fmt::format("{}  {:<{}}  {}", c.ok ? "PASS" : "FAIL", c.name, width, c.figure);
    if (!c.ok && !c.detail.empty())
      out += "  -- " + c.detail;
    out += '\n';
  }
  out += run.rerun.empty() ? fmt::format("\nrerun: the same scenario with seed {}\n", run.seed)
                           : fmt::format("\nrerun: {}\n", run.rerun);
  return out;
}

// --- timeline.html -----------------------------------------------------------------------

namespace {

std::string esc(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += ch;
    }
  }
  return out;
}

// The lane state a membership event starts; nullptr for other events.
const char* member_state_of(const std::string& name) {
  if (name == "node_up" || name == "node_reachable")
    return "up";
  if (name == "node_joining")
    return "joining";
  if (name == "node_unreachable")
    return "unreachable";
  if (name == "node_down" || name == "self_downed")
    return "down";
  if (name == "node_removed")
    return "removed";
  return nullptr;
}

constexpr const char* node_colors[] = {"#4e79a7", "#f28e2b", "#76b7b2", "#af7aa1",
                                       "#edc948", "#9c755f", "#59a14f", "#bab0ac"};

// The timeline's geometry and its SVG elements, built top to bottom.
class timeline {
public:
  static constexpr double width = 1200;
  static constexpr double left = 170;   // lane labels
  static constexpr double right = 20;

  explicit timeline(double duration_ms)
    : duration_(std::isfinite(duration_ms) ? std::max(duration_ms, 1.0) : 1.0) {}

  double x(double ms) const {
    return left + std::clamp(ms, 0.0, duration_) / duration_ * (width - left - right);
  }

  double w(double from, double to) const { return std::max(x(to) - x(from), 1.5); }

  double duration() const { return duration_; }

  void section(const std::string& title) {
    y_ += 8;
    body_ += fmt::format("<text class=\"section\" x=\"4\" y=\"{:.0f}\">{}</text>\n", y_ + 12,
                         esc(title));
    y_ += 18;
  }

  // Starts a lane of `height` labelled `label`; returns its top.
  double lane(const std::string& label, double height) {
    auto top = y_;
    body_ += fmt::format("<text x=\"12\" y=\"{:.1f}\">{}</text>\n", top + height / 2 + 4,
                         esc(label));
    y_ += height + 4;
    return top;
  }

  void rect(double x0, double y, double wd, double h, std::string_view style,
            const std::string& title, const std::string& label = {}) {
    body_ += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" "
                         "{}><title>{}</title></rect>\n",
                         x0, y, wd, h, style, esc(title));
    if (!label.empty() && wd > 7.0 * static_cast<double>(label.size()))
      body_ += fmt::format("<text class=\"in\" x=\"{:.1f}\" y=\"{:.1f}\">{}</text>\n", x0 + 3,
                           y + h / 2 + 4, esc(label));
  }

  void raw(const std::string& svg) { body_ += svg; }

  // A dashed line over the whole plot at every fault start.
  void marker(double ms) { markers_.push_back(ms); }

  std::string svg() const {
    auto height = y_ + 10;
    std::string out = fmt::format(
      "<svg viewBox=\"0 0 {:.0f} {:.0f}\" width=\"100%\" role=\"img\" "
      "aria-label=\"timeline\">\n",
      width, height);
    auto step = tick_step();
    for (double t = 0; t <= duration_ + step / 2; t += step) {
      auto label = step >= 1000 ? fmt::format("{:.0f} s", t / 1000)
                   : step >= 100 ? fmt::format("{:.1f} s", t / 1000)
                                 : fmt::format("{:.2f} s", t / 1000);
      out += fmt::format("<line class=\"grid\" x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"22\" "
                         "y2=\"{1:.0f}\"/><text class=\"tick\" x=\"{0:.1f}\" y=\"16\">{2}"
                         "</text>\n",
                         x(t), height, label);
    }
    for (auto ms : markers_)
      out += fmt::format("<line class=\"fault\" x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"22\" "
                         "y2=\"{1:.0f}\"/>\n",
                         x(ms), height);
    return out + body_ + "</svg>\n";
  }

private:
  // 1, 2 or 5 times a power of ten, for at most 12 ticks.
  double tick_step() const {
    for (double scale = 1;; scale *= 10)
      for (double m : {1.0, 2.0, 5.0})
        if (duration_ / (m * scale) <= 12)
          return m * scale;
  }

  double duration_;
  double y_ = 26;  // below the axis labels
  std::string body_;
  std::vector<double> markers_;
};

// Rows for intervals so none overlaps another in its row; returns row of each, and count.
std::vector<size_t> pack_rows(const std::vector<std::pair<double, double>>& spans,
                              size_t& rows) {
  std::vector<size_t> order(spans.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return spans[a].first < spans[b].first; });
  std::vector<double> row_end;
  std::vector<size_t> row(spans.size());
  for (auto i : order) {
    auto r = std::find_if(row_end.begin(), row_end.end(),
                          [&](double e) { return e <= spans[i].first; });
    if (r == row_end.end()) {
      row[i] = row_end.size();
      row_end.push_back(spans[i].second);
    } else {
      row[i] = static_cast<size_t>(r - row_end.begin());
      *r = spans[i].second;
    }
  }
  rows = row_end.size();
  return row;
}

void draw_faults(timeline& tl, const chaos_record& run, const chaos_verdict& verdict) {
  if (run.faults.empty())
    return;
  tl.section("faults");
  std::vector<std::pair<double, double>> spans;
  for (auto& f : run.faults) {
    // Instant faults (kill_node) still get room for their label.
    auto end = std::max(f.end_ms.value_or(tl.duration()), f.start_ms);
    spans.emplace_back(f.start_ms, std::max(end, f.start_ms + tl.duration() / 8));
  }
  size_t rows = 0;
  auto row = pack_rows(spans, rows);
  constexpr double h = 16;
  auto top = tl.lane("", static_cast<double>(rows) * (h + 2));
  for (size_t i = 0; i < run.faults.size(); ++i) {
    auto& f = run.faults[i];
    tl.marker(f.start_ms);
    auto end = f.end_ms ? *f.end_ms : tl.duration();
    auto title = fmt::format("{} {}: {} to {}", f.name, f.target, s_text(f.start_ms),
                             f.end_ms ? s_text(*f.end_ms) : std::string{"the end (still on)"});
    if (auto* c = verdict.find(recovery_check_name(f)))
      title += fmt::format("; recovery {} ({})", c->figure, c->detail);
    auto y = top + static_cast<double>(row[i]) * (h + 2);
    tl.rect(tl.x(f.start_ms), y, tl.w(f.start_ms, end), h,
            f.end_ms ? "class=\"fault\"" : "class=\"fault open\"", title);
    tl.raw(fmt::format("<text class=\"flabel\" x=\"{:.1f}\" y=\"{:.1f}\">{}</text>\n",
                       tl.x(f.start_ms) + 3, y + 12, esc(f.name + " " + f.target)));
  }
}

void draw_nodes(timeline& tl, const chaos_record& run, const std::vector<std::string>& nodes) {
  tl.section("nodes (membership, restarts)");
  constexpr double h = 18;
  for (auto& node : nodes) {
    auto top = tl.lane(node, h);
    std::vector<const event*> evs;
    for (auto& ev : run.events)
      if (ev.node == node)
        evs.push_back(&ev);
    std::stable_sort(evs.begin(), evs.end(),
                     [](auto* a, auto* b) { return a->time_ms < b->time_ms; });
    const event* band = nullptr;  // the event that started the current state
    auto close_band = [&](double end) {
      if (!band)
        return;
      auto state = member_state_of(band->name);
      auto title = fmt::format("{} {} from {} to {} ({} {})", node, state, s_text(band->time_ms),
                               s_text(end), band->name, dump(band->detail));
      tl.rect(tl.x(band->time_ms), top, tl.w(band->time_ms, end), h,
              fmt::format("class=\"st {}\"", state), title, state);
    };
    std::string marks;
    for (auto* ev : evs) {
      if (member_state_of(ev->name)) {
        close_band(ev->time_ms);
        band = ev;
        continue;
      }
      auto title = esc(fmt::format("{} {} at {}: {}", node, ev->name, s_text(ev->time_ms),
                                   dump(ev->detail)));
      auto x = tl.x(ev->time_ms);
      if (ev->name.find("restart") != std::string::npos)
        marks += fmt::format("<path class=\"restart\" d=\"M{0:.1f} {1:.1f}l-5 -7h10z\">"
                             "<title>{2}</title></path>\n",
                             x, top + 8, title);
      else
        marks += fmt::format("<line class=\"ev\" x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"{1:.1f}\" "
                             "y2=\"{2:.1f}\"><title>{3}</title></line>\n",
                             x, top + h - 6, top + h, title);
    }
    close_band(tl.duration());
    tl.raw(marks);  // over the bands
  }
}

void draw_requests(timeline& tl, const chaos_record& run) {
  std::vector<std::string> services;
  for (auto& op : run.history)
    if (std::find(services.begin(), services.end(), op.service) == services.end())
      services.push_back(op.service);
  if (services.empty())
    return;
  // 100 ms buckets, coarser on long runs so a strip stays under ~1200 rectangles.
  auto bucket = std::max(100.0, std::ceil(tl.duration() / 1200 / 100) * 100);
  tl.section(fmt::format("requests (ok / failed per {:.0f} ms)", bucket));
  constexpr double h = 18;
  for (auto& service : services) {
    std::map<long, std::pair<size_t, size_t>> counts;  // bucket -> ok, failed
    for (auto& op : run.history) {
      if (op.service != service || op.kind == op_kind::invoke)
        continue;
      auto& c = counts[static_cast<long>(std::floor(op.time / bucket))];
      (op.kind == op_kind::ok ? c.first : c.second) += 1;
    }
    auto top = tl.lane(service, h);
    for (auto& [b, c] : counts) {
      auto from = static_cast<double>(b) * bucket;
      auto total = static_cast<double>(c.first + c.second);
      auto title = fmt::format("{} {} to {}: {} ok, {} failed", service, s_text(from),
                               s_text(from + bucket), c.first, c.second);
      auto ok_h = h * static_cast<double>(c.first) / total;
      if (c.first > 0)
        tl.rect(tl.x(from), top, tl.w(from, from + bucket), ok_h, "class=\"ok\"", title);
      if (c.second > 0)
        tl.rect(tl.x(from), top + ok_h, tl.w(from, from + bucket), h - ok_h, "class=\"bad\"",
                title);
    }
  }
}

void draw_singletons(timeline& tl, const chaos_record& run,
                     const std::vector<std::string>& nodes) {
  std::map<std::string, std::vector<const copies_sample*>> by_key;
  for (auto& s : run.copies)
    by_key[s.key].push_back(&s);
  if (by_key.empty())
    return;
  tl.section("cluster services (owner, epoch)");
  struct band {
    std::string node;
    uint64_t epoch;
    double from;
    double to;
  };
  for (auto& [key, samples] : by_key) {
    std::stable_sort(samples.begin(), samples.end(),
                     [](auto* a, auto* b) { return a->time_ms < b->time_ms; });
    // A claim seen in consecutive samples is one band, to the next sample's time.
    std::vector<band> bands;
    std::map<std::pair<std::string, uint64_t>, size_t> open;
    std::vector<const copies_sample*> over;
    for (size_t i = 0; i < samples.size(); ++i) {
      auto* s = samples[i];
      auto next = i + 1 < samples.size() ? samples[i + 1]->time_ms : tl.duration();
      std::map<std::pair<std::string, uint64_t>, size_t> still;
      for (size_t k = 0; k < s->nodes.size(); ++k) {
        std::pair<std::string, uint64_t> claim{s->nodes[k], k < s->epochs.size() ? s->epochs[k] : 0};
        auto o = open.find(claim);
        if (o != open.end()) {
          bands[o->second].to = next;
          still.insert(*o);
        } else {
          bands.push_back(band{claim.first, claim.second, s->time_ms, next});
          still.emplace(claim, bands.size() - 1);
        }
      }
      open = std::move(still);
      if (s->nodes.size() > 1)
        over.push_back(s);
    }
    std::vector<std::pair<double, double>> spans;
    for (auto& b : bands)
      spans.emplace_back(b.from, b.to);
    size_t rows = 0;
    auto row = pack_rows(spans, rows);
    constexpr double h = 16;
    auto top = tl.lane(key, static_cast<double>(std::max<size_t>(rows, 1)) * h);
    for (size_t i = 0; i < bands.size(); ++i) {
      auto& b = bands[i];
      auto idx = static_cast<size_t>(std::find(nodes.begin(), nodes.end(), b.node) - nodes.begin());
      auto style = fmt::format("fill=\"{}\" class=\"own\"",
                               node_colors[idx % std::size(node_colors)]);
      tl.rect(tl.x(b.from), top + static_cast<double>(row[i]) * h, tl.w(b.from, b.to), h - 2,
              style,
              fmt::format("{}: {} epoch {}, {} to {}", key, b.node, b.epoch, s_text(b.from),
                          s_text(b.to)),
              fmt::format("{} e{}", b.node, b.epoch));
    }
    for (auto* s : over) {
      std::vector<std::string> owners;
      for (size_t k = 0; k < s->nodes.size(); ++k)
        owners.push_back(fmt::format("{} e{}", s->nodes[k], k < s->epochs.size() ? s->epochs[k] : 0));
      tl.raw(fmt::format("<circle class=\"copies\" cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"4\"><title>"
                         "{}</title></circle>\n",
                         tl.x(s->time_ms), top, esc(fmt::format(
                           "{} copies of {} at {}: {}", s->nodes.size(), key,
                           s_text(s->time_ms), join(owners, ", ")))));
    }
  }
}

// Lanes: the record's node order, then nodes seen elsewhere in first-seen order.
std::vector<std::string> lane_nodes(const chaos_record& run) {
  auto nodes = run.nodes;
  auto add = [&](const std::string& n) {
    if (!n.empty() && std::find(nodes.begin(), nodes.end(), n) == nodes.end())
      nodes.push_back(n);
  };
  for (auto& ev : run.events)
    add(ev.node);
  for (auto& s : run.copies)
    for (auto& n : s.nodes)
      add(n);
  for (auto& op : run.history)
    add(op.node);
  return nodes;
}

constexpr const char* page_style = R"(
body { font: 14px/1.4 sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; }
.pass { color: #2e7d32; } .fail { color: #c62828; }
table { border-collapse: collapse; margin: 1em 0; }
td, th { border: 1px solid #ccc; padding: 2px 8px; text-align: left; vertical-align: top; }
svg { font: 11px sans-serif; border: 1px solid #ddd; }
svg .section { font-weight: bold; }
svg .tick { text-anchor: middle; fill: #555; }
svg line.grid { stroke: #eee; }
svg line.fault { stroke: #e65100; stroke-dasharray: 3 3; }
svg rect.fault { fill: #ffcc80; stroke: #e65100; }
svg rect.open { stroke-dasharray: 4 2; }
svg .flabel, svg .in { fill: #222; pointer-events: none; }
svg .st.up { fill: #a5d6a7; } svg .st.joining { fill: #bbdefb; }
svg .st.unreachable { fill: #ffe082; } svg .st.down { fill: #ef9a9a; }
svg .st.removed { fill: #cfd8dc; }
svg .restart { fill: #6a1b9a; } svg line.ev { stroke: #555; }
svg .ok { fill: #43a047; } svg .bad { fill: #e53935; }
svg .own { opacity: 0.85; } svg .copies { fill: #c62828; }
.legend span { display: inline-block; padding: 0 6px; margin-right: 6px; }
)";

// The axis spans the run, or the last recorded time if a (hand-made) record says less.
double axis_ms(const chaos_record& run) {
  auto end = run.duration_ms;
  for (auto& op : run.history)
    end = std::max(end, op.time);
  for (auto& f : run.faults)
    end = std::max(end, f.end_ms.value_or(f.start_ms));
  for (auto& ev : run.events)
    end = std::max(end, ev.time_ms);
  for (auto& s : run.copies)
    end = std::max(end, s.time_ms);
  return end;
}

} // namespace

std::string timeline_html(const chaos_record& run, const chaos_verdict& verdict) {
  auto nodes = lane_nodes(run);
  timeline tl{axis_ms(run)};
  draw_faults(tl, run, verdict);
  draw_nodes(tl, run, nodes);
  draw_requests(tl, run);
  draw_singletons(tl, run, nodes);
  auto verdict_text = verdict.ok ? "VALID" : "INVALID";
  auto out = fmt::format("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                         "<title>chaos {}: {}</title>\n<style>{}</style>\n</head>\n<body>\n",
                         esc(run.scenario), verdict_text, page_style);
  out += fmt::format("<h1>chaos run {}: <span class=\"{}\">{}</span></h1>\n", esc(run.scenario),
                     verdict.ok ? "pass" : "fail", verdict_text);
  out += fmt::format("<p>seed {}, duration {:.1f} s. Rerun: <code>{}</code></p>\n", run.seed,
                     run.duration_ms / 1000,
                     esc(run.rerun.empty() ? fmt::format("seed {}", run.seed) : run.rerun));
  out += "<table>\n<tr><th>check</th><th>result</th><th>figure</th><th>detail</th></tr>\n";
  for (auto& c : verdict.checks)
    out += fmt::format("<tr><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td></tr>\n",
                       esc(c.name), c.ok ? "pass" : "fail", c.ok ? "PASS" : "FAIL",
                       esc(c.figure), esc(c.detail));
  out += "</table>\n" + tl.svg();
  out += "<p class=\"legend\">"
         "<span style=\"background:#ffcc80\">fault</span>"
         "<span style=\"background:#a5d6a7\">up</span>"
         "<span style=\"background:#bbdefb\">joining</span>"
         "<span style=\"background:#ffe082\">unreachable</span>"
         "<span style=\"background:#ef9a9a\">down</span>"
         "<span style=\"background:#cfd8dc\">removed</span>"
         "<span style=\"color:#6a1b9a\">&#9660; restart</span>"
         "<span style=\"background:#43a047;color:#fff\">ok</span>"
         "<span style=\"background:#e53935;color:#fff\">failed</span>"
         "<span style=\"color:#c62828\">&#9679; more than one copy</span>"
         " Hover anything for details.</p>\n</body>\n</html>\n";
  return out;
}

// --- files -------------------------------------------------------------------------------

namespace {

std::optional<std::string> write_file(const std::filesystem::path& path,
                                      const std::string& text) {
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  out << text;
  out.close();
  if (!out)
    return path.string() + ": cannot write";
  return std::nullopt;
}

template <class T>
std::string jsonl(const std::vector<T>& xs) {
  std::string out;
  for (auto& x : xs)
    out += dump(json(x)) + '\n';
  return out;
}

} // namespace

std::optional<std::string> write_chaos_results(const std::filesystem::path& dir,
                                               const chaos_record& run,
                                               const chaos_verdict& verdict) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return dir.string() + ": " + ec.message();
  std::pair<const char*, std::string> files[] = {
    {"results.json", results_json(run, verdict).dump(2, ' ', false,
                                                     json::error_handler_t::replace) + '\n'},
    {"history.jsonl", jsonl(run.history)},
    {"events.jsonl", jsonl(run.events)},
    {"copies.jsonl", jsonl(run.copies)},
    {"summary.txt", summary_text(run, verdict)},
    {"timeline.html", timeline_html(run, verdict)},
  };
  for (auto& [name, text] : files)
    if (auto err = write_file(dir / name, text))
      return err;
  return std::nullopt;
}

} // namespace warden::chaos
