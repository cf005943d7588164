/// @file
/// Placement of cluster services: which member runs which instance, by rendezvous
/// (highest random weight) hashing.
///
/// Every node computes placement on its own from the same inputs, so nodes with the same
/// view agree without talking. An instance key ("name" for a singleton, "name#i" for
/// instance i of a spread service) scores every candidate member with
/// `placement_hash(key + "\n" + member.name)`; the highest score owns it, ties go to the
/// smaller address (then the smaller incarnation). The hash is FNV-1a 64 followed by the
/// splitmix64 finaliser: fixed, so every build on every machine agrees (never std::hash).
///
/// Placement depends only on the candidate set (not its order), so when a member leaves
/// only the keys it owned move, and when one joins only the keys it now wins move to it.
/// Spread services place instances one at a time in index order: instance i goes to the
/// highest-scoring candidate among those holding the fewest instances so far, so
/// `instances <= candidates` gives one instance per member and more instances spread
/// evenly (counts differ by at most one).
///
/// Pure: no actors, no I/O. Candidates are the members *up* in the deciding node's view
/// that declare the service (the caller filters).
///
/// ```cpp
/// auto owner = warden::place_singleton("counter", candidates);  // none without candidates
/// auto owners = warden::place_spread("worker", 4, candidates);   // owners[i] runs worker#i
/// ```
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "warden/membership.hpp"

namespace warden {

/// FNV-1a 64 of `bytes`, then the splitmix64 finaliser (better mixing of the high bits).
/// Stable across builds and machines.
uint64_t placement_hash(std::string_view bytes);

/// The score of `member` for `key`: `placement_hash(key + "\n" + member.name)`.
uint64_t placement_score(std::string_view key, const member_info& member);

/// The key of instance `index` of a spread service: "name#index".
std::string instance_key(std::string_view name, uint32_t index);

/// The owner of `key`: the candidate with the highest score, ties by smaller address
/// (then smaller incarnation). None when there are no candidates.
std::optional<member_info> place_singleton(std::string_view key,
                                           std::span<const member_info> candidates);

/// The owners of the `instances` instances of the spread service `name`: element i owns
/// `instance_key(name, i)`. Empty when there are no candidates. Duplicate candidates
/// (same address and incarnation) count once.
std::vector<member_info> place_spread(std::string_view name, uint32_t instances,
                                      std::span<const member_info> candidates);

} // namespace warden
