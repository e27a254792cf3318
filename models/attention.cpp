#include "models/attention.h"

#include <algorithm>

#include <cmath>
#include <stdexcept>

#include "kernels/rpc_attention/rpc_attention.h"

namespace rpct {

AttentionKind parse_attention_kind(const std::string& name) {
  if (name == "softmax") return AttentionKind::kSoftmax;
  if (name == "sym") return AttentionKind::kSym;
  if (name == "kvpos") return AttentionKind::kKvPos;
  if (name == "rpc") return AttentionKind::kRpc;
  throw std::invalid_argument("unknown attention kind '" + name + "' (softmax|sym|kvpos|rpc)");
}

std::string attention_kind_name(AttentionKind kind) {
  switch (kind) {
    case AttentionKind::kSoftmax: return "softmax";
    case AttentionKind::kSym: return "sym";
    case AttentionKind::kKvPos: return "kvpos";
    case AttentionKind::kRpc: return "rpc";
  }
  return "?";
}

AttentionPath parse_attention_path(const std::string& name) {
  if (name == "auto") return AttentionPath::kAuto;
  if (name == "fused") return AttentionPath::kFused;
  if (name == "composed") return AttentionPath::kComposed;
  if (name == "reference") return AttentionPath::kReference;
  throw std::invalid_argument("unknown attention impl '" + name + "' (auto|fused|composed|reference)");
}

// sym (n_iter == 0) / rpc attention of k, v (B, H, N, D) -> (B, H, N, D) on `path`, for model width C.
static torch::Tensor symmetric_attention(AttentionPath path, const torch::Tensor& k, const torch::Tensor& v,
                                         int64_t n_iter, double lambda, int64_t C, double attn_drop, bool training) {
  if (path == AttentionPath::kAuto) path = k.is_cuda() ? AttentionPath::kComposed : AttentionPath::kFused;
  // The fused and composed ops have no dropout: with attention dropout active, train through the reference.
  const bool dropout = training && attn_drop > 0.0;
  if (!dropout && path == AttentionPath::kFused && rpc_attention_fused_supports(k))
    return rpc_attention(k, v, n_iter, lambda, C);
  if (!dropout && path == AttentionPath::kComposed && rpc_attention_composed_supports(k))
    return rpc_attention_composed(k, v, n_iter, lambda, C);
  return rpc_attention_reference(k, v, n_iter, lambda, C, attn_drop, training);
}

// kvpos index (BEiT-style relative position bias): tokens 0 = cls, 1 + y*g + x = patch (y, x).
// patch a -> patch b: (ya - yb + g - 1) * (2g - 1) + (xa - xb + g - 1); then cls->patch, patch->cls,
// cls->cls get the three last entries. Returns (1 + g*g, 1 + g*g) int64.
static torch::Tensor relative_position_index(int64_t g) {
  const int64_t n = 1 + g * g, R = (2 * g - 1) * (2 * g - 1);
  auto idx = torch::empty({n, n}, torch::kLong);
  auto a = idx.accessor<int64_t, 2>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      if (i == 0 && j == 0) a[i][j] = R + 2;
      else if (i == 0) a[i][j] = R;
      else if (j == 0) a[i][j] = R + 1;
      else {
        const int64_t yi = (i - 1) / g, xi = (i - 1) % g, yj = (j - 1) / g, xj = (j - 1) % g;
        a[i][j] = (yi - yj + g - 1) * (2 * g - 1) + (xi - xj + g - 1);
      }
    }
  return idx;
}

AttentionImpl::AttentionImpl(const AttentionOptions& opt) : opt_(opt) {
  TORCH_CHECK(opt.dim % opt.heads == 0, "attention: dim ", opt.dim, " not divisible by heads ", opt.heads);
  TORCH_CHECK(opt.kind != AttentionKind::kKvPos || opt.grid > 0, "attention kind 'kvpos' needs the patch grid side");
  TORCH_CHECK(opt.kind != AttentionKind::kRpc || opt.rpc_n_iter >= 1, "attention: rpc n_iter must be >= 1");
  const int64_t n_proj = opt.kind == AttentionKind::kSoftmax ? 3 : 2;
  in_proj_ = register_module("qkv", torch::nn::Linear(opt.dim, n_proj * opt.dim));
  proj_ = register_module("proj", torch::nn::Linear(opt.dim, opt.dim));
  proj_drop_ = register_module("proj_drop", torch::nn::Dropout(opt.proj_drop));
  if (opt.kind == AttentionKind::kKvPos) {
    // Truncated normal, std .02 (as the other tokens/weights of the ViT).
    auto table = torch::randn({opt.heads, relative_position_table_size(opt.grid)}).mul_(0.02).clamp_(-0.04, 0.04);
    rel_table_ = register_parameter("rel_pos_table", table);
    rel_index_ = relative_position_index(opt.grid).reshape({-1});  // not a buffer (not saved, not cast by to())
  }
}

torch::Tensor AttentionImpl::relative_position_bias() const {
  if (opt_.kind != AttentionKind::kKvPos) return {};
  const int64_t n = opt_.grid * opt_.grid + 1;  // tokens: cls + patches
  if (rel_index_.device() != rel_table_.device()) rel_index_ = rel_index_.to(rel_table_.device());
  return rel_table_.index_select(1, rel_index_).reshape({opt_.heads, n, n});  // (H, N, N)
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x) {
  const int64_t B = x.size(0), N = x.size(1), C = x.size(2), H = opt_.heads, D = C / H;
  const int64_t n_proj = opt_.kind == AttentionKind::kSoftmax ? 3 : 2;
  // (B, N, n_proj*C) -> (n_proj, B, H, N, D)
  auto parts = in_proj_->forward(x).reshape({B, N, n_proj, H, D}).permute({2, 0, 3, 1, 4}).unbind(0);
  const bool training = is_training();
  const double drop = training ? opt_.attn_drop : 0.0;
  torch::Tensor out;  // (B, H, N, D)
  switch (opt_.kind) {
    case AttentionKind::kSoftmax:
      out = opt_.path != AttentionPath::kReference
                ? at::scaled_dot_product_attention(parts[0], parts[1], parts[2], {}, drop)
                : softmax_attention_reference(parts[0], parts[1], parts[2], {}, opt_.attn_drop, training);
      break;
    case AttentionKind::kKvPos: {
      auto bias = relative_position_bias();  // (H, 1+g*g, 1+g*g)
      if (N == bias.size(1) - 1) bias = bias.slice(1, 1).slice(2, 1);  // no cls token: patch entries only
      TORCH_CHECK(bias.size(1) == N, "attention kvpos: ", N, " tokens do not match grid ", opt_.grid);
      out = softmax_attention_reference(parts[0], parts[0], parts[1], bias.unsqueeze(0).to(parts[0].dtype()),
                                        opt_.attn_drop, training);
      break;
    }
    case AttentionKind::kSym:
    case AttentionKind::kRpc: {
      const int64_t n_iter = opt_.kind == AttentionKind::kRpc ? opt_.rpc_n_iter : 0;
      out = symmetric_attention(opt_.path, parts[0], parts[1], n_iter, opt_.rpc_lambda, C, opt_.attn_drop, training);
      break;
    }
  }
  out = out.transpose(1, 2).reshape({B, N, C});
  return proj_drop_->forward(proj_->forward(out));
}

AttentionOptions AttentionPlan::for_block(int index, int64_t dim, int64_t heads, int64_t grid, double proj_drop) const {
  AttentionOptions o;
  o.dim = dim;
  o.heads = heads;
  o.kind = kind;
  o.attn_drop = attn_drop;
  o.proj_drop = proj_drop;
  o.grid = grid;
  o.rpc_n_iter = rpc_n_iter;
  o.rpc_lambda = rpc_lambda;
  o.path = path;
  if (kind == AttentionKind::kRpc && !rpc_all_layers &&
      std::find(rpc_layers.begin(), rpc_layers.end(), index) == rpc_layers.end())
    o.kind = AttentionKind::kSym;
  return o;
}

}  // namespace rpct
