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
#include "tests/kernels/float32_check.h"
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

// The shrink branch the kernels took in each of n_iter iterations: their saved S_t != 0, the mask their backward
// uses. fwd: cuda_entry::forward's result {out, row stats, K2_t, S_t, thresh, sum|K|}, S_t (T, B, H, N, D).
inline std::vector<torch::Tensor> saved_branches(const std::vector<torch::Tensor>& fwd, int64_t n_iter) {
  std::vector<torch::Tensor> masks;
  for (int64_t t = 0; t < n_iter; ++t) masks.push_back(fwd[3][t] != 0);
  return masks;
}

// The emulated kernels vs the float64 spec, forward and backward, on inputs drawn from `seed` (no default: the
// correct kernels are checked on the per-run seed of tests/test_seed.h and several draws, the broken variants
// below on kBrokenVariantSeed); rounding ties of the soft threshold compared on the kernels' branches
// (compare_with_spec).
inline rpct::test::Errors emu_errors(const rpct::test::Case& c, uint64_t seed) {
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
      seed, [&](const std::vector<torch::Tensor>& fwd) { return saved_branches(fwd, n_iter); });
}

// The emulated kernels as a float32 implementation for expect_peaked_within_float32_reference
// (float32_check.h): their shrink branches are the saved S_t != 0, the mask their backward uses.
inline rpct::test::Float32Run emu_float32_run(const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& w,
                                              int64_t n_iter, double lambda, int64_t model_dim) {
  auto fwd = rpct::cuda_entry::forward(k, v, n_iter, lambda, model_dim, EmuBackend{});
  auto g = rpct::cuda_entry::backward(w, k, v, {fwd.begin() + 1, fwd.end()}, n_iter, lambda, model_dim, EmuBackend{});
  return rpct::test::Float32Run{fwd[0], g[0], g[1], saved_branches(fwd, n_iter)};
}

// The inputs of the deliberately broken variants: fixed, so that each run checks that this known defect is seen
// (a red test must stay red on every run); the correct kernels get fresh draws every run instead.
constexpr uint64_t kBrokenVariantSeed = 1;

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
      const auto e = emu_errors(c, kBrokenVariantSeed);
      const double tol = rpct::test::tolerance(c.dtype);
      std::cout << "[" << variant << "] " << c.str() << (order == rpct::emu::WarpOrder::kAscending ? " asc" : " desc")
                << ": " << e.str() << " (tol " << tol << ")\n";
      EXPECT_GT(e.max(), tol) << variant << " was NOT detected for " << c.str();
    }
  }
}

}  // namespace
