// Names: one forwarding actor per name (name_proxy) and one registry per actor system,
// kept in CAF's own actor registry so it lives and dies with the system.
#include "warden/service_registry.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <mutex>
#include <shared_mutex>

#include <caf/actor_cast.hpp>
#include <caf/actor_registry.hpp>
#include <caf/detail/shared_spinlock.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/make_actor.hpp>
#include <caf/monitorable_actor.hpp>

#include "warden/detail/system_singleton.hpp"
#include "warden/errors.hpp"

namespace warden {

const char* to_string(name_state x) {
  switch (x) {
    case name_state::bound: return "bound";
    case name_state::restarting: return "restarting";
    case name_state::unbound: return "unbound";
  }
  return "unknown";
}

namespace {

/// Hands every message to the current instance of a service, on the sender's thread.
class name_proxy final : public caf::monitorable_actor {
public:
  name_proxy(caf::actor_config& cfg, std::string name)
    : caf::monitorable_actor(cfg), name_(std::move(name)) {}

  const char* name() const override { return "warden.name"; }

  void enqueue(caf::mailbox_element_ptr what, caf::execution_unit* ctx) override {
    {
      std::shared_lock<caf::detail::shared_spinlock> guard{lock_};
      if (state_ == name_state::bound) {
        target_->enqueue(std::move(what), ctx);
        return;
      }
    }
    std::unique_lock<caf::detail::shared_spinlock> guard{lock_};
    switch (state_) {
      case name_state::bound:
        target_->enqueue(std::move(what), ctx);
        return;
      case name_state::restarting:
        if (buffer_.size() < buffer_size_) {
          buffer_.push_back(std::move(what));
          return;
        }
        reject(what, errc::service_restarting);
        return;
      case name_state::unbound:
        reject(what, errc::service_unavailable);
        return;
    }
  }

  caf::error bind(const caf::actor& instance, size_t buffer_size) {
    std::unique_lock<caf::detail::shared_spinlock> guard{lock_};
    if (state_ == name_state::bound && target_ != caf::actor_cast<caf::strong_actor_ptr>(instance))
      return make_error(errc::name_taken, name_);
    buffer_size_ = buffer_size;
    target_ = caf::actor_cast<caf::strong_actor_ptr>(instance);
    state_ = name_state::bound;
    // Kept messages go first, in order, before anyone can send directly.
    while (!buffer_.empty()) {
      target_->enqueue(std::move(buffer_.front()), nullptr);
      buffer_.pop_front();
    }
    guard.unlock();
    // The moment the instance dies, start keeping messages for the next one.
    caf::weak_actor_ptr self{ctrl()};
    instance->attach_functor([self, addr = instance.address()](const caf::error&) {
      if (auto strong = caf::actor_cast<caf::strong_actor_ptr>(self))
        static_cast<name_proxy*>(caf::actor_cast<caf::abstract_actor*>(strong))
          ->instance_died(addr);
    });
    return {};
  }

  void instance_died(const caf::actor_addr& addr) {
    std::unique_lock<caf::detail::shared_spinlock> guard{lock_};
    if (state_ == name_state::bound && target_ && target_->address() == addr) {
      target_ = nullptr;
      state_ = name_state::restarting;
    }
  }

  void restarting() {
    std::unique_lock<caf::detail::shared_spinlock> guard{lock_};
    if (state_ != name_state::bound) {
      target_ = nullptr;
      state_ = name_state::restarting;
    }
  }

  void unbind() {
    std::unique_lock<caf::detail::shared_spinlock> guard{lock_};
    target_ = nullptr;
    state_ = name_state::unbound;
    while (!buffer_.empty()) {
      reject(buffer_.front(), errc::service_unavailable);
      buffer_.pop_front();
    }
  }

  name_stats stats() {
    std::unique_lock<caf::detail::shared_spinlock> guard{lock_};
    name_stats out;
    out.name = name_;
    out.state = state_;
    out.instance = caf::actor_cast<caf::actor>(target_);
    out.buffered = buffer_.size();
    out.dropped = dropped_;
    out.rejected = rejected_;
    return out;
  }

private:
  // Requests get a named error; one-way messages are counted as dropped.
  void reject(caf::mailbox_element_ptr& what, errc code) {
    if (what->mid.is_request()) {
      ++rejected_;
      // CAF's own bounce always answers request_receiver_down; we name the reason.
      if (what->sender)
        what->sender->enqueue(nullptr, what->mid.response_id(),
                              caf::make_message(make_error(code, name_)), nullptr);
    } else {
      ++dropped_;
    }
  }

  std::string name_;
  caf::detail::shared_spinlock lock_;
  name_state state_ = name_state::unbound;
  caf::strong_actor_ptr target_;
  std::deque<caf::mailbox_element_ptr> buffer_;
  size_t buffer_size_ = defaults::name_buffer_size;
  uint64_t dropped_ = 0;
  uint64_t rejected_ = 0;
};

/// All names of one actor system.
class name_registry final : public detail::system_object {
public:
  explicit name_registry(caf::actor_config& cfg) : detail::system_object(cfg) {}

  const char* name() const override { return "warden.names"; }

  name_proxy* find(const std::string& name) {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = names_.find(name);
    return i == names_.end() ? nullptr : proxy(i->second);
  }

  caf::actor handle(const std::string& name) {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = names_.find(name);
    return i == names_.end() ? caf::actor{} : i->second;
  }

  name_proxy* find_or_create(const std::string& name) {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = names_.find(name);
    if (i == names_.end()) {
      auto& sys = home_system();
      caf::actor_config cfg;
      auto hdl = caf::make_actor<name_proxy, caf::actor>(sys.next_actor_id(), sys.node(),
                                                         &sys, cfg, name);
      i = names_.emplace(name, std::move(hdl)).first;
    }
    return proxy(i->second);
  }

  std::vector<std::string> all() {
    std::lock_guard<std::mutex> guard{mtx_};
    std::vector<std::string> out;
    for (auto& kvp : names_)
      out.push_back(kvp.first);
    return out;
  }

private:
  static name_proxy* proxy(const caf::actor& hdl) {
    return static_cast<name_proxy*>(caf::actor_cast<caf::abstract_actor*>(hdl));
  }

  std::mutex mtx_;
  std::map<std::string, caf::actor> names_;
};

constexpr caf::atom_value registry_key = caf::atom("wardenName");

name_registry& registry_of(caf::actor_system& sys) {
  return detail::system_singleton<name_registry>(sys, registry_key);
}

} // namespace

caf::expected<caf::actor> lookup(caf::actor_system& sys, const std::string& name) {
  if (auto hdl = registry_of(sys).handle(name))
    return hdl;
  return make_error(errc::unknown_name, name);
}

caf::expected<name_stats> name_info(caf::actor_system& sys, const std::string& name) {
  if (auto proxy = registry_of(sys).find(name))
    return proxy->stats();
  return make_error(errc::unknown_name, name);
}

std::vector<std::string> registered_names(caf::actor_system& sys) {
  return registry_of(sys).all();
}

namespace names {

caf::error bind(caf::actor_system& sys, const std::string& name, const caf::actor& instance,
                size_t buffer_size) {
  return registry_of(sys).find_or_create(name)->bind(instance, buffer_size);
}

void restarting(caf::actor_system& sys, const std::string& name) {
  if (auto proxy = registry_of(sys).find(name))
    proxy->restarting();
}

void unbind(caf::actor_system& sys, const std::string& name) {
  if (auto proxy = registry_of(sys).find(name))
    proxy->unbind();
}

} // namespace names

} // namespace warden
