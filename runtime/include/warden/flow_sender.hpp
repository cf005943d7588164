/// @file
/// Credit-based flow from a producer to a consumer service (the demand of GenStage and
/// Reactive Streams): the consumer grants how many items it can take, and the producer
/// never has more than that in flight. A slow consumer therefore slows its producer: items
/// wait in the producer's bounded buffer, and when that is full the producer's own callers
/// hear it (`errc::buffer_full`, or a drop by policy), instead of any mailbox growing.
///
/// The consumer is any actor that answers `(demand_atom)` with a `uint32_t` grant and
/// answers every item when it is done with it. A regulator front (regulator.hpp) does:
/// its grant is what it holds without refusing (`floor(effective limit) + max_size`), so
/// a producer within its grant is never rejected. The producer asks for the grant when it
/// starts and after every `regrant_interval`; a refused item (`rejected`: the consumer's
/// limit fell) stops the flow until the consumer grants again, asked at once. Items are sent as requests; any answer
/// (a value, an error) ends the item's flight. Errors are counted per kind and the item is
/// not resent (at most once; wrap it in `retry.hpp` logic where needed).
///
/// The target is looked up for every item (`route`): a consumer that moves (a cluster
/// service failing over) is followed. In a node, `route` is `warden::call_route(sys,
/// name)` (cluster_names.hpp), so the flow crosses nodes by name.
///
/// | setting            | default    | meaning                                               |
/// |--------------------|------------|-------------------------------------------------------|
/// | `name`             | "flow"     | in errors and stats                                   |
/// | `max_in_flight`    | 64         | the producer's own cap; the grant may lower it        |
/// | `buffer`           | 1000       | items kept at the producer while no credit is left    |
/// | `policy`           | reject_new | a full buffer: refuse (`buffer_full`), drop the oldest, or drop the new item |
/// | `item_timeout`     | 5 s        | an unanswered item's flight ends (counted as timed out) |
/// | `regrant_interval` | 1 s        | how often the producer asks for the grant again       |
///
/// ```cpp
/// // In a producer actor (event-based; `self` outlives the sender):
/// warden::flow_sender out{self, [sys = &self->system()] { return warden::call_route(*sys, "sink"); },
///                         {.name = "to-sink", .buffer = 500}};
/// if (auto err = out.offer(caf::make_message(reading{42})))
///   ... // buffer_full: the consumer is slow; slow down or drop
/// ```
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/expected.hpp>
#include <caf/message.hpp>

#include "warden/atoms.hpp"
#include "warden/bounded_buffer.hpp"

namespace warden {

struct flow_settings {
  std::string name = "flow";
  uint32_t max_in_flight = 64;
  size_t buffer = 1000;
  overflow_policy policy = overflow_policy::reject_new;
  caf::timespan item_timeout = std::chrono::seconds{5};
  caf::timespan regrant_interval = std::chrono::seconds{1};
};

/// Figures of one flow.
struct flow_stats {
  uint32_t grant = 0;       ///< the consumer's last grant
  uint32_t in_flight = 0;   ///< sent and not yet answered
  size_t buffered = 0;      ///< waiting at the producer
  uint64_t sent = 0;
  uint64_t answered = 0;    ///< answered with a value
  uint64_t failed = 0;      ///< answered with an error (refusals included)
  uint64_t refused = 0;     ///< of `failed`: the consumer said rejected
  uint64_t timed_out = 0;   ///< of `failed`: no answer within item_timeout
  uint64_t dropped = 0;     ///< by the buffer's policy (drop_oldest, keep_old)
  uint64_t no_route = 0;    ///< of `failed`: the consumer could not be found
};

/// The producer's side of one flow. Lives inside one event-based actor (`self`), which
/// must outlive it; all calls on that actor's thread.
class flow_sender {
public:
  using route_function = std::function<caf::expected<caf::actor>()>;

  flow_sender(caf::event_based_actor* self, route_function route, flow_settings s = {});
  ~flow_sender();

  flow_sender(const flow_sender&) = delete;
  flow_sender& operator=(const flow_sender&) = delete;

  /// Hands `item` to the flow: sent at once while credit is left, else buffered. Errors:
  /// `errc::buffer_full` (reject_new with a full buffer; context: name). Drops by the
  /// other policies are counted, not errors.
  caf::error offer(caf::message item);

  flow_stats stats() const;

private:
  struct state;
  std::shared_ptr<state> st_;  // shared with the response handlers
};

} // namespace warden
