// The weights of the ViT and of the Segmenter in the timm ecosystem's names and layouts: timm's
// VisionTransformer for the classifier, rstrudel/segmenter for the Segmenter (its encoder is timm's ViT under
// "encoder." without the classification head; its mask decoder's blocks are timm blocks under
// "decoder.blocks.N."). `rpctrain export` writes these; eval / import / load_weights accept them and
// rpctrain's own names (checkpoints).
//
// Names. rpctrain's Block registers its MLP as "fc1" / "fc2"; timm and Segmenter put it under "mlp.":
//   [encoder.|decoder.]blocks.N.fc1.*  <->  [encoder.|decoder.]blocks.N.mlp.fc1.*   (fc2 alike)
// Every other name is shared: patch_embed.proj, cls_token, pos_embed, blocks.N.{norm1, attn.qkv, attn.proj,
// norm2}, norm, head; Segmenter's decoder.head (linear) or decoder.{proj_dec, cls_emb, decoder_norm,
// mask_norm, proj_patch, proj_classes} (mask transformer).
//
// Attention without a query (sym, rpc, kvpos: symmetric KV attention, docs/rpc-attention.md) projects to 2C rows
// [K; V] where timm's qkv has 3C rows [Q; K; V]. Export writes timm's qkv with the query rows a copy of the
// key rows, [K; K; V] (weight and bias): timm's / Segmenter's softmax attention then computes
// softmax(K K^T * scale) V, which is symmetric attention exactly, so a sym model runs unchanged in their
// code. An rpc or kvpos block needs its own attention there (the file does not say which blocks are which:
// that is the config's attention.*). Loading into a model whose block has KV attention takes [K; V] back and
// refuses a file whose query rows differ from its key rows (softmax-attention weights are not symmetric).
// kvpos's learned bias table: rpctrain "attn.rel_pos_table" (H, T) <-> BEiT's
// "attn.relative_position_bias_table" (T, H); the T = (2g-1)^2 + 3 entries and the index are BEiT's (patch
// offsets row-major in (dy + g-1, dx + g-1), then cls->patch, patch->cls, cls->cls).
#pragma once
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace rpct {

using NamedWeights = std::vector<std::pair<std::string, torch::Tensor>>;

// "blocks.3.fc1.weight" -> "blocks.3.mlp.fc1.weight" (also under "encoder." / "decoder.");
// "blocks.0.attn.rel_pos_table" -> "blocks.0.attn.relative_position_bias_table"; other names unchanged.
std::string to_timm_name(const std::string& rpctrain_name);
// The reverse; rpctrain names unchanged.
std::string from_timm_name(const std::string& name);

// A model's parameters (rpctrain names and layouts) -> the timm / Segmenter names and layouts above.
NamedWeights to_timm_weights(const NamedWeights& rpctrain);

// One tensor of a file as rpctrain names it: the name mapped back, a BEiT-named (T, H) table transposed to
// (H, T). The query rows of a qkv stay: whether they go depends on the model (fit_to_model).
std::pair<std::string, torch::Tensor> from_timm_tensor(const std::string& name, const torch::Tensor& tensor);

// `file_tensor` (named `name`, rpctrain names) in the layout of the model's `model_tensor`: a timm qkv
// [Q; K; V] (3C rows) for a KV-attention block (2C rows) becomes [K; V] when Q == K exactly, else an error
// naming `file` and the tensor. Anything else is returned as it is (the caller checks shapes).
torch::Tensor fit_to_model(const std::string& name, const torch::Tensor& file_tensor, const torch::Tensor& model_tensor,
                           const std::string& file);

}  // namespace rpct
