#include "warden/fault_plan.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <caf/exit_reason.hpp>
#include <caf/send.hpp>
#include <caf/sec.hpp>
#include <fmt/format.h>
#include <toml++/toml.h>

#include "warden/builtin_services.hpp"
#include "warden/detail/toml_reader.hpp"
#include "warden/errors.hpp"
#include "warden/exit_reasons.hpp"
#include "warden/supervisor.hpp"

namespace warden {

namespace {

const std::vector<std::pair<std::string, fault_action>> action_names = {
  {"crash", fault_action::crash},
  {"exception", fault_action::exception},
  {"kill", fault_action::kill},
  {"shutdown", fault_action::shutdown},
  {"normal", fault_action::normal},
  {"fail_next_start", fault_action::fail_next_start},
  {"stall_shutdown", fault_action::stall_shutdown},
};

std::string allowed_actions() {
  std::string out;
  for (auto& [name, x] : action_names)
    out += (out.empty() ? "" : ", ") + name;
  return out;
}


caf::error bad(const std::string& where, const std::string& field, const std::string& what) {
  return make_error(errc::bad_config, fmt::format("{}: {}: {}", where, field, what));
}

// `where` already names the field: "FILE:LINE: fault[0].path" or "--fault \"SPEC\": path".
caf::error bad(const std::string& where, const std::string& what) {
  return make_error(errc::bad_config, fmt::format("{}: {}", where, what));
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> out;
  std::string part;
  std::istringstream in{path};
  while (std::getline(in, part, '/'))
    out.push_back(part);
  return out;
}

// "500ms", "500", "2s" -> milliseconds >= 0.
std::optional<std::chrono::milliseconds> parse_at(std::string_view text) {
  std::string s{text};
  if (s.empty() || !std::isdigit(static_cast<unsigned char>(s[0])))
    return std::nullopt;
  size_t pos = 0;
  long long n = 0;
  try {
    n = std::stoll(s, &pos);
  } catch (...) {
    return std::nullopt;
  }
  auto unit = s.substr(pos);
  if (unit.empty() || unit == "ms")
    return std::chrono::milliseconds{n};
  if (unit == "s" && n <= INT64_MAX / 1000)
    return std::chrono::milliseconds{n * 1000};
  return std::nullopt;
}

} // namespace

const char* to_string(fault_action x) {
  for (auto& [name, value] : action_names)
    if (value == x)
      return name.c_str();
  return "unknown";
}

std::optional<fault_action> fault_action_named(std::string_view name) {
  for (auto& [n, x] : action_names)
    if (n == name)
      return x;
  return std::nullopt;
}

bool needs_cooperation(fault_action x) {
  switch (x) {
    case fault_action::crash:
    case fault_action::kill:
    case fault_action::shutdown:
      return false;
    default:
      return true;
  }
}

// --- parsing -----------------------------------------------------------------------------

caf::expected<fault> parse_fault(std::string_view spec) {
  auto where = fmt::format("--fault \"{}\"", spec);
  auto first = spec.find(':');
  auto last = spec.rfind(':');
  if (first == std::string_view::npos || first == last)
    return bad(where, "format", "expected AT:PATH:ACTION, e.g. 500ms:root/db:kill");
  fault out;
  out.path_source = where + ": path";
  out.action_source = where + ": action";
  auto at = parse_at(spec.substr(0, first));
  if (!at)
    return bad(where, "at",
               fmt::format("\"{}\" is not a time; use milliseconds (\"500\", \"500ms\") or "
                           "seconds (\"2s\")",
                           spec.substr(0, first)));
  out.at = *at;
  out.path = std::string{spec.substr(first + 1, last - first - 1)};
  if (out.path.empty())
    return bad(where, "path", "missing");
  auto action = fault_action_named(spec.substr(last + 1));
  if (!action)
    return bad(where, "action",
               fmt::format("\"{}\" is not one of: {}", spec.substr(last + 1), allowed_actions()));
  out.action = *action;
  return out;
}

caf::expected<std::vector<fault>> parse_fault_text(std::string_view toml_text,
                                                   const std::string& source_name) {
  auto parsed = detail::parse_toml(toml_text, source_name);
  if (!parsed)
    return std::move(parsed.error());
  auto& doc = *parsed;
  auto at_line = [&](const toml::node& n) {
    return fmt::format("{}:{}", source_name, n.source().begin.line);
  };
  std::vector<fault> out;
  for (auto&& [key, node] : doc) {
    if (key.str() != "fault")
      return bad(at_line(node), std::string{key.str()}, "unknown key (allowed here: fault)");
    auto* arr = node.as_array();
    if (arr == nullptr || !arr->is_array_of_tables())
      return bad(at_line(node), "fault", "expected an array of tables ([[fault]] sections)");
    for (size_t i = 0; i < arr->size(); ++i) {
      auto& t = *arr->get(i)->as_table();
      auto field = fmt::format("fault[{}]", i);
      fault f;
      for (auto&& [k, v] : t)
        if (k.str() != "at_ms" && k.str() != "path" && k.str() != "action")
          return bad(at_line(v), field + "." + std::string{k.str()},
                     "unknown key (allowed here: at_ms, path, action)");
      auto* at = t.get("at_ms");
      if (at == nullptr)
        return bad(at_line(t), field + ".at_ms", "missing (milliseconds after the tree is up)");
      if (!at->is_integer() || at->as_integer()->get() < 0)
        return bad(at_line(*at), field + ".at_ms", "expected an integer >= 0 (milliseconds)");
      f.at = std::chrono::milliseconds{at->as_integer()->get()};
      auto* path = t.get("path");
      if (path == nullptr)
        return bad(at_line(t), field + ".path", "missing (e.g. \"root/db_sup/db\")");
      if (!path->is_string() || path->as_string()->get().empty())
        return bad(at_line(*path), field + ".path", "expected a child path such as \"root/db\"");
      f.path = path->as_string()->get();
      f.path_source = at_line(*path) + ": " + field + ".path";
      auto* action = t.get("action");
      if (action == nullptr)
        return bad(at_line(t), field + ".action",
                   fmt::format("missing (one of: {})", allowed_actions()));
      std::optional<fault_action> x;
      if (action->is_string())
        x = fault_action_named(action->as_string()->get());
      if (!x)
        return bad(at_line(*action), field + ".action",
                   fmt::format("expected one of: {}", allowed_actions()));
      f.action = *x;
      f.action_source = at_line(*action) + ": " + field + ".action";
      out.push_back(std::move(f));
    }
  }
  return out;
}

caf::expected<std::vector<fault>> load_fault_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return make_error(errc::bad_config,
                      fmt::format("{}: cannot read: {}", path, std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  return parse_fault_text(text.str(), path);
}

caf::error resolve_fault_paths(std::vector<fault>& faults, const declared_tree& tree) {
  auto root = tree.flags.name;
  for (auto& f : faults) {
    auto parts = split_path(f.path);
    if (parts.size() > 1 && parts.front() == root)
      parts.erase(parts.begin());
    std::string full = root;
    for (auto& p : parts)
      full += "/" + p;
    auto i = std::find_if(tree.layout.begin(), tree.layout.end(),
                          [&](const declared_child& c) { return c.path == full; });
    if (i == tree.layout.end() || std::any_of(parts.begin(), parts.end(),
                                              [](auto& p) { return p.empty(); })) {
      std::string known;
      for (auto& c : tree.layout)
        if (!c.dynamic_template)
          known += (known.empty() ? "" : ", ") + c.path;
      return bad(f.path_source,
                 fmt::format("no child \"{}\" in {} (children: {})", f.path, tree.source,
                             known.empty() ? "none" : known));
    }
    if (i->dynamic_template) {
      return bad(f.path_source,
                 fmt::format("\"{}\" is the template of a dynamic supervisor; its instances "
                             "have no id and cannot be named",
                             f.path));
    }
    if (needs_cooperation(f.action) && i->type == child_type::supervisor) {
      return bad(f.action_source,
                 fmt::format("{} needs a cooperating service, and \"{}\" is a supervisor "
                             "(use crash, kill or shutdown)",
                             to_string(f.action), full));
    }
    f.path = full;
  }
  std::stable_sort(faults.begin(), faults.end(),
                   [](const fault& a, const fault& b) { return a.at < b.at; });
  return {};
}

// --- switches ----------------------------------------------------------------------------

fault_switches& fault_switches::global() {
  static fault_switches instance;
  return instance;
}

void fault_switches::fail_next_start(const std::string& path, caf::error reason) {
  std::lock_guard<std::mutex> guard{mtx_};
  start_failures_[path] = std::move(reason);
}

std::optional<caf::error> fault_switches::take_start_failure(const std::string& path) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = start_failures_.find(path);
  if (i == start_failures_.end())
    return std::nullopt;
  auto reason = std::move(i->second);
  start_failures_.erase(i);
  return reason;
}

void fault_switches::stall_shutdown(const std::string& path, bool on) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (on)
    stalled_.insert(path);
  else
    stalled_.erase(path);
}

bool fault_switches::shutdown_stalled(const std::string& path) const {
  std::lock_guard<std::mutex> guard{mtx_};
  return stalled_.count(path) > 0;
}

void fault_switches::clear() {
  std::lock_guard<std::mutex> guard{mtx_};
  start_failures_.clear();
  stalled_.clear();
}

// --- injection ---------------------------------------------------------------------------

caf::expected<caf::actor> find_child(caf::actor_system& sys, const caf::actor& root,
                                     const std::string& path) {
  auto parts = split_path(path);
  if (parts.size() < 2)
    return make_error(errc::not_found, path);
  caf::actor sup = root;
  std::string walked = parts.front();
  for (size_t i = 1; i < parts.size(); ++i) {
    auto kids = supervisor_client{sys, sup}.which_children();
    if (!kids)
      return kids.error();
    auto k = std::find_if(kids->begin(), kids->end(),
                          [&](const child_info& c) { return c.id == parts[i]; });
    if (k == kids->end())
      return make_error(errc::not_found, fmt::format("no child \"{}\" under {}", parts[i], walked));
    walked += "/" + parts[i];
    if (!k->actor)
      return make_error(errc::not_found,
                        fmt::format("{} is not running (state {})", walked, to_string(k->state)));
    bool last = i + 1 == parts.size();
    if (!last && k->type != child_type::supervisor)
      return make_error(errc::not_found, fmt::format("{} is not a supervisor", walked));
    sup = k->actor;
  }
  return sup;
}

caf::error inject(caf::actor_system& sys, const caf::actor& root, const fault& f,
                  fault_switches& switches) {
  switch (f.action) {
    case fault_action::fail_next_start:
      switches.fail_next_start(f.path, caf::make_error(caf::sec::runtime_error,
                                                       std::string{"injected start failure"}));
      return {};
    case fault_action::stall_shutdown:
      switches.stall_shutdown(f.path);
      return {};
    default:
      break;
  }
  auto target = find_child(sys, root, f.path);
  if (!target)
    return target.error();
  switch (f.action) {
    case fault_action::crash:
      send_exit_signal(*target,
                       caf::make_error(caf::sec::runtime_error, std::string{"injected crash"}));
      break;
    case fault_action::kill:
      send_exit_signal(*target, caf::make_error(caf::exit_reason::kill));
      break;
    case fault_action::shutdown:
      send_exit_signal(*target, caf::make_error(caf::exit_reason::user_shutdown));
      break;
    case fault_action::normal:
      // Services ignore normal exit signals (as in OTP), so ask the service to quit.
      caf::anon_send(*target, builtin::quit_atom::value,
                     caf::make_error(caf::exit_reason::normal));
      break;
    case fault_action::exception:
      caf::anon_send(*target, builtin::throw_atom::value);
      break;
    default:
      break;
  }
  return {};
}

} // namespace warden
