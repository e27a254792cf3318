// Hooks that tests drive through environment variables; each is a no-op (one getenv, once) when unset.
//   RPCT_FAULT="hang:RANK:STEP" makes that rank stop responding at that step, "exit:RANK:STEP" makes it
//   exit(17) there (fault-tolerance tests: watchdog, launcher restarts, resume).
//   RPCT_SAMPLE_LOG=PREFIX appends "epoch step idx..." per micro-batch to PREFIX.rank<R>, so tests can
//   check that every sample of an epoch is seen exactly once across a resume.
#pragma once
#include <cstdint>
#include <vector>

namespace rpct {

void maybe_inject_fault(int rank, int64_t step);
void trace_samples(int rank, int64_t epoch, int64_t step, const std::vector<int64_t>& indices);

}  // namespace rpct
