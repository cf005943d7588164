// The tree file parser: TOML -> supervisor flags and child specs, every problem reported
// as "FILE:LINE: FIELD: what". After parsing, each supervisor level runs the supervisor's
// own validation (internal/validation.hpp) so a tree that would fail at start fails here,
// with the line of the offending field.
#include "warden/tree_file.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <utility>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "warden/detail/text.hpp"
#include "warden/detail/toml_reader.hpp"
#include "warden/detail/toml_text.hpp"

#include "internal/validation.hpp"
#include "warden/errors.hpp"
#include "warden/exit_reasons.hpp"
#include "warden/inbox.hpp"
#include "warden/regulator.hpp"
#include "warden/supervisor.hpp"

namespace warden {

namespace {

/// Upper bound of millisecond fields: about 31 years, so nanosecond timespans never
/// overflow.
constexpr int64_t max_millis = 1'000'000'000'000;

const std::vector<std::string> root_keys = {"name",          "strategy",     "intensity",
                                            "period_ms",     "auto_shutdown", "max_children",
                                            "backoff",       "children"};
const std::vector<std::string> supervisor_only_keys = {"strategy",      "intensity",
                                                       "period_ms",     "auto_shutdown",
                                                       "max_children",  "backoff",
                                                       "children"};
const std::vector<std::string> worker_only_keys = {"service", "params", "regulator", "inbox"};
const std::vector<std::string> regulator_keys = {
  "kind",          "limit",           "max_size",       "max_time_ms",
  "order",         "overflow",        "codel_target_ms", "codel_interval_ms",
  "call_timeout_ms", "min_limit",     "feedback_step",  "sample_interval_ms",
  "samplers",      "alarm_after_ms",  "alarm_clear_after_ms"};
const std::vector<std::string> inbox_keys = {"capacity", "overflow", "max_wait_ms", "in_flight",
                                             "call_timeout_ms"};
const std::vector<std::string> sampler_keys = {"queue_delay_ms", "in_flight", "memory_mib",
                                               "cpu_percent"};
const std::vector<std::string> common_child_keys = {"id",       "type",        "restart",
                                                    "shutdown", "significant", "start_timeout_ms",
                                                    "name",     "global",      "cluster",
                                                    "instances"};
const std::vector<std::string> backoff_keys = {"min_ms", "max_ms", "random_factor",
                                               "reset_after_ms"};

bool contains(const std::vector<std::string>& xs, std::string_view x) {
  return std::find(xs.begin(), xs.end(), x) != xs.end();
}

using detail::join;
using detail::line_of;
using detail::toml_type_name;

// Lines of the fields that validation errors point back to (0: field not given).
struct flag_lines {
  int table = 1;
  int strategy = 0;
  int intensity = 0;
  int period = 0;
  int auto_shutdown = 0;
  int max_children = 0;
  int backoff = 0;
  int children = 0;
};

struct child_lines {
  int table = 0;
  int id = 0;
  int restart = 0;
  int shutdown = 0;
  int significant = 0;
  int start_timeout = 0;
  int name = 0;
};

// A child spec plus where it came from.
struct parsed_child {
  child_spec spec;
  child_lines lines;
  std::string field;  // e.g. "children[1]" or "children[2].children[0]"
  /// `cluster = ...`: placed by the node's cluster-service manager, not started here.
  std::optional<cluster_service> cluster;
};

class tree_parser : detail::toml_reader {
public:
  tree_parser(std::string file, const service_catalog& catalog)
    : toml_reader(std::move(file)), catalog_(catalog) {
  }

  caf::expected<declared_tree> parse(const toml::table& doc) {
    declared_tree out;
    out.source = file();
    flag_lines lines;
    if (auto err = check_keys(doc, "", root_keys))
      return err;
    if (auto* n = doc.get("name")) {
      auto name = read_id(*n, "name");
      if (!name)
        return name.error();
      out.flags.name = *name;
    }
    if (auto err = parse_supervisor(doc, "", out.flags.name, lines, out.flags, out.children))
      return err;
    out.layout = std::move(layout_);
    out.global_names = std::move(global_names_);
    out.cluster_services = std::move(cluster_services_);
    return out;
  }

private:
  std::string where(int line) const { return fmt::format("{}:{}", file(), line); }

  // --- typed readers (the others: detail::toml_reader) ------------------------------------

  // Ids and the root name become path elements: non-empty, no '/'.
  caf::expected<std::string> read_id(const toml::node& n, const std::string& field) const {
    auto s = read_string(n, field);
    if (!s)
      return s;
    if (s->empty())
      return fail(line_of(n), field, "must not be empty");
    if (s->find('/') != std::string::npos)
      return fail(line_of(n), field, fmt::format("\"{}\" must not contain '/'", *s));
    return s;
  }

  template <class E>
  caf::expected<E> read_enum(const toml::node& n, const std::string& field,
                             const std::vector<std::pair<std::string, E>>& allowed) const {
    auto s = read_string(n, field);
    if (!s)
      return s.error();
    std::vector<std::string> names;
    for (auto& [name, value] : allowed) {
      if (name == *s)
        return value;
      names.push_back(name);
    }
    return fail(line_of(n), field, fmt::format("\"{}\" is not one of: {}", *s, join(names)));
  }

  caf::expected<caf::timespan> read_millis(const toml::node& n, const std::string& field) const {
    auto ms = read_int(n, field, 0, max_millis);
    if (!ms)
      return ms.error();
    return caf::timespan{std::chrono::milliseconds{*ms}};
  }

  // --- supervisors -----------------------------------------------------------------------

  // The supervisor fields of `t` (the document or a supervisor child), then its children.
  // `prefix` is the field path of `t` ("" or "children[2]."), `path` its report path.
  caf::error parse_supervisor(const toml::table& t, const std::string& prefix,
                              const std::string& path, flag_lines lines,
                              supervisor_flags& flags, std::vector<child_spec>& children) {
    if (auto* n = t.get("strategy")) {
      auto x = read_enum<strategy>(*n, prefix + "strategy",
                                   {{"one_for_one", strategy::one_for_one},
                                    {"one_for_all", strategy::one_for_all},
                                    {"rest_for_one", strategy::rest_for_one},
                                    {"dynamic", strategy::dynamic}});
      if (!x)
        return x.error();
      flags.strategy = *x;
      lines.strategy = line_of(*n);
    }
    if (auto* n = t.get("intensity")) {
      auto x = read_int(*n, prefix + "intensity", 0, INT_MAX);
      if (!x)
        return x.error();
      flags.intensity = static_cast<int>(*x);
      lines.intensity = line_of(*n);
    }
    if (auto* n = t.get("period_ms")) {
      auto x = read_millis(*n, prefix + "period_ms");
      if (!x)
        return x.error();
      flags.period = *x;
      lines.period = line_of(*n);
    }
    if (auto* n = t.get("auto_shutdown")) {
      auto x = read_enum<auto_shutdown>(*n, prefix + "auto_shutdown",
                                        {{"never", auto_shutdown::never},
                                         {"any_significant", auto_shutdown::any_significant},
                                         {"all_significant", auto_shutdown::all_significant}});
      if (!x)
        return x.error();
      flags.auto_shutdown = *x;
      lines.auto_shutdown = line_of(*n);
    }
    if (auto* n = t.get("max_children")) {
      auto x = read_int(*n, prefix + "max_children", 0, INT64_MAX);
      if (!x)
        return x.error();
      flags.max_children = static_cast<size_t>(*x);
      lines.max_children = line_of(*n);
    }
    if (auto* n = t.get("backoff")) {
      lines.backoff = line_of(*n);
      if (auto err = parse_backoff(*n, prefix + "backoff", flags.backoff))
        return err;
    }
    if (auto err = internal::validate_flags(flags))
      return flag_error(err, prefix, lines);
    std::vector<parsed_child> parsed;
    if (auto* n = t.get("children")) {
      lines.children = line_of(*n);
      auto* arr = n->as_array();
      if (arr == nullptr || !arr->is_array_of_tables())
        return fail(line_of(*n), prefix + "children",
                    "expected an array of tables ([[children]] sections)");
      for (size_t i = 0; i < arr->size(); ++i) {
        parsed_child pc;
        pc.field = fmt::format("{}children[{}]", prefix, i);
        if (auto err = parse_child(*arr->get(i)->as_table(), path, flags, pc))
          return err;
        parsed.push_back(std::move(pc));
      }
    }
    // The supervisor's own checks, mapped back to lines.
    for (auto& pc : parsed)
      if (auto err = internal::validate_spec(pc.spec, flags))
        return spec_error(err, pc, flags);
    for (auto& pc : parsed)
      children.push_back(pc.spec);
    if (auto err = internal::validate_children(children, flags))
      return children_error(err, prefix, lines, parsed);
    // Cluster services were checked like any child; the manager starts them, not the tree.
    for (auto& pc : parsed)
      if (pc.cluster) {
        if (!prefix.empty() || flags.strategy == strategy::dynamic)
          return fail(pc.lines.table, pc.field + ".cluster",
                      "only allowed on children of a root supervisor whose strategy is not "
                      "dynamic (the node starts cluster services under its root)");
        cluster_services_.push_back(*pc.cluster);
      }
    std::erase_if(children, [&](const child_spec& c) {
      return std::any_of(parsed.begin(), parsed.end(), [&](const parsed_child& pc) {
        return pc.cluster && pc.spec.id == c.id;
      });
    });
    return {};
  }

  caf::error parse_backoff(const toml::node& n, const std::string& field, backoff_policy& out) {
    auto* t = n.as_table();
    if (t == nullptr)
      return fail(line_of(n), field, fmt::format("expected a table, got {}", toml_type_name(n)));
    for (auto&& [key, value] : *t) {
      auto name = std::string{key.str()};
      auto sub = field + "." + name;
      if (name == "random_factor") {
        auto x = read_number(value, sub, 0.0);
        if (!x)
          return x.error();
        out.random_factor = *x;
        continue;
      }
      if (!contains(backoff_keys, name))
        return fail(line_of(value), sub,
                    fmt::format("unknown key (allowed here: {})", join(backoff_keys)));
      auto x = read_millis(value, sub);
      if (!x)
        return x.error();
      if (name == "min_ms")
        out.min_delay = *x;
      else if (name == "max_ms")
        out.max_delay = *x;
      else
        out.reset_after = *x;
    }
    return {};
  }

  // --- children --------------------------------------------------------------------------

  caf::error parse_child(const toml::table& t, const std::string& sup_path,
                         const supervisor_flags& parent, parsed_child& out) {
    auto& f = out.field;
    auto& spec = out.spec;
    out.lines.table = line_of(t);
    // The type decides which keys are allowed.
    auto type = child_type::worker;
    if (auto* n = t.get("type")) {
      auto x = read_enum<child_type>(*n, f + ".type",
                                     {{"worker", child_type::worker},
                                      {"supervisor", child_type::supervisor}});
      if (!x)
        return x.error();
      type = *x;
    }
    bool is_sup = type == child_type::supervisor;
    for (auto&& [key, value] : t) {
      auto name = key.str();
      if (contains(common_child_keys, name))
        continue;
      if (contains(supervisor_only_keys, name)) {
        if (is_sup)
          continue;
        return fail(line_of(value), f + "." + std::string{name},
                    "only allowed with type = \"supervisor\"");
      }
      if (contains(worker_only_keys, name)) {
        if (!is_sup)
          continue;
        return fail(line_of(value), f + "." + std::string{name},
                    "not allowed with type = \"supervisor\" (a supervisor runs children, "
                    "not a service)");
      }
      auto allowed = common_child_keys;
      auto& extra = is_sup ? supervisor_only_keys : worker_only_keys;
      allowed.insert(allowed.end(), extra.begin(), extra.end());
      return fail(line_of(value), f + "." + std::string{name},
                  fmt::format("unknown key (allowed here: {})", join(allowed)));
    }
    // id: required, becomes the last element of the child's path.
    auto* id_node = t.get("id");
    if (id_node == nullptr)
      return fail(line_of(t), f + ".id", "missing (every child needs an id)");
    auto id = read_id(*id_node, f + ".id");
    if (!id)
      return id.error();
    out.lines.id = line_of(*id_node);
    auto path = sup_path + "/" + *id;
    declared_child layout_entry;
    layout_entry.path = path;
    layout_entry.type = type;
    layout_entry.dynamic_template = parent.strategy == strategy::dynamic;
    layout_entry.source = where(out.lines.table);
    if (is_sup) {
      layout_.push_back(layout_entry);
      supervisor_flags flags;
      std::vector<child_spec> children;
      flag_lines lines;
      lines.table = out.lines.table;
      if (auto err = parse_supervisor(t, f + ".", path, lines, flags, children))
        return err;
      spec = supervisor_child(*id, std::move(flags), std::move(children));
    } else {
      auto* svc = t.get("service");
      if (svc == nullptr)
        return fail(line_of(t), f + ".service",
                    fmt::format("missing (a worker needs a service type; known: {})",
                                join(catalog_.names())));
      auto type_name = read_string(*svc, f + ".service");
      if (!type_name)
        return type_name.error();
      layout_entry.service = *type_name;
      layout_.push_back(layout_entry);
      service_params params;
      params.child_path = path;
      const toml::table* ptable = nullptr;
      if (auto* n = t.get("params")) {
        ptable = n->as_table();
        if (ptable == nullptr)
          return fail(line_of(*n), f + ".params",
                      fmt::format("expected a table, got {}", toml_type_name(*n)));
        if (auto err = read_params(*ptable, f + ".params", params))
          return err;
      }
      auto start = catalog_.make(*type_name, params);
      if (!start)
        return service_error(start.error(), f, *svc, ptable, line_of(t));
      spec.id = *id;
      spec.start = std::move(*start);
      auto name = t.get("name") ? t.get("name")->value_or(*id) : *id;
      auto* regulator = t.get("regulator");
      auto* inbox = t.get("inbox");
      if (regulator != nullptr && inbox != nullptr)
        return fail(line_of(*inbox), f + ".inbox",
                    "a child has either a regulator or an inbox (an inbox is a regulator)");
      if (regulator != nullptr || inbox != nullptr) {
        auto settings = regulator != nullptr ? read_regulator(*regulator, f + ".regulator", name)
                                             : read_inbox(*inbox, f + ".inbox", name);
        if (!settings)
          return settings.error();
        spec.start = regulated_service(std::move(spec.start),
                                       std::make_shared<regulator_config>(std::move(*settings)));
      }
    }
    if (auto* n = t.get("restart")) {
      auto x = read_enum<restart_type>(*n, f + ".restart",
                                       {{"permanent", restart_type::permanent},
                                        {"transient", restart_type::transient},
                                        {"temporary", restart_type::temporary}});
      if (!x)
        return x.error();
      spec.restart = *x;
      out.lines.restart = line_of(*n);
    }
    if (auto* n = t.get("shutdown")) {
      auto x = read_shutdown(*n, f + ".shutdown");
      if (!x)
        return x.error();
      spec.shutdown = *x;
      out.lines.shutdown = line_of(*n);
    }
    if (auto* n = t.get("significant")) {
      auto x = read_bool(*n, f + ".significant");
      if (!x)
        return x.error();
      spec.significant = *x;
      out.lines.significant = line_of(*n);
    }
    if (auto* n = t.get("start_timeout_ms")) {
      auto x = read_millis(*n, f + ".start_timeout_ms");
      if (!x)
        return x.error();
      spec.start_timeout = *x;
      out.lines.start_timeout = line_of(*n);
    }
    if (auto* n = t.get("name")) {
      auto x = read_string(*n, f + ".name");
      if (!x)
        return x.error();
      if (x->empty())
        return fail(line_of(*n), f + ".name", "must not be empty (leave it out for no name)");
      // Two children with one name would fail at start with name_taken; say it now.
      if (auto i = names_.find(*x); i != names_.end())
        return fail(line_of(*n), f + ".name",
                    fmt::format("\"{}\" is already the name of {} ({})", *x, i->second.first,
                                i->second.second));
      names_.emplace(*x, std::make_pair(path, where(line_of(*n))));
      spec.name = *x;
      out.lines.name = line_of(*n);
    }
    if (auto* n = t.get("global")) {
      auto x = read_bool(*n, f + ".global");
      if (!x)
        return x.error();
      if (*x && spec.name.empty())
        return fail(line_of(*n), f + ".global",
                    "needs a name: global = true exports the child's stable name to the cluster");
      if (*x)
        global_names_.push_back(spec.name);
    }
    if (auto err = parse_cluster(t, out))
      return err;
    return {};
  }

  /// `n` as a table whose keys are all in `keys`.
  caf::expected<const toml::table*> read_table(const toml::node& n, const std::string& field,
                                               const std::vector<std::string>& keys) const {
    auto* t = n.as_table();
    if (t == nullptr)
      return fail(line_of(n), field, fmt::format("expected a table, got {}", toml_type_name(n)));
    if (auto err = check_keys(*t, field + ".", keys))
      return err;
    return t;
  }

  // `[children.regulator]`: the child behind its own regulator (regulator.hpp).
  caf::expected<regulator_settings> read_regulator(const toml::node& n, const std::string& field,
                                                   const std::string& name) const {
    auto table = read_table(n, field, regulator_keys);
    if (!table)
      return table.error();
    auto* t = *table;
    regulator_settings s;
    s.name = name;
    auto millis = [&](const char* key, caf::timespan& out, int64_t min = 1) {
      return read_optional_millis(*t, field, key, out, min);
    };
    if (auto* x = t->get("kind")) {
      auto k = read_enum<regulator_kind>(*x, field + ".kind", {{"counter", regulator_kind::counter},
                                                              {"rate", regulator_kind::rate}});
      if (!k)
        return k.error();
      s.kind = *k;
    }
    if (auto* x = t->get("limit")) {
      auto v = read_number(*x, field + ".limit", s.kind == regulator_kind::counter ? 1 : 1e-6);
      if (!v)
        return v.error();
      s.limits.limit = *v;
      s.min_limit = std::min(s.min_limit, *v);
    }
    if (auto* x = t->get("max_size")) {
      auto v = read_int(*x, field + ".max_size", 0, 100'000'000);
      if (!v)
        return v.error();
      s.limits.max_size = static_cast<size_t>(*v);
    }
    if (auto* x = t->get("order")) {
      auto o = read_enum<queue_order>(*x, field + ".order",
                                      {{"fifo", queue_order::fifo}, {"lifo", queue_order::lifo}});
      if (!o)
        return o.error();
      s.order = *o;
    }
    if (auto* x = t->get("overflow")) {
      auto o = read_overflow(*x, field + ".overflow");
      if (!o)
        return o.error();
      s.overflow = *o;
    }
    auto* target = t->get("codel_target_ms");
    auto* interval = t->get("codel_interval_ms");
    if ((target == nullptr) != (interval == nullptr))
      return fail(line_of(target ? *target : *interval), field + ".codel_target_ms",
                  "CoDel needs both codel_target_ms and codel_interval_ms");
    if (target != nullptr)
      s.codel = codel_settings{};
    for (auto [key, out] : {std::pair{"max_time_ms", &s.limits.max_time},
                            std::pair{"call_timeout_ms", &s.call_timeout},
                            std::pair{"sample_interval_ms", &s.sample_interval}})
      if (auto err = millis(key, *out))
        return err;
    for (auto [key, out] : {std::pair{"alarm_after_ms", &s.alarm_after},
                            std::pair{"alarm_clear_after_ms", &s.alarm_clear_after}})
      if (auto err = millis(key, *out, 0))
        return err;
    if (s.codel) {
      if (auto err = millis("codel_target_ms", s.codel->target))
        return err;
      if (auto err = millis("codel_interval_ms", s.codel->interval))
        return err;
    }
    if (auto* x = t->get("min_limit")) {
      auto v = read_number(*x, field + ".min_limit", 1e-6, s.limits.limit);
      if (!v)
        return v.error();
      s.min_limit = *v;
    }
    if (auto* x = t->get("feedback_step")) {
      auto v = read_number(*x, field + ".feedback_step", 0, 1);
      if (!v)
        return v.error();
      s.feedback_step = *v;
    }
    if (auto* x = t->get("samplers")) {
      auto st = read_table(*x, field + ".samplers", sampler_keys);
      if (!st)
        return st.error();
      for (auto&& [key, value] : **st) {
        auto sub = field + ".samplers." + std::string{key.str()};
        auto* arr = value.as_array();
        if (arr == nullptr || arr->empty())
          return fail(line_of(value), sub, "expected a non-empty array of ascending thresholds");
        std::vector<double> thresholds;
        for (auto& v : *arr) {
          auto d = read_number(v, sub, 0);
          if (!d)
            return d.error();
          if (!thresholds.empty() && *d < thresholds.back())
            return fail(line_of(v), sub, "thresholds must ascend");
          thresholds.push_back(*d);
        }
        if (key.str() == "queue_delay_ms")
          s.samplers.push_back(queue_delay_sampler(std::move(thresholds)));
        else if (key.str() == "in_flight")
          s.samplers.push_back(in_flight_sampler(std::move(thresholds)));
        else if (key.str() == "memory_mib")
          s.samplers.push_back(memory_sampler(std::move(thresholds)));
        else
          s.samplers.push_back(cpu_sampler(std::move(thresholds)));
      }
    }
    if (auto err = validate(s))
      return fail(line_of(n), field, describe(err));
    return s;
  }

  // `[children.inbox]`: the child behind a bounded inbox (inbox.hpp).
  caf::expected<regulator_settings> read_inbox(const toml::node& n, const std::string& field,
                                               const std::string& name) const {
    auto table = read_table(n, field, inbox_keys);
    if (!table)
      return table.error();
    auto* t = *table;
    inbox_settings s;
    s.name = name;
    if (auto* x = t->get("capacity")) {
      auto v = read_int(*x, field + ".capacity", 0, 100'000'000);
      if (!v)
        return v.error();
      s.capacity = static_cast<uint32_t>(*v);
    }
    if (auto* x = t->get("in_flight")) {
      auto v = read_int(*x, field + ".in_flight", 1, 100'000);
      if (!v)
        return v.error();
      s.in_flight = static_cast<uint32_t>(*v);
    }
    if (auto* x = t->get("overflow")) {
      auto o = read_overflow(*x, field + ".overflow");
      if (!o)
        return o.error();
      s.overflow = *o;
    }
    if (auto err = read_optional_millis(*t, field, "max_wait_ms", s.max_wait))
      return err;
    if (auto err = read_optional_millis(*t, field, "call_timeout_ms", s.call_timeout))
      return err;
    return to_regulator_settings(s);
  }

  caf::expected<overflow_policy> read_overflow(const toml::node& n,
                                               const std::string& field) const {
    return read_enum<overflow_policy>(n, field, {{"reject_new", overflow_policy::reject_new},
                                                 {"drop_oldest", overflow_policy::drop_oldest},
                                                 {"keep_old", overflow_policy::keep_old}});
  }

  /// `key` of `t` in milliseconds (at least `min`) into `out`, when given.
  caf::error read_optional_millis(const toml::table& t, const std::string& field,
                                  const char* key, caf::timespan& out, int64_t min = 1) const {
    if (auto* x = t.get(key)) {
      auto ms = read_int(*x, field + "." + key, min, max_millis);
      if (!ms)
        return ms.error();
      out = std::chrono::milliseconds{*ms};
    }
    return {};
  }

  // `cluster = "singleton" | "spread"` and `instances = N` (spread only).
  caf::error parse_cluster(const toml::table& t, parsed_child& out) {
    auto& f = out.field;
    auto* mode = t.get("cluster");
    auto* instances = t.get("instances");
    if (mode == nullptr) {
      if (instances != nullptr)
        return fail(line_of(*instances), f + ".instances", "only allowed with cluster = \"spread\"");
      return {};
    }
    auto x = read_enum<cluster_mode>(*mode, f + ".cluster",
                                     {{"singleton", cluster_mode::singleton},
                                      {"spread", cluster_mode::spread}});
    if (!x)
      return x.error();
    if (out.spec.name.empty())
      return fail(line_of(*mode), f + ".cluster",
                  "needs a name: callers reach a cluster service by its name");
    if (auto* g = t.get("global"); g != nullptr && g->value_or(false))
      return fail(line_of(*g), f + ".global",
                  "not with cluster: a cluster service is always registered cluster-wide");
    cluster_service cs;
    cs.mode = *x;
    cs.spec = out.spec;
    cs.source = where(out.lines.table);
    if (instances != nullptr) {
      if (cs.mode != cluster_mode::spread)
        return fail(line_of(*instances), f + ".instances", "only allowed with cluster = \"spread\"");
      auto n = read_int(*instances, f + ".instances", 1, 10000);
      if (!n)
        return n.error();
      cs.instances = static_cast<uint32_t>(*n);
    }
    out.cluster = std::move(cs);
    return {};
  }

  caf::expected<shutdown_policy> read_shutdown(const toml::node& n, const std::string& field) const {
    constexpr auto allowed = "expected \"brutal_kill\", \"infinity\" or milliseconds >= 0";
    if (n.is_integer()) {
      auto ms = n.as_integer()->get();
      if (ms < 0 || ms > max_millis)
        return fail(line_of(n), field, fmt::format("{}, got {}", allowed, ms));
      return shutdown_policy::timeout(std::chrono::milliseconds{ms});
    }
    if (n.is_string()) {
      auto& s = n.as_string()->get();
      if (s == "brutal_kill")
        return shutdown_policy::brutal_kill();
      if (s == "infinity")
        return shutdown_policy::infinity();
      return fail(line_of(n), field, fmt::format("{}, got \"{}\"", allowed, s));
    }
    return fail(line_of(n), field, fmt::format("{}, got {}", allowed, toml_type_name(n)));
  }

  caf::error read_params(const toml::table& t, const std::string& field,
                         service_params& out) const {
    for (auto&& [key, value] : t) {
      auto name = std::string{key.str()};
      if (value.is_string())
        out.set(name, value.as_string()->get());
      else if (value.is_integer())
        out.set(name, value.as_integer()->get());
      else if (value.is_floating_point())
        out.set(name, value.as_floating_point()->get());
      else if (value.is_boolean())
        out.set(name, value.as_boolean()->get());
      else
        return fail(line_of(value), field + "." + name,
                    fmt::format("unsupported value ({}); use a string, integer, float or "
                                "boolean",
                                toml_type_name(value)));
    }
    return {};
  }

  // --- errors of the catalog and of the supervisor's validation ------------------------

  caf::error service_error(const caf::error& err, const std::string& f, const toml::node& svc,
                           const toml::table* params, int table_line) const {
    auto& ctx = err.context();
    if (is(err, errc::unknown_service_type) && ctx.match_elements<std::string, std::string>())
      return fail(line_of(svc), f + ".service",
                  fmt::format("unknown service type \"{}\" ({})", ctx.get_as<std::string>(0),
                              ctx.get_as<std::string>(1)));
    if (is(err, errc::bad_config) && ctx.match_elements<std::string, std::string>()) {
      auto& key = ctx.get_as<std::string>(0);
      int line = table_line;
      if (params != nullptr) {
        line = line_of(*params);
        if (auto* n = params->get(key))
          line = line_of(*n);
      }
      return fail(line, f + ".params." + key, ctx.get_as<std::string>(1));
    }
    return fail(line_of(svc), f + ".service", describe(err));
  }

  caf::error flag_error(const caf::error& err, const std::string& prefix,
                        const flag_lines& lines) const {
    auto at = [&](int line) { return line != 0 ? line : lines.table; };
    if (is(err, errc::bad_strategy))
      return fail(at(lines.strategy), prefix + "strategy", describe(err));
    if (is(err, errc::bad_intensity))
      return fail(at(lines.intensity), prefix + "intensity", "must be >= 0");
    if (is(err, errc::bad_period))
      return fail(at(lines.period), prefix + "period_ms", "must be > 0");
    if (is(err, errc::bad_auto_shutdown))
      return fail(at(lines.auto_shutdown), prefix + "auto_shutdown", describe(err));
    if (is(err, errc::dynamic_auto_shutdown))
      return fail(at(lines.auto_shutdown), prefix + "auto_shutdown",
                  "a dynamic supervisor needs auto_shutdown = \"never\"");
    if (is(err, errc::bad_max_children))
      return fail(at(lines.max_children), prefix + "max_children",
                  "only allowed with strategy = \"dynamic\"");
    if (is(err, errc::bad_backoff))
      return fail(at(lines.backoff), prefix + "backoff",
                  "need min_ms <= max_ms (max_ms defaults to 30000), random_factor >= 0, "
                  "reset_after_ms >= 0");
    return fail(lines.table, prefix.empty() ? "supervisor" : prefix.substr(0, prefix.size() - 1),
                describe(err));
  }

  caf::error spec_error(const caf::error& err, const parsed_child& pc,
                        const supervisor_flags& flags) const {
    auto& f = pc.field;
    auto at = [&](int line) { return line != 0 ? line : pc.lines.table; };
    if (is(err, errc::missing_id))
      return fail(at(pc.lines.id), f + ".id", "missing (every child needs an id)");
    if (is(err, errc::bad_shutdown))
      return fail(at(pc.lines.shutdown), f + ".shutdown", "must be >= 0");
    if (is(err, errc::bad_start_timeout))
      return fail(at(pc.lines.start_timeout), f + ".start_timeout_ms", "must be > 0");
    if (is(err, errc::significant_permanent))
      return fail(at(pc.lines.significant), f + ".significant",
                  "a significant child cannot be permanent (set restart = \"transient\" or "
                  "\"temporary\")");
    if (is(err, errc::significant_without_auto_shutdown))
      return fail(at(pc.lines.significant), f + ".significant",
                  fmt::format("needs the supervisor's auto_shutdown = \"any_significant\" or "
                              "\"all_significant\" (it is \"{}\")",
                              to_string(flags.auto_shutdown)));
    return fail(pc.lines.table, f, describe(err));
  }

  caf::error children_error(const caf::error& err, const std::string& prefix,
                            const flag_lines& lines, const std::vector<parsed_child>& parsed) const {
    if (is(err, errc::duplicate_id)) {
      std::map<std::string, const parsed_child*> first;
      for (auto& pc : parsed) {
        auto [i, added] = first.emplace(pc.spec.id, &pc);
        if (!added)
          return fail(pc.lines.id, pc.field + ".id",
                      fmt::format("duplicate id \"{}\" (first used at line {})", pc.spec.id,
                                  i->second->lines.id));
      }
    }
    if (is(err, errc::dynamic_needs_one_spec)) {
      int line = parsed.size() > 1 ? parsed[1].lines.table
                                   : (lines.strategy != 0 ? lines.strategy : lines.table);
      return fail(line, prefix + "children",
                  fmt::format("a dynamic supervisor has exactly one child (its template), "
                              "found {}",
                              parsed.size()));
    }
    return fail(lines.table, prefix + "children", describe(err));
  }

  const service_catalog& catalog_;
  std::vector<declared_child> layout_;
  std::map<std::string, std::pair<std::string, std::string>> names_;  // name -> path, where
  std::vector<std::string> global_names_;
  std::vector<cluster_service> cluster_services_;
};

} // namespace

caf::expected<declared_tree> parse_tree(std::string_view toml_text,
                                        const std::string& source_name,
                                        const service_catalog& catalog) {
  auto doc = detail::parse_toml(toml_text, source_name);
  if (!doc)
    return std::move(doc.error());
  return tree_parser{source_name, catalog}.parse(*doc);
}

caf::expected<declared_tree> load_tree_file(const std::string& path,
                                            const service_catalog& catalog) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return make_error(errc::bad_config,
                      fmt::format("{}: cannot read: {}", path, std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  return parse_tree(text.str(), path, catalog);
}

child_spec cluster_instance_spec(const cluster_service& cs, uint32_t index) {
  auto spec = cs.spec;
  if (cs.mode == cluster_mode::spread) {
    spec.id += fmt::format("#{}", index);
    spec.name += fmt::format("#{}", index);
  }
  return spec;
}

std::string config_error_text(const caf::error& err) {
  if (is(err, errc::bad_config) && err.context().match_elements<std::string>())
    return err.context().get_as<std::string>(0);
  return describe(err);
}

} // namespace warden
