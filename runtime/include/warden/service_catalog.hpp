/// @file
/// The service catalog: service *types* by name, so a tree file can say
/// `service = "counter"` and get a start function. A type is a factory that reads its
/// parameters (the child's `[children.params]` table) and returns a `start_function`, or
/// a `bad_config` error naming the parameter that is wrong.
///
/// Factories read every parameter they need up front, so a bad value fails the tree file
/// before anything starts. A parameter nobody read is an error too (`make` checks): typos
/// such as `strat = 10` do not pass silently.
///
/// ```cpp
/// warden::service_catalog catalog;
/// catalog.add("greeter", [](const warden::service_params& p)
///                -> caf::expected<warden::start_function> {
///   auto greeting = p.get_string("greeting", "hello");   // default "hello"
///   if (!greeting) return greeting.error();
///   return warden::service(greeter, *greeting);
/// }, "answers any string with a greeting");
///
/// warden::service_params params;
/// params.set("greeting", std::string{"hi"});
/// auto start = catalog.make("greeter", params);  // expected<start_function>
/// ```
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include <caf/expected.hpp>

#include "warden/service.hpp"

namespace warden {

/// One parameter value: text, integer, float, boolean or a duration.
using param_value = std::variant<std::string, int64_t, double, bool, std::chrono::milliseconds>;

/// The parameters of one child's service, plus where the child sits in the tree.
///
/// Typed getters answer the value, the default when the key is absent, or
/// `errc::bad_config` with context `(key, what is wrong)` when the value has the wrong
/// type or range. Every getter marks its key as read (see `unread`).
class service_params {
public:
  service_params() = default;

  /// Sets (or replaces) parameter `key`.
  void set(std::string key, param_value value);

  bool contains(const std::string& key) const { return values_.count(key) > 0; }
  bool empty() const { return values_.empty(); }
  const std::map<std::string, param_value>& values() const { return values_; }

  /// A string parameter.
  caf::expected<std::string> get_string(const std::string& key, std::string fallback) const;

  /// An integer parameter within [min, max].
  caf::expected<int64_t> get_int(const std::string& key, int64_t fallback,
                                 int64_t min = INT64_MIN, int64_t max = INT64_MAX) const;

  /// A floating-point parameter; integers are accepted too.
  caf::expected<double> get_double(const std::string& key, double fallback) const;

  caf::expected<bool> get_bool(const std::string& key, bool fallback) const;

  /// A duration >= 0: a duration value, an integer (milliseconds) or a string with a
  /// unit ("250ms", "2s").
  caf::expected<std::chrono::milliseconds> get_duration(const std::string& key,
                                                        std::chrono::milliseconds fallback) const;

  /// One of `allowed` (a string parameter).
  caf::expected<std::string> get_choice(const std::string& key, std::string fallback,
                                        const std::vector<std::string>& allowed) const;

  /// Keys that no getter asked for so far, sorted.
  std::vector<std::string> unread() const;

  /// Where the child sits, e.g. "root/db_sup/db"; set by the tree loader (empty when the
  /// params do not come from a tree). Services use it as their key for per-child state
  /// such as fault switches.
  std::string child_path;

private:
  const param_value* find(const std::string& key) const;

  std::map<std::string, param_value> values_;
  mutable std::set<std::string> read_;
};

/// The name of a parameter value's type, e.g. "integer", for messages.
const char* type_name(const param_value& value);

/// Makes a start function from parameters; fails with `errc::bad_config` and context
/// `(key, what is wrong)` when a parameter is wrong.
using service_factory = std::function<caf::expected<start_function>(const service_params&)>;

/// Service types by name.
class service_catalog {
public:
  /// Registers type `name`; a type of the same name is replaced (so an application can
  /// override a built-in type).
  void add(std::string name, service_factory factory, std::string description);

  /// The start function of type `name` with `params`. Errors:
  /// `errc::unknown_service_type` with context `(name, "known: a, b, c")`; the factory's
  /// `bad_config(key, what)`; `bad_config(key, "unknown parameter of service type ...")`
  /// for a parameter the factory did not read.
  caf::expected<start_function> make(const std::string& name, const service_params& params) const;

  bool contains(const std::string& name) const { return types_.count(name) > 0; }

  /// All type names, sorted.
  std::vector<std::string> names() const;

  /// The one-line description of type `name` ("" if unknown).
  std::string description(const std::string& name) const;

private:
  struct entry {
    service_factory factory;
    std::string description;
  };
  std::map<std::string, entry> types_;
};

} // namespace warden
