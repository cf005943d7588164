// Node settings: defaults, precedence (file < env < flags), every error class, print-config.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <CLI/CLI.hpp>

#include "warden/errors.hpp"
#include "warden/node_config.hpp"

using namespace warden;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

/// A fresh directory, removed with everything in it when the test ends.
class temp_dir {
public:
  temp_dir() {
    auto pattern = (fs::temp_directory_path() / "warden-cfg-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr)
      throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  /// Writes `text` to `name` in the directory; returns its path.
  std::string write(const std::string& name, const std::string& text) const {
    auto p = (path_ / name).string();
    std::ofstream out{p, std::ios::binary};
    out << text;
    return p;
  }
  std::string path(const std::string& name) const {
    return (path_ / name).string();
  }

private:
  fs::path path_;
};

using env_map = std::map<std::string, std::string>;

config_sources sources(std::string file = {}, env_map env = {},
                       std::vector<setting_override> overrides = {}) {
  config_sources s;
  s.file = std::move(file);
  s.env = [env = std::move(env)](const std::string& name) -> std::optional<std::string> {
    auto i = env.find(name);
    if (i == env.end())
      return std::nullopt;
    return i->second;
  };
  s.overrides = std::move(overrides);
  return s;
}

/// Every source needs a secret; tests that are not about it pass it as a flag.
setting_override secret_flag() {
  return {"cluster.secret", "s3cret", "--secret"};
}

loaded_config load_ok(const config_sources& s) {
  auto res = load_node_config(s);
  if (!res) {
    ADD_FAILURE() << node_config_error_text(res.error());
    return {};
  }
  return *res;
}

/// The error message of a load that must fail with invalid_config.
std::string load_error(const config_sources& s) {
  auto res = load_node_config(s);
  if (res) {
    ADD_FAILURE() << "loaded, but an error was expected";
    return {};
  }
  EXPECT_TRUE(is(res.error(), errc::invalid_config)) << node_config_error_text(res.error());
  return node_config_error_text(res.error());
}

} // namespace

// --- defaults and the settings table -----------------------------------------------------

TEST(node_config, defaults_are_the_documented_values) {
  node_config c;
  EXPECT_EQ(c.node.name, "");
  EXPECT_EQ(c.node.host, "127.0.0.1");
  EXPECT_EQ(c.node.port, 7100);
  EXPECT_FALSE(c.node.advertise);
  EXPECT_EQ(c.node.tree, "");
  EXPECT_EQ(c.node.scheduler_threads, 0u);
  EXPECT_EQ(c.cluster.name, "warden");
  EXPECT_EQ(c.cluster.secret, "");
  EXPECT_EQ(c.cluster.secret_file, "");
  EXPECT_TRUE(c.cluster.seeds.empty());
  EXPECT_TRUE(c.cluster.connect_via.empty());
  EXPECT_EQ(c.cluster.handshake_timeout, 2000ms);
  EXPECT_EQ(c.cluster.call_timeout, 5000ms);
  EXPECT_EQ(c.cluster.reconnect_min, 200ms);
  EXPECT_EQ(c.cluster.reconnect_max, 5000ms);
  EXPECT_EQ(c.cluster.stable_after, 1000ms);
  EXPECT_EQ(c.cluster.down_removal, 60000ms);
  EXPECT_EQ(c.failure_detector.heartbeat_interval, 200ms);
  EXPECT_EQ(c.failure_detector.acceptable_pause, 800ms);
  EXPECT_EQ(c.failure_detector.threshold, 8.0);
  EXPECT_EQ(c.failure_detector.min_std_deviation, 100ms);
  EXPECT_EQ(c.failure_detector.history_size, 100u);
  EXPECT_EQ(c.failure_detector.first_heartbeat_estimate, 500ms);
  EXPECT_EQ(c.failure_detector.transport_heartbeat, 1000ms);
  EXPECT_EQ(c.failure_detector.transport_timeout, 10000ms);
  EXPECT_TRUE(c.http.enabled);
  EXPECT_EQ(c.http.host, "127.0.0.1");
  EXPECT_EQ(c.http.port, 0);
  EXPECT_FALSE(c.http.allow_mutations);
  EXPECT_FALSE(c.tls.enabled);
  EXPECT_EQ(c.tls.certificate + c.tls.key + c.tls.passphrase + c.tls.cafile + c.tls.capath, "");
  EXPECT_FALSE(c.log.json);
  EXPECT_EQ(c.log.file, "");
  EXPECT_EQ(c.log.level, "info");
  // The detector's own defaults agree with the node's.
  auto phi = c.failure_detector.phi();
  phi_settings d;
  EXPECT_EQ(phi.threshold, d.threshold);
  EXPECT_EQ(phi.max_samples, d.max_samples);
  EXPECT_EQ(phi.min_std_deviation, d.min_std_deviation);
  EXPECT_EQ(phi.acceptable_pause, d.acceptable_pause);
  EXPECT_EQ(phi.first_heartbeat_estimate, d.first_heartbeat_estimate);
}

TEST(node_config, setting_docs_list_keys_envs_flags_and_defaults) {
  // key -> {env, flag, default as TOML}
  std::map<std::string, std::tuple<std::string, std::string, std::string>> expected = {
    {"node.name", {"WARDEN_NODE_NAME", "--name", "\"\""}},
    {"node.host", {"WARDEN_NODE_HOST", "--host", "\"127.0.0.1\""}},
    {"node.port", {"WARDEN_NODE_PORT", "--port", "7100"}},
    {"node.advertise", {"WARDEN_NODE_ADVERTISE", "--advertise", "\"\""}},
    {"node.tree", {"WARDEN_NODE_TREE", "--tree", "\"\""}},
    {"node.scheduler_threads", {"WARDEN_NODE_SCHEDULER_THREADS", "", "0"}},
    {"cluster.name", {"WARDEN_CLUSTER_NAME", "--cluster", "\"warden\""}},
    {"cluster.secret", {"WARDEN_CLUSTER_SECRET", "--secret", "\"\""}},
    {"cluster.secret_file", {"WARDEN_CLUSTER_SECRET_FILE", "--secret-file", "\"\""}},
    {"cluster.seeds", {"WARDEN_CLUSTER_SEEDS", "--seed", "[]"}},
    {"cluster.connect_via", {"WARDEN_CLUSTER_CONNECT_VIA", "--connect-via", "[]"}},
    {"cluster.handshake_timeout_ms", {"WARDEN_CLUSTER_HANDSHAKE_TIMEOUT_MS", "", "2000"}},
    {"cluster.call_timeout_ms", {"WARDEN_CLUSTER_CALL_TIMEOUT_MS", "", "5000"}},
    {"cluster.reconnect_min_ms", {"WARDEN_CLUSTER_RECONNECT_MIN_MS", "", "200"}},
    {"cluster.reconnect_max_ms", {"WARDEN_CLUSTER_RECONNECT_MAX_MS", "", "5000"}},
    {"cluster.stable_after_ms", {"WARDEN_CLUSTER_STABLE_AFTER_MS", "", "1000"}},
    {"cluster.down_removal_ms", {"WARDEN_CLUSTER_DOWN_REMOVAL_MS", "", "60000"}},
    {"cluster.max_frame_bytes", {"WARDEN_CLUSTER_MAX_FRAME_BYTES", "", "67108864"}},
    {"cluster.call_transport", {"WARDEN_CLUSTER_CALL_TRANSPORT", "", "true"}},
    {"cluster.call_port", {"WARDEN_CLUSTER_CALL_PORT", "--call-port", "0"}},
    {"cluster.client", {"WARDEN_CLUSTER_CLIENT", "", "false"}},
    {"failure_detector.heartbeat_interval_ms",
     {"WARDEN_FAILURE_DETECTOR_HEARTBEAT_INTERVAL_MS", "", "200"}},
    {"failure_detector.acceptable_pause_ms",
     {"WARDEN_FAILURE_DETECTOR_ACCEPTABLE_PAUSE_MS", "", "800"}},
    {"failure_detector.threshold", {"WARDEN_FAILURE_DETECTOR_THRESHOLD", "", "8.0"}},
    {"failure_detector.min_std_deviation_ms",
     {"WARDEN_FAILURE_DETECTOR_MIN_STD_DEVIATION_MS", "", "100"}},
    {"failure_detector.history_size", {"WARDEN_FAILURE_DETECTOR_HISTORY_SIZE", "", "100"}},
    {"failure_detector.first_heartbeat_estimate_ms",
     {"WARDEN_FAILURE_DETECTOR_FIRST_HEARTBEAT_ESTIMATE_MS", "", "500"}},
    {"failure_detector.transport_heartbeat_ms",
     {"WARDEN_FAILURE_DETECTOR_TRANSPORT_HEARTBEAT_MS", "", "1000"}},
    {"failure_detector.transport_timeout_ms",
     {"WARDEN_FAILURE_DETECTOR_TRANSPORT_TIMEOUT_MS", "", "10000"}},
    {"http.enabled", {"WARDEN_HTTP_ENABLED", "", "true"}},
    {"http.host", {"WARDEN_HTTP_HOST", "--http-host", "\"127.0.0.1\""}},
    {"http.port", {"WARDEN_HTTP_PORT", "--http-port", "0"}},
    {"http.allow_mutations", {"WARDEN_HTTP_ALLOW_MUTATIONS", "", "false"}},
    {"tls.enabled", {"WARDEN_TLS_ENABLED", "--tls", "false"}},
    {"tls.certificate", {"WARDEN_TLS_CERTIFICATE", "", "\"\""}},
    {"tls.key", {"WARDEN_TLS_KEY", "", "\"\""}},
    {"tls.passphrase", {"WARDEN_TLS_PASSPHRASE", "", "\"\""}},
    {"tls.cafile", {"WARDEN_TLS_CAFILE", "", "\"\""}},
    {"tls.capath", {"WARDEN_TLS_CAPATH", "", "\"\""}},
    {"log.json", {"WARDEN_LOG_JSON", "--json", "false"}},
    {"log.file", {"WARDEN_LOG_FILE", "--log-file", "\"\""}},
    {"log.level", {"WARDEN_LOG_LEVEL", "", "\"info\""}},
  };
  auto docs = node_setting_docs();
  ASSERT_EQ(docs.size(), expected.size());
  for (auto& d : docs) {
    auto i = expected.find(d.key);
    ASSERT_NE(i, expected.end()) << d.key;
    auto& [env, flag, def] = i->second;
    EXPECT_EQ(d.env, env) << d.key;
    EXPECT_EQ(d.flag, flag) << d.key;
    EXPECT_EQ(d.default_value, def) << d.key;
    EXPECT_FALSE(d.doc.empty()) << d.key;
    EXPECT_FALSE(d.type.empty()) << d.key;
  }
}

TEST(node_config, the_user_docs_list_every_setting) {
  std::ifstream in{std::string{WARDEN_SOURCE_DIR} + "/docs/node-config.md"};
  ASSERT_TRUE(in) << "docs/node-config.md";
  std::stringstream text;
  text << in.rdbuf();
  auto doc = text.str();
  for (auto& d : node_setting_docs()) {
    EXPECT_NE(doc.find("`" + d.key + "`"), std::string::npos) << d.key;
    EXPECT_NE(doc.find("`" + d.env + "`"), std::string::npos) << d.env;
    if (!d.flag.empty()) {
      EXPECT_NE(doc.find("`" + d.flag), std::string::npos) << d.flag;
    }
  }
}

TEST(node_config, defaults_need_only_a_secret) {
  auto cfg = load_ok(sources({}, {}, {secret_flag()}));
  auto expected = node_config{};
  expected.cluster.secret = "s3cret";
  EXPECT_EQ(cfg.config, expected);
  EXPECT_EQ(cfg.origin.at("node.port"), "default");
  EXPECT_EQ(cfg.origin.at("cluster.secret"), "flag --secret");
  EXPECT_EQ(cfg.origin.size(), node_setting_docs().size());
}

// --- precedence --------------------------------------------------------------------------

TEST(node_config, env_beats_file) {
  temp_dir dir;
  auto file = dir.write("cfg.toml", "[node]\nport = 7201\nhost = \"10.0.0.1\"\n"
                                    "[cluster]\nsecret = \"f\"\n");
  auto cfg = load_ok(sources(file, {{"WARDEN_NODE_PORT", "7301"}}));
  EXPECT_EQ(cfg.config.node.port, 7301);
  EXPECT_EQ(cfg.config.node.host, "10.0.0.1");  // not in env: the file's
  EXPECT_EQ(cfg.origin.at("node.port"), "env WARDEN_NODE_PORT");
  EXPECT_EQ(cfg.origin.at("node.host"), "file " + file);
}

TEST(node_config, flag_beats_env) {
  auto cfg = load_ok(sources({}, {{"WARDEN_NODE_PORT", "7301"}, {"WARDEN_NODE_HOST", "10.0.0.2"}},
                             {secret_flag(), {"node.port", "7401", "--port"}}));
  EXPECT_EQ(cfg.config.node.port, 7401);
  EXPECT_EQ(cfg.config.node.host, "10.0.0.2");
  EXPECT_EQ(cfg.origin.at("node.port"), "flag --port");
  EXPECT_EQ(cfg.origin.at("node.host"), "env WARDEN_NODE_HOST");
}

TEST(node_config, flag_beats_file) {
  temp_dir dir;
  auto file = dir.write("cfg.toml", "[node]\nport = 7201\n[cluster]\nsecret = \"f\"\n");
  auto cfg = load_ok(sources(file, {}, {{"node.port", "7401", "--set"}}));
  EXPECT_EQ(cfg.config.node.port, 7401);
  EXPECT_EQ(cfg.origin.at("node.port"), "flag --set");
  EXPECT_EQ(cfg.config.cluster.secret, "f");
}

TEST(node_config, all_three_layers_and_the_later_flag_wins) {
  temp_dir dir;
  auto file = dir.write("cfg.toml", "[failure_detector]\nthreshold = 10\nhistory_size = 50\n"
                                    "acceptable_pause_ms = 300\n");
  auto cfg = load_ok(sources(file,
                             {{"WARDEN_FAILURE_DETECTOR_THRESHOLD", "9.5"},
                              {"WARDEN_FAILURE_DETECTOR_HISTORY_SIZE", "60"}},
                             {secret_flag(),
                              {"failure_detector.threshold", "11", "--set"},
                              {"failure_detector.threshold", "12.25", "--set"}}));
  EXPECT_EQ(cfg.config.failure_detector.threshold, 12.25);
  EXPECT_EQ(cfg.config.failure_detector.history_size, 60u);
  EXPECT_EQ(cfg.config.failure_detector.acceptable_pause, 300ms);
  EXPECT_EQ(cfg.config.failure_detector.heartbeat_interval, 200ms);
  EXPECT_EQ(cfg.origin.at("failure_detector.threshold"), "flag --set");
  EXPECT_EQ(cfg.origin.at("failure_detector.history_size"),
            "env WARDEN_FAILURE_DETECTOR_HISTORY_SIZE");
  EXPECT_EQ(cfg.origin.at("failure_detector.acceptable_pause_ms"), "file " + file);
  EXPECT_EQ(cfg.origin.at("failure_detector.heartbeat_interval_ms"), "default");
}

TEST(node_config, unknown_warden_env_vars_are_ignored) {
  auto cfg = load_ok(sources({}, {{"WARDEN_NODE_PROT", "1"}, {"WARDEN_BOGUS", "x"}},
                             {secret_flag()}));
  EXPECT_EQ(cfg.config.node.port, 7100);
}

TEST(node_config, env_lists_are_comma_separated_and_replace_the_file_list) {
  temp_dir dir;
  auto file = dir.write("cfg.toml", "[cluster]\nsecret = \"f\"\nseeds = [\"a:1\"]\n"
                                    "connect_via = [\"x:1=y:2\"]\n");
  auto cfg = load_ok(sources(file, {{"WARDEN_CLUSTER_SEEDS", " b:2, [::1]:7100 ,,c.example:3 "},
                                    {"WARDEN_CLUSTER_CONNECT_VIA", ""}}));
  EXPECT_EQ(cfg.config.cluster.seeds,
            (std::vector<endpoint>{{"b", 2}, {"::1", 7100}, {"c.example", 3}}));
  EXPECT_TRUE(cfg.config.cluster.connect_via.empty());  // set but empty: the empty list
  EXPECT_EQ(cfg.origin.at("cluster.connect_via"), "env WARDEN_CLUSTER_CONNECT_VIA");
}

TEST(node_config, repeated_list_flags_accumulate_and_replace_env) {
  auto cfg = load_ok(sources({}, {{"WARDEN_CLUSTER_SEEDS", "a:1"}},
                             {secret_flag(),
                              {"cluster.seeds", "b:2", "--seed"},
                              {"cluster.seeds", "c:3,d:4", "--seed"},
                              {"cluster.connect_via", "n2:7100=127.0.0.1:9100", "--connect-via"}}));
  EXPECT_EQ(cfg.config.cluster.seeds,
            (std::vector<endpoint>{{"b", 2}, {"c", 3}, {"d", 4}}));
  EXPECT_EQ(cfg.config.cluster.connect_via,
            (std::vector<route>{{{"n2", 7100}, {"127.0.0.1", 9100}}}));
  EXPECT_EQ(cfg.origin.at("cluster.seeds"), "flag --seed");
}

TEST(node_config, value_syntax_of_env_and_flags) {
  auto cfg = load_ok(sources({}, {{"WARDEN_HTTP_ENABLED", "off"}, {"WARDEN_LOG_JSON", "YES"},
                                  {"WARDEN_NODE_ADVERTISE", "node1.example:7100"}},
                             {secret_flag(), {"tls.enabled", "true", "--tls"},
                              {"tls.certificate", "c.pem", "--set"},
                              {"tls.key", "k.pem", "--set"},
                              {"tls.capath", "/etc/ssl/certs", "--set"},
                              {"log.level", "debug", "--set"},
                              {"node.scheduler_threads", " 4 ", "--set"}}));
  EXPECT_FALSE(cfg.config.http.enabled);
  EXPECT_TRUE(cfg.config.log.json);
  EXPECT_EQ(cfg.config.node.advertise, (endpoint{"node1.example", 7100}));
  EXPECT_TRUE(cfg.config.tls.enabled);
  EXPECT_EQ(cfg.config.log.level, "debug");
  EXPECT_EQ(cfg.config.node.scheduler_threads, 4u);
}

TEST(node_config, secret_file_is_read_and_its_trailing_newline_stripped) {
  temp_dir dir;
  auto secret = dir.write("secret", "t0p s3cret\r\n\n");
  auto cfg = load_ok(sources({}, {{"WARDEN_CLUSTER_SECRET_FILE", secret}}));
  EXPECT_EQ(cfg.config.cluster.secret, "t0p s3cret");
  EXPECT_EQ(cfg.config.cluster.secret_file, secret);
  EXPECT_EQ(cfg.origin.at("cluster.secret"),
            "cluster.secret_file (env WARDEN_CLUSTER_SECRET_FILE)");
}

TEST(node_config, derived_name_and_advertise) {
  node_settings n;
  EXPECT_EQ(n.effective_name(7123), "127.0.0.1:7123");
  EXPECT_EQ(n.effective_advertise(7123), (endpoint{"127.0.0.1", 7123}));
  n.name = "alpha";
  n.advertise = endpoint{"proxy", 9000};
  EXPECT_EQ(n.effective_name(7123), "alpha");
  EXPECT_EQ(n.effective_advertise(7123), (endpoint{"proxy", 9000}));
}

TEST(node_config, endpoints_parse_and_print) {
  EXPECT_EQ(endpoint::parse("a.example:7100"), (endpoint{"a.example", 7100}));
  EXPECT_EQ(endpoint::parse(" [::1]:1 "), (endpoint{"::1", 1}));
  EXPECT_EQ((endpoint{"::1", 1}).to_string(), "[::1]:1");
  EXPECT_EQ((endpoint{"h", 65535}).to_string(), "h:65535");
  for (auto bad : {"", "host", "host:", ":7100", "host:0", "host:65536", "host:-1", "host:7x",
                   "::1:7100", "[]:1", "host:+1"})
    EXPECT_FALSE(endpoint::parse(bad)) << bad;
  EXPECT_EQ(route::parse("a:1=b:2"), (route{{"a", 1}, {"b", 2}}));
  EXPECT_EQ((route{{"a", 1}, {"b", 2}}).to_string(), "a:1=b:2");
  for (auto bad : {"a:1", "a:1=", "=b:2", "a:1=b"})
    EXPECT_FALSE(route::parse(bad)) << bad;
}

// --- errors ------------------------------------------------------------------------------

TEST(node_config_errors, unknown_key_in_file_with_suggestion) {
  temp_dir dir;
  auto file = dir.write("cfg.toml", "# a node\n[node]\nprot = 7100\n");
  EXPECT_EQ(load_error(sources(file, {}, {secret_flag()})),
            file + ":3: unknown setting 'node.prot' (did you mean 'node.port'?)");
}

TEST(node_config_errors, unknown_key_without_a_close_match_has_no_suggestion) {
  temp_dir dir;
  auto file = dir.write("cfg.toml", "[cluster]\nflux_capacitor = 1\n");
  EXPECT_EQ(load_error(sources(file, {}, {secret_flag()})),
            file + ":2: unknown setting 'cluster.flux_capacitor'");
}

TEST(node_config_errors, keys_outside_sections_and_unknown_sections) {
  temp_dir dir;
  auto top = dir.write("top.toml", "port = 1\n");
  EXPECT_EQ(load_error(sources(top, {}, {secret_flag()})),
            top + ":1: unknown setting 'port' (did you mean 'node.port'?)");
  auto sec = dir.write("sec.toml", "[nod]\nport = 1\n");
  EXPECT_EQ(load_error(sources(sec, {}, {secret_flag()})),
            sec + ":2: unknown setting 'nod.port' (did you mean 'node.port'?)");
  auto empty = dir.write("empty.toml", "\n[clustr]\n");
  EXPECT_EQ(load_error(sources(empty, {}, {secret_flag()})),
            empty + ":2: unknown section '[clustr]' (did you mean '[cluster]'?)");
  auto nested = dir.write("nested.toml", "[node.extra]\nx = 1\n");
  EXPECT_EQ(load_error(sources(nested, {}, {secret_flag()})),
            nested + ":1: unknown setting 'node.extra'");
}

TEST(node_config_errors, wrong_type_and_out_of_range_in_file) {
  temp_dir dir;
  auto f1 = dir.write("a.toml", "[node]\nhost = \"h\"\n\nport = 70000\n");
  EXPECT_EQ(load_error(sources(f1, {}, {secret_flag()})),
            f1 + ":4: node.port: expected an integer 0..65535");
  auto f2 = dir.write("b.toml", "[node]\nport = \"7100\"\n");
  EXPECT_EQ(load_error(sources(f2, {}, {secret_flag()})),
            f2 + ":2: node.port: expected an integer 0..65535");
  auto f3 = dir.write("c.toml", "[cluster]\ncall_timeout_ms = 0\n");
  EXPECT_EQ(load_error(sources(f3, {}, {secret_flag()})),
            f3 + ":2: cluster.call_timeout_ms: expected an integer >= 1 (milliseconds)");
  auto f4 = dir.write("d.toml", "[http]\nenabled = \"yes\"\n");
  EXPECT_EQ(load_error(sources(f4, {}, {secret_flag()})),
            f4 + ":2: http.enabled: expected true or false");
  auto f5 = dir.write("e.toml", "[failure_detector]\nthreshold = -1.0\n");
  EXPECT_EQ(load_error(sources(f5, {}, {secret_flag()})),
            f5 + ":2: failure_detector.threshold: expected a number > 0");
  auto f6 = dir.write("f.toml", "[log]\nlevel = \"loud\"\n");
  EXPECT_EQ(load_error(sources(f6, {}, {secret_flag()})),
            f6 + ":2: log.level: expected one of: trace, debug, info, warn, error, off");
  auto f7 = dir.write("g.toml", "[cluster]\nseeds = \"a:1\"\n");
  EXPECT_EQ(load_error(sources(f7, {}, {secret_flag()})),
            f7 + ":2: cluster.seeds: expected an array of \"host:port\" strings");
  auto f8 = dir.write("h.toml", "[cluster]\nname = 5\n");
  EXPECT_EQ(load_error(sources(f8, {}, {secret_flag()})),
            f8 + ":2: cluster.name: expected a string");
}

TEST(node_config_errors, bad_env_values) {
  EXPECT_EQ(load_error(sources({}, {{"WARDEN_NODE_PORT", "x"}}, {secret_flag()})),
            "env WARDEN_NODE_PORT: expected an integer 0..65535, got \"x\"");
  EXPECT_EQ(load_error(sources({}, {{"WARDEN_NODE_PORT", ""}}, {secret_flag()})),
            "env WARDEN_NODE_PORT: expected an integer 0..65535, got \"\"");
  EXPECT_EQ(load_error(sources({}, {{"WARDEN_HTTP_ENABLED", "maybe"}}, {secret_flag()})),
            "env WARDEN_HTTP_ENABLED: expected true or false, got \"maybe\"");
  EXPECT_EQ(load_error(sources({}, {{"WARDEN_FAILURE_DETECTOR_THRESHOLD", "8x"}},
                               {secret_flag()})),
            "env WARDEN_FAILURE_DETECTOR_THRESHOLD: expected a number > 0, got \"8x\"");
}

TEST(node_config_errors, bad_flag_values) {
  EXPECT_EQ(load_error(sources({}, {}, {secret_flag(), {"node.port", "x", "--set"}})),
            "--set node.port=x: expected an integer 0..65535");
  EXPECT_EQ(load_error(sources({}, {}, {secret_flag(), {"node.port", "-1", "--port"}})),
            "--port -1: expected an integer 0..65535");
  EXPECT_EQ(load_error(sources({}, {}, {secret_flag(), {"http.port", "65536", "--http-port"}})),
            "--http-port 65536: expected an integer 0..65535");
  EXPECT_EQ(load_error(sources({}, {}, {secret_flag(),
                                        {"failure_detector.history_size", "0", "--set"}})),
            "--set failure_detector.history_size=0: expected an integer 1..100000");
}

TEST(node_config_errors, unknown_set_key) {
  EXPECT_EQ(load_error(sources({}, {}, {secret_flag(), {"node.prot", "1", "--set"}})),
            "--set node.prot=1: unknown setting 'node.prot' (did you mean 'node.port'?)");
  EXPECT_EQ(load_error(sources({}, {}, {secret_flag(), {"cluster.timeout", "1", "--set"}})),
            "--set cluster.timeout=1: unknown setting 'cluster.timeout'");
}

// cluster.unreachable_down_ms is gone (the split-brain resolver downs now): every source
// that still sets it gets a named error pointing at the replacement, nothing is applied.
TEST(node_config_errors, retired_unreachable_down_names_its_replacement) {
  const std::string why = "cluster.unreachable_down_ms was replaced by cluster.stable_after_ms "
                          "(the split-brain resolver, docs/cluster-services.md)";
  temp_dir dir;
  auto file = dir.write("cfg.toml", "[cluster]\nname = \"x\"\nunreachable_down_ms = 2000\n");
  EXPECT_EQ(load_error(sources(file, {}, {secret_flag()})), file + ":3: " + why);
  EXPECT_EQ(load_error(sources({}, {{"WARDEN_CLUSTER_UNREACHABLE_DOWN_MS", "2000"}},
                               {secret_flag()})),
            "env WARDEN_CLUSTER_UNREACHABLE_DOWN_MS: " + why);
  EXPECT_EQ(load_error(sources({}, {},
                               {secret_flag(), {"cluster.unreachable_down_ms", "2000", "--set"}})),
            "--set cluster.unreachable_down_ms=2000: " + why);
  // Its replacement loads from each source.
  auto cfg = load_ok(sources({}, {{"WARDEN_CLUSTER_STABLE_AFTER_MS", "1500"}}, {secret_flag()}));
  EXPECT_EQ(cfg.config.cluster.stable_after, 1500ms);
  EXPECT_EQ(cfg.origin.at("cluster.stable_after_ms"), "env WARDEN_CLUSTER_STABLE_AFTER_MS");
  EXPECT_EQ(load_error(sources({}, {}, {secret_flag(), {"cluster.stable_after_ms", "0", "--set"}})),
            "--set cluster.stable_after_ms=0: expected an integer >= 1 (milliseconds)");
}

TEST(node_config_errors, bad_endpoint_syntax) {
  temp_dir dir;
  auto file = dir.write("cfg.toml", "[cluster]\nseeds = [\n  \"a:1\",\n  \"b\",\n]\n");
  EXPECT_EQ(load_error(sources(file, {}, {secret_flag()})),
            file + ":2: cluster.seeds: expected \"host:port\" with ports 1..65535, got \"b\"");
  EXPECT_EQ(load_error(sources({}, {{"WARDEN_CLUSTER_SEEDS", "a:1,b:0"}}, {secret_flag()})),
            "env WARDEN_CLUSTER_SEEDS: expected \"host:port\" with ports 1..65535, got \"b:0\"");
  EXPECT_EQ(load_error(sources({}, {}, {secret_flag(), {"cluster.seeds", "host", "--seed"}})),
            "--seed host: expected \"host:port\" with ports 1..65535, got \"host\"");
  EXPECT_EQ(
    load_error(sources({}, {}, {secret_flag(), {"cluster.connect_via", "a:1", "--connect-via"}})),
    "--connect-via a:1: expected \"host:port=host:port\" with ports 1..65535, got \"a:1\"");
  EXPECT_EQ(
    load_error(sources({}, {}, {secret_flag(), {"node.advertise", "nohost", "--advertise"}})),
    "--advertise nohost: expected \"host:port\" with a port 1..65535, got \"nohost\"");
}

TEST(node_config_errors, missing_secret) {
  EXPECT_EQ(load_error(sources()),
            "cluster.secret is required: set cluster.secret (env WARDEN_CLUSTER_SECRET, "
            "--secret) or cluster.secret_file (env WARDEN_CLUSTER_SECRET_FILE, --secret-file)");
  // Set but empty is not a secret.
  EXPECT_NE(load_error(sources({}, {{"WARDEN_CLUSTER_SECRET", ""}})).find("is required"),
            std::string::npos);
}

TEST(node_config_errors, secret_file_problems) {
  temp_dir dir;
  auto missing = dir.path("nope");
  EXPECT_EQ(load_error(sources({}, {}, {{"cluster.secret_file", missing, "--secret-file"}})),
            "cluster.secret_file " + missing + ": cannot read: No such file or directory");
  auto empty = dir.write("empty", "\n");
  EXPECT_EQ(load_error(sources({}, {}, {{"cluster.secret_file", empty, "--secret-file"}})),
            "cluster.secret_file " + empty + ": the file holds no secret (it is empty)");
  auto ok = dir.write("ok", "x\n");
  EXPECT_EQ(load_error(sources({}, {{"WARDEN_CLUSTER_SECRET", "y"}},
                               {{"cluster.secret_file", ok, "--secret-file"}})),
            "cluster.secret (env WARDEN_CLUSTER_SECRET) and cluster.secret_file (flag "
            "--secret-file) are both set; set only one (an empty value clears one, e.g. --set "
            "cluster.secret_file=)");
  // Clearing one of them with a higher layer resolves it.
  auto cfg = load_ok(sources({}, {{"WARDEN_CLUSTER_SECRET", "y"}},
                             {{"cluster.secret_file", ok, "--secret-file"},
                              {"cluster.secret", "", "--set"}}));
  EXPECT_EQ(cfg.config.cluster.secret, "x");
}

TEST(node_config_errors, tls_enabled_without_files) {
  EXPECT_EQ(load_error(sources({}, {}, {secret_flag(), {"tls.enabled", "true", "--tls"}})),
            "tls.enabled (flag --tls) needs tls.certificate, tls.key, and tls.cafile or "
            "tls.capath; missing: tls.certificate, tls.key, tls.cafile or tls.capath");
  EXPECT_EQ(load_error(sources({}, {{"WARDEN_TLS_ENABLED", "1"}, {"WARDEN_TLS_CERTIFICATE", "c"},
                                    {"WARDEN_TLS_KEY", "k"}},
                               {secret_flag()})),
            "tls.enabled (env WARDEN_TLS_ENABLED) needs tls.certificate, tls.key, and "
            "tls.cafile or tls.capath; missing: tls.cafile or tls.capath");
}

TEST(node_config_errors, reconnect_min_above_max) {
  EXPECT_EQ(load_error(sources({}, {{"WARDEN_CLUSTER_RECONNECT_MIN_MS", "6000"}},
                               {secret_flag()})),
            "cluster.reconnect_min_ms (6000) must not exceed cluster.reconnect_max_ms (5000)");
}

TEST(node_config_errors, unreadable_file) {
  temp_dir dir;
  auto missing = dir.path("missing.toml");
  EXPECT_EQ(load_error(sources(missing, {}, {secret_flag()})),
            missing + ": cannot read: No such file or directory");
}

TEST(node_config_errors, toml_syntax_error_names_the_line) {
  temp_dir dir;
  auto file = dir.write("cfg.toml", "[node]\nport = 7100\nhost = \"unterminated\n");
  auto msg = load_error(sources(file, {}, {secret_flag()}));
  EXPECT_EQ(msg.rfind(file + ":3: syntax: ", 0), 0u) << msg;
}

TEST(node_config_errors, a_bad_later_source_applies_nothing) {
  temp_dir dir;
  auto file = dir.write("cfg.toml", "[node]\nport = 7201\n");
  auto res = load_node_config(sources(file, {}, {secret_flag(), {"node.port", "x", "--set"}}));
  EXPECT_FALSE(res);  // no config at all, not the file's half
}

// --- print-config ------------------------------------------------------------------------

TEST(print_config, says_where_each_value_came_from_and_redacts_the_secret) {
  temp_dir dir;
  auto file = dir.write("cfg.toml", "[node]\nhost = \"10.1.1.1\"\n");
  auto cfg = load_ok(sources(file, {{"WARDEN_NODE_PORT", "7301"}},
                             {{"cluster.secret", "hunter2", "--secret"},
                              {"http.port", "8080", "--http-port"}}));
  auto text = print_config(cfg);
  EXPECT_NE(text.find("[node]\n"), std::string::npos) << text;
  EXPECT_NE(text.find("host = \"10.1.1.1\"  # file " + file + "\n"), std::string::npos) << text;
  EXPECT_NE(text.find("port = 7301  # env WARDEN_NODE_PORT\n"), std::string::npos) << text;
  EXPECT_NE(text.find("port = 8080  # flag --http-port\n"), std::string::npos) << text;
  EXPECT_NE(text.find("name = \"warden\"  # default\n"), std::string::npos) << text;
  EXPECT_NE(text.find("secret = \"<redacted>\"  # flag --secret\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("hunter2"), std::string::npos) << text;
  EXPECT_NE(print_config(cfg, {.show_secrets = true}).find("secret = \"hunter2\""),
            std::string::npos);
}

TEST(print_config, round_trips_through_a_file) {
  temp_dir dir;
  auto cfg = load_ok(sources(
    {}, {{"WARDEN_CLUSTER_SEEDS", "a.example:7100,[::1]:7101"}},
    {{"cluster.secret", "q\"uote\\back slash", "--secret"},
     {"node.name", "n\u00e9ud \"one\"\ttab", "--name"},
     {"node.advertise", "proxy:9000", "--advertise"},
     {"node.port", "0", "--port"},
     {"cluster.connect_via", "a.example:7100=127.0.0.1:9100", "--connect-via"},
     {"failure_detector.threshold", "0.1", "--set"},
     {"failure_detector.acceptable_pause_ms", "0", "--set"},
     {"http.enabled", "false", "--set"},
     {"tls.enabled", "true", "--tls"},
     {"tls.certificate", "/c.pem", "--set"},
     {"tls.key", "/k.pem", "--set"},
     {"tls.cafile", "/ca.pem", "--set"},
     {"tls.passphrase", "pw", "--set"},
     {"log.level", "trace", "--set"},
     {"log.json", "true", "--json"}}));
  // With secrets shown: exactly the same config.
  auto file = dir.write("shown.toml", print_config(cfg, {.show_secrets = true}));
  auto again = load_ok(sources(file));
  EXPECT_EQ(again.config, cfg.config);
  for (auto& [key, origin] : again.origin)
    EXPECT_EQ(origin, "file " + file) << key;
  // Redacted: the same but for the secrets.
  auto redacted_file = dir.write("redacted.toml", print_config(cfg));
  auto redacted = load_ok(sources(redacted_file));
  EXPECT_EQ(redacted.config.cluster.secret, "<redacted>");
  EXPECT_EQ(redacted.config.tls.passphrase, "<redacted>");
  redacted.config.cluster.secret = cfg.config.cluster.secret;
  redacted.config.tls.passphrase = cfg.config.tls.passphrase;
  EXPECT_EQ(redacted.config, cfg.config);
}

TEST(print_config, defaults_round_trip) {
  temp_dir dir;
  auto cfg = load_ok(sources({}, {}, {secret_flag()}));
  auto file = dir.write("cfg.toml", print_config(cfg, {.show_secrets = true}));
  EXPECT_EQ(load_ok(sources(file)).config, cfg.config);
}

TEST(print_config, a_secret_from_a_file_is_read_again) {
  temp_dir dir;
  auto secret = dir.write("secret", "from-file\n");
  auto cfg = load_ok(sources({}, {}, {{"cluster.secret_file", secret, "--secret-file"}}));
  auto text = print_config(cfg);
  EXPECT_NE(text.find("# secret = \"<redacted>\"  # read from cluster.secret_file (flag "
                      "--secret-file)\n"),
            std::string::npos)
    << text;
  EXPECT_EQ(text.find("from-file"), std::string::npos);
  auto file = dir.write("cfg.toml", text);
  EXPECT_EQ(load_ok(sources(file)).config, cfg.config);
}

// --- flags -------------------------------------------------------------------------------

TEST(node_flags, collect_overrides_in_command_line_order) {
  CLI::App app;
  node_flags flags;
  add_node_flags(app, flags);
  std::vector<std::string> args = {"warden",      "--config",   "n.toml", "--port", "7200",
                                   "--seed",      "a:1",        "--set",  "node.port=7300",
                                   "--seed",      "b:2",        "--tls",  "--json",
                                   "--print-config", "--secret", "s"};
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  app.parse(static_cast<int>(argv.size()), argv.data());
  EXPECT_EQ(flags.config_file, "n.toml");
  EXPECT_TRUE(flags.print_config);
  std::vector<std::tuple<std::string, std::string, std::string>> got;
  for (auto& o : flags.overrides)
    got.emplace_back(o.key, o.value, o.flag);
  std::vector<std::tuple<std::string, std::string, std::string>> expected = {
    {"node.port", "7200", "--port"},      {"cluster.seeds", "a:1", "--seed"},
    {"node.port", "7300", "--set"},       {"cluster.seeds", "b:2", "--seed"},
    {"tls.enabled", "true", "--tls"},     {"log.json", "true", "--json"},
    {"cluster.secret", "s", "--secret"},
  };
  EXPECT_EQ(got, expected);
  auto src = to_sources(flags);
  src.file.clear();
  src.env = nullptr;
  src.overrides.erase(src.overrides.begin() + 4);  // no tls files here
  auto cfg = load_ok(src);
  EXPECT_EQ(cfg.config.node.port, 7300);
  EXPECT_EQ(cfg.config.cluster.seeds, (std::vector<endpoint>{{"a", 1}, {"b", 2}}));
}

TEST(node_flags, set_needs_key_equals_value) {
  CLI::App app;
  node_flags flags;
  add_node_flags(app, flags);
  std::vector<std::string> args = {"warden", "--set", "node.port"};
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  EXPECT_THROW(app.parse(static_cast<int>(argv.size()), argv.data()), CLI::ValidationError);
}

TEST(node_flags, to_sources_reads_the_process_environment) {
  ::setenv("WARDEN_CLUSTER_NAME", "from-env-test", 1);
  node_flags flags;
  flags.overrides.push_back(secret_flag());
  auto cfg = load_node_config(to_sources(flags));
  ::unsetenv("WARDEN_CLUSTER_NAME");
  ASSERT_TRUE(cfg) << node_config_error_text(cfg.error());
  EXPECT_EQ(cfg->config.cluster.name, "from-env-test");
  EXPECT_EQ(cfg->origin.at("cluster.name"), "env WARDEN_CLUSTER_NAME");
}
