// Fashion-MNIST from the IDX .gz files of Debian's dataset-fashion-mnist package.
#pragma once
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "datasets/batch_source.h"
#include "datasets/fashion_mnist_geometry.h"

namespace rpct {

struct ImageSet {
  torch::Tensor images;  // (N, H, W) uint8
  torch::Tensor labels;  // (N,) int64
  int64_t size() const { return labels.size(0); }
};

// Reads IDX (optionally gzip-compressed) files. Throws std::runtime_error naming the file on a
// missing file, bad magic, or truncated content.
torch::Tensor read_idx_images(const std::string& path);  // (N, H, W) uint8
torch::Tensor read_idx_labels(const std::string& path);  // (N,) int64

// split: "train" (60k) or "test" (10k). `limit` > 0 keeps the first `limit` samples.
// A missing directory or file is an error that names it and the Debian package to install.
ImageSet load_fashion_mnist(const std::string& root, const std::string& split, int64_t limit = 0);

// Deterministic per-sample augmentation from (seed, epoch, global index): a random shift of up to
// `max_shift` pixels (zero padded) and a horizontal flip with probability 1/2.
void augment_shift_flip(const uint8_t* src, uint8_t* dst, int64_t h, int64_t w, int max_shift, uint64_t seed,
                        int64_t epoch, int64_t index);

// The items on a larger zero background (data.canvas): a size x size image holding the (augmented) H x W item,
// when `random` scaled by a uniform factor in [min_scale, max_scale] (nearest neighbour, side lround(H x
// factor), as prepare-data's scenes) at a uniformly random offset per sample (deterministic from seed, epoch and
// index, a stream of its own), else unscaled and centered ((size - H) / 2, floor). size 0 = the images as they
// are.
struct FashionMnistCanvas {
  int64_t size = 0;
  bool random = false;
  double min_scale = 1.0, max_scale = 1.0;
};

// Collates samples `indices` of `set` into a normalized float batch (B, 1, H, W) and labels (B,); H = W =
// canvas.size when it is set. An index >= set.size() is a repeated-augmentation code (see DistributedSampler):
// sample code % n.
std::pair<torch::Tensor, torch::Tensor> make_batch(const ImageSet& set, const std::vector<int64_t>& indices,
                                                   bool augment, uint64_t seed, int64_t epoch,
                                                   const FashionMnistCanvas& canvas = {});

// splitmix64: a stateless, well-mixed hash used to derive per-sample random numbers.
uint64_t mix64(uint64_t x);

// The hash every per-sample draw starts from: mix64(mix64(mix64(seed) ^ epoch) ^ index). A purpose of its own
// (another stream of draws for the same sample) goes into the seed or is mixed in after.
uint64_t per_sample_hash(uint64_t seed, int64_t epoch, int64_t index);

// Fashion-MNIST as a BatchSource: 1-channel 28x28 batches (or on `canvas`), shift/flip augmentation when
// `augment`.
class FashionMnistSource : public BatchSource {
 public:
  FashionMnistSource(ImageSet set, bool augment, uint64_t seed, FashionMnistCanvas canvas = {});
  int64_t size() const override { return set_.size(); }
  Batch make_batch(int64_t epoch, const std::vector<int64_t>& indices) override;

 private:
  ImageSet set_;
  bool augment_;
  uint64_t seed_;
  FashionMnistCanvas canvas_;
};

}  // namespace rpct
