// One object per actor system, and directories of running actors (not part of the API).
#pragma once

#include <mutex>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/local_actor.hpp>
#include <caf/make_actor.hpp>
#include <caf/monitorable_actor.hpp>

namespace warden::detail {

/// The base of per-system objects: an actor only for its place in CAF's registry (and so
/// its lifetime), used by direct calls; a message sent to it bounces.
class system_object : public caf::monitorable_actor {
public:
  explicit system_object(caf::actor_config& cfg) : caf::monitorable_actor(cfg) {}

  void enqueue(caf::mailbox_element_ptr what, caf::execution_unit*) override {
    bounce(what);
  }
};

/// The `T` of `sys`, made on first use. It is kept in CAF's registry under `key`, so it lives
/// and dies with the system. `T` is a `system_object` constructible from an actor_config.
template <class T>
T& system_singleton(caf::actor_system& sys, caf::atom_value key) {
  static std::mutex creation;
  std::lock_guard<std::mutex> guard{creation};
  auto ptr = sys.registry().get(key);
  if (!ptr) {
    caf::actor_config cfg;
    auto hdl = caf::make_actor<T, caf::actor>(sys.next_actor_id(), sys.node(), &sys, cfg);
    ptr = caf::actor_cast<caf::strong_actor_ptr>(hdl);
    sys.registry().put(key, ptr);
  }
  return *static_cast<T*>(caf::actor_cast<caf::abstract_actor*>(ptr));
}

/// The running actors of one kind in a system (for the management endpoint). Weak: it keeps
/// nobody alive.
class actor_directory final : public system_object {
public:
  explicit actor_directory(caf::actor_config& cfg) : system_object(cfg) {}

  const char* name() const override { return "warden.directory"; }

  /// Lists `self` until it terminates.
  static void list_while_running(caf::local_actor* self, caf::atom_value key) {
    auto& dir = system_singleton<actor_directory>(self->home_system(), key);
    dir.add(self->address());
    // The directory outlives the actor: the system's registry holds it until shutdown.
    caf::strong_actor_ptr keep = dir.ctrl();
    self->attach_functor([keep, addr = self->address()] {
      static_cast<actor_directory*>(caf::actor_cast<caf::abstract_actor*>(keep))->remove(addr);
    });
  }

  /// The actors listed under `key` that still run.
  static std::vector<caf::actor> running(caf::actor_system& sys, caf::atom_value key) {
    return system_singleton<actor_directory>(sys, key).running();
  }

private:
  void add(caf::actor_addr x) {
    std::lock_guard<std::mutex> guard{mtx_};
    all_.push_back(std::move(x));
  }

  void remove(const caf::actor_addr& x) {
    std::lock_guard<std::mutex> guard{mtx_};
    std::erase(all_, x);
  }

  std::vector<caf::actor> running() {
    std::lock_guard<std::mutex> guard{mtx_};
    std::vector<caf::actor> out;
    for (auto& a : all_)
      if (auto strong = caf::actor_cast<caf::actor>(a))
        out.push_back(std::move(strong));
    return out;
  }

  std::mutex mtx_;
  std::vector<caf::actor_addr> all_;
};

} // namespace warden::detail
