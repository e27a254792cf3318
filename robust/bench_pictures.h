// The pictures of the robustness benchmarks (rank 0, no collective; PNG):
//   bench classify  corruptions.png: one evaluation image under every suite corruption at severities 1-5 (rows:
//                   corruptions, columns: clean, 1..5); attacks.png: for FGSM and PGD at the largest eps, the
//                   clean image, the adversarial one and the perturbation, amplified (grey = 0).
//   bench segment   corruption_predictions.png: one validation image clean and under every suite corruption
//                   at one severity, each as image | ground truth | prediction.
#pragma once
#include <string>
#include <vector>

#include "robust/attacks.h"
#include "robust/corruptions.h"
#include "robust/suite.h"
#include "trainer/classification.h"
#include "trainer/segmentation.h"

namespace rpct::robust {

// Each small image is enlarged to at least this many pixels a side (Fashion-MNIST's 28 px are too small to see).
constexpr int kPictureMinSide = 84;

// Sample `slot` of `clean` (a classification evaluation source, normalized by `norm`) under each corruption at
// severities 1..5, beside the clean image; corruption seeds as the benchmark draws them (`seed`).
void write_corruption_grid(std::shared_ptr<BatchSource> clean, const InputNormalization& norm,
                           const std::vector<Corruption>& corruptions, uint64_t seed, int64_t slot,
                           const std::string& path);
// For each attack of `attacks` (options complete but for the kind): the clean image of sample `slot`, the
// attack's adversarial image against the model's own prediction, and the perturbation scaled so that +-eps
// spans the range (grey = no change).
void write_attack_pictures(ClassificationTask& task, BatchSource& clean, const std::vector<AttackOptions>& attacks,
                           const InputNormalization& norm, int64_t slot, const std::string& path);
// Validation sample `slot` clean and under each corruption at `severity`: image | ground truth | prediction.
// `source(edit)`: the evaluation source with each image changed by `edit` first (null: clean).
void write_segmentation_corruption_grid(
    SegmentationTask& task,
    const std::function<std::shared_ptr<BatchSource>(std::function<void(Image&, int64_t)>)>& source,
    const std::vector<Corruption>& corruptions, int severity, uint64_t seed, int64_t slot, const std::string& path);

}  // namespace rpct::robust
