#include "warden/flow_sender.hpp"

#include <algorithm>
#include <optional>

#include <caf/all.hpp>

#include "warden/errors.hpp"

namespace warden {

namespace {

/// Never answers: a request to it is a timer that fires in the requester's own handlers
/// (a flow_sender cannot add handlers to its actor's behavior).
caf::behavior sleeper(caf::event_based_actor*) {
  return {[](demand_atom) { return caf::delegated<uint32_t>{}; }};
}

} // namespace

struct flow_sender::state : std::enable_shared_from_this<state> {
  state(caf::event_based_actor* self, route_function route, flow_settings s)
    : self(self), route(std::move(route)), s(std::move(s)), buf(this->s.buffer, this->s.policy) {
  }

  caf::event_based_actor* self;
  route_function route;
  flow_settings s;
  bounded_buffer<caf::message> buf;
  flow_stats st;
  bool asking = false;
  bool waking = false;
  std::optional<caf::actor_clock::time_point> granted_at;
  caf::actor timer;

  uint32_t window() const { return std::min(s.max_in_flight, st.grant); }

  void ask_grant() {
    if (asking)
      return;
    auto target = route();
    if (!target) {
      wake_later();
      return;
    }
    asking = true;
    std::weak_ptr<state> weak = shared_from_this();
    self->request(*target, s.item_timeout, demand_atom::value)
      .then(
        [weak](uint32_t grant) {
          if (auto x = weak.lock()) {
            x->asking = false;
            x->st.grant = grant;
            x->granted_at = x->self->clock().now();
            x->pump();
          }
        },
        [weak](caf::error&) {
          if (auto x = weak.lock()) {
            x->asking = false;
            x->wake_later();  // no consumer, or it does not grant: ask again later
          }
        });
  }

  /// Runs `pump` after regrant_interval, once.
  void wake_later() {
    if (waking)
      return;
    if (!timer)
      timer = self->home_system().spawn<caf::lazy_init>(sleeper);
    waking = true;
    std::weak_ptr<state> weak = shared_from_this();
    auto fire = [weak] {
      if (auto x = weak.lock()) {
        x->waking = false;
        x->granted_at.reset();  // ask again
        x->pump();
      }
    };
    self->request(timer, s.regrant_interval, demand_atom::value)
      .then([fire](uint32_t) { fire(); }, [fire](caf::error&) { fire(); });
  }

  void pump() {
    auto now = self->clock().now();
    if (!granted_at || now - *granted_at >= s.regrant_interval)
      ask_grant();
    while (st.in_flight < window() && !buf.empty()) {
      auto target = route();
      if (!target) {
        wake_later();  // the consumer moves (fails over): its items wait here
        return;
      }
      send(*target, std::move(buf.take(1).front()));
    }
  }

  void send(const caf::actor& target, caf::message item) {
    ++st.in_flight;
    ++st.sent;
    std::weak_ptr<state> weak = shared_from_this();
    // `then([] {})` matches only an empty answer; any other answer arrives as
    // sec::unexpected_response: both end the item's flight as answered.
    self->request(target, s.item_timeout, std::move(item))
      .then([weak] { done(weak, caf::error{}); },
            [weak](caf::error& err) { done(weak, std::move(err)); });
  }

  static void done(const std::weak_ptr<state>& weak, caf::error err) {
    auto x = weak.lock();
    if (!x)
      return;
    --x->st.in_flight;
    if (!err || err == caf::sec::unexpected_response) {
      ++x->st.answered;
    } else {
      ++x->st.failed;
      if (is(err, errc::rejected)) {
        // The consumer's limit fell: nothing more until it grants again.
        ++x->st.refused;
        x->st.grant = 0;
        x->granted_at.reset();
      } else if (err == caf::sec::request_timeout) {
        ++x->st.timed_out;
      }
    }
    x->pump();
  }
};

flow_sender::flow_sender(caf::event_based_actor* self, route_function route, flow_settings s)
  : st_(std::make_shared<state>(self, std::move(route), std::move(s))) {
}

flow_sender::~flow_sender() {
  if (st_->timer)
    caf::anon_send_exit(st_->timer, caf::exit_reason::user_shutdown);
}

caf::error flow_sender::offer(caf::message item) {
  auto& st = *st_;
  auto before = st.buf.counters().dropped();
  auto result = st.buf.push(std::move(item));
  st.st.dropped += st.buf.counters().dropped() - before;
  if (result == push_result::rejected)
    return make_error(errc::buffer_full, st.s.name);
  st.pump();
  return {};
}

flow_stats flow_sender::stats() const {
  auto out = st_->st;
  out.buffered = st_->buf.size();
  return out;
}

} // namespace warden
