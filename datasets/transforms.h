// Deterministic per-sample augmentation. Every random choice for a sample comes from a SampleRng
// seeded by (seed, epoch, global index), so a sample's augmented tensor does not depend on the batch
// it lands in, the rank that loads it, or the number of workers: a resumed or re-sharded run sees the
// same images.
//   classification train: the DeiT recipe (timm create_transform with is_training):
//     RandomResizedCrop(224, scale 0.08-1, ratio 3/4-4/3, bicubic) -> hflip 0.5 -> RandAugment
//     rand-m9-mstd0.5-inc1 (2 ops, each with prob 0.5) -> [color jitter 0.4; timm skips it when
//     RandAugment is on, see ClassificationTransformOptions::jitter_with_randaug] -> normalize ->
//     RandomErasing(0.25, mode pixel); then batch-level Mixup 0.8 / CutMix 1.0 (switch 0.5) with
//     label smoothing 0.1 (mixup_cutmix below).
//   classification eval: resize shorter side to 256 (bicubic) -> center crop 224 -> normalize.
//   segmentation train (Segmenter / mmseg ADE20K): random rescale (ratio 0.5-2.0 of 2048x512, keep
//     ratio) -> random crop 512 (cat_max_ratio 0.75) -> hflip 0.5 -> photometric distortion ->
//     normalize -> pad to 512 (image 0, label 255).
//   segmentation eval (mmseg test pipeline): rescale to fit 2048x512 (shorter side 512 for usual aspect
//     ratios), for multi-scale testing once per ratio of eval_scales; the label at its original size;
//     sliding windows over the rescaled image (sliding_windows).
// JPEG inputs are decoded with DCT-domain downscaling whenever the crop is shrunk by 2x or more.
// This file holds the pipelines; their pieces live by job, as timm splits its data code: image_ops.h (the
// per-sample RNG, resampling, crops, flips, colour ops, normalisation, erasing), rand_augment.h, mixup.h.
#pragma once
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "datasets/decode.h"
#include "datasets/image_ops.h"
#include "datasets/mixup.h"
#include "datasets/rand_augment.h"

namespace rpct {

constexpr std::array<float, 3> kImagenetMean = {0.485f, 0.456f, 0.406f};
constexpr std::array<float, 3> kImagenetStd = {0.229f, 0.224f, 0.225f};


struct ClassificationTransformOptions {
  bool train = true;
  int img_size = 224;
  int eval_resize = 256;   // eval: shorter side -> this, then center crop img_size
  double scale_min = 0.08, scale_max = 1.0;
  double ratio_min = 3.0 / 4.0, ratio_max = 4.0 / 3.0;
  double hflip = 0.5;
  int randaug_ops = 2;          // 0 = no RandAugment
  double randaug_magnitude = 9.0;
  double randaug_mstd = 0.5;
  double randaug_prob = 0.5;    // per op (timm)
  double color_jitter = 0.4;    // brightness/contrast/saturation factor range 1 +- this; 0 = off
  bool jitter_with_randaug = false;  // timm applies color jitter only when RandAugment is off
  double reprob = 0.25;         // random erasing probability (mode pixel, 1 box)
  bool dct_scaling = true;
  int64_t max_image_pixels = kDefaultMaxImagePixels;  // larger headers are bad samples (datasets/decode.h)
  std::array<float, 3> mean = kImagenetMean, std = kImagenetStd;
};

// Decodes `bytes` and writes the (3, S, S) normalized float image, S = img_size, into `out` (CHW).
// Throws DecodeError naming `path` on a bad file.
void classification_transform(const std::vector<uint8_t>& bytes, const std::string& path,
                              const ClassificationTransformOptions& opt, uint64_t seed, int64_t epoch, int64_t index,
                              float* out);



struct SegmentationTransformOptions {
  int crop = 512;
  int scale_long = 2048, scale_short = 512;
  double ratio_min = 0.5, ratio_max = 2.0;
  double cat_max_ratio = 0.75;
  double hflip = 0.5;
  bool photometric = true;
  bool reduce_zero_label = true;
  int num_classes = 150;  // label values (after reduce_zero_label) must be < this or 255 (ignore)
  // Eval: one rescaled image per ratio r, fitting int(r * scale_long) x int(r * scale_short) (mmseg's
  // MultiScaleFlipAug img_ratios); {1.0} = the single-scale test.
  std::vector<double> eval_scales = {1.0};
  bool dct_scaling = true;
  int64_t max_image_pixels = kDefaultMaxImagePixels;  // image and annotation (datasets/decode.h)
  std::array<float, 3> mean = kImagenetMean, std = kImagenetStd;
};

// Train: writes the (3, crop, crop) image and the (crop, crop) label (255 = ignore, also padding).
void segmentation_train_transform(const std::vector<uint8_t>& image_bytes, const std::string& image_path,
                                  const std::vector<uint8_t>& label_bytes, const std::string& label_path,
                                  const SegmentationTransformOptions& opt, uint64_t seed, int64_t epoch,
                                  int64_t index, float* image_out, int64_t* label_out);

struct SegmentationEvalSample {
  std::vector<torch::Tensor> images;  // per opt.eval_scales[s]: (3, h_s, w_s) float, rescaled (keep ratio)
  torch::Tensor label;                // (H, W) int64 at the original resolution (255 = ignore)
};
// Changes a decoded 8-bit RGB image in place (its size kept) before a transform resamples it, e.g. a
// robustness benchmark's corruption.
using ImageEdit = std::function<void(Image& image)>;

// Decodes once (at the largest scale's size) and resamples the image for every eval scale. An annotation
// of another size than its image is a DecodeError naming both files. before_rescale (optional): applied to
// the image decoded at its full size (no DCT scaling then), before the rescale and normalisation.
SegmentationEvalSample segmentation_eval_transform(const std::vector<uint8_t>& image_bytes,
                                                   const std::string& image_path,
                                                   const std::vector<uint8_t>& label_bytes,
                                                   const std::string& label_path,
                                                   const SegmentationTransformOptions& opt,
                                                   const ImageEdit& before_rescale = nullptr);

struct Window {
  int y0, x0, y1, x1;
};
// mmseg slide_inference windows: a grid of crop x crop windows with `stride`, the last row/column
// shifted back inside the image.
std::vector<Window> sliding_windows(int height, int width, int crop, int stride);

}  // namespace rpct
