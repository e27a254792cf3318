// The composed RPC-Attention op (rpct::rpc_attention_composed: one LibTorch SDPA call per iteration + the
// PCP steps, here on their CPU loop backend) against the float64 reference, forward and gradients, at the
// DeiT-Tiny (N 197, D 64, 3 heads) and Segmenter (N 1025, D 64) shapes and at small odd ones; plus the
// input check, the memory premise (SDPA's CPU choice) and the model's attention.impl choice.
#include <gtest/gtest.h>

#include <ATen/SDPBackend.h>
#include <ATen/ops/_fused_sdp_choice.h>

#include "models/attention.h"
#include "tests/kernels/composed_check.h"
#include "tests/test_seed.h"

using rpct::test::ComposedCase;

namespace {

// float64 composed vs float64 reference: the same math with SDPA's blocked online softmax instead of a
// full softmax and the PCP steps in the reference's operation order; errors are a few ulp times the
// conditioning of up to 6 unrolled iterations. 1e-9 relative to the tensor scale leaves ~1e5 ulp slack
// (the fused op's float64 tolerance, test_rpc_attention.cpp, for the same reason).
constexpr double kFp64Tol = 1e-9;
// lambda = 0.3 puts thresh near the middle of |K| for randn keys with model_dim = H * D, so both branches
// of the soft threshold and the threshold gradient are exercised; lambda = 4 (the authors' default)
// mostly zeroes S, and lambda = 0 thresholds nothing.
constexpr double kLambdaMixed = 0.3;
constexpr double kLambdaDefault = 4.0;

void expect_matches_reference(const ComposedCase& c) {
  SCOPED_TRACE(c.str());
  auto k0 = torch::randn({c.B, c.H, c.N, c.D}, torch::kDouble), v0 = torch::randn_like(k0), w = torch::randn_like(k0);
  const auto ref = rpct::test::reference_float64(c, k0, v0, w);
  const auto composed = rpct::test::run_with_grads([&](const torch::Tensor& k, const torch::Tensor& v) {
    return rpct::rpc_attention_composed(k, v, c.n_iter, c.lambda, c.H * c.D);
  }, k0, v0, w, torch::kDouble);
  std::string detail;
  EXPECT_LE(rpct::test::max_scaled_err(composed, ref, &detail), kFp64Tol) << detail;
}

}  // namespace

TEST(RpcAttentionComposed, MatchesFloat64ReferenceAtModelShapes) {
  torch::manual_seed(rpct::test::test_seed());
  expect_matches_reference({2, 3, 197, 64, 4, kLambdaDefault});  // DeiT-Tiny
  expect_matches_reference({1, 3, 197, 64, 4, kLambdaMixed});
  expect_matches_reference({1, 1, 1025, 64, 4, kLambdaDefault});  // Segmenter (one head: the float64 reference is N^2)
}

TEST(RpcAttentionComposed, MatchesFloat64ReferenceAtOddShapes) {
  torch::manual_seed(rpct::test::test_seed());
  for (int64_t n_iter = 0; n_iter <= 6; ++n_iter)
    for (double lambda : {0.0, kLambdaMixed, kLambdaDefault}) expect_matches_reference({2, 3, 7, 5, n_iter, lambda});
  expect_matches_reference({1, 1, 1, 1, 3, kLambdaMixed});
  expect_matches_reference({3, 2, 45, 16, 2, kLambdaMixed});
}

// bfloat16 (CPU SDPA in bf16, PCP state in float32) at the model shapes, against the float64 reference,
// no worse than LibTorch's all-bf16 reference (composed_check.h); the GPU test holds the CUDA path to the
// same rule (test_gpu_attention, GpuComposed).
TEST(RpcAttentionComposed, Bfloat16NoWorseThanTorchBfloat16) {
  const uint64_t seed = rpct::test::test_seed();
  for (const rpct::test::Case& c : {rpct::test::Case{1, 3, 197, 64, 4, kLambdaMixed, torch::kBFloat16},
                                    rpct::test::Case{1, 3, 197, 64, 1, kLambdaMixed, torch::kBFloat16},
                                    rpct::test::Case{1, 1, 1025, 64, 4, kLambdaDefault, torch::kBFloat16}})
    rpct::test::expect_bf16_no_worse_than_torch_bf16(c, torch::kCPU, [&](const torch::Tensor& k, const torch::Tensor& v) {
      return rpct::rpc_attention_composed(k, v, c.n_iter, c.lambda, c.H * c.D);
    }, seed);
}

// All-zero keys: thresh = +inf (lambda > 0) or 0, no gradient through mu; finite and equal to the reference.
TEST(RpcAttentionComposed, AllZeroKeysAreFinite) {
  for (double lambda : {0.0, kLambdaMixed})
    for (int64_t n_iter : {1, 3}) {
      const ComposedCase c{1, 2, 9, 4, n_iter, lambda};
      SCOPED_TRACE(c.str());
      auto k0 = torch::zeros({c.B, c.H, c.N, c.D}, torch::kDouble), v0 = torch::randn_like(k0), w = torch::randn_like(k0);
      const auto ref = rpct::test::reference_float64(c, k0, v0, w);
      const auto got = rpct::test::run_with_grads([&](const torch::Tensor& k, const torch::Tensor& v) {
        return rpct::rpc_attention_composed(k, v, c.n_iter, c.lambda, c.H * c.D);
      }, k0, v0, w, torch::kDouble);
      EXPECT_TRUE(torch::isfinite(got.dk).all().item<bool>());
      EXPECT_LE(rpct::test::max_scaled_err(got, ref), kFp64Tol);
    }
}

// Non-contiguous k, v (the model passes permuted views of the qkv projection) give the contiguous result
// (the PCP steps read K with its strides).
TEST(RpcAttentionComposed, StridedInputsGiveTheContiguousResult) {
  auto kv = torch::randn({2, 11, 2, 3, 8}, torch::kDouble).permute({2, 0, 3, 1, 4}).unbind(0);  // (B, H, N, D) views
  ASSERT_FALSE(kv[0].is_contiguous());
  // Not bit-identical: sum|K| and SDPA reduce in another order for another layout.
  EXPECT_LE(rpct::test::scaled_err(rpct::rpc_attention_composed(kv[0], kv[1], 3, kLambdaMixed, 24),
                                   rpct::rpc_attention_composed(kv[0].contiguous(), kv[1].contiguous(), 3, kLambdaMixed, 24)),
            kFp64Tol);
}

// The memory premise: for the composed op's calls SDPA picks its CPU flash kernel, whose autograd node
// saves q, k, v, out and the row log-sum-exp (O(N D)), not the N x N attention of the math fallback.
TEST(RpcAttentionComposed, SdpaChoiceOnCpuIsFlash) {
  for (auto dtype : {torch::kFloat, torch::kDouble, torch::kBFloat16}) {
    auto k2 = torch::randn({1, 3, 197, 64}).to(dtype).requires_grad_(true), v = torch::randn({1, 3, 197, 64}).to(dtype);
    const auto choice = at::_fused_sdp_choice(k2, k2, v);
    EXPECT_EQ(choice, static_cast<int64_t>(at::SDPBackend::flash_attention)) << dtype;
  }
}

TEST(RpcAttentionComposed, RejectsBadInputs) {
  auto k = torch::randn({1, 1, 4, 3});
  EXPECT_THROW(rpct::rpc_attention_composed(k, torch::randn({1, 1, 4, 2}), 1, 1.0, 3), c10::Error);
  EXPECT_THROW(rpct::rpc_attention_composed(k, k, -1, 1.0, 3), c10::Error);
  EXPECT_THROW(rpct::rpc_attention_composed(k.to(torch::kHalf), k.to(torch::kHalf), 1, 1.0, 3), c10::Error);
  EXPECT_THROW(rpct::rpc_attention_composed(k, k, 1, -1.0, 3), c10::Error);
  EXPECT_THROW(rpct::rpc_attention_composed(k, k, 1, 1.0, 0), c10::Error);
  EXPECT_TRUE(rpct::rpc_attention_composed_supports(k));
  EXPECT_FALSE(rpct::rpc_attention_composed_supports(k.to(torch::kHalf)));
}

// rpc_attention_fused_supports agrees with the CUDA entry's rules (checked here on the table it shares
// with rpc_attention_check_inputs): on CPU every head dim; a CPU build says no for CUDA tensors, so only
// the CPU side and the shared table are visible without a GPU.
TEST(RpcAttentionComposed, FusedSupportsFollowsTheInputCheck) {
  EXPECT_TRUE(rpct::rpc_attention_fused_supports(torch::randn({1, 2, 8, 16})));
  EXPECT_TRUE(rpct::rpc_attention_fused_supports(torch::randn({1, 2, 8, 16}).to(torch::kBFloat16)));  // the bf16 path
  EXPECT_FALSE(rpct::rpc_attention_fused_supports(torch::randn({1, 2, 8, 16}).to(torch::kHalf)));
  EXPECT_FALSE(rpct::rpc_attention_fused_supports(torch::randn({8, 16})));  // not (B, H, N, D)
}

// attention.impl: auto = the fused op on CPU; composed selectable; both agree with the reference module.
TEST(RpcAttentionComposed, ModelImplChoice) {
  EXPECT_EQ(rpct::parse_attention_path("auto"), rpct::AttentionPath::kAuto);
  EXPECT_EQ(rpct::parse_attention_path("composed"), rpct::AttentionPath::kComposed);
  EXPECT_THROW(rpct::parse_attention_path("flash"), std::invalid_argument);
  torch::manual_seed(5);
  rpct::AttentionOptions o;
  o.dim = 32;
  o.heads = 2;
  o.kind = rpct::AttentionKind::kRpc;
  o.rpc_n_iter = 3;
  o.rpc_lambda = kLambdaMixed;
  rpct::Attention reference(o);
  reference->to(torch::kDouble);
  auto x = torch::randn({2, 9, 32}, torch::kDouble);
  std::vector<torch::Tensor> outs;
  for (auto path : {rpct::AttentionPath::kReference, rpct::AttentionPath::kAuto, rpct::AttentionPath::kComposed,
                    rpct::AttentionPath::kFused}) {
    auto opt = o;
    opt.path = path;
    rpct::Attention m(opt);
    m->to(torch::kDouble);
    torch::NoGradGuard ng;
    auto src = reference->named_parameters();
    for (auto& p : m->named_parameters()) p.value().copy_(src[p.key()]);
    outs.push_back(m->forward(x));
  }
  for (size_t i = 1; i < outs.size(); ++i) EXPECT_LE(rpct::test::scaled_err(outs[i], outs[0]), kFp64Tol) << "path " << i;
}
