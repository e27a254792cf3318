// The ViT: shapes, parameter counts (custom model and DeiT-Tiny), and what its symmetric attention
// computes: scores symmetric in the tokens (read from the blocks' own attention probabilities) and the
// output softmax(K K^T / sqrt(D)) V from the block's own weights.
#include <gtest/gtest.h>

#include <cmath>

#include "models/vit.h"
#include "trainer/classification.h"
#include "trainer/model_options.h"

namespace {

// The model under test, from a config (the one place that constructs a ViT).
rpct::ViT make_vit(const rpct::Config& cfg) { return rpct::ViT(rpct::vit_options(cfg)); }

rpct::Config small_config(const std::string& kind, const std::string& impl = "fused") {
  return rpct::parse_config("model: {img_size: 28, patch: 7, dim: 32, depth: 2, heads: 4, num_classes: 10}\n"
                            "attention: {kind: " + kind + ", impl: " + impl + "}\n",
                            "test.yaml");
}

int64_t count_params(rpct::ViT& m) {
  int64_t n = 0;
  for (const auto& p : m->parameters()) n += p.numel();
  return n;
}

// The attention module of the first block, as the ViT registered it.
std::shared_ptr<rpct::AttentionImpl> first_block_attention(rpct::ViT& m) {
  return std::dynamic_pointer_cast<rpct::AttentionImpl>(m->named_modules()["blocks.0.attn"]);
}

// The attention probabilities A (B, H, N, N) that `attn` applies, read through its own forward (in float64):
// the value projection is set to copy the first N input features and the output projection to the identity,
// and token i's input starts with the one-hot e_i, so V = I in every head and head h's output columns [0, N)
// are A[h]. The rest of each input is random, and the keys come from the module's own key projection (and,
// for softmax attention, the queries from its query projection). Needs N <= head dim.
torch::Tensor attention_probabilities(rpct::AttentionImpl& attn, int64_t B, int64_t N) {
  const int64_t C = attn.options().dim, H = attn.options().heads, D = C / H;
  EXPECT_LE(N, D) << "the one-hot token ids must fit in a head";
  attn.to(torch::kDouble);
  attn.eval();
  {
    torch::NoGradGuard ng;
    auto params = attn.named_parameters();
    auto w = params["qkv.weight"], b = params["qkv.bias"];  // (n_proj * C, C), (n_proj * C): value rows last
    const int64_t v_rows = w.size(0) - C;
    w.narrow(0, v_rows, C).zero_();
    b.narrow(0, v_rows, C).zero_();
    for (int64_t h = 0; h < H; ++h)
      for (int64_t d = 0; d < N; ++d) w[v_rows + h * D + d][d] = 1.0;
    params["proj.weight"].copy_(torch::eye(C, torch::kDouble));
    params["proj.bias"].zero_();
  }
  auto x = torch::randn({B, N, C}, torch::kDouble);                         // (B, N, C)
  x.narrow(2, 0, N).copy_(torch::eye(N, torch::kDouble).expand({B, N, N}));  // token ids
  auto out = attn.forward(x);                                                // (B, N, C)
  return out.reshape({B, N, H, D}).narrow(3, 0, N).permute({0, 2, 1, 3});    // (B, H, N, N)
}

// How far log A is from coming from symmetric scores. With S symmetric, log A_ij = S_ij - c_i
// (c_i = logsumexp_j S_ij), so the antisymmetric part M_ij = log A_ij - log A_ji = c_j - c_i, which means
// M_ij = M_0j - M_0i for every i, j. (A alone fixes S only up to a per-row shift, which softmax ignores;
// this is exactly the observable part of "S is symmetric".) Returns max |M_ij - (M_0j - M_0i)|.
double asymmetry_of_scores(const torch::Tensor& A) {
  auto logA = A.log();                                    // (B, H, N, N)
  auto M = logA - logA.transpose(-1, -2);                 // (B, H, N, N)
  auto row0 = M.narrow(-2, 0, 1);                         // (B, H, 1, N): M_0j
  auto predicted = row0 - row0.transpose(-1, -2);         // (B, H, N, N): M_0j - M_0i
  return (M - predicted).abs().max().item<double>();
}

}  // namespace

TEST(ViT, ShapesForCustomModel) {
  torch::manual_seed(0);
  auto m = make_vit(small_config("softmax"));
  EXPECT_EQ(m->num_tokens(), 1 + 16);
  auto x = torch::randn({3, 1, 28, 28});
  EXPECT_EQ(m->forward(x).sizes(), (std::vector<int64_t>{3, 10}));
  EXPECT_EQ(m->forward_features(x).sizes(), (std::vector<int64_t>{3, 17, 32}));
}

// model.global_pool avg: the head sees the mean of the normalised patch tokens, not the cls token; the same
// parameters (a token-pool checkpoint loads into it).
TEST(ViT, AvgPoolClassifiesTheMeanOfThePatchTokens) {
  auto cfg = small_config("softmax");
  cfg.model.global_pool = "avg";
  torch::manual_seed(0);
  auto avg = make_vit(cfg);
  torch::manual_seed(0);
  auto token = make_vit(small_config("softmax"));
  EXPECT_EQ(count_params(avg), count_params(token));
  avg->eval();
  token->eval();
  auto x = torch::randn({3, 1, 28, 28});
  const auto features = avg->forward_features(x);  // (B, 1 + 16, C)
  auto head = avg->named_parameters();
  const auto expected = torch::nn::functional::linear(features.slice(1, 1).mean(1), head["head.weight"], head["head.bias"]);
  // The same ops on the same values, in another order inside the linear: float32 rounding only.
  constexpr double kFloat32Rounding = 1e-5;
  EXPECT_TRUE(torch::allclose(avg->forward(x), expected, kFloat32Rounding, kFloat32Rounding));
  // the same weights with the cls token classify something else
  EXPECT_TRUE(torch::allclose(token->forward_features(x), features));
  EXPECT_FALSE(torch::allclose(token->forward(x), avg->forward(x), 1e-3, 1e-3));
}

TEST(ViT, SymmetricAttentionHasNoQueryProjection) {
  auto qkv = make_vit(small_config("softmax")), kv = make_vit(small_config("sym"));
  // Each block loses the C x C query weight and its C bias.
  const int64_t C = 32, depth = 2;
  EXPECT_EQ(count_params(qkv) - count_params(kv), depth * (C * C + C));
  auto x = torch::randn({2, 1, 28, 28});
  EXPECT_EQ(kv->forward(x).sizes(), (std::vector<int64_t>{2, 10}));
}

TEST(ViT, DeiTTinyParameterCount) {
  auto m = make_vit(rpct::parse_config(
      "model: {arch: tiny, img_size: 224, patch: 16, in_chans: 3, num_classes: 1000}\n", "tiny.yaml"));
  // DeiT-Tiny (timm vit_tiny_patch16_224): 5,717,416 parameters.
  EXPECT_EQ(count_params(m), 5717416);
  auto x = torch::randn({1, 3, 224, 224});
  EXPECT_EQ(m->forward(x).sizes(), (std::vector<int64_t>{1, 1000}));
}

// float64 throughout: log-probabilities carry ~1e-16 relative rounding; the combination of four of them is
// far below 1e-10. Scores that are not symmetric give O(0.1) or more (checked below on softmax attention).
constexpr double kSymmetricScoresTol = 1e-10;
// Softmax (Q != K) attention with random projections: the asymmetry is of the order of the scores (~1).
constexpr double kAsymmetricScoresMin = 1e-2;

// The ViT's sym attention (fused and reference paths) applies attention probabilities whose scores are
// symmetric in the two tokens; the same probe on softmax attention (separate Q) finds them asymmetric, so the
// probe can fail.
TEST(ViT, SymmetricAttentionScoresAreSymmetric) {
  torch::manual_seed(1);
  const int64_t B = 2, H = 4, N = 8;  // N = head dim (32 / 4 heads)
  for (const char* impl : {"fused", "reference"}) {
    auto m = make_vit(small_config("sym", impl));
    auto A = attention_probabilities(*first_block_attention(m), B, N);  // (B, H, N, N)
    ASSERT_TRUE(A.sum(-1).allclose(torch::ones({B, H, N}, torch::kDouble))) << impl << ": rows are not probabilities";
    EXPECT_LE(asymmetry_of_scores(A), kSymmetricScoresTol) << impl;
  }
  auto softmax = make_vit(small_config("softmax"));
  EXPECT_GE(asymmetry_of_scores(attention_probabilities(*first_block_attention(softmax), B, N)), kAsymmetricScoresMin);
}

// sym attention is softmax(K K^T / sqrt(D)) V with K, V from the block's own kv projection, then the output
// projection: written out here from the module's weights and compared with its forward.
TEST(ViT, SymmetricAttentionIsSoftmaxOfKKt) {
  torch::manual_seed(1);
  auto m = make_vit(small_config("sym"));
  m->eval();
  auto attn = first_block_attention(m);
  ASSERT_NE(attn, nullptr);
  const int64_t B = 2, N = 17, C = 32, H = 4, D = C / H;
  auto x = torch::randn({B, N, C});  // (B, N, C)
  auto params = attn->named_parameters();
  auto kv = torch::nn::functional::linear(x, params["qkv.weight"], params["qkv.bias"]);  // (B, N, 2C)
  auto k = kv.narrow(2, 0, C).reshape({B, N, H, D}).transpose(1, 2);                    // (B, H, N, D)
  auto v = kv.narrow(2, C, C).reshape({B, N, H, D}).transpose(1, 2);                    // (B, H, N, D)
  auto s = torch::matmul(k, k.transpose(-1, -2)) / std::sqrt(static_cast<double>(D));   // (B, H, N, N)
  auto expected = torch::matmul(torch::softmax(s, -1), v).transpose(1, 2).reshape({B, N, C});
  expected = torch::nn::functional::linear(expected, params["proj.weight"], params["proj.bias"]);
  constexpr double kTol = 1e-5;  // float32 fused op vs explicit softmax: summation order only
  EXPECT_TRUE(torch::allclose(attn->forward(x), expected, kTol, kTol));
}
