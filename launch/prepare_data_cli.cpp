#include "launch/prepare_data_cli.h"

#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>

#include "core/json_result.h"
#include "launch/cli.h"
#include "tools/prepare_data.h"

namespace rpct {

namespace {
const char* kUsage =
    "usage: rpctrain prepare-data COMMAND [options]\n"
    "commands:\n"
    "  fashion-mnist-imagenet --out DIR [--source DIR] [--limit-train N] [--limit-val N]\n"
    "                         [--quality Q] [--flat-val]\n"
    "      Fashion-MNIST -> ImageNet folder layout: DIR/train/<wnid>/*.JPEG, DIR/val/<wnid>/*.JPEG\n"
    "      (or flat DIR/val/*.JPEG + DIR/LOC_val_solution.csv), DIR/LOC_synset_mapping.txt.\n"
    "  ade20k-synthetic --out DIR [--train N] [--val N] [--width W] [--height H] [--classes C]\n"
    "                   [--quality Q] [--seed S]\n"
    "      A synthetic set in the ADEChallengeData2016 layout under DIR/ADEChallengeData2016.\n"
    "  fashion-mnist-segmentation --out DIR [--source DIR] [--train N] [--val N] [--size S]\n"
    "                   [--min-items K] [--max-items K] [--min-scale F] [--max-scale F] [--foreground V]\n"
    "                   [--no-overlap] [--quality Q]\n"
    "                   [--seed S]\n"
    "      Scenes of real Fashion-MNIST items with per-pixel labels (11 classes with the background),\n"
    "      in the ADEChallengeData2016 layout under DIR/ADEChallengeData2016.\n"
    "Prints one JSON line last: {\"cmd\": \"prepare-data\", \"ok\", \"subcommand\", \"root\", \"train\", \"val\",\n"
    "\"classes\", \"seconds\"} (or \"ok\": false with \"error\").\n";
}  // namespace

namespace {

// The subcommands: parse argv (argv[0] = the subcommand) and build the set; nullopt after --help.
std::optional<PrepareResult> run_fashion_mnist_imagenet(int argc, char** argv) {
  namespace po = boost::program_options;
  FmnistImagenetOptions o;
  auto d = cli::command_options("prepare-data fashion-mnist-imagenet options");
  d.add_options()("out", po::value<std::string>(&o.out)->required(), "output directory")(
      "source", po::value<std::string>(&o.source)->default_value(o.source), "directory of the Fashion-MNIST IDX files")(
      "limit-train", cli::non_negative(&o.limit_train, "--limit-train")->default_value(o.limit_train),
      "training images to write (0: all 60000)")(
      "limit-val", cli::non_negative(&o.limit_val, "--limit-val")->default_value(o.limit_val),
      "validation images to write (0: all 10000)")(
      "quality", cli::non_negative(&o.quality, "--quality")->default_value(o.quality), "JPEG quality")(
      "flat-val", po::bool_switch(&o.flat_val), "flat val/ with LOC_val_solution.csv instead of val/<wnid>/");
  if (!cli::parse("prepare-data", argc, argv, d, kUsage)) return std::nullopt;
  return prepare_fashion_mnist_imagenet(o);
}

std::optional<PrepareResult> run_ade20k_synthetic(int argc, char** argv) {
  namespace po = boost::program_options;
  SyntheticAde20kOptions o;
  int64_t seed = static_cast<int64_t>(o.seed);
  auto d = cli::command_options("prepare-data ade20k-synthetic options");
  d.add_options()("out", po::value<std::string>(&o.out)->required(), "output directory")(
      "train", cli::non_negative(&o.train, "--train")->default_value(o.train), "training images")(
      "val", cli::non_negative(&o.val, "--val")->default_value(o.val), "validation images")(
      "width", cli::non_negative(&o.width, "--width")->default_value(o.width), "image width")(
      "height", cli::non_negative(&o.height, "--height")->default_value(o.height), "image height")(
      "classes", cli::non_negative(&o.classes, "--classes")->default_value(o.classes), "classes (1..254)")(
      "quality", cli::non_negative(&o.quality, "--quality")->default_value(o.quality), "JPEG quality")(
      "seed", cli::non_negative(&seed, "--seed")->default_value(seed), "random seed");
  if (!cli::parse("prepare-data", argc, argv, d, kUsage)) return std::nullopt;
  o.seed = static_cast<uint64_t>(seed);
  return prepare_synthetic_ade20k(o);
}

std::optional<PrepareResult> run_fashion_mnist_segmentation(int argc, char** argv) {
  namespace po = boost::program_options;
  FmnistSegmentationOptions o;
  int64_t seed = static_cast<int64_t>(o.seed);
  bool no_overlap = false;
  auto d = cli::command_options("prepare-data fashion-mnist-segmentation options");
  d.add_options()("out", po::value<std::string>(&o.out)->required(), "output directory")(
      "source", po::value<std::string>(&o.source)->default_value(o.source), "directory of the Fashion-MNIST IDX files")(
      "train", cli::non_negative(&o.train, "--train")->default_value(o.train), "training scenes")(
      "val", cli::non_negative(&o.val, "--val")->default_value(o.val), "validation scenes")(
      "size", cli::non_negative(&o.size, "--size")->default_value(o.size), "scene side in pixels")(
      "min-items", cli::non_negative(&o.min_items, "--min-items")->default_value(o.min_items), "items per scene, at least")(
      "max-items", cli::non_negative(&o.max_items, "--max-items")->default_value(o.max_items), "items per scene, at most")(
      "min-scale", po::value<double>(&o.min_scale)->default_value(o.min_scale), "item side / 28, at least")(
      "max-scale", po::value<double>(&o.max_scale)->default_value(o.max_scale), "item side / 28, at most")(
      "foreground", cli::non_negative(&o.foreground, "--foreground")->default_value(o.foreground),
      "an item pixel >= this (1..255) is pasted and labelled with the item's class")(
      "no-overlap", po::bool_switch(&no_overlap), "items' boxes never intersect")(
      "quality", cli::non_negative(&o.quality, "--quality")->default_value(o.quality), "JPEG quality")(
      "seed", cli::non_negative(&seed, "--seed")->default_value(seed), "random seed");
  if (!cli::parse("prepare-data", argc, argv, d, kUsage)) return std::nullopt;
  o.seed = static_cast<uint64_t>(seed);
  o.overlap = !no_overlap;
  return prepare_fashion_mnist_segmentation(o);
}

}  // namespace

int prepare_data_main(int argc, char** argv) {
  if (argc >= 1 && (!std::strcmp(argv[0], "--help") || !std::strcmp(argv[0], "-h"))) {
    cli::print_help("prepare-data", kUsage);
    return cli::kExitOk;
  }
  const std::string cmd = argc >= 1 ? argv[0] : "";
  return cli::run_command("prepare-data", [&] {
    if (cmd.empty()) {
      std::fputs(kUsage, stderr);
      throw cli::UsageError(
          "prepare-data: no data set given (fashion-mnist-imagenet | ade20k-synthetic | fashion-mnist-segmentation)");
    }
    const auto t0 = std::chrono::steady_clock::now();
    std::optional<PrepareResult> r;
    try {
      if (cmd == "fashion-mnist-imagenet")
        r = run_fashion_mnist_imagenet(argc, argv);
      else if (cmd == "ade20k-synthetic")
        r = run_ade20k_synthetic(argc, argv);
      else if (cmd == "fashion-mnist-segmentation")
        r = run_fashion_mnist_segmentation(argc, argv);
      else
        throw cli::UsageError("prepare-data: unknown command '" + cmd + "'");
    } catch (const std::invalid_argument& e) {  // the prepare_* functions' checks of their options
      throw cli::UsageError(e.what());
    }
    if (!r) return cli::kExitOk;  // --help
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    print_result({{"cmd", "prepare-data"}, {"ok", true}, {"subcommand", cmd}, {"root", r->root}, {"train", r->train},
                  {"val", r->val}, {"classes", r->classes}, {"seconds", secs}});
    return cli::kExitOk;
  });
}

}  // namespace rpct
