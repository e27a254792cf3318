// The small text files of a checkpoint directory and their checksums, apart from the tensors (no LibTorch):
// meta.json (where the training loop stands, the world size, the config) and DONE (every file of the
// checkpoint with its SHA-256, written last). Their readers take untrusted bytes (a copied, truncated or
// hand-edited run directory): every problem is an error, or verify_checkpoint's text, naming the file and the
// key; they never read outside the checkpoint directory. Fuzzed by fuzz/entry_checkpoint_meta.cpp.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

namespace rpct {

constexpr int kCheckpointFormat = 1;

// Where the training loop stands; with the checkpoint files it determines the rest of the run.
struct TrainState {
  int64_t step = 0;             // optimizer steps done
  int64_t epoch = 0;            // epoch in progress
  int64_t epoch_pos = 0;        // global samples consumed in this epoch (sampler position)
  int64_t epoch_steps = 0;      // optimizer steps done in this epoch
  double epoch_loss_sum = 0;    // sum of this epoch's step losses (for its logged mean)
  double best_metric = -1;      // best value of the task's primary metric so far (higher is better), and its step
  int64_t best_step = -1;
  int64_t skipped_steps = 0;    // steps dropped for a non-finite loss (train.on_nonfinite = skip): whole run,
  int64_t epoch_skipped = 0;    // and this epoch (not in epoch_loss_sum)
};

// Everything meta.json holds. state.epoch_loss_sum is there the sum of the steps' mean losses over ranks.
struct CheckpointMeta {
  TrainState state;
  int world_size = 1;
  int batch_size_per_rank = 0;  // 0: not recorded (checkpoints of older builds)
  std::string config_yaml;  // the resolved config (to_yaml)
};

// Incremental SHA-256 (OpenSSL EVP).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t n);
  std::string hex();  // finishes the digest

 private:
  struct Ctx;
  Ctx* ctx_;
};

std::string sha256_file(const std::string& path);    // hex; throws naming the file
std::string sha256_bytes(const void* data, size_t n);

// meta.json's text (the writer of Checkpointer::save) and its validating reader: a missing key, a value of
// another type or out of range (negative counts, a world size < 1, a non-finite loss sum) or another
// format_version is an error naming `file` and the key. `file` only names the text in messages.
std::string checkpoint_meta_json(const CheckpointMeta& meta);
CheckpointMeta parse_checkpoint_meta(const std::string& text, const std::string& file);
CheckpointMeta read_checkpoint_meta_file(const std::string& dir);  // <dir>/meta.json
// meta.json as flat key -> JSON text (strings unquoted), for `rpctrain inspect`; validated as above first.
std::map<std::string, std::string> read_checkpoint_meta(const std::string& dir);

// DONE's text: the step and every listed file (a plain name in the checkpoint directory) with its SHA-256.
std::string done_marker_json(int64_t step, const std::map<std::string, std::string>& sha256_by_file);
// "" when `dir` is a complete checkpoint whose files all verify; otherwise why not, naming the file. A DONE
// that is not JSON, lists no files, or lists a name that is not a plain file name of `dir` (a path such as
// "../x" or "/dev/zero") or a checksum that is not a string is a reason, naming DONE.
std::string verify_checkpoint(const std::string& dir);

}  // namespace rpct
