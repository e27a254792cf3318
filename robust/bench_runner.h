// What every `rpctrain bench` command (classify, segment) shares: the options common to them, the output
// folder, the loop over checkpoints (a fresh Task per checkpoint, its weights loaded and hashed), the suite
// items (each one sharded, all-reduced evaluation through trainer::evaluate with a progress line, written to
// <out>/items/<checkpoint>/<item>.json as soon as it finishes and skipped by --resume when that file was made
// from the same weights and settings), and the outputs rank 0 writes (bench.json, bench.md, SVG plots, the
// console table). A benchmark supplies its items, its summary of one checkpoint and its report.
#pragma once
#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "distributed/dist_context.h"
#include "robust/corruptions.h"
#include "robust/suite.h"
#include "trainer/config.h"
#include "trainer/task.h"

namespace rpct::robust {

struct BenchRunOptions {
  std::vector<std::string> checkpoints;  // checkpoint dirs, run dirs or .safetensors files
  bool ema = false;                      // evaluate the checkpoints' EMA weights
  std::vector<std::string> suite;        // the benchmark's parts to run
  std::vector<Corruption> corruptions;   // the c suite's; empty = the 15 benchmark corruptions
  int64_t limit = 0;                     // > 0: an evenly strided subset of this many images of every set
  std::string out_dir;                   // "" = <run.out_dir>/bench-<config stem>-<UTC time>
  bool resume = false;
};

// Checks what every benchmark needs: a checkpoint, a suite of known parts (named in the error), --resume
// with --out. Throws std::invalid_argument naming the option.
void validate_run_options(const BenchRunOptions& opt, const std::vector<std::string>& known_parts);
bool in_suite(const BenchRunOptions& opt, const std::string& part);
// opt.corruptions, or the 15 benchmark corruptions when none are named.
std::vector<Corruption> suite_corruptions(const BenchRunOptions& opt);
// A short, unique name per checkpoint: the file or directory name (a checkpoint dir as <run>_<step_...>).
std::vector<std::string> checkpoint_labels(const std::vector<std::string>& paths);
// The item key of corruption c at severity s: "c/<corruption>/<severity>".
std::string corruption_item_key(Corruption c, int severity);

// The pieces of a benchmark's report, made by rank 0 from every checkpoint's result.
struct BenchReport {
  std::string console_table;
  std::string markdown;                                     // bench.md
  std::vector<std::pair<std::string, std::string>> plots;   // (file name, SVG)
};

class BenchRunner {
 public:
  // Collective. Sets up the runtime (threads, device) and the output folder (made by rank 0, its name
  // broadcast). settings: what the results depend on besides the weights (an item made with other settings
  // is not resumed); the config and its seed and --limit / --ema are added here.
  BenchRunner(const Config& cfg, const BenchRunOptions& opt, DistContext& dist, nlohmann::json settings);

  // For each checkpoint: a TaskT(cfg, device) with its weights, run_items(task, ckpt) -> its items (key ->
  // result), summarize(items) -> its summary. Returns one {label, checkpoint, params_sha256, items, summary}
  // per checkpoint.
  template <class TaskT, class RunItems, class Summarize>
  std::vector<nlohmann::json> run_checkpoints(RunItems run_items, Summarize summarize) {
    std::vector<nlohmann::json> results;
    for (size_t k = 0; k < opt_.checkpoints.size(); ++k) {
      TaskT task(cfg_, device_);
      nlohmann::json ckpt = load_checkpoint(task, k);
      ckpt["items"] = run_items(task, ckpt);
      ckpt["summary"] = summarize(ckpt["items"]);
      results.push_back(std::move(ckpt));
    }
    return results;
  }

  // One item of checkpoint `ckpt`: resumed from <out>/items/<label>/<key>.json (with '/' in the key as '.')
  // when --resume and it was made from the same weights and settings; else compute() (collectively) and
  // written there by rank 0.
  nlohmann::json item(const nlohmann::json& ckpt, const std::string& key, const std::function<nlohmann::json()>& compute);

  // `inner` through a SuiteSource with the run's --limit.
  std::shared_ptr<SuiteSource> make_source(std::shared_ptr<BatchSource> inner, std::vector<int64_t> label_map = {});
  // trainer::evaluate of `task` over `source` with a progress line `label`; {"samples", <metrics>...,
  // "skipped_samples" (when some were)}.
  nlohmann::json eval_json(Task& task, SuiteSource& source, const std::string& label);

  // Rank 0: bench.json ({"cmd": command, "settings", "suite", "checkpoints": results}), bench.md, the plots;
  // prints the console table.
  void write_outputs(const std::string& command, const std::vector<nlohmann::json>& results, const BenchReport& report);
  // The result line's common fields: out, items_run, items_resumed.
  nlohmann::json summary() const;

  const std::string& out() const { return out_; }
  bool is_root() const;
  torch::Device device() const { return device_; }

 private:
  // Loads checkpoint k's weights into the task's model; {label, checkpoint, params_sha256}.
  nlohmann::json load_checkpoint(Task& task, size_t k);

  const Config& cfg_;
  const BenchRunOptions& opt_;
  DistContext& dist_;
  torch::Device device_;
  std::vector<std::string> labels_;
  std::string out_;
  nlohmann::json settings_;
  int items_run_ = 0, items_resumed_ = 0;
};

}  // namespace rpct::robust
