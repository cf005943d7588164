// Parsing and the typed readers shared by Warden's TOML parsers (tree file, fault plan,
// chaos scenario): every
// failure is `errc::bad_config` with "FILE:LINE: FIELD: what" (not part of the API).
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <fmt/format.h>
#include <toml++/toml.h>

#include "warden/detail/text.hpp"
#include "warden/detail/toml_text.hpp"
#include "warden/errors.hpp"

namespace warden::detail {

/// Parses `text`; a syntax error is `errc::bad_config` "SOURCE:LINE: syntax: what".
inline caf::expected<toml::table> parse_toml(std::string_view text, const std::string& source) {
  try {
    return toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    return make_error(errc::bad_config, fmt::format("{}:{}: syntax: {}", source,
                                                    e.source().begin.line, e.description()));
  }
}

class toml_reader {
public:
  explicit toml_reader(std::string file) : file_(std::move(file)) {
  }

  const std::string& file() const { return file_; }

  caf::error fail(int line, const std::string& field, const std::string& what) const {
    return make_error(errc::bad_config, fmt::format("{}:{}: {}: {}", file_, line, field, what));
  }

  /// The first key of `t` not in `allowed`, as an error naming `prefix` + key.
  caf::error check_keys(const toml::table& t, const std::string& prefix,
                        const std::vector<std::string>& allowed) const {
    for (auto&& [key, node] : t) {
      bool known = false;
      for (auto& a : allowed)
        known = known || a == key.str();
      if (!known)
        return fail(line_of(node), prefix + std::string{key.str()},
                    fmt::format("unknown key (allowed here: {})", join(allowed)));
    }
    return {};
  }

  caf::expected<int64_t> read_int(const toml::node& n, const std::string& field, int64_t min,
                                  int64_t max) const {
    if (!n.is_integer())
      return fail(line_of(n), field, fmt::format("expected an integer, got {}", toml_type_name(n)));
    auto x = n.as_integer()->get();
    if (x < min)
      return fail(line_of(n), field, fmt::format("must be >= {}, got {}", min, x));
    if (x > max)
      return fail(line_of(n), field, fmt::format("must be <= {}, got {}", max, x));
    return x;
  }

  /// An integer or a float in [min, max] (NaN is refused).
  caf::expected<double> read_number(const toml::node& n, const std::string& field, double min,
                                    double max = std::numeric_limits<double>::max()) const {
    double x = 0;
    if (n.is_floating_point())
      x = n.as_floating_point()->get();
    else if (n.is_integer())
      x = static_cast<double>(n.as_integer()->get());
    else
      return fail(line_of(n), field, fmt::format("expected a number, got {}", toml_type_name(n)));
    if (!(x >= min))  // also rejects NaN
      return fail(line_of(n), field, fmt::format("must be >= {}, got {}", min, x));
    if (x > max)
      return fail(line_of(n), field, fmt::format("must be <= {}, got {}", max, x));
    return x;
  }

  caf::expected<std::string> read_string(const toml::node& n, const std::string& field) const {
    if (!n.is_string())
      return fail(line_of(n), field, fmt::format("expected a string, got {}", toml_type_name(n)));
    return n.as_string()->get();
  }

  caf::expected<bool> read_bool(const toml::node& n, const std::string& field) const {
    if (!n.is_boolean())
      return fail(line_of(n), field,
                  fmt::format("expected true or false, got {}", toml_type_name(n)));
    return n.as_boolean()->get();
  }

private:
  std::string file_;
};

} // namespace warden::detail
