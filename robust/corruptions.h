// Common image corruptions (Hendrycks & Dietterich 2019, ImageNet-C), generated on the fly in C++ from any
// clean image: the 15 benchmark corruptions x 5 severities with the parameters of `make_imagenet_c.py` /
// the `imagecorruptions` package (maintained fork imagecorruptions-imaug 1.1.5), plus its 4 extra ones.
// Deterministic per seed: callers derive the seed from (run seed, image index, corruption, severity).
// Works at any image size (the Python package refuses images under 32x32).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace rpct::robust {

// Order and names as imagecorruptions.get_corruption_names('all'): the 15 benchmark ones, then the 4 extra.
enum class Corruption : int {
  kGaussianNoise, kShotNoise, kImpulseNoise,
  kDefocusBlur, kGlassBlur, kMotionBlur, kZoomBlur,
  kSnow, kFrost, kFog, kBrightness,
  kContrast, kElasticTransform, kPixelate, kJpegCompression,
  kSpeckleNoise, kGaussianBlur, kSpatter, kSaturate,
};
constexpr int kNumBenchmarkCorruptions = 15;
constexpr int kNumCorruptions = 19;
constexpr int kNumSeverities = 5;

// "gaussian_noise", ..., "saturate" (the package's names), indexed by the enum.
const std::vector<std::string>& corruption_names();
// Throws std::invalid_argument naming the unknown name and listing the valid ones.
Corruption corruption_from_name(const std::string& name);

// image: (H, W, 3) uint8 RGB, contiguous, any H, W >= 1; severity 1..5. Returns a new (H, W, 3) uint8 image.
// Throws std::invalid_argument on a bad shape, dtype or severity.
torch::Tensor corrupt(const torch::Tensor& image, Corruption corruption, int severity, uint64_t seed);

}  // namespace rpct::robust
