// Stop requests by signal: SIGTERM (Slurm's time limit, preemption, scancel), SIGINT (Ctrl-C), SIGUSR1
// (Slurm's `--signal`, Open MPI's mpirun forwards it to every rank) and one more signal of the user's
// choice. The handler only records the first signal and its time (async-signal-safe); the training loop
// polls stop_signal() at step boundaries and stops there, all ranks together (docs/distributed.md).
// A SIGINT while a stop is already pending ends the process at once (Ctrl-C twice), exit code 130.
#pragma once
#include <memory>
#include <string>
#include <vector>

namespace rpct {

// The exit code of a run stopped by a signal after writing its checkpoint (resumable with --resume auto).
constexpr int kExitStopped = 3;
// The exit code of a second SIGINT (128 + SIGINT, as a shell reports a process killed by it).
constexpr int kExitInterrupted = 130;

// "SIGTERM" for SIGTERM; "signal N" for one without a name here.
std::string signal_name(int sig);
// A signal from its name with or without the SIG prefix ("USR1", "SIGUSR1") or its number; throws
// std::invalid_argument for anything else.
int signal_from_name(const std::string& name);

// Installs the stop handler for SIGTERM, SIGINT, SIGUSR1 and `extra` (0: none); the destructor restores
// the handlers it replaced. Instances nest (the `train` command holds one until the process ends, the
// training loop one more for run.stop_signal); the outermost clears any earlier request when it starts.
class StopSignals {
 public:
  explicit StopSignals(int extra = 0);
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  struct Replaced;
  void restore();
  std::unique_ptr<std::vector<Replaced>> replaced_;  // the handlers it replaced, in order
};

// The first stop signal received since the handlers were installed, or 0.
int stop_signal();
// Seconds since that signal arrived (CLOCK_MONOTONIC); 0 when none did.
double seconds_since_stop_signal();

}  // namespace rpct
