// Distributed sampler over global sample indices. Each epoch has one permutation determined by
// (seed, epoch) only; global batch s is perm[s*G, (s+1)*G) with G = world * per_rank_batch, and
// rank r takes its r-th slice. So 2 ranks x batch b see exactly the samples of 1 rank x batch 2b,
// and the position in an epoch is a global sample count, independent of the world size.
//
// Repeated augmentation (DeiT's RASampler, `repeats` > 1): the epoch's sequence lists each sample of
// the permutation `repeats` times in a row, truncated to the dataset size (so an epoch keeps its
// length and sees about n / repeats distinct samples). The k-th copy of sample i is emitted as the
// code i + k * n: sources load sample (code % n) and key its augmentation on the code, so the copies
// are augmented differently (repeat_source_index / decoded by the BatchSources).
#pragma once
#include <cstdint>
#include <vector>

namespace rpct {

// Fisher-Yates with a splitmix64 stream: identical on every platform and rank.
std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch);

class DistributedSampler {
 public:
  DistributedSampler(int64_t dataset_size, int64_t per_rank_batch, int world, int rank, uint64_t seed,
                     bool shuffle = true, int repeats = 1);
  int64_t steps_per_epoch() const { return steps_; }  // incomplete last global batch dropped
  int64_t global_batch() const { return global_batch_; }
  std::vector<int64_t> batch(int64_t epoch, int64_t step);  // this rank's indices
  // This rank's indices of the global batch that starts at global position `pos` of the epoch's
  // permutation (pos = samples already consumed in the epoch, by all ranks together).
  std::vector<int64_t> batch_at(int64_t epoch, int64_t pos);

 private:
  int64_t n_, b_, global_batch_, steps_;
  int world_, rank_;
  uint64_t seed_;
  bool shuffle_;
  int repeats_;
  int64_t cached_epoch_ = -1;
  std::vector<int64_t> perm_;
};

// The dataset index of a sample code from a sampler with repeated augmentation (code % n).
inline int64_t repeat_source_index(int64_t code, int64_t n) { return code % n; }

// Contiguous, near-equal shard [begin, end) of n items for evaluation.
std::pair<int64_t, int64_t> eval_shard(int64_t n, int world, int rank);

}  // namespace rpct
