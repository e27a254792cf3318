// The emulator backend of the CUDA entry (rpc_attention_cuda_entry.h): CPU tensors, the kernels of
// rpc_attention_kernels.cuh (their own dtype and head-dim dispatch) run by kernels/cuda_emu. Include
// after defining the RPCT_EMU_BREAK_* switches and RPCT_KERNELS_NS of the variant under test (one
// variant per translation unit). Like the op, callers pass inputs that rpc_attention_check_inputs
// accepts for the CUDA backend: the entry checks nothing.
#pragma once
#include "kernels/rpc_attention/rpc_attention_kernels.cuh"
#include "kernels/rpc_attention/rpc_pcp_kernels.cuh"
#include "kernels/rpc_attention/rpc_attention_cuda_entry.h"
#include "kernels/rpc_attention/rpc_attention.h"
#include "tests/kernels/attention_errors.h"
#include "tests/kernels/test_emu_reference.h"

namespace {

struct EmuBackend {
  void forward(const rpct::RpcFwdArgs& a) const { rpct::RPCT_KERNELS_NS::rpc_forward(a, nullptr); }
  void backward(const rpct::RpcBwdArgs& a) const { rpct::RPCT_KERNELS_NS::rpc_backward(a, nullptr); }
};

// The composed op's PCP steps on the CUDA kernels of rpc_pcp_kernels.cuh, run by the emulator.
struct EmuPcpBackend final : rpct::RpcPcpBackend {
  void forward(const rpct::RpcPcpFwdArgs& a) const override { rpct::RPCT_KERNELS_NS::rpc_pcp_forward(a, nullptr); }
  void backward(const rpct::RpcPcpBwdArgs& a) const override { rpct::RPCT_KERNELS_NS::rpc_pcp_backward(a, nullptr); }
};

// The emulated kernels vs the float64 spec, forward and backward.
inline rpct::test::Errors emu_errors(const rpct::test::Case& c, uint64_t seed = 1) {
  const int64_t n_iter = c.n_iter;
  const double lambda = c.lambda;
  const int64_t model_dim = c.H * c.D;
  return rpct::test::compare_with_spec(
      c, torch::kCPU,
      [&](const torch::Tensor& k, const torch::Tensor& v) {
        return rpct::cuda_entry::forward(k, v, n_iter, lambda, model_dim, EmuBackend{});
      },
      [&](const torch::Tensor& go, const torch::Tensor& k, const torch::Tensor& v, const std::vector<torch::Tensor>& s) {
        return rpct::cuda_entry::backward(go, k, v, s, n_iter, lambda, model_dim, EmuBackend{});
      },
      seed);
}

// The float32 kernels in the saturated-softmax regime of the model shapes (n_iter 4, lambda 4: from the
// second iteration on the scores reach ~150 and the key gradient nearly cancels, |dK| down to 1e-7 of
// |dV|), against the float64 reference. No fixed relative tolerance holds there for float32 (LibTorch's
// own float32 reference misses float64 by up to ~80% in dK), so, as the fused CPU op's test
// RpcAttentionFused.Float32PeakedSoftmaxAtModelShapes: the kernels' error must be within kVsFp32RefFactor
// of that float32 reference's error (floor kVsFp32RefFloor). With one float32 log-sum-exp and
// delta = rowsum(dO * L) (the kernels before the row max / 1/rowsum change) dK was ~100x off instead.
constexpr double kVsFp32RefFactor = 4.0;  // rounding order differs; a wrong formula is off by orders more
constexpr double kVsFp32RefFloor = 1e-5;  // ~100 float32 ulp: below this both are "exact"
inline void expect_peaked_softmax_within_torch_float32(const rpct::test::Case& c, uint64_t seed) {
  using rpct::test::rel_norm_err;
  using rpct::test::scaled_err;
  torch::manual_seed(seed);
  const int64_t C = c.H * c.D;
  auto k0 = torch::randn({c.B, c.H, c.N, c.D}, torch::kDouble), v0 = torch::randn_like(k0), w = torch::randn_like(k0);
  struct Res {
    torch::Tensor out, dk, dv;
  };
  auto reference = [&](torch::ScalarType dtype) {
    auto k = k0.to(dtype).clone().requires_grad_(true), v = v0.to(dtype).clone().requires_grad_(true);
    auto out = rpct::rpc_attention_reference(k, v, c.n_iter, c.lambda, C);
    (out * w.to(dtype)).sum().backward();
    return Res{out.detach(), k.grad(), v.grad()};
  };
  const Res exact = reference(torch::kDouble), ref32 = reference(torch::kFloat);
  auto k = k0.to(torch::kFloat), v = v0.to(torch::kFloat);
  auto fwd = rpct::cuda_entry::forward(k, v, c.n_iter, c.lambda, C, EmuBackend{});
  auto g = rpct::cuda_entry::backward(w.to(torch::kFloat), k, v, {fwd.begin() + 1, fwd.end()}, c.n_iter, c.lambda, C,
                                      EmuBackend{});
  auto bound = [](double ref_err) { return std::max(kVsFp32RefFloor, kVsFp32RefFactor * ref_err); };
  const double e_out = scaled_err(fwd[0], exact.out), e_dk = rel_norm_err(g[0], exact.dk),
               e_dv = rel_norm_err(g[1], exact.dv);
  const double r_out = scaled_err(ref32.out, exact.out), r_dk = rel_norm_err(ref32.dk, exact.dk),
               r_dv = rel_norm_err(ref32.dv, exact.dv);
  std::cout << "[emu peaked] " << c.str() << " seed " << seed << ": kernels out " << e_out << " dk " << e_dk << " dv "
            << e_dv << "; torch float32 out " << r_out << " dk " << r_dk << " dv " << r_dv << "\n";
  EXPECT_LE(e_out, bound(r_out));
  EXPECT_LE(e_dk, bound(r_dk));
  EXPECT_LE(e_dv, bound(r_dv));
  EXPECT_TRUE(torch::isfinite(g[0]).all().item<bool>());
}

// The deliberately broken variants (RPCT_EMU_BREAK_*) are "detected" when the regular test
// (test_emu_attention, same tolerance) would fail on their result, under both warp orders.
// N = 45 and 37: not multiples of the 32-key tile (an off-by-one bound needs a partial tile to show).
inline void expect_broken_variant_detected(const char* variant) {
  using rpct::test::Case;
  for (const Case& c : {Case{1, 2, 45, 32, 0, 0.3, torch::kFloat32}, Case{1, 2, 45, 32, 2, 0.3, torch::kFloat32},
                        Case{1, 2, 37, 64, 1, 0.3, torch::kBFloat16}}) {
    for (auto order : {rpct::emu::WarpOrder::kAscending, rpct::emu::WarpOrder::kDescending}) {
      rpct::emu::Options o;
      o.warp_order = order;
      rpct::emu::ScopedOptions s(o);
      const auto e = emu_errors(c);
      const double tol = rpct::test::tolerance(c.dtype);
      std::cout << "[" << variant << "] " << c.str() << (order == rpct::emu::WarpOrder::kAscending ? " asc" : " desc")
                << ": " << e.str() << " (tol " << tol << ")\n";
      EXPECT_GT(e.max(), tol) << variant << " was NOT detected for " << c.str();
    }
  }
}

}  // namespace
