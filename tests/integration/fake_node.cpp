// A stand-in for `warden node` in the cluster launcher's tests (WARDEN_NODE_COMMAND).
//
//   fake_node node --name N --port P --http-port H [--seed S]... [--log-file F] [...]
//
// Binds the node port (a plain listening socket, so "port in use" fails like a real
// node), serves /health/alive, /health/ready, /cluster/members, /cluster/names and /tree
// on the HTTP port with warden::management_server, and exits 0 on SIGTERM / SIGINT.
// Other flags are accepted and ignored. What it answers is steered by the environment
// (the launcher passes its environment on):
//
//   FAKE_NODE_MEMBERS="n1=127.0.0.1:7101,n2=..."  the member list (default: just itself)
//   FAKE_NODE_VIEW="n2:n3=unreachable,..."        node n2 reports n3's state as unreachable
//   FAKE_NODE_NAMES="counter=n2,..."              the names table
//   FAKE_NODE_NEVER_READY="n2,..."                these answer 503 on /health/ready
//   FAKE_NODE_STOP_LOG=PATH                       append "<name>\n" when stopping
//
// Exit codes: 0 stopped by a signal, 1 a port could not be bound, 2 bad arguments.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "warden/exit_reasons.hpp"
#include "warden/management_http.hpp"

namespace {

using json = nlohmann::json;

std::string env_or(const char* name, const std::string& fallback = {}) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : fallback;
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size() && !text.empty()) {
    auto end = text.find(sep, start);
    if (end == std::string::npos)
      end = text.size();
    if (end > start)
      out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

/// "a=b,c=d" -> {a: b, c: d}
std::vector<std::pair<std::string, std::string>> pairs(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& item : split(text, ',')) {
    auto eq = item.find('=');
    if (eq != std::string::npos)
      out.emplace_back(item.substr(0, eq), item.substr(eq + 1));
  }
  return out;
}

void say(const std::string& line) {
  auto text = line + "\n";
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

} // namespace

int main(int argc, char** argv) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before the server's threads exist

  if (argc < 2 || std::string{argv[1]} != "node") {
    std::fprintf(stderr, "fake node: expected `node` first\n");
    return 2;
  }
  std::string name;
  int port = -1;
  int http_port = -1;
  std::vector<std::string> seeds;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--name")
      name = value();
    else if (a == "--port")
      port = std::atoi(value().c_str());
    else if (a == "--http-port")
      http_port = std::atoi(value().c_str());
    else if (a == "--seed")
      seeds.push_back(value());
    else if (a == "--tree" || a == "--config" || a == "--log-file")
      value();
  }
  if (name.empty() || port < 0 || http_port < 0) {
    std::fprintf(stderr, "fake node: --name, --port and --http-port are required\n");
    return 2;
  }
  auto secret = env_or("WARDEN_CLUSTER_SECRET");
  say("fake node " + name + ": cluster=" + env_or("WARDEN_CLUSTER_NAME")
      + " secret_length=" + std::to_string(secret.size()) + " seeds=" + std::to_string(seeds.size()));

  // The node port: fail like a real node when it is taken.
  int sock = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int yes = 1;
  ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0
      || ::listen(sock, 16) != 0) {
    std::fprintf(stderr, "fake node %s: cannot bind node port %d: %s\n", name.c_str(), port,
                 std::strerror(errno));
    return 1;
  }

  // Members: FAKE_NODE_MEMBERS, with this node's view (FAKE_NODE_VIEW) applied.
  std::map<std::string, std::string> view;
  for (auto& item : split(env_or("FAKE_NODE_VIEW"), ',')) {
    auto colon = item.find(':');
    auto eq = item.find('=');
    if (colon != std::string::npos && eq != std::string::npos && item.substr(0, colon) == name)
      view[item.substr(colon + 1, eq - colon - 1)] = item.substr(eq + 1);
  }
  auto member_list = pairs(env_or("FAKE_NODE_MEMBERS"));
  if (member_list.empty())
    member_list.emplace_back(name, "127.0.0.1:" + std::to_string(port));
  auto members = json::array();
  int64_t incarnation = 1000;
  for (auto& [member, address] : member_list) {
    auto state = view.count(member) ? view[member] : std::string{"up"};
    members.push_back({{"name", member},
                       {"address", address},
                       {"incarnation", ++incarnation},
                       {"state", state},
                       {"reason", ""},
                       {"self", member == name},
                       {"phi", 0.0},
                       {"since_ms", 0}});
  }
  auto names = json::array();
  for (auto& [svc, node] : pairs(env_or("FAKE_NODE_NAMES")))
    names.push_back({{"name", svc}, {"node", node}});
  auto never = split(env_or("FAKE_NODE_NEVER_READY"), ',');
  bool ready = std::find(never.begin(), never.end(), name) == never.end();

  warden::management_routes routes;
  routes.alive = [name] { return warden::http_reply{200, {{"status", "alive"}, {"node", name}}}; };
  routes.ready = [name, ready] {
    if (!ready)
      return warden::http_reply{503, {{"status", "not_ready"}, {"node", name}, {"joined", false}}};
    return warden::http_reply{
      200, {{"status", "ready"}, {"node", name}, {"joined", true}, {"tree", "running"}}};
  };
  routes.members = [name, members] {
    return warden::http_reply{200, {{"node", name}, {"members", members}}};
  };
  routes.names = [name, names] { return warden::http_reply{200, {{"node", name}, {"names", names}}}; };
  routes.tree = [name] { return warden::http_reply{200, {{"node", name}, {"tree", json::object()}}}; };
  warden::management_server http{{.port = static_cast<uint16_t>(http_port)}, routes};
  auto bound = http.start();
  if (!bound) {
    std::fprintf(stderr, "fake node %s: cannot serve HTTP: %s\n", name.c_str(),
                 warden::describe(bound.error()).c_str());
    return 1;
  }
  say("fake node " + name + " up: node port " + std::to_string(port) + ", http port "
      + std::to_string(*bound));

  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  say("fake node " + name + " stopping (" + (sig == SIGTERM ? "SIGTERM" : "SIGINT") + ")");
  http.stop();
  ::close(sock);
  if (auto log = env_or("FAKE_NODE_STOP_LOG"); !log.empty()) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    auto line = name + "\n";
    if (fd >= 0) {
      [[maybe_unused]] auto n = ::write(fd, line.data(), line.size());
      ::close(fd);
    }
  }
  return 0;
}
