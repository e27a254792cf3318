// ProgressBoard: where every rank publishes how far it got through the job's collectives, so that a watchdog
// that times out can name the rank(s) that never arrived (at 16+ ranks "a peer is stuck" is not enough: the
// question of pytorch#46874) without asking them anything.
//
// Every rank runs the same sequence of watched collectives (gradient buckets in order, checkpoint, metric
// reductions), so "how far" is one number: this rank's count of collectives entered, `seq`, published with a
// short description ("bucket 0 of step 2") when it enters one. The timed-out rank waits in collective number
// s; a rank whose published count is below s never entered it.
//
// Entering is not all: a rank stopped (SIGSTOP) or killed *inside* the collective has entered it like the
// ranks waiting there. So each rank's watchdog thread also writes a heartbeat (wall-clock time, every
// heartbeat period); a rank whose heartbeat is older than a few periods is stopped or dead, and named too.
//
// The store is one 64-byte record per rank plus an 8-byte heartbeat, <dir>/rank_XXXXX.progress, rewritten in place (one pwrite, no
// fsync), read by the timed-out rank's watchdog thread (open + pread). Why files and not an MPI one-sided
// window: the reader must not depend on the rank it asks about (a SIGSTOPped or dead process answers nothing;
// its last write stays in the page cache), and the watchdog thread must not enter MPI while another thread is
// blocked in the very collective that hangs: passive-target MPI_Get over TCP needs the target's progress
// engine, i.e. the stopped rank, and a node-shared window (MPI_Win_allocate_shared) sees only its own node.
// The files need only what checkpoints already need: a run directory every rank can write (shared across
// nodes). Within a node they are exact; across nodes on NFS a reader may see a record some steps old
// (close-to-open consistency), which can only make it name a rank that was late too.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace rpct {

class ProgressBoard {
 public:
  // Creates `dir` and this rank's file, reset to "nothing entered yet" (a previous attempt's record must not
  // count). Throws naming the file when it cannot be written.
  ProgressBoard(std::string dir, int rank, int world_size);
  ~ProgressBoard();
  ProgressBoard(const ProgressBoard&) = delete;
  ProgressBoard& operator=(const ProgressBoard&) = delete;

  // This rank enters its next watched collective, described by `where` (cut to 55 characters). Returns its
  // number (1, 2, ...). One pwrite.
  int64_t arrive(const std::string& where);

  // This rank is alive (the watchdog thread calls it every period). One pwrite.
  void heartbeat();

  struct RankProgress {
    int rank;
    int64_t seq;        // collectives it had entered; 0: none (or no file)
    std::string where;  // the last one it entered
    double silent_s;    // seconds since its last heartbeat; < 0: none yet
  };
  std::vector<RankProgress> read_all() const;
  const std::string& dir() const { return dir_; }

 private:
  std::string path_of(int rank) const;
  std::string dir_;
  int world_size_;
  int fd_ = -1;
  int64_t seq_ = 0;
};

// Who holds up collective number `seq`, for the watchdog's message: "rank(s) that never arrived: 1 (last
// entered: bucket 0 of step 2; silent for 5.0 s)" and/or "rank(s) that stopped responding inside it: 3 (silent
// for 6.1 s)", where silent means no heartbeat for more than `stale_s`; when every rank entered it and is alive,
// says so (then the transport itself failed).
std::string describe_culprits(const std::vector<ProgressBoard::RankProgress>& ranks, int64_t seq, double stale_s);

}  // namespace rpct
