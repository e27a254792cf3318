// `rpctrain prepare-data`: builds data sets in the real on-disk layouts.
//   fashion-mnist-imagenet: Fashion-MNIST (Debian IDX files) -> <out>/train/<wnid>/*.JPEG and
//     <out>/val/<wnid>/*.JPEG (or a flat val/ with LOC_val_solution.csv), grayscale JPEGs, plus
//     LOC_synset_mapping.txt. wnids n00000000..n00000009 sort in label order.
//   ade20k-synthetic: <out>/ADEChallengeData2016/{images,annotations}/{training,validation}/ with
//     random shapes whose pixels carry class ids 1..classes (and some 0 = "other" pixels); images are
//     JPEGs coloured by class (learnable), annotations 8-bit grayscale PNGs.
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

struct PrepareResult {
  std::string root;  // the directory to point data.root at
  int64_t train = 0, val = 0, classes = 0;
};

PrepareResult prepare_fashion_mnist_imagenet(const FmnistImagenetOptions& opt);
PrepareResult prepare_synthetic_ade20k(const SyntheticAde20kOptions& opt);

// argv: the arguments after `rpctrain prepare-data` (argv[0] is the subcommand). Prints a JSON result
// line last; returns 0 on success, 2 on a usage error, 1 on a failure (message on stderr).
int prepare_data_main(int argc, char** argv);

}  // namespace rpct
