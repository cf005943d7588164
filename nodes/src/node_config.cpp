#include "warden/node_config.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "warden/detail/text.hpp"
#include <toml++/toml.h>

#include "warden/errors.hpp"
#include "warden/exit_reasons.hpp"
#include "warden/log_level.hpp"

namespace warden {

// --- endpoints ---------------------------------------------------------------------------

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return s;
}

/// Decimal digits only: no sign, no spaces, no "0x" (from_chars alone would accept "-").
template <class T>
std::optional<T> parse_decimal(std::string_view s) {
  if (s.empty() || !std::all_of(s.begin(), s.end(),
                                [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  T out{};
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec != std::errc{} || ptr != s.data() + s.size())
    return std::nullopt;
  return out;
}

} // namespace

std::optional<endpoint> endpoint::parse(std::string_view text) {
  text = trim(text);
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos)
    return std::nullopt;
  auto host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  else if (host.find(':') != std::string_view::npos)
    return std::nullopt;  // an IPv6 host needs brackets
  auto port = parse_decimal<uint32_t>(text.substr(colon + 1));
  if (host.empty() || !port || *port == 0 || *port > 65535)
    return std::nullopt;
  return endpoint{std::string{host}, static_cast<uint16_t>(*port)};
}

std::string endpoint::to_string() const {
  if (host.find(':') != std::string::npos)
    return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

std::optional<route> route::parse(std::string_view text) {
  auto eq = text.find('=');
  if (eq == std::string_view::npos)
    return std::nullopt;
  auto to = endpoint::parse(text.substr(0, eq));
  auto via = endpoint::parse(text.substr(eq + 1));
  if (!to || !via)
    return std::nullopt;
  return route{*to, *via};
}

std::string route::to_string() const {
  return to.to_string() + "=" + via.to_string();
}

std::string node_settings::effective_name(uint16_t bound_port) const {
  return name.empty() ? endpoint{host, bound_port}.to_string() : name;
}

endpoint node_settings::effective_advertise(uint16_t bound_port) const {
  return advertise ? *advertise : endpoint{host, bound_port};
}

phi_settings failure_detector_settings::phi() const {
  return phi_settings{.threshold = threshold,
                      .max_samples = history_size,
                      .min_std_deviation = min_std_deviation,
                      .acceptable_pause = acceptable_pause,
                      .first_heartbeat_estimate = first_heartbeat_estimate};
}

// --- value codecs ------------------------------------------------------------------------

namespace {

/// What is wrong with a value ("expected ..."), without where it came from.
using problem = std::optional<std::string>;

constexpr int64_t no_max = std::numeric_limits<int64_t>::max();

/// Per-setting constraints on top of the type.
struct limits {
  int64_t min = 0;
  int64_t max = no_max;
  std::vector<std::string> choices;  // strings: allowed values; empty = any
  bool path = false;                 // strings: a file or directory (docs only)
  bool secret = false;               // redacted by print_config
};

/// A TOML basic string.
std::string toml_quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
          out += fmt::format("\\u{:04X}", static_cast<unsigned>(c));
        else
          out += c;
    }
  }
  return out + "\"";
}

using detail::join;

/// Splits env / flag list text at commas; blanks are dropped, so "" is the empty list.
std::vector<std::string_view> split_list(std::string_view text) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  for (;;) {
    auto comma = text.find(',', pos);
    auto item = trim(text.substr(pos, comma == std::string_view::npos ? comma : comma - pos));
    if (!item.empty())
      out.push_back(item);
    if (comma == std::string_view::npos)
      return out;
    pos = comma + 1;
  }
}

template <class T>
struct codec;

template <>
struct codec<std::string> {
  static std::string type(const limits& l) {
    if (!l.choices.empty())
      return "one of " + join(l.choices, ", ");
    return l.path ? "string (path)" : "string";
  }
  static problem check(const std::string& v, const limits& l) {
    if (!l.choices.empty() && std::find(l.choices.begin(), l.choices.end(), v) == l.choices.end())
      return "expected one of: " + join(l.choices, ", ");
    return std::nullopt;
  }
  static problem from_toml(const toml::node& n, std::string& out, const limits& l) {
    if (!n.is_string())
      return l.choices.empty() ? "expected a string" : *check({}, l);
    auto v = n.as_string()->get();
    if (auto p = check(v, l))
      return p;
    out = std::move(v);
    return std::nullopt;
  }
  static problem from_text(std::string_view text, std::string& out, const limits& l, bool) {
    std::string v{text};  // taken as is: a secret may have spaces
    if (auto p = check(v, l))
      return p;
    out = std::move(v);
    return std::nullopt;
  }
  static std::string to_toml(const std::string& v) {
    return toml_quoted(v);
  }
};

template <>
struct codec<bool> {
  static std::string type(const limits&) {
    return "boolean";
  }
  static problem from_toml(const toml::node& n, bool& out, const limits&) {
    if (!n.is_boolean())
      return "expected true or false";
    out = n.as_boolean()->get();
    return std::nullopt;
  }
  static problem from_text(std::string_view text, bool& out, const limits&, bool) {
    std::string v{trim(text)};
    std::transform(v.begin(), v.end(), v.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (v == "true" || v == "1" || v == "yes" || v == "on")
      out = true;
    else if (v == "false" || v == "0" || v == "no" || v == "off")
      out = false;
    else
      return "expected true or false";
    return std::nullopt;
  }
  static std::string to_toml(bool v) {
    return v ? "true" : "false";
  }
};

/// Integers (and milliseconds, stored as their count).
template <class T, bool Millis>
struct integer_codec {
  static std::string range(const limits& l) {
    return l.max == no_max ? fmt::format(">= {}", l.min) : fmt::format("{}..{}", l.min, l.max);
  }
  static std::string type(const limits& l) {
    return fmt::format("integer {}{}", range(l), Millis ? " (milliseconds)" : "");
  }
  static std::string expected(const limits& l) {
    return fmt::format("expected an integer {}{}", range(l), Millis ? " (milliseconds)" : "");
  }
  static void store(T& out, int64_t v) {
    if constexpr (Millis)
      out = milliseconds{v};
    else
      out = static_cast<T>(v);
  }
  static problem from_toml(const toml::node& n, T& out, const limits& l) {
    if (!n.is_integer())
      return expected(l);
    auto v = n.as_integer()->get();
    if (v < l.min || v > l.max)
      return expected(l);
    store(out, v);
    return std::nullopt;
  }
  static problem from_text(std::string_view text, T& out, const limits& l, bool) {
    auto v = parse_decimal<int64_t>(trim(text));
    if (!v || *v < l.min || *v > l.max)
      return expected(l);
    store(out, *v);
    return std::nullopt;
  }
  static std::string to_toml(const T& v) {
    if constexpr (Millis)
      return std::to_string(v.count());
    else
      return std::to_string(v);
  }
};

template <>
struct codec<uint16_t> : integer_codec<uint16_t, false> {};
template <>
struct codec<uint32_t> : integer_codec<uint32_t, false> {};
template <>
struct codec<milliseconds> : integer_codec<milliseconds, true> {};

/// Positive finite numbers (the phi threshold).
template <>
struct codec<double> {
  static std::string type(const limits&) {
    return "number > 0";
  }
  static problem check(double v, double& out) {
    if (!std::isfinite(v) || v <= 0)
      return "expected a number > 0";
    out = v;
    return std::nullopt;
  }
  static problem from_toml(const toml::node& n, double& out, const limits&) {
    if (n.is_floating_point())
      return check(n.as_floating_point()->get(), out);
    if (n.is_integer())
      return check(static_cast<double>(n.as_integer()->get()), out);
    return "expected a number > 0";
  }
  static problem from_text(std::string_view text, double& out, const limits&, bool) {
    text = trim(text);
    double v = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc{} || ptr != text.data() + text.size())
      return "expected a number > 0";
    return check(v, out);
  }
  static std::string to_toml(double v) {
    auto s = fmt::format("{}", v);  // shortest text that reads back as the same double
    if (s.find_first_of(".en") == std::string::npos)
      s += ".0";  // "8" would read back as an integer
    return s;
  }
};

/// Parsing of the element types of lists (and of node.advertise).
template <class T>
struct element;

template <>
struct element<endpoint> {
  static constexpr const char* syntax = "host:port";
  static std::optional<endpoint> parse(std::string_view s) {
    return endpoint::parse(s);
  }
};

template <>
struct element<route> {
  static constexpr const char* syntax = "host:port=host:port";
  static std::optional<route> parse(std::string_view s) {
    return route::parse(s);
  }
};

template <class T>
problem bad_element(std::string_view text) {
  return fmt::format("expected \"{}\" with ports 1..65535, got {}", element<T>::syntax,
                     toml_quoted(text));
}

template <class T>
struct codec<std::vector<T>> {
  static std::string type(const limits&) {
    return fmt::format("list of \"{}\"", element<T>::syntax);
  }
  static problem from_toml(const toml::node& n, std::vector<T>& out, const limits&) {
    auto* arr = n.as_array();
    if (arr == nullptr)
      return fmt::format("expected an array of \"{}\" strings", element<T>::syntax);
    std::vector<T> xs;
    for (auto& item : *arr) {
      if (!item.is_string())
        return fmt::format("expected an array of \"{}\" strings", element<T>::syntax);
      auto x = element<T>::parse(item.as_string()->get());
      if (!x)
        return bad_element<T>(item.as_string()->get());
      xs.push_back(std::move(*x));
    }
    out = std::move(xs);
    return std::nullopt;
  }
  /// Comma-separated; `append` adds to the list (repeated flags) instead of replacing it.
  static problem from_text(std::string_view text, std::vector<T>& out, const limits&,
                           bool append) {
    std::vector<T> xs = append ? out : std::vector<T>{};
    for (auto item : split_list(text)) {
      auto x = element<T>::parse(item);
      if (!x)
        return bad_element<T>(item);
      xs.push_back(std::move(*x));
    }
    out = std::move(xs);
    return std::nullopt;
  }
  static std::string to_toml(const std::vector<T>& xs) {
    std::vector<std::string> items;
    for (auto& x : xs)
      items.push_back(toml_quoted(x.to_string()));
    return "[" + join(items, ", ") + "]";
  }
};

/// node.advertise: "" = none.
template <>
struct codec<std::optional<endpoint>> {
  static std::string type(const limits&) {
    return "\"host:port\" or empty";
  }
  static problem from_text(std::string_view text, std::optional<endpoint>& out, const limits&,
                           bool) {
    if (trim(text).empty()) {
      out.reset();
      return std::nullopt;
    }
    auto x = endpoint::parse(text);
    if (!x)
      return fmt::format("expected \"host:port\" with a port 1..65535, got {}", toml_quoted(text));
    out = std::move(x);
    return std::nullopt;
  }
  static problem from_toml(const toml::node& n, std::optional<endpoint>& out, const limits& l) {
    if (!n.is_string())
      return "expected a \"host:port\" string (or \"\")";
    return from_text(n.as_string()->get(), out, l, false);
  }
  static std::string to_toml(const std::optional<endpoint>& v) {
    return toml_quoted(v ? v->to_string() : "");
  }
};

// --- the settings table ------------------------------------------------------------------

/// One setting. Everything about it (file, env, flags, docs, printing) comes from here.
struct setting_def {
  std::string key;      // "node.port"
  std::string section;  // "node"
  std::string name;     // "port"
  std::string env;      // "WARDEN_NODE_PORT"
  std::string flag;     // "--port" or ""
  std::string doc;
  std::string type;
  bool is_list = false;
  bool is_bool = false;
  bool secret = false;
  std::function<problem(node_config&, const toml::node&)> from_toml;
  std::function<problem(node_config&, std::string_view, bool append)> from_text;
  std::function<std::string(const node_config&)> to_toml;
};

template <class T>
constexpr bool is_vector = false;
template <class T>
constexpr bool is_vector<std::vector<T>> = true;

template <class S, class T>
setting_def def(std::string key, std::string flag, std::string doc, S node_config::*section,
                T S::*member, limits l = {}) {
  setting_def d;
  auto dot = key.find('.');
  d.section = key.substr(0, dot);
  d.name = key.substr(dot + 1);
  d.env = "WARDEN_" + key;
  for (auto& c : d.env)
    c = c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  d.key = std::move(key);
  d.flag = std::move(flag);
  d.doc = std::move(doc);
  d.type = codec<T>::type(l);
  d.is_list = is_vector<T>;
  d.is_bool = std::is_same_v<T, bool>;
  d.secret = l.secret;
  d.from_toml = [section, member, l](node_config& c, const toml::node& n) {
    return codec<T>::from_toml(n, (c.*section).*member, l);
  };
  d.from_text = [section, member, l](node_config& c, std::string_view text, bool append) {
    return codec<T>::from_text(text, (c.*section).*member, l, append);
  };
  d.to_toml = [section, member](const node_config& c) {
    return codec<T>::to_toml((c.*section).*member);
  };
  return d;
}

const std::vector<setting_def>& settings() {
  using nc = node_config;
  using ns = node_settings;
  using cs = cluster_settings;
  using fs = failure_detector_settings;
  using hs = http_settings;
  using ts = tls_settings;
  using ls = log_settings;
  auto port = limits{.min = 0, .max = 65535};
  auto positive = limits{.min = 1};
  auto path = limits{.path = true};
  static const std::vector<setting_def> table = {
    def("node.name", "--name", "Node name; empty = \"<host>:<port>\" once the port is bound",
        &nc::node, &ns::name),
    def("node.host", "--host", "Address the node port binds to", &nc::node, &ns::host),
    def("node.port", "--port", "Node (CAF BASP) port; 0 = any free port", &nc::node, &ns::port,
        port),
    def("node.advertise", "--advertise", "\"host:port\" peers use to reach us; empty = host:port",
        &nc::node, &ns::advertise),
    def("node.tree", "--tree", "Tree file to run; empty = no tree (an empty root supervisor)",
        &nc::node, &ns::tree, path),
    def("node.scheduler_threads", "", "CAF scheduler threads; 0 = number of cores", &nc::node,
        &ns::scheduler_threads, limits{.min = 0, .max = 1024}),
    def("cluster.name", "--cluster", "Cluster name; nodes with another name are refused",
        &nc::cluster, &cs::name),
    def("cluster.secret", "--secret",
        "Shared secret; required unless cluster.secret_file is set", &nc::cluster, &cs::secret,
        limits{.secret = true}),
    def("cluster.secret_file", "--secret-file",
        "File holding the secret (trailing newline stripped)", &nc::cluster, &cs::secret_file,
        path),
    def("cluster.seeds", "--seed", "Nodes to contact at start", &nc::cluster, &cs::seeds),
    def("cluster.connect_via", "--connect-via", "\"X=Y\": to reach X dial Y instead (proxies)",
        &nc::cluster, &cs::connect_via),
    def("cluster.handshake_timeout_ms", "", "Time a join handshake may take", &nc::cluster,
        &cs::handshake_timeout, positive),
    def("cluster.call_timeout_ms", "", "Default timeout of remote calls by name", &nc::cluster,
        &cs::call_timeout, positive),
    def("cluster.reconnect_min_ms", "", "Shortest delay before redialling a lost peer",
        &nc::cluster, &cs::reconnect_min, positive),
    def("cluster.reconnect_max_ms", "", "Longest delay between redials of a lost peer",
        &nc::cluster, &cs::reconnect_max, positive),
    def("cluster.stable_after_ms", "",
        "Split-brain resolver: the view must be stable this long before unreachable members "
        "are downed",
        &nc::cluster, &cs::stable_after, positive),
    def("cluster.down_removal_ms", "", "Down this long -> removed (forgotten)", &nc::cluster,
        &cs::down_removal),
    def("cluster.max_frame_bytes", "", "Largest BASP frame accepted from a peer (bytes)",
        &nc::cluster, &cs::max_frame_bytes, limits{.min = 1024, .max = 0xffffffff}),
    def("cluster.call_transport", "",
        "Calls by name over Warden's own connections (off: over CAF's middleman)",
        &nc::cluster, &cs::call_transport),
    def("cluster.call_port", "--call-port", "Port of the call transport; 0 = any free port",
        &nc::cluster, &cs::call_port, port),
    def("cluster.client", "",
        "Join as a client member: calls by name, never counts for majorities or placement",
        &nc::cluster, &cs::client),
    def("failure_detector.heartbeat_interval_ms", "", "Interval of node heartbeats",
        &nc::failure_detector, &fs::heartbeat_interval, positive),
    def("failure_detector.acceptable_pause_ms", "",
        "Heartbeat delay tolerated on top of the mean interval", &nc::failure_detector,
        &fs::acceptable_pause),
    def("failure_detector.threshold", "", "phi at or above this = unreachable",
        &nc::failure_detector, &fs::threshold),
    def("failure_detector.min_std_deviation_ms", "",
        "Floor of the heartbeat intervals' standard deviation", &nc::failure_detector,
        &fs::min_std_deviation, positive),
    def("failure_detector.history_size", "", "Heartbeat intervals kept for the statistics",
        &nc::failure_detector, &fs::history_size, limits{.min = 1, .max = 100000}),
    def("failure_detector.first_heartbeat_estimate_ms", "",
        "Assumed heartbeat interval before any was measured", &nc::failure_detector,
        &fs::first_heartbeat_estimate, positive),
    def("failure_detector.transport_heartbeat_ms", "", "CAF middleman.heartbeat-interval",
        &nc::failure_detector, &fs::transport_heartbeat),
    def("failure_detector.transport_timeout_ms", "", "CAF middleman.connection-timeout",
        &nc::failure_detector, &fs::transport_timeout),
    def("http.enabled", "", "Serve the node's HTTP endpoint", &nc::http, &hs::enabled),
    def("http.host", "--http-host", "Address the HTTP endpoint binds to", &nc::http, &hs::host),
    def("http.port", "--http-port", "HTTP port; 0 = any free port", &nc::http, &hs::port, port),
    def("http.allow_mutations", "", "State-changing HTTP routes are off unless true", &nc::http,
        &hs::allow_mutations),
    def("tls.enabled", "--tls", "Use TLS; needs certificate, key, and cafile or capath",
        &nc::tls, &ts::enabled),
    def("tls.certificate", "", "PEM certificate file", &nc::tls, &ts::certificate, path),
    def("tls.key", "", "PEM private key file", &nc::tls, &ts::key, path),
    def("tls.passphrase", "", "Passphrase of the private key", &nc::tls, &ts::passphrase,
        limits{.secret = true}),
    def("tls.cafile", "", "CA certificates file to verify peers", &nc::tls, &ts::cafile, path),
    def("tls.capath", "", "Directory of CA certificates to verify peers", &nc::tls, &ts::capath,
        path),
    def("log.json", "--json", "Log JSON lines instead of text", &nc::log, &ls::json),
    def("log.file", "--log-file", "Log file; empty = standard output", &nc::log, &ls::file, path),
    def("log.level", "", "Events below this level are not logged; off = none", &nc::log,
        &ls::level,
        limits{.choices = std::vector<std::string>(log_level_names.begin(),
                                                   log_level_names.end())}),
  };
  return table;
}

/// Settings that no longer exist, with what replaced them: named errors rather than
/// "unknown setting" (also from env, where unknown WARDEN_* variables are ignored).
struct retired_setting {
  std::string key;
  std::string env;
  std::string message;
};

const std::vector<retired_setting>& retired_settings() {
  static const std::vector<retired_setting> table = {
    {"cluster.unreachable_down_ms", "WARDEN_CLUSTER_UNREACHABLE_DOWN_MS",
     "cluster.unreachable_down_ms was replaced by cluster.stable_after_ms (the split-brain "
     "resolver, docs/cluster-services.md)"},
  };
  return table;
}

const retired_setting* find_retired(std::string_view key) {
  for (auto& r : retired_settings())
    if (r.key == key)
      return &r;
  return nullptr;
}

const setting_def* find_setting(std::string_view key) {
  for (auto& d : settings())
    if (d.key == key)
      return &d;
  return nullptr;
}

bool is_section(std::string_view name) {
  return std::any_of(settings().begin(), settings().end(),
                     [&](const setting_def& d) { return d.section == name; });
}

// --- errors ------------------------------------------------------------------------------

template <class... Ts>
caf::error fail(fmt::format_string<Ts...> text, Ts&&... xs) {
  return make_error(errc::invalid_config, fmt::format(text, std::forward<Ts>(xs)...));
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

/// " (did you mean 'node.port'?)" for a close key, or a key whose name matches a
/// section-less one ("port" -> "node.port"); "" when nothing is close.
std::string suggestion(std::string_view unknown) {
  const setting_def* best = nullptr;
  size_t best_distance = std::numeric_limits<size_t>::max();
  for (auto& d : settings()) {
    auto dist = edit_distance(unknown, d.key);
    if (unknown.find('.') == std::string_view::npos)
      dist = std::min(dist, edit_distance(unknown, d.name));
    if (dist < best_distance) {
      best = &d;
      best_distance = dist;
    }
  }
  if (best == nullptr || best_distance > std::max<size_t>(2, unknown.size() / 4))
    return {};
  return fmt::format(" (did you mean '{}'?)", best->key);
}

std::string section_suggestion(std::string_view unknown) {
  std::string best;
  size_t best_distance = std::numeric_limits<size_t>::max();
  for (auto& d : settings()) {
    auto dist = edit_distance(unknown, d.section);
    if (dist < best_distance) {
      best = d.section;
      best_distance = dist;
    }
  }
  if (best_distance > std::max<size_t>(2, unknown.size() / 4))
    return {};
  return fmt::format(" (did you mean '[{}]'?)", best);
}

/// "--port x" or "--set node.port=x": how the user wrote an override.
std::string spelled(const setting_override& o) {
  if (o.flag == "--set")
    return fmt::format("--set {}={}", o.key, o.value);
  return fmt::format("{} {}", o.flag, o.value);
}

caf::expected<std::string> read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return fail("{}: cannot read: {}", path, std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad())
    return fail("{}: cannot read: {}", path, std::strerror(errno));
  return text.str();
}

// --- loading -----------------------------------------------------------------------------

caf::error apply_file(loaded_config& out, const std::string& path) {
  auto text = read_file(path);
  if (!text)
    return std::move(text.error());
  toml::table doc;
  try {
    doc = toml::parse(*text, path);
  } catch (const toml::parse_error& e) {
    return fail("{}:{}: syntax: {}", path, e.source().begin.line, e.description());
  }
  auto line_of = [](const toml::key& k, const toml::node& n) {
    return k.source().begin.line != 0 ? k.source().begin.line : n.source().begin.line;
  };
  for (auto&& [section_key, section_node] : doc) {
    std::string section{section_key.str()};
    auto* table = section_node.as_table();
    if (table == nullptr)  // a key outside any [section]
      return fail("{}:{}: unknown setting '{}'{}", path, line_of(section_key, section_node),
                  section, suggestion(section));
    if (table->empty() && !is_section(section))
      return fail("{}:{}: unknown section '[{}]'{}", path, line_of(section_key, section_node),
                  section, section_suggestion(section));
    for (auto&& [name_key, value] : *table) {
      auto key = section + "." + std::string{name_key.str()};
      auto line = line_of(name_key, value);
      auto* d = find_setting(key);
      if (auto* r = d == nullptr ? find_retired(key) : nullptr)
        return fail("{}:{}: {}", path, line, r->message);
      if (d == nullptr)
        return fail("{}:{}: unknown setting '{}'{}", path, line, key, suggestion(key));
      if (auto p = d->from_toml(out.config, value))
        return fail("{}:{}: {}: {}", path, value.source().begin.line, key, *p);
      out.origin[key] = "file " + path;
    }
  }
  return {};
}

caf::error apply_env(loaded_config& out, const config_sources& src) {
  for (auto& r : retired_settings())
    if (src.env(r.env))
      return fail("env {}: {}", r.env, r.message);
  for (auto& d : settings()) {
    auto value = src.env(d.env);
    if (!value)
      continue;
    if (auto p = d.from_text(out.config, *value, false)) {
      // List problems name the bad item already; scalars show the value.
      if (d.is_list)
        return fail("env {}: {}", d.env, *p);
      return fail("env {}: {}, got {}", d.env, *p, toml_quoted(d.secret ? "<redacted>" : *value));
    }
    out.origin[d.key] = "env " + d.env;
  }
  return {};
}

caf::error apply_overrides(loaded_config& out, const config_sources& src) {
  std::set<std::string> lists_set;  // list keys a flag already set: later flags append
  for (auto& o : src.overrides) {
    auto* d = find_setting(o.key);
    if (auto* r = d == nullptr ? find_retired(o.key) : nullptr)
      return fail("{}: {}", spelled(o), r->message);
    if (d == nullptr)
      return fail("{}: unknown setting '{}'{}", spelled(o), o.key, suggestion(o.key));
    auto append = d->is_list && lists_set.count(d->key) > 0;
    if (auto p = d->from_text(out.config, o.value, append))
      return fail("{}: {}", spelled(o), *p);
    if (d->is_list)
      lists_set.insert(d->key);
    out.origin[d->key] = "flag " + o.flag;
  }
  return {};
}

/// Reads the secret file and checks the rules that span settings.
caf::error resolve(loaded_config& out) {
  auto& c = out.config;
  if (!c.cluster.secret_file.empty()) {
    if (!c.cluster.secret.empty())
      return fail("cluster.secret ({}) and cluster.secret_file ({}) are both set; set only one "
                  "(an empty value clears one, e.g. --set cluster.secret_file=)",
                  out.origin["cluster.secret"], out.origin["cluster.secret_file"]);
    auto text = read_file(c.cluster.secret_file);
    if (!text)
      return fail("cluster.secret_file {}", node_config_error_text(text.error()));
    auto secret = std::move(*text);
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r'))
      secret.pop_back();
    if (secret.empty())
      return fail("cluster.secret_file {}: the file holds no secret (it is empty)",
                  c.cluster.secret_file);
    c.cluster.secret = std::move(secret);
    out.origin["cluster.secret"] = "cluster.secret_file (" + out.origin["cluster.secret_file"] + ")";
  }
  if (c.cluster.secret.empty())
    return fail("cluster.secret is required: set cluster.secret (env WARDEN_CLUSTER_SECRET, "
                "--secret) or cluster.secret_file (env WARDEN_CLUSTER_SECRET_FILE, "
                "--secret-file)");
  if (c.tls.enabled) {
    std::vector<std::string> missing;
    if (c.tls.certificate.empty())
      missing.emplace_back("tls.certificate");
    if (c.tls.key.empty())
      missing.emplace_back("tls.key");
    if (c.tls.cafile.empty() && c.tls.capath.empty())
      missing.emplace_back("tls.cafile or tls.capath");
    if (!missing.empty())
      return fail("tls.enabled ({}) needs tls.certificate, tls.key, and tls.cafile or "
                  "tls.capath; missing: {}",
                  out.origin["tls.enabled"], join(missing, ", "));
  }
  if (c.cluster.reconnect_min > c.cluster.reconnect_max)
    return fail("cluster.reconnect_min_ms ({}) must not exceed cluster.reconnect_max_ms ({})",
                c.cluster.reconnect_min.count(), c.cluster.reconnect_max.count());
  return {};
}

} // namespace

caf::expected<loaded_config> load_node_config(const config_sources& sources) {
  loaded_config out;
  for (auto& d : settings())
    out.origin[d.key] = "default";
  if (!sources.file.empty())
    if (auto err = apply_file(out, sources.file))
      return err;
  if (sources.env)
    if (auto err = apply_env(out, sources))
      return err;
  if (auto err = apply_overrides(out, sources))
    return err;
  if (auto err = resolve(out))
    return err;
  return out;
}

std::string node_config_error_text(const caf::error& err) {
  if (is(err, errc::invalid_config) && err.context().match_elements<std::string>())
    return err.context().get_as<std::string>(0);
  return describe(err);
}

// --- printing ----------------------------------------------------------------------------

std::string print_config(const loaded_config& cfg, const print_options& opts) {
  constexpr std::string_view redacted = "<redacted>";
  auto origin_of = [&](const std::string& key) {
    auto i = cfg.origin.find(key);
    return i == cfg.origin.end() ? std::string{"default"} : i->second;
  };
  std::string out = "# warden node settings: the effective values (flag > env > file > "
                    "default).\n# Valid as a --config file; each value's comment says where "
                    "it came from.\n";
  std::string section;
  for (auto& d : settings()) {
    if (d.section != section) {
      section = d.section;
      out += fmt::format("\n[{}]\n", section);
    }
    auto origin = origin_of(d.key);
    auto value = d.to_toml(cfg.config);
    std::string_view prefix;
    if (d.secret && !opts.show_secrets && value != "\"\"")
      value = toml_quoted(redacted);
    if (d.key == "cluster.secret" && origin.starts_with("cluster.secret_file")) {
      // Commented out: fed back, the file is read again (and secret + file would clash).
      prefix = "# ";
      origin = "read from " + origin;
    }
    out += fmt::format("# {}\n{}{} = {}  # {}\n", d.doc, prefix, d.name, value, origin);
  }
  return out;
}

// --- flags -------------------------------------------------------------------------------

namespace {

/// The value's name in --help: "--port N", "--tree PATH", "--seed HOST:PORT".
std::string flag_value_name(const setting_def& d) {
  if (d.key == "cluster.connect_via")
    return "HOST:PORT=HOST:PORT";
  if (d.is_list || d.key == "node.advertise")
    return "HOST:PORT";
  if (d.type.starts_with("integer"))
    return "N";
  if (d.type == "string (path)")
    return "PATH";
  return "TEXT";
}

} // namespace

void add_node_flags(CLI::App& cmd, node_flags& out) {
  cmd.add_option("--config", out.config_file, "TOML settings file (docs/node-config.md)")
    ->type_name("PATH");
  cmd.add_flag("--print-config", out.print_config,
               "Print the effective settings as TOML, with where each came from, and exit");
  for (auto& d : settings()) {
    if (d.flag.empty())
      continue;
    auto help = fmt::format("{} ({}, env {}){}", d.doc, d.key, d.env,
                            d.is_list ? "; repeatable, or comma-separated" : "");
    auto key = d.key;
    auto flag = d.flag;
    // trigger_on_parse: collected as parsed, so the command-line order is kept.
    if (d.is_bool)
      cmd.add_flag_callback(
           flag, [&out, key, flag] { out.overrides.push_back({key, "true", flag}); }, help)
        ->trigger_on_parse();
    else
      cmd.add_option_function<std::string>(
           flag,
           [&out, key, flag](const std::string& v) { out.overrides.push_back({key, v, flag}); },
           help)
        ->type_name(flag_value_name(d))
        ->trigger_on_parse();
  }
  cmd.add_option_function<std::string>(
       "--set",
       [&out](const std::string& kv) {
         auto eq = kv.find('=');
         out.overrides.push_back({kv.substr(0, eq), kv.substr(eq + 1), "--set"});
       },
       "Set any setting: --set KEY=VALUE, e.g. --set cluster.call_timeout_ms=2000 "
       "(repeatable)")
    ->type_name("KEY=VALUE")
    ->check(
      [](const std::string& kv) -> std::string {
        return kv.find('=') == std::string::npos || kv.front() == '='
                 ? "expected KEY=VALUE, e.g. node.port=7100"
                 : "";
      })
    ->trigger_on_parse();
}

config_sources to_sources(const node_flags& flags) {
  config_sources out;
  out.file = flags.config_file;
  out.env = [](const std::string& name) -> std::optional<std::string> {
    if (auto* v = std::getenv(name.c_str()))
      return std::string{v};
    return std::nullopt;
  };
  out.overrides = flags.overrides;
  return out;
}

std::vector<setting_doc> node_setting_docs() {
  node_config defaults;
  std::vector<setting_doc> out;
  for (auto& d : settings())
    out.push_back({d.key, d.env, d.flag, d.type, d.to_toml(defaults), d.doc});
  return out;
}

} // namespace warden
