// timm / Segmenter <-> rpctrain names and layouts of ViT and Segmenter weights (see vit_weights.h).
#include "models/vit_weights.h"

#include <map>
#include <regex>
#include <stdexcept>

namespace rpct {
namespace {

// "[prefix.]blocks.N." then the rest: the block part (with its prefix) is group 1.
const std::regex kBlockMlp(R"(^((?:.*\.)?blocks\.\d+)\.(fc[12]\..*)$)");
const std::regex kBlockTimmMlp(R"(^((?:.*\.)?blocks\.\d+)\.mlp\.(fc[12]\..*)$)");
const std::regex kBlockTable(R"(^((?:.*\.)?blocks\.\d+\.attn)\.rel_pos_table$)");
const std::regex kBlockBeitTable(R"(^((?:.*\.)?blocks\.\d+\.attn)\.relative_position_bias_table$)");
const std::regex kQkv(R"(^(?:.*\.)?blocks\.\d+\.attn\.qkv\.(weight|bias)$)");

bool is_qkv(const std::string& name) { return std::regex_match(name, kQkv); }

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::string to_timm_name(const std::string& rpctrain_name) {
  std::smatch m;
  if (std::regex_match(rpctrain_name, m, kBlockMlp)) return m.str(1) + ".mlp." + m.str(2);
  if (std::regex_match(rpctrain_name, m, kBlockTable)) return m.str(1) + ".relative_position_bias_table";
  return rpctrain_name;
}

std::string from_timm_name(const std::string& name) {
  std::smatch m;
  if (std::regex_match(name, m, kBlockTimmMlp)) return m.str(1) + "." + m.str(2);
  if (std::regex_match(name, m, kBlockBeitTable)) return m.str(1) + ".rel_pos_table";
  return name;
}

NamedWeights to_timm_weights(const NamedWeights& rpctrain) {
  std::map<std::string, torch::Tensor> by_name(rpctrain.begin(), rpctrain.end());
  NamedWeights out;
  for (const auto& [name, t] : rpctrain) {
    torch::Tensor exported = t;
    if (is_qkv(name)) {
      // The model width C is the in-projection weight's input width (the bias has only the rows).
      const std::string weight_name = ends_with(name, ".bias") ? name.substr(0, name.size() - 4) + "weight" : name;
      const auto w = by_name.find(weight_name);
      TORCH_CHECK(w != by_name.end() && w->second.dim() == 2, "export: '", name, "' without its 2-d '", weight_name,
                  "'");
      const int64_t C = w->second.size(1);
      if (t.size(0) == 2 * C) exported = torch::cat({t.narrow(0, 0, C), t}, 0);  // [K; V] -> [Q = K; K; V]
    } else if (std::regex_match(name, kBlockTable)) {
      exported = t.t().contiguous();  // (H, T) -> BEiT's (T, H)
    }
    out.emplace_back(to_timm_name(name), exported);
  }
  return out;
}

std::pair<std::string, torch::Tensor> from_timm_tensor(const std::string& name, const torch::Tensor& tensor) {
  if (std::regex_match(name, kBlockBeitTable)) {
    TORCH_CHECK(tensor.dim() == 2, "'", name, "' has shape ", tensor.sizes(), ", BEiT's table is (entries, heads)");
    return {from_timm_name(name), tensor.t().contiguous()};  // (T, H) -> (H, T)
  }
  return {from_timm_name(name), tensor};
}

torch::Tensor fit_to_model(const std::string& name, const torch::Tensor& file_tensor, const torch::Tensor& model_tensor,
                           const std::string& file) {
  if (!is_qkv(name) || model_tensor.dim() == 0 || file_tensor.dim() != model_tensor.dim()) return file_tensor;
  const int64_t kv_rows = model_tensor.size(0), C = kv_rows / 2;
  const bool timm_qkv_for_kv_block = kv_rows % 2 == 0 && file_tensor.size(0) == 3 * C &&
                                     file_tensor.sizes().slice(1) == model_tensor.sizes().slice(1);
  if (!timm_qkv_for_kv_block) return file_tensor;
  if (!torch::equal(file_tensor.narrow(0, 0, C), file_tensor.narrow(0, C, C)))
    throw std::runtime_error(file + ": tensor '" + name +
                             "' is a softmax-attention qkv (its query rows differ from its key rows); the config's "
                             "model has symmetric KV attention (sym, rpc or kvpos) there, which has no query");
  return file_tensor.narrow(0, C, 2 * C);  // [Q = K; K; V] -> [K; V]
}

}  // namespace rpct
