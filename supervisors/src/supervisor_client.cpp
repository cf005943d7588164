// Starting supervisors, and blocking calls to them.
#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include "internal/supervisor_actor.hpp"
#include "warden/exit_reasons.hpp"
#include "warden/supervisor.hpp"

namespace warden {

namespace {

std::string child_path(const std::string& parent, const std::string& name) {
  return parent.empty() ? name : parent + "/" + name;
}

// Calls to a supervisor that is gone fail with one named error.
caf::error map_call_error(caf::error err) {
  if (err == caf::sec::request_receiver_down || err == caf::sec::invalid_argument)
    return make_error(errc::no_supervisor);
  return err;
}

} // namespace

start_function supervisor_start(supervisor_flags flags, std::vector<child_spec> children) {
  return [flags = std::move(flags), children = std::move(children)](
           caf::local_actor* spawner, start_info info) {
    auto path = child_path(info.parent_path, flags.name);
    return spawner->spawn<internal::supervisor_actor>(flags, children, std::move(info),
                                                      std::move(path));
  };
}

child_spec supervisor_child(std::string id, supervisor_flags flags,
                            std::vector<child_spec> children) {
  if (flags.name.empty() || flags.name == supervisor_flags{}.name)
    flags.name = id;
  child_spec spec;
  spec.id = std::move(id);
  spec.type = child_type::supervisor;
  spec.start = supervisor_start(std::move(flags), std::move(children));
  return spec;
}

caf::actor spawn_supervisor(caf::actor_system& sys, supervisor_flags flags,
                            std::vector<child_spec> children, start_info info) {
  auto path = flags.name;
  return sys.spawn<internal::supervisor_actor>(std::move(flags), std::move(children),
                                               std::move(info), std::move(path));
}

caf::expected<caf::actor> start_supervisor(caf::actor_system& sys, supervisor_flags flags,
                                           std::vector<child_spec> children,
                                           caf::timespan timeout) {
  caf::scoped_actor self{sys};
  start_info info;
  info.supervisor = caf::actor{self};
  info.token = 1;
  auto sup = spawn_supervisor(sys, std::move(flags), std::move(children), std::move(info));
  self->monitor(sup);
  caf::expected<caf::actor> result{sup};
  self->receive(
    [&](init_ack_atom, uint64_t, bool, caf::error& err) {
      if (err)
        result = std::move(err);
    },
    [&](caf::down_msg& msg) { result = msg.reason ? msg.reason : make_error(errc::no_supervisor); },
    caf::after(timeout) >> [&] {
      self->send_exit(sup, caf::exit_reason::kill);
      result = make_error(errc::start_timeout, std::string{"root supervisor"});
    });
  self->demonitor(sup);
  return result;
}

caf::error stop_supervisor(caf::actor_system& sys, const caf::actor& sup,
                           caf::timespan timeout) {
  if (!sup)
    return make_error(errc::no_supervisor);
  caf::scoped_actor self{sys};
  self->monitor(sup);
  self->send_exit(sup, caf::exit_reason::user_shutdown);
  caf::error result;
  self->receive(
    [&](caf::down_msg& msg) { result = msg.reason; },
    caf::after(timeout) >> [&] { result = make_error(errc::start_timeout, std::string{"stop"}); });
  return result;
}

supervisor_client::supervisor_client(caf::actor_system& sys, caf::actor sup,
                                     caf::timespan timeout)
  : sys_(sys), sup_(std::move(sup)), timeout_(timeout) {
}

template <class T, class... Ts>
caf::expected<T> supervisor_client::call(Ts&&... xs) {
  if (!sup_)
    return make_error(errc::no_supervisor);
  caf::scoped_actor self{sys_};
  caf::expected<T> result{caf::error{}};
  self->request(sup_, timeout_, std::forward<Ts>(xs)...)
    .receive([&](T& x) { result = std::move(x); },
             [&](caf::error& err) { result = map_call_error(std::move(err)); });
  return result;
}

caf::expected<caf::actor> supervisor_client::start_child(child_spec spec) {
  return call<caf::actor>(start_child_atom::value, std::move(spec));
}

caf::expected<caf::actor> supervisor_client::start_child(caf::message args) {
  return call<caf::actor>(start_child_atom::value, std::move(args));
}

caf::error supervisor_client::terminate_child(const std::string& id) {
  auto res = call<ok_atom>(terminate_child_atom::value, id);
  return res ? caf::error{} : res.error();
}

caf::error supervisor_client::terminate_child(const caf::actor& child) {
  auto res = call<ok_atom>(terminate_child_atom::value, child);
  return res ? caf::error{} : res.error();
}

caf::expected<caf::actor> supervisor_client::restart_child(const std::string& id) {
  return call<caf::actor>(restart_child_atom::value, id);
}

caf::error supervisor_client::delete_child(const std::string& id) {
  auto res = call<ok_atom>(delete_child_atom::value, id);
  return res ? caf::error{} : res.error();
}

caf::expected<std::vector<child_info>> supervisor_client::which_children() {
  return call<std::vector<child_info>>(which_children_atom::value);
}

caf::expected<child_counts> supervisor_client::count_children() {
  return call<child_counts>(count_children_atom::value);
}

caf::expected<child_spec> supervisor_client::get_childspec(const std::string& id) {
  return call<child_spec>(get_childspec_atom::value, id);
}

caf::expected<supervisor_status> supervisor_client::status() {
  return call<supervisor_status>(child_status_atom::value);
}

} // namespace warden
