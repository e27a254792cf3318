#include "trainer/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <boost/filesystem.hpp>
#include <cstdio>
#include <fstream>

#include "core/file_io.h"
#include "core/log.h"
#include "trainer/optimizer.h"
#include "trainer/run_dir.h"
#include "trainer/safetensors.h"
#include "trainer/test_hooks.h"

namespace fs = boost::filesystem;

namespace rpct {
namespace {

std::string step_dir_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "step_%08lld", static_cast<long long>(step));
  return buf;
}

std::string rank_file(int rank) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "rank_%05d.safetensors", rank);
  return buf;
}

// Complete or not, the step_* directories under root, newest first.
std::vector<fs::path> step_dirs(const std::string& root) {
  std::vector<fs::path> out;
  if (!fs::is_directory(root)) return out;
  for (const auto& e : fs::directory_iterator(root))
    if (fs::is_directory(e.path()) && e.path().filename().string().rfind("step_", 0) == 0) out.push_back(e.path());
  std::sort(out.begin(), out.end(), [](const fs::path& a, const fs::path& b) { return a.filename() > b.filename(); });
  return out;
}

at::Tensor cpu_rng_state() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_cpu_rng_state(const at::Tensor& s) {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(s);
}

// The default generator of this process's current CUDA device (the rank's GPU, set by DistContext):
// dropout and drop-path masks of a CUDA model come from it. Only where a CUDA device is visible.
at::Generator cuda_generator() { return at::globalContext().defaultGenerator(at::Device(at::kCUDA)); }

// Every generator state this rank saves: "rng/cpu", and "rng/cuda" when CUDA is available.
NamedTensors rng_states() {
  NamedTensors out = {{"rng/cpu", cpu_rng_state()}};
  if (torch::cuda::is_available()) {
    auto gen = cuda_generator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    out.emplace_back("rng/cuda", gen.get_state());
  }
  return out;
}

// Restores what rng_states() saved; a CUDA state is skipped where no CUDA device is visible (a run moved
// to the CPU draws nothing from it).
void set_rng_state(const std::string& name, const at::Tensor& state) {
  if (name == "rng/cpu") {
    set_cpu_rng_state(state);
  } else if (name == "rng/cuda" && torch::cuda::is_available()) {
    auto gen = cuda_generator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(state);
  }
}

}  // namespace

void copy_named_tensors(const NamedTensors& src, const std::string& prefix, const NamedTensors& dst,
                        const std::string& file) {
  std::map<std::string, const torch::Tensor*> by_name;
  for (const auto& [n, t] : src) by_name[n] = &t;
  torch::NoGradGuard no_grad;
  for (const auto& [n, t] : dst) {
    auto it = by_name.find(prefix + n);
    if (it == by_name.end()) throw std::runtime_error(file + ": missing tensor '" + prefix + n + "'");
    if (it->second->sizes() != t.sizes())
      throw std::runtime_error(file + ": tensor '" + prefix + n + "' has shape " + c10::str(it->second->sizes()) +
                               ", the config's model expects " + c10::str(t.sizes()));
    // Floating-point widths convert (half-precision weights load into a float32 model); anything else
    // (integer or bool data for a float tensor, or the reverse) is a wrong file, not a conversion.
    const auto have = it->second->scalar_type(), want = t.scalar_type();
    if (have != want && !(c10::isFloatingType(have) && c10::isFloatingType(want)))
      throw std::runtime_error(file + ": tensor '" + prefix + n + "' has dtype " + c10::toString(have) +
                               ", the config's model expects " + c10::toString(want));
    t.copy_(*it->second);
  }
}

std::string params_sha256(const std::vector<std::pair<std::string, torch::Tensor>>& named) {
  Sha256 h;
  for (const auto& [n, t] : named) {
    auto c = t.detach().to(torch::kCPU).contiguous();
    h.update(n.data(), n.size());
    h.update(c.data_ptr(), c.nbytes());
  }
  return h.hex();
}

Checkpointer::Checkpointer(std::string run_dir, const Config& cfg, const DistContext& dist)
    : run_dir_(std::move(run_dir)), cfg_(cfg), dist_(dist) {}

void Checkpointer::check_writable() const {
  const std::string why = "checkpoint directory not writable (checked before training): ";
  boost::system::error_code ec;
  fs::create_directories(ckpt_root(), ec);
  if (ec) throw std::runtime_error(why + ckpt_root() + ": cannot create it: " + ec.message());
  const std::string probe = ckpt_root() + "/.write_probe_rank" + std::to_string(dist_.rank());
  try {
    write_file_atomic(probe, "rpctrain write probe\n");
  } catch (const std::exception& e) {
    throw std::runtime_error(why + e.what());
  }
  fs::remove(probe, ec);
}

std::string Checkpointer::save(const NamedTensors& params, const NamedTensors& buffers,
                               const std::vector<torch::Tensor>& ema, torch::optim::Optimizer& opt,
                               const TrainState& state) {
  const std::string dir = ckpt_root() + "/" + step_dir_name(state.step);
  if (dist_.is_root()) {
    if (fs::exists(dir)) fs::remove_all(dir);  // debris of an interrupted write of the same step
    fs::create_directories(dir);
  }
  dist_.barrier();
  // The epoch's loss so far: each rank's own sum (exact resume at the same world size) and, in
  // meta.json, the sum of the steps' mean losses over ranks (resume at another world size).
  const double global_loss_sum = dist_.allreduce_sum(state.epoch_loss_sum);
  // Every rank: its RNG state and loss sum (the sampler position is global and lives in meta.json).
  char local_sum[64];
  std::snprintf(local_sum, sizeof(local_sum), "%.17g", state.epoch_loss_sum);
  write_safetensors(dir + "/" + rank_file(dist_.rank()), rng_states(),
                    {{"rank", std::to_string(dist_.rank())}, {"step", std::to_string(state.step)},
                     {"epoch_loss_sum", local_sum}});
  maybe_inject_fault(dist_.rank(), state.step, "ckpt");  // tests: a signal or a hang mid-write
  if (dist_.is_root()) {
    NamedTensors model = params;
    for (const auto& [n, t] : buffers) model.emplace_back("buffer/" + n, t);
    for (size_t i = 0; i < ema.size(); ++i) model.emplace_back("ema/" + params[i].first, ema[i]);
    write_safetensors(dir + "/model.safetensors", model, {{"format", "rpctrain"}});
    const auto optim = save_optimizer_state(opt, params);
    write_safetensors(dir + "/optim.safetensors", optim.tensors, optim.metadata);
    CheckpointMeta meta;
    meta.state = state;
    meta.state.epoch_loss_sum = global_loss_sum / dist_.world_size();
    meta.world_size = dist_.world_size();
    meta.batch_size_per_rank = cfg_.train.batch_size;
    meta.config_yaml = to_yaml(cfg_);
    write_file_atomic(dir + "/meta.json", checkpoint_meta_json(meta));
  }
  dist_.barrier();  // every rank's files are on disk before DONE names them
  if (dist_.is_root()) {
    std::map<std::string, std::string> files;
    for (const auto& e : fs::directory_iterator(dir)) {
      const auto name = e.path().filename().string();
      if (name != "DONE" && name.find(".tmp.") == std::string::npos) files[name] = sha256_file(e.path().string());
    }
    write_file_atomic(dir + "/DONE", done_marker_json(state.step, files));
    prune(state.best_step);
  }
  dist_.barrier();
  return dir;
}

void Checkpointer::prune(int64_t best_step) {
  const std::string best = best_step >= 0 ? step_dir_name(best_step) : "";
  int kept = 0;
  bool seen_complete = false;
  for (const auto& d : step_dirs(ckpt_root())) {
    const bool complete = fs::exists(d / "DONE");
    if (complete) {
      seen_complete = true;
      if (kept < cfg_.ckpt.keep || d.filename().string() == best) {
        ++kept;
        continue;
      }
    } else if (!seen_complete) {
      continue;  // newer than every complete one: possibly being written
    }
    fs::remove_all(d);  // old, or an incomplete leftover older than a complete checkpoint
  }
}

std::string newest_complete_checkpoint(const std::string& ckpt_root, std::vector<SkippedCheckpoint>* skipped) {
  for (const auto& d : step_dirs(ckpt_root)) {
    const std::string why = verify_checkpoint(d.string());
    if (why.empty()) return d.string();
    skipped->push_back({d.string(), why});
  }
  return "";
}

std::string resolve_checkpoint_dir(const std::string& path) {
  const fs::path p(path);
  if (!fs::exists(p)) throw std::runtime_error(path + ": checkpoint or run directory not found");
  if (fs::is_directory(p / "ckpt")) {  // a run directory
    std::vector<SkippedCheckpoint> skipped;
    const std::string newest = newest_complete_checkpoint((p / "ckpt").string(), &skipped);
    std::string skipped_list;  // the reasons name the directories
    for (const auto& s : skipped) skipped_list += (skipped_list.empty() ? "" : "; ") + s.why;
    if (newest.empty())
      throw std::runtime_error(path + ": run directory without a complete checkpoint in ckpt/" +
                               (skipped.empty() ? std::string(" (none written)") : " (skipped " + skipped_list + ")"));
    log_info("%s: newest complete checkpoint %s%s", path.c_str(), newest.c_str(),
             skipped.empty() ? "" : (" (skipped " + skipped_list + ")").c_str());
    return newest;
  }
  const bool looks_like_checkpoint = fs::is_directory(p) && (p.filename().string().rfind("step_", 0) == 0 ||
                                                               fs::exists(p / "DONE") || fs::exists(p / "meta.json"));
  if (!looks_like_checkpoint)
    throw std::runtime_error(path + ": neither a checkpoint directory (ckpt/step_*/ with DONE) nor a run "
                                    "directory (with ckpt/)");
  const std::string why = verify_checkpoint(path);
  if (!why.empty()) throw std::runtime_error(why);
  return path;
}

std::optional<LoadedCheckpoint> Checkpointer::load(const std::string& spec, const NamedTensors& params,
                                                   const NamedTensors& buffers, const std::vector<torch::Tensor>& ema,
                                                   torch::optim::Optimizer& opt) {
  std::string chosen;
  if (dist_.is_root()) {
    try {
      if (spec == "auto") {
        std::vector<SkippedCheckpoint> skipped;
        chosen = newest_complete_checkpoint(ckpt_root(), &skipped);
        for (const auto& s : skipped)
          std::fprintf(stderr, "[rpctrain] resume: skipping %s: %s\n", s.dir.c_str(), s.why.c_str());
      } else {
        try {
          chosen = resolve_checkpoint_dir(spec);
        } catch (const std::exception& e) {
          throw std::runtime_error("--resume " + spec + ": not a complete, valid checkpoint: " + e.what());
        }
      }
    } catch (const std::exception& e) {
      chosen = std::string("ERROR:") + e.what();
    }
  }
  chosen = dist_.broadcast_string(chosen);
  if (chosen.rfind("ERROR:", 0) == 0) throw std::runtime_error(chosen.substr(6));
  if (chosen.empty()) return std::nullopt;

  LoadedCheckpoint out;
  out.dir = chosen;
  const std::string model_file = chosen + "/model.safetensors";
  auto model = read_safetensors(model_file);
  copy_named_tensors(model, "", params, model_file);
  copy_named_tensors(model, "buffer/", buffers, model_file);
  if (!ema.empty()) {
    NamedTensors ema_named;
    for (size_t i = 0; i < ema.size(); ++i) ema_named.emplace_back(params[i].first, ema[i]);
    copy_named_tensors(model, "ema/", ema_named, model_file);
  }
  const std::string optim_file = chosen + "/optim.safetensors";
  OptimizerState optim;
  optim.tensors = read_safetensors(optim_file, &optim.metadata);
  load_optimizer_state(opt, params, optim, optim_file);
  const CheckpointMeta meta = read_checkpoint_meta_file(chosen);
  auto& s = out.state;
  s = meta.state;
  out.world_size = meta.world_size;
  out.config_yaml = meta.config_yaml;
  const std::string rf = chosen + "/" + rank_file(dist_.rank());
  if (out.world_size == dist_.world_size() && fs::exists(rf)) {
    std::map<std::string, std::string> rmeta;
    for (const auto& [n, t] : read_safetensors(rf, &rmeta))
      set_rng_state(n, t);
    s.epoch_loss_sum = std::stod(rmeta.at("epoch_loss_sum"));
  } else {
    // meta.json holds the sum of per-step mean losses; the epoch-end reduction divides by the world size.
    s.epoch_loss_sum = dist_.is_root() ? s.epoch_loss_sum * dist_.world_size() : 0.0;
    // Another world size: this rank has no saved stream; derive one from (seed, step, rank).
    torch::manual_seed(static_cast<uint64_t>(cfg_.train.seed) * 1000003ull + static_cast<uint64_t>(s.step) * 7919ull +
                       static_cast<uint64_t>(dist_.rank()));
  }
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> read_checkpoint_params(const std::string& dir) {
  NamedTensors out;
  for (auto& [n, t] : read_safetensors(dir + "/model.safetensors"))
    if (n.rfind("buffer/", 0) != 0 && n.rfind("ema/", 0) != 0) out.emplace_back(n, t);
  return out;
}

}  // namespace rpct
