// The attention variants (softmax, sym, kvpos, rpc) as modules and as functions: forward and
// gradients w.r.t. every input against the float64 LibTorch-ops reference (kvpos, which has no fused
// path, against its formula written out here from the module's parameters); kvpos bias structure;
// dropout on the last RPC iteration only; per-layer variant choice in the ViT.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "tests/kernels/attention_errors.h"
#include "tests/test_seed.h"
#include "kernels/rpc_attention/rpc_attention.h"
#include "models/attention.h"
#include "models/vit.h"
#include "trainer/classification.h"
#include "trainer/model_options.h"
#include "trainer/runtime.h"

using rpct::test::rel_norm_err;
using rpct::test::scaled_err;

namespace {

// float64 vs float64 reference: same formula, different kernels / summation order (SDPA's flash kernel,
// the fused RPC kernel); a few ulp amplified through <= 6 iterations and two projections.
constexpr double kFp64Tol = 1e-9;
// float32 (fused or SDPA) vs the float64 reference: float32 rounding through the projections and
// up to 4 attention iterations at N <= 197, relative to the tensor scale.
constexpr double kFp32Tol = 2e-4;
// float32 gradients by relative Frobenius norm: a soft-threshold mask bit can flip within float32
// rounding of thresh (one gradient element changes by O(1)); a wrong formula gives > 1e-1.
constexpr double kFp32GradRelNorm = 2e-3;

rpct::AttentionOptions options(rpct::AttentionKind kind, int64_t heads, int64_t head_dim, int64_t grid,
                               rpct::AttentionPath path) {
  rpct::AttentionOptions o;
  o.dim = heads * head_dim;
  o.heads = heads;
  o.kind = kind;
  o.grid = grid;
  o.rpc_n_iter = 4;
  o.rpc_lambda = 4.0;
  o.path = path;
  return o;
}

// Runs `under_test` (in `dtype`) and `reference` (a float64 function of x that reads the parameters of
// `ref`, a float64 module holding the same parameters) on the same input; compares the outputs, dL/dx and
// the gradient of every parameter (by name) for L = sum(out * w) with a random cotangent w.
using ReferenceFn = std::function<torch::Tensor(const torch::Tensor&)>;
void compare_with_reference(rpct::Attention& under_test, rpct::Attention& ref, const ReferenceFn& reference,
                            int64_t B, int64_t N, torch::ScalarType dtype) {
  const int64_t C = under_test->options().dim;
  auto x0 = torch::randn({B, N, C}, torch::kDouble);  // (B, N, C)
  auto w = torch::randn({B, N, C}, torch::kDouble);   // cotangent, (B, N, C)
  auto x = x0.to(dtype).clone().requires_grad_(true), xr = x0.clone().requires_grad_(true);
  auto out = under_test->forward(x), outr = reference(xr);
  (out * w.to(dtype)).sum().backward();
  (outr * w).sum().backward();
  const bool f32 = dtype == torch::kFloat;
  EXPECT_LE(scaled_err(out, outr), f32 ? kFp32Tol : kFp64Tol) << "output";
  auto grad_ok = [&](const torch::Tensor& a, const torch::Tensor& b, const std::string& what) {
    ASSERT_TRUE(a.defined() && b.defined()) << what << ": no gradient";
    if (f32) EXPECT_LE(rel_norm_err(a, b), kFp32GradRelNorm) << what;
    else EXPECT_LE(scaled_err(a, b), kFp64Tol) << what;
  };
  grad_ok(x.grad(), xr.grad(), "dx");
  auto pr = ref->named_parameters();
  for (auto& p : under_test->named_parameters()) grad_ok(p.value().grad(), pr[p.key()].grad(), "d" + p.key());
}

// A float64 copy of `m`'s parameters in a module built from `o`.
rpct::Attention float64_copy(const rpct::Attention& m, const rpct::AttentionOptions& o) {
  rpct::Attention copy(o);
  torch::NoGradGuard ng;
  auto src = m->named_parameters();
  for (auto& p : copy->named_parameters()) p.value().copy_(src[p.key()]);
  copy->to(torch::kDouble);
  return copy;
}

// The module on `path` (in `dtype`) against the reference module (path kReference) in float64 with the same
// parameters: output, dL/dx and every parameter's gradient.
void check_module(rpct::AttentionPath path, rpct::AttentionKind kind, int64_t B, int64_t N, int64_t H, int64_t D,
                  int64_t grid, int n_iter, double lambda, torch::ScalarType dtype) {
  SCOPED_TRACE(std::string(path == rpct::AttentionPath::kComposed ? "composed " : "fused ") +
               rpct::attention_kind_name(kind) + " B=" + std::to_string(B) + " N=" + std::to_string(N) +
               " H=" + std::to_string(H) + " D=" + std::to_string(D) + " n_iter=" + std::to_string(n_iter) +
               " lambda=" + std::to_string(lambda) + (dtype == torch::kFloat ? " float32" : " float64"));
  auto o = options(kind, H, D, grid, path);
  o.rpc_n_iter = n_iter;
  o.rpc_lambda = lambda;
  rpct::Attention fused(o);
  o.path = rpct::AttentionPath::kReference;
  auto ref = float64_copy(fused, o);
  fused->to(dtype);
  compare_with_reference(fused, ref, [&](const torch::Tensor& x) { return ref->forward(x); }, B, N, dtype);
}

// kvpos written out in the test from the module's parameters (tokens: optional cls first, then patches in
// row-major order on a g x g grid): K, V = split(x W^T + b); bias[h, i, j] = table[h, index(i, j)] with the
// index of a patch pair given by its offset (dy, dx) = (yi - yj, xi - xj) as (dy + g-1) * (2g-1) + (dx + g-1),
// and the three entries after the (2g-1)^2 offsets for cls -> patch, patch -> cls, cls -> cls; then
// softmax(K K^T / sqrt(D) + bias) V per head, heads concatenated, the output projection.
torch::Tensor kvpos_by_hand(rpct::Attention& attn, const torch::Tensor& x, int64_t g, bool with_cls) {
  const int64_t B = x.size(0), N = x.size(1), C = x.size(2), H = attn->options().heads, D = C / H;
  const int64_t R = (2 * g - 1) * (2 * g - 1), first_patch = with_cls ? 1 : 0;
  auto index = torch::empty({N, N}, torch::kLong);  // (N, N) into the table
  auto idx = index.accessor<int64_t, 2>();
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = 0; j < N; ++j) {
      const bool cls_i = with_cls && i == 0, cls_j = with_cls && j == 0;
      if (cls_i && cls_j) idx[i][j] = R + 2;
      else if (cls_i) idx[i][j] = R;
      else if (cls_j) idx[i][j] = R + 1;
      else {
        const int64_t pi = i - first_patch, pj = j - first_patch;
        const int64_t dy = pi / g - pj / g, dx = pi % g - pj % g;
        idx[i][j] = (dy + g - 1) * (2 * g - 1) + (dx + g - 1);
      }
    }
  auto params = attn->named_parameters();
  auto table = params["rel_pos_table"];  // (H, R + 3)
  auto bias = table.index_select(1, index.reshape({-1})).reshape({H, N, N});
  auto kv = torch::nn::functional::linear(x, params["qkv.weight"], params["qkv.bias"]);  // (B, N, 2C)
  auto heads = [&](int64_t part) { return kv.narrow(2, part * C, C).reshape({B, N, H, D}).transpose(1, 2); };
  auto k = heads(0), v = heads(1);  // (B, H, N, D)
  auto scores = torch::matmul(k, k.transpose(-1, -2)) / std::sqrt(static_cast<double>(D)) + bias;  // (B, H, N, N)
  auto out = torch::matmul(torch::softmax(scores, -1), v).transpose(1, 2).reshape({B, N, C});      // (B, N, C)
  return torch::nn::functional::linear(out, params["proj.weight"], params["proj.bias"]);
}

// The ViT under test, built from a YAML config text (the one place that constructs a ViT).
rpct::ViT make_vit(const std::string& yaml) { return rpct::ViT(rpct::vit_options(rpct::parse_config(yaml, "t.yaml"))); }

}  // namespace

// Softmax (QKV) through LibTorch's SDPA vs the explicit float64 reference: output and grads w.r.t. q, k, v.
TEST(AttentionVariants, SoftmaxSdpaMatchesReference) {
  torch::manual_seed(rpct::test::test_seed());
  for (int64_t N : {1, 7, 197})
    for (int64_t D : {1, 16, 64})
      for (auto dtype : {torch::kDouble, torch::kFloat}) {
        SCOPED_TRACE("N=" + std::to_string(N) + " D=" + std::to_string(D));
        const int64_t B = 2, H = N == 197 ? 1 : 3;
        std::vector<torch::Tensor> in, inr;
        for (int i = 0; i < 3; ++i) {
          auto t = torch::randn({B, H, N, D}, torch::kDouble);
          in.push_back(t.to(dtype).clone().requires_grad_(true));
          inr.push_back(t.clone().requires_grad_(true));
        }
        auto w = torch::randn({B, H, N, D}, torch::kDouble);  // cotangent
        auto out = at::scaled_dot_product_attention(in[0], in[1], in[2]);     // (B, H, N, D)
        auto outr = rpct::softmax_attention_reference(inr[0], inr[1], inr[2]);  // (B, H, N, D)
        (out * w.to(dtype)).sum().backward();
        (outr * w).sum().backward();
        const double tol = dtype == torch::kFloat ? kFp32Tol : kFp64Tol;
        EXPECT_LE(scaled_err(out, outr), tol) << "output";
        for (int i = 0; i < 3; ++i) EXPECT_LE(scaled_err(in[i].grad(), inr[i].grad()), tol) << "input " << i;
      }
}

// Every variant with a fused path as a module: fused and composed (float64 and float32) vs the reference
// path in float64, output and gradients w.r.t. the input and every parameter. (kvpos has only the reference
// path: below.)
TEST(AttentionVariants, ModulesMatchFloat64Reference) {
  torch::manual_seed(rpct::test::test_seed());
  using K = rpct::AttentionKind;
  for (auto path : {rpct::AttentionPath::kFused, rpct::AttentionPath::kComposed})
    for (auto dtype : {torch::kDouble, torch::kFloat}) {
      for (auto kind : {K::kSoftmax, K::kSym, K::kRpc}) {
        check_module(path, kind, 2, 7, 3, 16, 0, 1, 0.5, dtype);
        check_module(path, kind, 1, 1, 2, 1, 0, 6, 0.0, dtype);
        check_module(path, kind, 1, 197, 2, 16, 0, 4, 4.0, dtype);  // D = 64 at N = 197: test_rpc_attention
      }
    }
}

// kvpos as a module (float64 and float32) against the formula written out in this test (kvpos_by_hand) in
// float64 from the module's own parameters: output and gradients w.r.t. the input, the projections and the
// bias table; with a cls token (N = 1 + g^2) and without (N = g^2: the patch entries only). The table is
// redrawn at unit scale (its init is std .02) so that a bias with a wrong index, a transposed offset or no
// bias at all moves the output far beyond the tolerances.
TEST(AttentionVariants, KvPosModuleMatchesTheFormulaFromItsParameters) {
  torch::manual_seed(rpct::test::test_seed());
  struct Shape { int64_t B, H, D, g; };
  for (auto dtype : {torch::kDouble, torch::kFloat})
    for (const Shape& c : {Shape{2, 3, 16, 2}, Shape{1, 2, 16, 14}, Shape{2, 2, 5, 3}})
      for (bool with_cls : {true, false}) {
        const int64_t N = (with_cls ? 1 : 0) + c.g * c.g;
        SCOPED_TRACE("B=" + std::to_string(c.B) + " H=" + std::to_string(c.H) + " D=" + std::to_string(c.D) +
                     " g=" + std::to_string(c.g) + " N=" + std::to_string(N) +
                     (dtype == torch::kFloat ? " float32" : " float64"));
        auto o = options(rpct::AttentionKind::kKvPos, c.H, c.D, c.g, rpct::AttentionPath::kFused);
        rpct::Attention attn(o);
        {
          torch::NoGradGuard ng;
          auto table = attn->named_parameters()["rel_pos_table"];
          table.copy_(torch::randn(table.sizes()));
        }
        auto ref = float64_copy(attn, o);
        attn->to(dtype);
        compare_with_reference(
            attn, ref, [&](const torch::Tensor& x) { return kvpos_by_hand(ref, x, c.g, with_cls); }, c.B, N, dtype);
      }
}

// kvpos: the bias depends only on (dy, dx) between patches; cls<->patch pairs have their own entries.
TEST(AttentionVariants, KvPosBiasIsRelativeAndAsymmetric) {
  torch::manual_seed(rpct::test::test_seed());
  const int64_t g = 3, H = 2, N = 1 + g * g;
  rpct::Attention attn(options(rpct::AttentionKind::kKvPos, H, 4, g, rpct::AttentionPath::kFused));
  auto table = attn->named_parameters()["rel_pos_table"];
  ASSERT_EQ(table.sizes(), (std::vector<int64_t>{H, (2 * g - 1) * (2 * g - 1) + 3}));
  {
    torch::NoGradGuard ng;
    table.copy_(torch::arange(table.numel(), torch::kFloat).reshape(table.sizes()));  // all entries distinct
  }
  auto bias = attn->relative_position_bias();  // (H, N, N)
  ASSERT_EQ(bias.sizes(), (std::vector<int64_t>{H, N, N}));
  auto b = bias.accessor<float, 3>();
  for (int64_t h = 0; h < H; ++h)
    for (int64_t i = 1; i < N; ++i)
      for (int64_t j = 1; j < N; ++j) {
        const int64_t dy = (i - 1) / g - (j - 1) / g, dx = (i - 1) % g - (j - 1) % g;
        const int64_t want = h * table.size(1) + (dy + g - 1) * (2 * g - 1) + (dx + g - 1);
        EXPECT_EQ(b[h][i][j], static_cast<float>(want));
      }
  const float R = (2 * g - 1) * (2 * g - 1);
  for (int64_t j = 1; j < N; ++j) {
    EXPECT_EQ(b[0][0][j], R);      // cls -> patch
    EXPECT_EQ(b[0][j][0], R + 1);  // patch -> cls
  }
  EXPECT_EQ(b[0][0][0], R + 2);  // cls -> cls
  EXPECT_NE(b[0][1][2], b[0][2][1]);  // (dy, dx) = (0, -1) vs (0, 1): asymmetric scores
}

// Attention dropout acts on the last RPC iteration only: the reference equals a loop that applies
// dropout on its last iteration with the same RNG state (and differs from the no-dropout output).
TEST(AttentionVariants, RpcDropoutOnLastIterationOnly) {
  const int64_t B = 2, H = 2, N = 6, D = 4, C = H * D, n_iter = 3;
  const double p = 0.3, lambda = 0.5;
  auto k = torch::randn({B, H, N, D}, torch::kDouble), v = torch::randn({B, H, N, D}, torch::kDouble);
  torch::manual_seed(7);
  auto with_drop = rpct::rpc_attention_reference(k, v, n_iter, lambda, C, p, /*training=*/true);
  torch::manual_seed(7);
  auto thresh = rpct::rpc_threshold_reference(k, lambda, C);
  auto L = torch::zeros_like(k), Y = torch::zeros_like(k);
  for (int64_t it = 0; it < n_iter; ++it) {
    auto x = k - L + Y;
    auto S = torch::sign(x) * torch::relu(x.abs() - thresh);
    auto K2 = k - S - Y;
    auto A = torch::softmax(torch::matmul(K2, K2.transpose(-2, -1)) / std::sqrt(double(D)), -1);
    if (it == n_iter - 1) A = torch::dropout(A, p, true);
    L = torch::matmul(A, v);
    Y = Y + (k - L - S);
  }
  EXPECT_LE(scaled_err(with_drop, L), kFp64Tol);
  EXPECT_GT(scaled_err(with_drop, rpct::rpc_attention_reference(k, v, n_iter, lambda, C)), 1e-3);
}

// A training module with attn_drop > 0 takes the reference (dropout) path; with attn_drop = 0 training and
// eval agree (the fused op is deterministic).
TEST(AttentionVariants, ModuleDropoutUsesReferencePath) {
  torch::manual_seed(rpct::test::test_seed());
  auto o = options(rpct::AttentionKind::kRpc, 2, 8, 0, rpct::AttentionPath::kFused);
  o.attn_drop = 0.5;
  rpct::Attention attn(o);
  auto x = torch::randn({2, 9, 16});
  attn->eval();
  auto eval_out = attn->forward(x);
  attn->train();
  EXPECT_GT(scaled_err(attn->forward(x), eval_out), 1e-4);
  o.attn_drop = 0.0;
  rpct::Attention nodrop(o);
  nodrop->train();
  auto a = nodrop->forward(x);
  nodrop->eval();
  EXPECT_LE(scaled_err(a, nodrop->forward(x)), 0.0);
}

// The ViT picks RPC for the configured layers and sym elsewhere; fused and reference models agree.
TEST(AttentionVariants, ViTChoosesPerLayerAndImplsAgree) {
  auto cfg_text = [](const std::string& impl) {
    return "model: {img_size: 28, patch: 7, dim: 32, depth: 3, heads: 4, num_classes: 10}\n"
           "attention: {kind: rpc, impl: " + impl + ", rpc: {n_iter: 2, lambda: 4, layers: [1]}}\n";
  };
  auto cfg = rpct::parse_config(cfg_text("fused"), "t.yaml");
  for (int i = 0; i < 3; ++i) {
    auto o = rpct::vit_options(cfg).attention.for_block(i, /*dim=*/32, /*heads=*/4, /*grid=*/4, /*proj_drop=*/0.0);
    EXPECT_EQ(o.kind, i == 1 ? rpct::AttentionKind::kRpc : rpct::AttentionKind::kSym) << "block " << i;
    EXPECT_EQ(o.path, rpct::AttentionPath::kFused);
  }
  torch::manual_seed(3);
  auto fused = make_vit(cfg_text("fused"));
  torch::manual_seed(3);
  auto ref = make_vit(cfg_text("reference"));
  fused->eval();
  ref->eval();
  auto x = torch::randn({2, 1, 28, 28});
  EXPECT_LE(scaled_err(fused->forward(x), ref->forward(x)), kFp32Tol);
  for (auto kind : {"kvpos", "sym", "softmax"}) {
    auto m = make_vit("model: {img_size: 28, patch: 7, dim: 32, depth: 2, heads: 4, num_classes: 10}\n"
                      "attention: {kind: " + std::string(kind) + "}\n");
    auto y = m->forward(x);
    EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 10})) << kind;
    y.sum().backward();
    for (auto& p : m->parameters()) EXPECT_TRUE(p.grad().defined() && torch::isfinite(p.grad()).all().item<bool>());
  }
}

// Under CPU bfloat16 autocast (train.precision bf16) the in-projection yields bf16 K and V, and a sym / RPC layer
// on the fused path must run the fused op's bf16 path (not fall back to the LibTorch-ops reference): the module's
// output equals, bit for bit, the same steps written out with rpc_attention on the bf16 K and V; the gradients
// reach the float32 weights.
TEST(AttentionVariants, Bf16AutocastRunsTheFusedOp) {
  torch::manual_seed(rpct::test::test_seed());
  for (auto kind : {rpct::AttentionKind::kRpc, rpct::AttentionKind::kSym}) {
    auto o = options(kind, 2, 8, 0, rpct::AttentionPath::kFused);
    rpct::Attention attn(o);
    attn->eval();
    auto x = torch::randn({2, 9, 16});
    torch::Tensor out, expected;
    {
      rpct::AutocastScope autocast("bf16", torch::kCPU);
      out = attn->forward(x);
      auto children = attn->named_children();
      auto qkv = children["qkv"]->as<torch::nn::Linear>()->forward(x);
      ASSERT_EQ(qkv.scalar_type(), torch::kBFloat16);
      auto parts = qkv.reshape({2, 9, 2, 2, 8}).permute({2, 0, 3, 1, 4}).unbind(0);
      const int64_t n_iter = kind == rpct::AttentionKind::kRpc ? o.rpc_n_iter : 0;
      auto y = rpct::rpc_attention(parts[0], parts[1], n_iter, o.rpc_lambda, 16);
      ASSERT_EQ(y.scalar_type(), torch::kBFloat16);
      expected = children["proj"]->as<torch::nn::Linear>()->forward(y.transpose(1, 2).reshape({2, 9, 16}));
    }
    EXPECT_TRUE(torch::equal(out, expected)) << rpct::attention_kind_name(kind);
    out.to(torch::kFloat).sum().backward();
    for (auto& p : attn->parameters()) {
      ASSERT_TRUE(p.grad().defined());
      EXPECT_EQ(p.grad().scalar_type(), torch::kFloat);
      EXPECT_TRUE(torch::isfinite(p.grad()).all().item<bool>());
    }
  }
}
