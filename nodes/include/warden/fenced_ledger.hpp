/// @file
/// The fenced ledger: a file-backed set of request ids that checks a fencing token itself.
///
/// A cluster service gets a fencing epoch per start, higher than every start before it
/// (docs/cluster-services.md). A copy cut off by a partition or paused by SIGSTOP may still
/// run for a moment after a newer copy started elsewhere; the lease and the registry keep
/// that moment short, but only the *resource* can make it harmless: it remembers the newest
/// epoch it has seen and refuses writers with an older one (Kleppmann's fencing tokens).
/// Here the resource is a directory shared by all nodes of one machine:
///
/// - `<dir>/<name>.ids`: one request id per line (decimal), appended;
/// - `<dir>/<name>.fence`: the highest epoch seen (decimal); its `flock` is the lock
///   every open and every append takes;
/// - `<dir>/<name>.torn`: created only when a torn last line is set aside (see below).
///
/// Opening with epoch E fails when the fence is above E and otherwise raises it to E, so
/// the older copy's next append sees the newer fence and refuses; from then on that ledger
/// is stale and refuses every append at once. Epoch 0 means "not fenced" (a service
/// outside the cluster, a tool reading the ledger): it neither checks nor raises the fence.
/// Two ledgers with the same epoch (in one process or several) append side by side; each
/// append first reads what the others appended since, so an id is stored once (idempotent
/// consumer: a retried request does not count twice) and `ids()` covers the whole file as
/// of the last open or append.
///
/// Durability: an append is one write() on an O_APPEND descriptor, without fsync. The page
/// cache survives kill -9 and SIGSTOP of the process, which is what the chaos runs do; a
/// crash of the machine (power loss, kernel panic) may lose acknowledged ids and is out
/// of scope.
///
/// Torn lines: a last line without its newline or not a number (a writer that died in the
/// middle of a write, a full disk) was never acknowledged. It is ignored, counted in
/// `torn_lines()`, copied to `<name>.torn` and cut off the ids file, so the next append
/// starts on a clean line. A bad line anywhere else is an error naming `file:line`.
///
/// A ledger object is used by one thread (one actor) at a time. Do not share one across
/// fork(): the lock belongs to the open file, and parent and child would share it; open
/// one per process instead.
///
/// ```cpp
/// std::string error;
/// auto ledger = warden::fenced_ledger::open(dir, "ledger", epoch, error);
/// if (!ledger)
///   return fail(error);              // "fenced: epoch 7 is older than 9", a bad line, ...
/// if (!ledger->append(request_id, error))
///   return refuse(error);            // do not acknowledge; a stale copy should stop
/// acknowledge(request_id);           // the id is in the file
/// ```
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>

namespace warden {

/// A file-backed, fenced, duplicate-free ledger of request ids. Move-only; closes its
/// files when destroyed.
class fenced_ledger {
public:
  /// Opens (creating if missing) the ledger `name` in `dir` (created if missing) for
  /// `epoch`. Returns nothing and sets `error` when:
  /// - `name` is not a safe file stem (`[A-Za-z0-9._#-]+`, not starting with '.');
  /// - a directory or file cannot be created, opened, locked, read or written (the text
  ///   names the path and the system error);
  /// - `epoch` > 0 and the stored fence F is higher: "fenced: epoch E is older than F"
  ///   (nothing is changed);
  /// - the fence file does not hold a decimal number;
  /// - a line other than the last of the ids file is not a decimal id ("path:line: ...").
  /// On success with `epoch` > 0, the fence is at least `epoch`.
  [[nodiscard]] static std::optional<fenced_ledger>
  open(const std::filesystem::path& dir, const std::string& name, uint64_t epoch,
       std::string& error);

  /// Records `id` in the file, then in memory, unless it is there already (the file
  /// included, as others appended it). Returns true when `id` is in the ledger, so the
  /// request may be acknowledged. Returns false and sets `error` when:
  /// - this ledger is stale, or the fence is now above its epoch (it becomes stale):
  ///   "fenced: epoch E is older than F"; the file does not get the id;
  /// - the files cannot be locked, read or written (a short write is cut off again);
  /// - what others appended since contains a bad line, or the ids file shrank.
  [[nodiscard]] bool append(uint64_t id, std::string& error);

  /// The ids in the file as of the last open or append, each once.
  const std::set<uint64_t>& ids() const { return ids_; }

  /// Number of distinct ids (`ids().size()`).
  size_t size() const { return ids_.size(); }

  /// The epoch this ledger was opened with (0: not fenced).
  uint64_t epoch() const { return epoch_; }

  /// True once an append saw a fence above `epoch()`: every later append refuses.
  bool stale() const { return stale_; }

  /// Torn last lines set aside since open (see the file comment).
  size_t torn_lines() const { return torn_lines_; }

  fenced_ledger(fenced_ledger&& other) noexcept;
  fenced_ledger& operator=(fenced_ledger&& other) noexcept;
  fenced_ledger(const fenced_ledger&) = delete;
  fenced_ledger& operator=(const fenced_ledger&) = delete;
  ~fenced_ledger();

private:
  fenced_ledger(std::filesystem::path dir, std::string name, uint64_t epoch);

  std::filesystem::path path(const char* suffix) const;

  /// Reads the ids file from `read_offset_` to its end into `ids_` (the caller holds the
  /// lock), setting aside a torn last line.
  bool catch_up(std::string& error);

  /// Reads the fence (0 for an empty file).
  bool read_fence(uint64_t& fence, std::string& error) const;

  void close_files() noexcept;

  std::filesystem::path dir_;
  std::string name_;
  uint64_t epoch_ = 0;
  int ids_fd_ = -1;
  int fence_fd_ = -1;
  std::set<uint64_t> ids_;
  /// Bytes of the ids file read so far (always the end of a complete line).
  uint64_t read_offset_ = 0;
  /// Lines of the ids file read so far (for error positions).
  size_t lines_read_ = 0;
  size_t torn_lines_ = 0;
  bool stale_ = false;
  /// The fence that made this ledger stale (for the refusal text).
  uint64_t fenced_by_ = 0;
};

} // namespace warden
