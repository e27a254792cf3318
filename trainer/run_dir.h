// Run directories: <out_dir>/<name>, created by rank 0, with the resolved config saved in it.
#pragma once
#include <functional>
#include <string>

#include "core/file_io.h"  // write_file_atomic: what run directories are written with
#include "trainer/config.h"

namespace rpct {

// The run directory name for `cfg`: run.name; else under Slurm slurm_run_name(cfg), so that a requeued job
// (same job id) resumes its own run; else "<config stem>-<UTC timestamp>".
std::string default_run_name(const Config& cfg);
// "<config stem>-slurm-<SLURM_JOB_ID>" ("-slurm-<SLURM_ARRAY_JOB_ID>_<SLURM_ARRAY_TASK_ID>" for an array
// task), or "" outside Slurm.
std::string slurm_run_name(const Config& cfg);
// The run directory a weights path belongs to (where `eval` writes its reports): a run directory (one with
// ckpt/) -> itself; a checkpoint <run>/ckpt/step_* -> <run>; a file (model.safetensors) -> its directory;
// any other directory -> itself.
std::string run_dir_of(const std::string& weights_path);
// Creates the directory (and parents); returns its path. Throws naming it on failure.
std::string make_run_dir(const std::string& path);

}  // namespace rpct
