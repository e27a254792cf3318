#include "models/vit.h"

namespace rpct {

PatchEmbedImpl::PatchEmbedImpl(int64_t img_size, int64_t patch, int64_t in_chans, int64_t dim)
    : grid_(img_size / patch) {
  proj_ = register_module("proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(in_chans, dim, patch).stride(patch)));
}

torch::Tensor PatchEmbedImpl::forward(const torch::Tensor& x) {
  return proj_->forward(x).flatten(2).transpose(1, 2);  // (B, C, g, g) -> (B, g*g, C)
}

// Normal(0, std) truncated to [-2 std, 2 std] by resampling the values outside (timm's init).
static void trunc_normal_(torch::Tensor t, double std) {
  t.normal_(0.0, std);
  for (int round = 0; round < 16; ++round) {
    auto outside = t.abs() > 2.0 * std;
    if (!outside.any().item<bool>()) return;
    t.masked_scatter_(outside, torch::empty_like(t).normal_(0.0, std).masked_select(outside));
  }
  t.clamp_(-2.0 * std, 2.0 * std);
}

torch::Tensor drop_path(const torch::Tensor& x, double p, bool training) {
  if (!training || p <= 0.0) return x;
  const double keep = 1.0 - p;
  std::vector<int64_t> shape(x.dim(), 1);
  shape[0] = x.size(0);
  auto mask = torch::empty(shape, x.options()).bernoulli_(keep);
  return x * mask / keep;
}

BlockImpl::BlockImpl(const AttentionOptions& attn, double mlp_ratio, double drop_path, double dropout)
    : drop_path_(drop_path) {
  const int64_t C = attn.dim, hidden = static_cast<int64_t>(C * mlp_ratio);
  norm1_ = register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({C}).eps(1e-6)));
  attn_ = register_module("attn", Attention(attn));
  norm2_ = register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({C}).eps(1e-6)));
  fc1_ = register_module("fc1", torch::nn::Linear(C, hidden));
  fc2_ = register_module("fc2", torch::nn::Linear(hidden, C));
  mlp_drop_ = register_module("mlp_drop", torch::nn::Dropout(dropout));
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x) {
  auto h = x + drop_path(attn_->forward(norm1_->forward(x)), drop_path_, is_training());
  auto m = mlp_drop_->forward(fc2_->forward(mlp_drop_->forward(torch::gelu(fc1_->forward(norm2_->forward(h))))));
  return h + drop_path(m, drop_path_, is_training());
}

ViTImpl::ViTImpl(const ViTOptions& m) {
  patch_embed_ = register_module("patch_embed", PatchEmbed(m.img_size, m.patch, m.in_chans, m.dim));
  const int64_t grid = patch_embed_->grid();
  num_tokens_ = 1 + grid * grid;
  cls_token_ = register_parameter("cls_token", torch::zeros({1, 1, m.dim}));
  pos_embed_ = register_parameter("pos_embed", torch::zeros({1, num_tokens_, m.dim}));
  pos_drop_ = register_module("pos_drop", torch::nn::Dropout(m.dropout));
  blocks_ = register_module("blocks", torch::nn::ModuleList());
  for (int i = 0; i < m.depth; ++i) {
    // Stochastic depth rate grows linearly with depth, as in DeiT/timm.
    const double dp = m.depth > 1 ? m.drop_path * i / (m.depth - 1) : m.drop_path;
    blocks_->push_back(Block(m.attention.for_block(i, m.dim, m.heads, grid, m.dropout), m.mlp_ratio, dp, m.dropout));
  }
  norm_ = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({m.dim}).eps(1e-6)));
  head_ = register_module("head", torch::nn::Linear(m.dim, m.num_classes));

  // timm init: truncated normal (std .02) for tokens and Linear weights, zero bias, LN = (1, 0).
  torch::NoGradGuard no_grad;
  trunc_normal_(pos_embed_, 0.02);
  trunc_normal_(cls_token_, 0.02);
  for (auto& mod : modules(/*include_self=*/false)) {
    if (auto* lin = mod->as<torch::nn::Linear>()) {
      trunc_normal_(lin->weight, 0.02);
      if (lin->bias.defined()) lin->bias.zero_();
    } else if (auto* ln = mod->as<torch::nn::LayerNorm>()) {
      ln->weight.fill_(1.0);
      ln->bias.zero_();
    }
  }
}

torch::Tensor ViTImpl::forward_features(const torch::Tensor& x) {
  auto t = patch_embed_->forward(x);  // (B, N, C)
  t = torch::cat({cls_token_.expand({t.size(0), -1, -1}), t}, 1) + pos_embed_;
  t = pos_drop_->forward(t);
  for (const auto& b : *blocks_) t = b->as<Block>()->forward(t);
  return norm_->forward(t);
}

torch::Tensor ViTImpl::forward(const torch::Tensor& x) {
  return head_->forward(forward_features(x).select(1, 0));  // classify from the cls token
}

}  // namespace rpct
