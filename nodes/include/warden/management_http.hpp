/// @file
/// The per-node management HTTP endpoint: health checks, the member list, the cluster's
/// names and the supervision tree, as JSON, for operators, load balancers and
/// `warden cluster status`. docs/management-http.md documents each route's JSON.
///
/// The server knows nothing of actors: the node hands it one *provider* per route, a
/// function that answers with a status and a JSON body. Providers run on the server's own
/// threads (at most `management_settings::threads` at a time), so they must be
/// thread-safe; a provider that throws answers 500 and the server keeps serving.
///
/// | method | path              | provider  | notes                                        |
/// |--------|-------------------|-----------|----------------------------------------------|
/// | GET    | `/`               | (built in)| lists the routes                             |
/// | GET    | `/health/alive`   | `alive`   |                                              |
/// | GET    | `/health/ready`   | `ready`   | 200 ready, 503 not ready                     |
/// | GET    | `/cluster/members`| `members` |                                              |
/// | GET    | `/cluster/names`  | `names`   |                                              |
/// | GET    | `/tree`           | `tree`    |                                              |
/// | GET    | `/regulation`     | `regulation` | every regulator's figures                 |
/// | POST   | `/cluster/leave`  | `leave`   | state-changing: 403 unless `allow_mutations` |
/// | POST   | `/tree/fault`     | `tree_fault` | state-changing; gets the request body     |
///
/// Every answer is `Content-Type: application/json`. Errors have the body
/// `{"error": NAME, "path": PATH, ...}`: `not_found` (404: unknown path, or a route
/// whose provider is unset), `method_not_allowed` (405, with an `Allow` header),
/// `mutations_disabled` (403), `provider_failed` (500, with the exception's `message`).
/// HEAD is answered like GET, without a body.
///
/// ```cpp
/// warden::management_routes routes;
/// routes.alive = [] { return warden::http_reply{200, {{"status", "alive"}, {"node", "n1"}}}; };
/// warden::management_server http{{.host = "127.0.0.1", .port = 8101}, routes};
/// auto port = http.start();          // expected<uint16_t>; errc::bind_failed
/// if (!port) { ... warden::describe(port.error()) ... }
/// ...
/// http.stop();                       // also done by the destructor
/// ```
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <caf/expected.hpp>
#include <nlohmann/json.hpp>

namespace warden {

/// One answer of a provider.
struct http_reply {
  int status = 200;     ///< HTTP status; outside 100..599 it is answered as 500
  nlohmann::json body;  ///< sent as JSON (invalid UTF-8 is replaced, never thrown)
};

/// The node's answers, one provider per route. An unset provider makes its route answer
/// 404, as if it did not exist.
struct management_routes {
  std::function<http_reply()> alive;    ///< GET /health/alive
  std::function<http_reply()> ready;    ///< GET /health/ready (200 ready / 503 not ready)
  std::function<http_reply()> members;  ///< GET /cluster/members
  std::function<http_reply()> names;    ///< GET /cluster/names
  std::function<http_reply()> tree;     ///< GET /tree
  std::function<http_reply()> regulation;  ///< GET /regulation
  std::function<http_reply()> leave;    ///< POST /cluster/leave (state-changing)
  /// POST /tree/fault (state-changing): gets the request body, e.g.
  /// `{"path": "app/db", "action": "kill"}`.
  std::function<http_reply(const std::string& body)> tree_fault;
};

/// Where and how the server listens. The defaults are the only place these values live.
struct management_settings {
  /// Address to bind. The default keeps the endpoint local to the machine.
  std::string host = "127.0.0.1";
  /// Port to bind; 0 = any free port (`start` returns the one it got).
  uint16_t port = 0;
  /// State-changing routes (POST /cluster/leave, /tree/fault) answer 403 unless true.
  bool allow_mutations = false;
  /// Worker threads, i.e. requests served at the same time. 2: one slow client cannot
  /// hold up a health check.
  size_t threads = 2;
  /// Read and write timeout of one request: a client that sends or reads slower than
  /// this is dropped, freeing its worker.
  std::chrono::milliseconds io_timeout{2000};
  /// How long an idle connection may hold a worker waiting for its (next) request; whole
  /// seconds, at least 1 (httplib's unit). Short, because a held worker serves nobody
  /// else, and `stop` waits for it.
  std::chrono::seconds keep_alive_timeout{1};
};

/// The management HTTP server. Serves on its own threads between `start` and `stop`.
/// Not copyable or movable; `start` and `stop` may be called from any thread.
class management_server {
public:
  management_server(management_settings settings, management_routes routes);
  ~management_server();

  management_server(const management_server&) = delete;
  management_server& operator=(const management_server&) = delete;

  /// Binds (port 0 = any free port) and starts serving on a thread of its own. Returns
  /// the bound port; `errc::bind_failed` with context "host:port: why" when the address
  /// cannot be bound (in use, not local, unresolvable). Once started, returns the same
  /// port again.
  caf::expected<uint16_t> start();

  /// Stops accepting, finishes the requests in progress and joins the threads.
  /// Idempotent; the destructor calls it.
  void stop();

  /// The bound port while serving, 0 otherwise.
  uint16_t port() const;

  /// The routes as `GET /` lists them: [{"method", "path", "enabled"}], where enabled is
  /// false for an unset provider or a mutation while mutations are disabled.
  nlohmann::json route_list() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace warden
