// A segmentation encoder initialised from a trained ViT (see backbone.h).
#include "trainer/backbone.h"

#include <cmath>
#include <map>
#include <sstream>
#include <stdexcept>

#include "core/strings.h"
#include "models/vit.h"
#include "trainer/weights.h"

namespace rpct {
namespace {

const std::string kEncoderPrefix = "encoder.";  // a Segmenter's encoder tensors
const std::string kPosEmbed = "pos_embed";
const std::string kPatchWeight = "patch_embed.proj.weight";

std::string shape_text(const torch::Tensor& t) {
  std::ostringstream s;
  s << t.sizes();
  return s.str();
}

[[noreturn]] void fail(const std::string& file, const std::string& name, const std::string& what) {
  throw std::runtime_error(file + ": backbone tensor '" + name + "': " + what);
}

// The source's encoder tensors by ViT name: a Segmenter's encoder.* (decoder.* ignored), else a classifier's
// tensors without its head.
std::map<std::string, torch::Tensor> encoder_tensors(const Weights& w, std::vector<std::string>& ignored) {
  bool segmenter = false;
  for (const auto& [name, t] : w.params) segmenter = segmenter || starts_with(name, kEncoderPrefix);
  std::map<std::string, torch::Tensor> out;
  for (const auto& [name, t] : w.params) {
    const bool keep = segmenter ? starts_with(name, kEncoderPrefix) : !starts_with(name, "head.");
    if (!keep) {
      ignored.push_back(name);
      continue;
    }
    out.emplace(segmenter ? name.substr(kEncoderPrefix.size()) : name, t);
  }
  return out;
}

int64_t square_grid(const torch::Tensor& pos_embed, const std::string& file, const std::string& what) {
  const int64_t n = pos_embed.size(1) - 1;
  const auto g = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(n))));
  if (g * g != n) fail(file, kPosEmbed, what + " has " + std::to_string(n) + " patch entries, not a square grid");
  return g;
}

// src (1, 1+g*g, C) -> (1, 1+G*G, C) at the encoder's grid G.
torch::Tensor adapt_pos_embed(const torch::Tensor& src, const torch::Tensor& dst, const std::string& file,
                              BackboneInit& init) {
  if (src.dim() != 3 || src.size(0) != 1) fail(file, kPosEmbed, "shape " + shape_text(src) + " is not (1, 1+g*g, C)");
  if (src.size(2) != dst.size(2))
    fail(file, kPosEmbed, "width " + std::to_string(src.size(2)) + ", the encoder's model.dim is " +
                              std::to_string(dst.size(2)));
  if (src.size(1) == dst.size(1)) return src;
  init.source_grid = square_grid(src, file, "the backbone's");
  const int64_t grid = square_grid(dst, file, "the encoder's");
  return resize_pos_embed(src, grid, grid);
}

// src (C, Cs, p, p) -> (C, Cd, p, p).
torch::Tensor adapt_patch_embed(const torch::Tensor& src, const torch::Tensor& dst, const std::string& file,
                                BackboneInit& init) {
  if (src.dim() != 4) fail(file, kPatchWeight, "shape " + shape_text(src) + " is not (C, Cin, p, p)");
  if (src.size(2) != dst.size(2) || src.size(3) != dst.size(3))
    fail(file, kPatchWeight, "patch size " + std::to_string(src.size(2)) + "x" + std::to_string(src.size(3)) +
                                 ", the encoder's model.patch is " + std::to_string(dst.size(2)));
  if (src.size(0) != dst.size(0))
    fail(file, kPatchWeight, "width " + std::to_string(src.size(0)) + ", the encoder's model.dim is " +
                                 std::to_string(dst.size(0)));
  if (src.size(1) == dst.size(1)) return src;
  if (src.size(1) != 1)
    fail(file, kPatchWeight, std::to_string(src.size(1)) + " input channels, the encoder's model.in_chans is " +
                                 std::to_string(dst.size(1)) + " (only a 1-channel backbone is adapted)");
  init.input_channels_adapted = true;
  return src.repeat({1, dst.size(1), 1, 1}) / static_cast<double>(dst.size(1));  // timm adapt_input_conv
}

}  // namespace

BackboneInit load_vit_backbone(const NamedTensors& encoder, const std::string& path) {
  const Weights w = read_weights(path, /*ema=*/false);
  BackboneInit init;
  init.file = w.file;
  auto source = encoder_tensors(w, init.ignored);
  // The patch embedding and the position embedding first: their checks name the patch size and the width,
  // which every other tensor's shape would only show indirectly.
  NamedTensors ordered;
  for (const std::string& first : {kPatchWeight, kPosEmbed})
    for (const auto& p : encoder)
      if (p.first == first) ordered.push_back(p);
  for (const auto& p : encoder)
    if (p.first != kPatchWeight && p.first != kPosEmbed) ordered.push_back(p);
  torch::NoGradGuard no_grad;
  for (const auto& [name, dst] : ordered) {
    const auto it = source.find(name);
    if (it == source.end())
      fail(w.file, name, "missing: the encoder (model.depth, attention.kind) needs it and the backbone has none");
    torch::Tensor src = it->second;
    if (name == kPosEmbed) src = adapt_pos_embed(src, dst, w.file, init);
    if (name == kPatchWeight) src = adapt_patch_embed(src, dst, w.file, init);
    if (!src.sizes().equals(dst.sizes()))
      fail(w.file, name, "shape " + shape_text(src) + ", the encoder's is " + shape_text(dst) +
                             " (model.dim, mlp_ratio, heads or attention.kind differ)");
    dst.copy_(src);
    source.erase(it);
    ++init.copied;
  }
  if (!source.empty())
    fail(w.file, source.begin()->first, "has no place in the encoder (a deeper model or another attention.kind?)");
  return init;
}

}  // namespace rpct
