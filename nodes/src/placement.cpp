#include "warden/placement.hpp"

#include <algorithm>
#include <string>
#include <tuple>

namespace warden {

namespace {

constexpr uint64_t fnv_offset_basis = 14695981039346656037ull;
constexpr uint64_t fnv_prime = 1099511628211ull;

/// True if `x` beats `y` for a key: higher score, then smaller address, then smaller
/// incarnation. A total order on distinct members, so the result is independent of the
/// candidates' order.
bool beats(uint64_t x_score, const member_info& x, uint64_t y_score, const member_info& y) {
  if (x_score != y_score)
    return x_score > y_score;
  if (x.address != y.address)
    return x.address < y.address;
  return x.incarnation < y.incarnation;
}

bool identity_less(const member_info& x, const member_info& y) {
  return std::tie(x.address, x.incarnation) < std::tie(y.address, y.incarnation);
}

} // namespace

uint64_t placement_hash(std::string_view bytes) {
  uint64_t h = fnv_offset_basis;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= fnv_prime;
  }
  // splitmix64 finaliser: FNV-1a alone mixes the last bytes poorly into the high bits,
  // and keys differ mostly in their last bytes ("name#1" vs "name#2").
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

uint64_t placement_score(std::string_view key, const member_info& member) {
  std::string buf;
  buf.reserve(key.size() + 1 + member.name.size());
  buf.append(key);
  buf.push_back('\n');
  buf.append(member.name);
  return placement_hash(buf);
}

std::string instance_key(std::string_view name, uint32_t index) {
  std::string key{name};
  key.push_back('#');
  key += std::to_string(index);
  return key;
}

std::optional<member_info> place_singleton(std::string_view key,
                                           std::span<const member_info> candidates) {
  const member_info* best = nullptr;
  uint64_t best_score = 0;
  for (auto& c : candidates) {
    auto s = placement_score(key, c);
    if (!best || beats(s, c, best_score, *best)) {
      best = &c;
      best_score = s;
    }
  }
  if (!best)
    return std::nullopt;
  return *best;
}

std::vector<member_info> place_spread(std::string_view name, uint32_t instances,
                                      std::span<const member_info> candidates) {
  std::vector<member_info> members{candidates.begin(), candidates.end()};
  std::sort(members.begin(), members.end(), identity_less);
  members.erase(std::unique(members.begin(), members.end(), same_member), members.end());
  std::vector<member_info> owners;
  if (members.empty())
    return owners;
  owners.reserve(instances);
  std::vector<uint32_t> held(members.size(), 0);
  for (uint32_t i = 0; i < instances; ++i) {
    auto key = instance_key(name, i);
    auto fewest = *std::min_element(held.begin(), held.end());
    size_t best = members.size();
    uint64_t best_score = 0;
    for (size_t j = 0; j < members.size(); ++j) {
      if (held[j] != fewest)
        continue;
      auto s = placement_score(key, members[j]);
      if (best == members.size() || beats(s, members[j], best_score, members[best])) {
        best = j;
        best_score = s;
      }
    }
    ++held[best];
    owners.push_back(members[best]);
  }
  return owners;
}

} // namespace warden
