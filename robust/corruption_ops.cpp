// The corruption kernels (see corruption_ops.h). Each function cites the package's code it follows;
// "f64"/"f32" name the numpy dtype of the package's array at that step.
#include "robust/corruption_ops.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <mutex>
#include <stdexcept>
#include <tuple>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <turbojpeg.h>

#include "core/file_io.h"
#include "datasets/decode.h"
#include "robust/corruption_numerics.h"

namespace rpct::robust::ops {
namespace {

using numerics::Border;

// np.uint8(v) of an already clipped value: truncation toward zero.
inline uint8_t to_u8(double v) { return static_cast<uint8_t>(v); }
inline double clip01(double v) { return v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v); }
inline float clip01f(float v) { return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v); }

RgbImage like(const RgbImage& img) {
  RgbImage out;
  out.height = img.height;
  out.width = img.width;
  out.pixels.resize(img.size());
  return out;
}

// np.array(x) / 255. (f64)
std::vector<double> to_unit_f64(const RgbImage& img) {
  std::vector<double> x(img.size());
  for (int64_t i = 0; i < img.size(); ++i) x[i] = img.pixels[i] / 255.0;
  return x;
}
// np.array(x, dtype=np.float32) / 255. (f32 division)
std::vector<float> to_unit_f32(const RgbImage& img) {
  std::vector<float> x(img.size());
  for (int64_t i = 0; i < img.size(); ++i) x[i] = static_cast<float>(img.pixels[i]) / 255.0f;
  return x;
}
// np.clip(x, 0, 1) * 255 -> np.uint8
template <class T>
RgbImage from_unit(const RgbImage& shape, const std::vector<T>& x) {
  RgbImage out = like(shape);
  for (int64_t i = 0; i < shape.size(); ++i) {
    if constexpr (std::is_same_v<T, float>) out.pixels[i] = to_u8(clip01f(x[i]) * 255.0f);
    else out.pixels[i] = to_u8(clip01(x[i]) * 255.0);
  }
  return out;
}

void check_severity(int severity) {
  if (severity < 1 || severity > 5)
    throw std::invalid_argument("corruption severity must be 1..5, got " + std::to_string(severity));
}

// ---- motion blur (package _motion_blur / shift / getMotionBlurKernel) ----
// Sum over i of kernel[i] * shift(x, dx_i, dy_i) (edge-replicating shifts) in f64, in the package's order.
template <class T>
std::vector<double> motion_blur_layer(const T* x, int64_t h, int64_t w, int64_t channels, int radius, double sigma,
                                      double angle_deg) {
  const int width = 2 * radius + 1;
  std::vector<double> kernel(width);
  const double norm = std::sqrt(2 * M_PI) * sigma;
  const double two_s2 = static_cast<double>(2 * static_cast<int64_t>(sigma) * static_cast<int64_t>(sigma));
  for (int i = 0; i < width; ++i) {
    const double e = -static_cast<double>(static_cast<int64_t>(i) * i) / two_s2;
    kernel[i] = std::exp(e) / norm;
  }
  const double z = numerics::numpy_sum(kernel.data(), width);
  for (double& k : kernel) k = k / z;
  const double rad = angle_deg * (M_PI / 180.0);
  const double p0 = width * std::sin(rad), p1 = width * std::cos(rad);
  const double hyp = std::hypot(p0, p1);
  std::vector<double> acc(static_cast<size_t>(h * w * channels), 0.0);
  for (int i = 0; i < width; ++i) {
    const int64_t dy = -static_cast<int64_t>(std::ceil((i * p0) / hyp - 0.5));
    const int64_t dx = -static_cast<int64_t>(std::ceil((i * p1) / hyp - 0.5));
    if (std::llabs(dy) >= h || std::llabs(dx) >= w) break;  // "simulated motion exceeded image borders"
    // shifted[:, xx] = x[:, clamp(xx - dx)]: columns [lo, hi) read x contiguously, the rest the edge column
    const int64_t lo = std::clamp<int64_t>(dx, 0, w), hi = std::clamp<int64_t>(w + dx, 0, w);
    const double k = kernel[i];
    for (int64_t yy = 0; yy < h; ++yy) {
      const T* src = x + std::clamp<int64_t>(yy - dy, 0, h - 1) * w * channels;
      double* dst = acc.data() + yy * w * channels;
      for (int64_t xx = 0; xx < lo; ++xx)
        for (int64_t c = 0; c < channels; ++c) dst[xx * channels + c] += k * static_cast<double>(src[c]);
      const T* shifted = src - dx * channels;
      for (int64_t j = lo * channels; j < hi * channels; ++j) dst[j] += k * static_cast<double>(shifted[j]);
      for (int64_t xx = hi; xx < w; ++xx)
        for (int64_t c = 0; c < channels; ++c) dst[xx * channels + c] += k * static_cast<double>(src[(w - 1) * channels + c]);
    }
  }
  return acc;
}

// ---- disk kernel for defocus (package disk()) ----
cv::Mat defocus_kernel(int radius, double alias_blur) {
  const int r = radius <= 8 ? 8 : radius;
  const int n = 2 * r + 1;
  cv::Mat disk(n, n, CV_32F);
  float count = 0;
  for (int y = -r; y <= r; ++y)
    for (int x = -r; x <= r; ++x) {
      const float v = (x * x + y * y) <= radius * radius ? 1.0f : 0.0f;
      disk.at<float>(y + r, x + r) = v;
      count += v;
    }
  disk /= count;
  cv::Mat out;
  const int ksize = radius <= 8 ? 3 : 5;
  cv::GaussianBlur(disk, out, cv::Size(ksize, ksize), alias_blur);
  return out;
}

// ---- frost images (package frost(): cv2.imread, rescale by 1.1 x the covering factor, INTER_CUBIC) ----
const char* const kFrostFiles[6] = {"frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg", "frost6.jpg"};

const RgbImage& frost_original(int index, const std::string& dir) {
  static std::mutex mu;
  static std::map<std::pair<std::string, int>, RgbImage> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto key = std::make_pair(dir, index);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  const std::string path = dir + "/" + kFrostFiles[index];
  Image decoded;
  try {
    decoded = decode_rgb(read_file_bytes(path), path);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("frost corruption: cannot read frost image ") + path + " (" + e.what() +
                             "); the images ship with the imagecorruptions package: run scripts/setup.sh, or set "
                             "RPCT_FROST_DIR to its imagecorruptions/frost folder");
  }
  RgbImage img;
  img.height = decoded.height;
  img.width = decoded.width;
  img.pixels = std::move(decoded.pixels);
  return cache.emplace(key, std::move(img)).first->second;
}

void rescaled_size(int64_t fh, int64_t fw, int64_t h, int64_t w, int64_t* out_h, int64_t* out_w) {
  double s = 1;
  if (fh >= h && fw >= w) s = 1;
  else if (fh < h && fw >= w) s = static_cast<double>(h) / fh;
  else if (fh >= h && fw < w) s = static_cast<double>(w) / fw;
  else s = std::max(static_cast<double>(h) / fh, static_cast<double>(w) / fw);
  s *= 1.1;
  *out_w = static_cast<int64_t>(std::ceil(fw * s));
  *out_h = static_cast<int64_t>(std::ceil(fh * s));
}

const RgbImage& frost_rescaled(int index, int64_t h, int64_t w, const std::string& dir) {
  const RgbImage& orig = frost_original(index, dir);
  int64_t rh, rw;
  rescaled_size(orig.height, orig.width, h, w, &rh, &rw);
  static std::mutex mu;
  static std::map<std::tuple<std::string, int, int64_t, int64_t>, RgbImage> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto key = std::make_tuple(dir, index, rh, rw);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  cv::Mat src(static_cast<int>(orig.height), static_cast<int>(orig.width), CV_8UC3,
              const_cast<uint8_t*>(orig.pixels.data()));
  cv::Mat dst;
  cv::resize(src, dst, cv::Size(static_cast<int>(rw), static_cast<int>(rh)), 0, 0, cv::INTER_CUBIC);
  RgbImage out;
  out.height = rh;
  out.width = rw;
  out.pixels.assign(dst.data, dst.data + rh * rw * 3);
  return cache.emplace(key, std::move(out)).first->second;
}

}  // namespace

RgbImage gaussian_noise(const RgbImage& img, int severity, const double* z) {
  check_severity(severity);
  const double c = std::array<double, 5>{.08, .12, 0.18, 0.26, 0.38}[severity - 1];
  RgbImage out = like(img);
  for (int64_t i = 0; i < img.size(); ++i) out.pixels[i] = to_u8(clip01(img.pixels[i] / 255.0 + c * z[i]) * 255.0);
  return out;
}

RgbImage shot_noise(const RgbImage& img, int severity, const double* counts) {
  check_severity(severity);
  const double c = std::array<double, 5>{60, 25, 12, 5, 3}[severity - 1];
  RgbImage out = like(img);
  for (int64_t i = 0; i < img.size(); ++i) out.pixels[i] = to_u8(clip01(counts[i] / c) * 255.0);
  return out;
}

RgbImage impulse_noise(const RgbImage& img, int severity, const uint8_t* flipped, const uint8_t* salted) {
  check_severity(severity);
  RgbImage out = like(img);
  for (int64_t i = 0; i < img.size(); ++i) {
    double x = img.pixels[i] / 255.0;
    if (flipped[i]) x = salted[i] ? 1.0 : 0.0;
    out.pixels[i] = to_u8(clip01(x) * 255.0);
  }
  return out;
}

RgbImage speckle_noise(const RgbImage& img, int severity, const double* z) {
  check_severity(severity);
  const double c = std::array<double, 5>{.15, .2, 0.35, 0.45, 0.6}[severity - 1];
  RgbImage out = like(img);
  for (int64_t i = 0; i < img.size(); ++i) {
    const double x = img.pixels[i] / 255.0;
    out.pixels[i] = to_u8(clip01(x + x * (c * z[i])) * 255.0);
  }
  return out;
}

RgbImage gaussian_blur(const RgbImage& img, int severity) {
  check_severity(severity);
  const double c = std::array<double, 5>{1, 2, 3, 4, 6}[severity - 1];
  constexpr double kSkimageTruncate = 4.0;  // skimage.filters.gaussian default
  auto x = to_unit_f64(img);
  numerics::gaussian_filter(x.data(), img.height, img.width, 3, c, c, kSkimageTruncate, Border::kNearest);
  return from_unit(img, x);
}

namespace {
struct GlassParams {
  double sigma;
  int max_delta, iterations;
};
GlassParams glass_params(int severity) {
  constexpr GlassParams kParams[5] = {{0.7, 1, 2}, {0.9, 2, 1}, {1, 2, 3}, {1.1, 3, 2}, {1.5, 4, 2}};
  return kParams[severity - 1];
}
}  // namespace

int glass_blur_max_delta(int severity) {
  check_severity(severity);
  return glass_params(severity).max_delta;
}

int64_t glass_blur_draws(int64_t height, int64_t width, int severity) {
  check_severity(severity);
  const GlassParams p = glass_params(severity);
  const int64_t nh = std::max<int64_t>(0, height - 2 * p.max_delta), nw = std::max<int64_t>(0, width - 2 * p.max_delta);
  return p.iterations * nh * nw;
}

RgbImage glass_blur(const RgbImage& img, int severity, const int32_t* shifts) {
  check_severity(severity);
  const GlassParams p = glass_params(severity);
  constexpr double kSkimageTruncate = 4.0;
  auto x = to_unit_f64(img);
  numerics::gaussian_filter(x.data(), img.height, img.width, 3, p.sigma, p.sigma, kSkimageTruncate, Border::kNearest);
  RgbImage mid = like(img);
  for (int64_t i = 0; i < img.size(); ++i) mid.pixels[i] = to_u8(x[i] * 255.0);
  // _shuffle_pixels_njit_glass_blur. Its tuple "swap" of two pixel views compiles (numba, as numpy) to
  // x[h, w] = x[h', w'] followed by x[h', w'] = x[h, w] (already overwritten): a copy, replicated here.
  const int64_t h = img.height, w = img.width, d = p.max_delta;
  int64_t k = 0;
  for (int it = 0; it < p.iterations; ++it)
    for (int64_t yy = h - d; yy > d; --yy)
      for (int64_t xx = w - d; xx > d; --xx, ++k) {
        const int64_t dx = shifts[2 * k], dy = shifts[2 * k + 1];
        const uint8_t* src = &mid.pixels[((yy + dy) * w + (xx + dx)) * 3];
        uint8_t* dst = &mid.pixels[(yy * w + xx) * 3];
        dst[0] = src[0];
        dst[1] = src[1];
        dst[2] = src[2];
      }
  auto y = to_unit_f64(mid);
  numerics::gaussian_filter(y.data(), img.height, img.width, 3, p.sigma, p.sigma, kSkimageTruncate, Border::kNearest);
  return from_unit(img, y);
}

RgbImage defocus_blur(const RgbImage& img, int severity) {
  check_severity(severity);
  constexpr std::pair<int, double> kParams[5] = {{3, 0.1}, {4, 0.5}, {6, 0.5}, {8, 0.5}, {10, 0.5}};
  const cv::Mat kernel = defocus_kernel(kParams[severity - 1].first, kParams[severity - 1].second);
  const auto x = to_unit_f64(img);
  const int h = static_cast<int>(img.height), w = static_cast<int>(img.width);
  RgbImage out = like(img);
  cv::Mat plane(h, w, CV_64F), blurred;
  for (int c = 0; c < 3; ++c) {
    for (int64_t i = 0; i < img.height * img.width; ++i) plane.at<double>(static_cast<int>(i)) = x[i * 3 + c];
    cv::filter2D(plane, blurred, -1, kernel);
    for (int64_t i = 0; i < img.height * img.width; ++i)
      out.pixels[i * 3 + c] = to_u8(clip01(blurred.at<double>(static_cast<int>(i))) * 255.0);
  }
  return out;
}

RgbImage motion_blur(const RgbImage& img, int severity, double angle_deg) {
  check_severity(severity);
  constexpr std::pair<int, int> kParams[5] = {{10, 3}, {15, 5}, {15, 8}, {15, 12}, {20, 15}};
  const auto acc = motion_blur_layer(img.pixels.data(), img.height, img.width, 3, kParams[severity - 1].first,
                                     kParams[severity - 1].second, angle_deg);
  RgbImage out = like(img);
  for (int64_t i = 0; i < img.size(); ++i) out.pixels[i] = to_u8(std::clamp(acc[i], 0.0, 255.0));
  return out;
}

RgbImage zoom_blur(const RgbImage& img, int severity) {
  check_severity(severity);
  constexpr double kRange[5][2] = {{1.11, 0.01}, {1.16, 0.01}, {1.21, 0.02}, {1.26, 0.02}, {1.31, 0.03}};
  const auto zooms = numerics::numpy_arange(1, kRange[severity - 1][0], kRange[severity - 1][1]);
  const int64_t h = img.height, w = img.width;
  // (np.array(x) / 255.).astype(np.float32)
  std::vector<float> x(img.size());
  for (int64_t i = 0; i < img.size(); ++i) x[i] = static_cast<float>(img.pixels[i] / 255.0);
  std::vector<float> out(img.size(), 0.0f), crop;
  for (double z : zooms) {
    // clipped_zoom: centre crop of ceil(size / z), zoomed back by z (then cut to the image size)
    const int64_t ch = static_cast<int64_t>(std::ceil(h / z)), cw = static_cast<int64_t>(std::ceil(w / z));
    const int64_t top = (h - ch) / 2, left = (w - cw) / 2;  // floor division of non-negative values
    crop.resize(ch * cw * 3);
    for (int64_t yy = 0; yy < ch; ++yy)
      std::copy_n(&x[((top + yy) * w + left) * 3], cw * 3, &crop[yy * cw * 3]);
    const auto layer = numerics::zoom_linear(crop.data(), ch, cw, 3, z, h, w);
    for (int64_t i = 0; i < img.size(); ++i) out[i] += layer[i];
  }
  const float n = static_cast<float>(zooms.size() + 1);
  std::vector<float> res(img.size());
  for (int64_t i = 0; i < img.size(); ++i) res[i] = (x[i] + out[i]) / n;
  return from_unit(img, res);
}

RgbImage snow(const RgbImage& img, int severity, const double* z, double angle_deg) {
  check_severity(severity);
  struct P { double loc, scale, zoom, threshold; int radius, sigma; double blend; };
  constexpr P kParams[5] = {{0.1, 0.3, 3, 0.5, 10, 4, 0.8},
                            {0.2, 0.3, 2, 0.5, 12, 4, 0.7},
                            {0.55, 0.3, 4, 0.9, 12, 8, 0.7},
                            {0.55, 0.3, 4.5, 0.85, 12, 8, 0.65},
                            {0.55, 0.3, 2.5, 0.85, 12, 12, 0.55}};
  const P p = kParams[severity - 1];
  const int64_t h = img.height, w = img.width;
  const auto x = to_unit_f32(img);
  // snow layer = normal(loc, scale) (f64), clipped_zoom, threshold, clip
  std::vector<double> layer(h * w);
  for (int64_t i = 0; i < h * w; ++i) layer[i] = p.loc + p.scale * z[i];
  const int64_t ch = static_cast<int64_t>(std::ceil(h / p.zoom)), cw = static_cast<int64_t>(std::ceil(w / p.zoom));
  const int64_t top = (h - ch) / 2, left = (w - cw) / 2;
  std::vector<double> crop(ch * cw);
  for (int64_t yy = 0; yy < ch; ++yy) std::copy_n(&layer[(top + yy) * w + left], cw, &crop[yy * cw]);
  int64_t zh, zw;
  numerics::zoom_output_size(ch, cw, p.zoom, &zh, &zw);
  auto zoomed = numerics::zoom_linear(crop.data(), ch, cw, 1, p.zoom, zh, zw);
  for (double& v : zoomed) v = v < p.threshold ? 0.0 : clip01(v);
  // motion blur of the whole zoomed layer, round to 1/255 steps, crop to the image (top-left)
  const auto blurred = motion_blur_layer(zoomed.data(), zh, zw, 1, p.radius, p.sigma, angle_deg);
  std::vector<double> s(h * w);
  for (int64_t yy = 0; yy < h; ++yy)
    for (int64_t xx = 0; xx < w; ++xx)
      s[yy * w + xx] = static_cast<double>(static_cast<uint8_t>(numerics::round_half_even(blurred[yy * zw + xx] * 255))) / 255.;
  // x = c6 * x + (1 - c6) * max(x, gray(x) * 1.5 + 0.5) in f32 (cv2 RGB2GRAY on the f32 image)
  cv::Mat xm(static_cast<int>(h), static_cast<int>(w), CV_32FC3, const_cast<float*>(x.data())), gray;
  cv::cvtColor(xm, gray, cv::COLOR_RGB2GRAY);
  const float blend = static_cast<float>(p.blend), rest = static_cast<float>(1 - p.blend);
  RgbImage out = like(img);
  for (int64_t yy = 0; yy < h; ++yy)
    for (int64_t xx = 0; xx < w; ++xx) {
      const float g = gray.at<float>(static_cast<int>(yy), static_cast<int>(xx)) * 1.5f + 0.5f;
      const double flake = s[yy * w + xx], flake_rot = s[(h - 1 - yy) * w + (w - 1 - xx)];
      for (int c = 0; c < 3; ++c) {
        const int64_t i = (yy * w + xx) * 3 + c;
        const float v = blend * x[i] + rest * std::max(x[i], g);
        out.pixels[i] = to_u8(clip01(static_cast<double>(v) + flake + flake_rot) * 255.0);
      }
    }
  return out;
}

void frost_rescaled_size(int index, int64_t height, int64_t width, const std::string& frost_dir, int64_t* out_h,
                         int64_t* out_w) {
  if (index < 0 || index > 5) throw std::invalid_argument("frost image index must be 0..5, got " + std::to_string(index));
  const RgbImage& orig = frost_original(index, frost_dir);
  rescaled_size(orig.height, orig.width, height, width, out_h, out_w);
}

RgbImage frost(const RgbImage& img, int severity, int index, int64_t top, int64_t left, const std::string& frost_dir) {
  check_severity(severity);
  constexpr std::pair<double, double> kParams[5] = {{1, 0.4}, {0.8, 0.6}, {0.7, 0.7}, {0.65, 0.7}, {0.6, 0.75}};
  const auto [ci, cf] = kParams[severity - 1];
  int64_t rh, rw;
  frost_rescaled_size(index, img.height, img.width, frost_dir, &rh, &rw);
  if (top < 0 || left < 0 || top + img.height > rh || left + img.width > rw)
    throw std::invalid_argument("frost crop out of range");
  const RgbImage& fr = frost_rescaled(index, img.height, img.width, frost_dir);
  RgbImage out = like(img);
  for (int64_t yy = 0; yy < img.height; ++yy)
    for (int64_t xx = 0; xx < img.width; ++xx)
      for (int c = 0; c < 3; ++c) {
        const double v = ci * img.pixels[(yy * img.width + xx) * 3 + c] + cf * fr.pixels[((top + yy) * rw + left + xx) * 3 + c];
        out.pixels[(yy * img.width + xx) * 3 + c] = to_u8(std::clamp(v, 0.0, 255.0));
      }
  return out;
}

int64_t fog_map_size(int64_t height, int64_t width) {
  // next_power_of_2(max(H, W, 3))
  const int64_t m = std::max<int64_t>({height, width, 3});
  int64_t p = 1;
  while (p < m) p *= 2;
  return p;
}

double fog_wibble_decay(int severity) {
  check_severity(severity);
  constexpr double kDecay[5] = {2, 2, 1.7, 1.5, 1.4};
  return kDecay[severity - 1];
}

RgbImage fog(const RgbImage& img, int severity, const float* plasma, int64_t map_size) {
  check_severity(severity);
  constexpr double kStrength[5] = {1.5, 2., 2.5, 2.5, 3.};
  const double c = kStrength[severity - 1];
  const auto x = to_unit_f64(img);
  double max_val = 0;
  for (double v : x) max_val = std::max(max_val, v);
  const float cf = static_cast<float>(c);
  RgbImage out = like(img);
  for (int64_t yy = 0; yy < img.height; ++yy)
    for (int64_t xx = 0; xx < img.width; ++xx) {
      const double add = static_cast<double>(cf * plasma[yy * map_size + xx]);  // c * plasma in f32
      for (int ch = 0; ch < 3; ++ch) {
        const int64_t i = (yy * img.width + xx) * 3 + ch;
        out.pixels[i] = to_u8(clip01((x[i] + add) * max_val / (max_val + c)) * 255.0);
      }
    }
  return out;
}

namespace {
// skimage rgb2hsv -> change -> hsv2rgb -> clip -> *255 -> uint8, per pixel
template <class F>
RgbImage through_hsv(const RgbImage& img, F&& change) {
  RgbImage out = like(img);
  for (int64_t i = 0; i < img.height * img.width; ++i) {
    const double rgb[3] = {img.pixels[3 * i] / 255.0, img.pixels[3 * i + 1] / 255.0, img.pixels[3 * i + 2] / 255.0};
    double hsv[3], back[3];
    numerics::rgb_to_hsv(rgb, hsv);
    change(hsv);
    numerics::hsv_to_rgb(hsv, back);
    for (int c = 0; c < 3; ++c) out.pixels[3 * i + c] = to_u8(clip01(back[c]) * 255.0);
  }
  return out;
}
}  // namespace

RgbImage brightness(const RgbImage& img, int severity) {
  check_severity(severity);
  const double c = std::array<double, 5>{.1, .2, .3, .4, .5}[severity - 1];
  return through_hsv(img, [c](double* hsv) { hsv[2] = clip01(hsv[2] + c); });
}

RgbImage saturate(const RgbImage& img, int severity) {
  check_severity(severity);
  constexpr std::pair<double, double> kParams[5] = {{0.3, 0}, {0.1, 0}, {2, 0}, {5, 0.1}, {20, 0.2}};
  const auto [mul, add] = kParams[severity - 1];
  return through_hsv(img, [mul = mul, add = add](double* hsv) { hsv[1] = clip01(hsv[1] * mul + add); });
}

RgbImage contrast(const RgbImage& img, int severity) {
  check_severity(severity);
  const double c = std::array<double, 5>{0.4, .3, .2, .1, .05}[severity - 1];
  const auto x = to_unit_f64(img);
  // np.mean(x, axis=(0, 1)): numpy iterates the kept channel axis innermost, so each channel's sum is a
  // plain running sum over the pixels in order, then divided by the pixel count.
  double mean[3] = {0, 0, 0};
  const int64_t n = img.height * img.width;
  for (int64_t i = 0; i < n; ++i)
    for (int ch = 0; ch < 3; ++ch) mean[ch] += x[3 * i + ch];
  for (double& m : mean) m /= static_cast<double>(n);
  RgbImage out = like(img);
  for (int64_t i = 0; i < img.size(); ++i) {
    const double m = mean[i % 3];
    out.pixels[i] = to_u8(clip01((x[i] - m) * c + m) * 255.0);
  }
  return out;
}

RgbImage elastic_transform(const RgbImage& img, int severity, const double* u_dx, const double* u_dy) {
  check_severity(severity);
  constexpr double kAlpha[5] = {250 * 0.05, 250 * 0.065, 250 * 0.085, 250 * 0.1, 250 * 0.12};
  constexpr double kTruncate = 3.0;  // the package's gaussian(..., truncate=3)
  const int64_t h = img.height, w = img.width;
  const double alpha = kAlpha[severity - 1];
  const double sigma_y = static_cast<double>(h) * 0.01, sigma_x = static_cast<double>(w) * 0.01;
  const double max_d = static_cast<double>(h) * 0.005;  // the package uses shape[0] for both axes
  auto field = [&](const double* u) {
    std::vector<double> f(h * w);
    for (int64_t i = 0; i < h * w; ++i) f[i] = -max_d + (max_d - -max_d) * u[i];
    numerics::gaussian_filter(f.data(), h, w, 1, sigma_y, sigma_x, kTruncate, Border::kReflect);
    std::vector<float> out(h * w);
    for (int64_t i = 0; i < h * w; ++i) out[i] = static_cast<float>(f[i] * alpha);
    return out;
  };
  const auto dx = field(u_dx);
  const auto dy = field(u_dy);
  const auto x = to_unit_f32(img);
  std::vector<float> res(img.size());
  for (int64_t yy = 0; yy < h; ++yy)
    for (int64_t xx = 0; xx < w; ++xx) {
      const int64_t p = yy * w + xx;
      const auto ty = numerics::reflect_linear_tap(static_cast<double>(yy) + static_cast<double>(dy[p]), h);
      const auto tx = numerics::reflect_linear_tap(static_cast<double>(xx) + static_cast<double>(dx[p]), w);
      for (int c = 0; c < 3; ++c) {
        auto v = [&](int64_t r, int64_t q) { return static_cast<double>(x[(r * w + q) * 3 + c]); };
        double t = 0.0;
        t += (v(ty.index0, tx.index0) * ty.weight0) * tx.weight0;
        t += (v(ty.index0, tx.index1) * ty.weight0) * tx.weight1;
        t += (v(ty.index1, tx.index0) * ty.weight1) * tx.weight0;
        t += (v(ty.index1, tx.index1) * ty.weight1) * tx.weight1;
        res[p * 3 + c] = static_cast<float>(t);
      }
    }
  return from_unit(img, res);
}

RgbImage pixelate(const RgbImage& img, int severity) {
  check_severity(severity);
  const double c = std::array<double, 5>{0.6, 0.5, 0.4, 0.3, 0.25}[severity - 1];
  // PIL: resize((int(W * c), int(H * c)), BOX) then back with NEAREST. Pillow refuses a 0-pixel side; at
  // least one pixel is kept here (images under 4 pixels only).
  const int64_t sw = std::max<int64_t>(1, static_cast<int64_t>(img.width * c));
  const int64_t sh = std::max<int64_t>(1, static_cast<int64_t>(img.height * c));
  const auto small = numerics::pillow_resize_box(img.pixels.data(), img.height, img.width, sh, sw);
  RgbImage out = like(img);
  out.pixels = numerics::pillow_resize_nearest(small.data(), sh, sw, img.height, img.width);
  return out;
}

RgbImage jpeg_compression(const RgbImage& img, int severity) {
  check_severity(severity);
  const int q = std::array<int, 5>{25, 18, 15, 10, 7}[severity - 1];
  // PIL save(JPEG, quality=q) then open: libjpeg's defaults, i.e. the accurate integer DCT both ways
  // (TurboJPEG's own default is the fast DCT: TJFLAG_ACCURATEDCT restores libjpeg's), 4:2:0 chroma,
  // fancy upsampling when decoding.
  tjhandle enc = tjInitCompress();
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  const int w = static_cast<int>(img.width), h = static_cast<int>(img.height);
  const bool encoded = tjCompress2(enc, img.pixels.data(), w, 0, h, TJPF_RGB, &buf, &size, TJSAMP_420, q,
                                   TJFLAG_ACCURATEDCT) == 0;
  const std::string enc_error = encoded ? "" : tjGetErrorStr2(enc);
  tjDestroy(enc);
  if (!encoded) {
    tjFree(buf);
    throw std::runtime_error("jpeg_compression: TurboJPEG encode failed: " + enc_error);
  }
  RgbImage out = like(img);
  tjhandle dec = tjInitDecompress();
  const bool decoded = tjDecompress2(dec, buf, size, out.pixels.data(), w, 0, h, TJPF_RGB, TJFLAG_ACCURATEDCT) == 0;
  const std::string dec_error = decoded ? "" : tjGetErrorStr2(dec);
  tjDestroy(dec);
  tjFree(buf);
  if (!decoded) throw std::runtime_error("jpeg_compression: TurboJPEG decode failed: " + dec_error);
  return out;
}

RgbImage spatter(const RgbImage& img, int severity, const double* z) {
  check_severity(severity);
  struct P { double loc, scale, sigma, threshold, intensity; int mud; };
  constexpr P kParams[5] = {{0.65, 0.3, 4, 0.69, 0.6, 0}, {0.65, 0.3, 3, 0.68, 0.6, 0},
                            {0.65, 0.3, 2, 0.68, 0.5, 0}, {0.65, 0.3, 1, 0.65, 1.5, 1},
                            {0.67, 0.4, 1, 0.65, 1.5, 1}};
  constexpr double kSkimageTruncate = 4.0;
  const P p = kParams[severity - 1];
  const int64_t h = img.height, w = img.width, n = h * w;
  auto x = to_unit_f32(img);
  std::vector<double> liquid(n);
  for (int64_t i = 0; i < n; ++i) liquid[i] = p.loc + p.scale * z[i];
  numerics::gaussian_filter(liquid.data(), h, w, 1, p.sigma, p.sigma, kSkimageTruncate, Border::kNearest);
  for (double& v : liquid)
    if (v < p.threshold) v = 0;
  RgbImage out = like(img);
  if (p.mud == 0) {
    // water: edges of the liquid mask -> distance -> equalised, embossed "dist" map, turquoise tint
    cv::Mat lu8(static_cast<int>(h), static_cast<int>(w), CV_8U);
    for (int64_t i = 0; i < n; ++i) lu8.data[i] = static_cast<uint8_t>(std::clamp(liquid[i] * 255, 0.0, 255.0));
    cv::Mat edges, dist, dist8(static_cast<int>(h), static_cast<int>(w), CV_8U);
    cv::Canny(lu8, edges, 50, 150);
    edges = 255 - edges;
    cv::distanceTransform(edges, dist, cv::DIST_L2, 5);
    cv::threshold(dist, dist, 20, 20, cv::THRESH_TRUNC);
    cv::blur(dist, dist, cv::Size(3, 3));
    for (int64_t i = 0; i < n; ++i)  // .astype(np.uint8): truncation
      dist8.data[i] = static_cast<uint8_t>(dist.at<float>(static_cast<int>(i)));
    cv::equalizeHist(dist8, dist8);
    const cv::Mat emboss = (cv::Mat_<float>(3, 3) << -2, -1, 0, -1, 1, 1, 0, 1, 2);
    cv::filter2D(dist8, dist8, CV_8U, emboss);
    cv::blur(dist8, dist8, cv::Size(3, 3));
    std::vector<float> m(n);
    float mmax = 0;
    for (int64_t i = 0; i < n; ++i) {
      m[i] = static_cast<float>(lu8.data[i]) * static_cast<float>(dist8.data[i]);
      mmax = std::max(mmax, m[i]);
    }
    // The package divides by the max: with no liquid edge at all it divides 0 by 0 and returns a black
    // image; here the image is left untinted instead.
    const float scale = static_cast<float>(p.intensity);
    const double color[3] = {175 / 255., 238 / 255., 238 / 255.};
    for (int64_t i = 0; i < n; ++i) {
      const float mi = mmax > 0 ? (m[i] / mmax) * scale : 0.0f;
      for (int c = 0; c < 3; ++c)
        out.pixels[3 * i + c] = to_u8(clip01(static_cast<double>(x[3 * i + c]) + static_cast<double>(mi) * color[c]) * 255.0);
    }
  } else {
    // mud: smoothed mask of the liquid, brown where it is above 0.8
    std::vector<float> m(n);
    for (int64_t i = 0; i < n; ++i) m[i] = liquid[i] > p.threshold ? 1.0f : 0.0f;
    numerics::gaussian_filter(m.data(), h, w, 1, p.intensity, p.intensity, kSkimageTruncate, Border::kNearest);
    const double color[3] = {63 / 255., 42 / 255., 20 / 255.};
    for (int64_t i = 0; i < n; ++i) {
      const float mi = m[i] < 0.8f ? 0.0f : m[i];
      for (int c = 0; c < 3; ++c) {
        const float xv = x[3 * i + c] * (1.0f - mi);
        out.pixels[3 * i + c] = to_u8(clip01(static_cast<double>(xv) + color[c] * static_cast<double>(mi)) * 255.0);
      }
    }
  }
  return out;
}

}  // namespace rpct::robust::ops
