// `rpctrain launch`: turns nodes / hostfile / procs-per-node and a command into the mpirun command
// line (binding, environment passthrough), runs it, and (with --max-restarts) relaunches a failed
// job with `--resume auto`; a job stopped by a signal is not restarted.
#pragma once
#include <string>
#include <vector>

namespace rpct {

struct LaunchOptions {
  int nodes = 1;
  int procs_per_node = 1;
  std::string hostfile;              // Open MPI hostfile ("host slots=N" lines); for nodes > 1 outside Slurm
  std::string mpirun = "mpirun";
  bool oversubscribe = false;        // allow more ranks than cores (CPU runs on small machines)
  int threads_per_proc = 0;          // OMP_NUM_THREADS for each rank; 0 = leave unset
  int max_restarts = 0;
  bool dry_run = false;
  std::string program;               // the rpctrain binary
  std::vector<std::string> args;     // what the ranks run, e.g. {"train", "--config", "x.yaml"}
};

// The full argv of the mpirun command. Environment passed to every rank: OMP_NUM_THREADS (if set),
// every NCCL_* and RPCT_* variable of the current environment, PATH and LD_LIBRARY_PATH.
std::vector<std::string> build_mpirun_command(const LaunchOptions& opt, const std::vector<std::string>& env_names);
std::string shell_join(const std::vector<std::string>& argv);

// Entry point for `rpctrain launch ...` (argv without the leading "rpctrain"): returns the exit code
// (0; 3 when the job was stopped by a signal, checkpoint written: not restarted; 1 when it failed after its
// restarts); a bad command line throws cli::UsageError. SIGTERM, SIGINT and SIGUSR1 reach every rank as a
// graceful stop (SIGUSR1 to mpirun, which forwards it); a second SIGINT ends the job at once.
int launch_main(int argc, char** argv, const std::string& self_exe);

}  // namespace rpct
