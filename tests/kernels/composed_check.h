// Shared by the composed-op tests (test_rpc_attention_composed.cpp: the CPU loop backend of the PCP
// steps; test_emu_composed.cpp: the CUDA PCP kernels through the emulator): one forward + backward of an
// attention function and of the float64 reference on the same inputs, and the comparison.
#pragma once
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <sstream>
#include <string>

#include "kernels/rpc_attention/rpc_attention.h"
#include "tests/kernels/attention_errors.h"
#include "tests/kernels/test_emu_reference.h"

namespace rpct::test {

struct ComposedCase {
  int64_t B, H, N, D, n_iter;
  double lambda;
  std::string str() const {
    std::ostringstream o;
    o << "B=" << B << " H=" << H << " N=" << N << " D=" << D << " n_iter=" << n_iter << " lambda=" << lambda;
    return o.str();
  }
};

struct OutAndGrads {
  torch::Tensor out, dk, dv;
};

// k, v, cotangent w: (B, H, N, D) float64; fn runs in `dtype`: its output and gradients w.r.t. k, v
// for the loss sum(out * w).
using AttentionFn = std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&)>;
inline OutAndGrads run_with_grads(const AttentionFn& fn, const torch::Tensor& k0, const torch::Tensor& v0,
                                  const torch::Tensor& w, torch::ScalarType dtype) {
  auto k = k0.to(dtype).clone().requires_grad_(true), v = v0.to(dtype).clone().requires_grad_(true);
  auto out = fn(k, v);
  (out * w.to(dtype)).sum().backward();
  return {out.detach(), k.grad(), v.grad()};
}

// The reference (rpc_attention_reference: docs/rpc-attention.md's iteration, autograd gradients) in float64 for case c.
inline OutAndGrads reference_float64(const ComposedCase& c, const torch::Tensor& k0, const torch::Tensor& v0,
                                     const torch::Tensor& w) {
  return run_with_grads([&](const torch::Tensor& k, const torch::Tensor& v) {
    return rpct::rpc_attention_reference(k, v, c.n_iter, c.lambda, c.H * c.D);
  }, k0, v0, w, torch::kDouble);
}

// max of scaled_err over out, dk, dv (scaled_err: relative to max(1, max|ref|)).
inline double max_scaled_err(const OutAndGrads& a, const OutAndGrads& ref, std::string* detail = nullptr) {
  const double eo = scaled_err(a.out, ref.out), ek = scaled_err(a.dk, ref.dk), ev = scaled_err(a.dv, ref.dv);
  if (detail) {
    std::ostringstream o;
    o << "out " << eo << ", dk " << ek << ", dv " << ev;
    *detail = o.str();
  }
  double m = 0;
  for (double e : {eo, ek, ev}) m = std::isnan(e) ? INFINITY : std::max(m, e);  // NaN: infinitely wrong
  return m;
}

// bfloat16. The composed op rounds K2_t (SDPA takes one dtype) and L_t (its output) to bf16 in every
// iteration, and a soft-threshold mask bit flips wherever |X| lies within bf16 rounding of thresh, moving
// single dK elements by O(1): no fixed max-error tolerance holds (max |dK error| / max |dK| reached 0.65 at
// B2 H3 N197 D64 n_iter 4 lambda 0.3 on the CPU, with 5.5% by norm). What LibTorch gives in bf16 is the
// reference with every op in bf16 (autocast); there that case is 0.71 max, 13.8% by norm. So: the composed
// op's error vs float64 must be within kVsBf16RefFactor of that bf16 reference's, outputs by max error
// relative to max|ref|, gradients by relative Frobenius norm (floor: one bf16 step).
constexpr double kVsBf16RefFactor = 1.5;  // rounding order differs; a wrong formula is off by far more
constexpr double kVsBf16RefFloor = 1.0 / 256;  // one bfloat16 rounding step, 2^-8
using AttentionFnOf = std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&)>;
inline void expect_bf16_no_worse_than_torch_bf16(const Case& c, const torch::Device& device, const AttentionFnOf& fn,
                                                 uint64_t seed) {
  torch::manual_seed(seed);
  auto opts = torch::TensorOptions().dtype(torch::kFloat32);
  // Rounded to bf16 first: every implementation sees the same inputs. K ~ 0.5 N(0,1) as compare_with_spec.
  auto k0 = (0.5 * torch::randn({c.B, c.H, c.N, c.D}, opts)).to(torch::kBFloat16).to(torch::kDouble);
  auto v0 = torch::randn({c.B, c.H, c.N, c.D}, opts).to(torch::kBFloat16).to(torch::kDouble);
  auto w = torch::randn({c.B, c.H, c.N, c.D}, opts).to(torch::kBFloat16).to(torch::kDouble);
  const int64_t C = c.H * c.D;
  const ComposedCase cc{c.B, c.H, c.N, c.D, c.n_iter, c.lambda};
  const auto exact = reference_float64(cc, k0, v0, w);
  auto on_device = [&](const AttentionFnOf& f) {
    return run_with_grads([&](const torch::Tensor& k, const torch::Tensor& v) { return f(k.to(device), v.to(device)).cpu(); },
                          k0, v0, w, torch::kBFloat16);
  };
  const auto torch_bf16 = on_device([&](const torch::Tensor& k, const torch::Tensor& v) {
    return rpct::rpc_attention_reference(k, v, c.n_iter, c.lambda, C);
  });
  const auto got = on_device(fn);
  auto bound = [](double ref_err) { return std::max(kVsBf16RefFloor, kVsBf16RefFactor * ref_err); };
  const double e_out = scaled_err(got.out, exact.out), e_dk = rel_norm_err(got.dk, exact.dk),
               e_dv = rel_norm_err(got.dv, exact.dv);
  const double r_out = scaled_err(torch_bf16.out, exact.out), r_dk = rel_norm_err(torch_bf16.dk, exact.dk),
               r_dv = rel_norm_err(torch_bf16.dv, exact.dv);
  std::cout << "[bf16] " << c.str() << ": out " << e_out << " dk " << e_dk << " dv " << e_dv << "; LibTorch bf16 out "
            << r_out << " dk " << r_dk << " dv " << r_dv << "\n";
  EXPECT_LE(e_out, bound(r_out)) << c.str();
  EXPECT_LE(e_dk, bound(r_dk)) << c.str();
  EXPECT_LE(e_dv, bound(r_dv)) << c.str();
}

}  // namespace rpct::test
