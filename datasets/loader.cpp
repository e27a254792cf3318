#include "datasets/loader.h"

#include <chrono>
#include <stdexcept>

namespace rpct {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

DataLoader::DataLoader(std::shared_ptr<BatchSource> source, int workers, int prefetch)
    : source_(std::move(source)), workers_(std::max(workers, 0)), prefetch_(std::max(prefetch, 1)) {
  if (!source_) throw std::invalid_argument("DataLoader: null source");
  for (int w = 0; w < workers_; ++w) threads_.emplace_back([this] { worker_loop(); });
}

DataLoader::~DataLoader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void DataLoader::start_epoch(int64_t epoch, std::vector<std::vector<int64_t>> batches, int64_t first_step) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++generation_;
    epoch_ = epoch;
    batches_ = std::move(batches);
    end_ = static_cast<int64_t>(batches_.size());
    next_produce_ = next_consume_ = std::min(std::max<int64_t>(first_step, 0), end_);
    ready_.clear();
    failed_.clear();
  }
  cv_.notify_all();
}

bool DataLoader::has_next() const {
  std::lock_guard<std::mutex> lock(mu_);
  return next_consume_ < end_;
}

void DataLoader::worker_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || (next_produce_ < end_ && next_produce_ < next_consume_ + prefetch_); });
    if (stop_) return;
    const int64_t step = next_produce_++;
    const uint64_t gen = generation_;
    const int64_t epoch = epoch_;
    const std::vector<int64_t> indices = batches_[step];
    lock.unlock();
    const auto t0 = std::chrono::steady_clock::now();
    Batch b;
    std::exception_ptr err;
    try {
      b = source_->make_batch(epoch, indices);
      b.step = step;
    } catch (...) {
      err = std::current_exception();
    }
    const double dt = seconds_since(t0);
    lock.lock();
    if (gen != generation_) continue;  // the epoch was restarted meanwhile
    stats_.worker_seconds += dt;
    if (err)
      failed_[step] = err;
    else
      ready_[step] = std::move(b);
    cv_.notify_all();
  }
}

Batch DataLoader::next() {
  std::unique_lock<std::mutex> lock(mu_);
  if (next_consume_ >= end_) throw std::out_of_range("DataLoader::next: the epoch has no more batches");
  const int64_t step = next_consume_;
  Batch b;
  if (workers_ == 0) {
    const std::vector<int64_t> indices = batches_[step];
    const int64_t epoch = epoch_;
    ++next_consume_;
    next_produce_ = next_consume_;
    lock.unlock();
    const auto t0 = std::chrono::steady_clock::now();
    b = source_->make_batch(epoch, indices);
    b.step = step;
    lock.lock();
    stats_.worker_seconds += seconds_since(t0);
  } else {
    const auto t0 = std::chrono::steady_clock::now();
    cv_.wait(lock, [&] { return ready_.count(step) || failed_.count(step); });
    stats_.wait_seconds += seconds_since(t0);
    ++next_consume_;
    cv_.notify_all();  // a prefetch slot is free
    auto f = failed_.find(step);
    if (f != failed_.end()) {
      auto err = f->second;
      failed_.erase(f);
      std::rethrow_exception(err);
    }
    b = std::move(ready_[step]);
    ready_.erase(step);
  }
  stats_.batches += 1;
  stats_.images += b.x.defined() ? b.x.size(0) : 0;
  stats_.skipped += b.skipped;
  return b;
}

LoaderStats DataLoader::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace rpct
