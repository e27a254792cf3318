#include "launch/launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <iterator>
#include <cstring>
#include <stdexcept>

#include "core/json_result.h"
#include "core/stop_signal.h"
#include "launch/cli.h"

extern char** environ;

namespace rpct {

std::string shell_join(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    const bool plain = !a.empty() && a.find_first_not_of(
                                         "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") ==
                                         std::string::npos;
    std::string q = a;
    if (!plain) {
      q = "'";
      for (char c : a) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
      q += "'";
    }
    out += (out.empty() ? "" : " ") + q;
  }
  return out;
}

std::vector<std::string> build_mpirun_command(const LaunchOptions& o, const std::vector<std::string>& env_names) {
  if (o.nodes < 1 || o.procs_per_node < 1) throw std::invalid_argument("launch: --nodes and --procs-per-node must be >= 1");
  const auto has_env = [&](const std::string& name) {
    return std::find(env_names.begin(), env_names.end(), name) != env_names.end();
  };
  // In a Slurm allocation mpirun takes the nodes from it (and starts its daemons with srun).
  if (o.nodes > 1 && o.hostfile.empty() && !has_env("SLURM_JOB_ID"))
    throw std::invalid_argument("launch: --nodes > 1 needs --hostfile (or a Slurm allocation, which mpirun reads)");
  if (o.program.empty() || o.args.empty()) throw std::invalid_argument("launch: nothing to run (give the command after --)");
  std::vector<std::string> c = {o.mpirun, "-np", std::to_string(o.nodes * o.procs_per_node)};
  if (!o.hostfile.empty()) c.insert(c.end(), {"--hostfile", o.hostfile});
  // procs-per-node ranks on each node, in rank order; no core binding (each rank runs its own
  // intra-op thread pool, and GPU ranks pick their device by local rank), as Horovod recommends.
  c.insert(c.end(), {"--map-by", "ppr:" + std::to_string(o.procs_per_node) + ":node", "--bind-to", "none"});
  // Several nodes: mpirun starts one orted daemon per node. Open MPI 4.1's daemons map hwloc's topology
  // into shared memory at an address taken from a hole in their address space (MCA rtc_hwloc_vmhole,
  // default "biggest"), and that write segfaults at startup now and then (hwloc_shmem_topology_write:
  // 41 of 250 two-node `mpirun ... true` here, 0 of 250 with "none"; it failed the CI's two-node test).
  // "none" only skips that sharing: each process reads the topology itself. Measured with Debian's Open MPI
  // 4.1.4 (the 4.x rtc framework; Open MPI 5 moved daemons to PRRTE, not checked here). An
  // OMPI_MCA_rtc_hwloc_vmhole in the environment wins.
  if (o.nodes > 1 && !has_env("OMPI_MCA_rtc_hwloc_vmhole")) c.insert(c.end(), {"--mca", "rtc_hwloc_vmhole", "none"});
  if (o.oversubscribe) c.push_back("--oversubscribe");
  if (o.threads_per_proc > 0) c.insert(c.end(), {"-x", "OMP_NUM_THREADS=" + std::to_string(o.threads_per_proc)});
  for (const auto& n : env_names) {
    const bool pass = n == "PATH" || n == "LD_LIBRARY_PATH" || n.rfind("NCCL_", 0) == 0 || n.rfind("RPCT_", 0) == 0 ||
                      (n == "OMP_NUM_THREADS" && o.threads_per_proc == 0);
    if (pass) c.insert(c.end(), {"-x", n});
  }
  c.push_back(o.program);
  c.insert(c.end(), o.args.begin(), o.args.end());
  return c;
}

namespace {

std::vector<std::string> environment_names() {
  std::vector<std::string> names;
  for (char** e = environ; e && *e; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (eq) names.emplace_back(*e, eq - *e);
  }
  return names;
}

// Stop signals while the job runs. mpirun ends its ranks on SIGTERM / SIGINT within about two seconds
// (SIGTERM to them after odls_base_sigkill_timeout = 1 s, SIGKILL a second later: too soon for a
// checkpoint), but forwards SIGUSR1 to every rank on every node at once. So the launcher keeps mpirun
// out of the terminal's process group (Ctrl-C reaches only the launcher) and turns TERM, INT and USR1
// into one SIGUSR1 for mpirun: each rank stops gracefully (core/stop_signal.h). A second SIGINT sends
// mpirun SIGTERM: the ranks end at once, without a checkpoint.
volatile sig_atomic_t g_job_pid = 0;     // the running mpirun, 0 between launches
volatile sig_atomic_t g_stop_signal = 0; // the first stop signal the launcher got
volatile sig_atomic_t g_interrupts = 0;  // SIGINTs so far

void forward_stop(int sig) {
  const int saved_errno = errno;
  if (g_stop_signal == 0) g_stop_signal = sig;
  if (sig == SIGINT) ++g_interrupts;
  const pid_t job = g_job_pid;
  if (job > 0) kill(job, sig == SIGINT && g_interrupts > 1 ? SIGTERM : SIGUSR1);
  errno = saved_errno;
}

int run_and_wait(const std::vector<std::string>& argv) {
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("launch: fork failed");
  if (pid == 0) {
    // Its own process group: the terminal's Ctrl-C goes to the launcher only. Then no terminal input
    // either (a background process group reading the terminal would be stopped): the ranks read none.
    setpgid(0, 0);
    const int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
    execvp(cargv[0], cargv.data());
    std::fprintf(stderr, "launch: cannot execute %s: %s\n", cargv[0], std::strerror(errno));
    _exit(127);
  }
  g_job_pid = pid;
  if (g_stop_signal != 0) kill(pid, SIGUSR1);  // a signal that came while the job was being started
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  g_job_pid = 0;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

// Installs forward_stop for SIGTERM, SIGINT and SIGUSR1 while in scope.
class ForwardStopSignals {
 public:
  ForwardStopSignals() {
    struct sigaction sa;
    std::memset(&sa, 0, sizeof(sa));
    sa.sa_handler = forward_stop;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (size_t i = 0; i < std::size(kSignals); ++i) sigaction(kSignals[i], &sa, &previous_[i]);
  }
  ~ForwardStopSignals() {
    for (size_t i = 0; i < std::size(kSignals); ++i) sigaction(kSignals[i], &previous_[i], nullptr);
  }

 private:
  static constexpr int kSignals[] = {SIGTERM, SIGINT, SIGUSR1};
  struct sigaction previous_[std::size(kSignals)];
};

}  // namespace

int launch_main(int argc, char** argv, const std::string& self_exe) {
  namespace po = boost::program_options;
  LaunchOptions o;
  o.program = self_exe;
  auto d = cli::command_options("rpctrain launch options (then -- and the rpctrain command for every rank)");
  d.add_options()("nodes", po::value<int>(&o.nodes)->default_value(1), "number of nodes")(
      "hostfile", po::value<std::string>(&o.hostfile), "Open MPI hostfile (one 'host slots=N' line per node)")(
      "procs-per-node", po::value<int>(&o.procs_per_node)->default_value(1), "ranks per node (one per GPU)")(
      "threads-per-proc", po::value<int>(&o.threads_per_proc)->default_value(0), "OMP_NUM_THREADS per rank (0: unset)")(
      "oversubscribe", po::bool_switch(&o.oversubscribe), "allow more ranks than cores")(
      "max-restarts", po::value<int>(&o.max_restarts)->default_value(0),
      "relaunch a failed job up to K times, adding --resume auto")(
      "mpirun", po::value<std::string>(&o.mpirun)->default_value("mpirun"), "the mpirun executable")(
      "dry-run", po::bool_switch(&o.dry_run), "print the mpirun command and exit");
  // Split at "--": launcher options before, the ranks' command after.
  int split = argc;
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--") {
      split = i;
      break;
    }
  // argv[0] = "launch"
  if (!cli::parse("launch", split, argv, d, "usage: rpctrain launch [options] -- train --config FILE [--set k=v]...\n"))
    return cli::kExitOk;
  for (int i = split + 1; i < argc; ++i) o.args.emplace_back(argv[i]);
  std::vector<std::string> cmd;
  try {
    cmd = build_mpirun_command(o, environment_names());
  } catch (const std::invalid_argument& e) {
    throw cli::UsageError(e.what());
  }
  std::printf("[launch] %s\n", shell_join(cmd).c_str());
  std::fflush(stdout);
  if (o.dry_run) {
    print_result({{"cmd", "launch"}, {"ok", true}, {"dry_run", true}, {"command", cmd}});
    return cli::kExitOk;
  }
  ForwardStopSignals forward;
  int rc = run_and_wait(cmd), restarts = 0;
  // A job stopped by a signal (exit 3: checkpoint written) or that the launcher was asked to stop is not a
  // failure to restart: it ends here, resumable with --resume auto.
  const auto stopped = [&rc] { return rc == kExitStopped || g_stop_signal != 0; };
  while (rc != 0 && !stopped() && restarts < o.max_restarts) {
    ++restarts;
    std::fprintf(stderr, "[launch] job exited with %d; restart %d/%d with --resume auto\n", rc, restarts, o.max_restarts);
    auto again = o;
    bool has_resume = false;
    for (const auto& a : again.args) has_resume = has_resume || a == "--resume";
    if (!has_resume) again.args.insert(again.args.end(), {"--resume", "auto"});
    auto cmd2 = build_mpirun_command(again, environment_names());
    std::printf("[launch] %s\n", shell_join(cmd2).c_str());
    std::fflush(stdout);
    rc = run_and_wait(cmd2);
  }
  if (rc != 0 && stopped()) {
    const std::string by = g_stop_signal != 0 ? signal_name(g_stop_signal) : "a signal to the ranks";
    std::fprintf(stderr, "[launch] job stopped (%s) with exit code %d; not restarted%s\n", by.c_str(), rc,
                 rc == kExitStopped ? ": resume with --resume auto" : "");
    print_result({{"cmd", "launch"}, {"ok", rc == kExitStopped}, {"stopped", true}, {"stop_signal", by},
                  {"exit_code", rc}, {"restarts", restarts}});
    return rc == kExitStopped ? kExitStopped : cli::kExitRuntime;
  }
  print_result({{"cmd", "launch"}, {"ok", rc == 0}, {"exit_code", rc}, {"restarts", restarts}});
  return rc == 0 ? cli::kExitOk : cli::kExitRuntime;
}

}  // namespace rpct
