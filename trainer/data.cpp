#include "trainer/data.h"

#include <stdexcept>

namespace rpct {

namespace {

void set_normalization(const DataConfig& d, std::array<float, 3>& mean, std::array<float, 3>& std) {
  for (size_t c = 0; c < 3; ++c) {
    mean[c] = static_cast<float>(d.mean[c]);
    std[c] = static_cast<float>(d.std[c]);
  }
}

}  // namespace

ClassificationSourceOptions classification_source_options(const Config& cfg, bool train) {
  const DataConfig& d = cfg.data;
  ClassificationSourceOptions o;
  auto& t = o.transform;
  t.train = train && d.augment;
  t.img_size = d.img_size;
  t.eval_resize = d.eval_resize;
  t.randaug_ops = d.randaug_ops;
  t.randaug_magnitude = d.randaug_magnitude;
  t.randaug_mstd = d.randaug_mstd;
  t.color_jitter = d.color_jitter;
  t.reprob = d.reprob;
  t.max_image_pixels = d.max_image_pixels;
  set_normalization(d, t.mean, t.std);
  o.mixup.mixup_alpha = d.mixup;
  o.mixup.cutmix_alpha = d.cutmix;
  o.mixup.switch_prob = d.mixup_switch_prob;
  o.mixup.label_smoothing = cfg.train.label_smoothing;
  o.mixup_on = t.train;
  o.seed = static_cast<uint64_t>(cfg.train.seed);
  o.on_bad_sample = parse_bad_sample_policy(d.on_bad_sample);
  o.pin_memory = d.pin_memory;
  return o;
}

SegmentationSourceOptions segmentation_source_options(const Config& cfg, bool train) {
  const DataConfig& d = cfg.data;
  SegmentationSourceOptions o;
  o.transform.crop = d.seg_crop;
  o.transform.scale_short = d.seg_scale_short;
  o.transform.scale_long = 4 * d.seg_scale_short;  // 2048 x 512
  o.transform.num_classes = cfg.model.num_classes;
  o.transform.max_image_pixels = d.max_image_pixels;
  set_normalization(d, o.transform.mean, o.transform.std);
  if (!(train && d.augment)) {
    o.transform.ratio_min = o.transform.ratio_max = 1.0;
    o.transform.hflip = 0;
    o.transform.photometric = false;
  }
  if (!train) o.transform.eval_scales = cfg.seg.eval_scales;
  o.seed = static_cast<uint64_t>(cfg.train.seed);
  o.on_bad_sample = parse_bad_sample_policy(d.on_bad_sample);
  o.pin_memory = d.pin_memory;
  return o;
}

Ade20kDataset open_ade20k(const Config& cfg, bool train) {
  Ade20kOptions o;
  o.root = cfg.data.root;
  o.split = train ? "training" : "validation";
  o.limit = train ? cfg.data.limit_train : cfg.data.limit_test;
  return Ade20kDataset::open(o);
}

std::shared_ptr<BatchSource> make_batch_source(const Config& cfg, bool train) {
  const DataConfig& d = cfg.data;
  if (d.kind == "fashion_mnist")
    return std::make_shared<FashionMnistSource>(
        load_fashion_mnist(d.root, train ? "train" : "test", train ? d.limit_train : d.limit_test),
        train && d.augment, static_cast<uint64_t>(cfg.train.seed), FashionMnistCanvas{d.canvas, /*random=*/train, d.canvas_min_scale, d.canvas_max_scale});
  if (d.kind == "imagenet") {
    ImageFolderOptions o;
    o.root = d.root;
    o.split = train ? "train" : "val";
    o.label_file = d.label_file;
    o.synset_words = d.synset_words;
    o.limit = train ? d.limit_train : d.limit_test;
    return std::make_shared<ImageFolderSource>(ImageFolderDataset::open(o), classification_source_options(cfg, train));
  }
  if (d.kind == "ade20k") {
    auto ds = open_ade20k(cfg, train);
    if (!train) return std::make_shared<Ade20kEvalSource>(std::move(ds), segmentation_source_options(cfg, false));
    return std::make_shared<Ade20kSource>(std::move(ds), segmentation_source_options(cfg, true));
  }
  throw std::invalid_argument(cfg.source + ": data.kind '" + d.kind + "' has no BatchSource");
}

}  // namespace rpct
