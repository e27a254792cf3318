// The fused RPC-Attention op (CPU kernel + autograd function) against the LibTorch-ops reference
// evaluated in float64, forward and gradients w.r.t. k and v; plus the reference against a literal
// transcription of docs/rpc-attention.md's iteration, the all-zero-keys guard, and the op's one input check (CPU and CUDA rules).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>

#include "tests/kernels/attention_errors.h"
#include "tests/kernels/float32_check.h"
#include "tests/test_seed.h"
#include "kernels/rpc_attention/rpc_attention.h"

using rpct::test::rel_norm_err;
using rpct::test::scaled_err;

namespace {

// float64 fused vs float64 reference: same math, different summation order, arguments of exp clamped at
// log(DBL_MIN) + 1 (cpu_simd.h) and recomputation from lse in backward. Errors are a few ulp times the
// conditioning of up to 6 unrolled iterations; 1e-9 relative to the output scale leaves ~1e5 ulp slack.
constexpr double kFp64Tol = 1e-9;
// float32 fused vs float64 reference: float32 rounding (~6e-8) amplified through up to 6 iterations of
// softmax attention with N up to 197; observed errors ~1e-6, 1e-4 relative to the output scale.
constexpr double kFp32Tol = 1e-4;
// float32 gradients are compared by relative Frobenius norm, each on the shrink branches its computation took
// (float32_check.h); 2e-3 admits float32 rounding through the unrolled backward but not a wrong formula
// (those give >1e-1).
constexpr double kFp32GradRelNorm = 2e-3;
// Some draws are ill-conditioned for float32 itself: at B=2 H=3 N=7 D=16 n_iter=4 lambda=4, 1 draw in ~100
// has LibTorch's own float32 key gradient ~9e-3 from float64 (measured 9.26e-3, no mask flip). There the
// fused op must be as close to float64 as LibTorch's float32 is, up to this factor (rounding order
// differs; the backward defect this guards against was 10-400x).
constexpr double kVsFp32RefFactor = 4.0;

// bfloat16 path vs float64 on the kernel's own shrink branches (Bfloat16MatchesFloat64Reference). Every GEMM
// operand is rounded to bf16 (relative 2^-9): a score s = scale K2_i . K2_j then carries an error ~2^-9 |s|, and
// scores of 10-50 (N = 1025, lambda 4) move P by a few percent; outputs and gradients are rounded to bf16 again.
// Measured over 30 draws of the cases below (2026-12-08, this machine): out <= 0.024, dK <= 0.033, dV <= 0.023, all
// at N = 1025; <= 0.01 elsewhere. The bounds leave >2x margin; a wrong product (a transpose, a missed scale, a
// stale tile) gives O(1). Shapes where the unrolled iteration amplifies rounding itself are left to the float32 and
// float64 tests: at N = 7, 4 iterations, bf16 errors reach 0.1 (LibTorch's own bf16 reference is as far off; its
// float32 is 9e-3 off on 1% of draws, kVsFp32RefFactor), and in the saturated regime (N 197, lambda 4) the key
// gradient cancels to ~1e-7 of |dV| and no bf16 computation resolves it (relative error ~1 for LibTorch's too).
constexpr double kBf16OutTol = 0.06;
constexpr double kBf16GradRelNorm = 0.08;
// Branches that differ from float64's: the bf16 products move the ADMM state X by up to the output error (scaled to
// |X| ~ 1-3); the widest measured was 0.032. A mask computed from a wrong quantity is off by O(thresh) (>= 0.16).
constexpr double kBf16TieWindow = 0.1;
constexpr int kBf16Draws = 6;

struct Case {
  int64_t B, H, N, D, n_iter;
  double lambda;
};

std::string describe(const Case& c) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "B=%ld H=%ld N=%ld D=%ld n_iter=%ld lambda=%g", (long)c.B, (long)c.H, (long)c.N,
                (long)c.D, (long)c.n_iter, c.lambda);
  return buf;
}

// The fused kernel as a float32 implementation for float32_check.h. Its forward and backward entries are
// called directly (the float64 cases test the op's autograd wrapper) because the check needs the shrink
// branches of the very forward whose gradients it compares. The kernel saves L_t and thresh, and both of its
// passes compute the branches from them with cpu_simd.h's AdmmPrepare / AdmmDual: x = (K - L_{t-1}) + Y_{t-1},
// on = |x| - thresh > 0, Y_t = Y_{t-1} + ((K - L_t) - S_t). Those are single IEEE additions and subtractions
// in float32 (no product to contract), so LibTorch's float32 ops in the same order give the same bits; a branch
// recomputed wrongly would fail the check's tie test.
// The shrink branches the kernel took in each iteration, from its float32 keys k, saved L_t and stats (see above).
std::vector<torch::Tensor> kernel_masks(const torch::Tensor& k, const torch::Tensor& Ls, const torch::Tensor& stats,
                                        int64_t n_iter) {
  std::vector<torch::Tensor> masks;
  auto thresh = stats.select(-1, 1).view({k.size(0), k.size(1), 1, 1});  // stats: {sum|K|, thresh}
  auto L = torch::zeros_like(k), Y = torch::zeros_like(k);
  for (int64_t t = 0; t < n_iter; ++t) {
    auto x = (k - L) + Y;
    auto shrunk = x.abs() - thresh;
    auto on = shrunk > 0;
    masks.push_back(on);
    auto S = torch::where(on, torch::copysign(shrunk, x), torch::zeros_like(x));
    L = Ls.select(2, t);
    Y = Y + ((k - L) - S);
  }
  return masks;
}

rpct::test::Float32Run fused_cpu_float32_run(const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& w,
                                             int64_t n_iter, double lambda, int64_t model_dim) {
  auto fwd = rpct::rpc_attention_cpu_forward(k, v, n_iter, lambda, model_dim);  // {out, L_t (B,H,T,N,D), stats}
  auto g = rpct::rpc_attention_cpu_backward(w, k, v, {fwd[1], fwd[2]}, n_iter, lambda, model_dim);
  return {fwd[0], g[0], g[1], kernel_masks(k, fwd[1], fwd[2], n_iter)};
}

// Runs the fused op in `dtype` and the reference in float64 on the same inputs; checks out, dk, dv. float32:
// through float32_check.h (on each float32 computation's own shrink branches), the fused kernel against the
// reference's float64, bounded by max(kFp32Tol or kFp32GradRelNorm, kVsFp32RefFactor x LibTorch float32's error).
void check_case(const Case& c, torch::ScalarType dtype) {
  SCOPED_TRACE(describe(c) + (dtype == torch::kFloat ? " float32" : " float64"));
  const int64_t C = c.H * c.D;  // model width as in a model: heads * head dim
  auto k0 = torch::randn({c.B, c.H, c.N, c.D}, torch::kDouble).to(dtype);
  auto v0 = torch::randn({c.B, c.H, c.N, c.D}, torch::kDouble).to(dtype);
  auto w = torch::randn({c.B, c.H, c.N, c.D}, torch::kDouble);  // random cotangent
  if (dtype == torch::kFloat) {
    rpct::test::expect_float32_within_reference(
        k0.to(torch::kDouble), v0.to(torch::kDouble), w, c.n_iter, c.lambda, "fused CPU op float32",
        [&](const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& g) {
          return fused_cpu_float32_run(k, v, g, c.n_iter, c.lambda, C);
        },
        {kFp32Tol, kFp32GradRelNorm, kVsFp32RefFactor}, /*verbose=*/false);
    return;
  }
  auto k = k0.clone().requires_grad_(true), v = v0.clone().requires_grad_(true);
  auto out = rpct::rpc_attention(k, v, c.n_iter, c.lambda, C);
  ASSERT_EQ(out.scalar_type(), dtype);
  (out * w.to(dtype)).sum().backward();

  auto kr = k0.to(torch::kDouble).requires_grad_(true), vr = v0.to(torch::kDouble).requires_grad_(true);
  auto ref = rpct::rpc_attention_reference(kr, vr, c.n_iter, c.lambda, C);
  (ref * w).sum().backward();
  EXPECT_LE(scaled_err(out, ref), kFp64Tol);
  EXPECT_LE(scaled_err(k.grad(), kr.grad()), kFp64Tol);
  EXPECT_LE(scaled_err(v.grad(), vr.grad()), kFp64Tol);
}

}  // namespace

// Every (N, D) pair and every lambda, n_iter cycling through 0..6 and (B, H) through a few shapes: 27
// cases in float64. The full cross product (N x D x lambda x n_iter x B,H) would take minutes on 2 cores;
// the cycling covers every value of every axis several times.
TEST(RpcAttentionFused, MatchesFloat64ReferenceAcrossShapes) {
  torch::manual_seed(rpct::test::test_seed());
  const int64_t Ns[] = {1, 7, 197}, Ds[] = {1, 16, 64};
  const double lambdas[] = {0.0, 0.5, 4.0};
  const int64_t BHs[][2] = {{1, 1}, {2, 3}, {3, 2}, {1, 4}};
  int i = 0;
  for (int64_t N : Ns)
    for (int64_t D : Ds)
      for (double lambda : lambdas) {
        const int64_t n_iter = i % 7;
        const auto& bh = BHs[i % 4];
        // Keep the largest shape cheap: one (batch, head) at N=197, D=64.
        const bool big = N == 197 && D == 64;
        check_case({big ? 1 : bh[0], big ? 2 : bh[1], N, D, n_iter, lambda}, torch::kDouble);
        ++i;
      }
}

// n_iter 1..6 x every lambda at a small odd shape.
TEST(RpcAttentionFused, EveryIterationCountAndLambda) {
  torch::manual_seed(rpct::test::test_seed());
  for (int64_t n_iter = 0; n_iter <= 6; ++n_iter)
    for (double lambda : {0.0, 0.5, 4.0}) check_case({2, 3, 7, 5, n_iter, lambda}, torch::kDouble);
}

// Float32 over many draws. A defect that shows on a fraction of random inputs needs many draws per run:
// the fused op's float32 key gradient once failed this bound on ~9% of draws at the first case (its
// backward recomputed P from the forward's saved row max and 1/rowsum, but MKL's sgemm rounded the
// recomputed scores 1-2 ulp differently, so saturated rows of P no longer summed to 1 and dS = P (dP -
// rowsum(P dP)) lost its cancellation; README.md "Fused CPU kernel"). 50 draws miss a 9% defect with
// probability 0.91^50 < 1%.
// lambda > 0 in every RPC case (n_iter >= 1): at lambda = 0 (thresh = 0) K cancels out of the output (shrink(x, 0) = x), the
// exact key gradient is 0, and a float32 pre-threshold value that rounds to exactly 0 takes the
// reference's relu'(0) = 0 branch, leaving a spurious key gradient at that element (seen once in 50 draws
// of {2, 1, 33, 64, 6, 0}; the float64 tests cover lambda = 0).
constexpr int kFp32Draws = 50;

TEST(RpcAttentionFused, Float32MatchesFloat64Reference) {
  torch::manual_seed(rpct::test::test_seed());
  for (int draw = 0; draw < kFp32Draws; ++draw) {
    SCOPED_TRACE("draw " + std::to_string(draw));
    check_case({2, 3, 7, 16, 4, 4.0}, torch::kFloat);
    check_case({1, 2, 197, 16, 2, 0.5}, torch::kFloat);
    check_case({1, 1, 61, 64, 0, 0.0}, torch::kFloat);
    check_case({2, 1, 33, 64, 6, 0.5}, torch::kFloat);
    check_case({1, 1, 1, 1, 3, 4.0}, torch::kFloat);
  }
}

// The benchmark shapes' regime: at n_iter = 4, lambda = 4 the last iterations' softmax rows are so peaked
// that most exp arguments underflow (the kernel clamps them and runs with flush-to-zero; cpu_simd.h), and
// N = 1025 splits every score matrix into row tiles with a remainder tile. The check and its bounds:
// expect_peaked_within_float32_reference (float32_check.h), shared with the emulated CUDA kernels.
TEST(RpcAttentionFused, Float32PeakedSoftmaxAtModelShapes) {
  const uint64_t seed = rpct::test::test_seed();
  for (const Case& c : {Case{1, 3, 197, 64, 4, 4.0}, Case{1, 1, 1025, 64, 4, 4.0}})
    rpct::test::expect_peaked_within_float32_reference(
        c.B, c.H, c.N, c.D, c.n_iter, c.lambda, seed, "fused CPU op " + describe(c),
        [&](const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& w) {
          return fused_cpu_float32_run(k, v, w, c.n_iter, c.lambda, c.H * c.D);
        });
}

// bfloat16, the path CPU bf16 autocast takes (rpc_attention_cpu.cpp: float32 inside, the GEMM operands K2_t, V,
// P, dO and dS rounded to bf16, output and gradients rounded to bf16). K, V and the cotangent are bf16 draws; the
// kernel is compared with float64 on the same values and on the shrink branches the kernel took (its float32
// state: kernel_masks), as the float32 checks do (float32_check.h); every branch that differs from float64's own
// must lie within kBf16TieWindow of the threshold. Errors: out scaled_err, dK and dV relative Frobenius norm.
TEST(RpcAttentionFused, Bfloat16MatchesFloat64Reference) {
  torch::manual_seed(rpct::test::test_seed());
  double worst[4] = {0, 0, 0, 0};  // out, dK, dV, tie margin: printed, for the record of the tolerances
  for (int draw = 0; draw < kBf16Draws; ++draw)
    for (const Case& c : {Case{2, 3, 7, 16, 2, 4.0}, Case{1, 2, 197, 64, 4, 0.5}, Case{1, 1, 61, 64, 0, 0.0},
                          Case{2, 1, 33, 64, 6, 0.5}, Case{1, 1, 1025, 64, 2, 4.0}}) {
      SCOPED_TRACE(describe(c) + " bf16, draw " + std::to_string(draw));
      const int64_t C = c.H * c.D;
      auto k16 = torch::randn({c.B, c.H, c.N, c.D}).to(torch::kBFloat16);
      auto v16 = torch::randn({c.B, c.H, c.N, c.D}).to(torch::kBFloat16);
      auto w16 = torch::randn({c.B, c.H, c.N, c.D}).to(torch::kBFloat16);  // the cotangent, bf16 as autocast's
      auto fwd = rpct::rpc_attention_cpu_forward(k16, v16, c.n_iter, c.lambda, C);  // {out, L_t, stats}
      auto grads = rpct::rpc_attention_cpu_backward(w16, k16, v16, {fwd[1], fwd[2]}, c.n_iter, c.lambda, C);
      ASSERT_EQ(fwd[0].scalar_type(), torch::kBFloat16);
      ASSERT_EQ(grads[0].scalar_type(), torch::kBFloat16);
      const auto masks = kernel_masks(k16.to(torch::kFloat), fwd[1], fwd[2], c.n_iter);
      std::vector<torch::Tensor> own, margins;
      {
        torch::NoGradGuard no_grad;
        rpct::test::rpc_reference_on_branches(k16.to(torch::kDouble), v16.to(torch::kDouble), c.n_iter, c.lambda, C,
                                              nullptr, &own, &margins);
      }
      for (int64_t t = 0; t < c.n_iter; ++t) {
        auto differ = masks[t] != own[t];
        if (differ.any().item<bool>())
          worst[3] = std::max(worst[3], margins[t].abs().masked_select(differ).max().item<double>());
      }
      EXPECT_LE(worst[3], kBf16TieWindow) << "a shrink branch that is not a bf16 rounding tie";
      auto k = k16.to(torch::kDouble).requires_grad_(true), v = v16.to(torch::kDouble).requires_grad_(true);
      auto exact = rpct::test::rpc_reference_on_branches(k, v, c.n_iter, c.lambda, C, &masks);
      (exact * w16.to(torch::kDouble)).sum().backward();
      const double e[3] = {scaled_err(fwd[0], exact), rel_norm_err(grads[0], k.grad()), rel_norm_err(grads[1], v.grad())};
      const double tol[3] = {kBf16OutTol, kBf16GradRelNorm, kBf16GradRelNorm};
      const char* names[3] = {"out", "dK", "dV"};
      for (int i = 0; i < 3; ++i) {
        worst[i] = std::max(worst[i], e[i]);
        EXPECT_LE(e[i], tol[i]) << names[i];
      }
    }
  std::printf("bf16 worst: out %.3g, dK %.3g, dV %.3g; branches differing from float64's within %.3g of the "
              "threshold\n", worst[0], worst[1], worst[2], worst[3]);
}

// float32_check.h's reference with explicit shrink branches, on its own branches, is the reference: the same
// output and gradients in float64 (the float32 checks compare against it on other branches), for every n_iter.
TEST(RpcAttentionReference, OnOwnBranchesEqualsTheReference) {
  torch::manual_seed(rpct::test::test_seed());
  const int64_t B = 2, H = 3, N = 9, D = 4, C = H * D;
  for (int64_t n_iter : {0, 1, 4})
    for (double lambda : {0.5, 4.0}) {
      SCOPED_TRACE("n_iter=" + std::to_string(n_iter) + " lambda=" + std::to_string(lambda));
      auto k0 = torch::randn({B, H, N, D}, torch::kDouble), v0 = torch::randn_like(k0), w = torch::randn_like(k0);
      auto run = [&](bool on_branches) {
        auto k = k0.clone().requires_grad_(true), v = v0.clone().requires_grad_(true);
        auto out = on_branches ? rpct::test::rpc_reference_on_branches(k, v, n_iter, lambda, C, nullptr)
                               : rpct::rpc_attention_reference(k, v, n_iter, lambda, C);
        (out * w).sum().backward();
        return std::vector<torch::Tensor>{out.detach(), k.grad(), v.grad()};
      };
      const auto a = run(true), b = run(false);
      for (size_t i = 0; i < a.size(); ++i) EXPECT_LE(scaled_err(a[i], b[i]), kFp64Tol) << "tensor " << i;
    }
}

// The reference (scaled dual Yt = Y / mu) equals a literal transcription of the iteration (docs/rpc-attention.md#the-iteration).
TEST(RpcAttentionReference, EqualsLiteralSpec) {
  torch::manual_seed(rpct::test::test_seed());
  const int64_t B = 2, H = 3, N = 9, D = 4, C = H * D;
  for (int64_t n_iter : {1, 2, 4, 6})
    for (double lambda : {0.0, 0.5, 4.0}) {
      SCOPED_TRACE("n_iter=" + std::to_string(n_iter) + " lambda=" + std::to_string(lambda));
      auto k = torch::randn({B, H, N, D}, torch::kDouble).requires_grad_(true);
      auto v = torch::randn({B, H, N, D}, torch::kDouble).requires_grad_(true);
      auto w = torch::randn({B, H, N, D}, torch::kDouble);
      // Literal spec.
      auto mu = static_cast<double>(N * C) / (4 * k.abs().sum({-2, -1}, true));
      auto thresh = lambda * mu;
      auto L = torch::zeros_like(k), Y = torch::zeros_like(k);
      for (int64_t it = 0; it < n_iter; ++it) {
        auto x = k - L + Y / mu;
        auto S = torch::sign(x) * torch::clamp_min(x.abs() - thresh, 0);
        auto K2 = k - S - Y / mu;
        auto A = torch::softmax(torch::matmul(K2, K2.transpose(-2, -1)) / std::sqrt(double(D)), -1);
        L = torch::matmul(A, v);
        Y = Y + mu * (k - L - S);
      }
      auto gl = torch::autograd::grad({(L * w).sum()}, {k, v});
      auto ref = rpct::rpc_attention_reference(k, v, n_iter, lambda, C);
      auto gr = torch::autograd::grad({(ref * w).sum()}, {k, v});
      EXPECT_LE(scaled_err(ref, L), kFp64Tol);
      EXPECT_LE(scaled_err(gr[0], gl[0]), kFp64Tol);
      EXPECT_LE(scaled_err(gr[1], gl[1]), kFp64Tol);
    }
}

// Central finite differences of the fused op (float64) agree with its analytic backward: an independent
// check of the backward that does not go through autograd. (A threshold kink within kStep of an input
// has probability ~1e-5 for random inputs.)
TEST(RpcAttentionFused, BackwardMatchesFiniteDifferences) {
  torch::manual_seed(rpct::test::test_seed());
  const int64_t B = 1, H = 2, N = 5, D = 3, C = 6;
  // Step 1e-6 in float64: truncation error O(h^2 * f''') ~ 1e-12, rounding O(eps / h) ~ 1e-10.
  constexpr double kStep = 1e-6, kFdTol = 1e-6;
  auto k = torch::randn({B, H, N, D}, torch::kDouble), v = torch::randn({B, H, N, D}, torch::kDouble);
  auto w = torch::randn({B, H, N, D}, torch::kDouble);
  const int64_t n_iter = 3;
  const double lambda = 0.5;
  auto f = [&](const torch::Tensor& kk, const torch::Tensor& vv) {
    return (rpct::rpc_attention(kk, vv, n_iter, lambda, C) * w).sum().item<double>();
  };
  auto kg = k.clone().requires_grad_(true), vg = v.clone().requires_grad_(true);
  (rpct::rpc_attention(kg, vg, n_iter, lambda, C) * w).sum().backward();
  for (int which = 0; which < 2; ++which) {
    auto base = which == 0 ? k : v;
    auto grad = which == 0 ? kg.grad() : vg.grad();
    auto flat = base.view(-1);
    for (int64_t e = 0; e < flat.numel(); ++e) {
      const double x0 = flat[e].item<double>();
      flat[e] = x0 + kStep;
      const double fp = f(k, v);
      flat[e] = x0 - kStep;
      const double fm = f(k, v);
      flat[e] = x0;
      const double fd = (fp - fm) / (2 * kStep);
      EXPECT_NEAR(grad.view(-1)[e].item<double>(), fd, kFdTol * std::max(1.0, std::abs(fd)))
          << (which == 0 ? "dk" : "dv") << "[" << e << "]";
    }
  }
}

// sum|K| == 0: the division is guarded (thresh = +inf for lambda > 0, 0 for lambda == 0); output and
// gradients are finite and the fused op agrees with the reference.
TEST(RpcAttentionFused, AllZeroKeysAreFinite) {
  torch::manual_seed(rpct::test::test_seed());
  for (double lambda : {0.0, 0.5, 4.0})
    for (int64_t n_iter : {0, 1, 4}) {
      SCOPED_TRACE("n_iter=" + std::to_string(n_iter) + " lambda=" + std::to_string(lambda));
      auto k = torch::zeros({2, 2, 7, 4}, torch::kDouble).requires_grad_(true);
      auto v = torch::randn({2, 2, 7, 4}, torch::kDouble).requires_grad_(true);
      auto out = rpct::rpc_attention(k, v, n_iter, lambda, 8);
      out.sum().backward();
      EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
      EXPECT_TRUE(torch::isfinite(k.grad()).all().item<bool>());
      EXPECT_TRUE(torch::isfinite(v.grad()).all().item<bool>());
      auto kr = torch::zeros({2, 2, 7, 4}, torch::kDouble).requires_grad_(true);
      auto vr = v.detach().clone().requires_grad_(true);
      auto ref = rpct::rpc_attention_reference(kr, vr, n_iter, lambda, 8);
      ref.sum().backward();
      EXPECT_TRUE(torch::isfinite(kr.grad()).all().item<bool>());
      EXPECT_LE(scaled_err(out, ref), kFp64Tol);
      EXPECT_LE(scaled_err(k.grad(), kr.grad()), kFp64Tol);
      EXPECT_LE(scaled_err(v.grad(), vr.grad()), kFp64Tol);
      // First iteration with zero keys: K2 = 0, uniform attention: every row is the mean of V.
      if (n_iter == 1) {
        EXPECT_LE(scaled_err(out, v.mean(2, true).expand_as(v)), kFp64Tol);
      }
    }
  // float32 too.
  auto k = torch::zeros({1, 1, 5, 3}).requires_grad_(true);
  auto v = torch::randn({1, 1, 5, 3}).requires_grad_(true);
  rpct::rpc_attention(k, v, 4, 4.0, 3).sum().backward();
  EXPECT_TRUE(torch::isfinite(k.grad()).all().item<bool>());
}

TEST(RpcAttentionFused, RegisteredAsTorchOp) {
  auto op = c10::Dispatcher::singleton().findSchemaOrThrow("rpct::rpc_attention", "").typed<torch::Tensor(
      const torch::Tensor&, const torch::Tensor&, int64_t, double, int64_t)>();
  auto k = torch::randn({1, 2, 5, 4}, torch::kDouble), v = torch::randn({1, 2, 5, 4}, torch::kDouble);
  EXPECT_LE(scaled_err(op.call(k, v, 2, 4.0, 8), rpct::rpc_attention_reference(k, v, 2, 4.0, 8)), kFp64Tol);
}

TEST(RpcAttentionFused, RejectsBadInputs) {
  auto k = torch::randn({1, 1, 4, 3});
  EXPECT_THROW(rpct::rpc_attention(k, torch::randn({1, 1, 4, 2}), 1, 1.0, 3), c10::Error);
  EXPECT_THROW(rpct::rpc_attention(k, k, -1, 1.0, 3), c10::Error);
  EXPECT_THROW(rpct::rpc_attention(k.to(torch::kHalf), k.to(torch::kHalf), 1, 1.0, 3), c10::Error);
  EXPECT_THROW(rpct::rpc_attention(k, k, 1, -1.0, 3), c10::Error);  // lambda < 0
  EXPECT_THROW(rpct::rpc_attention(k, k, 1, 1.0, 0), c10::Error);   // model_dim < 1
}

// The op takes any strides: it runs the kernel on contiguous copies.
TEST(RpcAttentionFused, NonContiguousInputsGiveTheContiguousResult) {
  auto k = torch::randn({1, 2, 6, 5}, torch::kDouble).transpose(2, 3).contiguous().transpose(2, 3);
  auto v = torch::randn({1, 2, 6, 5}, torch::kDouble);
  ASSERT_FALSE(k.is_contiguous());
  EXPECT_TRUE(torch::equal(rpct::rpc_attention(k, v, 2, 0.5, 10), rpct::rpc_attention(k.contiguous(), v, 2, 0.5, 10)));
}

// The op's one input check (rpc_attention_check_inputs) with the CUDA kernels' rules, on CPU tensors: no
// GPU is needed to see that what those kernels cannot run is rejected and what they can run is accepted.
TEST(RpcAttentionCheckInputs, CudaBackendRules) {
  auto check = [](const torch::Tensor& k, const torch::Tensor& v, int64_t n_iter = 1, double lambda = 0.3,
                  int64_t model_dim = 64) {
    rpct::rpc_attention_check_inputs(k, v, n_iter, lambda, model_dim, rpct::RpcAttentionBackend::kCuda);
  };
  for (int64_t D : {32, 64, 128})
    for (auto dt : {torch::kFloat32, torch::kBFloat16}) {
      auto k = torch::randn({1, 2, 8, D}).to(dt);
      EXPECT_NO_THROW(check(k, k)) << "D=" << D << " " << dt;
    }
  auto k = torch::randn({1, 2, 8, 32});
  EXPECT_THROW(check(torch::randn({1, 2, 8, 48}), torch::randn({1, 2, 8, 48})), c10::Error);  // head dim
  EXPECT_THROW(check(k, k.to(torch::kBFloat16)), c10::Error);                                // dtype mismatch
  EXPECT_THROW(check(k.to(torch::kFloat64), k.to(torch::kFloat64)), c10::Error);             // no float64 kernel
  EXPECT_THROW(check(k, torch::randn({1, 2, 9, 32})), c10::Error);                           // shape
  EXPECT_THROW(check(torch::randn({0, 2, 8, 32}), torch::randn({0, 2, 8, 32})), c10::Error); // empty
  EXPECT_THROW(check(torch::empty({65536, 1, 1, 32}), torch::empty({65536, 1, 1, 32})), c10::Error);  // grid y
  EXPECT_THROW(check(k, k, -1), c10::Error);                                                 // n_iter
  EXPECT_THROW(check(k, k, 1, -0.5), c10::Error);                                            // lambda < 0
  EXPECT_THROW(check(k, k, 1, std::numeric_limits<double>::quiet_NaN()), c10::Error);       // lambda NaN
  EXPECT_THROW(check(k, k, 1, 0.3, 0), c10::Error);                                          // model_dim
  EXPECT_NO_THROW(check(k, k, 0, -0.5, 0));  // n_iter == 0 uses neither lambda nor model_dim
}

// The same check with the CPU kernel's rules: float32, float64 and bfloat16, any head dim.
TEST(RpcAttentionCheckInputs, CpuBackendRules) {
  auto check = [](const torch::Tensor& k, const torch::Tensor& v) {
    rpct::rpc_attention_check_inputs(k, v, 1, 0.3, 64, rpct::RpcAttentionBackend::kCpu);
  };
  for (auto dt : {torch::kFloat32, torch::kFloat64}) {
    auto k = torch::randn({1, 2, 8, 5}).to(dt);
    EXPECT_NO_THROW(check(k, k)) << dt;
  }
  auto k = torch::randn({1, 2, 8, 32});
  EXPECT_NO_THROW(check(k.to(torch::kBFloat16), k.to(torch::kBFloat16)));                 // the bf16 path
  EXPECT_THROW(check(k.to(torch::kHalf), k.to(torch::kHalf)), c10::Error);                // no float16 kernel
  EXPECT_THROW(check(torch::empty({1, 1, 1 << 20, 1}), torch::empty({1, 1, 1 << 20, 1})), c10::Error);  // N
  EXPECT_TRUE(rpct::rpc_attention_fused_supports(k));
  EXPECT_TRUE(rpct::rpc_attention_fused_supports(k.to(torch::kBFloat16)));
  EXPECT_FALSE(rpct::rpc_attention_fused_supports(k.to(torch::kHalf)));
}
