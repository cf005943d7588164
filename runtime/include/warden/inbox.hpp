/// @file
/// Bounded inboxes: a service's mailbox with a size limit and an overflow policy.
///
/// A CAF mailbox is unbounded: a flood of messages grows it until the node dies. A service
/// declared with an inbox gets a front (a regulator, regulator.hpp) that holds at most
/// `capacity` messages waiting for it and hands them on `in_flight` at a time, each once
/// the service handled the one before: the service's own mailbox never holds more than
/// `in_flight` of them. What a full inbox does follows Erlang's `pobox`:
///
/// - `reject_new`: the new message loses. A call gets `errc::rejected` at once (back
///   pressure); a one-way message is dropped and counted.
/// - `drop_oldest`: the oldest waiting message loses. Its call gets `errc::rejected`; a
///   one-way one is dropped and counted.
/// - `keep_old`: as reject_new (pobox's name): calls are never dropped silently.
///
/// A message waits at most `max_wait` (a call then gets `errc::queue_timeout`): a sender
/// inside the node sees either the answer, a full answer, or the end of a bounded wait. The
/// front's figures (`stats_atom`, `GET /regulation`) count every loss: `rejected`,
/// `dropped_oldest`, `timed_out`, and `dropped` (one-way messages whose sender was not told).
/// Akka's bounded mailboxes block the sender's thread; here nobody blocks.
///
/// An inbox is a regulator in disguise: `with_inbox(service, s)` is
/// `regulated_service(service, config of to_regulator_settings(s))`, so the pair is one
/// supervised child, restarts together and keeps a reconfigured capacity. The service sees
/// the front as the sender of one-way messages. Use `[children.regulator]` (or a regulator
/// in code) for rate limits, CoDel or feedback; use a bounded buffer (bounded_buffer.hpp)
/// when the service pulls its work.
///
/// | setting        | default      | meaning                                             |
/// |----------------|--------------|-----------------------------------------------------|
/// | `name`         | "inbox"      | in errors, events and stats (tree files: the child's name) |
/// | `capacity`     | 1000         | messages waiting at most (0: none wait)             |
/// | `overflow`     | reject_new   | what a full inbox does (table above)                |
/// | `max_wait`     | 5 s          | longest wait of a message (never infinite)          |
/// | `in_flight`    | 4            | messages handed to the service at once              |
/// | `call_timeout` | 5 s          | longest the service may take to answer one          |
///
/// ```cpp
/// warden::inbox_settings in;
/// in.name = "ingest";
/// in.capacity = 100;
/// in.overflow = warden::overflow_policy::drop_oldest;  // fresh samples matter most
/// spec.start = warden::with_inbox(warden::service(ingest_fn), in);
/// ```
/// In a tree file: `[children.inbox]` with `capacity`, `overflow`, `max_wait_ms`,
/// `in_flight`, `call_timeout_ms` (docs/regulation.md).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <caf/timespan.hpp>

#include "warden/overflow_policy.hpp"
#include "warden/regulator.hpp"
#include "warden/service.hpp"

namespace warden {

/// A bounded inbox; the defaults are the table above.
struct inbox_settings {
  std::string name = "inbox";
  uint32_t capacity = 1000;
  overflow_policy overflow = overflow_policy::reject_new;
  caf::timespan max_wait = std::chrono::seconds{5};
  uint32_t in_flight = 4;
  caf::timespan call_timeout = std::chrono::seconds{5};
};

/// The regulator an inbox is: a FIFO counter front with limit `in_flight`, `max_size`
/// `capacity`, `max_time` `max_wait` and the overflow policy (other settings: defaults).
regulator_settings to_regulator_settings(const inbox_settings& s);

/// `service` behind a bounded inbox, as one child (see `regulated_service`). Settings that
/// fail `validate` (in_flight 0, a zero wait) fail the start with `bad_config`.
start_function with_inbox(start_function service, const inbox_settings& s);

} // namespace warden
