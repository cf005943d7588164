// The call transport (call_transport.hpp): listener, authenticated connections, reader
// threads, the per-name proxies callers send to and the reply channel services answer to.
#include "warden/call_transport.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/io/basp_broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/monitorable_actor.hpp>
#include <caf/scoped_execution_unit.hpp>
#include <fmt/format.h>

#include "internal/call_frames.hpp"
#include "internal/lost_proxy.hpp"
#include "internal/node_protocol.hpp"
#include "warden/errors.hpp"
#include "warden/node_config.hpp"

namespace warden {

using namespace internal;
using steady = std::chrono::steady_clock;

namespace {

// --- sockets -------------------------------------------------------------------------

std::string peer_of(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    return "unknown";
  char host[NI_MAXHOST];
  char port[NI_MAXSERV];
  if (::getnameinfo(reinterpret_cast<sockaddr*>(&addr), len, host, sizeof(host), port,
                    sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) != 0)
    return "unknown";
  return fmt::format("{}:{}", host, port);
}

void set_send_timeout(int fd, std::chrono::milliseconds timeout) {
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/// All of `size` bytes, or false (error, or the send timeout expired mid-frame).
bool write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    auto n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

/// Exactly `size` bytes before `deadline`, or false.
bool read_until(int fd, char* data, size_t size, steady::time_point deadline) {
  while (size > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
    if (left.count() <= 0)
      return false;
    pollfd p{fd, POLLIN, 0};
    auto ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR)
      continue;
    if (ready <= 0)
      return false;
    auto n = ::recv(fd, data, size, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

struct raw_frame {
  call_header header;
  std::vector<char> body;
};

/// One handshake frame before `deadline`: its header and body, or the reason it is none.
std::variant<raw_frame, std::string> read_handshake_frame(int fd, steady::time_point deadline) {
  char head[call_header_size];
  if (!read_until(fd, head, sizeof(head), deadline))
    return std::string{"no handshake within the handshake timeout"};
  auto header = read_header(head);
  if (!header)
    return std::string{"not a Warden call transport handshake (garbage)"};
  if (header->body_size > call_handshake_max_body)
    return fmt::format("handshake frame announces {} bytes (at most {})", header->body_size,
                       call_handshake_max_body);
  raw_frame f{*header, std::vector<char>(header->body_size)};
  if (!read_until(fd, f.body.data(), f.body.size(), deadline))
    return std::string{"handshake frame cut short"};
  return f;
}

bool send_frame(int fd, call_frame_kind kind, const std::vector<char>& body) {
  std::vector<char> frame;
  put_header(frame, kind, 0, static_cast<uint32_t>(body.size()));
  frame.insert(frame.end(), body.begin(), body.end());
  return write_all(fd, frame.data(), frame.size());
}

std::vector<char> string_body(const std::string& x) {
  std::vector<char> body;
  put_string(body, x);
  return body;
}

/// A connected socket to `to`, or -1 after `timeout`; `refused`: nothing listens there.
int dial(const endpoint& to, std::chrono::milliseconds timeout, bool& refused) {
  refused = false;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(to.host.c_str(), std::to_string(to.port).c_str(), &hints, &res) != 0)
    return -1;
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  bool ok = fd >= 0;
  if (ok && ::connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
    int err = errno;
    ok = err == EINPROGRESS;
    pollfd p{fd, POLLOUT, 0};
    ok = ok && ::poll(&p, 1, static_cast<int>(timeout.count())) == 1;
    socklen_t len = sizeof(err);
    ok = ok && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
    refused = err == ECONNREFUSED;
  }
  ::freeaddrinfo(res);
  if (!ok) {
    if (fd >= 0)
      ::close(fd);
    return -1;
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

} // namespace

// --- connections -----------------------------------------------------------------------

/// Counters shared by the transport and its connections (which may outlive it briefly).
struct call_counters {
  std::atomic<uint64_t> requests_sent{0}, sends_sent{0}, replies_received{0},
    frames_served{0}, slow_decodes{0}, fallbacks{0}, dials{0}, rejected{0}, owner_gone{0};
};

namespace {

/// A request written by this node and not yet answered.
struct pending_call {
  caf::strong_actor_ptr sender;
  caf::message_id mid;
};

/// One authenticated connection (accepted on the call port, or dialed by this node).
struct connection {
  connection(caf::actor_system& sys, int fd, std::string peer,
             std::shared_ptr<call_counters> counters)
    : sys(sys), fd(fd), peer(std::move(peer)), counters(std::move(counters)) {
  }

  ~connection() {
    ::close(fd);
  }

  caf::actor_system& sys;
  const int fd;
  const std::string peer;
  std::shared_ptr<call_counters> counters;
  std::thread reader;
  std::atomic<bool> closed{false};
  std::atomic<bool> finished{false};
  /// Messages handed to CAF's I/O thread and not yet delivered: while any, every message
  /// of this connection takes that path (it keeps their order).
  std::atomic<int> slow_in_flight{0};
  std::mutex write_mtx;
  // client side
  std::mutex pending_mtx;
  std::unordered_map<uint64_t, pending_call> pending;
  uint64_t next_id = 1;
  // serving side: the sender of requests, whose answers it writes back
  caf::strong_actor_ptr reply_channel;

  /// Writes a whole frame; a failed or timed-out write closes the connection.
  bool write(const std::vector<char>& frame) {
    std::lock_guard<std::mutex> guard{write_mtx};
    if (closed)
      return false;
    if (write_all(fd, frame.data(), frame.size()))
      return true;
    close();
    return false;
  }

  void close() {
    if (!closed.exchange(true))
      ::shutdown(fd, SHUT_RDWR);
    std::lock_guard<std::mutex> guard{out_mtx};
    out_ready.notify_all();
    out_room.notify_all();
  }

  // -- client side: frames queued behind one-way sends ------------------------------------
  //
  // One-way sends go to `out`, which the writer thread drains with one write per batch
  // (a burst of sends costs a few system calls, as Erlang's distribution port batches);
  // a request goes straight to the socket when nothing is queued (no hop on the round
  // trip), else behind the queue (order per caller).

  std::mutex out_mtx;
  std::condition_variable out_ready;
  std::condition_variable out_room;
  std::vector<char> out;
  bool flushing = false;  // the writer owns a batch or has one to take
  std::thread writer;

  /// Queues or writes `frame`; false when the connection is closed (or closes because
  /// the queue stayed above `limit` for `timeout`).
  bool submit(std::vector<char>& frame, bool one_way, size_t limit,
              std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> guard{out_mtx};
    if (closed)
      return false;
    if (!one_way && !flushing) {
      guard.unlock();
      return write(frame);
    }
    if (out.size() > limit
        && !out_room.wait_for(guard, timeout, [&] { return closed || out.size() <= limit; })) {
      guard.unlock();
      close();
      return false;
    }
    if (closed)
      return false;
    out.insert(out.end(), frame.begin(), frame.end());
    if (!flushing) {
      flushing = true;
      out_ready.notify_one();
    }
    return true;
  }

  void drain() {
    std::vector<char> batch;
    for (;;) {
      {
        std::unique_lock<std::mutex> guard{out_mtx};
        out_ready.wait(guard, [&] { return closed || !out.empty(); });
        if (closed)
          return;
        batch.swap(out);
        out_room.notify_all();
      }
      if (!write(batch))
        return;
      batch.clear();
      std::lock_guard<std::mutex> guard{out_mtx};
      if (out.empty())
        flushing = false;
    }
  }

  void join() {
    if (reader.joinable())
      reader.join();
    if (writer.joinable())
      writer.join();
  }

  /// Answers every pending request with `sec::request_receiver_down`.
  void fail_pending() {
    std::unordered_map<uint64_t, pending_call> failed;
    {
      std::lock_guard<std::mutex> guard{pending_mtx};
      failed.swap(pending);
    }
    for (auto& [id, call] : failed)
      if (call.sender)
        call.sender->enqueue(nullptr, call.mid.response_id(),
                             caf::make_message(caf::make_error(caf::sec::request_receiver_down)),
                             nullptr);
  }
};

/// Where a serving connection's requests come from: each answer CAF routes here is
/// written back as a reply frame, by the thread that produced it.
class reply_channel final : public caf::monitorable_actor {
public:
  reply_channel(caf::actor_config& cfg, std::weak_ptr<connection> conn)
    : caf::monitorable_actor(cfg), conn_(std::move(conn)) {
  }

  void enqueue(caf::mailbox_element_ptr what, caf::execution_unit*) override {
    if (!what->mid.is_response())
      return;  // a one-way message to the channel: nobody to deliver it to
    auto conn = conn_.lock();
    if (!conn || conn->closed)
      return;
    std::vector<char> frame;
    put_header(frame, call_frame_kind::reply, what->mid.request_id().integer_value());
    auto answer = what->move_content_to_message();
    caf::binary_serializer sink{conn->sys, frame};
    if (auto err = sink(answer)) {
      frame.resize(call_header_size);
      auto refusal = caf::make_message(make_error(
        errc::service_unavailable, "the answer cannot be serialized: " + caf::to_string(err)));
      caf::binary_serializer again{conn->sys, frame};
      again(refusal);
    }
    patch_body_size(frame, 0);
    conn->write(frame);
  }

  const char* name() const override {
    return "warden.reply_channel";
  }

private:
  std::weak_ptr<connection> conn_;
};

/// Decodes a message on this thread, or on CAF's I/O thread when it holds handles of
/// remote actors (only CAF's BASP broker can make proxies); then `use(msg, unit)` (unit:
/// the reader's, or null on the I/O thread), or `failed(error)`. Keeps the connection's
/// order across both paths.
/// The execution unit of a reader thread. An enqueue that wakes an idle actor hands the
/// actor to `exec_later`; the reader then runs it itself for that one message, as an
/// Erlang scheduler runs the process its socket read woke, instead of waking a scheduler
/// worker (one thread wake-up less per message). Everything else goes to the scheduler.
class reader_unit final : public caf::execution_unit {
public:
  explicit reader_unit(caf::actor_system& sys) : caf::execution_unit(&sys) {
  }

  void exec_later(caf::resumable* job) override {
    if (capturing_ && captured_ == nullptr)
      captured_ = job;
    else
      system().scheduler().enqueue(job);
  }

  /// Enqueues to `dest` and runs it here if that woke it.
  void deliver(const caf::strong_actor_ptr& dest, caf::strong_actor_ptr sender,
               caf::message_id mid, caf::message msg) {
    capturing_ = true;
    dest->enqueue(std::move(sender), mid, std::move(msg), this);
    capturing_ = false;
    auto* job = std::exchange(captured_, nullptr);
    if (job == nullptr)
      return;
    // One message: a busy actor's backlog goes back to the scheduler, not this reader.
    if (job->resume(this, 1) == caf::resumable::resume_later)
      system().scheduler().enqueue(job);  // keeps the reference, as a worker would
    else
      intrusive_ptr_release(job);
  }

private:
  bool capturing_ = false;
  caf::resumable* captured_ = nullptr;
};

/// Enqueues on the reader thread (`unit`) or, from CAF's I/O thread, the usual way.
void deliver(reader_unit* unit, const caf::strong_actor_ptr& dest, caf::strong_actor_ptr sender,
             caf::message_id mid, caf::message msg) {
  if (unit != nullptr)
    unit->deliver(dest, std::move(sender), mid, std::move(msg));
  else
    dest->enqueue(std::move(sender), mid, std::move(msg), nullptr);
}

/// True when `source` produced `msg` from all of its `size` bytes. CAF 0.17.6 reports
/// success with an empty message when an element fails to load (e.g. a remote actor
/// handle without a proxy registry): only the empty message's own bytes may decode empty.
bool fully_decoded(caf::actor_system& sys, const caf::message& msg,
                   const caf::binary_deserializer& source, size_t size) {
  static const size_t empty_size = [&sys] {
    std::vector<char> buf;
    caf::binary_serializer sink{sys, buf};
    caf::message none;
    sink(none);
    return buf.size();
  }();
  return source.remaining() == 0 && (!msg.empty() || size == empty_size);
}

template <class Deliver, class Failed>
void decode(const std::shared_ptr<connection>& conn, reader_unit& unit, const char* data,
            size_t size, Deliver use, Failed failed) {
  if (conn->slow_in_flight == 0) {
    caf::message msg;
    caf::binary_deserializer source{conn->sys, data, size};
    auto err = source(msg);
    if (!err && fully_decoded(conn->sys, msg, source, size)) {
      use(std::move(msg), &unit);
      return;
    }
    if (err && err != caf::sec::no_proxy_registry) {
      failed(std::move(err));
      return;
    }
  }
  ++conn->counters->slow_decodes;
  ++conn->slow_in_flight;
  auto bytes = std::make_shared<std::vector<char>>(data, data + size);
  auto& mm = conn->sys.middleman();
  mm.backend().post([conn, bytes, use = std::move(use), failed = std::move(failed),
                     &mm]() mutable {
    auto basp = mm.named_broker<caf::io::basp_broker>(caf::atom("BASP"));
    auto* broker = static_cast<caf::io::basp_broker*>(caf::actor_cast<caf::abstract_actor*>(basp));
    caf::scoped_execution_unit context{&conn->sys};
    context.proxy_registry_ptr(broker->proxy_registry_ptr());
    caf::message msg;
    caf::binary_deserializer source{&context, *bytes};
    auto err = source(msg);
    if (!err && !fully_decoded(conn->sys, msg, source, bytes->size()))
      err = caf::make_error(caf::sec::unknown_type, "an element could not be decoded");
    if (err)
      failed(std::move(err));
    else
      use(std::move(msg), nullptr);
    --conn->slow_in_flight;
  });
}

/// Reads frames until the connection closes; `handle(header, body, size)` returns an
/// empty string or why the connection must close.
template <class Handle>
std::string read_frames(connection& conn, uint32_t max_body, Handle handle) {
  std::vector<char> buf(64 * 1024);
  size_t have = 0;
  for (;;) {
    auto n = ::recv(conn.fd, buf.data() + have, buf.size() - have, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return {};
    have += static_cast<size_t>(n);
    size_t pos = 0;
    while (have - pos >= call_header_size) {
      auto header = read_header(buf.data() + pos);
      if (!header)
        return "unknown frame kind (garbage)";
      if (header->body_size > max_body)
        return fmt::format("frame announces {} bytes, more than cluster.max_frame_bytes = {}",
                           header->body_size, max_body);
      auto frame_size = call_header_size + header->body_size;
      if (have - pos < frame_size) {
        if (buf.size() < frame_size)
          buf.resize(frame_size);
        break;
      }
      if (auto problem = handle(*header, buf.data() + pos + call_header_size,
                                static_cast<size_t>(header->body_size));
          !problem.empty())
        return problem;
      pos += frame_size;
    }
    std::memmove(buf.data(), buf.data() + pos, have - pos);
    have -= pos;
    if (have == buf.size())
      buf.resize(buf.size() * 2);
  }
}

std::string owner_key(const member_info& m) {
  return m.address + '#' + std::to_string(m.incarnation);
}

} // namespace

// --- the transport -----------------------------------------------------------------------

struct call_transport::impl : std::enable_shared_from_this<call_transport::impl> {
  impl(caf::actor_system& sys, call_transport_settings settings)
    : sys(sys), cfg(std::move(settings)) {
  }

  caf::actor_system& sys;
  call_transport_settings cfg;
  std::shared_ptr<call_counters> counters = std::make_shared<call_counters>();
  int listen_fd = -1;
  uint16_t port = 0;
  std::thread acceptor;
  std::atomic<bool> stopping{false};
  std::mutex mtx;
  std::vector<std::shared_ptr<connection>> connections;
  std::map<std::string, std::shared_ptr<connection>> clients;  // by owner_key
  std::set<std::string> dialing;
  /// Until when calls to an owner do not dial, and whether it counts as gone meanwhile.
  struct failed_dial {
    steady::time_point until;
    bool owner_gone = false;
  };
  std::map<std::string, failed_dial> dial_failed;
  /// When this node found its connection to an owner closed (kept for `redial_after`).
  std::map<std::string, steady::time_point> lost;
  std::map<std::string, caf::actor> proxies;

  void reject(const std::string& address, const std::string& reason) {
    ++counters->rejected;
    if (cfg.rejected)
      cfg.rejected(address, "call port: " + reason);
  }

  /// Joins connections whose reader ended (caller holds mtx).
  void reap() {
    for (auto i = connections.begin(); i != connections.end();) {
      if ((*i)->finished) {
        (*i)->join();
        i = connections.erase(i);
      } else {
        ++i;
      }
    }
  }

  void accept_loop() {
    for (;;) {
      int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (stopping)
          return;
        if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) {
          std::this_thread::sleep_for(std::chrono::milliseconds{errno == EINTR ? 0 : 10});
          continue;
        }
        return;
      }
      set_send_timeout(fd, cfg.write_timeout);
      auto conn = std::make_shared<connection>(sys, fd, peer_of(fd), counters);
      std::lock_guard<std::mutex> guard{mtx};
      reap();
      if (stopping) {
        conn->close();
        return;
      }
      connections.push_back(conn);
      conn->reader = std::thread{[this, conn] {
        serve(conn);
        conn->close();
        conn->finished = true;
      }};
    }
  }

  // -- serving side ----------------------------------------------------------------------

  /// The server half of the handshake; false when the connection is refused.
  bool accept_handshake(connection& conn) {
    auto deadline = steady::now() + cfg.handshake_timeout;
    auto refuse = [&](const std::string& reason) {
      send_frame(conn.fd, call_frame_kind::refused, string_body(reason));
      reject(conn.peer, reason);
      return false;
    };
    auto first = read_handshake_frame(conn.fd, deadline);
    if (auto* problem = std::get_if<std::string>(&first)) {
      reject(conn.peer, *problem);
      return false;
    }
    auto& frame = std::get<raw_frame>(first);
    auto hello = frame.header.kind == call_frame_kind::hello
                   ? decode_hello(frame.body.data(), frame.body.size())
                   : std::nullopt;
    if (!hello)
      return refuse("the first frame is not a call transport hello");
    if (hello->version != call_protocol_version)
      return refuse(fmt::format("protocol version {} (this node speaks {})", hello->version,
                                call_protocol_version));
    if (hello->cluster != cfg.cluster)
      return refuse(fmt::format("{} belongs to cluster \"{}\", this node to \"{}\"",
                                hello->from, hello->cluster, cfg.cluster));
    if (hello->to_incarnation != cfg.self.incarnation)
      return refuse(fmt::format("{} called incarnation {}, this is {}", hello->from,
                                hello->to_incarnation, cfg.self.incarnation));
    auto nonce = make_nonce();
    std::vector<char> challenge;
    put_string(challenge, nonce);
    put_string(challenge, server_proof(cfg.secret, cfg.cluster, hello->nonce, nonce));
    if (!send_frame(conn.fd, call_frame_kind::challenge, challenge))
      return false;
    auto second = read_handshake_frame(conn.fd, deadline);
    if (auto* problem = std::get_if<std::string>(&second)) {
      reject(conn.peer, *problem);
      return false;
    }
    auto& auth = std::get<raw_frame>(second);
    call_body_reader in{auth.body.data(), auth.body.size()};
    auto proof = auth.header.kind == call_frame_kind::auth ? in.string() : std::nullopt;
    if (!proof || !same_proof(*proof, client_proof(cfg.secret, cfg.cluster, hello->nonce, nonce)))
      return refuse(fmt::format("{} does not know the cluster secret", hello->from));
    return send_frame(conn.fd, call_frame_kind::accepted, {});
  }

  void serve(const std::shared_ptr<connection>& conn) {
    if (!accept_handshake(*conn))
      return;
    caf::actor_config actor_cfg;
    conn->reply_channel = caf::make_actor<reply_channel, caf::strong_actor_ptr>(
      sys.next_actor_id(), sys.node(), &sys, actor_cfg, std::weak_ptr<connection>{conn});
    reader_unit unit{sys};
    auto problem = read_frames(*conn, cfg.max_frame_bytes, [&](const call_header& h,
                                                               const char* body, size_t size) {
      if (h.kind != call_frame_kind::request && h.kind != call_frame_kind::send)
        return fmt::format("unexpected frame kind {} after the handshake",
                           static_cast<int>(h.kind));
      call_body_reader in{body, size};
      auto name = in.string();
      if (!name)
        return std::string{"request frame without a target name"};
      serve_one(conn, unit, h, *name, in.rest(), in.rest_size());
      return std::string{};
    });
    if (!problem.empty())
      reject(conn->peer, problem);
  }

  void serve_one(const std::shared_ptr<connection>& conn, reader_unit& unit,
                 const call_header& h, const std::string& name, const char* data,
                 size_t size) {
    bool is_request = h.kind == call_frame_kind::request;
    auto answer = [conn, id = h.id](caf::error err) {
      std::vector<char> frame;
      put_header(frame, call_frame_kind::reply, id);
      auto msg = caf::make_message(std::move(err));
      caf::binary_serializer sink{conn->sys, frame};
      sink(msg);
      patch_body_size(frame, 0);
      conn->write(frame);
    };
    auto drop = [dropped = cfg.dropped, conn, name](const std::string& why) {
      if (dropped)
        dropped(fmt::format("one-way message to \"{}\" from {} dropped: {}", name,
                                conn->peer, why));
    };
    auto snap = cfg.view->get();
    auto i = snap->names.find(name);
    if (i == snap->names.end() || !same_member(i->second.owner, snap->self)) {
      // The caller's table said it is here: for the caller the service went away.
      auto why = fmt::format("\"{}\" is not registered on {} (any more)", name, cfg.self.name);
      if (is_request)
        answer(make_error(errc::service_unavailable, why));
      else
        drop(why);
      return;
    }
    auto target = caf::actor_cast<caf::strong_actor_ptr>(i->second.target);
    auto sender = is_request ? conn->reply_channel : nullptr;
    auto mid = is_request ? caf::make_message_id(h.id) : caf::make_message_id();
    decode(
      conn, unit, data, size,
      [target, sender, mid, counters = counters](caf::message msg, reader_unit* on) {
        ++counters->frames_served;
        deliver(on, target, sender, mid, std::move(msg));
      },
      [is_request, answer, drop](caf::error err) {
        auto why = "undecodable message: " + caf::to_string(err);
        if (is_request)
          answer(make_error(errc::service_unavailable, why));
        else
          drop(why);
      });
  }

  // -- calling side ----------------------------------------------------------------------

  /// The connection to `owner`'s call port: open, freshly dialed, or null (then the
  /// caller uses CAF's transport, unless `owner_gone`: the connection closed and the call
  /// port refuses a new one, so the owner's process is most likely gone).
  std::shared_ptr<connection> connection_to(const member_info& owner, bool& owner_gone) {
    owner_gone = false;
    auto key = owner_key(owner);
    auto now = steady::now();
    {
      std::lock_guard<std::mutex> guard{mtx};
      if (stopping)
        return nullptr;
      if (auto i = clients.find(key); i != clients.end()) {
        if (!i->second->closed)
          return i->second;
        clients.erase(i);
        std::erase_if(lost, [&](auto& x) { return now - x.second >= cfg.redial_after; });
        lost[key] = now;
      }
      if (auto i = dial_failed.find(key); i != dial_failed.end() && now < i->second.until) {
        owner_gone = i->second.owner_gone;
        return nullptr;
      }
      // A hung node accepts TCP but never answers the hello: do not stall callers on it.
      if (!is_up(owner))
        return nullptr;
      if (!dialing.insert(key).second)
        return nullptr;  // another caller is dialing: this call goes the CAF way
    }
    bool refused = false;
    auto conn = open(owner, refused);
    std::lock_guard<std::mutex> guard{mtx};
    dialing.erase(key);
    if (!conn || stopping) {
      // A call port that refuses right after its connection closed: the process is gone
      // (its ports close with it) or stopping. Only then, since a firewall may refuse too.
      auto i = lost.find(key);
      owner_gone = refused && i != lost.end() && now - i->second < cfg.redial_after;
      if (i != lost.end() && !owner_gone)
        lost.erase(i);
      dial_failed[key] = {steady::now() + cfg.redial_after, owner_gone};
      if (conn)
        conn->close();
      return nullptr;
    }
    dial_failed.erase(key);
    lost.erase(key);
    reap();
    connections.push_back(conn);
    clients[key] = conn;
    conn->writer = std::thread{[conn] { conn->drain(); }};
    conn->reader = std::thread{[this, conn] {
      collect_replies(conn);
      conn->close();
      conn->fail_pending();
      conn->finished = true;
    }};
    return conn;
  }

  bool is_up(const member_info& m) {
    for (auto& row : cfg.view->get()->members)
      if (same_member(row.info, m))
        return row.state == member_state::up;
    return false;
  }

  /// Dials and authenticates; null on any failure (the caller falls back to CAF);
  /// `refused`: nothing listens on the call port.
  std::shared_ptr<connection> open(const member_info& owner, bool& refused) {
    refused = false;
    auto to = endpoint::parse(owner.calls);
    if (!to)
      return nullptr;
    if (auto i = cfg.connect_via.find(to->to_string()); i != cfg.connect_via.end())
      to = endpoint::parse(i->second);
    ++counters->dials;
    int fd = dial(*to, cfg.handshake_timeout, refused);
    if (fd < 0)
      return nullptr;
    set_send_timeout(fd, cfg.write_timeout);
    auto conn = std::make_shared<connection>(sys, fd, owner.calls, counters);
    auto deadline = steady::now() + cfg.handshake_timeout;
    call_hello hello{call_protocol_version, cfg.cluster, cfg.self.address, owner.incarnation,
                     make_nonce()};
    if (!send_frame(fd, call_frame_kind::hello, encode(hello)))
      return nullptr;
    auto challenge = read_handshake_frame(fd, deadline);
    auto* frame = std::get_if<raw_frame>(&challenge);
    if (!frame || frame->header.kind != call_frame_kind::challenge)
      return nullptr;
    call_body_reader in{frame->body.data(), frame->body.size()};
    auto nonce = in.string();
    auto proof = in.string();
    if (!nonce || !proof
        || !same_proof(*proof, server_proof(cfg.secret, cfg.cluster, hello.nonce, *nonce)))
      return nullptr;
    if (!send_frame(fd, call_frame_kind::auth,
                    string_body(client_proof(cfg.secret, cfg.cluster, hello.nonce, *nonce))))
      return nullptr;
    auto verdict = read_handshake_frame(fd, deadline);
    frame = std::get_if<raw_frame>(&verdict);
    if (!frame || frame->header.kind != call_frame_kind::accepted)
      return nullptr;
    return conn;
  }

  void collect_replies(const std::shared_ptr<connection>& conn) {
    reader_unit unit{sys};
    read_frames(*conn, cfg.max_frame_bytes, [&](const call_header& h, const char* body,
                                                size_t size) {
      if (h.kind != call_frame_kind::reply)
        return fmt::format("unexpected frame kind {} from a call port",
                           static_cast<int>(h.kind));
      pending_call call;
      {
        std::lock_guard<std::mutex> guard{conn->pending_mtx};
        auto i = conn->pending.find(h.id);
        if (i == conn->pending.end())
          return std::string{};  // the caller gave up (timeout) and CAF forgot the id
        call = std::move(i->second);
        conn->pending.erase(i);
      }
      ++counters->replies_received;
      auto respond = [call](caf::message msg, reader_unit* on) {
        deliver(on, call.sender, nullptr, call.mid.response_id(), std::move(msg));
      };
      decode(conn, unit, body, size, respond, [respond](caf::error err) {
        respond(caf::make_message(make_error(
                  errc::service_unavailable, "undecodable answer: " + caf::to_string(err))),
                nullptr);
      });
      return std::string{};
    });
  }

  /// Writes `what` to `conn` as a request or send to `name`; false (and `what` untouched)
  /// when it must go CAF's way instead.
  bool forward(connection& conn, const std::string& name, caf::mailbox_element_ptr& what) {
    bool is_request = what->mid.is_request();
    uint64_t id = 0;
    std::vector<char> frame;
    frame.reserve(128);
    if (is_request) {
      std::lock_guard<std::mutex> guard{conn.pending_mtx};
      id = conn.next_id++;
    }
    put_header(frame, is_request ? call_frame_kind::request : call_frame_kind::send, id);
    put_string(frame, name);
    auto msg = what->copy_content_to_message();
    caf::binary_serializer sink{sys, frame};
    if (sink(msg))
      return false;  // e.g. an unregistered type: CAF's path reports it its own way
    patch_body_size(frame, 0);
    if (is_request) {
      std::lock_guard<std::mutex> guard{conn.pending_mtx};
      conn.pending.emplace(id, pending_call{what->sender, what->mid});
    }
    if (conn.submit(frame, !is_request, cfg.max_frame_bytes, cfg.write_timeout)) {
      ++(is_request ? counters->requests_sent : counters->sends_sent);
      return true;
    }
    if (!is_request)
      return false;
    // The reader may already have failed it (the connection closed): then it is answered.
    std::lock_guard<std::mutex> guard{conn.pending_mtx};
    return conn.pending.erase(id) == 0;
  }

  /// Writes `what` to `owner`'s call port, over a fresh connection if the open one closes
  /// meanwhile; false (and `what` untouched) when it must go CAF's way instead. A request
  /// to an owner that looks gone is answered `sec::request_receiver_down` at once: sent
  /// CAF's way, it could vanish unanswered into the connection CAF has not yet seen close.
  bool try_forward(const member_info& owner, const std::string& name,
                   caf::mailbox_element_ptr& what) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      bool owner_gone = false;
      auto conn = connection_to(owner, owner_gone);
      if (!conn) {
        if (!owner_gone || !what->mid.is_request())
          return false;
        ++counters->owner_gone;
        internal::bounce(*what, nullptr);
        return true;
      }
      if (forward(*conn, name, what))
        return true;
      if (!conn->closed)
        return false;  // e.g. an unregistered type: CAF's path reports it its own way
    }
    return false;
  }

  void stop() {
    if (stopping.exchange(true))
      return;
    if (listen_fd >= 0)
      ::shutdown(listen_fd, SHUT_RDWR);
    if (acceptor.joinable())
      acceptor.join();
    if (listen_fd >= 0)
      ::close(listen_fd);
    std::vector<std::shared_ptr<connection>> all;
    {
      std::lock_guard<std::mutex> guard{mtx};
      all.swap(connections);
      clients.clear();
      proxies.clear();
    }
    for (auto& conn : all) {
      conn->close();
      conn->join();
      conn->fail_pending();
    }
  }
};

namespace {

/// What `route` hands out for a remote name: a local actor whose enqueue writes the
/// message to the owner's call port in the caller's thread (or gives it to `fallback`).
class call_proxy final : public caf::monitorable_actor {
public:
  call_proxy(caf::actor_config& cfg, std::weak_ptr<call_transport::impl> transport,
             std::string name, member_info owner, caf::actor fallback)
    : caf::monitorable_actor(cfg),
      transport_(std::move(transport)),
      name_(std::move(name)),
      owner_(std::move(owner)),
      fallback_(std::move(fallback)) {
  }

  void enqueue(caf::mailbox_element_ptr what, caf::execution_unit* context) override {
    if (auto t = transport_.lock()) {
      if (what->stages.empty() && t->try_forward(owner_, name_, what))
        return;
      ++t->counters->fallbacks;
    }
    internal::enqueue_or_bounce(fallback_, std::move(what), context);
  }

  const char* name() const override {
    return "warden.call_proxy";
  }

private:
  std::weak_ptr<call_transport::impl> transport_;
  std::string name_;
  member_info owner_;
  caf::actor fallback_;
};

std::mutex transports_mtx;
std::map<caf::actor_system*, std::weak_ptr<call_transport>> transports;

} // namespace

caf::expected<std::shared_ptr<call_transport>>
call_transport::start(caf::actor_system& sys, call_transport_settings settings) {
  auto x = std::make_shared<impl>(sys, std::move(settings));
  auto fail = [&](const std::string& why) {
    if (x->listen_fd >= 0)
      ::close(x->listen_fd);
    return make_error(errc::bind_failed,
                      fmt::format("call port {}:{}: {}", x->cfg.host, x->cfg.port, why));
  };
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  if (::getaddrinfo(x->cfg.host.c_str(), std::to_string(x->cfg.port).c_str(), &hints, &res) != 0)
    return fail("cannot resolve the host");
  x->listen_fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  bool ok = x->listen_fd >= 0
            && ::setsockopt(x->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0
            && ::bind(x->listen_fd, res->ai_addr, res->ai_addrlen) == 0
            && ::listen(x->listen_fd, 128) == 0;
  ::freeaddrinfo(res);
  if (!ok)
    return fail(std::strerror(errno));
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  ::getsockname(x->listen_fd, reinterpret_cast<sockaddr*>(&addr), &len);
  x->port = ntohs(addr.ss_family == AF_INET6
                    ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                    : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  x->acceptor = std::thread{[raw = x.get()] { raw->accept_loop(); }};
  std::shared_ptr<call_transport> result{new call_transport(x)};
  std::lock_guard<std::mutex> guard{transports_mtx};
  for (auto i = transports.begin(); i != transports.end();)
    i = i->second.expired() ? transports.erase(i) : std::next(i);
  transports[&sys] = result;
  return result;
}

call_transport::~call_transport() {
  stop();
}

uint16_t call_transport::port() const {
  return impl_->port;
}

void call_transport::stop() {
  impl_->stop();
}

caf::actor call_transport::route(const name_entry& entry) {
  auto& x = *impl_;
  if (entry.owner.calls.empty() || same_member(entry.owner, x.cfg.self) || x.stopping)
    return entry.target;
  auto key = entry.name + '\n' + owner_key(entry.owner) + '\n'
             + std::to_string(entry.target.id());
  std::lock_guard<std::mutex> guard{x.mtx};
  auto& proxy = x.proxies[key];
  if (!proxy) {
    caf::actor_config actor_cfg;
    proxy = caf::make_actor<call_proxy, caf::actor>(x.sys.next_actor_id(), x.sys.node(), &x.sys,
                                                    actor_cfg, std::weak_ptr<impl>{impl_},
                                                    entry.name, entry.owner, entry.target);
  }
  return proxy;
}

call_transport_stats call_transport::stats() const {
  auto& c = *impl_->counters;
  return {c.requests_sent, c.sends_sent, c.replies_received, c.frames_served,
          c.slow_decodes, c.fallbacks, c.dials, c.rejected, c.owner_gone};
}

std::shared_ptr<call_transport> call_transport_of(caf::actor_system& sys) {
  std::lock_guard<std::mutex> guard{transports_mtx};
  auto i = transports.find(&sys);
  return i != transports.end() ? i->second.lock() : nullptr;
}

} // namespace warden
