// Vision Transformer as in DeiT: patch embedding, cls token, learned position embedding,
// pre-LN blocks (attention + GELU MLP) with drop-path, final LayerNorm and a linear head.
#pragma once
#include <torch/torch.h>

#include "models/attention.h"

namespace rpct {

class PatchEmbedImpl : public torch::nn::Module {
 public:
  PatchEmbedImpl(int64_t img_size, int64_t patch, int64_t in_chans, int64_t dim);
  torch::Tensor forward(const torch::Tensor& x);  // (B, Cin, H, W) -> (B, N, C)
  int64_t grid() const { return grid_; }

 private:
  int64_t grid_;
  torch::nn::Conv2d proj_{nullptr};
};
TORCH_MODULE(PatchEmbed);

// Stochastic depth: drops the whole residual branch per sample with probability p (training only).
torch::Tensor drop_path(const torch::Tensor& x, double p, bool training);

class BlockImpl : public torch::nn::Module {
 public:
  BlockImpl(const AttentionOptions& attn, double mlp_ratio, double drop_path, double dropout);
  torch::Tensor forward(const torch::Tensor& x);  // (B, N, C) -> (B, N, C)
  Attention attention() const { return attn_; }

 private:
  double drop_path_;
  torch::nn::LayerNorm norm1_{nullptr}, norm2_{nullptr};
  Attention attn_{nullptr};
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr};
  torch::nn::Dropout mlp_drop_{nullptr};
};
TORCH_MODULE(Block);

struct ViTOptions {
  int64_t img_size = 28;
  int64_t patch = 4;
  int64_t in_chans = 1;
  int64_t num_classes = 10;
  int64_t dim = 96;
  int64_t depth = 4;
  int64_t heads = 3;
  double mlp_ratio = 2.0;
  double drop_path = 0.0;  // at the last block; grows linearly from 0 at the first (DeiT/timm)
  double dropout = 0.0;    // after the position embedding, in the MLP and after the attention projection
  AttentionPlan attention;
};

class ViTImpl : public torch::nn::Module {
 public:
  explicit ViTImpl(const ViTOptions& opt);
  torch::Tensor forward_features(const torch::Tensor& x);  // (B, Cin, H, W) -> (B, 1+N, C)
  torch::Tensor forward(const torch::Tensor& x);           // (B, Cin, H, W) -> (B, classes)
  int64_t num_tokens() const { return num_tokens_; }

 private:
  int64_t num_tokens_;
  PatchEmbed patch_embed_{nullptr};
  torch::Tensor cls_token_, pos_embed_;
  torch::nn::Dropout pos_drop_{nullptr};
  torch::nn::ModuleList blocks_{nullptr};
  torch::nn::LayerNorm norm_{nullptr};
  torch::nn::Linear head_{nullptr};
};
TORCH_MODULE(ViT);

}  // namespace rpct
