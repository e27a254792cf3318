#include "models/attention.h"

#include <cmath>
#include <stdexcept>

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

AttentionImpl::AttentionImpl(const AttentionOptions& opt) : opt_(opt) {
  TORCH_CHECK(opt.dim % opt.heads == 0, "attention: dim ", opt.dim, " not divisible by heads ", opt.heads);
  TORCH_CHECK(opt.kind == AttentionKind::kSoftmax || opt.kind == AttentionKind::kSym,
              "attention kind '", attention_kind_name(opt.kind), "' is not implemented yet");
  const int64_t n_proj = opt.kind == AttentionKind::kSoftmax ? 3 : 2;
  in_proj_ = register_module("qkv", torch::nn::Linear(opt.dim, n_proj * opt.dim));
  proj_ = register_module("proj", torch::nn::Linear(opt.dim, opt.dim));
  proj_drop_ = register_module("proj_drop", torch::nn::Dropout(opt.proj_drop));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x) {
  const int64_t B = x.size(0), N = x.size(1), C = x.size(2), H = opt_.heads, D = C / H;
  const int64_t n_proj = opt_.kind == AttentionKind::kSoftmax ? 3 : 2;
  // (B, N, n_proj*C) -> (n_proj, B, H, N, D)
  auto parts = in_proj_->forward(x).reshape({B, N, n_proj, H, D}).permute({2, 0, 3, 1, 4}).unbind(0);
  const double drop = is_training() ? opt_.attn_drop : 0.0;
  torch::Tensor out;  // (B, H, N, D)
  if (opt_.kind == AttentionKind::kSoftmax) {
    out = at::scaled_dot_product_attention(parts[0], parts[1], parts[2], {}, drop);
  } else {  // symmetric KV: the keys are their own queries
    out = at::scaled_dot_product_attention(parts[0], parts[0], parts[1], {}, drop);
  }
  out = out.transpose(1, 2).reshape({B, N, C});
  return proj_drop_->forward(proj_->forward(out));
}

}  // namespace rpct
