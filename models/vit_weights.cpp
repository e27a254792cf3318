// timm <-> rpctrain ViT weight names (see vit_weights.h).
#include "models/vit_weights.h"

namespace rpct {

std::string to_timm_name(const std::string& rpctrain_name) {
  const std::string& n = rpctrain_name;
  if (n.rfind("blocks.", 0) != 0) return n;
  for (const char* fc : {".fc1.", ".fc2."}) {
    const auto p = n.find(fc);
    if (p != std::string::npos) return n.substr(0, p) + ".mlp" + n.substr(p);
  }
  return n;
}

std::string from_timm_name(const std::string& name) {
  const std::string kMlp = ".mlp";  // removed from ".mlp.fc1." / ".mlp.fc2."
  const auto p = name.find(kMlp + ".fc");
  return p == std::string::npos ? name : name.substr(0, p) + name.substr(p + kMlp.size());
}

}  // namespace rpct
