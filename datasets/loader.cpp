#include "datasets/loader.h"

#include <chrono>
#include <stdexcept>

#include "core/log.h"

namespace rpct {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

torch::TensorOptions float_options(bool pin) {
  auto o = torch::TensorOptions().dtype(torch::kFloat32);
  if (pin && torch::cuda::is_available()) o = o.pinned_memory(true);
  return o;
}

}  // namespace

BadSamplePolicy parse_bad_sample_policy(const std::string& s) {
  if (s == "skip") return BadSamplePolicy::kSkip;
  if (s == "error") return BadSamplePolicy::kError;
  throw std::invalid_argument("data.on_bad_sample must be skip or error, got '" + s + "'");
}

bool BadSampleTracker::mark(int64_t index, const std::string& message) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!bad_.insert(index).second) return false;
  messages_.push_back(message);
  log_info("skipping bad sample %lld: %s", static_cast<long long>(index), message.c_str());
  return true;
}
bool BadSampleTracker::is_bad(int64_t index) const {
  std::lock_guard<std::mutex> lock(mu_);
  return bad_.count(index) != 0;
}
int64_t BadSampleTracker::count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int64_t>(bad_.size());
}
std::vector<std::string> BadSampleTracker::messages() const {
  std::lock_guard<std::mutex> lock(mu_);
  return messages_;
}

// ---------------------------------------------------------------------------------------------------
ImageFolderSource::ImageFolderSource(ImageFolderDataset ds, ClassificationSourceOptions opt)
    : ds_(std::move(ds)), opt_(std::move(opt)) {
  opt_.mixup.num_classes = ds_.num_classes();
}

Batch ImageFolderSource::make_batch(int64_t epoch, const std::vector<int64_t>& indices) {
  const int64_t B = static_cast<int64_t>(indices.size()), S = opt_.transform.img_size;
  Batch b;
  b.epoch = epoch;
  b.x = torch::empty({B, 3, S, S}, float_options(opt_.pin_memory));  // (B, 3, S, S)
  b.y = torch::empty({B}, torch::kInt64);                            // (B,)
  float* x = b.x.data_ptr<float>();
  int64_t* y = b.y.data_ptr<int64_t>();
  for (int64_t i = 0; i < B; ++i) {
    // indices[i] may be a repeated-augmentation code (sample code % n, copy code / n): the copy number
    // goes into the augmentation key so the copies of one image are augmented differently.
    const int64_t n = ds_.size(), copy_offset = (indices[i] / n) * n;
    const int64_t used = load_with_policy(indices[i] % n, opt_.on_bad_sample, &b.skipped, [&](int64_t idx) {
      const auto bytes = read_file_bytes(ds_.path(idx));
      classification_transform(bytes, ds_.path(idx), opt_.transform, opt_.seed, epoch, idx + copy_offset,
                               x + i * 3 * S * S);
    });
    b.indices.push_back(used);
    y[i] = ds_.label(used);
  }
  if (opt_.transform.train && opt_.mixup_on && opt_.mixup.enabled())
    b.y_soft = mixup_cutmix(b.x, b.y, opt_.mixup, opt_.seed, epoch, b.indices);
  return b;
}

Ade20kSource::Ade20kSource(Ade20kDataset ds, SegmentationSourceOptions opt) : ds_(std::move(ds)), opt_(std::move(opt)) {}

Batch Ade20kSource::make_batch(int64_t epoch, const std::vector<int64_t>& indices) {
  const int64_t B = static_cast<int64_t>(indices.size()), S = opt_.transform.crop;
  Batch b;
  b.epoch = epoch;
  b.x = torch::empty({B, 3, S, S}, float_options(opt_.pin_memory));  // (B, 3, S, S)
  b.y = torch::empty({B, S, S}, torch::kInt64);                      // (B, S, S)
  float* x = b.x.data_ptr<float>();
  int64_t* y = b.y.data_ptr<int64_t>();
  for (int64_t i = 0; i < B; ++i) {
    const int64_t used = load_with_policy(indices[i], opt_.on_bad_sample, &b.skipped, [&](int64_t idx) {
      const auto img = read_file_bytes(ds_.image_path(idx));
      const auto lab = read_file_bytes(ds_.label_path(idx));
      segmentation_train_transform(img, ds_.image_path(idx), lab, ds_.label_path(idx), opt_.transform, opt_.seed, epoch,
                                   idx, x + i * 3 * S * S, y + i * S * S);
    });
    b.indices.push_back(used);
  }
  return b;
}

SegmentationEvalSample Ade20kSource::eval_sample(int64_t index) const {
  const auto img = read_file_bytes(ds_.image_path(index));
  const auto lab = read_file_bytes(ds_.label_path(index));
  return segmentation_eval_transform(img, ds_.image_path(index), lab, ds_.label_path(index), opt_.transform);
}

// ---------------------------------------------------------------------------------------------------
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
