// Test tool (not a test itself): the Segmenter logits that rpctrain computes for given images, for the
// PyTorch parity test (test_segmenter_parity.sh). Builds the Segmenter of a config (as `rpctrain train`
// does), loads weights through load_weights (a checkpoint or run dir, or an exported .safetensors with
// Segmenter names), runs it in eval mode on the tensor "images" (B, 3, H, W) of INPUT and writes "logits"
// (B, n_cls, H, W) to OUT.
//   segmenter_logits CONFIG WEIGHTS INPUT OUT [key.sub=value ...]
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "models/segmenter.h"
#include "trainer/config.h"
#include "trainer/safetensors.h"
#include "trainer/segmentation.h"
#include "trainer/weights.h"
#include "trainer/model_options.h"

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: segmenter_logits CONFIG WEIGHTS INPUT OUT [key.sub=value ...]\n");
    return 2;
  }
  try {
    const std::vector<std::string> overrides(argv + 5, argv + argc);
    const auto cfg = rpct::load_config(argv[1], overrides);
    rpct::Segmenter model(rpct::segmenter_options(cfg));
    rpct::load_weights(rpct::named_parameters(*model), argv[2], /*ema=*/false);
    model->eval();
    torch::Tensor images;
    for (const auto& [name, t] : rpct::read_safetensors(argv[3]))
      if (name == "images") images = t;
    if (!images.defined()) throw std::runtime_error(std::string(argv[3]) + ": no tensor 'images'");
    torch::NoGradGuard no_grad;
    const auto logits = model->forward(images.to(torch::kFloat32));  // (B, n_cls, H, W)
    rpct::write_safetensors(argv[4], {{"logits", logits.contiguous()}});
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
