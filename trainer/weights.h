// Model weights in and out of files (eval, import, export; later fine-tuning and other tasks' models).
// A weights source is a checkpoint directory, a run directory (its newest complete checkpoint, see
// resolve_checkpoint_dir) or a .safetensors file with rpctrain or timm / Segmenter names and layouts
// (models/vit_weights.h). Works on a model's named parameters, not on a model type, so every task's model
// can use it.
#pragma once
#include <torch/torch.h>

#include <string>

#include "trainer/safetensors.h"

namespace rpct {

struct Weights {
  std::string file;     // the .safetensors file read (named in errors)
  NamedTensors params;  // parameters in rpctrain names, in the file's order (no buffers)
};

// Reads the weights at `path`. With `ema`, a checkpoint's EMA copies ("ema/<name>") instead of the
// trained parameters; an error if there are none.
Weights read_weights(const std::string& path, bool ema);

// Copies the weights at `path` into `params` (a model's named parameters); a missing name or another
// shape is an error naming the file and the tensor. A timm qkv loads into a symmetric-KV block as [K; V] when
// its query rows equal its key rows (models/vit_weights.h), else it is an error naming the tensor.
void load_weights(const NamedTensors& params, const std::string& path, bool ema);

// A module's parameters as (name, tensor) pairs, in registration order (they alias the module's).
NamedTensors named_parameters(const torch::nn::Module& module);
// The number of parameter values of a module (for logs).
int64_t num_parameters(const torch::nn::Module& module);

}  // namespace rpct
