// gtest main for tests run under mpirun: MPI is initialized before and finalized after the tests
// (a rank that exits without MPI_Finalize makes mpirun report an improper exit).
#include <gtest/gtest.h>

#include "distributed/dist_context.h"

int main(int argc, char** argv) {
  auto& dist = rpct::DistContext::init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  if (!dist.is_root()) {  // one rank's report is enough; failures on any rank still fail the run
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  const int rc = RUN_ALL_TESTS();
  dist.finalize();
  return rc;
}
