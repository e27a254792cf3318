// Segmenter: ViT encoder + linear / mask-transformer decoder (see segmenter.h).
#include "models/segmenter.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace rpct {

SegDecoderKind parse_seg_decoder_kind(const std::string& name) {
  if (name == "linear") return SegDecoderKind::kLinear;
  if (name == "mask") return SegDecoderKind::kMask;
  TORCH_CHECK(false, "segmenter decoder '", name, "' is not one of: linear, mask");
}

std::string seg_decoder_kind_name(SegDecoderKind kind) { return kind == SegDecoderKind::kLinear ? "linear" : "mask"; }

torch::Tensor tokens_to_map(const torch::Tensor& tokens, int64_t grid_h, int64_t grid_w) {
  TORCH_CHECK(tokens.dim() == 3 && tokens.size(1) == grid_h * grid_w, "tokens_to_map: ", tokens.sizes(),
              " is not (B, ", grid_h, "*", grid_w, ", K)");
  return tokens.transpose(1, 2).reshape({tokens.size(0), tokens.size(2), grid_h, grid_w});  // (B, K, gh, gw)
}

DecoderLinearImpl::DecoderLinearImpl(int64_t d_encoder, int64_t n_cls) {
  head_ = register_module("head", torch::nn::Linear(d_encoder, n_cls));
  init_linear_and_layernorm(*this);
}

torch::Tensor DecoderLinearImpl::forward(const torch::Tensor& patches, int64_t grid_h, int64_t grid_w) {
  return tokens_to_map(head_->forward(patches), grid_h, grid_w);  // (B, N, n_cls) -> (B, n_cls, gh, gw)
}

MaskTransformerImpl::MaskTransformerImpl(int64_t d_encoder, int64_t n_cls, int64_t depth, double drop_path,
                                         double dropout, const AttentionPlan& attention)
    : n_cls_(n_cls) {
  TORCH_CHECK(attention.kind != AttentionKind::kKvPos,
              "segmenter mask decoder: attention kind 'kvpos' is not supported (its tokens are patches and class "
              "embeddings, not a cls token and a fixed grid)");
  TORCH_CHECK(n_cls >= 1 && depth >= 1, "segmenter mask decoder: needs n_cls >= 1 and depth >= 1");
  const int64_t d = d_encoder, heads = std::max<int64_t>(1, d / 64);
  // Segmenter's blocks use torch's LayerNorm default epsilon, as do decoder_norm and mask_norm.
  constexpr double kTorchLayerNormEps = 1e-5;
  constexpr double kMlpRatio = 4.0;
  proj_dec_ = register_module("proj_dec", torch::nn::Linear(d_encoder, d));
  cls_emb_ = register_parameter("cls_emb", torch::zeros({1, n_cls, d}));
  blocks_ = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < depth; ++i) {
    const double dp = depth > 1 ? drop_path * static_cast<double>(i) / static_cast<double>(depth - 1) : drop_path;
    blocks_->push_back(Block(attention.for_block(static_cast<int>(i), d, heads, /*grid=*/0, dropout), kMlpRatio, dp,
                             dropout, kTorchLayerNormEps));
  }
  decoder_norm_ = register_module("decoder_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}).eps(kTorchLayerNormEps)));
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  proj_patch_ = register_parameter("proj_patch", torch::randn({d, d}) * scale);
  proj_classes_ = register_parameter("proj_classes", torch::randn({d, d}) * scale);
  mask_norm_ = register_module("mask_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({n_cls}).eps(kTorchLayerNormEps)));
  init_linear_and_layernorm(*this);
  torch::NoGradGuard no_grad;
  trunc_normal_(cls_emb_, 0.02);
}

torch::Tensor MaskTransformerImpl::forward(const torch::Tensor& patches, int64_t grid_h, int64_t grid_w) {
  const int64_t N = patches.size(1);
  auto x = proj_dec_->forward(patches);                                         // (B, N, d)
  x = torch::cat({x, cls_emb_.expand({x.size(0), -1, -1})}, 1);                 // (B, N + n_cls, d)
  for (const auto& b : *blocks_) x = b->as<Block>()->forward(x);
  x = decoder_norm_->forward(x);
  auto patch_feat = torch::matmul(x.narrow(1, 0, N), proj_patch_);             // (B, N, d)
  auto class_feat = torch::matmul(x.narrow(1, N, n_cls_), proj_classes_);      // (B, n_cls, d)
  patch_feat = patch_feat / patch_feat.norm(2, {-1}, /*keepdim=*/true);
  class_feat = class_feat / class_feat.norm(2, {-1}, /*keepdim=*/true);
  auto masks = mask_norm_->forward(torch::matmul(patch_feat, class_feat.transpose(1, 2)));  // (B, N, n_cls)
  return tokens_to_map(masks, grid_h, grid_w);                                  // (B, n_cls, gh, gw)
}

SegmenterImpl::SegmenterImpl(const SegmenterOptions& opt) : opt_(opt) {
  ViTOptions enc = opt.encoder;
  enc.num_classes = 0;  // a feature encoder: Segmenter never uses the classification head
  encoder_ = register_module("encoder", ViT(enc));
  if (opt.decoder == SegDecoderKind::kLinear) {
    linear_ = register_module("decoder", DecoderLinear(enc.dim, opt.n_cls));
  } else {
    mask_ = register_module("decoder", MaskTransformer(enc.dim, opt.n_cls, opt.decoder_depth, opt.decoder_drop_path,
                                                       opt.decoder_dropout, opt.decoder_attention));
  }
}

torch::Tensor SegmenterImpl::forward_patch_logits(const torch::Tensor& x) {
  const int64_t p = encoder_->patch();
  TORCH_CHECK(x.dim() == 4 && x.size(2) % p == 0 && x.size(3) % p == 0, "segmenter: input ", x.sizes(),
              " is not (B, C, H, W) with H and W multiples of the patch ", p);
  const int64_t grid_h = x.size(2) / p, grid_w = x.size(3) / p;
  auto patches = encoder_->forward_features(x).slice(1, 1);  // (B, gh*gw, C): the cls token dropped
  return linear_ ? linear_->forward(patches, grid_h, grid_w)
                 : mask_->forward(patches, grid_h, grid_w);  // (B, n_cls, gh, gw)
}

torch::Tensor SegmenterImpl::forward(const torch::Tensor& x) {
  return bilinear_resize(forward_patch_logits(x), x.size(2), x.size(3));  // (B, n_cls, H, W)
}

}  // namespace rpct
