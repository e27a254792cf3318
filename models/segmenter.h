// Segmenter (Strudel et al. 2021): a ViT encoder and a linear or mask-transformer decoder, logits upsampled
// bilinearly to the input size. Parameter names follow rstrudel/segmenter: encoder.* (the ViT's own names,
// without its classification head), decoder.head (linear) or decoder.{proj_dec, cls_emb, blocks.N.*,
// decoder_norm, proj_patch, proj_classes, mask_norm} (mask transformer).
#pragma once
#include <torch/torch.h>

#include <string>

#include "models/attention.h"
#include "models/vit.h"

namespace rpct {

enum class SegDecoderKind { kLinear, kMask };
SegDecoderKind parse_seg_decoder_kind(const std::string& name);  // "linear" | "mask"
std::string seg_decoder_kind_name(SegDecoderKind kind);

struct SegmenterOptions {
  ViTOptions encoder;  // built without a head (its num_classes is ignored); runs at any multiple of patch
  int64_t n_cls = 150;
  SegDecoderKind decoder = SegDecoderKind::kMask;
  // Mask transformer only (Segmenter's defaults):
  int64_t decoder_depth = 2;
  double decoder_drop_path = 0.0;  // at the last decoder block, linear from 0 at the first
  double decoder_dropout = 0.1;    // MLP and attention-projection dropout in the decoder blocks
  AttentionPlan decoder_attention;  // block i of the decoder uses decoder_attention.for_block(i, ...); not kvpos
};

// Tokens (B, gh*gw, K) in row-major grid order -> map (B, K, gh, gw).
torch::Tensor tokens_to_map(const torch::Tensor& tokens, int64_t grid_h, int64_t grid_w);

// Linear decoder: per-patch class logits.
class DecoderLinearImpl : public torch::nn::Module {
 public:
  DecoderLinearImpl(int64_t d_encoder, int64_t n_cls);
  // patches (B, gh*gw, d_encoder) -> logits (B, n_cls, gh, gw)
  torch::Tensor forward(const torch::Tensor& patches, int64_t grid_h, int64_t grid_w);

 private:
  torch::nn::Linear head_{nullptr};
};
TORCH_MODULE(DecoderLinear);

// Mask transformer: n_cls learned class embeddings run through `depth` transformer blocks together with the
// projected patch tokens; the masks are the cosine similarities of (projected) patch and class features,
// LayerNorm'ed over the classes. Width d = encoder width, heads = max(1, d/64), MLP 4d.
class MaskTransformerImpl : public torch::nn::Module {
 public:
  MaskTransformerImpl(int64_t d_encoder, int64_t n_cls, int64_t depth, double drop_path, double dropout,
                      const AttentionPlan& attention);
  // patches (B, gh*gw, d_encoder) -> masks (B, n_cls, gh, gw)
  torch::Tensor forward(const torch::Tensor& patches, int64_t grid_h, int64_t grid_w);
  Block block(int64_t i) const { return Block(blocks_->ptr<BlockImpl>(i)); }
  int64_t depth() const { return static_cast<int64_t>(blocks_->size()); }

 private:
  int64_t n_cls_;
  torch::nn::Linear proj_dec_{nullptr};
  torch::Tensor cls_emb_;                    // (1, n_cls, d)
  torch::nn::ModuleList blocks_{nullptr};
  torch::nn::LayerNorm decoder_norm_{nullptr};
  torch::Tensor proj_patch_, proj_classes_;  // (d, d) each
  torch::nn::LayerNorm mask_norm_{nullptr};  // over n_cls
};
TORCH_MODULE(MaskTransformer);

class SegmenterImpl : public torch::nn::Module {
 public:
  explicit SegmenterImpl(const SegmenterOptions& opt);
  // images (B, Cin, H, W), H and W multiples of the patch -> logits (B, n_cls, H, W): forward_patch_logits
  // upsampled bilinearly to the input size
  torch::Tensor forward(const torch::Tensor& x);
  // the decoder's logits at patch resolution, (B, n_cls, H / patch, W / patch) (the training loss upsamples
  // them inside kernels/seg_loss instead of materializing forward's full-size map)
  torch::Tensor forward_patch_logits(const torch::Tensor& x);
  ViT encoder() const { return encoder_; }
  MaskTransformer mask_decoder() const { return mask_; }      // null with the linear decoder
  DecoderLinear linear_decoder() const { return linear_; }    // null with the mask decoder
  const SegmenterOptions& options() const { return opt_; }

 private:
  SegmenterOptions opt_;
  ViT encoder_{nullptr};
  DecoderLinear linear_{nullptr};
  MaskTransformer mask_{nullptr};
};
TORCH_MODULE(Segmenter);

}  // namespace rpct
