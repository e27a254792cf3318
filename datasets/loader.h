// Threaded batch loading: DataLoader runs a BatchSource (batch_source.h) on worker threads, `prefetch` batches ahead,
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

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "datasets/batch_source.h"

namespace rpct {

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

}  // namespace rpct
