#include "trainer/segmentation.h"

#include <cstdio>

#include "core/log.h"
#include "datasets/ade20k.h"
#include "kernels/seg_loss/upsample_cross_entropy.h"
#include "trainer/backbone.h"
#include "trainer/model_options.h"
#include "trainer/segmentation_eval.h"
#include "trainer/weights.h"

namespace rpct {

SegmentationTask::SegmentationTask(const Config& cfg, torch::Device device)
    : cfg_(cfg),
      device_(device),
      n_cls_(cfg.model.num_classes),
      window_(cfg.seg.window > 0 ? cfg.seg.window : cfg.data.seg_crop),
      stride_(cfg.seg.stride > 0 ? cfg.seg.stride : window_),
      segmenter_(segmenter_options(cfg)),
      class_names_(ade20k_layout_class_names(cfg.data.root, cfg.model.num_classes)) {
  TORCH_CHECK(stride_ <= window_, cfg.source, ": seg.stride (", stride_, ") must not exceed the window (", window_, ")");
  if (!cfg.seg.backbone.empty()) init_backbone(cfg.seg.backbone);
  segmenter_->to(device_);
}

void SegmentationTask::init_backbone(const std::string& path) {
  BackboneInit init;
  try {
    init = load_vit_backbone(named_parameters(*segmenter_->encoder()), path);
  } catch (const std::exception& e) {
    throw std::runtime_error(cfg_.source + ": seg.backbone: " + e.what());
  }
  std::string notes = init.source_grid ? ", position embedding resized from a " + std::to_string(init.source_grid) +
                                               "x" + std::to_string(init.source_grid) + " grid" : "";
  if (init.input_channels_adapted) notes += ", 1-channel patch embedding repeated over the input channels";
  log_info("encoder initialised from %s: %lld tensors, %zu ignored (head/decoder)%s", init.file.c_str(),
           static_cast<long long>(init.copied), init.ignored.size(), notes.c_str());
}

std::string SegmentationTask::describe() const {
  const int64_t n = num_parameters(*segmenter_);
  const auto& m = cfg_.model;
  std::string scales;
  for (double r : cfg_.seg.eval_scales) scales += (scales.empty() ? "" : ", ") + c10::str(r);
  char line[640];
  std::snprintf(line, sizeof(line),
                "Segmenter (%s decoder) on ViT dim %d depth %d heads %d patch %d, %d classes, attention %s (%lld "
                "params) on %s; eval windows %lld stride %lld, scales [%s]%s",
                cfg_.seg.decoder.c_str(), m.dim, m.depth, m.heads, m.patch, m.num_classes,
                cfg_.attention.kind.c_str(), static_cast<long long>(n), device_.str().c_str(),
                static_cast<long long>(window_), static_cast<long long>(stride_), scales.c_str(),
                cfg_.seg.eval_flip ? " + flip" : "");
  return line;
}

bool SegmentationTask::no_weight_decay(const std::string& name, const torch::Tensor& param) const {
  return Task::no_weight_decay(name, param) || name.find("cls_emb") != std::string::npos;
}

// Pixel cross-entropy of the logits upsampled to the crop (Segmenter's loss), fused: the (B, K, H, W) logits
// are never built (kernels/seg_loss; CPU float32/64, else the composed LibTorch ops).
torch::Tensor SegmentationTask::train_loss(const Batch& batch) {
  auto logits = segmenter_->forward_patch_logits(batch.x.to(device_, /*non_blocking=*/true));  // (B, K, gh, gw)
  return upsample_cross_entropy(logits, batch.y.to(device_, /*non_blocking=*/true), kIgnoreLabel);
}

torch::Tensor SegmentationTask::eval_sums(const Batch& batch) {
  const auto forward = padded_to_multiple([&](const torch::Tensor& crop) { return segmenter_->forward(crop); },
                                          segmenter_->encoder()->patch());
  // A collated batch is one run of one view; per-sample lists are stacked by runs of equal sizes.
  const auto runs = batch.x.defined() ? std::vector<SameSizeSamples>{{{batch.x}, batch.y}}
                                      : stack_same_size_runs(batch.sample_views, batch.sample_labels);
  auto confusion = torch::zeros({n_cls_, n_cls_}, torch::TensorOptions(torch::kLong).device(device_));
  for (const auto& run : runs) {
    std::vector<torch::Tensor> views;
    for (const auto& v : run.views) views.push_back(v.to(device_));  // (B, 3, h_v, w_v)
    const auto labels = run.labels.to(device_);                      // (B, H0, W0)
    const auto scores = test_time_scores(forward, views, n_cls_, window_, stride_, labels.size(1), labels.size(2),
                                         cfg_.seg.eval_flip);  // (B, K, H0, W0)
    confusion += confusion_matrix(scores.argmax(1), labels, n_cls_, kIgnoreLabel);
  }
  return confusion.flatten().to(torch::kFloat64);
}

EvalResult SegmentationTask::eval_result(const std::vector<double>& sums, int64_t samples) const {
  const auto cm = torch::tensor(sums, torch::kFloat64).view({n_cls_, n_cls_});
  const auto m = segmentation_metrics(cm);
  EvalResult r;
  r.samples = samples;
  r.metrics = {{"miou", m.miou}, {"macc", m.macc}, {"aacc", m.aacc}};
  r.primary = "miou";
  r.files = {{std::string(kPerClassTableFile) + ".md", per_class_table_markdown(m, class_names_)},
             {std::string(kPerClassTableFile) + ".json", per_class_table_json(m, class_names_, cm)}};
  return r;
}

}  // namespace rpct
