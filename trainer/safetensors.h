// The safetensors format (8-byte little-endian header length, JSON header with dtype / shape /
// data_offsets per tensor and optional "__metadata__", then the raw little-endian bytes). Used for
// checkpoint files and for export/import of weights that Python (safetensors, timm) can load.
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

namespace rpct {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Writes atomically (temporary file, fsync, rename). Tensors are written in the given order.
void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata = {});
// Reads a whole file. A truncated file, a bad header or out-of-range offsets are errors naming it.
NamedTensors read_safetensors(const std::string& path, std::map<std::string, std::string>* metadata = nullptr);

}  // namespace rpct
