// bounded_buffer: see warden/bounded_buffer.hpp
#include "warden/bounded_buffer.hpp"

#include <caf/all.hpp>

#include "warden/detail/system_singleton.hpp"
#include "warden/errors.hpp"

namespace warden {

const char* to_string(push_result x) {
  switch (x) {
    case push_result::accepted: return "accepted";
    case push_result::dropped_oldest: return "dropped_oldest";
    case push_result::dropped_new: return "dropped_new";
    case push_result::rejected: return "rejected";
  }
  return "unknown";
}

namespace {

// Timers of waiting requests (self messages): `(atom, uint64_t waiter id)`.
using post_timeout_atom = caf::atom_constant<caf::atom("bbPostTmo")>;
using take_timeout_atom = caf::atom_constant<caf::atom("bbTakeTmo")>;

struct waiting_post {
  uint64_t id;
  caf::message item;
  caf::response_promise rp;
  caf::actor_clock::time_point since;
};

struct waiting_take {
  uint64_t id;
  uint32_t n;
  caf::response_promise rp;
};

constexpr caf::atom_value buffer_directory_key = caf::atom("wardenBufs");

struct buffer_state {
  buffer_settings cfg;
  bounded_buffer<caf::message> buf{1, overflow_policy::reject_new};
  std::deque<waiting_post> posters;  // FIFO; non-empty only while the buffer is full
  std::deque<waiting_take> takers;   // FIFO; non-empty only while the buffer is empty
  uint64_t next_id = 0;
  uint64_t timed_out = 0;
  uint64_t ack_timeouts = 0;
  bool in_flight = false;
  uint64_t flight = 0;  // tells the current item's reply from stale ones
};

using buffer_actor = caf::stateful_actor<buffer_state>;

caf::timespan capped(const buffer_state& st, caf::timespan d) {
  return std::clamp(d, caf::timespan{0}, st.cfg.max_wait_limit);
}

caf::error full(const buffer_state& st, std::string why) {
  return make_error(errc::buffer_full, st.cfg.name, std::move(why));
}

bool is_request(buffer_actor* self) {
  return self->current_message_id().is_request();
}

// Answers requests only: an asynchronous sender would get an unsolicited message.
template <class T>
void answer(caf::response_promise& rp, T&& x) {
  if (!rp.async())
    rp.deliver(std::forward<T>(x));
}

void dispatch(buffer_actor* self);

void drop_worker(buffer_actor* self) {
  auto& st = self->state;
  st.cfg.worker = nullptr;
  st.in_flight = false;
  ++st.flight;
}

// Sends the oldest item to the worker; the reply (any, or an error) acks it.
void push_to_worker(buffer_actor* self) {
  auto& st = self->state;
  auto item = std::move(st.buf.take(1).front());
  st.in_flight = true;
  auto flight = ++st.flight;
  auto done = [self, flight, copy = item](const caf::error& err) {
    auto& st = self->state;
    if (err == caf::sec::request_receiver_down) {
      // The worker died before it saw the item: it goes back, and the worker is dropped
      // before its down message arrives so the next item is not lost the same way.
      st.buf.put_back(copy);
      if (flight == st.flight)
        drop_worker(self);
      dispatch(self);
      return;
    }
    if (flight != st.flight)
      return;  // the worker was replaced or died meanwhile
    st.in_flight = false;
    if (err == caf::sec::request_timeout)
      ++st.ack_timeouts;
    dispatch(self);
  };
  // `then([] {})` matches only an empty reply; any other reply arrives as
  // sec::unexpected_response, which is an ack too.
  self->request(st.cfg.worker, capped(st, st.cfg.ack_timeout), std::move(item))
    .then([done] { done(caf::error{}); }, [done](caf::error& err) { done(err); });
}

// Restores the invariants after any change: posters wait only while full, takers only
// while empty, the worker has an item in flight whenever there is one.
void dispatch(buffer_actor* self) {
  auto& st = self->state;
  for (bool progress = true; progress;) {
    progress = false;
    while (!st.posters.empty() && !st.buf.full()) {
      auto w = std::move(st.posters.front());
      st.posters.pop_front();
      st.buf.push(std::move(w.item));
      answer(w.rp, ok_atom::value);
      progress = true;
    }
    while (!st.takers.empty() && !st.buf.empty()) {
      auto t = std::move(st.takers.front());
      st.takers.pop_front();
      t.rp.deliver(st.buf.take(t.n));
      progress = true;
    }
    if (st.cfg.worker && !st.in_flight && !st.buf.empty()) {
      push_to_worker(self);
      progress = true;
    }
  }
}

void set_worker(buffer_actor* self, caf::actor worker) {
  auto& st = self->state;
  if (st.cfg.worker)
    self->demonitor(st.cfg.worker);
  st.cfg.worker = std::move(worker);
  st.in_flight = false;
  ++st.flight;  // a reply to the old worker's item no longer counts
  if (st.cfg.worker)
    self->monitor(st.cfg.worker);
  dispatch(self);
}

buffer_stats stats_of(const buffer_state& st) {
  buffer_stats s;
  s.name = st.cfg.name;
  s.policy = st.buf.policy();
  s.size = static_cast<uint32_t>(st.buf.size());
  s.capacity = static_cast<uint32_t>(st.buf.capacity());
  s.counters = st.buf.counters();
  s.timed_out = st.timed_out;
  s.ack_timeouts = st.ack_timeouts;
  s.waiting_posters = static_cast<uint32_t>(st.posters.size());
  s.waiting_takers = static_cast<uint32_t>(st.takers.size());
  s.active = static_cast<bool>(st.cfg.worker);
  s.in_flight = st.in_flight;
  return s;
}

// Answers every waiting request before the buffer exits.
void flush_waiters(buffer_state& st, const caf::error& reason) {
  for (auto& w : st.posters)
    answer(w.rp, reason);
  for (auto& t : st.takers)
    t.rp.deliver(reason);
  st.posters.clear();
  st.takers.clear();
}

caf::response_promise take(buffer_actor* self, uint32_t n, caf::timespan max_wait) {
  auto& st = self->state;
  auto rp = self->make_response_promise();
  if (rp.async())
    return rp;  // nobody to hand the items to
  auto wait = capped(st, max_wait);
  if (!st.buf.empty() || n == 0 || wait.count() == 0) {
    rp.deliver(st.buf.take(n));
    dispatch(self);
    return rp;
  }
  auto id = ++st.next_id;
  st.takers.push_back({id, n, rp});
  self->delayed_send(self, wait, take_timeout_atom::value, id);
  return rp;
}

caf::behavior buffer_impl(buffer_actor* self, buffer_settings cfg) {
  auto& st = self->state;
  st.buf = bounded_buffer<caf::message>{cfg.capacity, cfg.policy};
  auto worker = std::move(cfg.worker);
  st.cfg = std::move(cfg);
  st.cfg.max_wait_limit = std::max(st.cfg.max_wait_limit, caf::timespan{0});
  if (worker)
    set_worker(self, std::move(worker));
  // Listed while it runs (the management endpoint reads every buffer's figures).
  detail::actor_directory::list_while_running(self, buffer_directory_key);
  // Everything the behavior does not match is an item.
  self->set_default_handler(
    [self](caf::scheduled_actor*, caf::message_view& x) -> caf::result<caf::message> {
      if (is_request(self))
        return caf::make_error(caf::sec::unexpected_message);
      self->state.buf.push(x.move_content_to_message());
      dispatch(self);
      return caf::message{};
    });
  // CAF hands an asynchronous message holding just an error to the error handler (its
  // default quits): it is an item like any other. Our own requests handle their errors.
  self->set_error_handler([self](caf::error& err) {
    self->state.buf.push(caf::make_message(std::move(err)));
    dispatch(self);
  });
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    if (st.cfg.worker && msg.source == st.cfg.worker.address())
      drop_worker(self);
  });
  self->set_exit_handler([self](caf::exit_msg& msg) {
    if (msg.reason == caf::exit_reason::normal)
      return;  // as CAF's default: a normal exit of a linked actor is no reason to stop
    flush_waiters(self->state, msg.reason);
    self->quit(std::move(msg.reason));
  });
  return {
    [self](post_atom, caf::message& item) {
      auto& st = self->state;
      auto rp = self->make_response_promise();
      auto res = st.buf.push(std::move(item));
      if (res == push_result::rejected || res == push_result::dropped_new) {
        answer(rp, full(st, "full"));
        return rp;
      }
      answer(rp, ok_atom::value);
      dispatch(self);
      return rp;
    },
    [self](post_wait_atom, caf::message& item, caf::timespan max_wait) {
      auto& st = self->state;
      auto rp = self->make_response_promise();
      if (!st.buf.full()) {
        st.buf.push(std::move(item));
        answer(rp, ok_atom::value);
        dispatch(self);
        return rp;
      }
      auto wait = capped(st, max_wait);
      if (wait.count() == 0 || st.posters.size() >= st.cfg.max_waiting) {
        answer(rp, full(st, wait.count() == 0 ? "full" : "too many waiting"));
        return rp;
      }
      auto id = ++st.next_id;
      st.posters.push_back({id, std::move(item), rp, self->clock().now()});
      self->delayed_send(self, wait, post_timeout_atom::value, id);
      return rp;
    },
    [self](post_timeout_atom, uint64_t id) {
      auto& st = self->state;
      auto i = std::find_if(st.posters.begin(), st.posters.end(),
                            [id](const waiting_post& w) { return w.id == id; });
      if (i == st.posters.end())
        return;  // admitted before its deadline
      auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
        self->clock().now() - i->since);
      answer(i->rp, full(st, "waited " + std::to_string(waited.count()) + " ms"));
      st.posters.erase(i);
      ++st.timed_out;
    },
    [self](take_atom, uint32_t n) { return take(self, n, self->state.cfg.take_wait); },
    [self](take_atom, uint32_t n, caf::timespan max_wait) { return take(self, n, max_wait); },
    [self](take_timeout_atom, uint64_t id) {
      auto& st = self->state;
      auto i = std::find_if(st.takers.begin(), st.takers.end(),
                            [id](const waiting_take& t) { return t.id == id; });
      if (i == st.takers.end())
        return;  // served before its deadline
      i->rp.deliver(std::vector<caf::message>{});
      st.takers.erase(i);
    },
    [self](active_atom, caf::actor& worker) {
      auto rp = self->make_response_promise();
      if (!worker) {
        answer(rp, caf::make_error(caf::sec::invalid_argument, "active: no worker"));
        return rp;
      }
      set_worker(self, std::move(worker));
      answer(rp, ok_atom::value);
      return rp;
    },
    [self](passive_atom) {
      auto rp = self->make_response_promise();
      set_worker(self, nullptr);
      answer(rp, ok_atom::value);
      return rp;
    },
    [self](stats_atom) {
      auto rp = self->make_response_promise();
      answer(rp, stats_of(self->state));
      return rp;
    },
    [self](resize_atom, uint32_t capacity) {
      auto rp = self->make_response_promise();
      self->state.buf.resize(capacity);
      dispatch(self);
      answer(rp, ok_atom::value);
      return rp;
    },
  };
}

} // namespace

std::vector<caf::actor> running_buffers(caf::actor_system& sys) {
  return detail::actor_directory::running(sys, buffer_directory_key);
}

caf::actor spawn_bounded_buffer(caf::actor_system& sys, buffer_settings settings) {
  return sys.spawn(buffer_impl, std::move(settings));
}

} // namespace warden
