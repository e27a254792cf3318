// The image operations the augmentation pipelines (datasets/transforms.h) and RandAugment are made of, on
// 8-bit RGB images (datasets/decode.h's Image), PIL / torchvision / timm / mmseg semantics, and the
// per-sample random stream every random choice comes from.
#pragma once
#include <array>
#include <cstdint>
#include <utility>

#include "datasets/decode.h"

namespace rpct {

constexpr double kPi = 3.14159265358979323846;

// splitmix64 stream for one sample (and one purpose, `stream`).
class SampleRng {
 public:
  SampleRng(uint64_t seed, int64_t epoch, int64_t index, uint64_t stream = 0);
  uint64_t next_u64();
  double uniform();                          // [0, 1)
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  int64_t randint(int64_t lo, int64_t hi);   // inclusive [lo, hi]
  double normal();                           // N(0, 1), Box-Muller
  double gamma(double shape);                // Marsaglia-Tsang
  double beta(double a, double b);
  bool bernoulli(double p) { return uniform() < p; }

 private:
  uint64_t state_;
};

enum class Filter { kBilinear, kBicubic };

// PIL-style separable convolution resampling of the box [x0, x1) x [y0, y1) of `src` (pixel-edge
// coordinates, may be fractional) to out_w x out_h; antialiased when shrinking (filter support scaled).
Image resample_box(const Image& src, double x0, double y0, double x1, double y1, int out_w, int out_h, Filter f);

struct CropBox {
  int x = 0, y = 0, w = 0, h = 0;
};
// torchvision RandomResizedCrop.get_params (10 tries, then the central crop fallback).
CropBox random_resized_crop_box(int width, int height, double scale_lo, double scale_hi, double ratio_lo,
                                double ratio_hi, SampleRng& rng);

// PIL ImageEnhance: blend with a degenerate image (black, the mean grey, the grayscale, the smoothed image)
// by `factor` (1 = unchanged).
void adjust_brightness(Image& img, double factor);
void adjust_contrast(Image& img, double factor);
void adjust_saturation(Image& img, double factor);
void adjust_sharpness(Image& img, double factor);
// PIL ImageOps.autocontrast (cutoff 0) and equalize.
void autocontrast(Image& img);
void equalize(Image& img);
// PIL Image.transform(AFFINE, m, BICUBIC) with timm's fill (the ImageNet mean): output pixel (x, y) samples
// the input at (m[0] x + m[1] y + m[2], m[3] x + m[4] y + m[5]) (pixel centres); outside -> the fill.
void affine(Image& img, const double m[6]);
void hflip(Image& img);
// (pixel / 255 - mean) / std per channel, written as a (3, H, W) float image (CHW) into `out`.
void normalize_into(const Image& img, const std::array<float, 3>& mean, const std::array<float, 3>& std, float* out);
// timm RandomErasing(probability, mode="pixel", max_count=1) on a (3, H, W) normalized image.
void random_erasing(float* x, int h, int w, double prob, SampleRng& rng);
// torchvision ColorJitter(brightness = contrast = saturation = strength), the three in a random order.
void color_jitter(Image& img, double strength, SampleRng& rng);
// mmseg PhotoMetricDistortion (brightness 32, contrast 0.5-1.5 before or after saturation 0.5-1.5 and hue 18),
// each with probability 0.5.
void photometric_distortion(Image& img, SampleRng& rng);
// mmcv.imrescale: (w, h) scaled to fit (scale_long, scale_short) keeping the aspect ratio, as (width, height).
std::pair<int, int> rescaled_size(int w, int h, double scale_long, double scale_short);
// Nearest-neighbour resize (label maps).
Image resize_nearest(const Image& src, int out_w, int out_h);

}  // namespace rpct
