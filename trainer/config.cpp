#include "trainer/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
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

// One config key: how to read it from YAML (validating) and how to write it back.
struct Field {
  std::string key;
  std::function<void(const YAML::Node&, const std::string& where)> read;
  std::function<YAML::Node()> write;
};

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
  void number(const std::string& key, T* p, double lo, double hi) {
    fields_.push_back({key,
                       [=](const YAML::Node& n, const std::string& w) { *p = read_number<T>(n, w, key, lo, hi); },
                       [=] { return YAML::Node(*p); }});
  }
  void boolean(const std::string& key, bool* p) {
    fields_.push_back({key,
                       [=](const YAML::Node& n, const std::string& w) {
                         bool v = false;
                         if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v))
                           fail(w, key, "expected true or false, got '" + scalar_text(n) + "'");
                         *p = v;
                       },
                       [=] { return YAML::Node(*p); }});
  }
  void choice(const std::string& key, std::string* p, std::vector<std::string> allowed) {
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
                       [=] { return YAML::Node(*p); }});
  }
  void text(const std::string& key, std::string* p) { choice(key, p, {}); }
  // Three numbers, one per RGB channel.
  void rgb(const std::string& key, std::array<double, 3>* p, double lo, double hi) {
    fields_.push_back({key,
                       [=](const YAML::Node& n, const std::string& w) {
                         if (!n.IsSequence() || n.size() != 3)
                           fail(w, key, "expected 3 numbers (R, G, B), got '" + scalar_text(n) + "'");
                         for (size_t i = 0; i < 3; ++i) (*p)[i] = read_number<double>(n[i], w, key, lo, hi);
                       },
                       [=] { return flow_sequence(*p); }});
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
  r.choice("model.arch", &m.arch, {"tiny", "small", "base", "custom"});
  r.number("model.img_size", &m.img_size, 1, 8192);
  r.number("model.patch", &m.patch, 1, 1024);
  r.number("model.in_chans", &m.in_chans, 1, 64);
  r.number("model.num_classes", &m.num_classes, 1, 1e7);
  r.number("model.dim", &m.dim, 1, 65536);
  r.number("model.depth", &m.depth, 1, 1024);
  r.number("model.heads", &m.heads, 1, 1024);
  r.number("model.mlp_ratio", &m.mlp_ratio, 0.0625, 64);
  r.number("model.drop_path", &m.drop_path, 0, 0.99);
  r.choice("model.global_pool", &m.global_pool, {"token", "avg"});
  r.number("model.dropout", &m.dropout, 0, 0.99);

  auto& a = c.attention;
  r.choice("attention.kind", &a.kind, {"softmax", "sym", "kvpos", "rpc"});
  r.choice("attention.impl", &a.impl, {"auto", "fused", "composed", "reference"});
  r.number("attention.attn_drop", &a.attn_drop, 0, 0.99);
  r.number("attention.rpc.n_iter", &a.rpc_n_iter, 1, 64);
  r.number("attention.rpc.lambda", &a.rpc_lambda, 0, 1e6);
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
            }});

  auto& d = c.data;
  r.choice("data.kind", &d.kind, {"fashion_mnist", "imagenet", "ade20k"});
  r.text("data.root", &d.root);
  r.boolean("data.augment", &d.augment);
  r.number("data.repeated_aug", &d.repeated_aug, 1, 16);
  r.number("data.canvas", &d.canvas, 0, 4096);
  r.number("data.canvas_min_scale", &d.canvas_min_scale, 0.1, 100);
  r.number("data.canvas_max_scale", &d.canvas_max_scale, 0.1, 100);
  r.number("data.limit_train", &d.limit_train, 0, kMaxInt);
  r.number("data.limit_test", &d.limit_test, 0, kMaxInt);
  r.number("data.workers", &d.workers, 0, 256);
  r.number("data.prefetch", &d.prefetch, 1, 1024);
  r.choice("data.on_bad_sample", &d.on_bad_sample, {"skip", "error"});
  r.number("data.max_image_pixels", &d.max_image_pixels, 0, 1e12);
  r.text("data.label_file", &d.label_file);
  r.text("data.synset_words", &d.synset_words);
  r.number("data.img_size", &d.img_size, 8, 4096);
  r.number("data.eval_resize", &d.eval_resize, 8, 8192);
  r.number("data.randaug_ops", &d.randaug_ops, 0, 16);
  r.number("data.randaug_magnitude", &d.randaug_magnitude, 0, 10);
  r.number("data.randaug_mstd", &d.randaug_mstd, 0, 10);
  r.number("data.color_jitter", &d.color_jitter, 0, 1);
  r.number("data.reprob", &d.reprob, 0, 1);
  r.number("data.mixup", &d.mixup, 0, 100);
  r.number("data.cutmix", &d.cutmix, 0, 100);
  r.number("data.mixup_switch_prob", &d.mixup_switch_prob, 0, 1);
  r.number("data.seg_crop", &d.seg_crop, 8, 8192);
  r.number("data.seg_scale_short", &d.seg_scale_short, 8, 8192);
  r.boolean("data.pin_memory", &d.pin_memory);
  r.rgb("data.mean", &d.mean, -kInf, kInf);
  r.rgb("data.std", &d.std, kMinStd, kInf);

  auto& t = c.train;
  r.number("train.epochs", &t.epochs, 1, 100000);
  r.number("train.batch_size", &t.batch_size, 1, 1 << 20);
  r.number("train.accum_steps", &t.accum_steps, 1, 1024);
  r.number("train.lr", &t.lr, 1e-12, 10);
  r.number("train.min_lr", &t.min_lr, 0, 10);
  r.number("train.warmup_lr", &t.warmup_lr, 0, 10);
  r.number("train.warmup_epochs", &t.warmup_epochs, 0, 100000);
  r.number("train.weight_decay", &t.weight_decay, 0, 10);
  r.number("train.label_smoothing", &t.label_smoothing, 0, 0.99);
  r.number("train.clip_grad", &t.clip_grad, 0, kInf);
  r.number("train.seed", &t.seed, 0, kMaxInt);
  r.number("train.threads", &t.threads, 0, 1024);
  r.number("train.log_every", &t.log_every, 1, kMaxInt);
  r.number("train.eval_batch_size", &t.eval_batch_size, 1, 1 << 20);
  r.number("train.eval_every", &t.eval_every, 0, kMaxInt);
  r.number("train.ema", &t.ema, 0, 0.9999999);
  r.choice("train.optimizer", &t.optimizer, {"adamw", "sgd"});
  r.number("train.momentum", &t.momentum, 0, 0.999999);
  r.choice("train.schedule", &t.schedule, {"cosine", "poly"});
  r.number("train.poly_power", &t.poly_power, 1e-6, 100);
  r.number("train.iters", &t.iters, 0, 1e15);
  r.boolean("train.flush_denormal", &t.flush_denormal);
  r.choice("train.device", &t.device, {"auto", "cpu", "cuda"});
  r.choice("train.precision", &t.precision, {"fp32", "bf16"});
  r.boolean("train.tf32", &t.tf32);
  r.choice("train.on_nonfinite", &t.on_nonfinite, {"abort", "skip"});

  r.number("dist.bucket_mb", &c.dist.bucket_mb, 0.001, 4096);
  r.number("dist.first_bucket_mb", &c.dist.first_bucket_mb, 0.001, 4096);
  r.number("dist.timeout_s", &c.dist.timeout_s, 0.1, 1e7);
  r.choice("dist.overlap", &c.dist.overlap, {"auto", "on", "off"});

  r.choice("seg.decoder", &c.seg.decoder, {"mask", "linear"});
  r.number("seg.decoder_depth", &c.seg.decoder_depth, 1, 64);
  r.number("seg.decoder_dropout", &c.seg.decoder_dropout, 0, 0.99);
  r.number("seg.window", &c.seg.window, 0, 1 << 16);
  r.number("seg.stride", &c.seg.stride, 0, 1 << 16);
  r.custom({"seg.eval_scales",
            [&c](const YAML::Node& n, const std::string& w) {
              const std::string key = "seg.eval_scales";
              if (!n.IsSequence() || n.size() == 0)
                fail(w, key, "expected a non-empty list of scale ratios, e.g. [0.5, 1.0, 1.5], got '" + scalar_text(n) + "'");
              c.seg.eval_scales.clear();
              for (const auto& e : n)
                c.seg.eval_scales.push_back(read_number<double>(e, w, key, kMinEvalScale, kMaxEvalScale));
            },
            [&c] { return flow_sequence(c.seg.eval_scales); }});
  r.boolean("seg.eval_flip", &c.seg.eval_flip);
  r.text("seg.backbone", &c.seg.backbone);

  r.number("ckpt.every_steps", &c.ckpt.every_steps, 0, kMaxInt);
  r.boolean("ckpt.epoch_end", &c.ckpt.epoch_end);
  r.number("ckpt.keep", &c.ckpt.keep, 1, 100000);

  r.text("run.out_dir", &c.run.out_dir);
  r.text("run.name", &c.run.name);
  r.choice("run.stop_signal", &c.run.stop_signal, {"USR1", "USR2", "TERM", "INT", "HUP", "XCPU"});
  r.number("run.stop_grace_s", &c.run.stop_grace_s, 0.1, 1e6);
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
  if (c.data.canvas > 0 && c.data.canvas < 28)
    fail(where, "data.canvas", std::to_string(c.data.canvas) + " is smaller than the 28x28 Fashion-MNIST images");
  if (c.data.canvas_max_scale < c.data.canvas_min_scale)
    fail(where, "data.canvas_max_scale", "smaller than data.canvas_min_scale");
  if (c.data.canvas > 0 && std::lround(28 * c.data.canvas_max_scale) > c.data.canvas)
    fail(where, "data.canvas_max_scale", "a 28x28 item scaled by it (" +
                                             std::to_string(std::lround(28 * c.data.canvas_max_scale)) +
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
      value = YAML::Load(o.substr(eq + 1));
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

}  // namespace rpct
