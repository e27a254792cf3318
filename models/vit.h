// Vision Transformer as in DeiT: patch embedding, cls token, learned position embedding,
// pre-LN blocks (attention + GELU MLP) with drop-path, final LayerNorm and a linear head.
// The ViT also runs at input sizes other than the one it was built for (a segmentation encoder on a
// sliding window or a non-square crop): the patch-grid part of the position embedding is then
// resized by bilinear interpolation (resize_pos_embed); at the built size nothing is resized.
#pragma once
#include <torch/torch.h>

#include "models/attention.h"

namespace rpct {

class PatchEmbedImpl : public torch::nn::Module {
 public:
  PatchEmbedImpl(int64_t img_size, int64_t patch, int64_t in_chans, int64_t dim);
  torch::Tensor forward(const torch::Tensor& x);  // (B, Cin, H, W) -> (B, N, C)
  int64_t grid() const { return grid_; }    // patch grid side at the built input size
  int64_t patch() const { return patch_; }  // patch side in pixels

 private:
  int64_t grid_, patch_;
  torch::nn::Conv2d proj_{nullptr};
};
TORCH_MODULE(PatchEmbed);

// Stochastic depth: drops the whole residual branch per sample with probability p (training only).
torch::Tensor drop_path(const torch::Tensor& x, double p, bool training);

// Normal(0, std) truncated to [-2 std, 2 std], in place (timm's trunc_normal_).
void trunc_normal_(torch::Tensor t, double std);

// timm's weight init for every Linear and LayerNorm below `module` (itself excluded): Linear weights
// truncated normal (std .02), biases zero; LayerNorm weight 1, bias 0. Modules in registration order.
void init_linear_and_layernorm(torch::nn::Module& module);

// (B, C, h, w) -> (B, C, out_h, out_w) by bilinear interpolation, align_corners false (torch's default).
torch::Tensor bilinear_resize(const torch::Tensor& x, int64_t out_h, int64_t out_w);

// The position embedding for another patch grid: the patch part of `pos_embed` (1, 1+g*g, C), seen as a
// g x g image with C channels, bilinearly interpolated (align_corners false) to new_grid_h x new_grid_w;
// the cls entry kept as it is. Returns (1, 1+new_grid_h*new_grid_w, C). As Segmenter's/timm's
// resize_pos_embed with one extra token.
torch::Tensor resize_pos_embed(const torch::Tensor& pos_embed, int64_t new_grid_h, int64_t new_grid_w);

class BlockImpl : public torch::nn::Module {
 public:
  // norm_eps: the LayerNorms' epsilon (1e-6 as timm's ViT; Segmenter's decoder blocks use torch's 1e-5).
  BlockImpl(const AttentionOptions& attn, double mlp_ratio, double drop_path, double dropout, double norm_eps = 1e-6);
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
  int64_t num_classes = 10;  // 0: no head (a feature encoder); forward then returns the cls features
  int64_t dim = 96;
  int64_t depth = 4;
  int64_t heads = 3;
  double mlp_ratio = 2.0;
  double drop_path = 0.0;  // at the last block; grows linearly from 0 at the first (DeiT/timm)
  double dropout = 0.0;    // after the position embedding, in the MLP and after the attention projection
  // What the head classifies: the cls token (DeiT) or the mean of the patch tokens after the final norm (as
  // Swin; timm's global_pool='avg' normalises after pooling instead). With avg every patch token is trained
  // to carry the class, a better start for a segmentation encoder (configs/fmnist_seg.yaml).
  bool avg_pool = false;
  // The encoder LayerNorms' epsilon (the blocks' norm1 / norm2 and the final norm): timm's and DeiT's 1e-6;
  // Segmenter's encoder (and the RPC authors' Segmenter) uses torch's default 1e-5.
  double ln_eps = 1e-6;
  AttentionPlan attention;
};

class ViTImpl : public torch::nn::Module {
 public:
  explicit ViTImpl(const ViTOptions& opt);
  // (B, Cin, H, W) -> (B, 1+N, C) after the final norm, N = (H/patch) * (W/patch). At an input whose patch
  // grid is not the built one, the position embedding is resized (not possible with kvpos attention, whose
  // relative-position table is tied to the built grid).
  torch::Tensor forward_features(const torch::Tensor& x);
  torch::Tensor forward(const torch::Tensor& x);  // (B, Cin, H, W) -> (B, classes), or (B, C) without a head
  int64_t num_tokens() const { return num_tokens_; }  // at the built input size
  int64_t patch() const { return patch_embed_->patch(); }
  int64_t dim() const { return dim_; }

 private:
  int64_t num_tokens_, dim_;
  bool avg_pool_;
  bool has_kvpos_;  // some block uses kvpos attention (fixed grid)
  PatchEmbed patch_embed_{nullptr};
  torch::Tensor cls_token_, pos_embed_;
  torch::nn::Dropout pos_drop_{nullptr};
  torch::nn::ModuleList blocks_{nullptr};
  torch::nn::LayerNorm norm_{nullptr};
  torch::nn::Linear head_{nullptr};
};
TORCH_MODULE(ViT);

}  // namespace rpct
