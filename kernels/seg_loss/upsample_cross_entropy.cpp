// The fused CPU kernel of upsample_cross_entropy and its autograd function (README.md has the math).
//
// Work is split by low-resolution row j: a task takes every output row whose upper source row is j (those
// rows read and write logits rows j and j + 1 only). Tasks of even j run in parallel, then those of odd j, so
// no two concurrent tasks write the same gradient row, and every gradient element is summed in one fixed
// order whatever the thread count (the result does not depend on it). Per output row, the two source rows are
// first blended along y into R (w, K); a pixel then blends two R vectors along x, takes log-sum-exp over the
// K classes and, when a gradient is wanted, adds its softmax - one-hot into G (w, K), which goes back to the
// two source rows once the row is done. The gradient is computed in the forward pass (the loss is a scalar, so
// backward only scales it), and the (B, K, H, W) logits, log-probabilities and their gradients never exist.
#include "kernels/seg_loss/upsample_cross_entropy.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/ftz.h"
#include "kernels/rpc_attention/cpu_simd.h"

// The loops below join cpu_simd.h's optimize setting (see there: no trapping math, so selects vectorize; and
// its always-inline exp_clamped inlines only into functions compiled with the same setting).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("no-trapping-math")
#endif

namespace rpct {
namespace cpu_simd {

// dst = a * x + b * y over n elements.
struct Blend2 {
  template <typename T>
  RPCT_ALWAYS_INLINE static void run(T* dst, const T* x, const T* y, T a, T b, int64_t n) {
#pragma omp simd
    for (int64_t e = 0; e < n; ++e) dst[e] = a * x[e] + b * y[e];
  }
};

// dst += a * x over n elements.
struct Axpy {
  template <typename T>
  RPCT_ALWAYS_INLINE static void run(T* dst, const T* x, T a, int64_t n) {
#pragma omp simd
    for (int64_t e = 0; e < n; ++e) dst[e] += a * x[e];
  }
};

// The pixels of one output row. R (w, K): the row's logits blended along y; for output column x the logits
// are u[x] R[x0[x]] + v[x] R[x1[x]]. Returns the sum of the row's pixel losses and adds the number of
// labelled pixels to *count; with G non-null adds each labelled pixel's softmax - one-hot, times u and v,
// into G[x0] and G[x1]. z: K floats of scratch.
struct UpsampleCeRow {
  template <typename T>
  RPCT_ALWAYS_INLINE static double run(const T* R, const int64_t* labels, int64_t W, int64_t K, int64_t ignore,
                                       const int64_t* x0, const int64_t* x1, const T* u, const T* v, T* z, T* G,
                                       int64_t* count) {
    double loss = 0;
    int64_t n = 0;
    for (int64_t x = 0; x < W; ++x) {
      const int64_t t = labels[x];
      if (t == ignore) continue;
      const T* a = R + x0[x] * K;
      const T* b = R + x1[x] * K;
      const T wa = u[x], wb = v[x];
      Blend2::run(z, a, b, wa, wb, K);
      const T zt = z[t];
      T m, inv;  // max_k z_k and 1 / sum_k exp(z_k - m); z becomes the softmax
      SoftmaxRows::run(z, 1, K, &m, &inv);
      loss += static_cast<double>(m) - std::log(static_cast<double>(inv)) - static_cast<double>(zt);
      ++n;
      if (G == nullptr) continue;
      z[t] -= T(1);  // softmax - one-hot
      T* ga = G + x0[x] * K;
      T* gb = G + x1[x] * K;
      if (ga == gb) {  // the last column: both taps on one source column
        const T w = wa + wb;
#pragma omp simd
        for (int64_t k = 0; k < K; ++k) ga[k] += w * z[k];
      } else {
#pragma omp simd
        for (int64_t k = 0; k < K; ++k) {
          ga[k] += wa * z[k];
          gb[k] += wb * z[k];
        }
      }
    }
    *count += n;
    return loss;
  }
};

}  // namespace cpu_simd
}  // namespace rpct

namespace rpct {
namespace {

// One axis of ATen's bilinear resize with align_corners = false and no scale factor (aten/src/ATen/native/
// UpSample.h: area_pixel_compute_scale, area_pixel_compute_source_index, guard_index_and_lambda), in the
// same arithmetic type: output index o reads inputs i0[o] and i1[o] with weights w0[o] and w1[o].
template <typename T>
struct BilinearAxis {
  std::vector<int64_t> i0, i1;
  std::vector<T> w0, w1;
};

template <typename T>
BilinearAxis<T> bilinear_axis(int64_t in, int64_t out) {
  BilinearAxis<T> a;
  a.i0.resize(out);
  a.i1.resize(out);
  a.w0.resize(out);
  a.w1.resize(out);
  const T scale = static_cast<T>(in) / static_cast<T>(out);
  for (int64_t o = 0; o < out; ++o) {
    if (in == out) {
      a.i0[o] = a.i1[o] = o;
      a.w0[o] = T(1);
      a.w1[o] = T(0);
      continue;
    }
    T src = scale * (static_cast<T>(o) + T(0.5)) - T(0.5);
    if (src < T(0)) src = T(0);
    const int64_t i = std::min<int64_t>(static_cast<int64_t>(std::floor(src)), in - 1);
    const T lambda = std::min(std::max(src - static_cast<T>(i), T(0)), T(1));
    a.i0[o] = i;
    a.i1[o] = i + (i < in - 1 ? 1 : 0);
    a.w1[o] = lambda;
    a.w0[o] = T(1) - lambda;
  }
  return a;
}

struct FusedResult {
  torch::Tensor loss;  // 0-dim, the mean
  torch::Tensor grad;  // (B, h, w, K): d loss_sum / d logits (unscaled by 1 / count); undefined without grad
  int64_t count = 0;
};

// L: (B, h, w, K) contiguous; labels (B, H, W) contiguous int64, already checked.
template <typename T>
FusedResult fused_forward(const torch::Tensor& L, const torch::Tensor& labels, int64_t ignore, bool want_grad) {
  const int64_t B = L.size(0), h = L.size(1), w = L.size(2), K = L.size(3), H = labels.size(1),
                W = labels.size(2), wK = w * K;
  const auto ax = bilinear_axis<T>(w, W);
  const auto ay = bilinear_axis<T>(h, H);
  // Output rows by upper source row: rows first[j] .. first[j + 1] - 1 have ay.i0 == j (i0 is non-decreasing).
  std::vector<int64_t> first(h + 1, H);
  for (int64_t y = H - 1; y >= 0; --y) first[ay.i0[y]] = y;
  for (int64_t j = h - 1; j >= 0; --j) first[j] = std::min(first[j], first[j + 1]);
  FusedResult r;
  if (want_grad) r.grad = torch::zeros(L.sizes(), L.options());
  const T* lp = L.data_ptr<T>();
  const int64_t* yp = labels.data_ptr<int64_t>();
  T* gp = want_grad ? r.grad.data_ptr<T>() : nullptr;
  std::vector<double> loss(B * h, 0.0);
  std::vector<int64_t> count(B * h, 0);
  auto task = [&](int64_t b, int64_t j, T* R, T* G, T* z) {
    const T* Lb = lp + b * h * wK;
    T* Gb = want_grad ? gp + b * h * wK : nullptr;
    for (int64_t y = first[j]; y < first[j + 1]; ++y) {
      const int64_t y0 = ay.i0[y], y1 = ay.i1[y];
      cpu_simd::dispatch<cpu_simd::Blend2>(R, Lb + y0 * wK, Lb + y1 * wK, ay.w0[y], ay.w1[y], wK);
      if (G != nullptr) std::fill(G, G + wK, T(0));
      loss[b * h + j] += cpu_simd::dispatch<cpu_simd::UpsampleCeRow>(
          static_cast<const T*>(R), yp + (b * H + y) * W, W, K, ignore, ax.i0.data(), ax.i1.data(), ax.w0.data(),
          ax.w1.data(), z, G, &count[b * h + j]);
      if (G == nullptr) continue;
      cpu_simd::dispatch<cpu_simd::Axpy>(Gb + y0 * wK, static_cast<const T*>(G), ay.w0[y], wK);
      cpu_simd::dispatch<cpu_simd::Axpy>(Gb + y1 * wK, static_cast<const T*>(G), ay.w1[y], wK);
    }
  };
  const int64_t per_image = (h + 1) / 2;  // tasks of one parity in one image
  for (int64_t parity = 0; parity < 2; ++parity) {
    at::parallel_for(0, B * per_image, 1, [&](int64_t begin, int64_t end) {
      ScopedFlushDenormal ftz;  // core/ftz.h: tiny probabilities times tiny weights
      std::vector<T> scratch(2 * wK + K);
      for (int64_t i = begin; i < end; ++i) {
        const int64_t b = i / per_image, j = 2 * (i % per_image) + parity;
        if (j < h) task(b, j, scratch.data(), want_grad ? scratch.data() + wK : nullptr, scratch.data() + 2 * wK);
      }
    });
  }
  double sum = 0;
  for (int64_t i = 0; i < B * h; ++i) {
    sum += loss[i];
    r.count += count[i];
  }
  r.loss = torch::tensor(sum / static_cast<double>(r.count), L.options());  // 0 / 0 = NaN, as F::cross_entropy
  return r;
}

class UpsampleCrossEntropy : public torch::autograd::Function<UpsampleCrossEntropy> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& logits,
                               const torch::Tensor& labels, int64_t ignore_index, bool want_grad) {
    const auto L = logits.permute({0, 2, 3, 1}).contiguous();  // (B, h, w, K): a view for token-major logits
    const auto y = labels.contiguous();
    FusedResult r = logits.scalar_type() == torch::kDouble ? fused_forward<double>(L, y, ignore_index, want_grad)
                                                            : fused_forward<float>(L, y, ignore_index, want_grad);
    if (want_grad) {
      ctx->saved_data["grad"] = r.grad;
      ctx->saved_data["count"] = r.count;
    }
    return r.loss;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    const auto G = ctx->saved_data["grad"].toTensor();
    const int64_t count = ctx->saved_data["count"].toInt();
    // No labelled pixel: the loss is NaN and nothing depends on the logits.
    auto g = count > 0 ? G * (grad_out[0] / static_cast<double>(count)) : torch::zeros_like(G);
    return {g.permute({0, 3, 1, 2}), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

bool upsample_cross_entropy_fused_supports(const torch::Tensor& logits) {
  return logits.device().is_cpu() && (logits.scalar_type() == torch::kFloat || logits.scalar_type() == torch::kDouble);
}

torch::Tensor upsample_cross_entropy_reference(const torch::Tensor& logits, const torch::Tensor& labels,
                                               int64_t ignore_index) {
  namespace F = torch::nn::functional;
  const auto up = F::interpolate(logits, F::InterpolateFuncOptions()
                                             .size(std::vector<int64_t>{labels.size(1), labels.size(2)})
                                             .mode(torch::kBilinear)
                                             .align_corners(false));
  return F::cross_entropy(up, labels, F::CrossEntropyFuncOptions().ignore_index(ignore_index));
}

torch::Tensor upsample_cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels, int64_t ignore_index) {
  TORCH_CHECK(logits.dim() == 4 && labels.dim() == 3 && logits.size(0) == labels.size(0),
              "upsample_cross_entropy: logits ", logits.sizes(), " and labels ", labels.sizes(),
              " are not (B, K, h, w) and (B, H, W)");
  TORCH_CHECK(labels.scalar_type() == torch::kLong, "upsample_cross_entropy: labels must be int64, got ",
              labels.scalar_type());
  TORCH_CHECK(logits.device() == labels.device(), "upsample_cross_entropy: logits on ", logits.device(),
              ", labels on ", labels.device());
  if (!upsample_cross_entropy_fused_supports(logits)) return upsample_cross_entropy_reference(logits, labels, ignore_index);
  const int64_t K = logits.size(1);
  const auto labelled = labels != ignore_index;
  const auto bad = labelled & ((labels < 0) | (labels >= K));
  if (bad.any().item<bool>()) {
    const int64_t v = labels.masked_select(bad)[0].item<int64_t>();
    TORCH_CHECK(false, "upsample_cross_entropy: label ", v, " is out of range for ", K, " classes (ignore index ",
                ignore_index, ")");
  }
  if (labels.numel() == 0 || logits.size(2) == 0 || logits.size(3) == 0)
    return upsample_cross_entropy_reference(logits, labels, ignore_index);
  // The gradient is made in the forward pass: only when autograd will ask for it.
  const bool want_grad = logits.requires_grad() && torch::GradMode::is_enabled();
  return UpsampleCrossEntropy::apply(logits, labels, ignore_index, want_grad);
}

}  // namespace rpct
