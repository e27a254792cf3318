#include <gtest/gtest.h>

#include "launch/launcher.h"

namespace {

std::string joined(const rpct::LaunchOptions& o, const std::vector<std::string>& env = {}) {
  return rpct::shell_join(rpct::build_mpirun_command(o, env));
}

}  // namespace

TEST(Launcher, SingleNodeEightGpus) {
  rpct::LaunchOptions o;
  o.procs_per_node = 8;
  o.program = "/opt/rpctrain";
  o.args = {"train", "--config", "c.yaml"};
  EXPECT_EQ(joined(o), "mpirun -np 8 --map-by ppr:8:node --bind-to none /opt/rpctrain train --config c.yaml");
}

TEST(Launcher, TwoNodesPassEnvironment) {
  rpct::LaunchOptions o;
  o.nodes = 2;
  o.procs_per_node = 8;
  o.hostfile = "hosts.txt";
  o.threads_per_proc = 6;
  o.program = "rpctrain";
  o.args = {"train", "--config", "my config.yaml"};
  const auto s = joined(o, {"HOME", "NCCL_DEBUG", "NCCL_IB_HCA", "PATH", "OMP_NUM_THREADS", "RPCT_FAULT"});
  EXPECT_EQ(s,
            "mpirun -np 16 --hostfile hosts.txt --map-by ppr:8:node --bind-to none --mca rtc_hwloc_vmhole none "
            "-x OMP_NUM_THREADS=6 -x NCCL_DEBUG "
            "-x NCCL_IB_HCA -x PATH -x RPCT_FAULT rpctrain train --config 'my config.yaml'");
}

// The daemons' shared-memory topology is skipped on several nodes (an Open MPI 4.1 startup segfault, see
// build_mpirun_command) unless the user's environment sets it; one node starts no daemon and gets no flag.
TEST(Launcher, VmholeOnlyForSeveralNodesAndOnlyIfUnset) {
  rpct::LaunchOptions o;
  o.nodes = 2;
  o.hostfile = "h";
  o.program = "rpctrain";
  o.args = {"train"};
  EXPECT_EQ(joined(o), "mpirun -np 2 --hostfile h --map-by ppr:1:node --bind-to none --mca rtc_hwloc_vmhole none rpctrain train");
  EXPECT_EQ(joined(o, {"OMPI_MCA_rtc_hwloc_vmhole"}), "mpirun -np 2 --hostfile h --map-by ppr:1:node --bind-to none rpctrain train");
  o.nodes = 1;
  EXPECT_EQ(joined(o), "mpirun -np 1 --hostfile h --map-by ppr:1:node --bind-to none rpctrain train");
}

TEST(Launcher, RejectsBadInput) {
  rpct::LaunchOptions o;
  o.program = "rpctrain";
  o.args = {"train"};
  o.nodes = 2;  // no hostfile
  EXPECT_THROW(rpct::build_mpirun_command(o, {}), std::invalid_argument);
  o.nodes = 1;
  o.args.clear();
  EXPECT_THROW(rpct::build_mpirun_command(o, {}), std::invalid_argument);
}
