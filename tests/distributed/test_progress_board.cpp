// distributed/progress_board in one process: the boards of a 3-rank "world" in one directory. Entering
// collectives is counted per rank, a new board resets its rank's record (a previous attempt's progress does
// not count), and the watchdog's message names the ranks that never arrived and the silent ones.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "distributed/progress_board.h"
#include "tests/expect_error.h"
#include "tests/test_files.h"

namespace {

using rpct::ProgressBoard;

TEST(ProgressBoard, CountsWhatEachRankEnteredAndNamesWhoNeverArrived) {
  rpct::test::TempDir dir;
  ProgressBoard r0(dir.str(), 0, 3), r1(dir.str(), 1, 3), r2(dir.str(), 2, 3);
  EXPECT_EQ(r0.arrive("bucket 0 of step 0"), 1);
  EXPECT_EQ(r0.arrive("bucket 0 of step 1"), 2);
  EXPECT_EQ(r1.arrive("bucket 0 of step 0"), 1);
  const auto all = r0.read_all();  // any rank reads every rank's record
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].seq, 2);
  EXPECT_EQ(all[0].where, "bucket 0 of step 1");
  EXPECT_EQ(all[1].seq, 1);
  EXPECT_EQ(all[1].where, "bucket 0 of step 0");
  EXPECT_EQ(all[2].seq, 0);
  EXPECT_LT(all[2].silent_s, 0) << "no heartbeat yet";
  // Rank 0 waits in collective 2: ranks 1 and 2 never arrived; none is silent (no heartbeats: unknown).
  const std::string msg = rpct::describe_culprits(all, 2, /*stale_s=*/1.0);
  EXPECT_EQ(msg, "rank(s) that never arrived: 1 (last entered: bucket 0 of step 0), 2 (none entered)");
}

TEST(ProgressBoard, ANewBoardResetsItsRanksRecord) {
  rpct::test::TempDir dir;
  {
    ProgressBoard before(dir.str(), 1, 2);  // an earlier attempt of the job got far
    for (int i = 0; i < 50; ++i) before.arrive("bucket 0 of step " + std::to_string(i));
  }
  ProgressBoard r0(dir.str(), 0, 2), r1(dir.str(), 1, 2);
  EXPECT_EQ(r0.read_all()[1].seq, 0);
  EXPECT_EQ(r1.arrive("bucket 0 of step 40"), 1) << "the count starts again";
}

TEST(ProgressBoard, HeartbeatsTellStoppedRanksFromWaitingOnes) {
  rpct::test::TempDir dir;
  ProgressBoard r0(dir.str(), 0, 2), r1(dir.str(), 1, 2);
  r0.arrive("bucket 0 of step 0");
  r1.arrive("bucket 0 of step 0");
  r0.heartbeat();
  r1.heartbeat();
  constexpr double kStaleS = 0.3;  // silence longer than this is "stopped"; the sleep below is 2.5x it
  std::this_thread::sleep_for(std::chrono::milliseconds(750));
  r0.heartbeat();  // rank 0 waits inside collective 1, alive; rank 1 entered it too and went silent
  const auto all = r0.read_all();
  EXPECT_LT(all[0].silent_s, kStaleS);
  EXPECT_GE(all[1].silent_s, 0.75 - 0.01);  // ms resolution of the wall clock
  const std::string msg = rpct::describe_culprits(all, 1, kStaleS);
  EXPECT_EQ(msg.find("rank(s) that stopped responding inside it: 1 (silent for "), 0u) << msg;
  EXPECT_EQ(msg.find("never arrived"), std::string::npos) << msg;
  // Both alive and inside: the transport failed.
  r1.heartbeat();
  EXPECT_EQ(rpct::describe_culprits(r0.read_all(), 1, kStaleS), "every rank entered it and is alive, so the transport itself failed");
}

TEST(ProgressBoard, AnUnwritableDirectoryIsNamed) {
  rpct::test::TempDir dir;
  rpct::test::write_bytes(dir.file("plain_file"), "x");
  rpct::test::expect_error_naming([&] { ProgressBoard b(dir.file("plain_file") + "/progress", 0, 2); },
                                  {dir.file("plain_file") + "/progress", "cannot create"});
}

}  // namespace
