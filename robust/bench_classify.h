// `rpctrain bench classify`: the robustness benchmark of one or more classification checkpoints, as the
// RPC-Attention paper reports it: clean top-1; ImageNet-C (generated on the fly from the clean evaluation set,
// or a pre-made folder) with mCE, relative mCE and accuracy per corruption family; ImageNet-A / -R accuracy;
// ImageNet-O AUPR / AUROC / FPR95; accuracy under FGSM / PGD / SPSA at each eps, in the normalized and/or
// pixel input space. Every suite item is one sharded, all-reduced evaluation (trainer::evaluate) of the
// classification Task's forward; its result is written to <out>/items/ as soon as it finishes, and --resume
// skips the items already there (for the same weights and settings). Rank 0 writes bench.json, bench.md,
// SVG plots and the console table. The machinery shared with `bench segment` is robust/bench_runner.h.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "distributed/dist_context.h"
#include "robust/attacks.h"
#include "robust/bench_runner.h"
#include "robust/corruptions.h"
#include "trainer/config.h"

namespace rpct::robust {

// The shared options (checkpoints, ema, suite, corruptions, limit, out_dir, resume: robust/bench_runner.h) and
// the classification benchmark's own.
struct BenchOptions : BenchRunOptions {
  // Suite parts: clean, c, a, r, o, fgsm, pgd, spsa. a / r / o need their folder.
  BenchOptions() { suite = {"clean", "c", "fgsm", "pgd"}; }
  std::vector<double> eps = {1, 2, 3, 4, 5, 6};  // in units of 1/255
  std::vector<InputSpace> spaces = {InputSpace::kNormalized};
  std::string imagenet_c, imagenet_a, imagenet_r, imagenet_o;  // folders; imagenet_c "" = generate
  // SPSA iterations: 10 as the RPC-Attention authors' attack script (rachtsy/KPCA_code Attack/engine.py:
  // cleverhans' spsa(model, images, eps, 10), defaults lr 0.01, delta 0.01, 128 samples).
  int spsa_iters = 10;
};

// Checks the options against each other and the config (the parts named, folders given where needed,
// eps > 0, a classification config); throws std::invalid_argument naming the option.
void validate_bench_options(const Config& cfg, const BenchOptions& opt);

// Runs the benchmark (collective: every rank calls it). Returns the summary (rank 0's is complete): the
// command's result line fields.
nlohmann::json run_classify_bench(const Config& cfg, const BenchOptions& opt, DistContext& dist);

}  // namespace rpct::robust
