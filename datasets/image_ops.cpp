#include "datasets/image_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "datasets/fashion_mnist.h"  // mix64, per_sample_hash

namespace rpct {
namespace {

constexpr uint8_t kFill[3] = {124, 116, 104};  // timm: ImageNet mean * 255, fill for affine ops

inline uint8_t clamp_u8(double v) { return v <= 0 ? 0 : (v >= 255 ? 255 : static_cast<uint8_t>(v)); }
inline uint8_t round_u8(double v) { return v <= 0 ? 0 : (v >= 255 ? 255 : static_cast<uint8_t>(v + 0.5)); }

double bicubic_w(double x) {  // a = -0.5 (PIL)
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}
double bilinear_w(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

struct Coeffs {
  int taps = 0;
  std::vector<int> start, count;  // first input pixel and number of taps of each output
  std::vector<float> w;            // out * taps
};

Coeffs make_coeffs(int in_size, double x0, double x1, int out_size, Filter f) {
  const double support0 = f == Filter::kBicubic ? 2.0 : 1.0;
  const double scale = (x1 - x0) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = support0 * filterscale;
  Coeffs c;
  c.taps = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.start.resize(out_size);
  c.count.resize(out_size);
  c.w.assign(static_cast<size_t>(out_size) * c.taps, 0.f);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = x0 + (xx + 0.5) * scale;
    int xmin = std::max(static_cast<int>(center - support + 0.5), 0);
    int xmax = std::min(static_cast<int>(center + support + 0.5), in_size);
    if (xmax <= xmin) {  // box outside the image: use the nearest pixel
      xmin = std::min(std::max(static_cast<int>(center), 0), in_size - 1);
      xmax = xmin + 1;
    }
    xmax = std::min(xmax - xmin, c.taps);
    double total = 0;
    float* k = &c.w[static_cast<size_t>(xx) * c.taps];
    for (int x = 0; x < xmax; ++x) {
      const double t = (x + xmin - center + 0.5) / filterscale;
      const double wv = f == Filter::kBicubic ? bicubic_w(t) : bilinear_w(t);
      k[x] = static_cast<float>(wv);
      total += wv;
    }
    if (total != 0)
      for (int x = 0; x < xmax; ++x) k[x] = static_cast<float>(k[x] / total);
    else
      k[0] = 1.f;
    c.start[xx] = xmin;
    c.count[xx] = xmax;
  }
  return c;
}

// Luma as PIL's convert("L"): (R*299 + G*587 + B*114) / 1000, in fixed point.
inline uint8_t luma(const uint8_t* p) { return static_cast<uint8_t>((p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16); }

void apply_lut(Image& img, const uint8_t lut[3][256]) {
  uint8_t* p = img.pixels.data();
  for (size_t i = 0, n = img.pixels.size() / 3; i < n; ++i, p += 3) {
    p[0] = lut[0][p[0]];
    p[1] = lut[1][p[1]];
    p[2] = lut[2][p[2]];
  }
}

// PIL Image.blend(degenerate, img, factor) = degenerate + factor * (img - degenerate), truncated.
void blend_with(Image& img, const Image& degenerate, double factor) {
  uint8_t* p = img.pixels.data();
  const uint8_t* d = degenerate.pixels.data();
  for (size_t i = 0, n = img.pixels.size(); i < n; ++i) p[i] = clamp_u8(d[i] + factor * (double(p[i]) - d[i]));
}
void blend_with_value(Image& img, double value, double factor) {
  uint8_t* p = img.pixels.data();
  for (size_t i = 0, n = img.pixels.size(); i < n; ++i) p[i] = clamp_u8(value + factor * (double(p[i]) - value));
}

// Pillow's Image.transform BICUBIC (libImaging/Geometry.c): Keys' cubic with a = -1 (not resize's -0.5) through
// v1..v4 at distances 1 + d, d, 1 - d, 2 - d, in Pillow's order of double operations, so the result is Pillow's
// to the last bit (it is truncated to 8 bits afterwards, where one ulp can change the level; the build targets
// baseline x86-64, which has no FMA for the compiler to contract these into).
inline double pil_transform_cubic(double v1, double v2, double v3, double v4, double d) {
  const double p1 = v2, p2 = -v1 + v3, p3 = 2 * (v1 - v2) + v3 - v4, p4 = -v1 + v2 - v3 + v4;
  return p1 + d * (p2 + d * (p3 + d * p4));
}
// Pillow's clip and truncation of the interpolated value.
inline uint8_t pil_transform_u8(double v) { return v <= 0.0 ? 0 : (v >= 255.0 ? 255 : static_cast<uint8_t>(v)); }

// OpenCV-style 8-bit HSV (H in [0, 180)).
void rgb_to_hsv(const uint8_t* p, double* hsv) {
  const double r = p[0], g = p[1], b = p[2];
  const double v = std::max(r, std::max(g, b)), mn = std::min(r, std::min(g, b)), diff = v - mn;
  double hdeg = 0;
  if (diff > 0) {
    if (v == r) hdeg = 60.0 * (g - b) / diff;
    else if (v == g) hdeg = 120.0 + 60.0 * (b - r) / diff;
    else hdeg = 240.0 + 60.0 * (r - g) / diff;
    if (hdeg < 0) hdeg += 360;
  }
  hsv[0] = std::fmod(std::floor(hdeg / 2 + 0.5), 180.0);
  hsv[1] = v > 0 ? std::floor(diff / v * 255 + 0.5) : 0;
  hsv[2] = v;
}
void hsv_to_rgb(const double* hsv, uint8_t* p) {
  const double h = hsv[0] * 2 / 60.0, s = hsv[1] / 255.0, v = hsv[2];
  const int i = static_cast<int>(std::floor(h)) % 6;
  const double f = h - std::floor(h);
  const double pp = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
  double r, g, b;
  switch (i) {
    case 0: r = v; g = t; b = pp; break;
    case 1: r = q; g = v; b = pp; break;
    case 2: r = pp; g = v; b = t; break;
    case 3: r = pp; g = q; b = v; break;
    case 4: r = t; g = pp; b = v; break;
    default: r = v; g = pp; b = q; break;
  }
  p[0] = round_u8(r);
  p[1] = round_u8(g);
  p[2] = round_u8(b);
}

}  // namespace

void adjust_brightness(Image& img, double factor) { blend_with_value(img, 0.0, factor); }
void adjust_contrast(Image& img, double factor) {
  uint64_t sum = 0;
  const size_t n = img.pixels.size() / 3;
  for (size_t i = 0; i < n; ++i) sum += luma(&img.pixels[3 * i]);
  const double mean = std::floor(double(sum) / n + 0.5);
  blend_with_value(img, mean, factor);
}
void adjust_saturation(Image& img, double factor) {
  Image gray = img;
  for (size_t i = 0, n = img.pixels.size() / 3; i < n; ++i) {
    const uint8_t l = luma(&img.pixels[3 * i]);
    gray.pixels[3 * i] = gray.pixels[3 * i + 1] = gray.pixels[3 * i + 2] = l;
  }
  blend_with(img, gray, factor);
}
void adjust_sharpness(Image& img, double factor) {
  // PIL ImageFilter.SMOOTH: 3x3 kernel [1 1 1; 1 5 1; 1 1 1] / 13; border pixels are left unchanged.
  Image smooth = img;
  const int w = img.width, h = img.height;
  for (int y = 1; y < h - 1; ++y)
    for (int x = 1; x < w - 1; ++x)
      for (int c = 0; c < 3; ++c) {
        int s = 0;
        for (int dy = -1; dy <= 1; ++dy)
          for (int dx = -1; dx <= 1; ++dx) s += img.row(y + dy)[(x + dx) * 3 + c] * (dx == 0 && dy == 0 ? 5 : 1);
        smooth.row(y)[x * 3 + c] = round_u8(s / 13.0);
      }
  blend_with(img, smooth, factor);
}

void autocontrast(Image& img) {
  uint8_t lut[3][256];
  for (int c = 0; c < 3; ++c) {
    int lo = 255, hi = 0;
    for (size_t i = c; i < img.pixels.size(); i += 3) {
      lo = std::min<int>(lo, img.pixels[i]);
      hi = std::max<int>(hi, img.pixels[i]);
    }
    for (int v = 0; v < 256; ++v) {
      if (hi <= lo) {
        lut[c][v] = static_cast<uint8_t>(v);
      } else {
        const double scale = 255.0 / (hi - lo), offset = -lo * scale;
        const int o = static_cast<int>(v * scale + offset);
        lut[c][v] = static_cast<uint8_t>(std::min(255, std::max(0, o)));
      }
    }
  }
  apply_lut(img, lut);
}

void equalize(Image& img) {  // PIL ImageOps.equalize
  uint8_t lut[3][256];
  for (int c = 0; c < 3; ++c) {
    int64_t hist[256] = {0};
    for (size_t i = c; i < img.pixels.size(); i += 3) ++hist[img.pixels[i]];
    int64_t total = 0, last = 0, nonzero = 0;
    for (int v = 0; v < 256; ++v)
      if (hist[v]) {
        total += hist[v];
        last = hist[v];
        ++nonzero;
      }
    const int64_t step = nonzero <= 1 ? 0 : (total - last) / 255;
    if (step == 0) {
      for (int v = 0; v < 256; ++v) lut[c][v] = static_cast<uint8_t>(v);
      continue;
    }
    int64_t n = step / 2;
    for (int v = 0; v < 256; ++v) {
      lut[c][v] = static_cast<uint8_t>(std::min<int64_t>(n / step, 255));
      n += hist[v];
    }
  }
  apply_lut(img, lut);
}

// PIL Image.transform(AFFINE, (a, b, c, d, e, f), BICUBIC, fillcolor): output pixel (x, y) samples
// input (a x + b y + c, d x + e y + f) (pixel-edge coordinates at pixel centres); outside -> fill.
void affine(Image& img, const double m[6]) {
  const int w = img.width, h = img.height;
  Image out;
  out.width = w;
  out.height = h;
  out.channels = 3;
  out.pixels.resize(img.pixels.size());
  for (int y = 0; y < h; ++y) {
    uint8_t* o = out.row(y);
    for (int x = 0; x < w; ++x, o += 3) {
      const double u = m[0] * (x + 0.5) + m[1] * (y + 0.5) + m[2];
      const double v = m[3] * (x + 0.5) + m[4] * (y + 0.5) + m[5];
      if (u < 0 || u >= w || v < 0 || v >= h) {
        o[0] = kFill[0];
        o[1] = kFill[1];
        o[2] = kFill[2];
        continue;
      }
      // Pillow's bicubic_filter32RGB: rows and columns outside the image clamp to its edge.
      const double sx = u - 0.5, sy = v - 0.5;
      const int ix = static_cast<int>(std::floor(sx)), iy = static_cast<int>(std::floor(sy));
      const double dx = sx - ix, dy = sy - iy;
      int cols[4];
      const uint8_t* rows[4];
      for (int k = 0; k < 4; ++k) {
        cols[k] = std::min(std::max(ix + k - 1, 0), w - 1) * 3;
        rows[k] = img.row(std::min(std::max(iy + k - 1, 0), h - 1));
      }
      for (int c = 0; c < 3; ++c) {
        double r[4];
        for (int k = 0; k < 4; ++k)
          r[k] = pil_transform_cubic(rows[k][cols[0] + c], rows[k][cols[1] + c], rows[k][cols[2] + c], rows[k][cols[3] + c], dx);
        o[c] = pil_transform_u8(pil_transform_cubic(r[0], r[1], r[2], r[3], dy));
      }
    }
  }
  img = std::move(out);
}

void hflip(Image& img) {
  const int w = img.width;
  for (int y = 0; y < img.height; ++y) {
    uint8_t* r = img.row(y);
    for (int x = 0; x < w / 2; ++x)
      for (int c = 0; c < 3; ++c) std::swap(r[x * 3 + c], r[(w - 1 - x) * 3 + c]);
  }
}

void normalize_into(const Image& img, const std::array<float, 3>& mean, const std::array<float, 3>& std, float* out) {
  float lut[3][256];
  for (int c = 0; c < 3; ++c)
    for (int v = 0; v < 256; ++v) lut[c][v] = (v / 255.f - mean[c]) / std[c];
  const size_t plane = static_cast<size_t>(img.width) * img.height;
  const uint8_t* p = img.pixels.data();
  for (size_t i = 0; i < plane; ++i, p += 3) {
    out[i] = lut[0][p[0]];
    out[plane + i] = lut[1][p[1]];
    out[2 * plane + i] = lut[2][p[2]];
  }
}

// timm RandomErasing(probability, mode="pixel", max_count=1) on a (3, H, W) normalized image.
void random_erasing(float* x, int h, int w, double prob, SampleRng& rng) {
  if (!rng.bernoulli(prob)) return;
  const double area = double(h) * w;
  const double log_lo = std::log(0.3), log_hi = std::log(1 / 0.3);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = rng.uniform(0.02, 1.0 / 3.0) * area;
    const double aspect = std::exp(rng.uniform(log_lo, log_hi));
    const int eh = static_cast<int>(std::lround(std::sqrt(target * aspect)));
    const int ew = static_cast<int>(std::lround(std::sqrt(target / aspect)));
    if (ew < w && eh < h) {
      const int top = static_cast<int>(rng.randint(0, h - eh));
      const int left = static_cast<int>(rng.randint(0, w - ew));
      for (int c = 0; c < 3; ++c)
        for (int y = top; y < top + eh; ++y)
          for (int xx = left; xx < left + ew; ++xx) x[(static_cast<size_t>(c) * h + y) * w + xx] = static_cast<float>(rng.normal());
      return;
    }
  }
}

void color_jitter(Image& img, double strength, SampleRng& rng) {
  const double lo = std::max(0.0, 1 - strength), hi = 1 + strength;
  int order[3] = {0, 1, 2};
  for (int i = 2; i > 0; --i) std::swap(order[i], order[rng.randint(0, i)]);
  for (int k : order) {
    const double f = rng.uniform(lo, hi);
    if (k == 0) adjust_brightness(img, f);
    if (k == 1) adjust_contrast(img, f);
    if (k == 2) adjust_saturation(img, f);
  }
}

// mmseg PhotoMetricDistortion (brightness 32, contrast 0.5-1.5, saturation 0.5-1.5, hue 18).
void photometric_distortion(Image& img, SampleRng& rng) {
  auto convert = [&](double alpha, double beta) {
    for (auto& v : img.pixels) v = clamp_u8(v * alpha + beta);
  };
  if (rng.randint(0, 1)) convert(1.0, rng.uniform(-32, 32));
  const int mode = static_cast<int>(rng.randint(0, 1));
  auto contrast = [&] {
    if (rng.randint(0, 1)) convert(rng.uniform(0.5, 1.5), 0);
  };
  if (mode == 1) contrast();
  const bool sat = rng.randint(0, 1) != 0;
  const double sat_alpha = sat ? rng.uniform(0.5, 1.5) : 1.0;
  const bool hue = rng.randint(0, 1) != 0;
  const int hue_delta = hue ? static_cast<int>(rng.randint(-18, 17)) : 0;
  if (sat || hue) {
    double hsv[3];
    for (size_t i = 0, n = img.pixels.size() / 3; i < n; ++i) {
      uint8_t* p = &img.pixels[3 * i];
      rgb_to_hsv(p, hsv);
      if (sat) hsv[1] = clamp_u8(hsv[1] * sat_alpha);
      if (hue) hsv[0] = std::fmod(hsv[0] + hue_delta + 180.0, 180.0);
      hsv_to_rgb(hsv, p);
    }
  }
  if (mode == 0) contrast();
}

// mmcv.imrescale: scale factor fitting (w, h) into (long, short) keeping the aspect ratio.
std::pair<int, int> rescaled_size(int w, int h, double scale_long, double scale_short) {
  const double sf = std::min(scale_long / std::max(w, h), scale_short / std::min(w, h));
  return {static_cast<int>(w * sf + 0.5), static_cast<int>(h * sf + 0.5)};
}

Image resize_nearest(const Image& src, int out_w, int out_h) {
  Image out;
  out.width = out_w;
  out.height = out_h;
  out.channels = src.channels;
  out.pixels.resize(static_cast<size_t>(out_w) * out_h * src.channels);
  const double sx = double(src.width) / out_w, sy = double(src.height) / out_h;
  for (int y = 0; y < out_h; ++y) {
    const int yy = std::min(static_cast<int>(std::floor(y * sy)), src.height - 1);
    for (int x = 0; x < out_w; ++x) {
      const int xx = std::min(static_cast<int>(std::floor(x * sx)), src.width - 1);
      std::memcpy(out.row(y) + x * src.channels, src.row(yy) + xx * src.channels, src.channels);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
SampleRng::SampleRng(uint64_t seed, int64_t epoch, int64_t index, uint64_t stream)
    : state_(mix64(per_sample_hash(seed, epoch, index) ^ stream)) {}

uint64_t SampleRng::next_u64() {
  state_ += 0x9E3779B97F4A7C15ull;
  uint64_t z = state_;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
double SampleRng::uniform() { return (next_u64() >> 11) * (1.0 / 9007199254740992.0); }
int64_t SampleRng::randint(int64_t lo, int64_t hi) {
  if (hi <= lo) return lo;
  return lo + static_cast<int64_t>(next_u64() % static_cast<uint64_t>(hi - lo + 1));
}
double SampleRng::normal() {
  const double u1 = 1.0 - uniform(), u2 = uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2 * kPi * u2);
}
double SampleRng::gamma(double shape) {
  if (shape < 1.0) return gamma(shape + 1.0) * std::pow(1.0 - uniform(), 1.0 / shape);
  const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    double x, v;
    do {
      x = normal();
      v = 1.0 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const double u = 1.0 - uniform();
    if (std::log(u) < 0.5 * x * x + d - d * v + d * std::log(v)) return d * v;
  }
}
double SampleRng::beta(double a, double b) {
  const double x = gamma(a), y = gamma(b);
  return x / (x + y);
}

// ---------------------------------------------------------------------------------------------------
Image resample_box(const Image& src, double x0, double y0, double x1, double y1, int out_w, int out_h, Filter f) {
  const int C = src.channels;
  const Coeffs cx = make_coeffs(src.width, x0, x1, out_w, f), cy = make_coeffs(src.height, y0, y1, out_h, f);
  int ymin = src.height, ymax = 0;
  for (int y = 0; y < out_h; ++y) {
    ymin = std::min(ymin, cy.start[y]);
    ymax = std::max(ymax, std::min(cy.start[y] + cy.taps, src.height));
  }
  const int rows = ymax - ymin;
  std::vector<float> tmp(static_cast<size_t>(rows) * out_w * C);
  for (int r = 0; r < rows; ++r) {
    const uint8_t* in = src.row(ymin + r);
    float* o = &tmp[static_cast<size_t>(r) * out_w * C];
    if (C == 3) {
      for (int x = 0; x < out_w; ++x) {
        const float* k = &cx.w[static_cast<size_t>(x) * cx.taps];
        const uint8_t* p = in + cx.start[x] * 3;
        const int n = cx.count[x];
        float a0 = 0, a1 = 0, a2 = 0;
        for (int t = 0; t < n; ++t, p += 3) {
          a0 += k[t] * p[0];
          a1 += k[t] * p[1];
          a2 += k[t] * p[2];
        }
        o[x * 3] = round_u8(a0);  // 8 bits between the passes, as Pillow (bicubic overshoot clipped here)
        o[x * 3 + 1] = round_u8(a1);
        o[x * 3 + 2] = round_u8(a2);
      }
      continue;
    }
    for (int x = 0; x < out_w; ++x) {
      const float* k = &cx.w[static_cast<size_t>(x) * cx.taps];
      const int s = cx.start[x];
      const int n = cx.count[x];
      float acc[4] = {0, 0, 0, 0};
      for (int t = 0; t < n; ++t) {
        const uint8_t* p = in + (s + t) * C;
        for (int c = 0; c < C; ++c) acc[c] += k[t] * p[c];
      }
      for (int c = 0; c < C; ++c) o[x * C + c] = round_u8(acc[c]);
    }
  }
  Image out;
  out.width = out_w;
  out.height = out_h;
  out.channels = C;
  out.pixels.resize(static_cast<size_t>(out_w) * out_h * C);
  std::vector<float> acc(static_cast<size_t>(out_w) * C);
  for (int y = 0; y < out_h; ++y) {
    std::fill(acc.begin(), acc.end(), 0.f);
    const float* k = &cy.w[static_cast<size_t>(y) * cy.taps];
    const int s = cy.start[y];
    const int n = cy.count[y];
    for (int t = 0; t < n; ++t) {
      const float* in = &tmp[static_cast<size_t>(s + t - ymin) * out_w * C];
      const float kw = k[t];
      if (kw == 0.f) continue;
      for (int i = 0; i < out_w * C; ++i) acc[i] += kw * in[i];
    }
    uint8_t* o = out.row(y);
    for (int i = 0; i < out_w * C; ++i) o[i] = round_u8(acc[i]);
  }
  return out;
}

CropBox random_resized_crop_box(int width, int height, double scale_lo, double scale_hi, double ratio_lo,
                                double ratio_hi, SampleRng& rng) {
  const double area = double(width) * height;
  const double log_lo = std::log(ratio_lo), log_hi = std::log(ratio_hi);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = area * rng.uniform(scale_lo, scale_hi);
    const double aspect = std::exp(rng.uniform(log_lo, log_hi));
    const int w = static_cast<int>(std::lround(std::sqrt(target * aspect)));
    const int h = static_cast<int>(std::lround(std::sqrt(target / aspect)));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      CropBox b;
      b.y = static_cast<int>(rng.randint(0, height - h));
      b.x = static_cast<int>(rng.randint(0, width - w));
      b.w = w;
      b.h = h;
      return b;
    }
  }
  const double in_ratio = double(width) / height;
  CropBox b;
  if (in_ratio < ratio_lo) {
    b.w = width;
    b.h = static_cast<int>(std::lround(b.w / ratio_lo));
  } else if (in_ratio > ratio_hi) {
    b.h = height;
    b.w = static_cast<int>(std::lround(b.h * ratio_hi));
  } else {
    b.w = width;
    b.h = height;
  }
  b.y = (height - b.h) / 2;
  b.x = (width - b.w) / 2;
  return b;
}

}  // namespace rpct
