// The chaos scenario parser (TOML -> chaos_scenario, every problem as "FILE:LINE: FIELD:
// what", like the tree file) and the fault schedule (explicit faults + seeded gremlin).
#include "warden/chaos_scenario.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "warden/detail/text.hpp"
#include "warden/detail/toml_reader.hpp"
#include "warden/detail/toml_text.hpp"

#include "warden/errors.hpp"

namespace warden::chaos {

namespace {

namespace fs = std::filesystem;

/// Longest run and longest duration field: one day.
constexpr double max_seconds = 86400;
constexpr uint32_t max_nodes = 9;
/// Gremlin: draws per slot before the slot is skipped.
constexpr int gremlin_attempts = 8;
/// Gremlin: a node back from a kill or a pause counts as down this much longer in the
/// majority rule: it rejoins only after its quarantine (2 x stable_after = 2 s, doubling
/// when it is downed again soon). Found by a gremlin run that paused a second node 2.9 s
/// after the first came back: no majority, no service for 7.9 s.
constexpr int64_t gremlin_rejoin_ms = 5000;

const std::vector<std::string> root_keys = {"name",     "seed",   "duration_s", "cluster",
                                            "hypothesis", "workload", "bounds",  "faults",
                                            "gremlin"};
const std::vector<std::string> cluster_keys = {"nodes", "tree", "attach"};
const std::vector<std::string> hypothesis_keys = {"all_members_up", "services", "p99_ms",
                                                  "settle_s"};
const std::vector<std::string> workload_keys = {"services", "rate_per_s", "timeout_ms"};
const std::vector<std::string> fault_keys = {"at_s",   "kind",  "node", "service",
                                             "link",   "groups", "halves", "ms",
                                             "probability", "for_s", "restart_after_s",
                                             "rate_per_s"};
const std::vector<std::string> gremlin_keys = {"from_s", "until_s", "every_s", "kinds",
                                               "for_s",  "ms",      "probability"};

// Which fault keys each kind needs and which it may have ("at_s" and "kind": always).
struct kind_rule {
  std::vector<std::string> required;
  std::vector<std::string> optional;
};

kind_rule rule_of(fault_kind k) {
  switch (k) {
    case fault_kind::kill_node: return {{"node"}, {"restart_after_s"}};
    case fault_kind::pause_node: return {{"node", "for_s"}, {}};
    case fault_kind::partition: return {{"for_s"}, {"groups", "halves"}};
    case fault_kind::cut_link: return {{"link", "for_s"}, {}};
    case fault_kind::latency: return {{"link", "ms", "for_s"}, {}};
    case fault_kind::jitter: return {{"link", "ms", "for_s"}, {}};
    case fault_kind::loss: return {{"link", "probability", "for_s"}, {}};
    case fault_kind::reset: return {{"link"}, {}};
    case fault_kind::kill_service: return {{"node", "service"}, {}};
    case fault_kind::overload: return {{"service", "rate_per_s", "for_s"}, {}};
  }
  return {};
}

bool contains(const std::vector<std::string>& xs, std::string_view x) {
  return std::find(xs.begin(), xs.end(), x) != xs.end();
}

using detail::join;
using detail::line_of;
using detail::toml_type_name;

std::string kind_names() {
  std::vector<std::string> xs;
  for (auto k : all_fault_kinds())
    xs.emplace_back(to_string(k));
  return join(xs);
}

bool is_node_fault(fault_kind k) {
  return k == fault_kind::kill_node || k == fault_kind::pause_node;
}

// --- rules shared by the parser (explicit faults) and the gremlin ------------------------

bool shares_node(const scheduled_fault& a, const scheduled_fault& b) {
  for (auto& x : a.nodes)
    if (contains(b.nodes, x))
      return true;
  return false;
}

bool overlaps(const scheduled_fault& a, const scheduled_fault& b) {
  return a.start_ms <= b.end_ms && b.start_ms <= a.end_ms;
}

/// The fault in `placed` that `c` conflicts with: a shared node at a shared instant.
const scheduled_fault* overlap_with(const scheduled_fault& c,
                                    const std::vector<scheduled_fault>& placed) {
  for (auto& p : placed)
    if (overlaps(c, p) && shares_node(c, p))
      return &p;
  return nullptr;
}

/// Most nodes killed or paused at once, with `c` added to `placed`, each counted down until
/// `rejoin_ms` after its fault ends. The maximum over closed intervals is reached at one
/// of their starts.
size_t max_down_with(const scheduled_fault& c, const std::vector<scheduled_fault>& placed,
                     int64_t rejoin_ms = 0) {
  if (!is_node_fault(c.kind))
    return 0;
  auto down_until = [rejoin_ms](const scheduled_fault& x) { return x.end_ms + rejoin_ms; };
  std::vector<const scheduled_fault*> xs{&c};
  for (auto& p : placed)
    if (is_node_fault(p.kind) && c.start_ms <= down_until(p) && p.start_ms <= down_until(c))
      xs.push_back(&p);
  size_t best = 0;
  for (auto* at : xs) {
    auto t = std::max(at->start_ms, c.start_ms);
    size_t n = 0;
    for (auto* x : xs)
      if (x->start_ms <= t && t <= down_until(*x))
        ++n;
    best = std::max(best, n);
  }
  return best;
}

/// Most nodes that may be down at once so the rest stay a strict majority.
size_t max_down(uint32_t nodes) {
  return nodes == 0 ? 0 : (nodes - 1) / 2;
}

std::vector<std::vector<std::string>> halves_of(const std::vector<std::string>& names) {
  auto first = (names.size() + 1) / 2;
  return {std::vector<std::string>(names.begin(), names.begin() + static_cast<long>(first)),
          std::vector<std::string>(names.begin() + static_cast<long>(first), names.end())};
}

scheduled_fault schedule_of(const fault_spec& f, const chaos_scenario& sc) {
  scheduled_fault s;
  s.kind = f.kind;
  s.start_ms = f.at_ms;
  s.end_ms = f.at_ms + f.for_ms.value_or(0);
  s.service = f.service;
  s.ms = f.ms;
  s.probability = f.probability;
  s.rate_per_s = f.rate_per_s;
  switch (f.kind) {
    case fault_kind::kill_node:
      s.restart = f.restart_after_ms.has_value();
      s.end_ms = s.restart ? f.at_ms + *f.restart_after_ms : sc.duration_ms;
      s.nodes = {f.node};
      break;
    case fault_kind::pause_node:
    case fault_kind::kill_service: s.nodes = {f.node}; break;
    case fault_kind::partition:
      s.groups = f.halves ? halves_of(sc.node_names()) : f.groups;
      for (auto& g : s.groups)
        s.nodes.insert(s.nodes.end(), g.begin(), g.end());
      break;
    case fault_kind::overload: break;  // holds no node: it shares the cluster with any fault
    default: s.nodes = f.link; break;
  }
  return s;
}

// --- the parser --------------------------------------------------------------------------

class scenario_parser : detail::toml_reader {
public:
  explicit scenario_parser(std::string file) : toml_reader(std::move(file)) {}

  caf::expected<chaos_scenario> parse(const toml::table& doc) {
    chaos_scenario sc;
    sc.source = file();
    sc.name = fs::path{file()}.stem().string();
    if (auto err = check_keys(doc, "", root_keys))
      return err;
    if (auto* n = doc.get("name")) {
      auto x = read_string(*n, "name", false);
      if (!x)
        return x.error();
      sc.name = *x;
    }
    if (auto* n = doc.get("seed")) {
      auto x = read_int(*n, "seed", 0, std::numeric_limits<int64_t>::max());
      if (!x)
        return x.error();
      sc.seed = static_cast<uint64_t>(*x);
    }
    auto* dur = doc.get("duration_s");
    if (dur == nullptr)
      return fail(1, "duration_s", "missing (how long the run lasts, in seconds)");
    auto d = read_seconds(*dur, "duration_s", 0.001);
    if (!d)
      return d.error();
    sc.duration_ms = *d;
    if (auto err = parse_cluster(doc, sc))
      return err;
    if (auto err = parse_hypothesis(doc, sc))
      return err;
    if (auto err = parse_workload(doc, sc))
      return err;
    if (auto err = parse_bounds(doc, sc))
      return err;
    if (auto err = parse_faults(doc, sc))
      return err;
    if (auto err = parse_gremlin(doc, sc))
      return err;
    return sc;
  }

private:
  // A section `[name]`: nullptr when absent.
  caf::expected<const toml::table*> section(const toml::table& doc, const std::string& name,
                                            const std::vector<std::string>& allowed) const {
    auto* n = doc.get(name);
    if (n == nullptr)
      return static_cast<const toml::table*>(nullptr);
    auto* t = n->as_table();
    if (t == nullptr)
      return fail(line_of(*n), name, fmt::format("expected a table, got {}", toml_type_name(*n)));
    if (auto err = check_keys(*t, name + ".", allowed))
      return err;
    return t;
  }

  // Seconds (integer or float, 1 ms resolution) as whole milliseconds.
  caf::expected<int64_t> read_seconds(const toml::node& n, const std::string& field,
                                      double min) const {
    auto x = read_number(n, field, min, max_seconds);
    if (!x)
      return x.error();
    return static_cast<int64_t>(std::llround(*x * 1000));
  }

  caf::expected<std::string> read_string(const toml::node& n, const std::string& field,
                                         bool allow_empty) const {
    auto s = toml_reader::read_string(n, field);
    if (s && s->empty() && !allow_empty)
      return fail(line_of(n), field, "must not be empty");
    return s;
  }

  // A non-empty array of distinct non-empty strings.
  caf::expected<std::vector<std::string>> read_strings(const toml::node& n,
                                                       const std::string& field) const {
    auto* arr = n.as_array();
    if (arr == nullptr)
      return fail(line_of(n), field,
                  fmt::format("expected an array of strings, got {}", toml_type_name(n)));
    std::vector<std::string> out;
    for (size_t i = 0; i < arr->size(); ++i) {
      auto s = read_string(*arr->get(i), fmt::format("{}[{}]", field, i), false);
      if (!s)
        return s.error();
      if (contains(out, *s))
        return fail(line_of(*arr->get(i)), fmt::format("{}[{}]", field, i),
                    fmt::format("\"{}\" is listed twice", *s));
      out.push_back(*s);
    }
    return out;
  }

  // A node name of the scenario's cluster.
  caf::expected<std::string> read_node(const toml::node& n, const std::string& field,
                                       const chaos_scenario& sc) const {
    auto s = read_string(n, field, false);
    if (!s)
      return s;
    auto names = sc.node_names();
    if (!contains(names, *s))
      return fail(line_of(n), field,
                  fmt::format("no node \"{}\" (the cluster has {})", *s, join(names)));
    return s;
  }

  template <class T, class Read>
  caf::expected<draw_range<T>> read_range(const toml::node& n, const std::string& field,
                                          Read read) const {
    auto* arr = n.as_array();
    if (arr == nullptr || arr->size() != 2)
      return fail(line_of(n), field, "expected [low, high]");
    auto lo = read(*arr->get(0), field + "[0]");
    if (!lo)
      return lo.error();
    auto hi = read(*arr->get(1), field + "[1]");
    if (!hi)
      return hi.error();
    if (*hi < *lo)
      return fail(line_of(n), field, "high must be >= low");
    return draw_range<T>{*lo, *hi};
  }

  // --- sections --------------------------------------------------------------------------

  caf::error parse_cluster(const toml::table& doc, chaos_scenario& sc) {
    auto t = section(doc, "cluster", cluster_keys);
    if (!t)
      return t.error();
    if (*t == nullptr)
      return fail(1, "cluster", "missing (a [cluster] section with tree = \"...\" or attach)");
    auto& c = **t;
    auto* attach = c.get("attach");
    auto* tree = c.get("tree");
    if (attach != nullptr) {
      if (auto* n = c.get("nodes"))
        return fail(line_of(*n), "cluster.nodes",
                    "not with attach (the attached cluster has one node per address)");
      if (tree != nullptr)
        return fail(line_of(*tree), "cluster.tree",
                    "not with attach (the attached nodes already run their trees)");
      auto xs = read_strings(*attach, "cluster.attach");
      if (!xs)
        return xs.error();
      if (xs->empty() || xs->size() > max_nodes)
        return fail(line_of(*attach), "cluster.attach",
                    fmt::format("expected 1..{} addresses, got {}", max_nodes, xs->size()));
      for (size_t i = 0; i < xs->size(); ++i) {
        auto& a = (*xs)[i];
        auto colon = a.rfind(':');
        int port = 0;
        bool ok = colon != std::string::npos && colon > 0 && colon + 1 < a.size()
                  && a.size() - colon - 1 <= 5
                  && std::all_of(a.begin() + static_cast<long>(colon) + 1, a.end(),
                                 [](char ch) { return ch >= '0' && ch <= '9'; });
        if (ok)
          port = std::stoi(a.substr(colon + 1));
        if (!ok || port < 1 || port > 65535)
          return fail(line_of(*attach->as_array()->get(i)), fmt::format("cluster.attach[{}]", i),
                      fmt::format("\"{}\" is not host:port", a));
      }
      sc.cluster.attach = *xs;
      sc.cluster.nodes = static_cast<uint32_t>(xs->size());
      return {};
    }
    if (auto* n = c.get("nodes")) {
      auto x = read_int(*n, "cluster.nodes", 1, max_nodes);
      if (!x)
        return x.error();
      sc.cluster.nodes = static_cast<uint32_t>(*x);
    }
    if (tree == nullptr)
      return fail(line_of(c), "cluster.tree",
                  "missing (the tree file the nodes run, or attach = [...])");
    auto x = read_string(*tree, "cluster.tree", false);
    if (!x)
      return x.error();
    fs::path p{*x};
    if (p.is_relative())
      p = fs::path{file()}.parent_path() / p;
    sc.cluster.tree = p.lexically_normal().string();
    tree_line_ = line_of(*tree);
    return {};
  }

  caf::error parse_hypothesis(const toml::table& doc, chaos_scenario& sc) {
    auto t = section(doc, "hypothesis", hypothesis_keys);
    if (!t)
      return t.error();
    if (*t == nullptr)
      return {};
    auto& h = **t;
    if (auto* n = h.get("all_members_up")) {
      auto x = read_bool(*n, "hypothesis.all_members_up");
      if (!x)
        return x.error();
      sc.hypothesis.all_members_up = *x;
    }
    if (auto* n = h.get("services")) {
      auto x = read_strings(*n, "hypothesis.services");
      if (!x)
        return x.error();
      sc.hypothesis.services = *x;
    }
    if (auto* n = h.get("p99_ms")) {
      auto x = read_number(*n, "hypothesis.p99_ms", 0.001, 1e9);
      if (!x)
        return x.error();
      sc.hypothesis.p99_ms = *x;
    }
    if (auto* n = h.get("settle_s")) {
      auto x = read_seconds(*n, "hypothesis.settle_s", 0);
      if (!x)
        return x.error();
      sc.hypothesis.settle = std::chrono::milliseconds{*x};
    }
    return {};
  }

  caf::error parse_workload(const toml::table& doc, chaos_scenario& sc) {
    auto t = section(doc, "workload", workload_keys);
    if (!t)
      return t.error();
    if (*t == nullptr)
      return {};
    auto& w = **t;
    if (auto* n = w.get("services")) {
      auto x = read_strings(*n, "workload.services");
      if (!x)
        return x.error();
      sc.workload.services = *x;
    }
    if (auto* n = w.get("rate_per_s")) {
      auto x = read_number(*n, "workload.rate_per_s", 0.001, 100000);
      if (!x)
        return x.error();
      sc.workload.rate_per_s = *x;
    }
    if (auto* n = w.get("timeout_ms")) {
      auto x = read_int(*n, "workload.timeout_ms", 1, 600000);
      if (!x)
        return x.error();
      sc.workload.timeout = std::chrono::milliseconds{*x};
    }
    return {};
  }

  caf::error parse_bounds(const toml::table& doc, chaos_scenario& sc) {
    std::vector<std::string> allowed = {"max_recovery_ms", "min_availability", "max_p99_ms"};
    for (auto k : all_fault_kinds())
      allowed.push_back(fmt::format("{}_recovery_ms", to_string(k)));
    auto t = section(doc, "bounds", allowed);
    if (!t)
      return t.error();
    if (*t == nullptr)
      return {};
    for (auto&& [key, n] : **t) {
      auto name = std::string{key.str()};
      auto field = "bounds." + name;
      if (name == "min_availability") {
        auto x = read_number(n, field, 0, 1);
        if (!x)
          return x.error();
        sc.bounds.min_availability = *x;
      } else if (name == "max_p99_ms") {
        auto x = read_number(n, field, 0.001, 1e9);
        if (!x)
          return x.error();
        sc.bounds.max_p99_ms = *x;
      } else {
        auto x = read_int(n, field, 1, 3'600'000);
        if (!x)
          return x.error();
        std::chrono::milliseconds ms{*x};
        if (name == "max_recovery_ms")
          sc.bounds.max_recovery = ms;
        else  // "<kind>_recovery_ms", checked by section()
          sc.bounds.max_recovery_for[name.substr(0, name.size() - 12)] = ms;
      }
    }
    return {};
  }

  caf::error parse_faults(const toml::table& doc, chaos_scenario& sc) {
    auto* n = doc.get("faults");
    if (n == nullptr)
      return {};
    auto* arr = n->as_array();
    if (arr == nullptr || !arr->is_array_of_tables())
      return fail(line_of(*n), "faults", "expected an array of tables ([[faults]] sections)");
    std::vector<scheduled_fault> placed;
    std::vector<int> lines;
    for (size_t i = 0; i < arr->size(); ++i) {
      auto& t = *arr->get(i)->as_table();
      auto f = fmt::format("faults[{}]", i);
      fault_spec spec;
      if (auto err = parse_fault(t, f, sc, spec))
        return err;
      // Rules between faults: file order, so the later one is blamed.
      auto s = schedule_of(spec, sc);
      if (auto* other = overlap_with(s, placed))
        return fail(spec.line, f,
                    fmt::format("overlaps the {} at line {} on the same node (faults on a "
                                "shared node or link must not share an instant)",
                                to_string(other->kind),
                                lines[static_cast<size_t>(other - placed.data())]));
      if (max_down_with(s, placed) > max_down(sc.cluster.nodes))
        return fail(spec.line, f,
                    fmt::format("would kill or pause {} of {} nodes at once (at most {}: the "
                                "live nodes must stay a strict majority)",
                                max_down_with(s, placed), sc.cluster.nodes,
                                max_down(sc.cluster.nodes)));
      placed.push_back(s);
      lines.push_back(spec.line);
      sc.faults.push_back(std::move(spec));
    }
    return {};
  }

  caf::error parse_fault(const toml::table& t, const std::string& f, const chaos_scenario& sc,
                         fault_spec& out) {
    out.line = line_of(t);
    if (auto err = check_keys(t, f + ".", fault_keys))
      return err;
    auto* kind = t.get("kind");
    if (kind == nullptr)
      return fail(out.line, f + ".kind", fmt::format("missing (one of: {})", kind_names()));
    auto ks = read_string(*kind, f + ".kind", false);
    if (!ks)
      return ks.error();
    auto k = fault_kind_from(*ks);
    if (!k)
      return fail(line_of(*kind), f + ".kind",
                  fmt::format("\"{}\" is not one of: {}", *ks, kind_names()));
    out.kind = *k;
    auto* at = t.get("at_s");
    if (at == nullptr)
      return fail(out.line, f + ".at_s", "missing (when the fault starts, in seconds)");
    auto at_ms = read_seconds(*at, f + ".at_s", 0);
    if (!at_ms)
      return at_ms.error();
    out.at_ms = *at_ms;
    if (out.at_ms >= sc.duration_ms)
      return fail(line_of(*at), f + ".at_s", "must be before duration_s");
    // Keys the kind needs or forbids.
    auto rule = rule_of(out.kind);
    for (auto& key : rule.required)
      if (t.get(key) == nullptr)
        return fail(out.line, f + "." + key,
                    fmt::format("missing (kind = \"{}\" needs {})", *ks, join(rule.required)));
    for (auto&& [key, node] : t) {
      auto name = key.str();
      if (name == "kind" || name == "at_s" || contains(rule.required, name)
          || contains(rule.optional, name))
        continue;
      auto allowed = std::vector<std::string>{"at_s", "kind"};
      allowed.insert(allowed.end(), rule.required.begin(), rule.required.end());
      allowed.insert(allowed.end(), rule.optional.begin(), rule.optional.end());
      return fail(line_of(node), f + "." + std::string{name},
                  fmt::format("not allowed with kind = \"{}\" (allowed: {})", *ks,
                              join(allowed)));
    }
    if (!sc.cluster.attach.empty() && is_link_fault(out.kind))
      return fail(line_of(*kind), f + ".kind",
                  fmt::format("\"{}\" is not possible with cluster.attach (link faults go "
                              "through the proxies of a cluster the tool starts)",
                              *ks));
    if (auto* n = t.get("node")) {
      auto x = read_node(*n, f + ".node", sc);
      if (!x)
        return x.error();
      out.node = *x;
    }
    if (auto* n = t.get("service")) {
      auto x = read_string(*n, f + ".service", false);
      if (!x)
        return x.error();
      out.service = *x;
    }
    if (auto* n = t.get("link")) {
      auto* arr = n->as_array();
      if (arr == nullptr || arr->size() != 2)
        return fail(line_of(*n), f + ".link", "expected two node names: [\"n1\", \"n2\"]");
      for (size_t i = 0; i < 2; ++i) {
        auto x = read_node(*arr->get(i), fmt::format("{}.link[{}]", f, i), sc);
        if (!x)
          return x.error();
        out.link.push_back(*x);
      }
      if (out.link[0] == out.link[1])
        return fail(line_of(*n), f + ".link", "needs two different nodes");
    }
    if (auto* n = t.get("ms")) {
      auto x = read_number(*n, f + ".ms", 0.001, 600000);
      if (!x)
        return x.error();
      out.ms = *x;
    }
    if (auto* n = t.get("rate_per_s")) {
      auto x = read_number(*n, f + ".rate_per_s", 0.001, 1000000);
      if (!x)
        return x.error();
      out.rate_per_s = *x;
    }
    if (auto* n = t.get("probability")) {
      auto x = read_number(*n, f + ".probability", 0, 1);
      if (!x)
        return x.error();
      if (*x == 0)
        return fail(line_of(*n), f + ".probability", "must be > 0");
      out.probability = *x;
    }
    if (out.kind == fault_kind::partition)
      if (auto err = parse_partition(t, f, sc, out))
        return err;
    if (auto* n = t.get("for_s")) {
      auto x = read_seconds(*n, f + ".for_s", 0.001);
      if (!x)
        return x.error();
      if (out.at_ms + *x > sc.duration_ms)
        return fail(line_of(*n), f + ".for_s", "the fault must end by duration_s");
      out.for_ms = *x;
    }
    if (auto* n = t.get("restart_after_s")) {
      if (!sc.cluster.attach.empty())
        return fail(line_of(*n), f + ".restart_after_s",
                    "not with cluster.attach (the tool restarts only nodes it started)");
      auto x = read_seconds(*n, f + ".restart_after_s", 0.001);
      if (!x)
        return x.error();
      if (out.at_ms + *x > sc.duration_ms)
        return fail(line_of(*n), f + ".restart_after_s", "the restart must be by duration_s");
      out.restart_after_ms = *x;
    }
    return {};
  }

  caf::error parse_partition(const toml::table& t, const std::string& f,
                             const chaos_scenario& sc, fault_spec& out) {
    auto* groups = t.get("groups");
    auto* halves = t.get("halves");
    if (groups != nullptr && halves != nullptr)
      return fail(line_of(*halves), f + ".halves", "not with groups (give one of them)");
    if (groups == nullptr && halves == nullptr)
      return fail(out.line, f + ".groups", "missing (groups = [[...], [...]] or halves = true)");
    if (sc.cluster.nodes < 2)
      return fail(out.line, f, "a partition needs at least 2 nodes");
    if (halves != nullptr) {
      auto x = read_bool(*halves, f + ".halves");
      if (!x)
        return x.error();
      if (!*x)
        return fail(line_of(*halves), f + ".halves", "must be true (or give groups)");
      out.halves = true;
      return {};
    }
    auto* arr = groups->as_array();
    if (arr == nullptr || arr->size() < 2)
      return fail(line_of(*groups), f + ".groups",
                  "expected at least two groups of node names: [[\"n1\"], [\"n2\", \"n3\"]]");
    std::set<std::string> seen;
    for (size_t i = 0; i < arr->size(); ++i) {
      auto gf = fmt::format("{}.groups[{}]", f, i);
      auto* g = arr->get(i)->as_array();
      if (g == nullptr || g->empty())
        return fail(line_of(*arr->get(i)), gf, "expected a non-empty array of node names");
      std::vector<std::string> group;
      for (size_t j = 0; j < g->size(); ++j) {
        auto x = read_node(*g->get(j), fmt::format("{}[{}]", gf, j), sc);
        if (!x)
          return x.error();
        if (!seen.insert(*x).second)
          return fail(line_of(*g->get(j)), fmt::format("{}[{}]", gf, j),
                      fmt::format("\"{}\" is in two groups (each node is in exactly one)", *x));
        group.push_back(*x);
      }
      out.groups.push_back(std::move(group));
    }
    std::vector<std::string> missing;
    for (auto& name : sc.node_names())
      if (seen.count(name) == 0)
        missing.push_back(name);
    if (!missing.empty())
      return fail(line_of(*groups), f + ".groups",
                  fmt::format("must cover every node: {} not in any group", join(missing)));
    return {};
  }

  caf::error parse_gremlin(const toml::table& doc, chaos_scenario& sc) {
    auto t = section(doc, "gremlin", gremlin_keys);
    if (!t)
      return t.error();
    if (*t == nullptr)
      return {};
    auto& g = **t;
    gremlin_spec gs;
    if (!sc.cluster.attach.empty())
      std::erase_if(gs.kinds, is_link_fault);
    auto secs = [this](double min) {
      return [this, min](const toml::node& n, const std::string& field) {
        return read_seconds(n, field, min);
      };
    };
    if (auto* n = g.get("from_s")) {
      auto x = read_seconds(*n, "gremlin.from_s", 0);
      if (!x)
        return x.error();
      gs.from_ms = *x;
    }
    int64_t until = sc.duration_ms;
    int until_line = line_of(g);
    if (auto* n = g.get("until_s")) {
      auto x = read_seconds(*n, "gremlin.until_s", 0.001);
      if (!x)
        return x.error();
      if (*x > sc.duration_ms)
        return fail(line_of(*n), "gremlin.until_s", "must be <= duration_s");
      gs.until_ms = until = *x;
      until_line = line_of(*n);
    }
    if (until <= gs.from_ms)
      return fail(until_line, "gremlin.until_s", "must be after from_s");
    if (auto* n = g.get("every_s")) {
      auto x = read_range<int64_t>(*n, "gremlin.every_s", secs(0.001));
      if (!x)
        return x.error();
      gs.every_ms = *x;
    }
    if (auto* n = g.get("for_s")) {
      auto x = read_range<int64_t>(*n, "gremlin.for_s", secs(0.001));
      if (!x)
        return x.error();
      gs.for_ms = *x;
    }
    if (auto* n = g.get("ms")) {
      auto x = read_range<double>(*n, "gremlin.ms", [this](const toml::node& v,
                                                            const std::string& field) {
        return read_number(v, field, 0.001, 600000);
      });
      if (!x)
        return x.error();
      gs.ms = *x;
    }
    if (auto* n = g.get("probability")) {
      auto x = read_range<double>(*n, "gremlin.probability", [this](const toml::node& v,
                                                                     const std::string& field) {
        return read_number(v, field, 0.001, 1);
      });
      if (!x)
        return x.error();
      gs.probability = *x;
    }
    if (auto* n = g.get("kinds")) {
      auto xs = read_strings(*n, "gremlin.kinds");
      if (!xs)
        return xs.error();
      if (xs->empty())
        return fail(line_of(*n), "gremlin.kinds", "must name at least one kind");
      gs.kinds.clear();
      for (size_t i = 0; i < xs->size(); ++i) {
        auto field = fmt::format("gremlin.kinds[{}]", i);
        auto line = line_of(*n->as_array()->get(i));
        auto k = fault_kind_from((*xs)[i]);
        if (!k)
          return fail(line, field,
                      fmt::format("\"{}\" is not one of: {}", (*xs)[i], kind_names()));
        if (!sc.cluster.attach.empty() && is_link_fault(*k))
          return fail(line, field,
                      fmt::format("\"{}\" is not possible with cluster.attach", (*xs)[i]));
        if (*k == fault_kind::kill_service && sc.workload.services.empty()
            && sc.hypothesis.services.empty())
          return fail(line, field,
                      "kill_service needs services to pick from (workload.services or "
                      "hypothesis.services)");
        if (*k == fault_kind::partition && sc.cluster.nodes < 2)
          return fail(line, field, "a partition needs at least 2 nodes");
        if (*k == fault_kind::overload)
          return fail(line, field,
                      "overload is not a gremlin kind (give it as a [[faults]] entry)");
        gs.kinds.push_back(*k);
      }
    }
    sc.gremlin = std::move(gs);
    return {};
  }

public:
  int tree_line_ = 0;
};

caf::expected<chaos_scenario> parse_impl(std::string_view text, const std::string& source,
                                         int* tree_line) {
  auto doc = detail::parse_toml(text, source);
  if (!doc)
    return std::move(doc.error());
  scenario_parser p{source};
  auto res = p.parse(*doc);
  if (tree_line != nullptr)
    *tree_line = p.tree_line_;
  return res;
}

// --- the gremlin -------------------------------------------------------------------------

// One random fault of kind `k` starting at `start`, or nullopt when it cannot end in time.
std::optional<scheduled_fault> draw_fault(fault_kind k, int64_t start, int64_t until,
                                          const chaos_scenario& sc, const gremlin_spec& g,
                                          portable_rng& rng) {
  auto names = sc.node_names();
  scheduled_fault s;
  s.kind = k;
  s.from_gremlin = true;
  s.start_ms = s.end_ms = start;
  auto pick_link = [&] {
    auto a = rng.index(names.size());
    auto b = rng.index(names.size() - 1);
    if (b >= a)
      ++b;
    s.nodes = {names[a], names[b]};
  };
  bool lasts = !is_instant(k) || (k == fault_kind::kill_node && sc.cluster.attach.empty());
  if (lasts)
    s.end_ms = start + rng.uniform_int(g.for_ms.lo, g.for_ms.hi);
  switch (k) {
    case fault_kind::kill_node:
      s.nodes = {names[rng.index(names.size())]};
      s.restart = sc.cluster.attach.empty();  // attached nodes stay dead
      if (!s.restart)
        s.end_ms = sc.duration_ms;
      break;
    case fault_kind::pause_node: s.nodes = {names[rng.index(names.size())]}; break;
    case fault_kind::kill_service: {
      auto services = sc.workload.services;
      for (auto& x : sc.hypothesis.services)
        if (!contains(services, x))
          services.push_back(x);
      s.nodes = {names[rng.index(names.size())]};
      s.service = services[rng.index(services.size())];
      break;
    }
    case fault_kind::partition: {
      // Shuffled halves: Fisher-Yates with our own draws.
      auto xs = names;
      for (size_t i = xs.size() - 1; i > 0; --i)
        std::swap(xs[i], xs[rng.index(i + 1)]);
      s.groups = halves_of(xs);
      for (auto& grp : s.groups)
        std::sort(grp.begin(), grp.end());
      s.nodes.clear();
      for (auto& grp : s.groups)
        s.nodes.insert(s.nodes.end(), grp.begin(), grp.end());
      break;
    }
    case fault_kind::latency:
    case fault_kind::jitter:
      pick_link();
      s.ms = std::round(rng.uniform_real(g.ms.lo, g.ms.hi) * 1000) / 1000;
      break;
    case fault_kind::loss:
      pick_link();
      s.probability = std::round(rng.uniform_real(g.probability.lo, g.probability.hi) * 1000)
                      / 1000;
      break;
    case fault_kind::cut_link:
    case fault_kind::reset: pick_link(); break;
    case fault_kind::overload: return std::nullopt;  // never drawn (the parser refuses it)
  }
  if (s.end_ms > until || (s.restart && s.end_ms > sc.duration_ms))
    return std::nullopt;
  return s;
}

} // namespace

// --- public ------------------------------------------------------------------------------

const std::vector<fault_kind>& all_fault_kinds() {
  static const std::vector<fault_kind> xs = {
    fault_kind::kill_node, fault_kind::pause_node, fault_kind::partition,
    fault_kind::cut_link,  fault_kind::latency,    fault_kind::jitter,
    fault_kind::loss,      fault_kind::reset,      fault_kind::kill_service,
    fault_kind::overload};
  return xs;
}

const char* to_string(fault_kind x) {
  switch (x) {
    case fault_kind::kill_node: return "kill_node";
    case fault_kind::pause_node: return "pause_node";
    case fault_kind::partition: return "partition";
    case fault_kind::cut_link: return "cut_link";
    case fault_kind::latency: return "latency";
    case fault_kind::jitter: return "jitter";
    case fault_kind::loss: return "loss";
    case fault_kind::reset: return "reset";
    case fault_kind::kill_service: return "kill_service";
    case fault_kind::overload: return "overload";
  }
  return "?";
}

std::optional<fault_kind> fault_kind_from(std::string_view name) {
  for (auto k : all_fault_kinds())
    if (name == to_string(k))
      return k;
  return std::nullopt;
}

bool is_link_fault(fault_kind x) {
  switch (x) {
    case fault_kind::partition:
    case fault_kind::cut_link:
    case fault_kind::latency:
    case fault_kind::jitter:
    case fault_kind::loss:
    case fault_kind::reset: return true;
    default: return false;
  }
}

bool is_instant(fault_kind x) {
  return x == fault_kind::kill_node || x == fault_kind::reset || x == fault_kind::kill_service;
}

std::vector<std::string> chaos_scenario::node_names() const {
  std::vector<std::string> out;
  for (uint32_t i = 1; i <= cluster.nodes; ++i)
    out.push_back(fmt::format("n{}", i));
  return out;
}

caf::expected<chaos_scenario> parse_chaos_scenario(std::string_view toml_text,
                                                   const std::string& source_name) {
  return parse_impl(toml_text, source_name, nullptr);
}

caf::expected<chaos_scenario> load_chaos_scenario(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return make_error(errc::bad_config,
                      fmt::format("{}: cannot read: {}", path, std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  int tree_line = 0;
  auto sc = parse_impl(text.str(), path, &tree_line);
  if (sc && !sc->cluster.tree.empty()) {
    std::ifstream tree{sc->cluster.tree};
    if (!tree)
      return make_error(errc::bad_config,
                        fmt::format("{}:{}: cluster.tree: cannot read {}: {}", path, tree_line,
                                    sc->cluster.tree, std::strerror(errno)));
  }
  return sc;
}

std::string scheduled_fault::target_text() const {
  switch (kind) {
    case fault_kind::partition: {
      std::vector<std::string> gs;
      for (auto& g : groups)
        gs.push_back(join(g, ","));
      return join(gs, " | ");
    }
    case fault_kind::kill_service: return fmt::format("{}:{}", nodes.at(0), service);
    case fault_kind::overload: return fmt::format("{} at {:g}/s", service, rate_per_s);
    case fault_kind::kill_node:
    case fault_kind::pause_node: return nodes.at(0);
    default: return fmt::format("{}<->{}", nodes.at(0), nodes.at(1));
  }
}

fault to_report_fault(const scheduled_fault& f) {
  fault out;
  out.name = to_string(f.kind);
  out.target = f.target_text();
  out.start_ms = static_cast<double>(f.start_ms);
  out.end_ms = static_cast<double>(is_instant(f.kind) && !f.restart ? f.start_ms : f.end_ms);
  return out;
}

int64_t portable_rng::uniform_int(int64_t lo, int64_t hi) {
  auto span = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
  if (span == std::numeric_limits<uint64_t>::max())
    return static_cast<int64_t>(gen_());
  auto n = span + 1;
  // Reject the top partial block so every value is equally likely.
  auto limit = std::numeric_limits<uint64_t>::max() - std::numeric_limits<uint64_t>::max() % n;
  uint64_t x = 0;
  do
    x = gen_();
  while (x >= limit);
  return static_cast<int64_t>(static_cast<uint64_t>(lo) + x % n);
}

double portable_rng::uniform_real(double lo, double hi) {
  auto u = static_cast<double>(gen_() >> 11) * 0x1.0p-53;  // [0, 1)
  return lo + (hi - lo) * u;
}

std::vector<scheduled_fault> expand_faults(const chaos_scenario& sc, uint64_t seed) {
  std::vector<scheduled_fault> out;
  for (auto& f : sc.faults)
    out.push_back(schedule_of(f, sc));
  if (sc.gremlin && !sc.gremlin->kinds.empty() && sc.cluster.nodes > 0) {
    auto& g = *sc.gremlin;
    auto until = g.until_ms.value_or(sc.duration_ms);
    portable_rng rng{seed};
    for (auto t = g.from_ms + rng.uniform_int(g.every_ms.lo, g.every_ms.hi); t < until;
         t += rng.uniform_int(g.every_ms.lo, g.every_ms.hi)) {
      for (int attempt = 0; attempt < gremlin_attempts; ++attempt) {
        auto k = g.kinds[rng.index(g.kinds.size())];
        if ((k == fault_kind::partition || !is_node_fault(k)) && k != fault_kind::kill_service
            && sc.cluster.nodes < 2)
          continue;  // links and partitions need two nodes
        auto s = draw_fault(k, t, until, sc, g, rng);
        if (!s || overlap_with(*s, out) != nullptr
            || max_down_with(*s, out, gremlin_rejoin_ms) > max_down(sc.cluster.nodes))
          continue;
        out.push_back(std::move(*s));
        break;
      }
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const scheduled_fault& a, const scheduled_fault& b) {
    return a.start_ms < b.start_ms;
  });
  return out;
}

} // namespace warden::chaos
