#include "trainer/segmentation.h"

#include <boost/filesystem.hpp>
#include <cstdio>
#include <functional>

#include "core/file_io.h"
#include "core/log.h"
#include "datasets/ade20k.h"
#include "datasets/image_folder.h"  // strided_subset
#include "datasets/picture.h"
#include "kernels/seg_loss/upsample_cross_entropy.h"
#include "trainer/backbone.h"
#include "trainer/model_options.h"
#include "trainer/safetensors.h"
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
// are never built (kernels/seg_loss; CPU float32/64, else the composed LibTorch ops). The loss is float32 under
// bf16 autocast too: the low-resolution logits are widened first (cheap: B x K x gh x gw), which keeps the fused
// kernel on the CPU instead of upsampling (B, K, H, W) bf16 logits through the composed ops (that fallback made
// the Seg-Tiny bf16 step 0.82x float32 at 1.56x its memory).
torch::Tensor SegmentationTask::train_loss(const Batch& batch) {
  auto logits = segmenter_->forward_patch_logits(batch.x.to(device_, /*non_blocking=*/true));  // (B, K, gh, gw)
  if (logits.scalar_type() == torch::kBFloat16 || logits.scalar_type() == torch::kHalf) logits = logits.to(torch::kFloat);
  return upsample_cross_entropy(logits, batch.y.to(device_, /*non_blocking=*/true), kIgnoreLabel);
}

void SegmentationTask::for_each_scored_run(
    const Batch& batch, const std::function<void(const torch::Tensor&, const torch::Tensor&)>& fn) {
  const auto forward = padded_to_multiple([&](const torch::Tensor& crop) { return segmenter_->forward(crop); },
                                          segmenter_->encoder()->patch());
  // A collated batch is one run of one view; per-sample lists are stacked by runs of equal sizes.
  const auto runs = batch.x.defined() ? std::vector<SameSizeSamples>{{{batch.x}, batch.y}}
                                      : stack_same_size_runs(batch.sample_views, batch.sample_labels);
  for (const auto& run : runs) {
    std::vector<torch::Tensor> views;
    for (const auto& v : run.views) views.push_back(v.to(device_));  // (B, 3, h_v, w_v)
    const auto labels = run.labels.to(device_);                      // (B, H0, W0)
    fn(test_time_scores(forward, views, n_cls_, window_, stride_, labels.size(1), labels.size(2), cfg_.seg.eval_flip),
       labels);  // (B, K, H0, W0)
  }
}

torch::Tensor SegmentationTask::eval_sums(const Batch& batch) {
  auto confusion = torch::zeros({n_cls_, n_cls_}, torch::TensorOptions(torch::kLong).device(device_));
  for_each_scored_run(batch, [&](const torch::Tensor& scores, const torch::Tensor& labels) {
    confusion += confusion_matrix(scores.argmax(1), labels, n_cls_, kIgnoreLabel);
  });
  return confusion.flatten().to(torch::kFloat64);
}

std::vector<torch::Tensor> SegmentationTask::predict(const Batch& batch, std::vector<torch::Tensor>* scores) {
  torch::NoGradGuard no_grad;
  segmenter_->eval();
  std::vector<torch::Tensor> predictions;
  for_each_scored_run(batch, [&](const torch::Tensor& run_scores, const torch::Tensor& /*labels*/) {
    const auto cpu = run_scores.to(torch::kCPU, torch::kFloat32);  // (B, K, H0, W0)
    for (int64_t i = 0; i < cpu.size(0); ++i) {
      predictions.push_back(cpu[i].argmax(0));  // (H0, W0) int64
      if (scores) scores->push_back(cpu[i].contiguous());
    }
  });
  return predictions;
}

Image SegmentationTask::prediction_picture(const Batch& batch, size_t i, const torch::Tensor& prediction) const {
  const bool collated = batch.x.defined();
  const torch::Tensor label = collated ? batch.y[static_cast<int64_t>(i)] : batch.sample_labels[i];  // (H0, W0)
  const torch::Tensor view = collated ? batch.x[static_cast<int64_t>(i)] : batch.sample_views[i][0];  // (3, h, w)
  const int h = static_cast<int>(label.size(0)), w = static_cast<int>(label.size(1));
  const auto palette = segmentation_palette(static_cast<int>(n_cls_));
  const std::vector<double> mean(cfg_.data.mean.begin(), cfg_.data.mean.end()), std(cfg_.data.std.begin(), cfg_.data.std.end());
  return side_by_side({denormalized_picture(view, mean, std, w, h), label_picture(label, palette),
                       label_picture(prediction, palette)});
}

std::vector<std::pair<std::string, Image>> SegmentationTask::eval_pictures(BatchSource& set, int count) {
  std::vector<std::pair<std::string, Image>> out;
  for (const int64_t idx : strided_subset(set.size(), count)) {
    const Batch batch = set.make_batch(0, {idx});
    const auto prediction = predict(batch);
    out.emplace_back(set.sample_id(idx), prediction_picture(batch, 0, prediction.at(0)));
  }
  return out;
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

std::vector<std::string> save_segmentation_outputs(SegmentationTask& task, BatchSource& set, const std::string& dir,
                                                   const std::string& logits_file, int64_t limit) {
  if (!dir.empty()) boost::filesystem::create_directories(dir + "/labels");
  std::vector<std::string> ids;
  NamedTensors logits;
  for (const int64_t idx : strided_subset(set.size(), limit)) {
    const Batch batch = set.make_batch(0, {idx});
    std::vector<torch::Tensor> scores;
    const auto prediction = task.predict(batch, logits_file.empty() ? nullptr : &scores).at(0);  // (H0, W0)
    const std::string id = set.sample_id(idx);
    ids.push_back(id);
    if (!dir.empty()) {
      write_file_bytes(dir + "/" + id + ".png", encode_png(task.prediction_picture(batch, 0, prediction)));
      const auto ade = (prediction + 1).to(torch::kUInt8).contiguous();  // training id + 1; 0 = "other"
      Image label;
      label.width = static_cast<int>(ade.size(1));
      label.height = static_cast<int>(ade.size(0));
      label.channels = 1;
      label.pixels.assign(ade.data_ptr<uint8_t>(), ade.data_ptr<uint8_t>() + ade.numel());
      write_file_bytes(dir + "/labels/" + id + ".png", encode_png(label));
    }
    if (!logits_file.empty()) logits.emplace_back(id, scores.at(0));
  }
  if (!logits_file.empty())
    write_safetensors(logits_file, logits, {{"format", "rpctrain-scores"}, {"layout", "(K, H, W) per sample id"}});
  return ids;
}

}  // namespace rpct
