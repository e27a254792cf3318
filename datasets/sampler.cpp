#include "datasets/sampler.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>

#include "datasets/fashion_mnist.h"

namespace rpct {

std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> p(n);
  std::iota(p.begin(), p.end(), 0);
  uint64_t state = mix64(mix64(seed) ^ (0xA5A5A5A5ull + static_cast<uint64_t>(epoch)));
  for (int64_t i = n - 1; i > 0; --i) {
    state = mix64(state);
    const int64_t j = static_cast<int64_t>(state % static_cast<uint64_t>(i + 1));
    std::swap(p[i], p[j]);
  }
  return p;
}

DistributedSampler::DistributedSampler(int64_t dataset_size, int64_t per_rank_batch, int world, int rank,
                                       uint64_t seed, bool shuffle, int repeats)
    : n_(dataset_size), b_(per_rank_batch), global_batch_(per_rank_batch * world), world_(world), rank_(rank),
      seed_(seed), shuffle_(shuffle), repeats_(std::max(1, repeats)) {
  steps_ = global_batch_ > 0 ? n_ / global_batch_ : 0;
  if (steps_ == 0)
    throw std::invalid_argument("sampler: dataset of " + std::to_string(n_) + " samples is smaller than one global batch (" +
                                std::to_string(global_batch_) + " = " + std::to_string(world) + " ranks x " +
                                std::to_string(per_rank_batch) + ")");
}

std::vector<int64_t> DistributedSampler::batch(int64_t epoch, int64_t step) {
  return batch_at(epoch, step * global_batch_);
}

std::vector<int64_t> DistributedSampler::batch_at(int64_t epoch, int64_t pos) {
  if (pos < 0 || pos + global_batch_ > n_)
    throw std::out_of_range("sampler: global batch at position " + std::to_string(pos) + " runs past the epoch (" +
                            std::to_string(n_) + " samples)");
  if (epoch != cached_epoch_) {
    if (shuffle_) {
      perm_ = epoch_permutation(n_, seed_, epoch);
    } else {
      perm_.resize(n_);
      std::iota(perm_.begin(), perm_.end(), 0);
    }
    if (repeats_ > 1) {  // i0 i0+n i0+2n i1 i1+n ... truncated to n entries
      std::vector<int64_t> rep(n_);
      for (int64_t j = 0; j < n_; ++j) rep[j] = perm_[j / repeats_] + (j % repeats_) * n_;
      perm_.swap(rep);
    }
    cached_epoch_ = epoch;
  }
  const int64_t start = pos + rank_ * b_;
  return std::vector<int64_t>(perm_.begin() + start, perm_.begin() + start + b_);
}

std::pair<int64_t, int64_t> eval_shard(int64_t n, int world, int rank) {
  const int64_t base = n / world, extra = n % world;
  const int64_t begin = rank * base + std::min<int64_t>(rank, extra);
  return {begin, begin + base + (rank < extra ? 1 : 0)};
}

}  // namespace rpct
