// The cluster-service manager (cluster_service_manager.hpp): placement -> start / stop of
// the local instances, fencing on the lease, hand-over on a graceful leave.
#include "warden/cluster_service_manager.hpp"

#include <algorithm>
#include <map>
#include <set>

#include <caf/all.hpp>
#include <fmt/format.h>

#include "warden/atoms.hpp"
#include "warden/errors.hpp"
#include "warden/exit_reasons.hpp"
#include "warden/node_agent.hpp"
#include "warden/placement.hpp"
#include "warden/service_registry.hpp"

namespace warden {

namespace {

using check_atom = caf::atom_constant<caf::atom("wCsCheck")>;
using steady = std::chrono::steady_clock;

/// Supervisor and agent calls of the manager (local actors: they answer at once).
constexpr auto local_call_timeout = std::chrono::seconds{5};

bool declares(const member_info& m, const std::string& service) {
  return std::find(m.services.begin(), m.services.end(), service) != m.services.end();
}

/// Members up or unreachable (not yet down) that declare `service`; without `except`.
std::vector<member_info> candidates(const cluster_snapshot& snap, const std::string& service,
                                    const member_info* except = nullptr) {
  std::vector<member_info> out;
  for (auto& row : snap.members) {
    bool current = row.self || row.state == member_state::up
                   || row.state == member_state::unreachable;
    if (current && !row.info.client && declares(row.info, service)
        && !(except && same_member(row.info, *except)))
      out.push_back(row.info);
  }
  return out;
}

/// The owner of `inst` among `cands`.
std::optional<member_info> owner_of(const cluster_service& cs, uint32_t index,
                                    std::span<const member_info> cands) {
  if (cs.mode == cluster_mode::singleton)
    return place_singleton(cs.spec.name, cands);
  auto owners = place_spread(cs.spec.name, cs.instances, cands);
  if (index < owners.size())
    return owners[index];
  return std::nullopt;
}

/// True while another member still holds `name`: a move starts here only after the
/// previous owner stopped its copy and unregistered (or was downed: its names are gone).
bool held_elsewhere(const cluster_snapshot& snap, const std::string& name) {
  auto i = snap.names.find(name);
  return i != snap.names.end() && !same_member(i->second.owner, snap.self);
}

std::string instance_name(const cluster_service& cs, uint32_t index) {
  return cs.mode == cluster_mode::singleton ? cs.spec.name : instance_key(cs.spec.name, index);
}

struct running_instance {
  service_instance instance;
  std::string child_id;
  caf::actor handle;  // the stable local name's actor, as registered cluster-wide
  uint64_t epoch = 0;
};

struct manager_state {
  cluster_service_settings cfg;
  member_info self;
  std::map<std::string, running_instance> running;  // by instance name
  std::set<std::string> starting;
  std::map<std::string, std::pair<caf::message, steady::time_point>> handed;
  /// The highest fencing epoch seen per instance name (in any member's registration).
  std::map<std::string, uint64_t> epochs;
  std::shared_ptr<const cluster_snapshot> seen;
  steady::time_point seen_at;
  /// Until when the lease holds, as far as the snapshots tell.
  steady::time_point lease_end = steady::time_point::max();
  bool registered = false;
  bool leaving = false;
};

using state_ptr = std::shared_ptr<manager_state>;

void note(manager_state& st, const std::string& event, nlohmann::json fields) {
  if (st.cfg.note)
    st.cfg.note(event, std::move(fields));
}

/// The current snapshot and whether this node may run instances: the lease is valid and
/// will still be at the next check.
std::pair<std::shared_ptr<const cluster_snapshot>, bool> current(manager_state& st) {
  auto snap = st.cfg.view->get();
  auto now = steady::now();
  if (snap != st.seen) {
    st.seen = snap;
    st.seen_at = now;
  }
  // The time left counts from when the agent computed it; a snapshot made by hand (tests)
  // counts from when this manager first saw it.
  auto base = std::min(snap->published_at.value_or(st.seen_at), st.seen_at);
  bool lease = snap->lease_valid;
  if (lease && snap->lease_left_ms)
    lease = now + st.cfg.check_interval < base + std::chrono::milliseconds{*snap->lease_left_ms};
  if (snap->lease_valid)
    st.lease_end = snap->lease_left_ms ? base + std::chrono::milliseconds{*snap->lease_left_ms}
                                       : steady::time_point::max();
  else
    st.lease_end = std::min(st.lease_end, st.seen_at);
  return {snap, lease};
}

/// When the lease ended, as wall-clock microseconds (for the stop's log line: a paused
/// node learns late that its lease ended; this is when its copies stopped counting).
int64_t lease_ended_us(const manager_state& st) {
  auto ago = std::max(steady::duration::zero(), steady::now() - st.lease_end);
  auto at = std::chrono::system_clock::now() - std::chrono::duration_cast<std::chrono::microseconds>(ago);
  return std::chrono::duration_cast<std::chrono::microseconds>(at.time_since_epoch()).count();
}

/// Stops child `id` of `root` and forgets its spec (a later start adds it again).
void remove_child(caf::event_based_actor* self, const caf::actor& root, const std::string& id) {
  self->request(root, local_call_timeout, terminate_child_atom::value, id)
    .then(
      [self, root, id](ok_atom) {
        self->request(root, local_call_timeout, delete_child_atom::value, id)
          .then([](ok_atom) {}, [](caf::error&) {});
      },
      [](caf::error&) {});
}

void stop_instance(caf::event_based_actor* self, const state_ptr& st, const std::string& name,
                   const std::string& reason) {
  auto i = st->running.find(name);
  if (i == st->running.end())
    return;
  auto child_id = i->second.child_id;
  st->running.erase(i);
  self->request(st->cfg.agent, local_call_timeout, unregister_name_atom::value, name)
    .then([](ok_atom) {}, [](caf::error&) {});
  remove_child(self, st->cfg.root, child_id);
  nlohmann::json fields{{"name", name}, {"reason", reason}};
  // Whatever the reason, a copy whose lease ended stopped counting then (a paused node
  // may learn only after SIGCONT that it is stale): observers bound its claim by this.
  if (st->lease_end != steady::time_point::max() && st->lease_end <= steady::now())
    fields["lease_ended_us"] = lease_ended_us(*st);
  note(*st, "cluster_service_stopped", std::move(fields));
}

void start_instance(caf::event_based_actor* self, const state_ptr& st,
                    const service_instance& inst) {
  st->starting.insert(inst.name);
  auto spec = cluster_instance_spec(st->cfg.services[inst.service], inst.index);
  auto root = st->cfg.root;
  auto give_up = [self, st, inst, root, id = spec.id](const std::string& event,
                                                     const std::string& why) {
    st->starting.erase(inst.name);
    remove_child(self, root, id);
    note(*st, event, {{"name", inst.name}, {"reason", why}});
  };
  // Above every epoch seen for it, and above the wall clock in ms: a later placement gets
  // a higher epoch even on a node that never saw the earlier one.
  auto wall_ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count());
  auto epoch = std::max(st->epochs[inst.name] + 1, wall_ms);
  st->epochs[inst.name] = epoch;
  // Every start of this placement (restarts included) hands the service its epoch, and a
  // way to report it stale (weak: the spec must not keep the manager alive).
  spec.start = [start = std::move(spec.start), epoch, instance = inst.name,
                manager = self->address()](caf::local_actor* spawner, start_info info) {
    info.fencing_epoch = epoch;
    info.cluster_instance = instance;
    info.report_stale = [manager, instance, epoch] {
      if (auto m = caf::actor_cast<caf::actor>(manager))
        caf::anon_send(m, stale_atom::value, instance, epoch);
    };
    return start(spawner, std::move(info));
  };
  self->request(root, local_call_timeout, start_child_atom::value, spec)
    .then(
      [self, st, inst, give_up, epoch, id = spec.id](caf::actor& child) {
        if (auto i = st->handed.find(inst.name); i != st->handed.end()) {
          self->send(child, takeover_atom::value, i->second.first);  // its first message
          st->handed.erase(i);
        }
        auto stable = lookup(self->system(), inst.name);
        auto handle = stable ? *stable : child;
        self->request(st->cfg.agent, local_call_timeout, register_name_atom::value, inst.name,
                      handle, epoch)
          .then(
            [self, st, inst, id, handle, give_up, epoch](ok_atom) {
              st->starting.erase(inst.name);
              st->running[inst.name] = running_instance{inst, id, handle, epoch};
              note(*st, "cluster_service_started",
                   {{"name", inst.name}, {"instance", inst.index}, {"epoch", epoch}});
              auto [snap, lease] = current(*st);
              if (st->leaving || !lease)  // changed while it started: undo at once
                stop_instance(self, st, inst.name, st->leaving ? "leaving" : "lease lost");
            },
            [give_up](caf::error& err) {
              give_up("cluster_service_stopped", "name held elsewhere: " + describe(err));
            });
      },
      [give_up](caf::error& err) { give_up("cluster_service_start_failed", describe(err)); });
}

void check(caf::event_based_actor* self, const state_ptr& st) {
  if (st->leaving)
    return;
  auto [snap, lease] = current(*st);
  if (!st->registered && snap->joined) {
    st->registered = true;
    self->request(st->cfg.agent, local_call_timeout, register_name_atom::value,
                  cluster_service_manager_name(st->self.name), caf::actor{self})
      .then([](ok_atom) {}, [st](caf::error&) { st->registered = false; });
  }
  // A copy that learns of a newer placement (a higher epoch registered by another member)
  // is stale and stops, whatever its own view says.
  for (auto& [name, entry] : snap->names)
    if (entry.epoch != 0)
      st->epochs[name] = std::max(st->epochs[name], entry.epoch);
  std::vector<std::pair<std::string, std::string>> stale;
  for (auto& [name, r] : st->running)
    if (auto i = snap->names.find(name); i != snap->names.end()
        && !same_member(i->second.owner, snap->self) && i->second.epoch > r.epoch)
      stale.emplace_back(name, fmt::format("stale: epoch {} runs on {}", i->second.epoch,
                                           i->second.owner.name));
  for (auto& [name, why] : stale)
    stop_instance(self, st, name, why);
  // Before it joined, a node's view is itself alone: never a placement to act on.
  bool may_run = lease && snap->joined;
  // While it still dials members that others report up, its member set differs from
  // theirs (two views could each place a singleton on themselves, seen at start-up when
  // two nodes' first connect failed): nothing starts or moves until the views agree.
  bool settling = may_run && !snap->joining_members.empty();
  if (!settling) {
    auto desired = may_run ? placed_here(*snap, st->cfg.services)
                           : std::vector<service_instance>{};
    std::vector<std::string> to_stop;
    for (auto& [name, r] : st->running)
      if (std::find(desired.begin(), desired.end(), r.instance) == desired.end())
        to_stop.push_back(name);
    for (auto& name : to_stop)
      stop_instance(self, st, name, may_run ? "placed elsewhere" : "lease lost");
    for (auto& inst : desired)
      if (st->running.count(inst.name) == 0 && st->starting.count(inst.name) == 0
          && !held_elsewhere(*snap, inst.name))
        start_instance(self, st, inst);
  }
  auto now = steady::now();
  for (auto i = st->handed.begin(); i != st->handed.end();)
    i = now - i->second.second > st->cfg.handover_keep ? st->handed.erase(i) : std::next(i);
}

/// Hands over and stops every local instance; `done` when all are stopped.
void leave(caf::event_based_actor* self, const state_ptr& st, std::function<void()> done) {
  st->leaving = true;
  if (st->running.empty()) {
    done();
    return;
  }
  auto left = std::make_shared<size_t>(st->running.size());
  auto one_done = [left, done] {
    if (--*left == 0)
      done();
  };
  auto snap = st->cfg.view->get();
  auto instances = st->running;  // stop_instance edits the map
  for (auto& [name, r] : instances) {
    auto& cs = st->cfg.services[r.instance.service];
    auto rest = candidates(*snap, cs.spec.name, &st->self);
    auto successor = owner_of(cs, r.instance.index, rest);
    auto finish = [self, st, name, one_done] {
      stop_instance(self, st, name, "leaving");
      one_done();
    };
    if (!successor) {
      note(*st, "cluster_service_handover_skipped",
           {{"name", name}, {"reason", "no other candidate"}, {"level", "info"}});
      finish();
      continue;
    }
    self->request(r.handle, st->cfg.handover_timeout, handover_atom::value)
      .then(
        [self, st, name, successor, finish](handover_state& answer) {
          auto& state = answer.state;
          auto to = cluster_service_manager_name(successor->name);
          cluster_request(self, to, st->cfg.handover_timeout, takeover_atom::value, name, state)
            .then(
              [st, name, successor, finish](ok_atom) {
                note(*st, "cluster_service_handed_over", {{"name", name}, {"to", successor->name}});
                finish();
              },
              [st, name, finish](caf::error& err) {
                note(*st, "cluster_service_handover_failed",
                     {{"name", name}, {"reason", describe(err)}, {"level", "warn"}});
                finish();
              });
        },
        [st, name, finish](caf::error& err) {  // no hand-over hook: moved without state
          note(*st, "cluster_service_handover_skipped",
               {{"name", name}, {"reason", describe(err)}, {"level", "info"}});
          finish();
        });
  }
}

} // namespace

std::vector<service_instance> placed_here(const cluster_snapshot& snap,
                                          std::span<const cluster_service> services) {
  std::vector<service_instance> out;
  for (size_t i = 0; i < services.size(); ++i) {
    auto& cs = services[i];
    auto cands = candidates(snap, cs.spec.name);
    uint32_t count = cs.mode == cluster_mode::singleton ? 1 : cs.instances;
    auto owners = cs.mode == cluster_mode::singleton
                    ? std::vector<member_info>{}
                    : place_spread(cs.spec.name, cs.instances, cands);
    for (uint32_t k = 0; k < count; ++k) {
      auto owner = cs.mode == cluster_mode::singleton ? place_singleton(cs.spec.name, cands)
                                                      : std::optional{owners[k]};
      if (owner && same_member(*owner, snap.self))
        out.push_back({i, k, instance_name(cs, k)});
    }
  }
  return out;
}

std::string cluster_service_manager_name(const std::string& node_name) {
  return "warden.services@" + node_name;
}

caf::actor spawn_cluster_service_manager(caf::actor_system& sys,
                                         cluster_service_settings settings) {
  auto st = std::make_shared<manager_state>();
  st->self = settings.self;
  st->cfg = std::move(settings);
  return sys.spawn([st](caf::event_based_actor* self) -> caf::behavior {
    // CAF 0.17 answers an unexpected message with an error sent back to its sender, and
    // an actor without an error handler quits on such an error: never bounce anything.
    self->set_default_handler(caf::drop);
    self->send(self, check_atom::value);
    return {
      [self, st](check_atom) {
        check(self, st);
        self->delayed_send(self, st->cfg.check_interval, check_atom::value);
      },
      [self, st](stale_atom, const std::string& name, uint64_t epoch) {
        if (auto i = st->running.find(name); i != st->running.end() && i->second.epoch == epoch)
          stop_instance(self, st, name, "fenced at a resource");
      },
      [st](takeover_atom, const std::string& name, caf::message& state) {
        st->handed[name] = {std::move(state), steady::now()};
        return ok_atom::value;
      },
      [self, st](leave_atom) {
        auto rp = self->make_response_promise<ok_atom>();
        leave(self, st, [rp]() mutable { rp.deliver(ok_atom::value); });
        return rp;
      },
    };
  });
}

} // namespace warden
