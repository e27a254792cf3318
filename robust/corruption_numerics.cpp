// Replicas of scipy / numpy / scikit-image / Pillow primitives (see corruption_numerics.h). Comments
// name the library routine each function follows.
#include "robust/corruption_numerics.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace rpct::robust::numerics {

double numpy_sum(const double* a, int64_t n) {
  // numpy DOUBLE_pairwise_sum: below 8 a plain loop; up to 128 eight accumulators combined as a tree,
  // then the remainder; above 128 split in halves (at a multiple of 8) recursively.
  if (n < 8) {
    double r = 0.0;
    for (int64_t i = 0; i < n; ++i) r += a[i];
    return r;
  }
  if (n <= 128) {
    double r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j];
    int64_t i = 8;
    for (; i < n - (n % 8); i += 8)
      for (int j = 0; j < 8; ++j) r[j] += a[i + j];
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  int64_t n2 = n / 2;
  n2 -= n2 % 8;
  return numpy_sum(a, n2) + numpy_sum(a + n2, n - n2);
}

std::vector<double> gaussian_kernel(double sigma, double truncate) {
  const int64_t radius = static_cast<int64_t>(truncate * sigma + 0.5);
  const double scale = -0.5 / (sigma * sigma);
  std::vector<double> phi(2 * radius + 1);
  for (int64_t x = -radius; x <= radius; ++x) phi[x + radius] = std::exp(scale * static_cast<double>(x * x));
  const double sum = numpy_sum(phi.data(), static_cast<int64_t>(phi.size()));
  for (double& p : phi) p = p / sum;
  return phi;
}

namespace {

// Source index of position i (may be outside [0, len)) on a line of length len (NI_ExtendLine).
int64_t border_index(int64_t i, int64_t len, Border border) {
  if (i >= 0 && i < len) return i;
  if (border == Border::kNearest) return i < 0 ? 0 : len - 1;
  const int64_t period = 2 * len;  // reflect: c b a | a b c | c b a
  int64_t m = i % period;
  if (m < 0) m += period;
  return m < len ? m : period - 1 - m;
}

// One symmetric correlate1d pass (scipy NI_Correlate1D, symmetric branch):
// out = x[0] * w[0]; for j = r .. 1: out += (x[-j] + x[+j]) * w[j].
// Lines along `axis` (0: rows of the (H, W, C) array vary, 1: columns vary).
template <class T>
void correlate_symmetric(T* data, int64_t height, int64_t width, int64_t channels, int axis,
                         const std::vector<double>& kernel, Border border) {
  const int64_t radius = static_cast<int64_t>(kernel.size() / 2);
  const double* w = kernel.data() + radius;
  if (axis == 0) {
    // Every (x, c) column is a line; rows are processed a whole row at a time (same per-element order).
    const int64_t row = width * channels;
    std::vector<double> src(static_cast<size_t>(height * row));
    for (int64_t i = 0; i < height * row; ++i) src[i] = static_cast<double>(data[i]);
    std::vector<double> acc(row);
    for (int64_t y = 0; y < height; ++y) {
      const double* c0 = &src[y * row];
      for (int64_t k = 0; k < row; ++k) acc[k] = c0[k] * w[0];
      for (int64_t j = radius; j >= 1; --j) {
        const double* up = &src[border_index(y - j, height, border) * row];
        const double* dn = &src[border_index(y + j, height, border) * row];
        const double wj = w[-j];
        for (int64_t k = 0; k < row; ++k) acc[k] += (up[k] + dn[k]) * wj;
      }
      T* out = data + y * row;
      for (int64_t k = 0; k < row; ++k) out[k] = static_cast<T>(acc[k]);
    }
  } else {
    std::vector<double> line(static_cast<size_t>((width + 2 * radius) * channels)), acc(width * channels);
    for (int64_t y = 0; y < height; ++y) {
      T* r = data + y * width * channels;
      for (int64_t x = -radius; x < width + radius; ++x) {
        const int64_t sx = border_index(x, width, border);
        for (int64_t c = 0; c < channels; ++c) line[(x + radius) * channels + c] = static_cast<double>(r[sx * channels + c]);
      }
      // Same per-element order as above, the tap loop outside so the row loop vectorizes.
      const int64_t n = width * channels;
      const double* ctr = line.data() + radius * channels;
      for (int64_t k = 0; k < n; ++k) acc[k] = ctr[k] * w[0];
      for (int64_t j = radius; j >= 1; --j) {
        const double* left = ctr - j * channels;
        const double* right = ctr + j * channels;
        const double wj = w[-j];
        for (int64_t k = 0; k < n; ++k) acc[k] += (left[k] + right[k]) * wj;
      }
      for (int64_t k = 0; k < n; ++k) r[k] = static_cast<T>(acc[k]);
    }
  }
}

}  // namespace

template <class T>
void gaussian_filter(T* data, int64_t height, int64_t width, int64_t channels, double sigma_y, double sigma_x,
                     double truncate, Border border) {
  constexpr double kScipySkipSigma = 1e-15;  // gaussian_filter drops axes with sigma <= this
  if (sigma_y > kScipySkipSigma)
    correlate_symmetric(data, height, width, channels, 0, gaussian_kernel(sigma_y, truncate), border);
  if (sigma_x > kScipySkipSigma)
    correlate_symmetric(data, height, width, channels, 1, gaussian_kernel(sigma_x, truncate), border);
}
template void gaussian_filter<float>(float*, int64_t, int64_t, int64_t, double, double, double, Border);
template void gaussian_filter<double>(double*, int64_t, int64_t, int64_t, double, double, double, Border);

void zoom_output_size(int64_t height, int64_t width, double zoom, int64_t* out_h, int64_t* out_w) {
  // scipy: int(round(size * zoom)), Python's round = half to even.
  *out_h = static_cast<int64_t>(std::nearbyint(static_cast<double>(height) * zoom));
  *out_w = static_cast<int64_t>(std::nearbyint(static_cast<double>(width) * zoom));
}

namespace {

// Per output index along one axis of scipy's NI_ZoomShift (order 1, mode constant): source start,
// neighbour (mirrored at the far edge, as the edge offsets are) and weights; `zero` = outside (cval 0).
struct ZoomTap {
  int64_t i0, i1;
  double w0, w1;
  bool zero;
};

std::vector<ZoomTap> zoom_taps(int64_t in_len, int64_t full_out_len, int64_t used_out_len) {
  // zoom = (in - 1) / (out - 1), or 1 where out == 1 (scipy's np.divide(..., where=zoom_div != 0)).
  const double zoom = full_out_len > 1 ? static_cast<double>(in_len - 1) / static_cast<double>(full_out_len - 1) : 1.0;
  std::vector<ZoomTap> taps(used_out_len);
  for (int64_t k = 0; k < used_out_len; ++k) {
    double cc = static_cast<double>(k) * zoom;
    ZoomTap t{0, 0, 0.0, 0.0, false};
    if (cc > static_cast<double>(in_len - 1)) {  // map_coordinate, NI_EXTEND_CONSTANT
      t.zero = true;
      taps[k] = t;
      continue;
    }
    const int64_t start = static_cast<int64_t>(std::floor(cc));
    const double frac = cc - std::floor(cc);
    t.w0 = 1.0 - frac;
    t.w1 = 1.0 - t.w0;
    t.i0 = start;
    t.i1 = start + 1;
    if (in_len <= 1) {
      t.i0 = t.i1 = 0;
    } else if (t.i1 >= in_len) {  // mirror the neighbour beyond the last sample (weight 0 there)
      const int64_t s2 = 2 * in_len - 2;
      int64_t idx = t.i1 - s2 * (t.i1 / s2);
      if (idx >= in_len) idx = s2 - idx;
      t.i1 = idx;
    }
    taps[k] = t;
  }
  return taps;
}

}  // namespace

template <class T>
std::vector<T> zoom_linear(const T* in, int64_t height, int64_t width, int64_t channels, double zoom,
                           int64_t out_h, int64_t out_w, int64_t* full_h, int64_t* full_w) {
  int64_t fh, fw;
  zoom_output_size(height, width, zoom, &fh, &fw);
  if (full_h) *full_h = fh;
  if (full_w) *full_w = fw;
  out_h = std::min(out_h, fh);
  out_w = std::min(out_w, fw);
  const auto ty = zoom_taps(height, fh, out_h);
  const auto tx = zoom_taps(width, fw, out_w);
  std::vector<T> out(static_cast<size_t>(out_h * out_w * channels));
  // NI_ZoomShift sums the (order+1)^rank taps, last axis fastest, coeff = (v * wy) * wx; the channel axis
  // (zoom 1, integer coordinate) contributes weight 1 and weight-0 terms that do not change the sum.
  for (int64_t y = 0; y < out_h; ++y) {
    const ZoomTap& a = ty[y];
    T* o = out.data() + y * out_w * channels;
    if (a.zero) {
      std::fill(o, o + out_w * channels, T(0));
      continue;
    }
    const T* r0 = in + a.i0 * width * channels;
    const T* r1 = in + a.i1 * width * channels;
    for (int64_t x = 0; x < out_w; ++x) {
      const ZoomTap& b = tx[x];
      if (b.zero) {
        for (int64_t c = 0; c < channels; ++c) o[x * channels + c] = T(0);
        continue;
      }
      const T* p00 = r0 + b.i0 * channels;
      const T* p01 = r0 + b.i1 * channels;
      const T* p10 = r1 + b.i0 * channels;
      const T* p11 = r1 + b.i1 * channels;
      for (int64_t c = 0; c < channels; ++c) {
        double t = (static_cast<double>(p00[c]) * a.w0) * b.w0;
        t += (static_cast<double>(p01[c]) * a.w0) * b.w1;
        t += (static_cast<double>(p10[c]) * a.w1) * b.w0;
        t += (static_cast<double>(p11[c]) * a.w1) * b.w1;
        o[x * channels + c] = static_cast<T>(t);
      }
    }
  }
  return out;
}
template std::vector<float> zoom_linear<float>(const float*, int64_t, int64_t, int64_t, double, int64_t, int64_t,
                                               int64_t*, int64_t*);
template std::vector<double> zoom_linear<double>(const double*, int64_t, int64_t, int64_t, double, int64_t,
                                                 int64_t, int64_t*, int64_t*);

LinearTap reflect_linear_tap(double coord, int64_t len) {
  // map_coordinate(..., NI_EXTEND_REFLECT)
  double cc = coord;
  if (len <= 1) {
    cc = 0;
  } else if (cc < 0) {
    const int64_t sz2 = 2 * len;
    if (cc < -sz2) cc = sz2 * static_cast<int64_t>(-cc / sz2) + cc;
    cc = cc < -len ? cc + sz2 : -cc - 1;
  } else if (cc > static_cast<double>(len - 1)) {
    const int64_t sz2 = 2 * len;
    cc -= sz2 * static_cast<int64_t>(cc / sz2);
    if (cc >= len) cc = sz2 - cc - 1;
  }
  LinearTap t{0, 0, 1.0, 0.0};
  if (!(cc > -1.0)) return t;  // cannot happen for reflect; kept as scipy's constant branch guard
  const int64_t start = static_cast<int64_t>(std::floor(cc));
  const double frac = cc - std::floor(cc);
  t.weight0 = 1.0 - frac;
  t.weight1 = 1.0 - t.weight0;
  // Taps beyond the edge take the mode's own extension (half-sample reflection), as scipy >= 1.6 does:
  // a coordinate in (-1, 0) maps to (-1, 0) again and reads sample 0 twice.
  auto reflect = [len](int64_t idx) { return border_index(idx, len, Border::kReflect); };
  t.index0 = reflect(start);
  t.index1 = reflect(start + 1);
  return t;
}

void rgb_to_hsv(const double rgb[3], double hsv[3]) {
  // skimage.color.rgb2hsv: later channels override earlier ones where several equal the max.
  const double v = std::max(rgb[0], std::max(rgb[1], rgb[2]));
  const double delta = v - std::min(rgb[0], std::min(rgb[1], rgb[2]));
  double s = delta / v;
  if (delta == 0.0) s = 0.0;
  double h = 0.0;
  if (rgb[0] == v) h = (rgb[1] - rgb[2]) / delta;
  if (rgb[1] == v) h = 2.0 + (rgb[2] - rgb[0]) / delta;
  if (rgb[2] == v) h = 4.0 + (rgb[0] - rgb[1]) / delta;
  // (h / 6) % 1.0 with numpy's floor-mod semantics
  const double q = h / 6.0;
  double m = std::fmod(q, 1.0);
  if (m != 0.0) {
    if (m < 0) m += 1.0;
  } else {
    m = 0.0;
  }
  if (delta == 0.0) m = 0.0;
  hsv[0] = std::isnan(m) ? 0.0 : m;
  hsv[1] = std::isnan(s) ? 0.0 : s;
  hsv[2] = std::isnan(v) ? 0.0 : v;
}

void hsv_to_rgb(const double hsv[3], double rgb[3]) {
  // skimage.color.hsv2rgb
  const double hi_f = std::floor(hsv[0] * 6);
  const double f = hsv[0] * 6 - hi_f;
  const double v = hsv[2];
  const double p = v * (1 - hsv[1]);
  const double q = v * (1 - f * hsv[1]);
  const double t = v * (1 - (1 - f) * hsv[1]);
  const int hi = static_cast<int>(static_cast<uint8_t>(hi_f)) % 6;
  switch (hi) {
    case 0: rgb[0] = v; rgb[1] = t; rgb[2] = p; break;
    case 1: rgb[0] = q; rgb[1] = v; rgb[2] = p; break;
    case 2: rgb[0] = p; rgb[1] = v; rgb[2] = t; break;
    case 3: rgb[0] = p; rgb[1] = q; rgb[2] = v; break;
    case 4: rgb[0] = t; rgb[1] = p; rgb[2] = v; break;
    default: rgb[0] = v; rgb[1] = p; rgb[2] = q; break;
  }
}

double round_half_even(double v) { return std::nearbyint(v); }

namespace {

constexpr int kPillowPrecisionBits = 32 - 8 - 2;  // Resample.c PRECISION_BITS

// Pillow precompute_coeffs with the BOX filter (support 0.5), then normalize_coeffs_8bpc.
void box_coeffs(int64_t in_size, int64_t out_size, std::vector<int64_t>* bounds, std::vector<int32_t>* coeffs,
                int64_t* ksize_out) {
  const double scale = static_cast<double>(static_cast<float>(in_size) - 0.0f) / static_cast<double>(out_size);
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = 0.5 * filterscale;
  const int64_t ksize = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  bounds->assign(2 * out_size, 0);
  coeffs->assign(out_size * ksize, 0);
  std::vector<double> k(ksize);
  for (int64_t xx = 0; xx < out_size; ++xx) {
    const double center = 0.0 + (xx + 0.5) * scale;
    double ww = 0.0;
    const double ss = 1.0 / filterscale;
    int64_t xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int64_t xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    std::fill(k.begin(), k.end(), 0.0);
    for (int64_t x = 0; x < xmax; ++x) {
      const double arg = (x + xmin - center + 0.5) * ss;
      const double w = (arg > -0.5 && arg <= 0.5) ? 1.0 : 0.0;
      k[x] = w;
      ww += w;
    }
    for (int64_t x = 0; x < xmax; ++x)
      if (ww != 0.0) k[x] /= ww;
    for (int64_t x = 0; x < ksize; ++x) {
      const double scaled = k[x] * (1 << kPillowPrecisionBits);
      (*coeffs)[xx * ksize + x] = static_cast<int32_t>(k[x] < 0 ? -0.5 + scaled : 0.5 + scaled);
    }
    (*bounds)[2 * xx] = xmin;
    (*bounds)[2 * xx + 1] = xmax;
  }
  *ksize_out = ksize;
}

inline uint8_t pillow_clip8(int32_t v) {
  const int32_t s = v >> kPillowPrecisionBits;
  return static_cast<uint8_t>(s < 0 ? 0 : (s > 255 ? 255 : s));
}

}  // namespace

std::vector<uint8_t> pillow_resize_box(const uint8_t* in, int64_t height, int64_t width, int64_t out_h,
                                       int64_t out_w) {
  std::vector<int64_t> bh, bv;
  std::vector<int32_t> kh, kv;
  int64_t ksh, ksv;
  box_coeffs(width, out_w, &bh, &kh, &ksh);
  box_coeffs(height, out_h, &bv, &kv, &ksv);
  const int32_t half = 1 << (kPillowPrecisionBits - 1);
  // Horizontal pass (all rows; Pillow only computes the rows the vertical pass reads: same values).
  std::vector<uint8_t> tmp(static_cast<size_t>(height * out_w * 3));
  const bool need_h = out_w != width, need_v = out_h != height;
  const uint8_t* src = in;
  if (need_h) {
    for (int64_t y = 0; y < height; ++y)
      for (int64_t x = 0; x < out_w; ++x) {
        const int64_t xmin = bh[2 * x], xn = bh[2 * x + 1];
        const int32_t* k = &kh[x * ksh];
        for (int c = 0; c < 3; ++c) {
          int32_t ss = half;
          for (int64_t i = 0; i < xn; ++i) ss += in[(y * width + xmin + i) * 3 + c] * k[i];
          tmp[(y * out_w + x) * 3 + c] = pillow_clip8(ss);
        }
      }
    src = tmp.data();
  }
  const int64_t sw = need_h ? out_w : width;
  if (!need_v) return std::vector<uint8_t>(src, src + height * sw * 3);
  std::vector<uint8_t> out(static_cast<size_t>(out_h * sw * 3));
  for (int64_t y = 0; y < out_h; ++y) {
    const int64_t ymin = bv[2 * y], yn = bv[2 * y + 1];
    const int32_t* k = &kv[y * ksv];
    for (int64_t x = 0; x < sw; ++x)
      for (int c = 0; c < 3; ++c) {
        int32_t ss = half;
        for (int64_t i = 0; i < yn; ++i) ss += src[((ymin + i) * sw + x) * 3 + c] * k[i];
        out[(y * sw + x) * 3 + c] = pillow_clip8(ss);
      }
  }
  return out;
}

std::vector<uint8_t> pillow_resize_nearest(const uint8_t* in, int64_t height, int64_t width, int64_t out_h,
                                           int64_t out_w) {
  if (out_h == height && out_w == width) return std::vector<uint8_t>(in, in + height * width * 3);
  // _imaging.c _resize -> ImagingScaleAffine: a[0] = in_w / out_w, source x = int(a[2] + a[0]*0.5 + x*a[0])
  // accumulated by repeated addition, as Pillow does.
  const double ax = static_cast<double>(static_cast<float>(width)) / static_cast<double>(out_w);
  const double ay = static_cast<double>(static_cast<float>(height)) / static_cast<double>(out_h);
  auto coord = [](double v) { return v < 0.0 ? int64_t{-1} : static_cast<int64_t>(static_cast<int>(v)); };
  std::vector<int64_t> xin(out_w, -1);
  double xo = 0.0 + ax * 0.5;
  for (int64_t x = 0; x < out_w; ++x) {
    const int64_t v = coord(xo);
    xin[x] = (v >= 0 && v < width) ? v : -1;
    xo += ax;
  }
  std::vector<uint8_t> out(static_cast<size_t>(out_h * out_w * 3), 0);
  double yo = 0.0 + ay * 0.5;
  for (int64_t y = 0; y < out_h; ++y) {
    const int64_t yi = coord(yo);
    if (yi >= 0 && yi < height)
      for (int64_t x = 0; x < out_w; ++x)
        if (xin[x] >= 0)
          for (int c = 0; c < 3; ++c) out[(y * out_w + x) * 3 + c] = in[(yi * width + xin[x]) * 3 + c];
    yo += ay;
  }
  return out;
}

std::vector<double> numpy_arange(double start, double stop, double step) {
  const double len_f = std::ceil((stop - start) / step);
  const int64_t n = len_f > 0 ? static_cast<int64_t>(len_f) : 0;
  std::vector<double> a(n);
  if (n == 0) return a;
  a[0] = start;
  if (n == 1) return a;
  a[1] = start + step;
  const double delta = a[1] - a[0];
  for (int64_t i = 2; i < n; ++i) a[i] = start + static_cast<double>(i) * delta;
  return a;
}

}  // namespace rpct::robust::numerics
