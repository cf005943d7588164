// The fenced ledger on real files in a temp dir: ids survive reopening, duplicates count
// once, a newer epoch fences an older copy (its appends refuse and never reach the file),
// an older epoch cannot open, epoch 0 ignores fences, names are checked, a torn last line
// is set aside, garbage elsewhere is a named error, and two processes appending with the
// same epoch lose no id and write none twice.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "warden/fenced_ledger.hpp"

using warden::fenced_ledger;
namespace fs = std::filesystem;

namespace {

/// A fresh directory under the system temp dir, removed with everything in it at the end.
class temp_dir {
public:
  temp_dir() {
    auto pattern = (fs::temp_directory_path() / "warden-ledger-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr)
      throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const fs::path& path() const { return path_; }

private:
  fs::path path_;
};

std::string read_all(const fs::path& p) {
  std::ifstream in{p, std::ios::binary};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_all(const fs::path& p, const std::string& text) {
  std::ofstream out{p, std::ios::binary | std::ios::trunc};
  out << text;
}

size_t lines_of(const std::string& text) {
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

class fenced_ledger_test : public ::testing::Test {
protected:
  /// Opens "ledger" in the temp dir; a failure is reported with its text.
  std::optional<fenced_ledger> open(uint64_t epoch, const std::string& name = "ledger") {
    std::string error;
    auto ledger = fenced_ledger::open(dir.path(), name, epoch, error);
    if (!ledger)
      ADD_FAILURE() << "open(" << name << ", epoch " << epoch << ") failed: " << error;
    return ledger;
  }

  /// The error of an open that must fail.
  std::string open_error(uint64_t epoch, const std::string& name = "ledger") {
    std::string error;
    auto ledger = fenced_ledger::open(dir.path(), name, epoch, error);
    EXPECT_FALSE(ledger) << "open(" << name << ") succeeded";
    EXPECT_FALSE(error.empty());
    return error;
  }

  fs::path file(const std::string& suffix) const { return dir.path() / ("ledger" + suffix); }

  temp_dir dir;
};

} // namespace

// 1. Appended ids are in memory and in the file, one per line, and a reopen reads them back;
//    a missing directory is created.
TEST_F(fenced_ledger_test, open_append_reopen_reads_ids) {
  std::string error;
  auto nested = dir.path() / "a" / "b";
  {
    auto ledger = fenced_ledger::open(nested, "ledger", 5, error);
    ASSERT_TRUE(ledger) << error;
    EXPECT_EQ(ledger->epoch(), 5u);
    EXPECT_EQ(ledger->size(), 0u);
    for (uint64_t id : {uint64_t{3}, uint64_t{1}, uint64_t{18446744073709551615ull}})
      EXPECT_TRUE(ledger->append(id, error)) << error;
    EXPECT_EQ(ledger->ids(), (std::set<uint64_t>{1, 3, 18446744073709551615ull}));
  }
  EXPECT_EQ(read_all(nested / "ledger.ids"), "3\n1\n18446744073709551615\n");
  EXPECT_EQ(read_all(nested / "ledger.fence"), "5\n");
  auto again = fenced_ledger::open(nested, "ledger", 5, error);
  ASSERT_TRUE(again) << error;
  EXPECT_EQ(again->ids(), (std::set<uint64_t>{1, 3, 18446744073709551615ull}));
  EXPECT_EQ(again->torn_lines(), 0u);
  EXPECT_FALSE(again->stale());
}

// 2. A retried id is stored once: in memory, in the file, and across a reopen.
TEST_F(fenced_ledger_test, duplicate_ids_are_stored_once) {
  std::string error;
  {
    auto ledger = open(1);
    ASSERT_TRUE(ledger);
    EXPECT_TRUE(ledger->append(7, error)) << error;
    EXPECT_TRUE(ledger->append(7, error)) << error;
    EXPECT_EQ(ledger->size(), 1u);
  }
  auto again = open(1);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->append(7, error)) << error;
  EXPECT_EQ(again->size(), 1u);
  EXPECT_EQ(read_all(file(".ids")), "7\n");
}

// 3. Two ledgers with the same epoch see each other's appends (the next append catches up),
//    and an id one of them wrote is not written again by the other.
TEST_F(fenced_ledger_test, same_epoch_ledgers_catch_up_with_each_other) {
  std::string error;
  auto a = open(4);
  auto b = open(4);
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(a->append(1, error)) << error;
  EXPECT_TRUE(b->append(2, error)) << error;
  EXPECT_EQ(b->ids(), (std::set<uint64_t>{1, 2}));
  EXPECT_TRUE(a->append(2, error)) << error;
  EXPECT_EQ(a->ids(), (std::set<uint64_t>{1, 2}));
  EXPECT_EQ(read_all(file(".ids")), "1\n2\n");
}

// 4. Opening with a newer epoch fences an open older ledger: its next append refuses, the
//    file does not get the id, and it stays stale (later appends refuse without looking at
//    the fence, even one lowered behind its back).
TEST_F(fenced_ledger_test, newer_epoch_fences_an_older_open_ledger) {
  std::string error;
  auto old_copy = open(10);
  ASSERT_TRUE(old_copy);
  EXPECT_TRUE(old_copy->append(1, error)) << error;
  auto new_copy = open(11);
  ASSERT_TRUE(new_copy);
  EXPECT_EQ(read_all(file(".fence")), "11\n");

  EXPECT_FALSE(old_copy->append(2, error));
  EXPECT_EQ(error, "fenced: epoch 10 is older than 11");
  EXPECT_TRUE(old_copy->stale());
  EXPECT_EQ(old_copy->ids(), (std::set<uint64_t>{1}));
  EXPECT_EQ(read_all(file(".ids")), "1\n");

  write_all(file(".fence"), "3\n");
  error.clear();
  // Even an id it already holds: a stale copy acknowledges nothing.
  EXPECT_FALSE(old_copy->append(1, error));
  EXPECT_EQ(error, "fenced: epoch 10 is older than 11");
  EXPECT_EQ(read_all(file(".ids")), "1\n");

  EXPECT_TRUE(new_copy->append(2, error)) << error;
  EXPECT_FALSE(new_copy->stale());
  EXPECT_EQ(new_copy->ids(), (std::set<uint64_t>{1, 2}));
}

// 5. Opening with an epoch below the fence fails with the fencing text and changes nothing;
//    the same epoch opens.
TEST_F(fenced_ledger_test, opening_with_an_older_epoch_fails) {
  std::string error;
  {
    auto ledger = open(1700000000123);
    ASSERT_TRUE(ledger);
    EXPECT_TRUE(ledger->append(5, error)) << error;
  }
  EXPECT_EQ(open_error(1700000000122), "fenced: epoch 1700000000122 is older than 1700000000123");
  EXPECT_EQ(read_all(file(".fence")), "1700000000123\n");
  EXPECT_EQ(read_all(file(".ids")), "5\n");
  auto same = open(1700000000123);
  ASSERT_TRUE(same);
  EXPECT_EQ(same->ids(), (std::set<uint64_t>{5}));
}

// 6. Epoch 0 is not fenced: it opens below any fence, never raises it, and a newer epoch
//    opening later does not stop its appends.
TEST_F(fenced_ledger_test, epoch_zero_ignores_fences) {
  std::string error;
  {
    auto fenced = open(9);
    ASSERT_TRUE(fenced);
  }
  auto unfenced = open(0);
  ASSERT_TRUE(unfenced);
  EXPECT_EQ(unfenced->epoch(), 0u);
  EXPECT_TRUE(unfenced->append(1, error)) << error;
  EXPECT_EQ(read_all(file(".fence")), "9\n");
  auto newer = open(12);
  ASSERT_TRUE(newer);
  EXPECT_TRUE(unfenced->append(2, error)) << error;
  EXPECT_FALSE(unfenced->stale());
  EXPECT_EQ(read_all(file(".fence")), "12\n");
  EXPECT_EQ(read_all(file(".ids")), "1\n2\n");

  // A fresh ledger opened with epoch 0 leaves its fence empty: the first fenced open
  // may use any epoch.
  auto fresh = open(0, "fresh");
  ASSERT_TRUE(fresh);
  EXPECT_EQ(read_all(dir.path() / "fresh.fence"), "");
  EXPECT_TRUE(open(1, "fresh"));
}

// 7. Names that are not safe file stems are refused with the rule; safe ones open.
TEST_F(fenced_ledger_test, bad_names_are_refused_with_the_rule) {
  for (std::string bad : {"", ".hidden", ".", "..", "a/b", "../ledger", "a b", "ledger\n",
                          "l\xc3\xa9"}) {
    auto error = open_error(1, bad);
    EXPECT_NE(error.find("is not a safe file stem: use [A-Za-z0-9._#-]+, not starting with '.'"),
              std::string::npos)
      << error;
  }
  EXPECT_TRUE(fs::is_empty(dir.path()));
  for (std::string good : {"ledger#2", "a.b-c_D9", "x."})
    EXPECT_TRUE(open(1, good)) << good;
}

// 8. A torn last line (no newline, or not a number) is ignored and counted, kept in
//    <name>.torn and cut off, so the next append starts on its own line.
TEST_F(fenced_ledger_test, a_torn_last_line_is_set_aside) {
  std::string error;
  write_all(file(".ids"), "1\n2\n3");
  {
    auto ledger = open(1);
    ASSERT_TRUE(ledger);
    EXPECT_EQ(ledger->ids(), (std::set<uint64_t>{1, 2}));
    EXPECT_EQ(ledger->torn_lines(), 1u);
    EXPECT_TRUE(ledger->append(4, error)) << error;
  }
  EXPECT_EQ(read_all(file(".ids")), "1\n2\n4\n");
  EXPECT_EQ(read_all(file(".torn")), "3\n");

  write_all(file(".ids"), "1\n2\n4\n5x\n");
  auto ledger = open(1);
  ASSERT_TRUE(ledger);
  EXPECT_EQ(ledger->ids(), (std::set<uint64_t>{1, 2, 4}));
  EXPECT_EQ(ledger->torn_lines(), 1u);
  EXPECT_EQ(read_all(file(".ids")), "1\n2\n4\n");
  EXPECT_EQ(read_all(file(".torn")), "3\n5x\n");

  // A torn line left by another writer is set aside by the next append, too.
  std::ofstream{file(".ids"), std::ios::binary | std::ios::app} << "6";
  EXPECT_TRUE(ledger->append(7, error)) << error;
  EXPECT_EQ(ledger->torn_lines(), 2u);
  EXPECT_EQ(read_all(file(".ids")), "1\n2\n4\n7\n");
}

// 9. A bad line before the last is an open error naming file:line; nothing is changed.
TEST_F(fenced_ledger_test, garbage_in_the_middle_is_an_error_naming_file_and_line) {
  write_all(file(".ids"), "1\n2\nabc\n4\n");
  auto error = open_error(3);
  EXPECT_NE(error.find(file(".ids").string() + ":3: \"abc\" is not a request id"),
            std::string::npos)
    << error;
  EXPECT_EQ(read_all(file(".ids")), "1\n2\nabc\n4\n");
  EXPECT_EQ(read_all(file(".fence")), "");

  write_all(file(".ids"), "\n5\n");
  error = open_error(3);
  EXPECT_NE(error.find(file(".ids").string() + ":1: \"\" is not a request id"), std::string::npos)
    << error;
  write_all(file(".ids"), "99999999999999999999\n5\n"); // above 2^64 - 1
  error = open_error(3);
  EXPECT_NE(error.find(":1: \"99999999999999999999\" is not a request id"), std::string::npos)
    << error;
}

// 10. A fence file that is not a number is an open error naming it.
TEST_F(fenced_ledger_test, a_bad_fence_file_is_an_error) {
  write_all(file(".fence"), "seven\n");
  auto error = open_error(3);
  EXPECT_EQ(error, "fence file " + file(".fence").string()
                     + " holds \"seven\", not an epoch (a decimal number)");
}

namespace {

/// Processes forked by a test, killed and reaped by PID if the test ends early.
class children {
public:
  ~children() {
    for (pid_t pid : pids_) {
      ::kill(pid, SIGKILL);
      int status = 0;
      ::waitpid(pid, &status, 0);
    }
  }

  void add(pid_t pid) { pids_.push_back(pid); }

  /// Waits for `pid`; its exit code, or -1 when a signal ended it.
  int wait(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    std::erase(pids_, pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

private:
  std::vector<pid_t> pids_;
};

} // namespace

// 11. Two processes open the ledger with the same epoch and race their appends, each id
//     0..n-1 by both (a retried request reaching two copies) and n ids of their own: the
//     file holds every id, each exactly once.
TEST_F(fenced_ledger_test, two_processes_racing_appends_lose_no_id) {
  constexpr uint64_t n = 10000;
  int start[2];
  ASSERT_EQ(::pipe(start), 0);
  children kids;
  std::vector<pid_t> pids;
  for (uint64_t own_first : {n, 2 * n}) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::alarm(60); // a child that hangs dies on its own
      ::close(start[1]);
      char c;
      while (::read(start[0], &c, 1) < 0 && errno == EINTR) {
      }
      std::string error;
      auto ledger = fenced_ledger::open(dir.path(), "ledger", 7, error);
      if (!ledger)
        ::_exit(10);
      for (uint64_t i = 0; i < n; ++i)
        if (!ledger->append(i, error) || !ledger->append(own_first + i, error))
          ::_exit(11);
      ::_exit(0);
    }
    kids.add(pid);
    pids.push_back(pid);
  }
  ::close(start[0]);
  ::close(start[1]); // both children start now
  for (pid_t pid : pids)
    EXPECT_EQ(kids.wait(pid), 0) << "child " << pid;

  auto ledger = open(7);
  ASSERT_TRUE(ledger);
  EXPECT_EQ(ledger->torn_lines(), 0u);
  std::set<uint64_t> expected;
  for (uint64_t id = 0; id < 3 * n; ++id)
    expected.insert(id);
  EXPECT_EQ(ledger->ids(), expected);
  EXPECT_EQ(lines_of(read_all(file(".ids"))), expected.size());
}
