// One YAML file -> one validated Config. Unknown keys, wrong types and out-of-range values
// are ConfigError exceptions whose message names the file and the dotted key.
#pragma once
#include <stdexcept>
#include <string>
#include <vector>

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
};

struct AttentionConfig {
  std::string kind = "softmax";     // softmax | sym | kvpos | rpc
  std::string impl = "fused";       // fused | reference
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
  int limit_train = 0;  // 0 = all samples; >0 = the first k (for quick runs and tests)
  int limit_test = 0;
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
};

struct DistConfig {
  double bucket_mb = 25.0;
  double first_bucket_mb = 1.0;
  double timeout_s = 300.0;
};

struct RunConfig {
  std::string out_dir = "runs";
  std::string name = "";  // empty: <config stem>-<timestamp>
};

struct Config {
  ModelConfig model;
  AttentionConfig attention;
  DataConfig data;
  TrainConfig train;
  DistConfig dist;
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

}  // namespace rpct
