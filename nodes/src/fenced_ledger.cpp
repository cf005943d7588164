#include "warden/fenced_ledger.hpp"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

namespace warden {

namespace {

/// "what path: strerror(errno)".
std::string system_error_text(std::string_view what, const std::filesystem::path& path) {
  return fmt::format("{} {}: {}", what, path.string(), std::strerror(errno));
}

bool safe_stem(const std::string& name) {
  if (name.empty() || name.front() == '.')
    return false;
  for (char c : name) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
              || c == '.' || c == '_' || c == '#' || c == '-';
    if (!ok)
      return false;
  }
  return true;
}

/// A decimal number without sign, spaces or anything else.
bool parse_decimal(std::string_view text, uint64_t& out) {
  if (text.empty())
    return false;
  for (char c : text)
    if (c < '0' || c > '9')
      return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size();
}

/// A bad line as it goes into an error text: at most 40 characters, unprintables as '?'.
std::string printable_quoted(std::string_view text) {
  std::string out = "\"";
  for (size_t i = 0; i < text.size() && i < 40; ++i)
    out += (text[i] >= 0x20 && text[i] < 0x7f) ? text[i] : '?';
  out += text.size() > 40 ? "...\"" : "\"";
  return out;
}

std::string fenced_text(uint64_t epoch, uint64_t fence) {
  return fmt::format("fenced: epoch {} is older than {}", epoch, fence);
}

/// Reads `fd` from `offset` to its end.
bool read_from(int fd, uint64_t offset, std::string& out) {
  out.clear();
  char buf[65536];
  for (;;) {
    auto n = ::pread(fd, buf, sizeof(buf), static_cast<off_t>(offset + out.size()));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return false;
    if (n == 0)
      return true;
    out.append(buf, static_cast<size_t>(n));
  }
}

/// Writes all of `text` (with write(): on an O_APPEND descriptor, at the end).
bool write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    auto n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    text.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

/// The exclusive flock on the fence file, released when it goes out of scope.
class fence_lock {
public:
  bool acquire(int fd, const std::filesystem::path& path, std::string& error) {
    while (::flock(fd, LOCK_EX) != 0) {
      if (errno != EINTR) {
        error = system_error_text("cannot lock", path);
        return false;
      }
    }
    fd_ = fd;
    return true;
  }

  ~fence_lock() {
    if (fd_ >= 0)
      ::flock(fd_, LOCK_UN);
  }

private:
  int fd_ = -1;
};

} // namespace

fenced_ledger::fenced_ledger(std::filesystem::path dir, std::string name, uint64_t epoch)
  : dir_(std::move(dir)), name_(std::move(name)), epoch_(epoch) {
}

std::optional<fenced_ledger> fenced_ledger::open(const std::filesystem::path& dir,
                                                 const std::string& name, uint64_t epoch,
                                                 std::string& error) {
  if (!safe_stem(name)) {
    error = fmt::format("ledger name {} is not a safe file stem: use [A-Za-z0-9._#-]+, not "
                        "starting with '.'",
                        printable_quoted(name));
    return std::nullopt;
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    error = fmt::format("cannot create ledger directory {}: {}", dir.string(), ec.message());
    return std::nullopt;
  }
  fenced_ledger ledger{dir, name, epoch};
  auto fence_path = ledger.path(".fence");
  auto ids_path = ledger.path(".ids");
  ledger.fence_fd_ = ::open(fence_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (ledger.fence_fd_ < 0) {
    error = system_error_text("cannot open", fence_path);
    return std::nullopt;
  }
  ledger.ids_fd_ = ::open(ids_path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (ledger.ids_fd_ < 0) {
    error = system_error_text("cannot open", ids_path);
    return std::nullopt;
  }
  fence_lock lock;
  if (!lock.acquire(ledger.fence_fd_, fence_path, error))
    return std::nullopt;
  uint64_t fence = 0;
  if (epoch > 0) {
    if (!ledger.read_fence(fence, error))
      return std::nullopt;
    // Checked before anything is written: a stale opener changes nothing.
    if (fence > epoch) {
      error = fenced_text(epoch, fence);
      return std::nullopt;
    }
  }
  if (!ledger.catch_up(error))
    return std::nullopt;
  if (epoch > fence) {
    // Epochs only grow, so the new text is at least as long as the old one and covers it.
    auto text = fmt::format("{}\n", epoch);
    if (::pwrite(ledger.fence_fd_, text.data(), text.size(), 0)
          != static_cast<ssize_t>(text.size())
        || ::ftruncate(ledger.fence_fd_, static_cast<off_t>(text.size())) != 0) {
      error = system_error_text("cannot write", fence_path);
      return std::nullopt;
    }
  }
  return std::optional<fenced_ledger>{std::move(ledger)};
}

bool fenced_ledger::append(uint64_t id, std::string& error) {
  if (stale_) {
    error = fenced_text(epoch_, fenced_by_);
    return false;
  }
  fence_lock lock;
  if (!lock.acquire(fence_fd_, path(".fence"), error))
    return false;
  if (epoch_ > 0) {
    uint64_t fence = 0;
    if (!read_fence(fence, error))
      return false;
    if (fence > epoch_) {
      stale_ = true;
      fenced_by_ = fence;
      error = fenced_text(epoch_, fence);
      return false;
    }
  }
  // Others holding the same epoch may have appended since: learn their ids, so a retried
  // request stays one line, and start from the file's true end.
  if (!catch_up(error))
    return false;
  if (ids_.contains(id))
    return true;
  auto line = fmt::format("{}\n", id);
  // One write() on O_APPEND: a kill -9 leaves the whole line or nothing; a short write
  // (a full disk) is cut off again, and a cut that fails is a torn line for the next read.
  if (!write_all(ids_fd_, line)) {
    error = system_error_text("cannot append to", path(".ids"));
    auto ignored = ::ftruncate(ids_fd_, static_cast<off_t>(read_offset_));
    static_cast<void>(ignored);
    return false;
  }
  read_offset_ += line.size();
  ++lines_read_;
  ids_.insert(id);
  return true;
}

fenced_ledger::fenced_ledger(fenced_ledger&& other) noexcept
  : dir_(std::move(other.dir_)),
    name_(std::move(other.name_)),
    epoch_(other.epoch_),
    ids_fd_(std::exchange(other.ids_fd_, -1)),
    fence_fd_(std::exchange(other.fence_fd_, -1)),
    ids_(std::move(other.ids_)),
    read_offset_(other.read_offset_),
    lines_read_(other.lines_read_),
    torn_lines_(other.torn_lines_),
    stale_(other.stale_),
    fenced_by_(other.fenced_by_) {
}

fenced_ledger& fenced_ledger::operator=(fenced_ledger&& other) noexcept {
  if (this != &other) {
    close_files();
    dir_ = std::move(other.dir_);
    name_ = std::move(other.name_);
    epoch_ = other.epoch_;
    ids_fd_ = std::exchange(other.ids_fd_, -1);
    fence_fd_ = std::exchange(other.fence_fd_, -1);
    ids_ = std::move(other.ids_);
    read_offset_ = other.read_offset_;
    lines_read_ = other.lines_read_;
    torn_lines_ = other.torn_lines_;
    stale_ = other.stale_;
    fenced_by_ = other.fenced_by_;
  }
  return *this;
}

fenced_ledger::~fenced_ledger() {
  close_files();
}

void fenced_ledger::close_files() noexcept {
  if (ids_fd_ >= 0)
    ::close(ids_fd_);
  if (fence_fd_ >= 0)
    ::close(fence_fd_);
  ids_fd_ = -1;
  fence_fd_ = -1;
}

std::filesystem::path fenced_ledger::path(const char* suffix) const {
  return dir_ / (name_ + suffix);
}

bool fenced_ledger::read_fence(uint64_t& fence, std::string& error) const {
  auto fence_path = path(".fence");
  std::string text;
  if (!read_from(fence_fd_, 0, text)) {
    error = system_error_text("cannot read", fence_path);
    return false;
  }
  std::string_view digits = text;
  if (!digits.empty() && digits.back() == '\n')
    digits.remove_suffix(1);
  if (digits.empty()) {
    fence = 0; // a new ledger
    return true;
  }
  if (!parse_decimal(digits, fence)) {
    error = fmt::format("fence file {} holds {}, not an epoch (a decimal number)",
                        fence_path.string(), printable_quoted(digits));
    return false;
  }
  return true;
}

bool fenced_ledger::catch_up(std::string& error) {
  auto ids_path = path(".ids");
  struct stat st {};
  if (::fstat(ids_fd_, &st) != 0) {
    error = system_error_text("cannot stat", ids_path);
    return false;
  }
  auto size = static_cast<uint64_t>(st.st_size);
  if (size < read_offset_) {
    error = fmt::format("{} shrank from {} to {} bytes: it was changed outside the ledger",
                        ids_path.string(), read_offset_, size);
    return false;
  }
  if (size == read_offset_)
    return true;
  std::string chunk;
  if (!read_from(ids_fd_, read_offset_, chunk)) {
    error = system_error_text("cannot read", ids_path);
    return false;
  }
  // Parse everything before changing anything: a bad line leaves the ledger as it was.
  std::vector<uint64_t> found;
  std::string_view rest = chunk;
  size_t good_bytes = 0;
  size_t good_lines = 0;
  while (!rest.empty()) {
    auto newline = rest.find('\n');
    auto line = rest.substr(0, newline);
    bool last = newline == std::string_view::npos || newline + 1 == rest.size();
    uint64_t id = 0;
    if (newline == std::string_view::npos || !parse_decimal(line, id)) {
      if (last)
        break; // torn: set aside below
      error = fmt::format("{}:{}: {} is not a request id (a decimal number)", ids_path.string(),
                          lines_read_ + good_lines + 1, printable_quoted(line));
      return false;
    }
    found.push_back(id);
    good_bytes += newline + 1;
    ++good_lines;
    rest.remove_prefix(newline + 1);
  }
  if (good_bytes < chunk.size()) {
    // Keep the torn bytes next to the ledger (nothing is thrown away), then cut them off
    // so the next append starts on a line of its own.
    auto torn_path = path(".torn");
    std::string_view torn = std::string_view{chunk}.substr(good_bytes);
    std::string record{torn};
    if (record.back() != '\n')
      record += '\n';
    int fd = ::open(torn_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      error = system_error_text("cannot open", torn_path);
      return false;
    }
    bool saved = write_all(fd, record);
    if (!saved)
      error = system_error_text("cannot write", torn_path);
    ::close(fd);
    if (!saved)
      return false;
    if (::ftruncate(ids_fd_, static_cast<off_t>(read_offset_ + good_bytes)) != 0) {
      error = system_error_text("cannot cut the torn last line off", ids_path);
      return false;
    }
    ++torn_lines_;
  }
  ids_.insert(found.begin(), found.end());
  read_offset_ += good_bytes;
  lines_read_ += good_lines;
  return true;
}

} // namespace warden
