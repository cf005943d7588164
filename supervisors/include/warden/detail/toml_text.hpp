// Where a TOML node stands and what it is, for "FILE:LINE: FIELD: what" errors of the tree
// file and the chaos scenario parsers (not part of the API; include after toml++).
#pragma once

#include <toml++/toml.h>

namespace warden::detail {

/// The 1-based line a node starts on.
inline int line_of(const toml::node& n) {
  return static_cast<int>(n.source().begin.line);
}

/// "a string", "an integer", ... for error messages.
inline const char* toml_type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
  }
}

} // namespace warden::detail
