// `rpctrain bench classify`: the robustness benchmark of one or more classification checkpoints, as the
// RPC-Attention paper reports it: clean top-1; ImageNet-C (generated on the fly from the clean evaluation set,
// or a pre-made folder) with mCE, relative mCE and accuracy per corruption family; ImageNet-A / -R accuracy;
// ImageNet-O AUPR / AUROC / FPR95; accuracy under FGSM / PGD / SPSA at each eps, in the normalized and/or
// pixel input space. Every suite item is one sharded, all-reduced evaluation (trainer::evaluate) of the
// classification Task's forward; its result is written to <out>/items/ as soon as it finishes, and --resume
// skips the items already there (for the same weights and settings). Rank 0 writes bench.json, bench.md,
// SVG plots and the console table.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "distributed/dist_context.h"
#include "robust/attacks.h"
#include "robust/corruptions.h"
#include "trainer/config.h"

namespace rpct::robust {

struct BenchOptions {
  std::vector<std::string> checkpoints;  // checkpoint dirs, run dirs or .safetensors files
  bool ema = false;                      // evaluate the checkpoints' EMA weights
  // Suite parts: clean, c, a, r, o, fgsm, pgd, spsa. a / r / o need their folder.
  std::vector<std::string> suite = {"clean", "c", "fgsm", "pgd"};
  std::vector<double> eps = {1, 2, 3, 4, 5, 6};  // in units of 1/255
  std::vector<InputSpace> spaces = {InputSpace::kNormalized};
  std::vector<Corruption> corruptions;  // the c suite's; empty = the 15 benchmark corruptions
  std::string imagenet_c, imagenet_a, imagenet_r, imagenet_o;  // folders; imagenet_c "" = generate
  int spsa_iters = 10;
  int64_t limit = 0;    // > 0: an evenly strided subset of this many images of every set
  std::string out_dir;  // "" = <run.out_dir>/bench-<config stem>-<UTC time>
  bool resume = false;
};

// Checks the options against each other and the config (the parts named, folders given where needed,
// eps > 0, a classification config); throws std::invalid_argument naming the option.
void validate_bench_options(const Config& cfg, const BenchOptions& opt);

// Runs the benchmark (collective: every rank calls it). Returns the summary (rank 0's is complete): the
// command's result line fields.
nlohmann::json run_classify_bench(const Config& cfg, const BenchOptions& opt, DistContext& dist);

}  // namespace rpct::robust
