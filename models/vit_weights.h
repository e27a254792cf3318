// The ViT's weight names in the timm ecosystem. timm's VisionTransformer puts each block's MLP under
// "blocks.N.mlp.fc1" / "blocks.N.mlp.fc2"; rpctrain's ViT registers it as "blocks.N.fc1" /
// "blocks.N.fc2"; every other name is shared. Export writes timm names; eval / import accept both.
#pragma once
#include <string>

namespace rpct {

// "blocks.3.fc1.weight" -> "blocks.3.mlp.fc1.weight"; other names unchanged.
std::string to_timm_name(const std::string& rpctrain_name);
// "blocks.3.mlp.fc1.weight" -> "blocks.3.fc1.weight"; rpctrain names unchanged.
std::string from_timm_name(const std::string& name);

}  // namespace rpct
