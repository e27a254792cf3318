#include "launch/launcher.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "core/json_result.h"
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
  if (o.nodes > 1 && o.hostfile.empty()) throw std::invalid_argument("launch: --nodes > 1 needs --hostfile");
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
  const auto has_env = [&](const std::string& name) {
    return std::find(env_names.begin(), env_names.end(), name) != env_names.end();
  };
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

int run_and_wait(const std::vector<std::string>& argv) {
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("launch: fork failed");
  if (pid == 0) {
    execvp(cargv[0], cargv.data());
    std::fprintf(stderr, "launch: cannot execute %s: %s\n", cargv[0], std::strerror(errno));
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

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
  int rc = run_and_wait(cmd), restarts = 0;
  while (rc != 0 && restarts < o.max_restarts) {
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
  print_result({{"cmd", "launch"}, {"ok", rc == 0}, {"exit_code", rc}, {"restarts", restarts}});
  return rc == 0 ? cli::kExitOk : cli::kExitRuntime;
}

}  // namespace rpct
