#include "datasets/transforms.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "datasets/ade20k.h"
#include "datasets/fashion_mnist.h"  // mix64, per_sample_hash

namespace rpct {
namespace {

// Picks the decoded size: smallest DCT scale keeping the decoded image >= (min_w, min_h).
Image decode_for(const std::vector<uint8_t>& bytes, const std::string& path, bool dct, int min_w, int min_h,
                 int64_t max_pixels) {
  return dct ? decode_rgb(bytes, path, min_w, min_h, nullptr, max_pixels) : decode_rgb(bytes, path, 0, 0, nullptr, max_pixels);
}

// The label map of `path`, reduced (0 -> 255, v -> v - 1) when `reduce`; a value that is neither a class
// (< num_classes) nor 255 (ignore) makes the sample bad, naming the raw value in the file.
Image decode_labels(const std::vector<uint8_t>& bytes, const std::string& path, bool reduce, int num_classes,
                    int64_t max_pixels) {
  Image lab = decode_label_png(bytes, path, max_pixels);
  if (reduce) reduce_zero_label(lab.pixels.data(), lab.pixels.size());
  for (const uint8_t v : lab.pixels)
    if (v >= num_classes && v != kIgnoreLabel)
      throw DecodeError(path + ": label value " + std::to_string(reduce ? v + 1 : v) + " is above the " +
                        std::to_string(num_classes) + " classes" + (reduce ? " (1.." : " (0..") +
                        std::to_string(reduce ? num_classes : num_classes - 1) + ", and " +
                        (reduce ? "0 = other" : "255 = ignore") + ")");
  return lab;
}

}  // namespace

void classification_transform(const std::vector<uint8_t>& bytes, const std::string& path,
                              const ClassificationTransformOptions& opt, uint64_t seed, int64_t epoch, int64_t index,
                              float* out) {
  const ImageHeader hdr = read_image_header(bytes, path);
  const int W = hdr.width, H = hdr.height, S = opt.img_size;
  if (!opt.train) {
    // Resize(eval_resize) as torchvision (short side -> R, long side -> int(R * long / short)), then
    // CenterCrop(S): one box resample of the crop's pre-image.
    const int R = opt.eval_resize;
    const int new_w = W <= H ? R : static_cast<int>(double(R) * W / H);
    const int new_h = W <= H ? static_cast<int>(double(R) * H / W) : R;
    const int top = static_cast<int>(std::lround((new_h - S) / 2.0)), left = static_cast<int>(std::lround((new_w - S) / 2.0));
    Image img = decode_for(bytes, path, opt.dct_scaling, new_w, new_h, opt.max_image_pixels);
    const double fx = double(img.width) / new_w, fy = double(img.height) / new_h;
    Image crop = resample_box(img, left * fx, top * fy, (left + S) * fx, (top + S) * fy, S, S, Filter::kBicubic);
    normalize_into(crop, opt.mean, opt.std, out);
    return;
  }
  SampleRng rng(seed, epoch, index);
  const CropBox box = random_resized_crop_box(W, H, opt.scale_min, opt.scale_max, opt.ratio_min, opt.ratio_max, rng);
  const bool flip = rng.bernoulli(opt.hflip);
  // Smallest decoded size that keeps the crop >= S x S.
  const int min_w = static_cast<int>(std::ceil(double(W) * S / box.w)), min_h = static_cast<int>(std::ceil(double(H) * S / box.h));
  Image img = decode_for(bytes, path, opt.dct_scaling, min_w, min_h, opt.max_image_pixels);
  const double fx = double(img.width) / W, fy = double(img.height) / H;
  Image crop = resample_box(img, box.x * fx, box.y * fy, (box.x + box.w) * fx, (box.y + box.h) * fy, S, S, Filter::kBicubic);
  if (flip) hflip(crop);
  SampleRng aug_rng(seed, epoch, index, /*stream=*/1);
  if (opt.randaug_ops > 0)
    rand_augment(crop, opt.randaug_ops, opt.randaug_magnitude, opt.randaug_mstd, opt.randaug_prob, aug_rng);
  if (opt.color_jitter > 0 && (opt.randaug_ops == 0 || opt.jitter_with_randaug)) color_jitter(crop, opt.color_jitter, aug_rng);
  normalize_into(crop, opt.mean, opt.std, out);
  if (opt.reprob > 0) {
    SampleRng erase_rng(seed, epoch, index, /*stream=*/2);
    random_erasing(out, S, S, opt.reprob, erase_rng);
  }
}

// ---------------------------------------------------------------------------------------------------
namespace {

// The label map of an image (decode_labels with opt's reduction and class count); one of another size than
// the image (header `hdr`) makes the sample bad, naming both files.
Image decode_image_labels(const std::vector<uint8_t>& label_bytes, const std::string& label_path,
                          const ImageHeader& hdr, const std::string& image_path,
                          const SegmentationTransformOptions& opt) {
  Image lab = decode_labels(label_bytes, label_path, opt.reduce_zero_label, opt.num_classes, opt.max_image_pixels);
  if (lab.width != hdr.width || lab.height != hdr.height)
    throw DecodeError(label_path + ": label map is " + std::to_string(lab.width) + "x" + std::to_string(lab.height) +
                      " but its image " + image_path + " is " + std::to_string(hdr.width) + "x" + std::to_string(hdr.height));
  return lab;
}

}  // namespace

void segmentation_train_transform(const std::vector<uint8_t>& image_bytes, const std::string& image_path,
                                  const std::vector<uint8_t>& label_bytes, const std::string& label_path,
                                  const SegmentationTransformOptions& opt, uint64_t seed, int64_t epoch,
                                  int64_t index, float* image_out, int64_t* label_out) {
  SampleRng rng(seed, epoch, index, /*stream=*/4);
  const ImageHeader hdr = read_image_header(image_bytes, image_path);
  const double ratio = rng.uniform(opt.ratio_min, opt.ratio_max);
  const auto [nw, nh] = rescaled_size(hdr.width, hdr.height, opt.scale_long * ratio, opt.scale_short * ratio);
  Image img = decode_for(image_bytes, image_path, opt.dct_scaling, nw, nh, opt.max_image_pixels);
  img = resample_box(img, 0, 0, img.width, img.height, nw, nh, Filter::kBilinear);
  Image lab = decode_image_labels(label_bytes, label_path, hdr, image_path, opt);
  lab = resize_nearest(lab, nw, nh);
  // Random crop with cat_max_ratio: up to 10 draws until no class covers >= cat_max_ratio of the
  // crop's labelled pixels (and it has more than one class).
  const int S = opt.crop;
  auto draw = [&](int& oy, int& ox) {
    oy = static_cast<int>(rng.randint(0, std::max(nh - S, 0)));
    ox = static_cast<int>(rng.randint(0, std::max(nw - S, 0)));
  };
  int oy = 0, ox = 0;
  draw(oy, ox);
  const int ch = std::min(S, nh), cw = std::min(S, nw);
  if (opt.cat_max_ratio < 1.0) {
    for (int attempt = 0; attempt < 10; ++attempt) {
      int64_t counts[256] = {0};
      for (int y = oy; y < oy + ch; ++y)
        for (int x = ox; x < ox + cw; ++x) ++counts[lab.row(y)[x]];
      int64_t total = 0, mx = 0, classes = 0;
      for (int v = 0; v < 256; ++v)
        if (v != kIgnoreLabel && counts[v]) {
          total += counts[v];
          mx = std::max(mx, counts[v]);
          ++classes;
        }
      if (classes > 1 && double(mx) / total < opt.cat_max_ratio) break;
      draw(oy, ox);
    }
  }
  Image crop;
  crop.width = cw;
  crop.height = ch;
  crop.channels = 3;
  crop.pixels.resize(static_cast<size_t>(cw) * ch * 3);
  for (int y = 0; y < ch; ++y) std::memcpy(crop.row(y), img.row(oy + y) + ox * 3, static_cast<size_t>(cw) * 3);
  std::vector<uint8_t> lcrop(static_cast<size_t>(cw) * ch);
  for (int y = 0; y < ch; ++y) std::memcpy(&lcrop[static_cast<size_t>(y) * cw], lab.row(oy + y) + ox, cw);
  if (rng.bernoulli(opt.hflip)) {
    hflip(crop);
    for (int y = 0; y < ch; ++y) std::reverse(lcrop.begin() + static_cast<size_t>(y) * cw, lcrop.begin() + static_cast<size_t>(y + 1) * cw);
  }
  if (opt.photometric) photometric_distortion(crop, rng);
  // Normalize and pad to S x S (image 0 after normalization, label ignore).
  std::vector<float> tmp(static_cast<size_t>(3) * cw * ch);
  normalize_into(crop, opt.mean, opt.std, tmp.data());
  const size_t plane = static_cast<size_t>(S) * S;
  std::fill(image_out, image_out + 3 * plane, 0.f);
  std::fill(label_out, label_out + plane, static_cast<int64_t>(kIgnoreLabel));
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < ch; ++y)
      std::memcpy(image_out + c * plane + static_cast<size_t>(y) * S, &tmp[(static_cast<size_t>(c) * ch + y) * cw], cw * sizeof(float));
  for (int y = 0; y < ch; ++y)
    for (int x = 0; x < cw; ++x) label_out[static_cast<size_t>(y) * S + x] = lcrop[static_cast<size_t>(y) * cw + x];
}

SegmentationEvalSample segmentation_eval_transform(const std::vector<uint8_t>& image_bytes,
                                                   const std::string& image_path,
                                                   const std::vector<uint8_t>& label_bytes,
                                                   const std::string& label_path,
                                                   const SegmentationTransformOptions& opt,
                                                   const ImageEdit& before_rescale) {
  if (opt.eval_scales.empty()) throw std::invalid_argument("segmentation_eval_transform: no eval scale");
  const ImageHeader hdr = read_image_header(image_bytes, image_path);
  std::vector<std::pair<int, int>> sizes;  // (w, h) per scale
  int max_w = 0, max_h = 0;
  for (double r : opt.eval_scales) {
    // mmseg: img_scale = (int(w * ratio), int(h * ratio)), then Resize(keep_ratio) fits it.
    sizes.push_back(rescaled_size(hdr.width, hdr.height, static_cast<int>(opt.scale_long * r),
                                  static_cast<int>(opt.scale_short * r)));
    max_w = std::max(max_w, sizes.back().first);
    max_h = std::max(max_h, sizes.back().second);
  }
  // An edit sees the image as stored (DCT scaling would hand it a reduced decode).
  Image decoded = decode_for(image_bytes, image_path, opt.dct_scaling && !before_rescale, max_w, max_h,
                             opt.max_image_pixels);
  if (before_rescale) {
    const int w = decoded.width, h = decoded.height;
    before_rescale(decoded);
    if (decoded.width != w || decoded.height != h || decoded.pixels.size() != static_cast<size_t>(w) * h * 3)
      throw std::logic_error(image_path + ": an image edit before the eval transform changed the image's size");
  }
  Image lab = decode_image_labels(label_bytes, label_path, hdr, image_path, opt);
  SegmentationEvalSample s;
  for (const auto& [nw, nh] : sizes) {
    const Image img = resample_box(decoded, 0, 0, decoded.width, decoded.height, nw, nh, Filter::kBilinear);
    s.images.push_back(torch::empty({3, nh, nw}, torch::kFloat32));
    normalize_into(img, opt.mean, opt.std, s.images.back().data_ptr<float>());
  }
  s.label = torch::from_blob(lab.pixels.data(), {lab.height, lab.width}, torch::kUInt8).to(torch::kInt64);
  return s;
}

std::vector<Window> sliding_windows(int height, int width, int crop, int stride) {
  const int h_grids = std::max(height - crop + stride - 1, 0) / stride + 1;
  const int w_grids = std::max(width - crop + stride - 1, 0) / stride + 1;
  std::vector<Window> out;
  for (int hi = 0; hi < h_grids; ++hi)
    for (int wi = 0; wi < w_grids; ++wi) {
      int y1 = hi * stride, x1 = wi * stride;
      const int y2 = std::min(y1 + crop, height), x2 = std::min(x1 + crop, width);
      y1 = std::max(y2 - crop, 0);
      x1 = std::max(x2 - crop, 0);
      out.push_back({y1, x1, y2, x2});
    }
  return out;
}

}  // namespace rpct
