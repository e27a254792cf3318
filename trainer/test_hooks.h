// Hooks that tests drive through environment variables; each is a no-op (one getenv, once) when unset.
//   RPCT_FAULT="hang:RANK:STEP" makes that rank stop responding at that step, "exit:RANK:STEP" makes it
//   exit(17) there (fault-tolerance tests: watchdog, launcher restarts, resume); "nan:RANK:STEP" /
//   "inf:RANK:STEP" make that rank's loss NaN / inf at that step (train.on_nonfinite), "stop:RANK:STEP"
//   sends SIGSTOP to that rank itself there (a frozen process: the watchdog must name it).
//   RPCT_SAMPLE_LOG=PREFIX appends "epoch step idx..." per micro-batch to PREFIX.rank<R>, so tests can
//   check that every sample of an epoch is seen exactly once across a resume.
#pragma once
#include <cstdint>
#include <vector>

namespace rpct {

void maybe_inject_fault(int rank, int64_t step);
// 1, or NaN / inf once after maybe_inject_fault met a "nan" / "inf" fault: the factor of the next loss.
double injected_loss_factor();
void trace_samples(int rank, int64_t epoch, int64_t step, const std::vector<int64_t>& indices);

}  // namespace rpct
