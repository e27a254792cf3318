// Decode + DeiT train-augment throughput of the C++ pipeline on a directory of JPEGs.
//   loader_bench DIR [--seconds S] [--threads T] [--batch B] [--eval] [--no-dct]
// Per-core number: the transform runs on one thread (T = 1), no torch intra-op threads. With T > 1
// it runs the DataLoader with T workers. Prints one JSON line.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/file_io.h"
#include "datasets/image_folder.h"
#include "datasets/loader.h"
#include "datasets/transforms.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: loader_bench DIR [--seconds S] [--threads T] [--batch B] [--eval] [--no-dct]\n");
    return 2;
  }
  const std::string dir = argv[1];
  double seconds = 5;
  int threads = 1, batch = 64;
  bool eval = false, dct = true;
  for (int i = 2; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = std::atof(argv[++i]);
    else if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--batch") && i + 1 < argc) batch = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--eval")) eval = true;
    else if (!std::strcmp(argv[i], "--no-dct")) dct = false;
    else { std::fprintf(stderr, "loader_bench: unknown argument %s\n", argv[i]); return 2; }
  }
  torch::set_num_threads(1);
  std::vector<std::string> files;
  for (const auto& f : rpct::list_image_files(dir)) files.push_back(dir + "/" + f);
  if (files.empty()) { std::fprintf(stderr, "loader_bench: no images in %s\n", dir.c_str()); return 1; }
  // Files are read from disk each time (page cache), as the training loader does.
  rpct::ClassificationTransformOptions opt;
  opt.train = !eval;
  opt.dct_scaling = dct;
  const int S = opt.img_size;
  std::vector<float> out(3 * S * S);
  using clk = std::chrono::steady_clock;
  int64_t n = 0;
  double elapsed = 0;
  if (threads <= 1) {
    // warm-up
    for (size_t i = 0; i < files.size() && i < 8; ++i)
      rpct::classification_transform(rpct::read_file_bytes(files[i]), files[i], opt, 0, 0, i, out.data());
    const auto t0 = clk::now();
    while (elapsed < seconds) {
      for (int k = 0; k < 16; ++k, ++n) {
        const std::string& f = files[n % files.size()];
        rpct::classification_transform(rpct::read_file_bytes(f), f, opt, 0, 0, n, out.data());
      }
      elapsed = std::chrono::duration<double>(clk::now() - t0).count();
    }
  } else {
    // Through the DataLoader (collation + mixup included), `threads` workers.
    rpct::ClassificationSourceOptions so;
    so.transform = opt;
    so.mixup_on = !eval;
    so.pin_memory = false;
    // A flat directory of photos: give every file label 0 through a one-class folder view.
    struct DirSource : rpct::BatchSource {
      std::vector<std::string> files;
      rpct::ClassificationSourceOptions o;
      int64_t size() const override { return static_cast<int64_t>(files.size()); }
      rpct::Batch make_batch(int64_t epoch, const std::vector<int64_t>& idx) override {
        rpct::Batch b;
        const int64_t B = idx.size(), S = o.transform.img_size;
        b.x = torch::empty({B, 3, S, S});
        b.y = torch::zeros({B}, torch::kInt64);
        for (int64_t i = 0; i < B; ++i) {
          const auto& f = files[idx[i] % files.size()];
          rpct::classification_transform(rpct::read_file_bytes(f), f, o.transform, 0, epoch, idx[i], b.x.data_ptr<float>() + i * 3 * S * S);
        }
        if (o.mixup_on) { o.mixup.num_classes = 1000; b.y_soft = rpct::mixup_cutmix(b.x, b.y, o.mixup, 0, epoch, idx); }
        return b;
      }
    };
    auto src = std::make_shared<DirSource>();
    src->files = files;
    src->o = so;
    rpct::DataLoader loader(src, threads, 2 * threads);
    const int64_t steps = 100000;
    std::vector<std::vector<int64_t>> batches;
    for (int64_t s = 0; s < steps && s < 2000; ++s) {
      std::vector<int64_t> b(batch);
      for (int i = 0; i < batch; ++i) b[i] = s * batch + i;
      batches.push_back(b);
    }
    loader.start_epoch(0, batches);
    loader.next();  // warm-up
    const auto t0 = clk::now();
    while (elapsed < seconds && loader.has_next()) {
      n += loader.next().x.size(0);
      elapsed = std::chrono::duration<double>(clk::now() - t0).count();
    }
  }
  std::printf("{\"images\": %lld, \"seconds\": %.3f, \"img_s\": %.1f, \"threads\": %d, \"train\": %s, \"dct\": %s}\n",
              static_cast<long long>(n), elapsed, n / elapsed, threads, eval ? "false" : "true", dct ? "true" : "false");
  return 0;
}
