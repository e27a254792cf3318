// Initialising a segmentation encoder from a trained ViT (`seg.backbone: PATH`): the weights of one
// of our classification runs (a run directory, a checkpoint directory, their model.safetensors, or an exported
// timm-named .safetensors) or of a Segmenter (its encoder.* tensors) are copied into the Segmenter's ViT
// encoder before training. As Segmenter's and timm's checkpoint loading:
// - the position embedding is resized bilinearly (cls entry kept, models/vit.h resize_pos_embed) when the
//   source's patch grid differs from the encoder's (a 28 x 28 classifier with patch 7 has a 4 x 4 grid, a
//   96 x 96 segmentation crop with patch 8 a 12 x 12 one);
// - a 1-channel patch embedding (Fashion-MNIST) feeding a C-channel encoder (RGB scenes) is repeated over the
//   channels and divided by C (timm's adapt_input_conv), so a gray image replicated to C channels gives the
//   same embedding;
// - the classifier's head (head.*) and a Segmenter's decoder (decoder.*) are not used.
// Everything else must match exactly: another patch size, width (model.dim), depth, MLP size or attention
// kind is an error naming the file and the tensor, as is a missing or a left-over tensor.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "trainer/safetensors.h"

namespace rpct {

struct BackboneInit {
  std::string file;                  // the .safetensors file read
  int64_t copied = 0;                // encoder tensors initialised
  std::vector<std::string> ignored;  // source tensors not used (classifier head, segmenter decoder)
  int64_t source_grid = 0;           // the source's patch grid side (pos_embed), 0 when equal to the encoder's
  bool input_channels_adapted = false;  // patch embedding repeated from 1 channel
};

// encoder: the encoder's parameters in ViT names (no "encoder." prefix), e.g. named_parameters(*vit); they
// are overwritten in place. path: see read_weights (trainer/weights.h); the trained weights, not the EMA.
BackboneInit load_vit_backbone(const NamedTensors& encoder, const std::string& path);

}  // namespace rpct
