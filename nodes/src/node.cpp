// A node: actor system + middleman, the published node agent, the declared tree, the
// management endpoint. See node.hpp for the start and stop order.
#include "warden/node.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <signal.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <thread>

#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/publish.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <fmt/chrono.h>
#include <fmt/format.h>

#include "internal/node_protocol.hpp"
#include "internal/port_guard.hpp"
#include "internal/tls.hpp"
#include "warden/atoms.hpp"
#include "warden/builtin_services.hpp"
#include "warden/exit_reasons.hpp"
#include "warden/fault_plan.hpp"
#include "warden/call_transport.hpp"
#include "warden/cluster_service_manager.hpp"
#include "warden/management_http.hpp"
#include "warden/node_agent.hpp"
#include "warden/bounded_buffer.hpp"
#include "warden/circuit_breaker.hpp"
#include "warden/regulator.hpp"
#include "warden/service_registry.hpp"
#include "warden/supervisor.hpp"
#include "warden/tree_file.hpp"

namespace warden {

namespace {

using namespace std::chrono_literals;

/// How long the node waits for its agent's graceful leave (peers acknowledge it).
constexpr auto leave_timeout = 2s;
/// How long an orderly stop of the tree may take.
constexpr auto tree_stop_timeout = 60s;
/// Management queries to actors (the tree's status) answer within this.
constexpr auto query_timeout = 2s;

/// Writes cluster events to the node's event log.
class cluster_log_sink : public cluster_event_sink {
public:
  cluster_log_sink(std::shared_ptr<event_log> log, cluster_event_sink_ptr extra)
    : log_(std::move(log)), extra_(std::move(extra)) {}
  void publish(const cluster_event& ev) override {
    if (log_->enabled(severity(ev)))  // render only what will be written
      log_->publish_line(severity(ev), to_text(ev), to_json(ev));
    if (extra_)
      extra_->publish(ev);
  }

private:
  std::shared_ptr<event_log> log_;
  cluster_event_sink_ptr extra_;
};

std::shared_ptr<event_log> make_log(const log_settings& s) {
  auto format = s.json ? log_format::json : log_format::text;
  auto log = s.file.empty() ? event_log::make(format) : event_log::to_file(s.file, format);
  // node_config validated the name; a hand-made config with a bad one keeps the default.
  log->set_level(parse_log_level(s.level).value_or(default_log_level));
  return log;
}

/// A port that is free right now on `host` (for node.port = 0; the agent must know its
/// address before it is published).
uint16_t pick_free_port(const std::string& host) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1)
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0
      && ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

/// Empty when `port` can be bound on `host` right now, else why not. Checked before the
/// agent exists: CAF keeps a detached actor alive after a failed publish.
std::string port_problem(const std::string& host, uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return std::strerror(errno);
  int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    ::close(fd);
    return "not an IPv4 address";
  }
  std::string problem;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    problem = std::strerror(errno);
  ::close(fd);
  return problem;
}

uint64_t new_incarnation() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count());
}

/// Waits until nothing holds `agent` any more. A detached actor's thread ends only when
/// its object is destroyed, and CAF's clock holds its pending timers (ticks, request
/// timeouts) until they fire: destroying the system before that hangs in
/// await_detached_threads, because the clock stops first.
bool await_released(caf::actor agent, caf::timespan longest_timer) {
  auto addr = agent.address();
  agent = nullptr;
  auto deadline = std::chrono::steady_clock::now() + longest_timer + 1s;
  while (caf::actor_cast<caf::strong_actor_ptr>(addr) != nullptr) {
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

/// POST /tree/fault: sends an exit fault (crash, kill or shutdown; default kill) to the
/// child at a path, as `warden run --fault` does. The body is
/// `{"path": "app/db", "action": "kill"}`; the root's name may be left out of the path.
http_reply tree_fault_reply(caf::actor_system& sys, const caf::actor& root,
                            const std::string& root_name, const std::string& body) {
  auto error = [](int status, const char* name, std::string message) {
    return http_reply{status, {{"error", name}, {"path", "/tree/fault"}, {"message", message}}};
  };
  auto bad = [&](std::string message) { return error(400, "bad_request", std::move(message)); };
  auto in = nlohmann::json::parse(body, nullptr, false);
  if (in.is_discarded() || !in.is_object())
    return bad(R"(expected a JSON object such as {"path": "app/db", "action": "kill"})");
  for (auto& [key, value] : in.items())
    if (key != "path" && key != "action")
      return bad(fmt::format("unknown key \"{}\" (allowed: path, action)", key));
  auto path = in.find("path");
  if (path == in.end() || !path->is_string() || path->get<std::string>().empty())
    return bad(R"("path": expected a child path such as "app/db")");
  auto name = in.value("action", nlohmann::json("kill"));
  auto action = name.is_string() ? fault_action_named(name.get<std::string>()) : std::nullopt;
  if (!action || needs_cooperation(*action))
    return bad(R"("action": expected "crash", "kill" or "shutdown")");
  if (!root)
    return error(409, "no_tree", "this node runs no supervision tree");
  fault f;
  f.path = path->get<std::string>();
  if (!f.path.starts_with(root_name + "/"))
    f.path = root_name + "/" + f.path;
  f.action = *action;
  if (auto err = inject(sys, root, f))
    return is(err, errc::not_found) ? error(404, "unknown_child", describe(err))
                                    : error(503, "tree_unavailable", describe(err));
  return http_reply{200, {{"child", f.path}, {"action", to_string(*action)}}};
}

nlohmann::json member_json(const member_info& m) {
  return {{"name", m.name}, {"address", m.address}, {"incarnation", m.incarnation}};
}

} // namespace

caf::expected<std::unique_ptr<node>> node::start(const node_config& cfg, node_options opts) {
  std::optional<declared_tree> tree;
  if (!cfg.node.tree.empty()) {
    auto catalog = opts.catalog;
    if (!catalog) {
      catalog = std::make_shared<service_catalog>();
      add_builtin_services(*catalog);
    }
    auto loaded = load_tree_file(cfg.node.tree, *catalog);
    if (!loaded)
      return std::move(loaded.error());
    tree = std::move(*loaded);
  }
  std::unique_ptr<node> n{new node};
  n->cfg_ = cfg;
  n->log_ = opts.log ? opts.log : make_log(cfg.log);
  // --- the actor system ---
  n->sys_cfg_ = std::make_unique<caf::actor_system_config>();
  auto& sc = *n->sys_cfg_;
  sc.load<caf::io::middleman>();
  bool tls_io_guard = false;
  if (cfg.tls.enabled) {
    // CAF reads the files at each connection and aborts the process when one fails.
    if (auto err = internal::check_tls_files(cfg.tls))
      return err;
    tls_io_guard = internal::require_openssl_io_guard();
    sc.load<caf::openssl::manager>();
    sc.set("openssl.certificate", cfg.tls.certificate);
    sc.set("openssl.key", cfg.tls.key);
    sc.set("openssl.passphrase", cfg.tls.passphrase);
    sc.set("openssl.cafile", cfg.tls.cafile);
    sc.set("openssl.capath", cfg.tls.capath);
  }
  auto threads = cfg.node.scheduler_threads != 0 ? cfg.node.scheduler_threads
                                                  : std::max(1u, std::thread::hardware_concurrency());
  sc.set("scheduler.max-threads", static_cast<size_t>(threads));
  // Measured in tests/perf/cluster (docs/performance.md): BASP deserializing on the I/O
  // thread and a scheduler that wakes a blocked worker per enqueue cut the remote round
  // trip from ~440 to ~90-180 us without slowing local supervision.
  sc.set("middleman.workers", size_t{0});
  sc.set("scheduler.policy", caf::atom("sharing"));
  sc.set("middleman.heartbeat-interval", caf::timespan{cfg.failure_detector.transport_heartbeat});
  sc.set("middleman.connection-timeout", caf::timespan{cfg.failure_detector.transport_timeout});
  configure(sc);
  add_node_message_types(sc);
  sc.add_message_type<handover_state>("warden_handover_state");
  sc.add_message_type<std::vector<uint64_t>>("warden_id_list");  // the ledger's `get`
  opts.types.apply(sc);
  n->sys_ = std::make_unique<caf::actor_system>(sc);
  auto& sys = *n->sys_;
  n->view_ = std::make_shared<cluster_view>();
  // --- the management endpoint first: members learn its address in the handshake ---
  if (cfg.http.enabled) {
    management_settings hs;
    hs.host = cfg.http.host;
    hs.port = cfg.http.port;
    hs.allow_mutations = cfg.http.allow_mutations;
    auto* self = n.get();
    management_routes routes;
    routes.alive = [self] {
      return http_reply{200, {{"status", "alive"}, {"node", self->self_.name}}};
    };
    routes.ready = [self] {
      auto snap = self->view_->get();
      bool ok = self->ready();
      return http_reply{ok ? 200 : 503,
                        {{"status", ok ? "ready" : "not_ready"},
                         {"node", self->self_.name},
                         {"joined", snap->joined},
                         {"tree", self->cfg_.node.tree.empty() ? "none"
                                  : self->root_               ? "running"
                                                              : "starting"}}};
    };
    routes.members = [self] { return http_reply{200, self->members_json()}; };
    routes.names = [self] { return http_reply{200, self->names_json()}; };
    routes.tree = [self] { return http_reply{200, self->tree_json()}; };
    routes.regulation = [self] { return http_reply{200, self->regulation_json()}; };
    routes.tree_fault = [self, root_name = tree ? tree->flags.name : std::string{}](
                          const std::string& body) {
      return tree_fault_reply(*self->sys_, self->root_, root_name, body);
    };
    routes.leave = [self] {
      // The process's main thread owns the stop: ask it like an operator would.
      ::kill(::getpid(), SIGTERM);
      return http_reply{202, {{"status", "leaving"}, {"node", self->self_.name}}};
    };
    n->http_ = std::make_unique<management_server>(hs, std::move(routes));
    auto port = n->http_->start();
    if (!port)
      return std::move(port.error());
    n->http_port_ = *port;
  }
  // --- the agent, published on the node port ---
  auto port = cfg.node.port != 0 ? cfg.node.port : pick_free_port(cfg.node.host);
  if (auto problem = port_problem(cfg.node.host, port); !problem.empty()) {
    n->stop();
    return make_error(errc::bind_failed,
                      fmt::format("node port {}:{}: {}", cfg.node.host, port, problem));
  }
  n->port_ = port;
  n->self_.name = cfg.node.effective_name(port);
  n->self_.address = cfg.node.effective_advertise(port).to_string();
  n->self_.incarnation = new_incarnation();
  n->self_.client = cfg.cluster.client;
  if (tree)
    for (auto& cs : tree->cluster_services)
      n->self_.services.push_back(cs.spec.name);
  if (n->http_port_ != 0)
    n->self_.http = fmt::format("{}:{}", cfg.http.host, n->http_port_);
  auto events = std::make_shared<cluster_log_sink>(n->log_, opts.cluster_events);
  auto report_rejection = [events, name = n->self_.name](const std::string& address,
                                                         const std::string& reason) {
    cluster_event ev;
    ev.kind = cluster_event_kind::connection_rejected;
    ev.time = std::chrono::system_clock::now();
    ev.node = name;
    ev.address = address;
    ev.reason = reason;
    events->publish(ev);
  };
  std::map<std::string, std::string> connect_via;  // "to reach X dial Y", agent and calls
  for (auto& r : cfg.cluster.connect_via)
    connect_via[r.to.to_string()] = r.via.to_string();
  // --- the call transport: members learn its port in the handshake ---
  if (cfg.cluster.call_transport && !cfg.tls.enabled) {
    call_transport_settings ts;
    ts.host = cfg.node.host;
    ts.port = cfg.cluster.call_port;
    ts.cluster = cfg.cluster.name;
    ts.secret = cfg.cluster.secret;
    ts.self = n->self_;
    ts.view = n->view_;
    ts.handshake_timeout = cfg.cluster.handshake_timeout;
    ts.max_frame_bytes = cfg.cluster.max_frame_bytes;
    ts.connect_via = connect_via;
    ts.rejected = report_rejection;
    auto* self = n.get();
    ts.dropped = [self](const std::string& what) {
      self->note("call_dropped", {{"reason", what}, {"level", "warn"}});
    };
    auto calls = call_transport::start(sys, std::move(ts));
    if (!calls) {
      n->stop();
      return std::move(calls.error());
    }
    n->calls_ = *calls;
    auto advertised = cfg.node.effective_advertise(port);
    n->self_.calls = fmt::format("{}:{}", advertised.host, n->calls_->port());
  }
  agent_settings as;
  as.self = n->self_;
  as.cluster = cfg.cluster.name;
  as.secret = cfg.cluster.secret;
  for (auto& seed : cfg.cluster.seeds)
    as.seeds.push_back(seed.to_string());
  as.connect_via = connect_via;
  as.detector = cfg.failure_detector.phi();
  as.heartbeat_interval = cfg.failure_detector.heartbeat_interval;
  as.handshake_timeout = cfg.cluster.handshake_timeout;
  as.reconnect_min = cfg.cluster.reconnect_min;
  as.reconnect_max = cfg.cluster.reconnect_max;
  as.downing = downing_settings{cfg.cluster.stable_after, 3 * cfg.cluster.stable_after};
  as.down_removal = cfg.cluster.down_removal;
  as.settings_extra = fmt::format("transport_heartbeat={}ms transport_timeout={}ms",
                                  cfg.failure_detector.transport_heartbeat.count(),
                                  cfg.failure_detector.transport_timeout.count());
  as.message_types = opts.types.names();
  as.events = events;
  as.view = n->view_;
  auto transport = cfg.tls.enabled
                     ? caf::actor_cast<caf::actor>(sys.openssl_manager().actor_handle())
                     : caf::actor_cast<caf::actor>(sys.middleman().actor_handle());
  n->port_guard_ = std::make_unique<internal::port_guard>(internal::port_guard_settings{
    .port = port,
    .tls = cfg.tls.enabled,
    .handshake_deadline = cfg.cluster.handshake_timeout,
    .max_frame_bytes = cfg.cluster.max_frame_bytes,
    .report = report_rejection});
  n->agent_ = spawn_node_agent(sys, std::move(as), transport, opts.detached_agent);
  auto published = cfg.tls.enabled
                     ? caf::openssl::publish(n->agent_, port, cfg.node.host.c_str(), true)
                     : sys.middleman().publish(n->agent_, port, cfg.node.host.c_str(), true);
  if (!published) {
    auto err = make_error(errc::node_unavailable,
                          fmt::format("node port {}:{}: {}", cfg.node.host, port,
                                      describe(published.error())));
    n->abandon();
    return err;
  }
  // --- the tree (read and checked before anything started) ---
  if (tree) {
    tree->flags.events = n->log_;
    auto root = start_supervisor(sys, tree->flags, std::move(tree->children));
    if (!root) {
      auto err = root.error();
      n->abandon();
      return err;
    }
    n->root_ = *root;
    if (!tree->cluster_services.empty()) {
      cluster_service_settings cs;
      cs.services = std::move(tree->cluster_services);
      cs.root = n->root_;
      cs.view = n->view_;
      cs.agent = n->agent_;
      cs.self = n->self_;
      auto* self = n.get();
      cs.note = [self](const std::string& event, nlohmann::json fields) {
        self->note(event, std::move(fields));
      };
      n->services_ = spawn_cluster_service_manager(sys, std::move(cs));
    }
    for (auto& name : tree->global_names) {
      auto local = lookup(sys, name);
      auto err = local ? register_cluster_name(sys, name, *local) : local.error();
      if (err)
        n->note("global_name_refused", {{"name", name}, {"error", describe(err)}});
    }
  }
  n->note("node_started", {{"address", n->self_.address},
                           {"incarnation", n->self_.incarnation},
                           {"http", n->self_.http},
                           {"calls", n->self_.calls},
                           {"cluster", cfg.cluster.name},
                           {"tls", cfg.tls.enabled},
                           {"tls_io_guard", tls_io_guard},
                           {"port_guard", internal::port_guard_linked()}});
  return n;
}

node::~node() {
  stop();
}

void node::abandon() {
  stopped_ = true;
  if (services_)
    caf::anon_send_exit(std::exchange(services_, nullptr), caf::exit_reason::kill);
  port_guard_.reset();
  if (calls_)
    calls_->stop();
  if (agent_) {
    internal::unregister_node(*sys_);
    caf::anon_send_exit(std::exchange(agent_, nullptr), caf::exit_reason::user_shutdown);
  }
  root_ = nullptr;
  if (http_)
    http_->stop();
  log_->flush();
  // CAF 0.17.6 can wait forever in ~actor_system after a failed start (a detached actor
  // still referenced): leave the system to the process exit.
  (void)sys_.release();
  (void)sys_cfg_.release();
}

bool node::ready() const {
  return (cfg_.node.tree.empty() || root_) && view_->get()->joined && !stopped_;
}

caf::error node::stop() {
  if (stopped_ || !sys_)
    return caf::none;
  stopped_ = true;
  port_guard_.reset();  // connections closed by the shutdown are not rejections
  caf::error result;
  {
    caf::scoped_actor self{*sys_};
    if (services_) {
      // Hand over and stop the cluster services before the cluster hears we leave.
      self->request(services_, leave_timeout, leave_atom::value)
        .receive([](ok_atom) {}, [](caf::error&) {});
      caf::anon_send_exit(std::exchange(services_, nullptr), caf::exit_reason::user_shutdown);
    }
    if (agent_)
      self->request(agent_, leave_timeout, leave_atom::value)
        .receive([](ok_atom) {}, [](caf::error&) {});
    if (root_)
      result = stop_supervisor(*sys_, root_, tree_stop_timeout);
  }
  if (calls_)
    calls_->stop();
  if (http_)
    http_->stop();
  if (agent_) {
    // Every strong reference must go, or the system waits for the agent's thread forever.
    internal::unregister_node(*sys_);
    if (cfg_.tls.enabled)  // caf/openssl/unpublish.hpp does not compile in CAF 0.17.6
      caf::anon_send(sys_->openssl_manager().actor_handle(), caf::unpublish_atom::value,
                     agent_.address(), uint16_t{0});
    else
      sys_->middleman().unpublish(agent_);
    caf::anon_send_exit(agent_, caf::exit_reason::user_shutdown);
    if (!await_released(std::exchange(agent_, nullptr), cfg_.cluster.handshake_timeout)) {
      // Something in CAF still holds the agent (seen when a start fails right after the
      // agent's first dials): destroying the system would wait forever. Leave it to the
      // process exit instead; `warden node` exits right after a failed start.
      note("node_stopped", {{"reason", "agent still referenced: actor system not torn down"},
                           {"level", "warn"}});
      log_->flush();
      (void)sys_.release();
      (void)sys_cfg_.release();
      return result;
    }
  }
  if (!self_.name.empty())
    note("node_stopped", {{"reason", result ? describe(result) : "shutdown"},
                           {"level", result ? "error" : "info"}});
  log_->flush();
  root_ = nullptr;
  sys_.reset();
  return is_shutdown(result) ? caf::error{} : result;
}

namespace {

/// The level of a node message when its caller gives none: info, but failures to start
/// (part of) the node are errors.
log_level note_level(const std::string& event) {
  return event == "global_name_refused" ? log_level::error : log_level::info;
}

} // namespace

void node::note(const std::string& event, nlohmann::json fields) {
  // A "level" field (a level name) is the caller's say; the line carries it anyway.
  auto level = note_level(event);
  if (auto i = fields.find("level"); i != fields.end()) {
    if (i->is_string())
      level = parse_log_level(i->get<std::string>()).value_or(level);
    fields.erase(i);
  }
  if (!log_->enabled(level))
    return;
  auto text = fmt::format("{} {}", event, self_.name);
  for (auto& [key, value] : fields.items())
    text += fmt::format(" {}={}", key, value.is_string() ? value.get<std::string>() : value.dump());
  auto now = std::chrono::system_clock::now();
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch());
  auto secs = std::chrono::floor<std::chrono::seconds>(us);
  nlohmann::json j = {{"event", event},
                      {"time", fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:06}Z",
                                           fmt::gmtime(static_cast<time_t>(secs.count())),
                                           (us - secs).count())},
                      {"node", self_.name}};
  j.update(fields);
  log_->publish_line(level, std::move(text), j.dump());
}

nlohmann::json node::members_json() const {
  auto snap = view_->get();
  auto rows = nlohmann::json::array();
  for (auto& m : snap->members) {
    auto row = member_json(m.info);
    row["state"] = to_string(m.state);
    row["reason"] = m.reason;
    row["self"] = m.self;
    row["phi"] = m.phi;
    row["since_ms"] = m.since_ms;
    row["sees_unreachable"] = m.sees_unreachable;
    row["last_ack_ms"] = m.last_ack_ms;
    row["http"] = m.info.http;
    row["calls"] = m.info.calls;
    rows.push_back(std::move(row));
  }
  nlohmann::json lease = {{"valid", snap->lease_valid}, {"left_ms", nullptr}};
  if (snap->lease_left_ms)
    lease["left_ms"] = *snap->lease_left_ms;
  return {{"node", self_.name},
          {"cluster", snap->cluster},
          {"lease", std::move(lease)},
          {"members", std::move(rows)}};
}

nlohmann::json node::names_json() const {
  auto snap = view_->get();
  auto names = nlohmann::json::array();
  for (auto& [name, entry] : snap->names)
    names.push_back({{"name", name},
                     {"node", entry.owner.name},
                     {"address", entry.owner.address},
                     {"incarnation", entry.owner.incarnation},
                     {"epoch", entry.epoch}});
  auto lost = nlohmann::json::array();
  for (auto& [name, owner] : snap->lost_names)
    lost.push_back({{"name", name}, {"node", owner.name}, {"address", owner.address}});
  return {{"node", self_.name}, {"names", std::move(names)}, {"lost", std::move(lost)}};
}

namespace {

nlohmann::json supervisor_json(caf::actor_system& sys, const caf::actor& sup, int depth) {
  supervisor_client client{sys, sup, query_timeout};
  auto status = client.status();
  if (!status)
    return {{"error", describe(status.error())}};
  auto children = nlohmann::json::array();
  for (auto& c : status->children) {
    nlohmann::json row = {{"id", c.id},
                          {"type", to_string(c.type)},
                          {"restart", to_string(c.restart)},
                          {"state", to_string(c.state)},
                          {"restarts", c.restart_count},
                          {"actor_id", c.actor ? c.actor.id() : 0}};
    if (c.type == child_type::supervisor && c.actor && depth < 32)
      row["supervisor"] = supervisor_json(sys, c.actor, depth + 1);
    children.push_back(std::move(row));
  }
  return {{"path", status->path},
          {"intensity", status->intensity},
          {"intensity_headroom", status->intensity_headroom},
          {"total_restarts", status->total_restarts},
          {"children", std::move(children)}};
}

} // namespace

nlohmann::json node::regulation_json() {
  auto regulators = nlohmann::json::array();
  auto buffers = nlohmann::json::array();
  auto breakers = nlohmann::json::array();
  if (sys_) {
    caf::scoped_actor me{*sys_};
    // Asks each actor for its stats; one that stopped meanwhile, or is too busy to say, is
    // left out.
    auto ask_each = [&](const auto& actors, auto on_stats) {
      for (auto& a : actors)
        me->request(a, regulation_read_timeout, stats_atom::value)
          .receive(on_stats, [](const caf::error&) {});
    };
    ask_each(running_regulators(*sys_), [&](const regulator_stats& st) {
      regulators.push_back({{"name", st.name},
                            {"kind", st.kind},
                            {"overflow", st.overflow},
                            {"limit", st.limit},
                            {"effective_limit", st.effective_limit},
                            {"in_use", st.in_use},
                            {"queued", st.queued},
                            {"granted", st.granted},
                            {"rejected", st.rejected},
                            {"codel_drops", st.codel_drops},
                            {"dropped_oldest", st.dropped_oldest},
                            {"timed_out", st.timed_out},
                            {"dropped", st.dropped},
                            {"last_sojourn_ms", st.last_sojourn_ms},
                            {"max_sojourn_ms", st.max_sojourn_ms},
                            {"alarm", st.alarm}});
    });
    ask_each(running_buffers(*sys_), [&](const buffer_stats& st) {
      auto& c = st.counters;
      buffers.push_back({{"name", st.name},
                         {"policy", to_string(st.policy)},
                         {"size", st.size},
                         {"capacity", st.capacity},
                         {"peak_size", c.peak_size},
                         {"accepted", c.accepted},
                         {"taken", c.taken},
                         {"rejected", c.rejected},
                         {"dropped", c.dropped()},
                         {"dropped_new", c.dropped_new},
                         {"dropped_oldest", c.dropped_oldest},
                         {"dropped_on_resize", c.dropped_on_resize},
                         {"timed_out", st.timed_out},
                         {"waiting_posters", st.waiting_posters},
                         {"waiting_takers", st.waiting_takers},
                         {"active", st.active}});
    });
    for (auto& b : running_breakers(*sys_)) {
      auto x = b->snapshot();
      breakers.push_back(
        {{"name", x.name},
         {"state", to_string(x.state)},
         {"admitted", x.counters.admitted},
         {"rejected", x.counters.rejected},
         {"successes", x.counters.successes},
         {"failures", x.counters.failures},
         {"opened", x.counters.opened},
         {"reset_timeout_ms",
          std::chrono::duration<double, std::milli>(x.reset_timeout).count()}});
    }
  }
  return {{"node", self_.name}, {"regulators", regulators}, {"buffers", buffers},
          {"breakers", breakers}};
}

nlohmann::json node::tree_json() {
  if (!root_ || !sys_)
    return {{"node", self_.name}, {"tree", nullptr}};
  return {{"node", self_.name}, {"tree", supervisor_json(*sys_, root_, 0)}};
}

} // namespace warden
