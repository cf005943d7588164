// Small text helpers shared by the parsers and reports (not part of the API).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace warden::detail {

/// `xs` separated by `sep`: "a, b, c".
inline std::string join(const std::vector<std::string>& xs, std::string_view sep = ", ") {
  return fmt::format("{}", fmt::join(xs, sep));
}

} // namespace warden::detail
