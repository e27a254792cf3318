// Writes the fuzz targets' seed corpora (fuzz/corpus/TARGET/) with the project's own writers: valid files of
// each kind (to_yaml, encode_jpeg / encode_png, write_safetensors, checkpoint_meta_json / done_marker_json, IDX
// bytes as Debian's Fashion-MNIST files have them, plain and gzip) plus a few edge cases (empty, truncated,
// a header claiming a huge size). Run once by hand, the output is committed:
//   build/tests/fuzz_write_seeds fuzz/corpus
#include <zlib.h>

#include <boost/filesystem.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "core/file_io.h"
#include "datasets/decode.h"
#include "fuzz/fuzz_entries.h"
#include "trainer/checkpoint_files.h"
#include "trainer/config.h"
#include "trainer/safetensors.h"

namespace fs = boost::filesystem;
using Bytes = std::vector<uint8_t>;

namespace {

std::string g_out;

void put(const std::string& target, const std::string& name, const Bytes& bytes) {
  fs::create_directories(g_out + "/" + target);
  rpct::write_file_bytes(g_out + "/" + target + "/" + name, bytes);
}
void put(const std::string& target, const std::string& name, const std::string& text) {
  put(target, name, Bytes(text.begin(), text.end()));
}

Bytes gzip(const Bytes& raw) {
  uLongf n = compressBound(raw.size()) + 32;
  Bytes out(n);
  z_stream z{};
  deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);  // 15 + 16: gzip wrapper, as .gz files
  z.next_in = const_cast<Bytef*>(raw.data());
  z.avail_in = raw.size();
  z.next_out = out.data();
  z.avail_out = n;
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// IDX: big-endian magic and sizes, then the u8 values (datasets/fashion_mnist.h).
Bytes idx(uint32_t magic, const std::vector<uint32_t>& sizes, size_t values) {
  Bytes b;
  auto be = [&](uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t(v >> s));
  };
  be(magic);
  for (uint32_t s : sizes) be(s);
  for (size_t i = 0; i < values; ++i) b.push_back(uint8_t(i * 37));
  return b;
}

rpct::Image gradient(int w, int h, int channels) {
  rpct::Image img;
  img.width = w;
  img.height = h;
  img.channels = channels;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < channels; ++c) img.pixels.push_back(uint8_t(x * 16 + y * 8 + c * 60));
  return img;
}

void config_seeds() {
  put("config", "defaults.yaml", rpct::to_yaml(rpct::Config{}));
  put("config", "empty.yaml", std::string());
  put("config", "overrides.yaml",
      "model:\n  arch: tiny\n  img_size: 224\n  patch: 16\nattention:\n  kind: rpc\n  rpc:\n    layers: [0, 1]\n"
      "#--set\ntrain.lr=0.002\nattention.rpc.layers=all\nseg.eval_scales=[0.5, 1.0]\ndata.root=/tmp/x");
  put("config", "anchors.yaml", "base: &b {lr: 0.1}\ntrain: *b\n");
}

void idx_seeds() {
  const Bytes images = idx(0x803, {3, 4, 5}, 60), labels = idx(0x801, {3}, 3);
  put("idx", "images.idx", images);
  put("idx", "images.idx.gz", gzip(images));
  put("idx", "labels.idx", labels);
  put("idx", "labels.idx.gz", gzip(labels));
  put("idx", "empty_images.idx.gz", gzip(idx(0x803, {0, 28, 28}, 0)));
  put("idx", "truncated_labels.idx", idx(0x801, {10}, 4));
}

void decode_seeds() {
  put("decode", "rgb.jpg", rpct::encode_jpeg(gradient(19, 13, 3), 90));
  put("decode", "gray.jpg", rpct::encode_jpeg(gradient(9, 17, 1), 75));
  put("decode", "cmyk.jpg", rpct::encode_jpeg(gradient(12, 10, 4), 85));  // the CMYK path (Adobe inverted)
  put("decode", "rgb.png", rpct::encode_png(gradient(11, 7, 3)));       // PNG bytes under the .JPEG name
  put("decode", "gray_label.png", rpct::encode_png(gradient(8, 6, 1)));  // a label map
  Bytes cut = rpct::encode_jpeg(gradient(32, 32, 3), 90);
  cut.resize(cut.size() / 2);
  put("decode", "truncated.jpg", cut);
}

void safetensors_seeds(const std::string& scratch) {
  const std::string path = scratch + "/seed.safetensors";
  rpct::write_safetensors(path,
                          {{"w", torch::arange(6, torch::kFloat32).reshape({2, 3})},
                           {"scalar", torch::tensor(3.5, torch::kFloat64)},
                           {"empty", torch::zeros({0, 4}, torch::kBFloat16)},
                           {"ids", torch::arange(3, torch::kInt64)},
                           {"mask", torch::tensor({true, false})},
                           {"h", torch::ones({2}, torch::kFloat16)},
                           {"u8", torch::arange(4, torch::kUInt8)},
                           {"i32", torch::arange(2, torch::kInt32)}},
                          {{"format", "rpctrain"}, {"epoch_loss_sum", "1.25"}});
  put("safetensors", "all_dtypes.safetensors", rpct::read_file_bytes(path));
  rpct::write_safetensors(path, {{"rng/cpu", torch::zeros({16}, torch::kUInt8)}}, {});
  put("safetensors", "rank_file.safetensors", rpct::read_file_bytes(path));
}

void checkpoint_meta_seeds() {
  rpct::CheckpointMeta m;
  m.state.step = 120;
  m.state.epoch = 2;
  m.state.epoch_pos = 2048;
  m.state.epoch_steps = 8;
  m.state.epoch_loss_sum = 17.25;
  m.state.best_metric = 0.875;
  m.state.best_step = 100;
  m.world_size = 2;
  m.batch_size_per_rank = 64;
  m.config_yaml = rpct::to_yaml(rpct::Config{});
  const std::string model_sha = rpct::sha256_bytes(rpct::fuzz::kCheckpointFuzzModelBytes.data(),
                                                   rpct::fuzz::kCheckpointFuzzModelBytes.size());
  const std::string done = rpct::done_marker_json(120, {{"model.safetensors", model_sha}});
  put("checkpoint_meta", "complete", rpct::checkpoint_meta_json(m) + "\n#DONE\n" + done);
  put("checkpoint_meta", "checksum_mismatch",
      rpct::checkpoint_meta_json(m) + "\n#DONE\n" + rpct::done_marker_json(120, {{"model.safetensors", std::string(64, '0')}}));
  // An older build's meta.json: best_top1, no skipped_steps / batch_size_per_rank.
  put("checkpoint_meta", "older_build",
      R"({"format_version": 1, "step": 3, "epoch": 0, "epoch_pos": 96, "epoch_steps": 3, "epoch_loss_sum": 6.5,)"
      R"( "best_top1": -1.0, "best_step": -1, "world_size": 1, "config": "model:\n  dim: 96\n"})");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR (e.g. fuzz/corpus)\n", argv[0]);
    return 2;
  }
  g_out = argv[1];
  const std::string scratch = (fs::temp_directory_path() / fs::unique_path("rpct_seeds_%%%%%%")).string();
  fs::create_directories(scratch);
  config_seeds();
  idx_seeds();
  decode_seeds();
  safetensors_seeds(scratch);
  checkpoint_meta_seeds();
  fs::remove_all(scratch);
  std::printf("seeds written under %s\n", g_out.c_str());
  return 0;
}
