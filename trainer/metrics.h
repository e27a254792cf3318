// Progress line (live bar on a TTY, plain lines otherwise) and JSONL metrics.
#pragma once
#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace rpct {

std::string format_duration(double seconds);  // "1h02m03s" / "02m03s"

class Progress {
 public:
  Progress(std::string label, int64_t total_steps, bool enabled);
  // Called every step; prints a live bar on a TTY, or a line every `every` steps otherwise.
  void update(int64_t step, int64_t images_done, double loss, double lr, int every);
  // The same line with `status` in place of "loss L lr R" (evaluations, benchmarks).
  void update(int64_t step, int64_t images_done, const std::string& status, int every);
  void finish();
  double elapsed_s() const;

 private:
  std::string label_;
  int64_t total_;
  bool enabled_, tty_;
  std::chrono::steady_clock::time_point start_;
};

// The TensorBoard scalars of one metrics.jsonl record (its "step" is theirs), as (tag, value): a "step"
// record's loss, lr, grad_norm -> train/loss, train/lr, train/grad_norm; an "epoch" record's train_loss ->
// train/epoch_loss, images_per_s -> train/images_per_s, skipped_steps -> train/skipped_steps, skipped_samples
// and loader_wait_s -> data/..., elapsed_s -> time/elapsed_s, epoch -> train/epoch, and every evaluation metric
// -> test/<name> (test_loss -> test/loss). Its lr (the next step's) is left out; so are nulls (NaN) and other kinds.
std::vector<std::pair<std::string, double>> tensorboard_scalars(const nlohmann::json& record);

class JsonlWriter {
 public:
  JsonlWriter() = default;
  explicit JsonlWriter(const std::string& path);
  void write(const nlohmann::json& record);  // one line, flushed
  bool is_open() const { return out_.is_open(); }

 private:
  std::ofstream out_;
};

}  // namespace rpct
