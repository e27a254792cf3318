// Threaded batch loading: a BatchSource turns a list of global sample indices into one collated batch
// (decode + augment + collate); DataLoader runs sources on worker threads, `prefetch` batches ahead,
// and hands batches out in step order. Works with DistributedSampler: pass this rank's index lists.
//
//   auto src = std::make_shared<ImageFolderSource>(ImageFolderDataset::open({root, "train"}),
//                                                  ClassificationSourceOptions{...});
//   DataLoader loader(src, cfg.data.workers, cfg.data.prefetch);
//   std::vector<std::vector<int64_t>> steps;
//   for (int64_t s = 0; s < sampler.steps_per_epoch(); ++s) steps.push_back(sampler.batch(epoch, s));
//   loader.start_epoch(epoch, std::move(steps), /*first_step=*/resume_step);
//   while (loader.has_next()) { Batch b = loader.next(); ... b.x, b.y, b.y_soft, b.skipped ... }
#pragma once
#include <torch/torch.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "datasets/ade20k.h"
#include "datasets/image_folder.h"
#include "datasets/transforms.h"

namespace rpct {

enum class BadSamplePolicy { kSkip, kError };
BadSamplePolicy parse_bad_sample_policy(const std::string& s);  // "skip" | "error"

struct Batch {
  int64_t epoch = 0, step = 0;
  torch::Tensor x;        // (B, 3, S, S) float32; pinned when requested and CUDA is available
  torch::Tensor y;        // (B,) int64 class labels, or (B, S, S) int64 segmentation labels (255 = ignore)
  torch::Tensor y_soft;   // (B, num_classes) float32 mixed + smoothed targets when Mixup/CutMix is on
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
  const BadSampleTracker& bad_samples() const { return bad_; }

 protected:
  // Loads index `i` through `load` (which throws DecodeError on a bad file). With kSkip, a bad sample
  // is logged once and replaced by the next good index (i+1, i+2, ... mod N); returns the index used
  // and increments *skipped. With kError, rethrows naming the file.
  template <typename Load>
  int64_t load_with_policy(int64_t i, BadSamplePolicy policy, int64_t* skipped, Load&& load);
  BadSampleTracker bad_;
};

struct ClassificationSourceOptions {
  ClassificationTransformOptions transform;
  MixupOptions mixup;          // used when train && mixup.enabled(); num_classes set from the dataset
  bool mixup_on = true;
  uint64_t seed = 0;
  BadSamplePolicy on_bad_sample = BadSamplePolicy::kSkip;
  bool pin_memory = true;      // only when CUDA is available
};

class ImageFolderSource : public BatchSource {
 public:
  ImageFolderSource(ImageFolderDataset ds, ClassificationSourceOptions opt);
  int64_t size() const override { return ds_.size(); }
  Batch make_batch(int64_t epoch, const std::vector<int64_t>& indices) override;
  const ImageFolderDataset& dataset() const { return ds_; }

 private:
  ImageFolderDataset ds_;
  ClassificationSourceOptions opt_;
};

struct SegmentationSourceOptions {
  SegmentationTransformOptions transform;
  uint64_t seed = 0;
  BadSamplePolicy on_bad_sample = BadSamplePolicy::kSkip;
  bool pin_memory = true;
};

// Train batches (B, 3, crop, crop) + (B, crop, crop); eval samples one at a time (variable sizes).
class Ade20kSource : public BatchSource {
 public:
  Ade20kSource(Ade20kDataset ds, SegmentationSourceOptions opt);
  int64_t size() const override { return ds_.size(); }
  Batch make_batch(int64_t epoch, const std::vector<int64_t>& indices) override;
  SegmentationEvalSample eval_sample(int64_t index) const;  // throws DecodeError on a bad pair
  const Ade20kDataset& dataset() const { return ds_; }

 private:
  Ade20kDataset ds_;
  SegmentationSourceOptions opt_;
};

struct LoaderStats {
  int64_t batches = 0, images = 0, skipped = 0;
  double worker_seconds = 0;   // summed time workers spent building batches
  double wait_seconds = 0;     // time next() blocked waiting for a batch
  double images_per_worker_second() const { return worker_seconds > 0 ? images / worker_seconds : 0; }
};

class DataLoader {
 public:
  // workers = 0: batches are built synchronously inside next(). prefetch >= 1: batches in flight.
  DataLoader(std::shared_ptr<BatchSource> source, int workers, int prefetch);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // Starts (or restarts) an epoch: batches[s] are the indices of step s; loading begins at first_step.
  void start_epoch(int64_t epoch, std::vector<std::vector<int64_t>> batches, int64_t first_step = 0);
  bool has_next() const;
  // The next batch in step order; rethrows a worker's exception (e.g. on_bad_sample=error).
  Batch next();
  LoaderStats stats() const;
  BatchSource& source() { return *source_; }

 private:
  void worker_loop();
  std::shared_ptr<BatchSource> source_;
  int workers_, prefetch_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  uint64_t generation_ = 0;
  int64_t epoch_ = 0, next_produce_ = 0, next_consume_ = 0, end_ = 0;
  std::vector<std::vector<int64_t>> batches_;
  std::map<int64_t, Batch> ready_;
  std::map<int64_t, std::exception_ptr> failed_;
  std::vector<std::thread> threads_;
  LoaderStats stats_;
};

// ----- template implementation -----
template <typename Load>
int64_t BatchSource::load_with_policy(int64_t i, BadSamplePolicy policy, int64_t* skipped, Load&& load) {
  constexpr int kMaxReplacements = 64;  // consecutive bad samples tolerated before giving up
  const int64_t n = size();
  int64_t idx = i;
  for (int attempt = 0; attempt <= kMaxReplacements; ++attempt, idx = (idx + 1) % n) {
    if (policy == BadSamplePolicy::kSkip && bad_.is_bad(idx)) {
      if (attempt == 0) ++*skipped;
      continue;
    }
    try {
      load(idx);
      return idx;
    } catch (const DecodeError& e) {
      if (policy == BadSamplePolicy::kError)
        throw DecodeError(std::string(e.what()) + " (data.on_bad_sample=error; set it to skip to skip bad files)");
      bad_.mark(idx, e.what());
      if (attempt == 0) ++*skipped;
    }
  }
  throw DecodeError("more than " + std::to_string(kMaxReplacements) + " consecutive bad samples after index " +
                    std::to_string(i) + "; is the data set corrupt?");
}

}  // namespace rpct
