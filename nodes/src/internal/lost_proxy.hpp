// Messages to actors whose node CAF has lost. CAF 0.17.6 drops a message to the proxy of
// such an actor without a word: kill_proxy forgets the proxy's broker, and forward_msg
// then sends nothing, not even a request's error, so the caller waits for its timeout
// (seen as 1 s recoveries in the kill_node chaos check). Local actors bounce requests
// themselves once terminated; a killed proxy must be answered here. Not part of the API.
//
//   if (internal::is_gone(target)) return make_error(...);      // before a request
//   internal::enqueue_or_bounce(target, std::move(what), ctx);   // forwarding a message
#pragma once

#include <caf/abstract_actor.hpp>
#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/make_message.hpp>
#include <caf/sec.hpp>

namespace warden::internal {

/// True once `x` has terminated (for a proxy: CAF lost its node or the actor exited).
inline bool is_gone(const caf::actor& x) {
  auto* a = caf::actor_cast<caf::abstract_actor*>(x);
  return a != nullptr && a->getf(caf::abstract_actor::is_cleaned_up_flag);
}

/// Answers `what`, if a request, with `sec::request_receiver_down`; drops a one-way message.
inline void bounce(const caf::mailbox_element& what, caf::execution_unit* ctx) {
  if (what.mid.is_request() && what.sender)
    what.sender->enqueue(nullptr, what.mid.response_id(),
                         caf::make_message(caf::make_error(caf::sec::request_receiver_down)),
                         ctx);
}

/// Enqueues `what` to `target`; a message to a terminated target is bounced instead
/// (what CAF does for a local actor).
inline void enqueue_or_bounce(const caf::actor& target, caf::mailbox_element_ptr what,
                              caf::execution_unit* ctx) {
  if (is_gone(target))
    bounce(*what, ctx);
  else
    target->enqueue(std::move(what), ctx);
}

} // namespace warden::internal
