// The Segmenter model: output shapes of both decoders at the built input size, a non-square size and a
// larger one (both need the position-embedding resize); resize_pos_embed against a bilinear interpolation
// written out here; the ViT at another grid is the ViT with the resized embedding; the mask decoder's
// parameter count and names (Segmenter's); gradients reach every parameter; RPC in decoder block 0 only.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "models/segmenter.h"

namespace {

using rpct::AttentionKind;
using rpct::SegDecoderKind;

// resize_pos_embed vs the hand-written bilinear interpolation, both in float64: they differ only in the
// order of a 4-term weighted sum of values of size ~0.02-1, so a few ulps of 1.
constexpr double kInterpolationTolerance = 1e-12;

constexpr int64_t kPatch = 8;
constexpr int64_t kBuiltSize = 32;  // 4x4 patch grid
constexpr int64_t kClasses = 5;

rpct::SegmenterOptions small_options(SegDecoderKind decoder, int64_t dim = 64) {
  rpct::SegmenterOptions o;
  o.encoder.img_size = kBuiltSize;
  o.encoder.patch = kPatch;
  o.encoder.in_chans = 3;
  o.encoder.dim = dim;
  o.encoder.depth = 2;
  o.encoder.heads = 2;
  o.encoder.mlp_ratio = 2.0;
  o.n_cls = kClasses;
  o.decoder = decoder;
  return o;
}

// One output entry of a bilinear resize with align_corners false (PyTorch's convention): the source
// coordinate of output index i is (i + 0.5) * in/out - 0.5, clamped below at 0; the two neighbours are
// floor(src) and floor(src) + 1 (clamped to the last index).
struct Taps {
  int64_t lo, hi;
  double w_hi;  // weight of `hi`; `lo` gets 1 - w_hi
};
Taps bilinear_taps(int64_t i, int64_t in, int64_t out) {
  const double src = std::max(0.0, (static_cast<double>(i) + 0.5) * static_cast<double>(in) / static_cast<double>(out) - 0.5);
  const auto lo = std::min(static_cast<int64_t>(std::floor(src)), in - 1);
  return {lo, std::min(lo + 1, in - 1), src - static_cast<double>(lo)};
}

// The grid part of pos (1, 1+g*g, C) resized to gh x gw, entry by entry from the formula above: (gh*gw, C).
torch::Tensor bilinear_by_hand(const torch::Tensor& pos, int64_t g, int64_t gh, int64_t gw) {
  auto grid = pos[0].slice(0, 1).reshape({g, g, -1});  // (g, g, C)
  auto out = torch::empty({gh * gw, pos.size(2)}, pos.options());
  for (int64_t y = 0; y < gh; ++y) {
    const Taps ty = bilinear_taps(y, g, gh);
    for (int64_t x = 0; x < gw; ++x) {
      const Taps tx = bilinear_taps(x, g, gw);
      auto row_lo = grid[ty.lo][tx.lo] * (1 - tx.w_hi) + grid[ty.lo][tx.hi] * tx.w_hi;
      auto row_hi = grid[ty.hi][tx.lo] * (1 - tx.w_hi) + grid[ty.hi][tx.hi] * tx.w_hi;
      out[y * gw + x] = row_lo * (1 - ty.w_hi) + row_hi * ty.w_hi;
    }
  }
  return out;
}

std::vector<int64_t> shape(int64_t b, int64_t c, int64_t h, int64_t w) { return {b, c, h, w}; }

int64_t count_params_under(const torch::nn::Module& m, const std::string& prefix) {
  int64_t n = 0;
  for (const auto& p : m.named_parameters())
    if (p.key().rfind(prefix, 0) == 0) n += p.value().numel();
  return n;
}

}  // namespace

TEST(ResizePosEmbed, IdentityAtTheSameGrid) {
  torch::manual_seed(1);
  auto pos = torch::randn({1, 1 + 4 * 4, 8});
  EXPECT_TRUE(torch::equal(rpct::resize_pos_embed(pos, 4, 4), pos));
}

TEST(ResizePosEmbed, KeepsClsAndInterpolatesTheGridBilinearly) {
  torch::manual_seed(2);
  const int64_t g = 4;
  auto pos = torch::randn({1, 1 + g * g, 6}, torch::kDouble);
  // Up, down, and non-square (one side up, the other down).
  for (auto [gh, gw] : std::vector<std::pair<int64_t, int64_t>>{{7, 7}, {3, 3}, {2, 6}}) {
    SCOPED_TRACE(std::to_string(gh) + "x" + std::to_string(gw));
    auto r = rpct::resize_pos_embed(pos, gh, gw);
    ASSERT_EQ(r.sizes(), (std::vector<int64_t>{1, 1 + gh * gw, 6}));
    EXPECT_TRUE(torch::equal(r[0][0], pos[0][0])) << "cls entry changed";
    const double err = (r[0].slice(0, 1) - bilinear_by_hand(pos, g, gh, gw)).abs().max().item<double>();
    EXPECT_LE(err, kInterpolationTolerance);
  }
}

TEST(ResizePosEmbed, RejectsANonSquareSourceGrid) {
  EXPECT_THROW(rpct::resize_pos_embed(torch::zeros({1, 1 + 6, 4}), 3, 3), c10::Error);
}

// At a 6x6 grid, a ViT built for 4x4 computes exactly what a ViT built for 6x6 computes with the same
// weights and the resized position embedding: the forward resizes (rather than e.g. truncating) and
// nothing else changes.
TEST(ViTAtAnotherSize, IsTheViTWithTheResizedPositionEmbedding) {
  torch::manual_seed(3);
  auto opt = small_options(SegDecoderKind::kLinear).encoder;
  rpct::ViT built(opt);
  opt.img_size = 48;
  rpct::ViT big(opt);
  built->eval();
  big->eval();
  {
    torch::NoGradGuard ng;
    auto src = built->named_parameters();
    for (auto& p : big->named_parameters())
      p.value().copy_(p.key() == "pos_embed" ? rpct::resize_pos_embed(src["pos_embed"], 6, 6) : src[p.key()]);
  }
  auto x = torch::randn({2, 3, 48, 48});
  torch::NoGradGuard ng;
  EXPECT_TRUE(torch::equal(built->forward_features(x), big->forward_features(x)));
}

TEST(ViTAtAnotherSize, KvPosRefusesAnotherGrid) {
  auto opt = small_options(SegDecoderKind::kLinear).encoder;
  opt.attention.kind = AttentionKind::kKvPos;
  rpct::ViT vit(opt);
  EXPECT_NO_THROW(vit->forward_features(torch::randn({1, 3, 32, 32})));
  EXPECT_THROW(vit->forward_features(torch::randn({1, 3, 48, 32})), c10::Error);
}

TEST(Segmenter, OutputShapesForBothDecoders) {
  torch::manual_seed(4);
  for (auto kind : {SegDecoderKind::kLinear, SegDecoderKind::kMask}) {
    SCOPED_TRACE(rpct::seg_decoder_kind_name(kind));
    rpct::Segmenter m(small_options(kind));
    m->eval();
    torch::NoGradGuard ng;
    // The built size (grid 4x4), a non-square one (grid 3x6) and a larger one (grid 6x6): both resize.
    for (auto [H, W] : std::vector<std::pair<int64_t, int64_t>>{{32, 32}, {24, 48}, {48, 48}}) {
      SCOPED_TRACE(std::to_string(H) + "x" + std::to_string(W));
      auto y = m->forward(torch::randn({2, 3, H, W}));
      EXPECT_EQ(y.sizes(), shape(2, kClasses, H, W));
      EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
    }
    EXPECT_THROW(m->forward(torch::randn({1, 3, 30, 32})), c10::Error) << "30 is not a multiple of the patch";
  }
}

// The linear decoder's logits are the per-patch head outputs, bilinearly upsampled (align_corners false).
TEST(Segmenter, LinearDecoderIsTheHeadOnThePatchTokensUpsampled) {
  torch::manual_seed(5);
  rpct::Segmenter m(small_options(SegDecoderKind::kLinear));
  m->eval();
  torch::NoGradGuard ng;
  auto x = torch::randn({2, 3, 32, 32});
  auto patches = m->encoder()->forward_features(x).slice(1, 1);  // (2, 16, C)
  auto params = m->named_parameters();
  auto per_patch = torch::matmul(patches, params["decoder.head.weight"].t()) + params["decoder.head.bias"];  // (2, 16, K)
  auto grid = rpct::tokens_to_map(per_patch, 4, 4);                // (2, K, 4, 4)
  auto y = m->forward(x);                                           // (2, K, 32, 32)
  // The head computed here and inside the model differ only in float summation order (logits ~1).
  constexpr double kHeadRounding = 1e-5;
  namespace F = torch::nn::functional;
  auto upsampled = F::interpolate(grid, F::InterpolateFuncOptions().size(std::vector<int64_t>{32, 32})
                                            .mode(torch::kBilinear).align_corners(false));
  EXPECT_LE((y - upsampled).abs().max().item<double>(), kHeadRounding);
  // Anchors of align_corners false at factor 8: pixel j samples (j + 0.5) / 8 - 0.5, clamped to [0, 3], so
  // pixels 0..3 are patch 0 and pixels 28..31 are patch 3 exactly (no neighbour mixed in).
  for (int64_t j : {0, 3}) {
    EXPECT_LE((y.select(2, j).select(2, j) - grid.select(2, 0).select(2, 0)).abs().max().item<double>(), kHeadRounding);
    EXPECT_LE((y.select(2, 28 + j).select(2, 28 + j) - grid.select(2, 3).select(2, 3)).abs().max().item<double>(),
              kHeadRounding);
  }
}

// Every parameter of the mask decoder, written out from Segmenter's MaskTransformer (d = d_enc, MLP 4d).
TEST(Segmenter, MaskDecoderParameterCountAndNames) {
  for (auto kind : {AttentionKind::kSoftmax, AttentionKind::kSym}) {
    SCOPED_TRACE(rpct::attention_kind_name(kind));
    auto opt = small_options(SegDecoderKind::kMask);
    opt.decoder_attention.kind = kind;
    rpct::Segmenter m(opt);
    const int64_t d = opt.encoder.dim, K = kClasses, depth = opt.decoder_depth;
    const int64_t n_proj = kind == AttentionKind::kSoftmax ? 3 : 2;  // QKV, or KV for the symmetric kinds
    const int64_t proj_dec = d * d + d;
    const int64_t cls_emb = K * d;
    const int64_t norm1 = 2 * d, qkv = n_proj * d * d + n_proj * d, attn_proj = d * d + d, norm2 = 2 * d;
    const int64_t fc1 = d * 4 * d + 4 * d, fc2 = 4 * d * d + d;
    const int64_t block = norm1 + qkv + attn_proj + norm2 + fc1 + fc2;
    const int64_t decoder_norm = 2 * d, proj_patch = d * d, proj_classes = d * d, mask_norm = 2 * K;
    const int64_t expected = proj_dec + cls_emb + depth * block + decoder_norm + proj_patch + proj_classes + mask_norm;
    EXPECT_EQ(count_params_under(*m, "decoder."), expected);

    std::set<std::string> names;
    for (const auto& p : m->named_parameters())
      if (p.key().rfind("decoder.", 0) == 0 && p.key().rfind("decoder.blocks.", 0) != 0) names.insert(p.key());
    const std::set<std::string> segmenter_names = {
        "decoder.proj_dec.weight", "decoder.proj_dec.bias", "decoder.cls_emb",
        "decoder.decoder_norm.weight", "decoder.decoder_norm.bias", "decoder.proj_patch",
        "decoder.proj_classes", "decoder.mask_norm.weight", "decoder.mask_norm.bias"};
    EXPECT_EQ(names, segmenter_names);
    EXPECT_EQ(m->named_parameters().find("encoder.head.weight"), nullptr) << "the encoder has no head";
  }
}

TEST(Segmenter, LinearDecoderParameters) {
  auto opt = small_options(SegDecoderKind::kLinear);
  rpct::Segmenter m(opt);
  EXPECT_EQ(count_params_under(*m, "decoder."), opt.encoder.dim * kClasses + kClasses);  // decoder.head
  EXPECT_NE(m->named_parameters().find("decoder.head.weight"), nullptr);
}

// In training mode (dropout on), every parameter of both models gets a defined, finite, non-zero gradient
// from a random linear functional of the logits. The mask decoder runs RPC in its block 0.
TEST(Segmenter, GradientsReachEveryParameter) {
  torch::manual_seed(6);
  for (auto kind : {SegDecoderKind::kLinear, SegDecoderKind::kMask}) {
    SCOPED_TRACE(rpct::seg_decoder_kind_name(kind));
    auto opt = small_options(kind);
    opt.decoder_attention.kind = AttentionKind::kRpc;
    rpct::Segmenter m(opt);
    m->train();
    auto y = m->forward(torch::randn({2, 3, 24, 40}));  // a resized grid: pos_embed is reached through the resize
    (y * torch::randn_like(y)).sum().backward();
    for (const auto& p : m->named_parameters()) {
      SCOPED_TRACE(p.key());
      const auto& g = p.value().grad();
      ASSERT_TRUE(g.defined());
      EXPECT_TRUE(torch::isfinite(g).all().item<bool>());
      EXPECT_GT(g.abs().max().item<double>(), 0.0);
    }
  }
}

// The authors' RPC setup: RPC (n_iter 6, lambda 4) in decoder block 0, symmetric attention in block 1;
// heads = d / 64 (at least one).
TEST(Segmenter, RpcInDecoderBlockZeroOnly) {
  for (int64_t dim : {64, 128, 32}) {
    SCOPED_TRACE("dim " + std::to_string(dim));
    auto opt = small_options(SegDecoderKind::kMask, dim);
    opt.decoder_attention.kind = AttentionKind::kRpc;
    opt.decoder_attention.rpc_layers = {0};
    opt.decoder_attention.rpc_n_iter = 6;
    opt.decoder_attention.rpc_lambda = 4.0;
    rpct::Segmenter m(opt);
    auto dec = m->mask_decoder();
    ASSERT_TRUE(dec);
    ASSERT_EQ(dec->depth(), 2);
    const auto& a0 = dec->block(0)->attention()->options();
    const auto& a1 = dec->block(1)->attention()->options();
    EXPECT_EQ(a0.kind, AttentionKind::kRpc);
    EXPECT_EQ(a0.rpc_n_iter, 6);
    EXPECT_EQ(a0.rpc_lambda, 4.0);
    EXPECT_EQ(a1.kind, AttentionKind::kSym);
    EXPECT_EQ(a0.heads, std::max<int64_t>(1, dim / 64));
    EXPECT_EQ(a0.dim, dim);
    EXPECT_EQ(a0.proj_drop, opt.decoder_dropout);
    // The encoder follows its own plan (softmax here).
    auto enc_attn = std::dynamic_pointer_cast<rpct::AttentionImpl>(m->named_modules()["encoder.blocks.0.attn"]);
    ASSERT_TRUE(enc_attn);
    EXPECT_EQ(enc_attn->options().kind, AttentionKind::kSoftmax);
    // The decoder's attention module is where Segmenter's names put it.
    EXPECT_EQ(std::dynamic_pointer_cast<rpct::AttentionImpl>(m->named_modules()["decoder.blocks.0.attn"]).get(),
              dec->block(0)->attention().get());
  }
}

TEST(Segmenter, DecoderKindNamesAndKvPosRefused) {
  EXPECT_EQ(rpct::parse_seg_decoder_kind("linear"), SegDecoderKind::kLinear);
  EXPECT_EQ(rpct::parse_seg_decoder_kind("mask"), SegDecoderKind::kMask);
  EXPECT_EQ(rpct::seg_decoder_kind_name(SegDecoderKind::kMask), "mask");
  EXPECT_THROW(rpct::parse_seg_decoder_kind("fcn"), c10::Error);
  auto opt = small_options(SegDecoderKind::kMask);
  opt.decoder_attention.kind = AttentionKind::kKvPos;
  EXPECT_THROW(rpct::Segmenter{opt}, c10::Error);
}
