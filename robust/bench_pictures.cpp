#include "robust/bench_pictures.h"

#include <algorithm>

#include "core/file_io.h"
#include "datasets/picture.h"

namespace rpct::robust {
namespace {

// Sample `slot`'s (C, H, W) model input of a classification source (collated batch of one).
torch::Tensor input_of(BatchSource& source, int64_t slot) { return source.make_batch(0, {slot}).x[0]; }

Image visible(const Image& img) {
  const int side = std::min(img.width, img.height);
  return side >= kPictureMinSide ? img : enlarged(img, (kPictureMinSide + side - 1) / side);
}

Image picture_of(const torch::Tensor& chw, const InputNormalization& norm) {
  return visible(denormalized_picture(chw, norm.mean, norm.std));
}

void write_png(const std::string& path, const Image& img) { write_file_bytes(path, encode_png(img)); }

}  // namespace

void write_corruption_grid(std::shared_ptr<BatchSource> clean, const InputNormalization& norm,
                           const std::vector<Corruption>& corruptions, uint64_t seed, int64_t slot,
                           const std::string& path) {
  SuiteSource source(clean, std::vector<int64_t>{slot});
  const Image clean_picture = picture_of(input_of(source, 0), norm);
  std::vector<std::vector<Image>> rows;
  std::vector<std::string> names;
  for (Corruption c : corruptions) {
    std::vector<Image> row = {clean_picture};
    for (int s = 1; s <= kNumSeverities; ++s) {
      // The same draw as the benchmark's item for this image (slot 0 of a one-image source: its seed differs
      // from the benchmark's slot only in the slot, so the picture shows a typical draw, not the exact one).
      source.set_corruption({c, s, seed}, norm, "corruption picture");
      row.push_back(picture_of(input_of(source, 0), norm));
    }
    rows.push_back(std::move(row));
    names.push_back(corruption_names().at(static_cast<int>(c)));
  }
  write_png(path, labelled_grid(rows, names, {"clean", "1", "2", "3", "4", "5"}));
}

void write_attack_pictures(ClassificationTask& task, BatchSource& clean, const std::vector<AttackOptions>& attacks,
                           const InputNormalization& norm, int64_t slot, const std::string& path) {
  torch::NoGradGuard no_grad;  // the attacks enable gradients where they need them
  task.model().eval();
  const auto x = input_of(clean, slot).unsqueeze(0).to(task.device());  // (1, C, H, W)
  const LogitsFn logits = [&task](const torch::Tensor& in) { return task.vit()->forward(in); };
  const auto label = logits(x).argmax(1);  // (1,) the model's own prediction, as the benchmark attacks it
  std::vector<std::vector<Image>> rows;
  std::vector<std::string> names;
  for (const auto& a : attacks) {
    const auto adv = attack(logits, x, label, {slot}, a);  // (1, C, H, W)
    // The perturbation in pixel units, +-eps (in pixels) mapped to 0..255 around grey.
    auto diff = adv - x;                                    // normalized units
    const auto stdv = torch::tensor(norm.std, torch::kFloat64).to(diff.dtype()).view({1, -1, 1, 1}).to(diff.device());
    const double eps_pixels = a.space == InputSpace::kPixel ? a.eps : a.eps * *std::max_element(norm.std.begin(), norm.std.end());
    auto shown = ((diff * stdv) / (2 * eps_pixels) + 0.5);  // [0, 1] for |perturbation| <= eps
    const std::vector<double> unit_mean(norm.mean.size(), 0.0), unit_std(norm.std.size(), 1.0);
    rows.push_back({picture_of(x[0], norm), picture_of(adv[0], norm),
                    visible(denormalized_picture(shown[0], unit_mean, unit_std))});
    names.push_back(std::string(attack_name(a.kind)) + " " + input_space_name(a.space));
  }
  write_png(path, labelled_grid(rows, names, {"clean", "adversarial", "perturbation"}));
}

void write_segmentation_corruption_grid(
    SegmentationTask& task,
    const std::function<std::shared_ptr<BatchSource>(std::function<void(Image&, int64_t)>)>& source,
    const std::vector<Corruption>& corruptions, int severity, uint64_t seed, int64_t slot, const std::string& path) {
  std::vector<std::vector<Image>> rows;
  std::vector<std::string> names;
  const auto row_of = [&](std::function<void(Image&, int64_t)> edit) {
    const auto src = source(std::move(edit));
    const Batch batch = src->make_batch(0, {slot});
    return std::vector<Image>{task.prediction_picture(batch, 0, task.predict(batch).at(0))};
  };
  rows.push_back(row_of(nullptr));
  names.push_back("clean");
  for (Corruption c : corruptions) {
    rows.push_back(row_of(image_corruption({c, severity, seed})));
    names.push_back(corruption_names().at(static_cast<int>(c)) + " " + std::to_string(severity));
  }
  write_png(path, labelled_grid(rows, names, {"image | ground truth | prediction"}));
}

}  // namespace rpct::robust
