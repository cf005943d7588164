#include "warden/management_http.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <mutex>
#include <system_error>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>

#include "warden/errors.hpp"

namespace warden {

namespace {

using json = nlohmann::json;
using provider = std::function<http_reply()> management_routes::*;
using body_provider = std::function<http_reply(const std::string&)> management_routes::*;

/// One route: `what` answers it, or `with_body` (given the request body); neither is the
/// built-in route list (GET /).
struct route_entry {
  const char* method;
  const char* path;
  provider what;
  bool mutating;
  body_provider with_body = nullptr;
};

constexpr route_entry route_table[] = {
  {"GET", "/", nullptr, false},
  {"GET", "/health/alive", &management_routes::alive, false},
  {"GET", "/health/ready", &management_routes::ready, false},
  {"GET", "/cluster/members", &management_routes::members, false},
  {"GET", "/cluster/names", &management_routes::names, false},
  {"GET", "/tree", &management_routes::tree, false},
  {"GET", "/regulation", &management_routes::regulation, false},
  {"POST", "/cluster/leave", &management_routes::leave, true},
  {"POST", "/tree/fault", nullptr, true, &management_routes::tree_fault},
};

const route_entry* find_route(const std::string& path) {
  for (auto& r : route_table)
    if (path == r.path)
      return &r;
  return nullptr;
}

void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  // Replace invalid UTF-8 instead of throwing: a provider's odd string must not cost
  // the whole answer.
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

json error_body(const std::string& name, const std::string& path) {
  return json{{"error", name}, {"path", path}};
}

/// The reason phrase as an error name, for answers httplib makes itself (400, 413, ...).
std::string error_name(int status) {
  switch (status) {
    case 400: return "bad_request";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 413: return "payload_too_large";
    case 414: return "uri_too_long";
    default: return status >= 500 ? "internal_error" : "http_" + std::to_string(status);
  }
}

} // namespace

struct management_server::impl {
  impl(management_settings s, management_routes r)
    : settings(std::move(s)), routes(std::move(r)) {
  }

  /// False when the route's provider is unset: it answers 404.
  bool provided(const route_entry& r) const {
    if (r.what != nullptr)
      return static_cast<bool>(routes.*(r.what));
    if (r.with_body != nullptr)
      return static_cast<bool>(routes.*(r.with_body));
    return true;
  }

  bool enabled(const route_entry& r) const {
    if (!provided(r))
      return false;
    return !r.mutating || settings.allow_mutations;
  }

  json route_list() const {
    auto out = json::array();
    for (auto& r : route_table)
      out.push_back({{"method", r.method}, {"path", r.path}, {"enabled", enabled(r)}});
    return out;
  }

  void handle(const httplib::Request& req, httplib::Response& res) const {
    auto* r = find_route(req.path);
    if (r == nullptr || !provided(*r)) {
      reply(res, 404, error_body("not_found", req.path));
      return;
    }
    auto method = req.method == "HEAD" ? std::string{"GET"} : req.method;
    if (method != r->method) {
      res.set_header("Allow", std::string{r->method} == "GET" ? "GET, HEAD" : r->method);
      auto body = error_body("method_not_allowed", req.path);
      body["allow"] = r->method;
      reply(res, 405, body);
      return;
    }
    if (r->mutating && !settings.allow_mutations) {
      auto body = error_body("mutations_disabled", req.path);
      body["message"] = "state-changing routes are disabled on this node (http.allow_mutations)";
      reply(res, 403, body);
      return;
    }
    if (r->what == nullptr && r->with_body == nullptr) {
      reply(res, 200, json{{"routes", route_list()}});
      return;
    }
    try {
      auto answer = r->what != nullptr ? (routes.*(r->what))()
                                       : (routes.*(r->with_body))(req.body);
      if (answer.status < 100 || answer.status > 599) {
        auto body = error_body("provider_failed", req.path);
        body["message"] = fmt::format("provider answered status {}", answer.status);
        reply(res, 500, body);
        return;
      }
      reply(res, answer.status, answer.body);
    } catch (const std::exception& e) {
      auto body = error_body("provider_failed", req.path);
      body["message"] = e.what();
      reply(res, 500, body);
    } catch (...) {
      auto body = error_body("provider_failed", req.path);
      body["message"] = "unknown exception";
      reply(res, 500, body);
    }
  }

  void configure(httplib::Server& svr) {
    auto handler = [this](const httplib::Request& req, httplib::Response& res) {
      handle(req, res);
    };
    // One catch-all per method, so unknown paths and wrong methods get JSON answers
    // from `handle` (HEAD goes to the GET handler).
    svr.Get(".*", handler);
    svr.Post(".*", handler);
    svr.Put(".*", handler);
    svr.Patch(".*", handler);
    svr.Delete(".*", handler);
    svr.Options(".*", handler);
    // Answers httplib makes itself (bad request line, too large, unrouted method) get a
    // JSON body too.
    svr.set_error_handler(httplib::Server::HandlerWithResponse{
      [](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty())
          return httplib::Server::HandlerResponse::Unhandled;
        reply(res, res.status, error_body(error_name(res.status), req.path));
        return httplib::Server::HandlerResponse::Handled;
      }});
    svr.set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        auto body = error_body("internal_error", req.path);
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          body["message"] = e.what();
        } catch (...) {
          body["message"] = "unknown exception";
        }
        reply(res, 500, body);
      });
    auto threads = std::max<size_t>(settings.threads, 1);
    svr.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    svr.set_read_timeout(settings.io_timeout);
    svr.set_write_timeout(settings.io_timeout);
    svr.set_keep_alive_timeout(std::max<time_t>(settings.keep_alive_timeout.count(), 1));
    svr.set_payload_max_length(64 * 1024);  // bodies are small JSON objects
    // httplib's default also sets SO_REUSEPORT, which lets a second server bind a port
    // that is in use; SO_REUSEADDR alone only allows rebinding after TIME_WAIT.
    svr.set_socket_options([](socket_t sock) {
      int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });
  }

  management_settings settings;
  management_routes routes;
  std::mutex mtx;  // serializes start and stop
  std::unique_ptr<httplib::Server> server;
  std::thread listener;
  std::atomic<bool> listener_done{false};
  std::atomic<uint16_t> bound_port{0};
};

management_server::management_server(management_settings settings, management_routes routes)
  : impl_(std::make_unique<impl>(std::move(settings), std::move(routes))) {
}

management_server::~management_server() {
  stop();
}

caf::expected<uint16_t> management_server::start() {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  if (impl_->server)
    return impl_->bound_port.load();
  auto& s = impl_->settings;
  auto svr = std::make_unique<httplib::Server>();
  impl_->configure(*svr);
  errno = 0;
  int port = s.port == 0 ? svr->bind_to_any_port(s.host)
                         : (svr->bind_to_port(s.host, s.port) ? s.port : -1);
  if (port <= 0) {
    int err = errno;
    auto why = err != 0 ? std::generic_category().message(err)
                        : std::string{"cannot resolve or bind this address"};
    return make_error(errc::bind_failed, fmt::format("{}:{}: {}", s.host, s.port, why));
  }
  impl_->listener_done = false;
  auto* raw = svr.get();
  auto* done = &impl_->listener_done;
  impl_->listener = std::thread{[raw, done] {
    raw->listen_after_bind();
    *done = true;
  }};
  // httplib's stop() does nothing until the accept loop runs: wait for it, so a stop
  // right after start cannot be lost. Takes microseconds.
  while (!raw->is_running() && !*done)
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  if (*done) {
    impl_->listener.join();
    return make_error(errc::bind_failed,
                      fmt::format("{}:{}: the server stopped right after binding", s.host, port));
  }
  impl_->server = std::move(svr);
  impl_->bound_port = static_cast<uint16_t>(port);
  return static_cast<uint16_t>(port);
}

void management_server::stop() {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  if (!impl_->server)
    return;
  impl_->server->stop();
  impl_->listener.join();
  impl_->server.reset();
  impl_->bound_port = 0;
}

uint16_t management_server::port() const {
  return impl_->bound_port.load();
}

nlohmann::json management_server::route_list() const {
  return impl_->route_list();
}

} // namespace warden
