/// @file
/// Bounded buffers: a queue of at most `capacity` items with an overflow policy, and an
/// actor that puts one in front of a worker so the worker's load never grows its memory.
/// Follows Erlang's `pobox` (ferd): a buffer process that holds messages under a size
/// limit, drops by policy (`queue` = drop_oldest, `keep_old`) and counts the drops, with a
/// worker that pulls (`notify` mode) or is pushed one item at a time (`active` mode).
/// Differs from pobox: a third policy `reject_new` refuses new items and tells a
/// synchronous sender (`errc::buffer_full`); `post_wait` lets a sender wait (bounded)
/// for space, which is back pressure the sender feels; capacity changes at run time; in
/// active mode the worker's reply to an item is its ack. Akka's bounded mailboxes block
/// the sender's thread instead; here nobody blocks, and every wait has a maximum.
///
/// Settings (`buffer_settings`, defaults in code there):
///
/// | setting          | default     | meaning                                                  |
/// |------------------|-------------|----------------------------------------------------------|
/// | `name`           | "buffer"    | reported in stats and in every `buffer_full` error       |
/// | `capacity`       | 1000        | items held at most (0 means 1)                           |
/// | `policy`         | reject_new  | what a push to a full buffer does                        |
/// | `max_waiting`    | 1000        | post_wait requests waiting at most; more are answered full |
/// | `max_wait_limit` | 60 s        | cap on every wait: post_wait's max_wait, take's wait     |
/// | `take_wait`      | 10 s        | how long `(take_atom, n)` waits on an empty buffer       |
/// | `ack_timeout`    | 30 s        | active mode: how long the buffer waits for a reply       |
/// | `worker`         | none        | active mode from the start (same as `active_atom`)       |
///
/// The buffer actor's protocol (requests, except the first row):
///
/// | message                                         | answers                                  |
/// |-------------------------------------------------|------------------------------------------|
/// | any other message, sent asynchronously          | none; buffered per policy                |
/// | any other message, sent as a request            | `sec::unexpected_message` (use post)     |
/// | (post_atom, caf::message item)                  | ok; buffer_full if full (not drop_oldest) |
/// | (post_wait_atom, caf::message item, caf::timespan w) | ok, maybe later; buffer_full after w |
/// | (take_atom, uint32_t n)                         | std::vector<caf::message>: up to n items |
/// | (take_atom, uint32_t n, caf::timespan w)        | the same, waiting at most w (0: never)   |
/// | (active_atom, caf::actor worker)                | ok; `sec::invalid_argument` (no worker)  |
/// | (passive_atom)                                  | ok                                       |
/// | (stats_atom)                                    | buffer_stats                             |
/// | (resize_atom, uint32_t capacity)                | ok                                       |
///
/// - post: under reject_new and keep_old a full buffer answers buffer_full at once (the
///   item is not stored); drop_oldest always stores it and answers ok.
/// - post_wait: a full buffer keeps the request (FIFO, whatever the policy) until space
///   frees, then stores the item and answers ok. After `w` (capped by max_wait_limit) it
///   answers buffer_full and the item is never stored. `w` = 0, or max_waiting requests
///   already waiting: buffer_full at once.
/// - take: the oldest items, oldest first. On an empty buffer the request waits for an
///   item (pobox's notify mode), at most take_wait (or `w`), then answers no items.
/// - active: pushes items to `worker` one at a time (replaces a previous worker); passive
///   stops that. resize: shrinking drops per policy (counted as dropped_on_resize),
///   growing admits waiting posters; 0 means 1.
///
/// Active mode: the buffer sends each item to the worker as a request carrying the
/// original message (the worker's handlers are unchanged) and sends the next one only
/// after the worker replied to it: the reply, whatever it is (a value, `ack_atom`, the
/// empty reply of a void handler, an error), is the ack. So the worker's mailbox never
/// holds more than one buffered item. After `ack_timeout` without a reply the buffer
/// counts an ack timeout and goes on. The buffer monitors the worker and leaves active
/// mode when it dies; a restarted worker registers again (e.g. in its init). An item
/// that never reached a dead worker (`sec::request_receiver_down`) goes back to the
/// front. Waiting takers are served before the active worker. Delivery is at most once
/// (as pobox): an item handed to a taker or a worker is gone from the buffer.
///
/// Sent asynchronously, protocol messages get no answer: post and post_wait still buffer
/// their item (post_wait may still wait), active/passive/resize still act, take and stats
/// are ignored. A message holding just a `caf::error` is an item too (CAF would otherwise
/// hand it to the error handler, which quits). An exit other than normal answers every
/// waiting request with the exit reason, then the buffer stops.
///
/// Waits never outlive `max_wait_limit`. A taker should request with a timeout longer
/// than its wait: an item answered to a request that already timed out is lost.
///
/// ```cpp
/// auto buf = warden::spawn_bounded_buffer(sys, {.name = "ingest", .capacity = 100,
///                                               .policy = warden::overflow_policy::drop_oldest});
/// caf::anon_send(buf, sample{42});                    // buffered; the oldest dropped if full
/// self->request(buf, 1s, warden::post_atom::value, caf::make_message(sample{43}))
///   .then([](warden::ok_atom) {}, [](caf::error& err) { /* buffer_full: back off */ });
/// self->request(buf, 15s, warden::take_atom::value, uint32_t{10})
///   .then([](std::vector<caf::message>& items) { /* work, then take again */ });
/// caf::anon_send(buf, warden::active_atom::value, worker);  // push mode instead of take
///
/// warden::bounded_buffer<int> b{3, warden::overflow_policy::keep_old};  // pure logic
/// for (int i = 0; i < 5; ++i) b.push(i);                               // keeps 0, 1, 2
/// ```
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/message.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/timespan.hpp>

#include "warden/atoms.hpp"
#include "warden/overflow_policy.hpp"

namespace warden {

// --- the buffer actor's protocol (see the table above) ---
/// `(post_atom, caf::message)`: buffer, answer ok or buffer_full.
using post_atom = caf::atom_constant<caf::atom("post")>;
/// `(post_wait_atom, caf::message, caf::timespan)`: buffer, waiting for space if needed.
using post_wait_atom = caf::atom_constant<caf::atom("postWait")>;
/// `(take_atom, uint32_t n [, caf::timespan max_wait])`: the worker pulls.
using take_atom = caf::atom_constant<caf::atom("take")>;
/// `(active_atom, caf::actor worker)`: push items to a worker, one per reply.
using active_atom = caf::atom_constant<caf::atom("active")>;
/// `(passive_atom)`: stop pushing.
using passive_atom = caf::atom_constant<caf::atom("passive")>;
/// What an active-mode worker may reply when it has nothing else to say (any reply acks).
using ack_atom = caf::atom_constant<caf::atom("ack")>;
// `(stats_atom)` (atoms.hpp): answers buffer_stats.
/// `(resize_atom, uint32_t capacity)`: live reconfiguration.
using resize_atom = caf::atom_constant<caf::atom("resize")>;

/// What a push did.
enum class push_result : uint8_t {
  accepted,        ///< stored; nothing dropped
  dropped_oldest,  ///< stored; the oldest item was dropped for it
  dropped_new,     ///< not stored: the buffer was full under keep_old
  rejected,        ///< not stored: the buffer was full under reject_new
};

/// The stable name of `x`, e.g. "dropped_oldest".
const char* to_string(push_result x);

/// A buffer's counters since it was made. Every push is accepted, rejected or
/// dropped_new; every accepted item is still held, taken, dropped_oldest or
/// dropped_on_resize.
struct buffer_counters {
  uint64_t accepted = 0;           ///< items stored
  uint64_t rejected = 0;           ///< pushes refused under reject_new
  uint64_t dropped_new = 0;        ///< new items dropped under keep_old
  uint64_t dropped_oldest = 0;     ///< held items dropped for new ones (drop_oldest), or
                                   ///< put back into a full buffer
  uint64_t dropped_on_resize = 0;  ///< held items dropped by shrinking the capacity
  uint64_t taken = 0;              ///< items removed by take
  uint64_t peak_size = 0;          ///< the most items ever held at once

  /// All items lost without the sender learning it (rejections excluded).
  uint64_t dropped() const { return dropped_new + dropped_oldest + dropped_on_resize; }
};

/// A FIFO of at most `capacity` items with an overflow policy. Pure logic: no actor, no
/// time, no locks (one owner).
template <class T>
class bounded_buffer {
public:
  /// A buffer of `capacity` items (at least 1) under `policy`.
  bounded_buffer(size_t capacity, overflow_policy policy)
    : capacity_(std::max<size_t>(capacity, 1)), policy_(policy) {}

  /// Stores `x` at the back, or applies the policy when full.
  push_result push(T x) {
    auto res = push_result::accepted;
    if (full()) {
      switch (policy_) {
        case overflow_policy::reject_new: ++counters_.rejected; return push_result::rejected;
        case overflow_policy::keep_old: ++counters_.dropped_new; return push_result::dropped_new;
        case overflow_policy::drop_oldest:
          items_.pop_front();
          ++counters_.dropped_oldest;
          res = push_result::dropped_oldest;
          break;
      }
    }
    items_.push_back(std::move(x));
    ++counters_.accepted;
    counters_.peak_size = std::max<uint64_t>(counters_.peak_size, items_.size());
    return res;
  }

  /// Removes and returns up to `n` oldest items, oldest first.
  std::vector<T> take(size_t n) {
    n = std::min(n, items_.size());
    std::vector<T> out;
    out.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      out.push_back(std::move(items_.front()));
      items_.pop_front();
    }
    counters_.taken += n;
    return out;
  }

  /// Returns an item taken earlier, unused (its receiver was gone), to the front. When
  /// the buffer is full meanwhile, the item, being the oldest, is dropped instead (counted
  /// as dropped_oldest) and the answer is false.
  bool put_back(T x) {
    --counters_.taken;
    if (full()) {
      ++counters_.dropped_oldest;
      return false;
    }
    items_.push_front(std::move(x));
    return true;
  }

  /// Sets the capacity (at least 1). Shrinking below the size drops items per policy:
  /// the oldest under drop_oldest, the newest otherwise (they are the ones the buffer
  /// would have refused). Returns how many were dropped.
  size_t resize(size_t capacity) {
    capacity_ = std::max<size_t>(capacity, 1);
    size_t dropped = 0;
    while (items_.size() > capacity_) {
      if (policy_ == overflow_policy::drop_oldest)
        items_.pop_front();
      else
        items_.pop_back();
      ++dropped;
    }
    counters_.dropped_on_resize += dropped;
    return dropped;
  }

  size_t size() const { return items_.size(); }
  size_t capacity() const { return capacity_; }
  bool empty() const { return items_.empty(); }
  bool full() const { return items_.size() >= capacity_; }
  overflow_policy policy() const { return policy_; }
  const buffer_counters& counters() const { return counters_; }
  /// The held items, oldest first.
  const std::deque<T>& items() const { return items_; }

private:
  std::deque<T> items_;
  size_t capacity_;
  overflow_policy policy_;
  buffer_counters counters_;
};

/// The buffer actor's settings; every default lives here.
struct buffer_settings {
  /// Reported in stats and as the context of buffer_full errors.
  std::string name = "buffer";
  /// Items held at most (0 means 1); changeable with resize_atom.
  uint32_t capacity = 1000;
  /// What a push to a full buffer does. reject_new: overload is explicit.
  overflow_policy policy = overflow_policy::reject_new;
  /// post_wait requests waiting at most; the waiters' items count against memory too.
  uint32_t max_waiting = 1000;
  /// The longest any wait lasts (post_wait's max_wait and take's wait are capped to it).
  caf::timespan max_wait_limit = std::chrono::seconds{60};
  /// How long `(take_atom, n)` waits on an empty buffer before answering no items.
  caf::timespan take_wait = std::chrono::seconds{10};
  /// Active mode: how long the buffer waits for the worker's reply to an item.
  caf::timespan ack_timeout = std::chrono::seconds{30};
  /// Active mode from the start when set (as `(active_atom, worker)`).
  caf::actor worker;
};

/// The answer to `(stats_atom)`.
struct buffer_stats {
  std::string name;
  overflow_policy policy = overflow_policy::reject_new;
  uint32_t size = 0;
  uint32_t capacity = 0;
  buffer_counters counters;      ///< taken counts items handed to takers and the worker
  uint64_t timed_out = 0;        ///< post_wait requests answered buffer_full after max_wait
  uint64_t ack_timeouts = 0;     ///< active mode: items whose reply did not come in time
  uint32_t waiting_posters = 0;  ///< post_wait requests waiting for space
  uint32_t waiting_takers = 0;   ///< take requests waiting for an item
  bool active = false;           ///< a worker is registered (active mode)
  bool in_flight = false;        ///< active mode: an item awaits the worker's reply
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, buffer_counters& x) {
  return f(caf::meta::type_name("warden.buffer_counters"), x.accepted, x.rejected,
           x.dropped_new, x.dropped_oldest, x.dropped_on_resize, x.taken, x.peak_size);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, buffer_stats& x) {
  auto policy = static_cast<uint8_t>(x.policy);
  return f(caf::meta::type_name("warden.buffer_stats"), x.name, policy, x.size, x.capacity,
           x.counters, x.timed_out, x.ack_timeouts, x.waiting_posters,
           x.waiting_takers, x.active, x.in_flight);
}

/// Spawns a buffer actor (protocol above). It runs until killed or sent an exit.
caf::actor spawn_bounded_buffer(caf::actor_system& sys, buffer_settings settings);

/// The buffer actors running in `sys` (for the management endpoint: their `stats_atom`).
std::vector<caf::actor> running_buffers(caf::actor_system& sys);

} // namespace warden
