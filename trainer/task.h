// A Task is what a run trains and how it is measured: it owns the model, the training loss of a batch
// and the evaluation statistics. The loop (trainer/trainer.h) is written once; classification
// (trainer/classification.h) is one task, segmentation another. Benchmarks that evaluate checkpoints
// reuse a task's forward and the same sharded, all-reduced evaluation (trainer::evaluate).
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "datasets/batch_source.h"
#include "trainer/config.h"

namespace rpct {

// Metrics of one evaluation over the whole (all ranks') evaluation set.
struct EvalResult {
  int64_t samples = 0;
  std::vector<std::pair<std::string, double>> metrics;  // in report order, e.g. loss, top1, top5
  std::string primary;                                  // higher is better: picks the best checkpoint
  // Files that show the result in more detail, for the caller to write into the run directory (segmentation:
  // the per-class table, Markdown and JSON): (file name, contents). Empty for tasks without.
  std::vector<std::pair<std::string, std::string>> files;

  double at(const std::string& name) const;  // throws naming a metric the task does not report
  double primary_value() const { return at(primary); }
};

// An EvalResult whose metrics are per-sample means: metric names[i] = sums[i] / samples (0 samples: the sums).
EvalResult mean_metrics(const std::vector<std::string>& names, const std::vector<double>& sums, int64_t samples,
                        const std::string& primary);

class Task {
 public:
  virtual ~Task() = default;

  virtual torch::nn::Module& model() = 0;
  virtual torch::Device device() const = 0;
  // One log line: the model, its size, the device.
  virtual std::string describe() const = 0;
  // Whether parameter `name` is exempt from weight decay (timm: biases, norms, tokens).
  virtual bool no_weight_decay(const std::string& name, const torch::Tensor& param) const;

  // The mean training loss of one (micro-)batch, its forward included; a 0-dim tensor on device().
  virtual torch::Tensor train_loss(const Batch& batch) = 0;

  // Evaluation in three parts, so the loop can shard the set and reduce once: the sums a batch
  // contributes ((S,) float64 on any device, S = num_eval_sums()), summed over batches and ranks, then
  // turned into metrics with the number of samples they came from.
  virtual int64_t num_eval_sums() const = 0;
  virtual torch::Tensor eval_sums(const Batch& batch) = 0;
  virtual EvalResult eval_result(const std::vector<double>& sums, int64_t samples) const = 0;

  // Pictures of `count` evaluation samples of `set`, evenly spaced (the same ones every call), for people:
  // (name, RGB image), e.g. input | ground truth | prediction. Runs in evaluation mode on this rank alone (no
  // collective). None by default (classification).
  virtual std::vector<std::pair<std::string, Image>> eval_pictures(BatchSource& /*set*/, int /*count*/) { return {}; }
};

// The task of `cfg` with its model on `device`: segmentation for data.kind ade20k, else classification.
std::unique_ptr<Task> make_task(const Config& cfg, torch::Device device);

}  // namespace rpct
