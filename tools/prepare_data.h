// The data-set writers of `rpctrain prepare-data` (its command line: launch/prepare_data_cli.h): data sets in the
// real on-disk layouts.
//   fashion-mnist-imagenet: Fashion-MNIST (Debian IDX files) -> <out>/train/<wnid>/*.JPEG and
//     <out>/val/<wnid>/*.JPEG (or a flat val/ with LOC_val_solution.csv), grayscale JPEGs, plus
//     LOC_synset_mapping.txt. wnids n00000000..n00000009 sort in label order.
//   ade20k-synthetic: <out>/ADEChallengeData2016/{images,annotations}/{training,validation}/ with
//     random shapes whose pixels carry class ids 1..classes (and some 0 = "other" pixels); images are
//     JPEGs coloured by class (learnable), annotations 8-bit grayscale PNGs.
//   fashion-mnist-segmentation: <out>/ADEChallengeData2016/... scenes composed from real Fashion-MNIST
//     items (train split -> training scenes, test split -> validation scenes): several items per scene at
//     random positions and scales over a faint noise background; the annotation labels each item's
//     foreground pixels with its class + 2 and the background 1 (so after reduce_zero_label: background 0,
//     classes 1..10; 11 classes), the ADE20K convention of 0 = "other" is not used; class_names.txt
//     (datasets/ade20k.h) names them: background, T-shirt/top, Trouser, ...
#pragma once
#include <cstdint>
#include <string>

namespace rpct {

struct FmnistImagenetOptions {
  std::string source = "/usr/share/datasets/fashion-mnist";
  std::string out;
  int64_t limit_train = 0, limit_val = 0;  // 0 = all (60000 / 10000)
  int quality = 95;
  bool flat_val = false;  // flat val/ + LOC_val_solution.csv instead of val/<wnid>/
};

struct SyntheticAde20kOptions {
  std::string out;
  int64_t train = 64, val = 16;
  int width = 512, height = 384;
  int classes = 150;
  int quality = 90;
  uint64_t seed = 0;
};

struct FmnistSegmentationOptions {
  std::string source = "/usr/share/datasets/fashion-mnist";
  std::string out;
  int64_t train = 2000, val = 200;  // scenes
  int size = 96;                    // scenes are size x size pixels
  int min_items = 2, max_items = 4;  // items per scene
  double min_scale = 1.0, max_scale = 2.0;  // item side = 28 x scale pixels
  int foreground = 40;  // a Fashion-MNIST pixel >= this (of 255) is the item's, else background
  bool overlap = true;  // false: items' boxes never intersect (an item that finds no free place in
                        // kPlacementTries random positions is left out of its scene)
  int quality = 95;
  uint64_t seed = 0;
};

struct PrepareResult {
  std::string root;  // the directory to point data.root at
  int64_t train = 0, val = 0, classes = 0;
};

PrepareResult prepare_fashion_mnist_imagenet(const FmnistImagenetOptions& opt);
PrepareResult prepare_synthetic_ade20k(const SyntheticAde20kOptions& opt);
PrepareResult prepare_fashion_mnist_segmentation(const FmnistSegmentationOptions& opt);

}  // namespace rpct
