/// @file
/// Node settings: what a `warden node` process needs to know (its address, its cluster,
/// the failure detector's knobs, the HTTP endpoint, TLS, logging), read from a TOML file,
/// environment variables and command-line flags. Precedence: flag > env > file > default.
///
/// One table (in node_config.cpp) drives everything: each setting has a key
/// `section.name` (TOML `[section]` + `name = ...`), an env var `WARDEN_SECTION_NAME`,
/// maybe a long flag, and always `--set section.name=VALUE`. `node_setting_docs()` lists
/// them; docs/node-config.md is the user's reference. The defaults are the member
/// initialisers below, and nowhere else.
///
/// Values: integers in decimal, booleans `true`/`false` (env and flags also take
/// 1/0, yes/no, on/off), lists from env as comma-separated text, list flags repeatable
/// (all of them together replace the list from env or file). An env var that is set but
/// empty counts as set (empty string, empty list; an error for numbers). Unknown
/// `WARDEN_*` env vars are ignored; unknown keys in the file or in `--set` are errors. A
/// retired setting (`cluster.unreachable_down_ms`) is an error from every source, naming
/// what replaced it.
///
/// Loading checks everything and returns either the whole config or one
/// `errc::invalid_config` error whose context is one message string, e.g.
/// `cfg.toml:3: unknown setting 'node.prot' (did you mean 'node.port'?)`,
/// `env WARDEN_NODE_PORT: expected an integer 0..65535, got "x"`,
/// `--set node.port=x: expected an integer 0..65535`. Nothing is half-applied.
///
/// ```cpp
/// CLI::App app; auto* cmd = app.add_subcommand("node");
/// warden::node_flags flags;
/// warden::add_node_flags(*cmd, flags);
/// app.parse(argc, argv);
/// auto cfg = warden::load_node_config(warden::to_sources(flags));
/// if (!cfg) { say(warden::node_config_error_text(cfg.error())); return 2; }
/// if (flags.print_config) { std::fputs(warden::print_config(*cfg).c_str(), stdout); return 0; }
/// ```
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "warden/failure_detector.hpp"

namespace CLI {
class App;
}

namespace warden {

using std::chrono::milliseconds;

/// A "host:port" address. IPv6 hosts are written in brackets: "[::1]:7100".
struct endpoint {
  std::string host;
  uint16_t port = 0;

  /// Parses "host:port" (host non-empty, port 1..65535); none when malformed.
  static std::optional<endpoint> parse(std::string_view text);

  /// "host:port" ("[host]:port" when the host contains ':').
  std::string to_string() const;

  bool operator==(const endpoint&) const = default;
};

/// "To reach `to`, dial `via` instead" (e.g. a TCP proxy put on a link in tests).
struct route {
  endpoint to;
  endpoint via;

  /// Parses "host:port=host:port"; none when malformed.
  static std::optional<route> parse(std::string_view text);

  /// "to=via".
  std::string to_string() const;

  bool operator==(const route&) const = default;
};

/// [node]: this process.
struct node_settings {
  /// Node name; empty = "<host>:<port>" once the port is bound (`effective_name`).
  std::string name;
  /// Address the node port binds to.
  std::string host = "127.0.0.1";
  /// Node (CAF BASP) port; 0 = any free port.
  uint16_t port = 7100;
  /// Address peers use to reach us; none = host:port.
  std::optional<endpoint> advertise;
  /// Tree file to run; empty = no tree, an empty root supervisor.
  std::string tree;
  /// CAF scheduler threads; 0 = number of cores.
  uint32_t scheduler_threads = 0;

  /// The name, or "<host>:<bound_port>" when it is empty.
  std::string effective_name(uint16_t bound_port) const;
  /// The advertised address, or host:bound_port when none.
  endpoint effective_advertise(uint16_t bound_port) const;

  bool operator==(const node_settings&) const = default;
};

/// [cluster]: whom we join and how links behave.
struct cluster_settings {
  /// Nodes with another cluster name are refused.
  std::string name = "warden";
  /// Shared secret; required (or `secret_file`). After loading it holds the secret
  /// whichever way it was given.
  std::string secret;
  /// File holding the secret (trailing newlines stripped), read while loading.
  std::string secret_file;
  /// Nodes to contact at start.
  std::vector<endpoint> seeds;
  /// Dial overrides.
  std::vector<route> connect_via;
  milliseconds handshake_timeout{2000};
  /// Default timeout of remote calls by name.
  milliseconds call_timeout{5000};
  milliseconds reconnect_min{200};
  milliseconds reconnect_max{5000};
  /// The split-brain resolver's stable-after: the view must not change for this long
  /// before the leader downs unreachable members (downing.hpp); quarantines start at twice
  /// this. Replaces the retired `cluster.unreachable_down_ms`.
  milliseconds stable_after{1000};
  /// Down this long -> removed (forgotten).
  milliseconds down_removal{60000};
  /// Largest BASP frame payload a node accepts on its port (64 MiB); a peer that sends a
  /// larger one is disconnected. Before the handshake the limit is 64 KiB.
  uint32_t max_frame_bytes = 64 * 1024 * 1024;
  /// Calls by name go over Warden's call transport (call_transport.hpp); off, and always
  /// with TLS, they go over CAF's middleman.
  bool call_transport = true;
  /// A client member: joins to call by name (a tool, a test driver) but never counts for
  /// keep-majority, the quorum lease or placement (membership.hpp).
  bool client = false;
  /// Port of the call transport; 0 = any free port (members learn it in the handshake).
  uint16_t call_port = 0;

  bool operator==(const cluster_settings&) const = default;
};

/// [failure_detector]: heartbeats and the phi-accrual detector (failure_detector.hpp).
struct failure_detector_settings {
  milliseconds heartbeat_interval{200};
  milliseconds acceptable_pause{800};
  double threshold = 8.0;
  milliseconds min_std_deviation{100};
  uint32_t history_size = 100;
  milliseconds first_heartbeat_estimate{500};
  /// CAF middleman.heartbeat-interval.
  milliseconds transport_heartbeat{1000};
  /// CAF middleman.connection-timeout.
  milliseconds transport_timeout{10000};

  /// The detector's settings.
  phi_settings phi() const;

  bool operator==(const failure_detector_settings&) const = default;
};

/// [http]: the node's HTTP endpoint.
struct http_settings {
  bool enabled = true;
  std::string host = "127.0.0.1";
  /// 0 = any free port.
  uint16_t port = 0;
  /// State-changing routes are off unless true.
  bool allow_mutations = false;

  bool operator==(const http_settings&) const = default;
};

/// [tls]: enabled requires certificate and key, and cafile or capath.
struct tls_settings {
  bool enabled = false;
  std::string certificate;
  std::string key;
  std::string passphrase;
  std::string cafile;
  std::string capath;

  bool operator==(const tls_settings&) const = default;
};

/// [log]
struct log_settings {
  /// JSON lines instead of text.
  bool json = false;
  /// Empty = standard output.
  std::string file;
  /// One of trace, debug, info, warn, error, off.
  std::string level = "info";

  bool operator==(const log_settings&) const = default;
};

/// All settings of a node.
struct node_config {
  node_settings node;
  cluster_settings cluster;
  failure_detector_settings failure_detector;
  http_settings http;
  tls_settings tls;
  log_settings log;

  bool operator==(const node_config&) const = default;
};

/// One value given by a flag (or programmatically): `key` is a setting key.
struct setting_override {
  std::string key;
  std::string value;
  /// The flag that gave it, for messages and provenance: "--port", "--set", ...
  std::string flag = "--set";
};

/// Where settings come from. Each layer overrides the one before: file, env, overrides.
struct config_sources {
  /// TOML file; empty = no file.
  std::string file;
  /// getenv-like lookup; may be empty (no env).
  std::function<std::optional<std::string>(const std::string&)> env;
  /// From flags, in command-line order (a later one wins).
  std::vector<setting_override> overrides;
};

/// A loaded config and where each value came from.
struct loaded_config {
  node_config config;
  /// Setting key -> "default", "file cfg.toml", "env WARDEN_NODE_PORT", "flag --port",
  /// "flag --set"; cluster.secret read from a file says "cluster.secret_file (...)".
  std::map<std::string, std::string> origin;
};

/// Reads and checks all sources, reads the secret file, checks the cross-setting rules
/// (secret present, tls files, reconnect_min <= reconnect_max). Errors: `invalid_config`.
caf::expected<loaded_config> load_node_config(const config_sources& sources);

/// The message of an `invalid_config` error, or `describe(err)` for any other error.
std::string node_config_error_text(const caf::error& err);

struct print_options {
  /// Print cluster.secret and tls.passphrase instead of "<redacted>".
  bool show_secrets = false;
};

/// The effective config as TOML (valid as a config file), each value with its doc line
/// above it and its origin as a trailing comment. Secrets print as "<redacted>"; a secret
/// read from cluster.secret_file prints as a comment, so feeding the output back reads
/// the file again.
std::string print_config(const loaded_config& cfg, const print_options& opts = {});

/// What `add_node_flags` fills in.
struct node_flags {
  /// --config FILE.
  std::string config_file;
  /// --print-config.
  bool print_config = false;
  /// The setting flags and --set, in command-line order.
  std::vector<setting_override> overrides;
};

/// Registers --config, --print-config, the settings' long flags and --set KEY=VALUE on
/// `cmd`. Values are only collected here; `load_node_config` checks them.
void add_node_flags(CLI::App& cmd, node_flags& out);

/// The sources for `flags`, with the process environment (::getenv).
config_sources to_sources(const node_flags& flags);

/// A setting, for docs and tests.
struct setting_doc {
  std::string key;            ///< "node.port"
  std::string env;            ///< "WARDEN_NODE_PORT"
  std::string flag;           ///< "--port", or empty
  std::string type;           ///< "integer 0..65535", "string", "list of host:port", ...
  std::string default_value;  ///< as TOML, e.g. "7100", "\"127.0.0.1\"", "[]"
  std::string doc;            ///< one line
};

/// Every setting, in table order (grouped by section).
std::vector<setting_doc> node_setting_docs();

} // namespace warden
