#include "trainer/run_dir.h"

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <boost/filesystem.hpp>
#include <stdexcept>

namespace rpct {

namespace {
std::string config_stem(const Config& cfg) {
  std::string stem = boost::filesystem::path(cfg.source).stem().string();
  return stem.empty() || stem[0] == '<' ? "run" : stem;
}
std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}
}  // namespace

std::string slurm_run_name(const Config& cfg) {
  // An array task's own SLURM_JOB_ID differs from the array's; <array id>_<task id> is how Slurm shows it.
  const std::string array_job = env_or_empty("SLURM_ARRAY_JOB_ID"), task = env_or_empty("SLURM_ARRAY_TASK_ID");
  if (!array_job.empty() && !task.empty()) return config_stem(cfg) + "-slurm-" + array_job + "_" + task;
  const std::string job = env_or_empty("SLURM_JOB_ID");
  return job.empty() ? "" : config_stem(cfg) + "-slurm-" + job;
}

std::string default_run_name(const Config& cfg) {
  if (!cfg.run.name.empty()) return cfg.run.name;
  if (const std::string slurm = slurm_run_name(cfg); !slurm.empty()) return slurm;  // a requeued job finds its run
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char ts[32];
  std::strftime(ts, sizeof(ts), "%Y%m%d-%H%M%S", std::gmtime(&now));
  return config_stem(cfg) + "-" + ts;
}

std::string run_dir_of(const std::string& weights_path) {
  namespace fs = boost::filesystem;
  const fs::path p = fs::path(weights_path).lexically_normal();
  if (fs::is_directory(p / "ckpt")) return p.string();
  if (fs::is_directory(p)) {
    const fs::path parent = (p.filename_is_dot() ? p.parent_path() : p).parent_path();
    return parent.filename() == "ckpt" ? parent.parent_path().string() : p.string();
  }
  const fs::path dir = p.parent_path();
  return dir.empty() ? "." : dir.string();
}

std::string make_run_dir(const std::string& path) {
  boost::system::error_code ec;
  boost::filesystem::create_directories(path, ec);
  if (ec) throw std::runtime_error(path + ": cannot create run directory: " + ec.message());
  return path;
}

}  // namespace rpct
