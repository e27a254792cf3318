// Weights from checkpoints, run directories and .safetensors files (see weights.h).
#include "trainer/weights.h"

#include <boost/filesystem.hpp>

#include <map>

#include "core/strings.h"
#include "models/vit_weights.h"
#include "trainer/checkpoint.h"

namespace rpct {
namespace {

const std::string kEmaPrefix = "ema/";        // a checkpoint's EMA copy of a parameter
const std::string kBufferPrefix = "buffer/";  // a checkpoint's module buffers (not weights)

}  // namespace

Weights read_weights(const std::string& path, bool ema) {
  namespace fs = boost::filesystem;
  if (!fs::exists(path)) throw std::runtime_error(path + ": checkpoint not found");
  Weights w;
  w.file = fs::is_directory(path) ? resolve_checkpoint_dir(path) + "/model.safetensors" : path;
  for (auto& [name, tensor] : read_safetensors(w.file)) {
    const bool is_ema = starts_with(name, kEmaPrefix);
    if (starts_with(name, kBufferPrefix) || is_ema != ema) continue;
    w.params.push_back(from_timm_tensor(is_ema ? name.substr(kEmaPrefix.size()) : name, tensor));
  }
  if (w.params.empty()) throw std::runtime_error(w.file + ": no " + std::string(ema ? "EMA " : "") + "weights");
  return w;
}

void load_weights(const NamedTensors& params, const std::string& path, bool ema) {
  const Weights w = read_weights(path, ema);
  // A timm qkv [Q; K; V] loads into a symmetric-KV block as [K; V] (fit_to_model); the rest as it is.
  std::map<std::string, torch::Tensor> model(params.begin(), params.end());
  NamedTensors fitted;
  for (const auto& [name, t] : w.params) {
    const auto it = model.find(name);
    fitted.emplace_back(name, it == model.end() ? t : fit_to_model(name, t, it->second, w.file));
  }
  copy_named_tensors(fitted, "", params, w.file);
}

NamedTensors named_parameters(const torch::nn::Module& module) {
  NamedTensors out;
  for (const auto& p : module.named_parameters()) out.emplace_back(p.key(), p.value());
  return out;
}

int64_t num_parameters(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) n += p.numel();
  return n;
}

}  // namespace rpct
