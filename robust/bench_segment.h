// `rpctrain bench segment`: the robustness of one or more segmentation checkpoints side by side: mIoU / mAcc /
// aAcc on the clean evaluation set (data.kind ade20k: the full-resolution evaluation of the segmentation Task,
// sliding windows and the config's test scales / flip) and under each ImageNet-C corruption x severity,
// generated on the fly: every evaluation image is corrupted as decoded (8-bit RGB at its full size) before the
// segmentation eval transform rescales and normalizes it, deterministically per (train.seed, dataset index of
// the image, corruption, severity); labels untouched. Per checkpoint: the mean mIoU over the severities of
// each corruption and over all corruptions, the mean per family and severity. The runner, resume, progress
// and outputs are bench classify's (robust/bench_runner.h): items/<checkpoint>/<item>.json, bench.json,
// bench.md (rows = checkpoints; clean mIoU, per-corruption mean mIoU, their mean), c_<family>.svg (mIoU vs
// severity, error bars = spread over the family's corruptions), the console table.
#pragma once
#include <nlohmann/json.hpp>

#include <vector>

#include "distributed/dist_context.h"
#include "robust/bench_runner.h"
#include "trainer/config.h"

namespace rpct::robust {

struct SegmentBenchOptions : BenchRunOptions {
  // Suite parts: clean, c.
  SegmentBenchOptions() { suite = {"clean", "c"}; }
  std::vector<int> severities = {1, 2, 3, 4, 5};  // of the c suite
};

// A segmentation config (data.kind ade20k), known suite parts, severities in 1..5 without repeats; throws
// std::invalid_argument naming the option.
void validate_segment_bench_options(const Config& cfg, const SegmentBenchOptions& opt);

// items: key -> result ("clean", "c/<corruption>/<severity>": {"miou", "macc", "aacc", "samples"}). Returns
// {"clean": {miou, macc, aacc}, "c": {"severities": [the severities of the c items], "miou": {corruption:
// [mIoU per severity]}, "mean_miou": {corruption: mean over its severities}, "mean": mean of those over the
// corruptions, "family_miou_by_severity", "family_miou_std_by_severity", "family_miou"}}, each part only when
// its items are there (a corruption counts when it has every severity).
nlohmann::json summarize_segment_items(const nlohmann::json& items);

// Runs the benchmark (collective: every rank calls it). Returns the result line's fields (rank 0's complete).
nlohmann::json run_segment_bench(const Config& cfg, const SegmentBenchOptions& opt, DistContext& dist);

}  // namespace rpct::robust
