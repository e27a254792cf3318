#include "trainer/checkpoint_files.h"

#include <openssl/evp.h>

#include <boost/filesystem.hpp>
#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace fs = boost::filesystem;
using nlohmann::json;

namespace rpct {
namespace {

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
// A world size above this is not a run of this program (and would overflow per-rank file names' %05d).
constexpr int64_t kMaxWorldSize = 99999;

std::string to_hex(const unsigned char* d, unsigned n) {
  static const char* k = "0123456789abcdef";
  std::string s;
  for (unsigned i = 0; i < n; ++i) {
    s += k[d[i] >> 4];
    s += k[d[i] & 15];
  }
  return s;
}

[[noreturn]] void meta_fail(const std::string& file, const std::string& key, const std::string& what) {
  throw std::runtime_error(file + ": key '" + key + "': " + what);
}

const json& meta_value(const json& j, const std::string& key, const std::string& file) {
  auto it = j.find(key);
  if (it == j.end()) meta_fail(file, key, "missing");
  return *it;
}

// An integer in [lo, hi]; a float, a string or an integer out of range is an error naming the key.
int64_t meta_int(const json& v, const std::string& key, int64_t lo, int64_t hi, const std::string& file) {
  if (!v.is_number_integer()) meta_fail(file, key, "expected an integer, got " + std::string(v.type_name()));
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi))
    meta_fail(file, key, "value " + v.dump() + " out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  const int64_t x = v.is_number_unsigned() ? static_cast<int64_t>(v.get<uint64_t>()) : v.get<int64_t>();
  if (x < lo || x > hi)
    meta_fail(file, key, "value " + v.dump() + " out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return x;
}

double meta_double(const json& v, const std::string& key, const std::string& file) {
  if (!v.is_number()) meta_fail(file, key, "expected a number, got " + std::string(v.type_name()));
  const double x = v.get<double>();
  if (!std::isfinite(x)) meta_fail(file, key, "not a finite number");
  return x;
}

json parse_json_file_text(const std::string& text, const std::string& file) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw std::runtime_error(file + ": not valid JSON: " + e.what());
  }
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A name DONE may list: a file directly in the checkpoint directory, nothing that leads out of it.
bool is_plain_file_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

}  // namespace

struct Sha256::Ctx {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
};

Sha256::Sha256() : ctx_(new Ctx) {
  if (!ctx_->md || EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr) != 1) {
    EVP_MD_CTX_free(ctx_->md);
    delete ctx_;
    throw std::runtime_error("SHA-256: OpenSSL cannot create a digest context");
  }
}
Sha256::~Sha256() {
  EVP_MD_CTX_free(ctx_->md);
  delete ctx_;
}
void Sha256::update(const void* data, size_t n) { EVP_DigestUpdate(ctx_->md, data, n); }
std::string Sha256::hex() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  EVP_DigestFinal_ex(ctx_->md, md, &n);
  return to_hex(md, n);
}

std::string sha256_bytes(const void* data, size_t n) {
  Sha256 h;
  h.update(data, n);
  return h.hex();
}

std::string sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  Sha256 h;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    h.update(buf.data(), static_cast<size_t>(in.gcount()));
  }
  return h.hex();
}

std::string checkpoint_meta_json(const CheckpointMeta& m) {
  const TrainState& s = m.state;
  json meta = {{"format_version", kCheckpointFormat}, {"step", s.step},
               {"epoch", s.epoch},                    {"epoch_pos", s.epoch_pos},
               {"epoch_steps", s.epoch_steps},        {"epoch_loss_sum", s.epoch_loss_sum},
               {"best_metric", s.best_metric},        {"best_step", s.best_step},
               {"skipped_steps", s.skipped_steps},    {"epoch_skipped", s.epoch_skipped},
               {"world_size", m.world_size},          {"batch_size_per_rank", m.batch_size_per_rank},
               {"config", m.config_yaml}};
  return meta.dump(2);
}

CheckpointMeta parse_checkpoint_meta(const std::string& text, const std::string& file) {
  const json j = parse_json_file_text(text, file);
  if (!j.is_object()) throw std::runtime_error(file + ": expected a JSON object, got " + std::string(j.type_name()));
  const int64_t version = meta_int(meta_value(j, "format_version", file), "format_version", 0, kInt64Max, file);
  if (version != kCheckpointFormat)
    meta_fail(file, "format_version", std::to_string(version) + ", this build reads " + std::to_string(kCheckpointFormat));
  auto count = [&](const char* key) { return meta_int(meta_value(j, key, file), key, 0, kInt64Max, file); };
  CheckpointMeta m;
  TrainState& s = m.state;
  s.step = count("step");
  s.epoch = count("epoch");
  s.epoch_pos = count("epoch_pos");
  s.epoch_steps = count("epoch_steps");
  s.epoch_loss_sum = meta_double(meta_value(j, "epoch_loss_sum", file), "epoch_loss_sum", file);
  // Checkpoints of older builds name the best metric best_top1 (classification was the only task).
  const char* best_key = j.contains("best_metric") ? "best_metric" : "best_top1";
  s.best_metric = meta_double(meta_value(j, best_key, file), best_key, file);
  s.best_step = meta_int(meta_value(j, "best_step", file), "best_step", -1, kInt64Max, file);
  // Absent in checkpoints of older builds.
  s.skipped_steps = j.contains("skipped_steps") ? count("skipped_steps") : 0;
  s.epoch_skipped = j.contains("epoch_skipped") ? count("epoch_skipped") : 0;
  m.world_size = static_cast<int>(meta_int(meta_value(j, "world_size", file), "world_size", 1, kMaxWorldSize, file));
  // 0: not recorded (older builds; written back as 0).
  m.batch_size_per_rank = j.contains("batch_size_per_rank")
                              ? static_cast<int>(meta_int(j.at("batch_size_per_rank"), "batch_size_per_rank", 0,
                                                          std::numeric_limits<int>::max(), file))
                              : 0;
  const json& config = meta_value(j, "config", file);
  if (!config.is_string()) meta_fail(file, "config", "expected a string (the resolved config's YAML), got " + std::string(config.type_name()));
  m.config_yaml = config.get<std::string>();
  return m;
}

CheckpointMeta read_checkpoint_meta_file(const std::string& dir) {
  const std::string file = dir + "/meta.json";
  return parse_checkpoint_meta(read_text(file), file);
}

std::map<std::string, std::string> read_checkpoint_meta(const std::string& dir) {
  const CheckpointMeta m = read_checkpoint_meta_file(dir);
  const TrainState& s = m.state;
  return {{"format_version", std::to_string(kCheckpointFormat)},
          {"step", std::to_string(s.step)},
          {"epoch", std::to_string(s.epoch)},
          {"epoch_pos", std::to_string(s.epoch_pos)},
          {"epoch_steps", std::to_string(s.epoch_steps)},
          {"epoch_loss_sum", json(s.epoch_loss_sum).dump()},
          {"best_metric", json(s.best_metric).dump()},
          {"best_step", std::to_string(s.best_step)},
          {"skipped_steps", std::to_string(s.skipped_steps)},
          {"epoch_skipped", std::to_string(s.epoch_skipped)},
          {"world_size", std::to_string(m.world_size)},
          {"batch_size_per_rank", std::to_string(m.batch_size_per_rank)},
          {"config", m.config_yaml}};
}

std::string done_marker_json(int64_t step, const std::map<std::string, std::string>& sha256_by_file) {
  return json{{"step", step}, {"files", sha256_by_file}}.dump(2);
}

std::string verify_checkpoint(const std::string& dir) {
  if (!fs::is_directory(dir)) return dir + ": checkpoint directory not found";
  const std::string done = dir + "/DONE";
  if (!fs::exists(done)) return dir + ": incomplete (no DONE marker)";
  json j;
  try {
    j = json::parse(read_text(done));
  } catch (const std::exception& e) {
    return done + ": corrupt DONE marker: " + e.what();
  }
  if (!j.is_object() || !j.contains("files") || !j["files"].is_object() || j["files"].empty())
    return done + ": lists no files";
  for (auto it = j["files"].begin(); it != j["files"].end(); ++it) {
    if (!is_plain_file_name(it.key()))
      return done + ": corrupt DONE marker: lists '" + it.key() + "', not a file name in the checkpoint directory";
    if (!it.value().is_string())
      return done + ": corrupt DONE marker: the checksum of '" + it.key() + "' is " + it.value().type_name() +
             ", not a string";
    const std::string f = dir + "/" + it.key();
    if (!fs::exists(f)) return f + ": missing";
    if (!fs::is_regular_file(f)) return f + ": not a regular file";
    if (sha256_file(f) != it.value().get<std::string>()) return f + ": checksum mismatch (truncated or corrupted)";
  }
  return "";
}

}  // namespace rpct
