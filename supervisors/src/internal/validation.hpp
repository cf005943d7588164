// Flag and child-spec validation (named errors, OTP's check_flags / check_childspec).
#pragma once

#include <vector>

#include <caf/error.hpp>

#include "warden/child_spec.hpp"
#include "warden/supervisor_flags.hpp"

namespace warden::internal {

caf::error validate_flags(const supervisor_flags& flags);

/// One spec on its own (start_child); `flags` decides the significant rules.
caf::error validate_spec(const child_spec& spec, const supervisor_flags& flags);

/// All specs of a supervisor: each, plus duplicate ids and the dynamic rules.
caf::error validate_children(const std::vector<child_spec>& specs, const supervisor_flags& flags);

} // namespace warden::internal
