// Hooks that tests drive through environment variables; each is a no-op (one getenv, once) when unset.
//   RPCT_FAULT="KIND[@WHERE]:RANK:STEP[,...]": at that place the rank does KIND. WHERE is `step` (default: at
//   the start of optimizer step STEP, counted from 0), `ckpt` (while writing the checkpoint of step STEP,
//   after this rank's own file), `eval` (as the evaluation after step STEP starts) or `stop` (as a graceful
//   stop after step STEP begins its checkpoint). STEP `*`: any step. KIND:
//     exit   exit(17) (fault-tolerance tests: watchdog, launcher restarts, resume);
//     hang   stop responding; stop: SIGSTOP to itself (a frozen process: the watchdog must name it);
//     nan / inf  the loss of that step is NaN / inf (train.on_nonfinite);
//     term / int / usr1 / usr2  the signal SIGTERM / SIGINT / SIGUSR1 / SIGUSR2 to itself (graceful stops).
//   Several faults, comma-separated, e.g. "term:0:7,term:1:9" (the same signal reaching ranks at different steps).
//   RPCT_SAMPLE_LOG=PREFIX appends "epoch step idx..." per micro-batch to PREFIX.rank<R>, so tests can
//   check that every sample of an epoch is seen exactly once across a resume.
#pragma once
#include <cstdint>
#include <vector>

namespace rpct {

// The faults of RPCT_FAULT for `rank` at `where` ("step", "ckpt", "eval", "stop") and `step`, done here.
void maybe_inject_fault(int rank, int64_t step, const char* where = "step");
// 1, or NaN / inf once after maybe_inject_fault met a "nan" / "inf" fault: the factor of the next loss.
double injected_loss_factor();
void trace_samples(int rank, int64_t epoch, int64_t step, const std::vector<int64_t>& indices);

}  // namespace rpct
