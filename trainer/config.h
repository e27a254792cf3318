// One YAML file -> one validated Config. Unknown keys, wrong types and out-of-range values
// are ConfigError exceptions whose message names the file and the dotted key.
#pragma once
#include <array>
#include <stdexcept>
#include <string>
#include <vector>

#include "datasets/decode.h"  // kDefaultMaxImagePixels

namespace rpct {

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct ModelConfig {
  std::string arch = "custom";  // tiny | small | base (DeiT sizes) | custom (fields below)
  int img_size = 28;
  int patch = 4;
  int in_chans = 1;
  int num_classes = 10;
  int dim = 96;
  int depth = 4;
  int heads = 3;
  double mlp_ratio = 2.0;
  double drop_path = 0.0;
  double dropout = 0.0;
  std::string global_pool = "token";  // token (cls token) | avg (mean of the patch tokens): models/vit.h
  // The encoder LayerNorms' epsilon: timm/DeiT's 1e-6 (the default, so configs saved before the key keep their
  // models); Segmenter as published uses torch's 1e-5 (configs/segmenter_tiny_ade20k_*.yaml).
  double ln_eps = 1e-6;
};

struct AttentionConfig {
  std::string kind = "softmax";     // softmax | sym | kvpos | rpc
  std::string impl = "auto";        // auto | fused | composed | reference (models/attention.h AttentionPath)
  double attn_drop = 0.0;
  int rpc_n_iter = 4;
  double rpc_lambda = 4.0;
  std::vector<int> rpc_layers = {0};  // block indices; `all` in YAML = every block
  bool rpc_all_layers = false;
};

struct DataConfig {
  std::string kind = "fashion_mnist";
  std::string root = "/usr/share/datasets/fashion-mnist";
  bool augment = true;
  int repeated_aug = 1;  // DeiT's repeated augmentation: each sampled image k times per epoch (3 in DeiT)
  // fashion_mnist: the 28x28 items on a canvas x canvas zero background, at a random position per sample in
  // training (every offset equally likely; deterministic per seed, epoch, sample), centered in evaluation, so
  // a ViT learns items anywhere on its patch grid (model.img_size must be the canvas). 0 = 28x28 as they are.
  // In training each item is also scaled by a uniform factor in [canvas_min_scale, canvas_max_scale].
  int canvas = 0;
  double canvas_min_scale = 1.0;
  double canvas_max_scale = 1.0;
  int limit_train = 0;  // 0 = all samples; >0 = the first k (for quick runs and tests)
  int limit_test = 0;
  // imagenet / ade20k input pipelines (datasets/loader.h)
  int workers = 4;                     // loader threads per rank; 0 = load inside the training thread
  int prefetch = 4;                    // batches in flight
  std::string on_bad_sample = "skip";  // skip (log once, count, replace) | error (stop, naming the file)
  int64_t max_image_pixels = kDefaultMaxImagePixels;  // header width x height above: bad sample (Pillow's limit); 0 = none
  std::string label_file = "";         // imagenet flat val/: LOC_val_solution.csv or "<file> <index>" lines
  std::string synset_words = "";       // imagenet class names: "<wnid> <name>" lines
  int img_size = 224;                  // classification crop
  int eval_resize = 256;               // classification eval: shorter side, then center crop img_size
  int randaug_ops = 2;                 // RandAugment rand-m9-mstd0.5-inc1; 0 = off
  double randaug_magnitude = 9.0;
  double randaug_mstd = 0.5;
  double color_jitter = 0.4;           // applied only when randaug_ops = 0 (timm/DeiT)
  double reprob = 0.25;                // random erasing
  double mixup = 0.8;                  // Mixup alpha; 0 = off
  double cutmix = 1.0;                 // CutMix alpha; 0 = off
  double mixup_switch_prob = 0.5;
  int seg_crop = 512;                  // ade20k: train crop / sliding window
  int seg_scale_short = 512;           // ade20k: base scale 2048 x this, ratio 0.5-2.0
  bool pin_memory = true;              // on CUDA builds with a GPU
  // imagenet / ade20k input normalization (mmseg's img_norm_cfg, pixel/255 units): x = (pixel/255 - mean) / std
  // per RGB channel. Defaults = ImageNet's (datasets/transforms.h kImagenetMean/Std); fashion_mnist has its own.
  std::array<double, 3> mean = {0.485, 0.456, 0.406};
  std::array<double, 3> std = {0.229, 0.224, 0.225};
};

struct TrainConfig {
  int epochs = 10;
  int batch_size = 128;          // per rank
  int accum_steps = 1;
  double lr = 1e-3;              // peak LR
  double min_lr = 1e-5;
  double warmup_lr = 1e-6;
  double warmup_epochs = 1.0;
  double weight_decay = 0.05;
  double label_smoothing = 0.1;
  double clip_grad = 1.0;        // max global grad norm; 0 = off
  int seed = 0;
  int threads = 0;               // intra-op threads per rank; 0 = cores / local ranks
  int log_every = 50;            // steps between plain progress lines (non-TTY)
  int eval_batch_size = 500;
  // Evaluate on the test set after every k-th epoch, and always after the run's last (mmseg's evaluation
  // interval); 0 = only after the last.
  int eval_every = 1;
  double ema = 0.0;              // EMA decay of the weights (e.g. 0.99996); 0 = off
  // Optimizer (both with the same parameter groups: weight decay except Task::no_weight_decay's tensors).
  std::string optimizer = "adamw";  // adamw | sgd
  double momentum = 0.9;            // sgd: heavy-ball momentum (PyTorch's SGD, dampening 0, not Nesterov)
  // LR after the warmup: cosine (DeiT/timm) or poly (mmseg's PolyLR:
  // lr = (lr0 - min_lr) * (1 - t / T)^poly_power + min_lr), stepped per optimizer step.
  std::string schedule = "cosine";  // cosine | poly
  double poly_power = 0.9;
  // Training length in optimizer steps (160k for ADE20K); 0 = train.epochs. With iters the run may stop
  // mid-epoch (then evaluates and checkpoints) and the LR curve is measured in steps.
  int64_t iters = 0;
  // Flush-to-zero + denormals-are-zero in every compute thread (CPU): LibTorch's GEMMs run ~10x slower
  // on denormal operands (saturated softmax rows produce them); values below 1.2e-38 do not matter to
  // float32 training. Intel's CPU tuning guides recommend the same (torch.set_flush_denormal).
  bool flush_denormal = true;
  std::string device = "auto";  // auto | cpu | cuda (auto: cuda:<local rank> when available)
  // Forward (and loss) under autocast to bfloat16 on the training device (bf16), or plain float32 (fp32).
  // Parameters, gradients and optimizer state stay float32 either way; backward runs outside autocast.
  std::string precision = "fp32";  // fp32 | bf16 | auto (resolve_precision, trainer/runtime.h)
  // TF32 tensor cores for float32 matmuls and convolutions on CUDA (Ampere and later); no effect on CPU.
  bool tf32 = true;
  // A step whose loss is NaN or inf on any rank: abort (an error naming the step and the rank) or skip (no
  // optimizer/EMA update on any rank, decided together by a one-number all-reduce; counted in the log and the
  // result line).
  std::string on_nonfinite = "abort";
  // Rank 0 writes TensorBoard event files into <run>/tb as it trains (the scalars of metrics.jsonl, and at each
  // evaluation of a segmentation run pictures of 4 validation images): `tensorboard --logdir runs`.
  bool tensorboard = true;
};

struct DistConfig {
  double bucket_mb = 25.0;
  double first_bucket_mb = 1.0;
  double timeout_s = 300.0;
  // All-reduce buckets during backward (on) or after it (off). auto: off on a CPU device whose cores are
  // all busy with this node's compute threads (ranks x train.threads >= cores), else on.
  std::string overlap = "auto";
};

struct CkptConfig {
  int every_steps = 0;     // also checkpoint every k optimizer steps (0: only at epoch ends)
  bool epoch_end = true;   // checkpoint at the end of every epoch
  int keep = 2;            // keep the newest k complete checkpoints (plus the best by the task's primary metric)
};

// Segmentation (data.kind ade20k): the Segmenter's decoder and the sliding-window evaluation. The encoder is
// model.*, the classes model.num_classes, the attention of encoder and decoder attention.* (RPC in the
// decoder's blocks listed in attention.rpc.layers too).
struct SegConfig {
  std::string decoder = "mask";  // mask (mask transformer) | linear
  int decoder_depth = 2;
  double decoder_dropout = 0.1;
  int window = 0;                // evaluation window; 0 = data.seg_crop
  int stride = 0;                // evaluation stride; 0 = the window (no overlap)
  // Multi-scale test (mmseg aug test): ratios of the eval scale (data.seg_scale_short x 4 times it); one
  // rescaled image each, their softmax probabilities averaged at the label's resolution. [1.0] = single scale.
  std::vector<double> eval_scales = {1.0};
  bool eval_flip = false;        // also the mirrored image of each scale, averaged with the others
  // Encoder initialisation from a trained ViT (trainer/backbone.h): a classification run / checkpoint
  // directory or a .safetensors file (rpctrain or timm names, or a Segmenter's encoder.*); "" = random init.
  std::string backbone = "";
};

struct RunConfig {
  std::string out_dir = "runs";
  std::string name = "";  // empty: <config stem>-<timestamp>, or <config stem>-slurm-<job id> under Slurm
  // A graceful stop (trainer/graceful_stop.h): SIGTERM, SIGINT, SIGUSR1 and this signal (Slurm's --signal)
  // stop every rank at one step with a checkpoint; stop_grace_s bounds the time from the signal to it.
  std::string stop_signal = "USR1";
  double stop_grace_s = 20;  // below Slurm's default KillWait (30 s)
};

struct Config {
  ModelConfig model;
  AttentionConfig attention;
  DataConfig data;
  TrainConfig train;
  DistConfig dist;
  CkptConfig ckpt;
  SegConfig seg;
  RunConfig run;
  std::string source = "<defaults>";  // the file it came from, for messages
};

// Loads `path`, applies `overrides` ("a.b=value", value parsed as YAML), validates.
Config load_config(const std::string& path, const std::vector<std::string>& overrides = {});
// Parses YAML text (for tests); `source` names it in messages.
Config parse_config(const std::string& yaml_text, const std::string& source,
                    const std::vector<std::string>& overrides = {});
// The resolved config as YAML (every key, in a fixed order).
std::string to_yaml(const Config& cfg);
// The same as JSON text ({"model": {"dim": 96, ...}, ...}; numbers as numbers): run directories carry it as
// config.json, for tools in other languages (the Python references of bench/ read it).
std::string to_json(const Config& cfg);

// What `rpctrain config` says of a key: its type, default (as YAML), the values it takes, one line of meaning.
struct ConfigKeyInfo {
  std::string key, type, default_value, allowed, help;
};
// Every key, in the order of the resolved config.
std::vector<ConfigKeyInfo> config_reference();
// The reference as a Markdown page (docs/configs.md is this text): one table per section.
std::string config_reference_markdown();

}  // namespace rpct
