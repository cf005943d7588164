#include "support/node_cluster.hpp"

#include <stdlib.h>

#include <cerrno>
#include <system_error>
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

namespace warden::test {

namespace {

bool keep_dirs() {
  auto* v = std::getenv("WARDEN_KEEP_TEST_DIRS");
  return v != nullptr && *v != '\0' && std::string_view{v} != "0";
}

} // namespace

// --- test_cluster ----------------------------------------------------------------------------

test_cluster::test_cluster(std::string warden_bin, std::size_t n, cluster_options opts) {
  auto tmpl = (std::filesystem::temp_directory_path() / "warden-cluster-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr)
    throw std::system_error(errno, std::generic_category(), "test_cluster: mkdtemp");
  dir_ = tmpl;

  auto ports = free_ports(2 * n);  // cluster port, http port of each node
  auto name_of = [&](std::size_t i) { return opts.name_prefix + std::to_string(i + 1); };
  if (opts.with_proxies)
    for (std::size_t a = 0; a < n; ++a)
      for (std::size_t b = 0; b < n; ++b)
        if (a != b)
          proxies_[{a, b}] = std::make_unique<tcp_proxy>("127.0.0.1", ports[2 * b]);

  for (std::size_t a = 0; a < n; ++a) {
    node_options o;
    o.name = name_of(a);
    o.port = ports[2 * a];
    o.http_port = ports[2 * a + 1];
    for (std::size_t b = 0; b < n; ++b) {
      if (a == b)
        continue;
      auto addr = "127.0.0.1:" + std::to_string(ports[2 * b]);
      o.seeds.push_back(addr);
      if (opts.with_proxies)
        o.connect_via.push_back(addr + "=127.0.0.1:" +
                                std::to_string(proxies_.at({a, b})->port()));
    }
    o.tree = opts.tree;
    o.extra_args = opts.extra_args;
    o.env = opts.env;
    nodes_.push_back(std::make_unique<node_process>(warden_bin, std::move(o), dir_));
  }
  if (opts.start)
    start_all();
}

test_cluster::~test_cluster() {
  nodes_.clear();  // kill and reap first: no process may write into a removed directory
  proxies_.clear();
  if (keep_dirs()) {
    std::cerr << "test_cluster: kept " << dir_ << "\n";
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::size_t test_cluster::index(const std::string& name) const {
  for (std::size_t i = 0; i < nodes_.size(); ++i)
    if (nodes_[i]->name() == name)
      return i;
  throw std::out_of_range("test_cluster: no node " + name);
}

node_process& test_cluster::node(const std::string& name) {
  return *nodes_[index(name)];
}

std::vector<std::string> test_cluster::names() const {
  std::vector<std::string> out;
  for (auto& n : nodes_)
    out.push_back(n->name());
  return out;
}

tcp_proxy& test_cluster::proxy(const std::string& from, const std::string& to) {
  auto it = proxies_.find({index(from), index(to)});
  if (it == proxies_.end())
    throw std::out_of_range("test_cluster: no proxy " + from + " -> " + to +
                            " (with_proxies is off)");
  return *it->second;
}

link_proxies test_cluster::link(const std::string& a, const std::string& b) {
  return {proxy(a, b), proxy(b, a)};
}

void test_cluster::start_all() {
  for (auto& n : nodes_)
    if (!n->running())
      n->start();
}

bool test_cluster::wait_all_ready(deadline dl, std::source_location loc) {
  return wait_until(
    [&] {
      for (auto& n : nodes_)
        if (n->running() && !n->paused()) {
          auto r = n->http_get("/health/ready");
          if (!r || r->first != 200)
            return false;
        }
      return true;
    },
    dl, "every running node answers /health/ready 200", loc);
}

bool test_cluster::wait_converged(deadline dl, std::source_location loc) {
  return wait_until(
    [&] {
      for (auto& n : nodes_) {
        if (!n->running() || n->paused())
          return false;
        for (auto& other : nodes_)
          if (other != n && n->member_state(other->name()) != "up")
            return false;
      }
      return true;
    },
    dl, "every node sees every other node up", loc);
}

bool test_cluster::wait_until(const std::function<bool()>& pred, deadline dl,
                              std::string_view what, std::source_location loc) {
  for (;;) {
    if (pred())
      return true;
    if (dl.passed())
      break;
    std::this_thread::sleep_for(std::min(poll_interval, dl.left()));
  }
  ADD_FAILURE_AT(loc.file_name(), static_cast<int>(loc.line()))
    << "timed out waiting for: " << what << "\n"
    << diagnostics();
  return false;
}

std::string test_cluster::diagnostics() {
  constexpr std::size_t tail_lines = 30;
  std::ostringstream os;
  for (auto& n : nodes_) {
    os << "===== " << n->name() << " pid " << n->pid() << " port " << n->options().port
       << " http " << n->options().http_port << ": ";
    if (n->running())
      os << (n->paused() ? "paused" : "running");
    else if (auto st = n->exit_status())
      os << "exited " << *st;
    else
      os << "not started";
    os << "\n--- members: ";
    if (n->running() && !n->paused())
      os << n->members().dump();
    else
      os << "(not asked)";
    os << "\n--- last " << tail_lines << " log lines (" << n->log_path() << "):\n"
       << n->log_tail(tail_lines);
    if (auto out = n->output_tail(tail_lines); !out.empty())
      os << "--- last " << tail_lines << " output lines (" << n->output_path() << "):\n" << out;
  }
  for (auto& [ab, p] : proxies_) {
    auto s = p->stats();
    os << "===== proxy " << nodes_[ab.first]->name() << " -> " << nodes_[ab.second]->name()
       << " (:" << p->port() << "): " << to_string(p->mode()) << ", open " << s.open
       << ", accepted " << s.accepted << ", refused " << s.refused << ", bytes to target "
       << s.bytes_to_target << ", to client " << s.bytes_to_client << ", dropped "
       << s.bytes_dropped << "\n";
  }
  return os.str();
}

std::string test_cluster::write_file(const std::string& name, const std::string& text) const {
  auto p = (std::filesystem::path{dir_} / name).string();
  std::ofstream{p} << text;
  return p;
}

} // namespace warden::test
