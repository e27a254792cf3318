// Config -> input pipeline: the data.* keys mapped onto each data set's options and BatchSource.
#pragma once
#include <memory>

#include "datasets/ade20k.h"
#include "datasets/fashion_mnist.h"
#include "datasets/image_folder.h"
#include "trainer/config.h"

namespace rpct {

// Options from the validated config: train.seed, train.label_smoothing and the data.* keys.
// train && data.augment -> the DeiT train transform + Mixup/CutMix; otherwise the eval transform.
ClassificationSourceOptions classification_source_options(const Config& cfg, bool train);
// train && data.augment -> Segmenter's train augmentation; train without it: a fixed rescale and crop;
// !train: the test pipeline's rescale at each ratio of seg.eval_scales.
SegmentationSourceOptions segmentation_source_options(const Config& cfg, bool train);

// data.kind ade20k: the training or validation split of data.root (limit_train / limit_test).
Ade20kDataset open_ade20k(const Config& cfg, bool train);

// fashion_mnist: FashionMnistSource (train: augmented per data.augment; test: plain).
// imagenet: ImageFolderSource over <data.root>/train or /val (limit_train / limit_test).
// ade20k: Ade20kSource over training (crops); Ade20kEvalSource over validation (whole images, labels at
// their original size).
std::shared_ptr<BatchSource> make_batch_source(const Config& cfg, bool train);

}  // namespace rpct
