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
            "mpirun -np 16 --hostfile hosts.txt --map-by ppr:8:node --bind-to none -x OMP_NUM_THREADS=6 -x NCCL_DEBUG "
            "-x NCCL_IB_HCA -x PATH -x RPCT_FAULT rpctrain train --config 'my config.yaml'");
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
