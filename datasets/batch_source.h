// A BatchSource turns a list of global sample indices into one collated Batch (decode + augment +
// collate); every data set has one beside it (fashion_mnist.h, image_folder.h, ade20k.h), and
// DataLoader (loader.h) runs them on worker threads. Bad samples (corrupt files) follow a policy:
// skip (logged once, counted, replaced by the next good index) or error (stop, naming the file).
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "datasets/decode.h"

namespace rpct {

enum class BadSamplePolicy { kSkip, kError };
BadSamplePolicy parse_bad_sample_policy(const std::string& s);  // "skip" | "error"

struct Batch {
  int64_t epoch = 0, step = 0;
  torch::Tensor x;        // (B, 3, S, S) float32; pinned when requested and CUDA is available
  torch::Tensor y;        // (B,) int64 class labels, or (B, S, S) int64 segmentation labels (255 = ignore)
  torch::Tensor y_soft;   // (B, num_classes) float32 mixed + smoothed targets when Mixup/CutMix is on
  // Samples that differ in size and so are not stacked (segmentation evaluation at full resolution); x and
  // y are then empty. sample_views[i]: sample i's input, one (3, h_v, w_v) float32 image per view (test
  // scale); sample_labels[i]: its (H_i, W_i) int64 label map at the original resolution (255 = ignore).
  std::vector<std::vector<torch::Tensor>> sample_views;
  std::vector<torch::Tensor> sample_labels;
  std::vector<int64_t> indices;  // dataset indices actually loaded (bad samples replaced)
  int64_t skipped = 0;           // bad samples replaced in this batch
};

// Remembers bad samples (thread-safe); logs each bad file once.
class BadSampleTracker {
 public:
  // Records a bad sample; returns true the first time this index is seen.
  bool mark(int64_t index, const std::string& message);
  bool is_bad(int64_t index) const;
  int64_t count() const;  // distinct bad samples seen so far
  std::vector<std::string> messages() const;

 private:
  mutable std::mutex mu_;
  std::set<int64_t> bad_;
  std::vector<std::string> messages_;
};

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual int64_t size() const = 0;
  // Must be thread-safe: DataLoader calls it from several workers at once.
  virtual Batch make_batch(int64_t epoch, const std::vector<int64_t>& indices) = 0;
  // A name of sample i for files about it (predictions, logits): its image file's stem where it has one.
  virtual std::string sample_id(int64_t i) const { return std::to_string(i); }
  const BadSampleTracker& bad_samples() const { return bad_; }

 protected:
  // Loads index `i` through `load` (which throws a FileReadError, e.g. a DecodeError, on a bad file). With kSkip, a bad sample
  // is logged once and replaced by the next good index (i+1, i+2, ... mod N); returns the index used
  // and increments *skipped. With kError, rethrows naming the file.
  template <typename Load>
  int64_t load_with_policy(int64_t i, BadSamplePolicy policy, int64_t* skipped, Load&& load);
  BadSampleTracker bad_;
};

// Float32 tensor options for a batch: pinned when `pin` and CUDA is available (faster host-to-device copies).
torch::TensorOptions batch_float_options(bool pin);
// Int64 options for a batch's labels, pinned the same way (the trainer copies them non-blocking).
torch::TensorOptions batch_label_options(bool pin);

// ----- template implementation -----
template <typename Load>
int64_t BatchSource::load_with_policy(int64_t i, BadSamplePolicy policy, int64_t* skipped, Load&& load) {
  constexpr int kMaxReplacements = 64;  // consecutive bad samples tolerated before giving up
  const int64_t n = size();
  int64_t idx = i;
  std::string last_error;  // names the file: when every replacement fails too, the data set is likely gone
  for (int attempt = 0; attempt <= kMaxReplacements; ++attempt, idx = (idx + 1) % n) {
    if (policy == BadSamplePolicy::kSkip && bad_.is_bad(idx)) {
      if (attempt == 0) ++*skipped;
      continue;
    }
    try {
      load(idx);
      return idx;
    } catch (const FileReadError& e) {  // missing, empty or undecodable (DecodeError)
      if (policy == BadSamplePolicy::kError)
        throw DecodeError(std::string(e.what()) + " (data.on_bad_sample=error; set it to skip to skip bad files)");
      bad_.mark(idx, e.what());
      last_error = e.what();
      if (attempt == 0) ++*skipped;
    }
  }
  throw DecodeError("more than " + std::to_string(kMaxReplacements) + " consecutive bad samples after index " +
                    std::to_string(i) + ", the last: " + last_error + "; is the data set corrupt, or gone?");
}

}  // namespace rpct
