/// @file
/// What a full queue does with one more message: the policies of Erlang's `pobox`, shared by
/// bounded buffers (bounded_buffer.hpp) and regulator queues, so bounded inboxes
/// (inbox.hpp). Whatever the policy, a refused *call* is always answered with an error; the
/// policies differ in which message loses and in how the loss is counted.
#pragma once

#include <cstdint>

namespace warden {

/// What a push to a full queue does.
enum class overflow_policy : uint8_t {
  reject_new,   ///< refuse the new message; a call gets an error (buffer_full, rejected)
  drop_oldest,  ///< drop the oldest message to make room (pobox `queue`)
  keep_old,     ///< drop the new message, counted as dropped (pobox `keep_old`)
};

/// The stable name of `x`, e.g. "drop_oldest".
inline const char* to_string(overflow_policy x) {
  switch (x) {
    case overflow_policy::reject_new: return "reject_new";
    case overflow_policy::drop_oldest: return "drop_oldest";
    case overflow_policy::keep_old: return "keep_old";
  }
  return "unknown";
}

} // namespace warden
