#include "models/vit.h"

#include <cmath>
#include <vector>

namespace rpct {

PatchEmbedImpl::PatchEmbedImpl(int64_t img_size, int64_t patch, int64_t in_chans, int64_t dim)
    : grid_(img_size / patch), patch_(patch) {
  proj_ = register_module("proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(in_chans, dim, patch).stride(patch)));
}

torch::Tensor PatchEmbedImpl::forward(const torch::Tensor& x) {
  return proj_->forward(x).flatten(2).transpose(1, 2);  // (B, C, g, g) -> (B, g*g, C)
}

// Resamples the values outside [-2 std, 2 std] (a few rounds), then clamps what is left.
void trunc_normal_(torch::Tensor t, double std) {
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

void init_linear_and_layernorm(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& mod : module.modules(/*include_self=*/false)) {
    if (auto* lin = mod->as<torch::nn::Linear>()) {
      trunc_normal_(lin->weight, 0.02);
      if (lin->bias.defined()) lin->bias.zero_();
    } else if (auto* ln = mod->as<torch::nn::LayerNorm>()) {
      ln->weight.fill_(1.0);
      ln->bias.zero_();
    }
  }
}

torch::Tensor bilinear_resize(const torch::Tensor& x, int64_t out_h, int64_t out_w) {
  namespace F = torch::nn::functional;
  return F::interpolate(x, F::InterpolateFuncOptions()
                               .size(std::vector<int64_t>{out_h, out_w})
                               .mode(torch::kBilinear)
                               .align_corners(false));
}

torch::Tensor resize_pos_embed(const torch::Tensor& pos_embed, int64_t new_grid_h, int64_t new_grid_w) {
  TORCH_CHECK(pos_embed.dim() == 3 && pos_embed.size(0) == 1, "resize_pos_embed: expected (1, 1+g*g, C), got ",
              pos_embed.sizes());
  const int64_t n_patch = pos_embed.size(1) - 1, C = pos_embed.size(2);
  const auto g = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(n_patch))));
  TORCH_CHECK(g * g == n_patch, "resize_pos_embed: ", n_patch, " patch entries are not a square grid");
  TORCH_CHECK(new_grid_h > 0 && new_grid_w > 0, "resize_pos_embed: empty grid ", new_grid_h, "x", new_grid_w);
  auto cls = pos_embed.narrow(1, 0, 1);                                           // (1, 1, C)
  auto grid = pos_embed.narrow(1, 1, n_patch).reshape({1, g, g, C}).permute({0, 3, 1, 2});  // (1, C, g, g)
  grid = bilinear_resize(grid, new_grid_h, new_grid_w);                           // (1, C, gh, gw)
  grid = grid.permute({0, 2, 3, 1}).reshape({1, new_grid_h * new_grid_w, C});     // (1, gh*gw, C)
  return torch::cat({cls, grid}, 1);
}

BlockImpl::BlockImpl(const AttentionOptions& attn, double mlp_ratio, double drop_path, double dropout,
                     double norm_eps)
    : drop_path_(drop_path) {
  const int64_t C = attn.dim, hidden = static_cast<int64_t>(C * mlp_ratio);
  norm1_ = register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({C}).eps(norm_eps)));
  attn_ = register_module("attn", Attention(attn));
  norm2_ = register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({C}).eps(norm_eps)));
  fc1_ = register_module("fc1", torch::nn::Linear(C, hidden));
  fc2_ = register_module("fc2", torch::nn::Linear(hidden, C));
  mlp_drop_ = register_module("mlp_drop", torch::nn::Dropout(dropout));
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x) {
  auto h = x + drop_path(attn_->forward(norm1_->forward(x)), drop_path_, is_training());
  auto m = mlp_drop_->forward(fc2_->forward(mlp_drop_->forward(torch::gelu(fc1_->forward(norm2_->forward(h))))));
  return h + drop_path(m, drop_path_, is_training());
}

ViTImpl::ViTImpl(const ViTOptions& m)
    : dim_(m.dim), avg_pool_(m.avg_pool), has_kvpos_(m.attention.kind == AttentionKind::kKvPos) {
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
    blocks_->push_back(
        Block(m.attention.for_block(i, m.dim, m.heads, grid, m.dropout), m.mlp_ratio, dp, m.dropout, m.ln_eps));
  }
  norm_ = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({m.dim}).eps(m.ln_eps)));
  TORCH_CHECK(m.num_classes >= 0, "ViT: num_classes must be >= 0, got ", m.num_classes);
  if (m.num_classes > 0) head_ = register_module("head", torch::nn::Linear(m.dim, m.num_classes));

  // timm init: truncated normal (std .02) for tokens and Linear weights, zero bias, LN = (1, 0).
  {
    torch::NoGradGuard no_grad;
    trunc_normal_(pos_embed_, 0.02);
    trunc_normal_(cls_token_, 0.02);
  }
  init_linear_and_layernorm(*this);
}

torch::Tensor ViTImpl::forward_features(const torch::Tensor& x) {
  // The patch grid of this input (the strided conv's output size).
  const int64_t p = patch_embed_->patch(), grid_h = x.size(-2) / p, grid_w = x.size(-1) / p;
  const int64_t grid = patch_embed_->grid();
  const bool same_grid = grid_h == grid && grid_w == grid;
  TORCH_CHECK(same_grid || !has_kvpos_, "ViT: kvpos attention is tied to the ", grid, "x", grid,
              " patch grid; this input has a ", grid_h, "x", grid_w, " grid");
  auto pos = same_grid ? pos_embed_ : resize_pos_embed(pos_embed_, grid_h, grid_w);  // (1, 1+N, C)
  auto t = patch_embed_->forward(x);                                                  // (B, N, C)
  t = torch::cat({cls_token_.expand({t.size(0), -1, -1}), t}, 1) + pos;
  t = pos_drop_->forward(t);
  for (const auto& b : *blocks_) t = b->as<Block>()->forward(t);
  return norm_->forward(t);
}

torch::Tensor ViTImpl::forward(const torch::Tensor& x) {
  const auto features = forward_features(x);
  // (B, C): the cls token, or the mean of the patch tokens
  const auto cls = avg_pool_ ? features.slice(1, 1).mean(1) : features.select(1, 0);
  return head_ ? head_->forward(cls) : cls;
}

}  // namespace rpct
