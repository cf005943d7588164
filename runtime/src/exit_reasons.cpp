#include "warden/exit_reasons.hpp"

#include <caf/deep_to_string.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>
#include <caf/sec.hpp>

#include "warden/errors.hpp"

namespace warden {

namespace {

constexpr caf::atom_value exit_category = caf::atom("exit");
constexpr caf::atom_value system_category = caf::atom("system");

// An empty caf::error (normal) has no category: CAF 0.17 dereferences null there.
bool is_exit(const caf::error& reason, caf::exit_reason code) {
  return reason && reason.category() == exit_category && reason.code() == static_cast<uint8_t>(code);
}

// Renders a context element: strings quoted, nested errors described.
std::string describe_element(const caf::message& ctx, size_t i) {
  if (ctx.match_element<caf::error>(i))
    return describe(ctx.get_as<caf::error>(i));
  if (ctx.match_element<std::string>(i))
    return "\"" + ctx.get_as<std::string>(i) + "\"";
  return ctx.stringify(i);
}

std::string describe_context(const caf::message& ctx) {
  if (ctx.empty())
    return {};
  std::string out = "(";
  for (size_t i = 0; i < ctx.size(); ++i) {
    if (i > 0)
      out += ", ";
    out += describe_element(ctx, i);
  }
  out += ")";
  return out;
}

} // namespace

bool is_normal(const caf::error& reason) {
  return !reason || is_exit(reason, caf::exit_reason::normal);
}

bool is_shutdown(const caf::error& reason) {
  return is_exit(reason, caf::exit_reason::user_shutdown);
}

bool is_killed(const caf::error& reason) {
  return is_exit(reason, caf::exit_reason::kill);
}

caf::error exception_reason(const std::exception_ptr& ptr) {
  try {
    std::rethrow_exception(ptr);
  } catch (const std::exception& e) {
    return caf::make_error(caf::sec::runtime_error, std::string{e.what()});
  } catch (...) {
    return caf::make_error(caf::sec::runtime_error, std::string{"unknown exception"});
  }
}

void send_exit_signal(const caf::actor& dest, caf::error reason) {
  if (dest)
    caf::anon_send(dest, caf::exit_msg{dest.address(), std::move(reason)});
}

std::string describe(const caf::error& reason) {
  if (!reason)
    return "normal";
  std::string name;
  auto cat = reason.category();
  if (cat == exit_category) {
    switch (static_cast<caf::exit_reason>(reason.code())) {
      case caf::exit_reason::user_shutdown: name = "shutdown"; break;
      case caf::exit_reason::kill: name = "killed"; break;
      default: name = caf::to_string(static_cast<caf::exit_reason>(reason.code()));
    }
  } else if (cat == system_category) {
    name = caf::to_string(static_cast<caf::sec>(reason.code()));
  } else if (cat == error_category) {
    name = to_string(static_cast<errc>(reason.code()));
  } else {
    name = caf::to_string(cat) + ":" + std::to_string(reason.code());
  }
  return name + describe_context(reason.context());
}

} // namespace warden
