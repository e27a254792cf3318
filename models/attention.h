// Multi-head self-attention with pluggable score computation (see ../shared/spec/attention.md).
// kind = softmax (QKV) | sym (symmetric KV, "SymViT"); issue "attention variants" adds kvpos, rpc.
#pragma once
#include <torch/torch.h>

#include <string>

namespace rpct {

enum class AttentionKind { kSoftmax, kSym, kKvPos, kRpc };
AttentionKind parse_attention_kind(const std::string& name);
std::string attention_kind_name(AttentionKind kind);

struct AttentionOptions {
  int64_t dim = 0;
  int64_t heads = 1;
  AttentionKind kind = AttentionKind::kSoftmax;
  double attn_drop = 0.0;
  double proj_drop = 0.0;
  int64_t grid = 0;          // patch grid side (kvpos): tokens = 1 (cls) + grid*grid
  int rpc_n_iter = 4;
  double rpc_lambda = 4.0;
  bool use_fused = true;     // fused op where one exists, else the LibTorch-ops reference
};

class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(const AttentionOptions& opt);
  torch::Tensor forward(const torch::Tensor& x);  // (B, N, C) -> (B, N, C)
  const AttentionOptions& options() const { return opt_; }

 private:
  AttentionOptions opt_;
  torch::nn::Linear in_proj_{nullptr};  // C -> 3C (softmax) or 2C (KV variants)
  torch::nn::Linear proj_{nullptr};     // C -> C
  torch::nn::Dropout proj_drop_{nullptr};
};
TORCH_MODULE(Attention);

}  // namespace rpct
