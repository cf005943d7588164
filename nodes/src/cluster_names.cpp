// The per-system handles of a node (its agent and view) and lookups by name.
#include "warden/cluster_names.hpp"

#include <tuple>

#include <caf/actor_registry.hpp>
#include <caf/scoped_actor.hpp>
#include <fmt/format.h>

#include "warden/atoms.hpp"
#include "warden/call_transport.hpp"
#include "warden/exit_reasons.hpp"
#include "internal/lost_proxy.hpp"
#include "internal/node_protocol.hpp"
#include "warden/node_agent.hpp"

namespace warden {

namespace {

constexpr caf::atom_value agent_key = caf::atom("wAgent");

// Views by actor system: a node registers its view when it starts. Few systems per
// process (one per node; tests may run several), so a small locked map is enough.
std::mutex views_mtx;
std::map<const caf::actor_system*, std::weak_ptr<cluster_view>> views;

} // namespace

bool wins(const name_entry& x, const name_entry& y) {
  if (x.epoch != 0 && y.epoch != 0 && x.epoch != y.epoch)
    return x.epoch > y.epoch;
  return std::tie(x.registered_at, x.owner.address, x.owner.incarnation)
         < std::tie(y.registered_at, y.owner.address, y.owner.incarnation);
}

namespace internal {

void register_node(caf::actor_system& sys, const caf::actor& agent,
                   std::shared_ptr<cluster_view> view) {
  sys.registry().put(agent_key, caf::actor_cast<caf::strong_actor_ptr>(agent));
  std::lock_guard<std::mutex> guard{views_mtx};
  for (auto i = views.begin(); i != views.end();)
    i = i->second.expired() ? views.erase(i) : std::next(i);
  views[&sys] = std::move(view);
}

void unregister_node(caf::actor_system& sys) {
  sys.registry().erase(agent_key);
  std::lock_guard<std::mutex> guard{views_mtx};
  views.erase(&sys);
}

} // namespace internal

std::shared_ptr<cluster_view> cluster_view_of(caf::actor_system& sys) {
  std::lock_guard<std::mutex> guard{views_mtx};
  auto i = views.find(&sys);
  return i != views.end() ? i->second.lock() : nullptr;
}

caf::actor node_agent_of(caf::actor_system& sys) {
  return caf::actor_cast<caf::actor>(sys.registry().get(agent_key));
}

namespace {

/// `pick(entry)` for the entry of `name`, or the error of `whereis`.
template <class Pick>
caf::expected<caf::actor> with_entry(caf::actor_system& sys, const std::string& name,
                                     Pick pick) {
  auto view = cluster_view_of(sys);
  if (!view)
    return make_error(errc::unknown_name, "this actor system runs no node");
  auto snap = view->get();
  if (auto i = snap->names.find(name); i != snap->names.end())
    return pick(i->second);
  if (auto i = snap->lost_names.find(name); i != snap->lost_names.end())
    return make_error(errc::node_down, fmt::format("\"{}\" was on {} ({}), which is down",
                                                   name, i->second.name, i->second.address));
  return make_error(errc::unknown_name, "no service is registered as \"" + name + "\"");
}

} // namespace

caf::expected<caf::actor> whereis(caf::actor_system& sys, const std::string& name) {
  return with_entry(sys, name, [](const name_entry& entry) { return entry.target; });
}

caf::expected<caf::actor> call_route(caf::actor_system& sys, const std::string& name) {
  return with_entry(sys, name, [&](const name_entry& entry) -> caf::expected<caf::actor> {
    if (auto transport = call_transport_of(sys))
      return transport->route(entry);  // its proxy bounces what CAF would lose
    if (internal::is_gone(entry.target))
      return cluster_call_error(sys, name, caf::sec::request_receiver_down);
    return entry.target;
  });
}

caf::error register_cluster_name(caf::actor_system& sys, const std::string& name,
                                 const caf::actor& target, caf::timespan timeout) {
  auto agent = node_agent_of(sys);
  if (!agent)
    return make_error(errc::unknown_name, "this actor system runs no node");
  caf::scoped_actor self{sys};
  caf::error result;
  self->request(agent, timeout, register_name_atom::value, name, target)
    .receive([](ok_atom) {}, [&](caf::error& err) { result = std::move(err); });
  return result;
}

caf::error cluster_call_error(caf::actor_system& sys, const std::string& name,
                              caf::error err) {
  if (err == caf::sec::request_timeout)
    return make_error(errc::call_timeout, "no answer from \"" + name + "\" in time");
  if (err == caf::sec::request_receiver_down
      || err == caf::exit_reason::remote_link_unreachable) {
    auto lost = whereis(sys, name);
    if (!lost && is(lost.error(), errc::node_down))
      return std::move(lost.error());
    return make_error(errc::service_unavailable,
                      "\"" + name + "\" went away during the call: " + describe(err));
  }
  return err;
}

} // namespace warden
