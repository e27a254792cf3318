// A float32 implementation of RPC-Attention (the fused CPU op, the CUDA kernels run by the emulator) against
// float64, bounded by LibTorch float32's own error on the same inputs. Used by test_rpc_attention.cpp
// (RpcAttentionFused.Float32MatchesFloat64Reference, .Float32PeakedSoftmaxAtModelShapes) and
// test_emu_peaked.cpp (EmuAttentionNumerics.Float32PeakedSoftmaxAt*Shape).
//
// Soft-threshold branches. Where |x| lies within float32 rounding of thresh, two float32 computations can
// take different branches of shrink (S = 0 or not). The forward is continuous there, but the gradient of that
// element differs by O(1) (shrink's derivative is 0 or 1), and one element can then dominate the error: CI on
// 2026-12-01 failed on the emulated kernels' dK, 4.5e-4 from float64 vs LibTorch float32's 2.0e-5, 99% of it
// at one element whose |x| - thresh was 1.2e-7 in iteration 1; the fused CPU op had such draws too (dK 6.3e-2
// vs 6.1e-4, seed 299 of 300). Neither result is wrong: each is the exact gradient on its own branch, up to
// rounding. So every float32 result is compared with the float64 computation on the branches that float32
// computation took (rpc_reference_on_branches), and every branch that differs from float64's own must lie
// within kTieWindow of the threshold: a mask computed from a wrong quantity is not a rounding tie.
#pragma once
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "kernels/rpc_attention/rpc_attention.h"
#include "tests/kernels/attention_errors.h"

namespace rpct::test {

// A float32 branch may differ from float64's only where | |x| - thresh | <= kTieWindow (float64 values; the
// inputs are N(0, 1), so x is O(1)). The float32 ADMM state drifts from float64 by up to the outputs' error
// (<= 5e-5 measured); branches differing from float64's were seen in 16 of 1060 float32 computations at the
// model shapes, all within 2.9e-6 of the threshold (2026-12-01). A mask computed from a wrong quantity is off
// by O(thresh) (0.16 at lambda 0.5, >= 1.2 at lambda 4).
constexpr double kTieWindow = 1e-3;

// The RPC iteration (docs/rpc-attention.md#the-iteration) as rpc_attention_reference (scaled dual) with the soft threshold's branch per element
// given: S = mask ? sign(x) (|x| - thresh) : 0, differentiated on that branch (dS/dx = 1 and dS/dthresh =
// -sign(x) where mask, 0 elsewhere). masks == nullptr: the iteration's own branch, |x| > thresh. Appends the
// branches taken to *taken and |x| - thresh (detached) to *margins when those are given.
inline torch::Tensor rpc_reference_on_branches(const torch::Tensor& k, const torch::Tensor& v, int64_t n_iter,
                                               double lambda, int64_t model_dim,
                                               const std::vector<torch::Tensor>* masks,
                                               std::vector<torch::Tensor>* taken = nullptr,
                                               std::vector<torch::Tensor>* margins = nullptr) {
  if (n_iter == 0) return softmax_attention_reference(k, k, v, {}, 0.0, false);
  auto thresh = rpc_threshold_reference(k, lambda, model_dim);
  auto L = torch::zeros_like(k), Yt = torch::zeros_like(k);
  for (int64_t t = 0; t < n_iter; ++t) {
    auto x = k - L + Yt;
    auto margin = x.abs() - thresh;
    auto on = masks != nullptr ? (*masks)[t] : margin > 0;
    if (taken != nullptr) taken->push_back(on.detach());
    if (margins != nullptr) margins->push_back(margin.detach());
    auto S = torch::where(on, torch::sign(x) * margin, torch::zeros_like(x));
    auto K2 = k - S - Yt;
    L = softmax_attention_reference(K2, K2, v, {}, 0.0, false);
    Yt = Yt + (k - L - S);
  }
  return L;
}

// What a float32 implementation returns for one input: its output, its gradients for the cotangent w, and
// the shrink branch it took in each iteration (n_iter bool tensors of k's shape).
struct Float32Run {
  torch::Tensor out, dk, dv;
  std::vector<torch::Tensor> masks;
};
using Float32Impl =
    std::function<Float32Run(const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& w)>;

// Each error (out: scaled_err; dK, dV: relative Frobenius norm) must be <= max(floor, factor * LibTorch
// float32's error of the same quantity).
struct Float32Bounds {
  double out_floor, grad_floor, factor;
};

// k0, v0, w: float64 (B, H, N, D), the inputs and the cotangent (model width C = H * D). Runs `impl` on their
// float32 roundings and checks it against float64 on impl's branches, bounded by LibTorch float32's errors
// (on its own branches). verbose: print the errors and branch counts.
inline void expect_float32_within_reference(const torch::Tensor& k0, const torch::Tensor& v0, const torch::Tensor& w,
                                            int64_t n_iter, double lambda, const std::string& label,
                                            const Float32Impl& impl, const Float32Bounds& bounds, bool verbose) {
  SCOPED_TRACE(label);
  const int64_t C = k0.size(1) * k0.size(3);
  struct Res {
    torch::Tensor out, dk, dv;
  };
  // LibTorch ops with autograd in `dtype`, on the given branches (nullptr: its own, appended to *taken).
  auto reference = [&](torch::ScalarType dtype, const std::vector<torch::Tensor>* masks,
                       std::vector<torch::Tensor>* taken) {
    auto k = k0.to(dtype).clone().requires_grad_(true), v = v0.to(dtype).clone().requires_grad_(true);
    auto out = rpc_reference_on_branches(k, v, n_iter, lambda, C, masks, taken);
    (out * w.to(dtype)).sum().backward();
    return Res{out.detach(), k.grad(), v.grad()};
  };
  std::vector<torch::Tensor> exact_masks, margins, ref32_masks;
  {
    torch::NoGradGuard no_grad;  // float64's own branches and margins
    rpc_reference_on_branches(k0, v0, n_iter, lambda, C, nullptr, &exact_masks, &margins);
  }
  const Res ref32 = reference(torch::kFloat, nullptr, &ref32_masks);
  const Float32Run run = impl(k0.to(torch::kFloat), v0.to(torch::kFloat), w.to(torch::kFloat));
  ASSERT_EQ(run.masks.size(), static_cast<size_t>(n_iter));

  // The branches that differ from float64's must be rounding ties.
  auto check_ties = [&](const std::vector<torch::Tensor>& masks, const std::string& who) {
    int64_t count = 0;
    double widest = 0;
    for (int64_t t = 0; t < n_iter; ++t) {
      auto differ = masks[t].to(torch::kCPU) != exact_masks[t];
      count += differ.sum().item<int64_t>();
      if (differ.any().item<bool>())
        widest = std::max(widest, margins[t].abs().masked_select(differ).max().item<double>());
    }
    if (verbose || widest > kTieWindow)
      std::printf("[float32] %s: %ld shrink branches differ from float64's, farthest from the threshold by %.3g\n",
                  who.c_str(), static_cast<long>(count), widest);
    EXPECT_LE(widest, kTieWindow) << who << " takes a shrink branch that is not a rounding tie";
  };
  check_ties(ref32_masks, "LibTorch float32");
  check_ties(run.masks, label);

  auto same_branches = [&](const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
    for (int64_t t = 0; t < n_iter; ++t)
      if (!torch::equal(a[t].to(torch::kCPU), b[t].to(torch::kCPU))) return false;
    return true;
  };
  const Res ref32_exact = reference(torch::kDouble, &ref32_masks, nullptr);
  const Res run_exact =
      same_branches(run.masks, ref32_masks) ? ref32_exact : reference(torch::kDouble, &run.masks, nullptr);
  const double e_out = scaled_err(run.out, run_exact.out), e_dk = rel_norm_err(run.dk, run_exact.dk),
               e_dv = rel_norm_err(run.dv, run_exact.dv);
  const double r_out = scaled_err(ref32.out, ref32_exact.out), r_dk = rel_norm_err(ref32.dk, ref32_exact.dk),
               r_dv = rel_norm_err(ref32.dv, ref32_exact.dv);
  if (verbose)
    std::printf("[float32] %s: out %.3g dk %.3g dv %.3g; LibTorch float32 out %.3g dk %.3g dv %.3g\n", label.c_str(),
                e_out, e_dk, e_dv, r_out, r_dk, r_dv);
  auto bound = [&](double floor, double ref_err) { return std::max(floor, bounds.factor * ref_err); };
  EXPECT_LE(e_out, bound(bounds.out_floor, r_out));
  EXPECT_LE(e_dk, bound(bounds.grad_floor, r_dk));
  EXPECT_LE(e_dv, bound(bounds.grad_floor, r_dv));
  EXPECT_TRUE(torch::isfinite(run.dk).all().item<bool>());
}

// The saturated-softmax regime of the model shapes (n_iter 4, lambda 4): from the second ADMM iteration on the
// scores reach ~150, the softmax rows saturate and the key gradient nearly cancels (|dK| down to 1e-7 of |dV|).
// No fixed relative tolerance holds for float32 there: LibTorch's own float32 dK misses float64 by 3% on the
// median draw at B 1 H 3 N 197 D 64 and by more than 100% on 10% of draws. So the bound is a factor of
// LibTorch float32's error. Over 1129 comparisons (B 1 H 3 N 197 and B 1 H 1 N 1025, the fused CPU op and the
// emulated kernels vs LibTorch float32, on their own branches; 2026-12-01) the ratio had median 1.0, 0.7%
// above 4x (the former factor), largest 6.7x, all at H 3 N 197; the defect this check exists for (P rebuilt
// from one float32 log-sum-exp, delta = rowsum(dO L)) was ~100x, and P from a float32 log-sum-exp alone gave
// the emulated kernels 20x on one of three seeds.
constexpr double kPeakedVsFp32RefFactor = 16.0;  // > 2x the largest measured ratio (6.7), < the defect (~100x)
constexpr double kPeakedFloor = 1e-5;            // ~100 float32 ulp: below this both are "exact"

// Draws K, V and the cotangent ~ N(0, 1), (B, H, N, D), from `seed` and checks `impl` in the peaked regime.
inline void expect_peaked_within_float32_reference(int64_t B, int64_t H, int64_t N, int64_t D, int64_t n_iter,
                                                   double lambda, uint64_t seed, const std::string& label,
                                                   const Float32Impl& impl) {
  torch::manual_seed(seed);
  auto k0 = torch::randn({B, H, N, D}, torch::kDouble), v0 = torch::randn_like(k0), w = torch::randn_like(k0);
  expect_float32_within_reference(k0, v0, w, n_iter, lambda, label, impl,
                                  {kPeakedFloor, kPeakedFloor, kPeakedVsFp32RefFactor}, /*verbose=*/true);
}

}  // namespace rpct::test
