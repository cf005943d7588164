// The supervisor actor. supervisor_actor.cpp holds start, stop and the runtime API;
// restart.cpp holds what happens when a child exits (restart decisions, strategies,
// intensity, backoff, give-up, auto_shutdown).
//
// The actor never blocks and never receives selectively: multi-step operations (start
// children in order, stop them in reverse, group restarts) run as chains of callbacks;
// while one runs, API calls and child exits wait in `pending_` and run afterwards in
// arrival order, which is what OTP's synchronous supervisor does with its mailbox.
#pragma once

#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>

#include "warden/backoff.hpp"
#include "warden/restart_intensity.hpp"
#include "warden/supervisor.hpp"

namespace warden::internal {

/// Self message of the supervisor's single timeout timer: (timer_atom, generation).
using timer_atom = caf::atom_constant<caf::atom("supTimer")>;

/// One child as the supervisor tracks it.
struct child {
  enum class phase : uint8_t {
    stopped,     // no instance (OTP: pid undefined)
    starting,    // spawned, waiting for its init ack
    running,     // ready
    exited,      // instance died; its exit waits to be handled
    stopping,    // asked to stop, waiting for its down message
    restarting,  // waiting for a retry or a backoff delay
  };

  uint64_t key = 0;                         // stable handle for self messages
  std::shared_ptr<const child_spec> spec;   // shared by all dynamic children
  caf::message args;                        // dynamic: start_child args
  caf::actor actor;
  caf::actor_addr last_actor;               // the instance that died last
  phase state = phase::stopped;
  uint64_t token = 0;                       // current start or stop attempt
  caf::actor_clock::time_point deadline{};  // of the armed start/stop timeout, if any
  caf::error exit_reason;                   // set in phase exited
  bool killed_after_timeout = false;
  uint32_t restart_count = 0;
  std::unique_ptr<backoff_state> backoff;   // only while backoff is on (memory per child)
  // The continuation of the start or stop in progress; never both at once.
  std::function<void(caf::error, bool ignored)> on_done;

  const std::string& id() const { return spec->id; }
  bool temporary() const { return spec->restart == restart_type::temporary; }
};

using child_list = std::list<child>;
using child_iter = child_list::iterator;

class supervisor_actor : public caf::event_based_actor {
public:
  supervisor_actor(caf::actor_config& cfg, supervisor_flags flags,
                   std::vector<child_spec> specs, start_info info, std::string path);

  const char* name() const override { return "warden.supervisor"; }

protected:
  caf::behavior make_behavior() override;
  void on_exit() override;

private:
  // --- serial execution (supervisor_actor.cpp) ---
  void run_or_defer(std::function<void()> fn, caf::response_promise rp = {});
  void begin() { busy_ = true; }
  void done();

  // --- steps (supervisor_actor.cpp) ---
  void start_one(child& c, std::function<void(caf::error, bool ignored)> cont);
  void finish_start(child& c, caf::error reason, bool ignored);
  void stop_one(child& c, std::function<void()> cont);
  void finish_stop(child& c, const caf::error& reason);
  void report_stop(child& c, const caf::error& reason);
  void stop_in_reverse(std::vector<uint64_t> keys, std::function<void()> cont);
  void start_in_order(std::vector<uint64_t> keys, size_t pos,
                      std::function<void(caf::error, uint64_t failed_key)> cont);
  void on_init_ack(uint64_t token, bool ignored, caf::error reason);
  void on_down(caf::down_msg& msg);
  void on_start_timeout(uint64_t key, uint64_t token);
  void on_stop_timeout(uint64_t key, uint64_t token);

  // --- timeouts (supervisor_actor.cpp) ---
  // Start and stop timeouts share one armed CAF timer (the earliest deadline): a
  // delayed_send per start wakes CAF's clock thread every time, which cost about a third
  // of the CPU of restart and start_child loops.
  enum class timeout_kind : uint8_t { start, stop };
  void arm_timeout(child& c, caf::timespan after, timeout_kind kind);
  void clear_timeout(child& c);
  void rearm_timer();
  void on_timer(uint64_t generation);

  // --- lifecycle (supervisor_actor.cpp) ---
  void start_initial_children();
  void shutdown(caf::error reason);
  void stop_all_and_quit(caf::error reason);
  void reply_init(bool ignored, const caf::error& reason);

  // --- runtime API (supervisor_actor.cpp) ---
  void api_start_child(child_spec spec, caf::response_promise rp);
  void api_start_dynamic(caf::message args, caf::response_promise rp);
  void api_terminate_child(child* c, caf::response_promise rp);
  void api_terminate_dynamic(const caf::actor& hdl, caf::response_promise rp);
  void api_restart_child(const std::string& id, caf::response_promise rp);
  void api_delete_child(const std::string& id, caf::response_promise rp);
  std::vector<child_info> which_children() const;
  child_counts count_children() const;
  supervisor_status status();

  // --- exits and restarts (restart.cpp) ---
  void handle_exit(uint64_t key, uint64_t token);
  void restart(child& c, caf::error reason);
  void execute_restart(uint64_t key);
  void restart_group(child& failed, std::vector<uint64_t> stop_keys,
                     std::vector<uint64_t> start_keys);
  void restart_failed(child& c, const caf::error& reason);
  void give_up(child& c, const caf::error& reason);
  bool check_auto_shutdown(const child& c);
  void on_retry(uint64_t key, uint64_t token);

  // --- bookkeeping ---
  child* find(uint64_t key);
  child* find(const std::string& id);
  child* find(const caf::actor_addr& addr);
  child& add_child(std::shared_ptr<const child_spec> spec, caf::message args);
  void remove_child(uint64_t key);
  void set_stopped(child& c);
  void release_name(const child& c);
  std::vector<uint64_t> keys_after(const child& c) const;   // start order, excluding c
  std::vector<uint64_t> running_keys() const;               // start order
  void emit(event_kind kind, const child& c, caf::error reason = {},
            caf::timespan delay = caf::timespan{0});
  caf::actor_clock::time_point now() { return clock().now(); }
  bool dynamic() const { return flags_.strategy == strategy::dynamic; }

  supervisor_flags flags_;
  std::vector<child_spec> initial_specs_;
  std::shared_ptr<const child_spec> template_;  // dynamic strategy
  start_info info_;
  std::string path_;
  restart_intensity intensity_;
  std::mt19937_64 rng_;

  child_list children_;  // start order: oldest first
  std::unordered_map<uint64_t, child_iter> by_key_;
  std::unordered_map<std::string, child_iter> by_id_;
  std::unordered_map<caf::actor_addr, uint64_t> by_actor_;
  uint64_t next_key_ = 1;
  uint64_t next_token_ = 1;
  uint64_t total_restarts_ = 0;
  using deadline_key = std::pair<caf::actor_clock::time_point, uint64_t>;  // when, token
  std::map<deadline_key, std::pair<timeout_kind, uint64_t>> deadlines_;   // -> kind, key
  caf::actor_clock::time_point armed_for_{};
  bool armed_ = false;
  uint64_t timer_generation_ = 0;

  struct pending_call {
    std::function<void()> fn;
    caf::response_promise rp;  // answered with no_supervisor if we stop first
  };

  bool busy_ = false;
  bool stopping_ = false;  // shutting down: no more restarts
  bool stopped_ = false;   // quit() called
  std::deque<pending_call> pending_;
};

} // namespace warden::internal
