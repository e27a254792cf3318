// Multi-head self-attention with pluggable score computation (the math: docs/rpc-attention.md).
// kind = softmax (QKV) | sym (symmetric KV, "SymViT") | kvpos (sym + learned 2D relative-position bias)
// | rpc (RPC-Attention on symmetric KV). Per variant, `path` picks how it runs (AttentionPath below); the
// fused and composed ops have no dropout: sym/rpc with attn_drop > 0 use the reference while training.
// kvpos has only the reference path.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

namespace rpct {

enum class AttentionKind { kSoftmax, kSym, kKvPos, kRpc };
AttentionKind parse_attention_kind(const std::string& name);
std::string attention_kind_name(AttentionKind kind);

// How sym / rpc layers run (softmax layers: LibTorch's scaled_dot_product_attention on every path but
// reference):
//   kAuto:      per device: the fused op rpct::rpc_attention on CPU; on CUDA the composed op (one SDPA call
//               per RPC iteration + the fused PCP kernels; sym layers: one SDPA(k, k, v) call);
//   kFused:     rpct::rpc_attention (the fused CPU kernel, or the custom CUDA kernels);
//   kComposed:  rpct::rpc_attention_composed on either device;
//   kReference: the LibTorch-ops reference.
// A path whose op cannot run the tensors (dtype, CUDA head dim; rpc_attention_fused_supports,
// rpc_attention_composed_supports) falls back to the reference.
enum class AttentionPath { kAuto, kFused, kComposed, kReference };
AttentionPath parse_attention_path(const std::string& name);  // auto | fused | composed | reference

struct AttentionOptions {
  int64_t dim = 0;
  int64_t heads = 1;
  AttentionKind kind = AttentionKind::kSoftmax;
  double attn_drop = 0.0;
  double proj_drop = 0.0;
  int64_t grid = 0;          // patch grid side (kvpos): tokens = 1 (cls) + grid*grid
  int rpc_n_iter = 4;
  double rpc_lambda = 4.0;
  AttentionPath path = AttentionPath::kAuto;
};

class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(const AttentionOptions& opt);
  torch::Tensor forward(const torch::Tensor& x);  // (B, N, C) -> (B, N, C)
  const AttentionOptions& options() const { return opt_; }
  // kvpos: the (H, N, N) bias added to the scores, gathered from the table. Other kinds: undefined.
  torch::Tensor relative_position_bias() const;
  // kvpos: size of the per-head table: (2g-1)^2 patch offsets + cls->patch + patch->cls + cls->cls.
  static int64_t relative_position_table_size(int64_t grid) { return (2 * grid - 1) * (2 * grid - 1) + 3; }

 private:
  AttentionOptions opt_;
  torch::nn::Linear in_proj_{nullptr};  // C -> 3C (softmax) or 2C (KV variants)
  torch::nn::Linear proj_{nullptr};     // C -> C
  torch::nn::Dropout proj_drop_{nullptr};
  torch::Tensor rel_table_;  // kvpos: (H, table size) learned bias
  // kvpos: (N*N,) int64 index into the table, derived from grid (not a buffer); moved to the table's device
  // the first time it is used there and kept, so no forward copies it host-to-device again.
  mutable torch::Tensor rel_index_;
};
TORCH_MODULE(Attention);

// Which attention every block of a model uses: `kind` in all blocks, except that with kind rpc RPC-Attention
// runs only in the blocks listed in `rpc_layers` (or every block with rpc_all_layers) and symmetric KV
// attention in the others (the RPC-SymViT setup of the paper).
struct AttentionPlan {
  AttentionKind kind = AttentionKind::kSoftmax;
  AttentionPath path = AttentionPath::kAuto;
  double attn_drop = 0.0;
  int rpc_n_iter = 4;
  double rpc_lambda = 4.0;
  std::vector<int> rpc_layers = {0};
  bool rpc_all_layers = false;

  // Block `index`'s options for width `dim`, `heads` heads, patch grid `grid`, projection dropout `proj_drop`.
  AttentionOptions for_block(int index, int64_t dim, int64_t heads, int64_t grid, double proj_drop) const;
};

}  // namespace rpct
