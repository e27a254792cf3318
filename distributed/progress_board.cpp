#include "distributed/progress_board.h"

#include <fcntl.h>
#include <unistd.h>

#include <boost/filesystem.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace rpct {
namespace {

// One record per rank, written whole by one pwrite at offset 0 (within one page: a reader sees the old or
// the new record in practice; the decision uses only `seq`, an aligned 8-byte field).
struct Record {
  uint64_t seq = 0;     // collectives entered; 0 = none yet
  char where[56] = {};  // NUL-terminated description of the last one
};
static_assert(sizeof(Record) == 64, "one 64-byte record per rank");
constexpr off_t kHeartbeatOffset = sizeof(Record);  // int64 wall-clock milliseconds; 0 = none yet

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

ProgressBoard::ProgressBoard(std::string dir, int rank, int world_size) : dir_(std::move(dir)), world_size_(world_size) {
  boost::system::error_code ec;
  boost::filesystem::create_directories(dir_, ec);
  if (ec) throw std::runtime_error(dir_ + ": cannot create the progress directory: " + ec.message());
  const std::string path = path_of(rank);
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT, 0644);
  if (fd_ < 0) throw std::runtime_error(path + ": cannot open for writing: " + std::strerror(errno));
  const Record none;
  const int64_t no_beat = 0;
  if (::pwrite(fd_, &none, sizeof(none), 0) != static_cast<ssize_t>(sizeof(none)) ||
      ::pwrite(fd_, &no_beat, sizeof(no_beat), kHeartbeatOffset) != static_cast<ssize_t>(sizeof(no_beat)))
    throw std::runtime_error(path + ": cannot write: " + std::strerror(errno));
}

ProgressBoard::~ProgressBoard() {
  if (fd_ >= 0) ::close(fd_);
}

std::string ProgressBoard::path_of(int rank) const {
  char name[32];
  std::snprintf(name, sizeof(name), "/rank_%05d.progress", rank);
  return dir_ + name;
}

int64_t ProgressBoard::arrive(const std::string& where) {
  Record r;
  r.seq = static_cast<uint64_t>(++seq_);
  std::strncpy(r.where, where.c_str(), sizeof(r.where) - 1);
  // Best effort: a failed write only makes a later timeout message less precise, never the training wrong.
  (void)!::pwrite(fd_, &r, sizeof(r), 0);
  return seq_;
}

void ProgressBoard::heartbeat() {
  const int64_t now = wall_ms();
  (void)!::pwrite(fd_, &now, sizeof(now), kHeartbeatOffset);  // best effort, as arrive()
}

std::vector<ProgressBoard::RankProgress> ProgressBoard::read_all() const {
  const int64_t now = wall_ms();
  std::vector<RankProgress> out;
  for (int rank = 0; rank < world_size_; ++rank) {
    Record r;
    int64_t beat = 0;
    const int fd = ::open(path_of(rank).c_str(), O_RDONLY);  // a fresh open: NFS revalidates on open
    if (fd >= 0) {
      if (::pread(fd, &r, sizeof(r), 0) != static_cast<ssize_t>(sizeof(r))) r = Record{};
      if (::pread(fd, &beat, sizeof(beat), kHeartbeatOffset) != static_cast<ssize_t>(sizeof(beat))) beat = 0;
      ::close(fd);
    }
    r.where[sizeof(r.where) - 1] = '\0';
    out.push_back({rank, static_cast<int64_t>(r.seq), r.where, beat > 0 ? (now - beat) / 1000.0 : -1.0});
  }
  return out;
}

std::string describe_culprits(const std::vector<ProgressBoard::RankProgress>& ranks, int64_t seq, double stale_s) {
  std::string never, inside;
  char silent[48];
  for (const auto& r : ranks) {
    std::snprintf(silent, sizeof(silent), "silent for %.1f s", r.silent_s);
    const bool dead = r.silent_s > stale_s;
    if (r.seq < seq) {
      never += (never.empty() ? "" : ", ") + std::to_string(r.rank) + " (" +
               (r.seq == 0 ? std::string("none entered") : "last entered: " + r.where) + (dead ? std::string("; ") + silent : "") +
               ")";
    } else if (dead) {
      inside += (inside.empty() ? "" : ", ") + std::to_string(r.rank) + " (" + silent + ")";
    }
  }
  std::string out;
  if (!never.empty()) out = "rank(s) that never arrived: " + never;
  if (!inside.empty()) out += (out.empty() ? "" : "; ") + std::string("rank(s) that stopped responding inside it: ") + inside;
  return out.empty() ? "every rank entered it and is alive, so the transport itself failed" : out;
}

}  // namespace rpct
