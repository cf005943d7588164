#include "warden/service_catalog.hpp"

#include <optional>

#include <fmt/format.h>

#include "warden/errors.hpp"

namespace warden {

namespace {

caf::error wrong(const std::string& key, std::string what) {
  return make_error(errc::bad_config, key, std::move(what));
}

std::string join(const std::vector<std::string>& xs) {
  std::string out;
  for (auto& x : xs) {
    if (!out.empty())
      out += ", ";
    out += x;
  }
  return out;
}

// "250ms", "2s", "1500" (milliseconds); nullopt when it is none of these.
std::optional<std::chrono::milliseconds> parse_duration(const std::string& text) {
  size_t pos = 0;
  long long n = 0;
  try {
    n = std::stoll(text, &pos);
  } catch (...) {
    return std::nullopt;
  }
  auto unit = text.substr(pos);
  if (n < 0)
    return std::nullopt;
  if (unit.empty() || unit == "ms")
    return std::chrono::milliseconds{n};
  if (unit == "s")
    return std::chrono::milliseconds{n * 1000};
  return std::nullopt;
}

} // namespace

const char* type_name(const param_value& value) {
  switch (value.index()) {
    case 0: return "string";
    case 1: return "integer";
    case 2: return "float";
    case 3: return "boolean";
    case 4: return "duration";
  }
  return "unknown";
}

void service_params::set(std::string key, param_value value) {
  values_[std::move(key)] = std::move(value);
}

const param_value* service_params::find(const std::string& key) const {
  read_.insert(key);
  auto i = values_.find(key);
  return i == values_.end() ? nullptr : &i->second;
}

caf::expected<std::string> service_params::get_string(const std::string& key,
                                                      std::string fallback) const {
  auto* v = find(key);
  if (v == nullptr)
    return fallback;
  if (auto* s = std::get_if<std::string>(v))
    return *s;
  return wrong(key, fmt::format("expected a string, got {}", type_name(*v)));
}

caf::expected<int64_t> service_params::get_int(const std::string& key, int64_t fallback,
                                               int64_t min, int64_t max) const {
  auto* v = find(key);
  if (v == nullptr)
    return fallback;
  auto* i = std::get_if<int64_t>(v);
  if (i == nullptr)
    return wrong(key, fmt::format("expected an integer, got {}", type_name(*v)));
  if (*i < min || *i > max) {
    if (max == INT64_MAX)
      return wrong(key, fmt::format("must be >= {}, got {}", min, *i));
    return wrong(key, fmt::format("must be in [{}, {}], got {}", min, max, *i));
  }
  return *i;
}

caf::expected<double> service_params::get_double(const std::string& key,
                                                 double fallback) const {
  auto* v = find(key);
  if (v == nullptr)
    return fallback;
  if (auto* d = std::get_if<double>(v))
    return *d;
  if (auto* i = std::get_if<int64_t>(v))
    return static_cast<double>(*i);
  return wrong(key, fmt::format("expected a number, got {}", type_name(*v)));
}

caf::expected<bool> service_params::get_bool(const std::string& key, bool fallback) const {
  auto* v = find(key);
  if (v == nullptr)
    return fallback;
  if (auto* b = std::get_if<bool>(v))
    return *b;
  return wrong(key, fmt::format("expected true or false, got {}", type_name(*v)));
}

caf::expected<std::chrono::milliseconds>
service_params::get_duration(const std::string& key, std::chrono::milliseconds fallback) const {
  auto* v = find(key);
  if (v == nullptr)
    return fallback;
  std::optional<std::chrono::milliseconds> out;
  if (auto* d = std::get_if<std::chrono::milliseconds>(v))
    out = *d;
  else if (auto* i = std::get_if<int64_t>(v))
    out = std::chrono::milliseconds{*i};
  else if (auto* s = std::get_if<std::string>(v))
    out = parse_duration(*s);
  else
    return wrong(key, fmt::format("expected milliseconds (integer) or a string like "
                                  "\"250ms\" / \"2s\", got {}",
                                  type_name(*v)));
  if (!out || out->count() < 0)
    return wrong(key, "expected a duration >= 0: milliseconds (integer) or a string like "
                      "\"250ms\" / \"2s\"");
  return *out;
}

caf::expected<std::string> service_params::get_choice(const std::string& key,
                                                      std::string fallback,
                                                      const std::vector<std::string>& allowed) const {
  auto s = get_string(key, std::move(fallback));
  if (!s)
    return s;
  for (auto& a : allowed)
    if (a == *s)
      return s;
  return wrong(key, fmt::format("\"{}\" is not one of: {}", *s, join(allowed)));
}

std::vector<std::string> service_params::unread() const {
  std::vector<std::string> out;
  for (auto& [key, value] : values_)
    if (read_.count(key) == 0)
      out.push_back(key);
  return out;
}

void service_catalog::add(std::string name, service_factory factory, std::string description) {
  types_[std::move(name)] = entry{std::move(factory), std::move(description)};
}

caf::expected<start_function> service_catalog::make(const std::string& name,
                                                    const service_params& params) const {
  auto i = types_.find(name);
  if (i == types_.end())
    return make_error(errc::unknown_service_type, name, "known: " + join(names()));
  // A fresh copy, so the read marks say what this factory read (and nothing else).
  service_params copy;
  for (auto& [key, value] : params.values())
    copy.set(key, value);
  copy.child_path = params.child_path;
  auto result = i->second.factory(copy);
  if (!result)
    return result;
  if (auto extra = copy.unread(); !extra.empty())
    return wrong(extra.front(), fmt::format("unknown parameter of service type \"{}\"", name));
  return result;
}

std::vector<std::string> service_catalog::names() const {
  std::vector<std::string> out;
  for (auto& [name, e] : types_)
    out.push_back(name);
  return out;
}

std::string service_catalog::description(const std::string& name) const {
  auto i = types_.find(name);
  return i == types_.end() ? std::string{} : i->second.description;
}

} // namespace warden
