#include "trainer/config.h"

#include "datasets/fashion_mnist_geometry.h"  // kFashionMnistSide, scaled_extent

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <sstream>

namespace rpct {
namespace {

std::string scalar_text(const YAML::Node& n) {
  if (n.IsScalar()) return n.Scalar();
  if (n.IsSequence()) return "a list";
  if (n.IsMap()) return "a mapping";
  return "null";
}

// One config key: how to read it from YAML (validating), how to write it back, and what `rpctrain config`
// says of it (its type, the values it takes, one line of meaning).
struct Field {
  std::string key;
  std::function<void(const YAML::Node&, const std::string& where)> read;
  std::function<YAML::Node()> write;
  std::string type, allowed, help;
};

// `v` in the fewest digits that read back as the same double (0.485, not 0.48499999999999999).
std::string shortest_text(double v) {
  char buf[40];
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(buf, sizeof(buf), "%.*g", digits, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

// "lo .. hi" for a range, the largest int written as "max".
std::string range_text(double lo, double hi) {
  const auto bound = [](double v) {
    if (v == std::numeric_limits<int>::max()) return std::string("max");
    if (std::isinf(v)) return std::string(v > 0 ? "inf" : "-inf");
    return shortest_text(v);
  };
  return bound(lo) + " .. " + bound(hi);
}

[[noreturn]] void fail(const std::string& where, const std::string& key, const std::string& what) {
  throw ConfigError(where + ": key '" + key + "': " + what);
}

template <typename T>
T read_number(const YAML::Node& n, const std::string& where, const std::string& key, double lo, double hi) {
  const char* kind = std::is_integral<T>::value ? "an integer" : "a number";
  if (!n.IsScalar()) fail(where, key, std::string("expected ") + kind + ", got " + scalar_text(n));
  T v{};
  try {
    v = n.as<T>();
  } catch (const YAML::Exception&) {
    fail(where, key, std::string("expected ") + kind + ", got '" + n.Scalar() + "'");
  }
  if (!(static_cast<double>(v) >= lo && static_cast<double>(v) <= hi)) {
    std::ostringstream os;
    os << "value " << n.Scalar() << " out of range [" << lo << ", " << hi << "]";
    fail(where, key, os.str());
  }
  return v;
}

// A list value as written back into config.yaml: [a, b, c] on one line.
template <typename Range>
YAML::Node flow_sequence(const Range& values) {
  YAML::Node seq(YAML::NodeType::Sequence);
  for (const auto& v : values) seq.push_back(v);
  seq.SetStyle(YAML::EmitterStyle::Flow);
  return seq;
}

class Registry {
 public:
  template <typename T>
  void number(const std::string& key, T* p, double lo, double hi, const std::string& help) {
    fields_.push_back({key,
                       [=](const YAML::Node& n, const std::string& w) { *p = read_number<T>(n, w, key, lo, hi); },
                       [=] { return YAML::Node(*p); }, std::is_integral<T>::value ? "integer" : "number",
                       range_text(lo, hi), help});
  }
  void boolean(const std::string& key, bool* p, const std::string& help) {
    fields_.push_back({key,
                       [=](const YAML::Node& n, const std::string& w) {
                         bool v = false;
                         if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v))
                           fail(w, key, "expected true or false, got '" + scalar_text(n) + "'");
                         *p = v;
                       },
                       [=] { return YAML::Node(*p); }, "bool", "true | false", help});
  }
  void choice(const std::string& key, std::string* p, std::vector<std::string> allowed, const std::string& help) {
    std::string listed;
    for (const auto& a : allowed) listed += (listed.empty() ? "" : " | ") + a;
    fields_.push_back({key,
                       [=](const YAML::Node& n, const std::string& w) {
                         if (!n.IsScalar()) fail(w, key, "expected a string, got " + scalar_text(n));
                         if (!allowed.empty() &&
                             std::find(allowed.begin(), allowed.end(), n.Scalar()) == allowed.end()) {
                           std::string all;
                           for (const auto& a : allowed) all += (all.empty() ? "" : "|") + a;
                           fail(w, key, "'" + n.Scalar() + "' is not one of " + all);
                         }
                         *p = n.Scalar();
                       },
                       [=] { return YAML::Node(*p); }, "string", listed.empty() ? "any text" : listed, help});
  }
  void text(const std::string& key, std::string* p, const std::string& help) { choice(key, p, {}, help); }
  // Three numbers, one per RGB channel.
  void rgb(const std::string& key, std::array<double, 3>* p, double lo, double hi, const std::string& help) {
    fields_.push_back({key,
                       [=](const YAML::Node& n, const std::string& w) {
                         if (!n.IsSequence() || n.size() != 3)
                           fail(w, key, "expected 3 numbers (R, G, B), got '" + scalar_text(n) + "'");
                         for (size_t i = 0; i < 3; ++i) (*p)[i] = read_number<double>(n[i], w, key, lo, hi);
                       },
                       [=] { return flow_sequence(*p); }, "3 numbers", "each " + range_text(lo, hi), help});
  }
  void custom(Field f) { fields_.push_back(std::move(f)); }

  const Field* find(const std::string& key) const {
    for (const auto& f : fields_)
      if (f.key == key) return &f;
    return nullptr;
  }
  bool is_section(const std::string& prefix) const {
    for (const auto& f : fields_)
      if (f.key.rfind(prefix + ".", 0) == 0) return true;
    return false;
  }
  const std::vector<Field>& fields() const { return fields_; }

 private:
  std::vector<Field> fields_;
};

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kMaxInt = std::numeric_limits<int>::max();
// seg.eval_scales: mmseg's ADE20K aug test uses 0.5 .. 1.75; below 1/16 an image shrinks to a few pixels.
constexpr double kMinEvalScale = 0.0625, kMaxEvalScale = 16;
// data.std: a divisor; below 1/255 one grey level would span more than 255 normalized units.
constexpr double kMinStd = 1.0 / 255;

Registry make_registry(Config& c) {
  Registry r;
  auto& m = c.model;
  r.choice("model.arch", &m.arch, {"tiny", "small", "base", "custom"},
           "DeiT sizes tiny (192 wide, 12 deep, 3 heads), small, base; custom: model.dim / depth / heads as given");
  r.number("model.img_size", &m.img_size, 1, 8192,
           "input image side in pixels (the patch grid is img_size / patch)");
  r.number("model.patch", &m.patch, 1, 1024,
           "patch side in pixels");
  r.number("model.in_chans", &m.in_chans, 1, 64,
           "input channels (1 for Fashion-MNIST, 3 for RGB)");
  r.number("model.num_classes", &m.num_classes, 1, 1e7,
           "classes of the classifier head, or of the segmentation decoder");
  r.number("model.dim", &m.dim, 1, 65536,
           "token width (custom arch)");
  r.number("model.depth", &m.depth, 1, 1024,
           "transformer blocks (custom arch)");
  r.number("model.heads", &m.heads, 1, 1024,
           "attention heads per block (custom arch); must divide model.dim");
  r.number("model.mlp_ratio", &m.mlp_ratio, 0.0625, 64,
           "MLP hidden width / token width (4 for the DeiT sizes)");
  r.number("model.drop_path", &m.drop_path, 0, 0.99,
           "stochastic depth rate of the last block (linear from 0 over the blocks)");
  r.choice("model.global_pool", &m.global_pool, {"token", "avg"},
           "what the classifier head reads: token (the cls token) or avg (mean of the patch tokens)");
  r.number("model.dropout", &m.dropout, 0, 0.99,
           "dropout after the patch embedding and in the MLPs");
  r.number("model.ln_eps", &m.ln_eps, 1e-12, 1e-2,
           "the encoder LayerNorms' epsilon: 1e-6 as timm / DeiT, 1e-5 as Segmenter (torch's default)");

  auto& a = c.attention;
  r.choice("attention.kind", &a.kind, {"softmax", "sym", "kvpos", "rpc"},
           "softmax (QKV), sym (symmetric: keys as queries), kvpos (KV + positional term), rpc (RPC-Attention) in attention.rpc.layers, sym elsewhere; docs/rpc-attention.md");
  r.choice("attention.impl", &a.impl, {"auto", "fused", "composed", "reference"},
           "which implementation runs: auto (fused on CPU, composed on CUDA), fused (the custom kernels), composed (SDPA + fused PCP steps), reference (LibTorch ops)");
  r.number("attention.attn_drop", &a.attn_drop, 0, 0.99,
           "dropout on the attention probabilities");
  r.number("attention.rpc.n_iter", &a.rpc_n_iter, 1, 64,
           "ADMM iterations of RPC-Attention (softmax evaluations per layer)");
  r.number("attention.rpc.lambda", &a.rpc_lambda, 0, 1e6,
           "RPC-Attention's sparsity weight lambda (the shrinkage threshold is lambda / mu)");
  r.custom({"attention.rpc.layers",
            [&a](const YAML::Node& n, const std::string& w) {
              const std::string key = "attention.rpc.layers";
              if (n.IsScalar() && n.Scalar() == "all") {
                a.rpc_all_layers = true;
                a.rpc_layers.clear();
                return;
              }
              if (!n.IsSequence()) fail(w, key, "expected a list of block indices or 'all', got '" + scalar_text(n) + "'");
              a.rpc_all_layers = false;
              a.rpc_layers.clear();
              for (const auto& e : n) a.rpc_layers.push_back(read_number<int>(e, w, key, 0, kMaxInt));
            },
            [&a] {
              if (a.rpc_all_layers) return YAML::Node("all");
              return flow_sequence(a.rpc_layers);
            },
            "list | all", "block indices 0 .. model.depth - 1, or all",
            "the blocks that use RPC-Attention (attention.kind rpc)"});

  auto& d = c.data;
  r.choice("data.kind", &d.kind, {"fashion_mnist", "imagenet", "ade20k"},
           "fashion_mnist (the IDX files), imagenet (ImageNet folder layout), ade20k (ADEChallengeData2016 layout: segmentation)");
  r.text("data.root", &d.root,
           "the data set's folder");
  r.boolean("data.augment", &d.augment,
           "training augmentation on (the recipe of data.kind) or off");
  r.number("data.repeated_aug", &d.repeated_aug, 1, 16,
           "repeated augmentation: each sampled image k times per epoch (DeiT: 3)");
  r.number("data.canvas", &d.canvas, 0, 4096,
           "fashion_mnist: items on a canvas of this side, at a random offset in training, centered in evaluation (model.img_size must equal it); 0 = 28x28 as they are");
  r.number("data.canvas_min_scale", &d.canvas_min_scale, 0.1, 100,
           "fashion_mnist canvas: smallest random scale of an item in training");
  r.number("data.canvas_max_scale", &d.canvas_max_scale, 0.1, 100,
           "fashion_mnist canvas: largest random scale of an item in training");
  r.number("data.limit_train", &d.limit_train, 0, kMaxInt,
           "use only the first k training samples (0 = all)");
  r.number("data.limit_test", &d.limit_test, 0, kMaxInt,
           "use only the first k test samples (0 = all)");
  r.number("data.workers", &d.workers, 0, 256,
           "loader threads per rank (0 = load in the training thread)");
  r.number("data.prefetch", &d.prefetch, 1, 1024,
           "batches in flight per rank");
  r.choice("data.on_bad_sample", &d.on_bad_sample, {"skip", "error"},
           "an undecodable or missing image: skip (log once, count, replace) or error (stop, naming the file)");
  r.number("data.max_image_pixels", &d.max_image_pixels, 0, 1e12,
           "images whose header says more pixels are bad samples (decompression bombs); 0 = no limit");
  r.text("data.label_file", &d.label_file,
           "imagenet with a flat val/ folder: LOC_val_solution.csv or '<file> <index>' lines");
  r.text("data.synset_words", &d.synset_words,
           "imagenet class names: '<wnid> <name>' lines (optional)");
  r.number("data.img_size", &d.img_size, 8, 4096,
           "imagenet: the training crop and evaluation center crop side");
  r.number("data.eval_resize", &d.eval_resize, 8, 8192,
           "imagenet evaluation: shorter side before the center crop");
  r.number("data.randaug_ops", &d.randaug_ops, 0, 16,
           "RandAugment operations per image (rand-m9-mstd0.5-inc1 with the defaults); 0 = off");
  r.number("data.randaug_magnitude", &d.randaug_magnitude, 0, 10,
           "RandAugment magnitude (0-10)");
  r.number("data.randaug_mstd", &d.randaug_mstd, 0, 10,
           "RandAugment magnitude noise (standard deviation)");
  r.number("data.color_jitter", &d.color_jitter, 0, 1,
           "color jitter strength, used only when RandAugment is off (timm/DeiT)");
  r.number("data.reprob", &d.reprob, 0, 1,
           "random erasing probability");
  r.number("data.mixup", &d.mixup, 0, 100,
           "Mixup alpha; 0 = off");
  r.number("data.cutmix", &d.cutmix, 0, 100,
           "CutMix alpha; 0 = off");
  r.number("data.mixup_switch_prob", &d.mixup_switch_prob, 0, 1,
           "with both on: the probability of CutMix instead of Mixup for a batch");
  r.number("data.seg_crop", &d.seg_crop, 8, 8192,
           "ade20k: training crop side, and the default sliding-window side");
  r.number("data.seg_scale_short", &d.seg_scale_short, 8, 8192,
           "ade20k: base scale 4x this by this (2048 x 512), random ratio 0.5-2.0 in training");
  r.boolean("data.pin_memory", &d.pin_memory,
           "pinned host memory for batches (CUDA)");
  r.rgb("data.mean", &d.mean, -kInf, kInf,
           "imagenet / ade20k normalization mean per RGB channel, in pixel/255 units");
  r.rgb("data.std", &d.std, kMinStd, kInf,
           "imagenet / ade20k normalization std per RGB channel, in pixel/255 units");

  auto& t = c.train;
  r.number("train.epochs", &t.epochs, 1, 100000,
           "training length in epochs (unless train.iters is set)");
  r.number("train.batch_size", &t.batch_size, 1, 1 << 20,
           "samples per rank per micro-batch");
  r.number("train.accum_steps", &t.accum_steps, 1, 1024,
           "micro-batches per optimizer step (gradient accumulation)");
  r.number("train.lr", &t.lr, 1e-12, 10,
           "peak learning rate");
  r.number("train.min_lr", &t.min_lr, 0, 10,
           "learning rate at the end of the schedule");
  r.number("train.warmup_lr", &t.warmup_lr, 0, 10,
           "learning rate at the start of the linear warmup");
  r.number("train.warmup_epochs", &t.warmup_epochs, 0, 100000,
           "warmup length in epochs (fractions allowed)");
  r.number("train.weight_decay", &t.weight_decay, 0, 10,
           "decoupled weight decay (not on biases, norms, cls token, position embeddings)");
  r.number("train.label_smoothing", &t.label_smoothing, 0, 0.99,
           "label smoothing of the classification loss");
  r.number("train.clip_grad", &t.clip_grad, 0, kInf,
           "clip the global gradient norm to this; 0 = off");
  r.number("train.seed", &t.seed, 0, kMaxInt,
           "seed of initialization, sampling and augmentation (rank r draws with seed + r)");
  r.number("train.threads", &t.threads, 0, 1024,
           "intra-op threads per rank; 0 = cores / ranks on the node");
  r.number("train.log_every", &t.log_every, 1, kMaxInt,
           "steps between logged losses (metrics.jsonl, plain progress lines)");
  r.number("train.eval_batch_size", &t.eval_batch_size, 1, 1 << 20,
           "evaluation batch size per rank");
  r.number("train.eval_every", &t.eval_every, 0, kMaxInt,
           "evaluate after every k-th epoch and after the last; 0 = only after the last");
  r.number("train.ema", &t.ema, 0, 0.9999999,
           "EMA decay of the weights (e.g. 0.99996); 0 = off");
  r.choice("train.optimizer", &t.optimizer, {"adamw", "sgd"},
           "adamw or sgd (heavy-ball momentum)");
  r.number("train.momentum", &t.momentum, 0, 0.999999,
           "sgd momentum");
  r.choice("train.schedule", &t.schedule, {"cosine", "poly"},
           "LR after the warmup: cosine (DeiT) or poly (mmseg's PolyLR), per optimizer step");
  r.number("train.poly_power", &t.poly_power, 1e-6, 100,
           "the poly schedule's power");
  r.number("train.iters", &t.iters, 0, 1e15,
           "training length in optimizer steps (e.g. 160000 for ADE20K); 0 = train.epochs");
  r.boolean("train.flush_denormal", &t.flush_denormal,
           "flush denormals to zero in every compute thread (CPU GEMMs slow down ~10x on them)");
  r.choice("train.device", &t.device, {"auto", "cpu", "cuda"},
           "auto (cuda:<local rank> when there is a GPU per rank, else CPU), cpu or cuda");
  r.choice("train.precision", &t.precision, {"fp32", "bf16", "auto"},
           "fp32, bf16 (forward and loss under bfloat16 autocast; weights and optimizer stay float32), or auto "
           "(bf16 on CUDA and on CPUs with AMX-BF16 / AVX512-BF16, else fp32; the log says which)");
  r.boolean("train.tf32", &t.tf32,
           "TF32 tensor cores for float32 matmuls on CUDA (Ampere and later)");
  r.choice("train.on_nonfinite", &t.on_nonfinite, {"abort", "skip"},
           "a NaN/inf loss on any rank: abort (an error naming step and rank) or skip the step on every rank");
  r.boolean("train.tensorboard", &t.tensorboard,
            "write TensorBoard events into <run>/tb (scalars of metrics.jsonl; segmentation: prediction pictures)");

  r.number("dist.bucket_mb", &c.dist.bucket_mb, 0.001, 4096,
           "gradient bucket size after the first (MB)");
  r.number("dist.first_bucket_mb", &c.dist.first_bucket_mb, 0.001, 4096,
           "the first gradient bucket's size (MB; small, so the first all-reduce starts early)");
  r.number("dist.timeout_s", &c.dist.timeout_s, 0.1, 1e7,
           "watchdog: a collective stuck this long aborts the job, naming the ranks that never arrived");
  r.choice("dist.overlap", &c.dist.overlap, {"auto", "on", "off"},
           "all-reduce buckets during backward (on) or after it (off); auto: off when the CPU's cores are all busy");

  r.choice("seg.decoder", &c.seg.decoder, {"mask", "linear"},
           "mask (Segmenter's mask transformer) or linear");
  r.number("seg.decoder_depth", &c.seg.decoder_depth, 1, 64,
           "mask decoder blocks");
  r.number("seg.decoder_dropout", &c.seg.decoder_dropout, 0, 0.99,
           "dropout in the mask decoder");
  r.number("seg.window", &c.seg.window, 0, 1 << 16,
           "evaluation sliding-window side; 0 = data.seg_crop");
  r.number("seg.stride", &c.seg.stride, 0, 1 << 16,
           "evaluation sliding-window stride; 0 = the window (no overlap)");
  r.custom({"seg.eval_scales",
            [&c](const YAML::Node& n, const std::string& w) {
              const std::string key = "seg.eval_scales";
              if (!n.IsSequence() || n.size() == 0)
                fail(w, key, "expected a non-empty list of scale ratios, e.g. [0.5, 1.0, 1.5], got '" + scalar_text(n) + "'");
              c.seg.eval_scales.clear();
              for (const auto& e : n)
                c.seg.eval_scales.push_back(read_number<double>(e, w, key, kMinEvalScale, kMaxEvalScale));
            },
            [&c] { return flow_sequence(c.seg.eval_scales); },
            "list", "each " + range_text(kMinEvalScale, kMaxEvalScale),
            "multi-scale test: ratios of the evaluation scale, probabilities averaged; [1.0] = single scale"});
  r.boolean("seg.eval_flip", &c.seg.eval_flip,
           "also evaluate the mirrored image at each scale");
  r.text("seg.backbone", &c.seg.backbone,
           "initialise the encoder from a classification run, checkpoint or .safetensors; empty = random init");

  r.number("ckpt.every_steps", &c.ckpt.every_steps, 0, kMaxInt,
           "also checkpoint every k optimizer steps; 0 = only at epoch ends");
  r.boolean("ckpt.epoch_end", &c.ckpt.epoch_end,
           "checkpoint at the end of every epoch");
  r.number("ckpt.keep", &c.ckpt.keep, 1, 100000,
           "keep the newest k complete checkpoints (and the best by the task's metric)");

  r.text("run.out_dir", &c.run.out_dir,
           "where run directories go");
  r.text("run.name", &c.run.name,
           "the run directory's name; empty: <config>-slurm-<job id> under Slurm, else <config>-<UTC time>");
  r.choice("run.stop_signal", &c.run.stop_signal, {"USR1", "USR2", "TERM", "INT", "HUP", "XCPU"},
           "a signal that stops the run gracefully besides TERM, INT and USR1 (Slurm's --signal)");
  r.number("run.stop_grace_s", &c.run.stop_grace_s, 0.1, 1e6,
           "seconds from a stop signal to the written checkpoint; past them the rank exits without it");
  return r;
}

// Walks the YAML tree; every leaf must be a registered key.
void apply_tree(const Registry& r, const YAML::Node& node, const std::string& prefix, const std::string& where,
                std::set<std::string>& seen) {
  if (!node.IsMap()) {
    if (prefix.empty()) throw ConfigError(where + ": the top level must be a mapping of sections");
    fail(where, prefix, "expected a mapping, got '" + scalar_text(node) + "'");
  }
  for (const auto& kv : node) {
    // YAML allows any node as a key (`? [a]` or `{[a]: 1}`); a config key is a name.
    if (!kv.first.IsScalar())
      fail(where, prefix.empty() ? "(top level)" : prefix, "has a key that is " + scalar_text(kv.first) + ", not a name");
    const std::string key = (prefix.empty() ? "" : prefix + ".") + kv.first.Scalar();
    if (const Field* f = r.find(key)) {
      f->read(kv.second, where);
      seen.insert(key);
    } else if (r.is_section(key)) {
      apply_tree(r, kv.second, key, where, seen);
    } else {
      fail(where, key, "unknown key");
    }
  }
}

struct Preset {
  int dim, depth, heads;
};
const std::map<std::string, Preset> kPresets = {
    {"tiny", {192, 12, 3}}, {"small", {384, 12, 6}}, {"base", {768, 12, 12}}};

void validate(Config& c, const std::set<std::string>& seen, const std::string& where) {
  auto& m = c.model;
  auto p = kPresets.find(m.arch);
  if (p != kPresets.end()) {
    const std::pair<const char*, int> fixed[] = {
        {"model.dim", m.dim}, {"model.depth", m.depth}, {"model.heads", m.heads}};
    const int preset_values[] = {p->second.dim, p->second.depth, p->second.heads};
    for (int i = 0; i < 3; ++i)
      if (seen.count(fixed[i].first) && fixed[i].second != preset_values[i])
        fail(where, fixed[i].first, "conflicts with model.arch '" + m.arch + "', which fixes it to " +
                                        std::to_string(preset_values[i]) + " (use arch: custom)");
    m.dim = p->second.dim;
    m.depth = p->second.depth;
    m.heads = p->second.heads;
    if (!seen.count("model.mlp_ratio")) m.mlp_ratio = 4.0;
  }
  if (m.dim % m.heads != 0) fail(where, "model.heads", "model.dim " + std::to_string(m.dim) + " is not divisible by heads " + std::to_string(m.heads));
  if (m.img_size % m.patch != 0) fail(where, "model.patch", "model.img_size " + std::to_string(m.img_size) + " is not a multiple of the patch size");
  for (int l : c.attention.rpc_layers)
    if (l >= m.depth) fail(where, "attention.rpc.layers", "block index " + std::to_string(l) + " >= model.depth " + std::to_string(m.depth));
  if (c.train.min_lr > c.train.lr) fail(where, "train.min_lr", "greater than train.lr");
  const DataConfig defaults;  // a written config.yaml carries the defaults, whatever data.kind
  if (c.data.kind == "fashion_mnist" && (c.data.mean != defaults.mean || c.data.std != defaults.std))
    fail(where, c.data.mean != defaults.mean ? "data.mean" : "data.std",
         "applies to imagenet and ade20k; fashion_mnist is normalized with its own mean and std");
  if (c.data.canvas > 0 && c.data.kind != "fashion_mnist")
    fail(where, "data.canvas", "applies to fashion_mnist only");
  if (c.data.canvas > 0 && c.data.canvas < kFashionMnistSide)
    fail(where, "data.canvas", std::to_string(c.data.canvas) + " is smaller than the " +
                                   std::to_string(kFashionMnistSide) + "x" + std::to_string(kFashionMnistSide) +
                                   " Fashion-MNIST images");
  if (c.data.canvas_max_scale < c.data.canvas_min_scale)
    fail(where, "data.canvas_max_scale", "smaller than data.canvas_min_scale");
  if (c.data.canvas > 0 && scaled_extent(kFashionMnistSide, c.data.canvas_max_scale) > c.data.canvas)
    fail(where, "data.canvas_max_scale", "an item scaled by it (" +
                                             std::to_string(scaled_extent(kFashionMnistSide, c.data.canvas_max_scale)) +
                                             " px) does not fit data.canvas " + std::to_string(c.data.canvas));
  if (c.data.canvas > 0 && c.model.img_size != c.data.canvas)
    fail(where, "model.img_size", std::to_string(m.img_size) + " differs from data.canvas " +
                                      std::to_string(c.data.canvas) + " (the images the model gets)");
  if (!c.seg.backbone.empty() && c.data.kind != "ade20k")
    fail(where, "seg.backbone", "only the segmentation task (data.kind ade20k) has an encoder to initialise");
}

void set_path(YAML::Node root, const std::vector<std::string>& parts, const YAML::Node& value) {
  // yaml-cpp nodes are handles: walk down creating maps, then assign the leaf.
  std::vector<YAML::Node> chain{root};
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    YAML::Node next = chain.back()[parts[i]];
    if (!next.IsDefined() || next.IsNull()) next = YAML::Node(YAML::NodeType::Map);
    chain.back()[parts[i]] = next;
    chain.push_back(chain.back()[parts[i]]);
  }
  chain.back()[parts.back()] = value;
}

Config build(YAML::Node root, const std::string& source, const std::vector<std::string>& overrides) {
  Config c;
  c.source = source;
  Registry r = make_registry(c);
  if (!root.IsDefined() || root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  for (const auto& o : overrides) {
    auto eq = o.find('=');
    if (eq == std::string::npos || eq == 0) throw ConfigError("--set '" + o + "': expected key.sub=value");
    const std::string key = o.substr(0, eq);
    if (!r.find(key)) throw ConfigError("--set: key '" + key + "': unknown key");
    std::vector<std::string> parts;
    std::stringstream ss(key);
    for (std::string part; std::getline(ss, part, '.');) parts.push_back(part);
    YAML::Node value;
    try {
      // An empty value is the empty string (`--set seg.backbone=` clears a path), not YAML's null; a null, if a
      // key ever takes one, is written `~`.
      const std::string text = o.substr(eq + 1);
      value = text.empty() ? YAML::Node(std::string()) : YAML::Load(text);
    } catch (const YAML::Exception& e) {
      throw ConfigError("--set: key '" + key + "': cannot parse value: " + e.what());
    }
    set_path(root, parts, value);
  }
  std::set<std::string> seen;
  apply_tree(r, root, "", source, seen);
  validate(c, seen, source);
  return c;
}

}  // namespace

Config parse_config(const std::string& yaml_text, const std::string& source, const std::vector<std::string>& overrides) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(source + ": invalid YAML: " + e.what());
  }
  try {
    return build(root, source, overrides);
  } catch (const YAML::Exception& e) {  // a yaml-cpp error on an unexpected node: still name the file
    throw ConfigError(source + ": " + e.what());
  }
}

Config load_config(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path + ": cannot open config file");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_config(ss.str(), path, overrides);
}

std::string to_yaml(const Config& cfg) {
  Config copy = cfg;
  Registry r = make_registry(copy);
  YAML::Node root(YAML::NodeType::Map);
  for (const auto& f : r.fields()) {
    std::vector<std::string> parts;
    std::stringstream ss(f.key);
    for (std::string part; std::getline(ss, part, '.');) parts.push_back(part);
    set_path(root, parts, f.write());
  }
  YAML::Emitter out;
  out << root;
  return std::string(out.c_str()) + "\n";
}

std::string to_json(const Config& cfg) {
  Config copy = cfg;
  const Registry r = make_registry(copy);
  nlohmann::json root = nlohmann::json::object();
  for (const auto& f : r.fields()) {
    const YAML::Node node = f.write();
    const auto value = [&f](const YAML::Node& n) -> nlohmann::json {
      if (f.type == "bool") return n.as<bool>();
      const std::string& text = n.Scalar();
      if (f.type == "string") return text;
      char* end = nullptr;
      const long long i = std::strtoll(text.c_str(), &end, 10);
      if (!text.empty() && *end == '\0') return i;
      const double d = std::strtod(text.c_str(), &end);
      if (!text.empty() && *end == '\0') return d;
      return text;  // a list's word ("all")
    };
    nlohmann::json v;
    if (node.IsSequence()) {
      v = nlohmann::json::array();
      for (const auto& e : node) v.push_back(value(e));
    } else {
      v = value(node);
    }
    nlohmann::json* at = &root;  // "a.b.c" -> root["a"]["b"]["c"]
    std::stringstream parts(f.key);
    std::vector<std::string> path;
    for (std::string part; std::getline(parts, part, '.');) path.push_back(part);
    for (size_t i = 0; i + 1 < path.size(); ++i) at = &(*at)[path[i]];
    (*at)[path.back()] = v;
  }
  return root.dump(2) + "\n";
}

namespace {
// `node` with every number written by shortest_text (yaml-cpp writes 17 digits): for people reading the reference.
YAML::Node shortest_numbers(const YAML::Node& node) {
  if (node.IsSequence()) {
    YAML::Node seq(YAML::NodeType::Sequence);
    for (const auto& e : node) seq.push_back(shortest_numbers(e));
    return seq;
  }
  if (!node.IsScalar()) return node;
  const std::string& text = node.Scalar();
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || text.find_first_of(".eE") == std::string::npos) return node;
  return YAML::Node(shortest_text(v));
}
}  // namespace

std::vector<ConfigKeyInfo> config_reference() {
  Config defaults;
  const Registry r = make_registry(defaults);
  std::vector<ConfigKeyInfo> out;
  for (const auto& f : r.fields()) {
    YAML::Emitter value;
    value << YAML::Flow << shortest_numbers(f.write());
    out.push_back({f.key, f.type, value.c_str(), f.allowed, f.help});
  }
  return out;
}

std::string config_reference_markdown() {
  std::ostringstream md;
  md << "# Config keys\n\n"
     << "Generated by `rpctrain config --list` from the code that reads configs (trainer/config.cpp); a test fails\n"
     << "when this file differs from what the binary prints. A config is a YAML file of these sections; `--set\n"
     << "key=value` overrides one key on the command line (the value parsed as YAML; `key=` with nothing after\n"
     << "the `=` is the empty string). Unknown keys, wrong types and\n"
     << "values out of range are errors naming the file and the key. `rpctrain config --explain KEY` shows one key;\n"
     << "`rpctrain config --resolve --config FILE [--set key=value]...` shows a config as training resolves it.\n";
  const auto cell = [](const std::string& text) {  // '|' would end the cell, '<x>' would be read as HTML
    std::string out;
    for (char c : text) out += c == '|' ? std::string("\\|") : c == '<' ? std::string("&lt;") : c == '>' ? std::string("&gt;") : std::string(1, c);
    return out;
  };
  std::string section;
  for (const auto& k : config_reference()) {
    const std::string s = k.key.substr(0, k.key.find('.'));
    if (s != section) {
      section = s;
      md << "\n## " << section << "\n\n| key | type | default | values | meaning |\n| --- | --- | --- | --- | --- |\n";
    }
    md << "| `" << k.key << "` | " << cell(k.type) << " | `" << cell(k.default_value) << "` | " << cell(k.allowed)
       << " | " << cell(k.help) << " |\n";
  }
  return md.str();
}

}  // namespace rpct
