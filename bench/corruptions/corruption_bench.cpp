// Corruption generation throughput of robust::corrupt on one thread.
//   corruption_bench IMAGES.u8 N H W [--seconds S]
// IMAGES.u8: N raw (H, W, 3) uint8 images back to back. The k-th call corrupts image k % N with
// corruption k % 19 at severity (k / 19) % 5 + 1, the schedule bench/corruptions/python_ref.py uses, so
// both sides do the same mix. Prints one JSON line (with the mean ms per image of each corruption).
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "robust/corruptions.h"

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: corruption_bench IMAGES.u8 N H W [--seconds S]\n");
    return 2;
  }
  const std::string path = argv[1];
  const int64_t n = std::atoll(argv[2]), h = std::atoll(argv[3]), w = std::atoll(argv[4]);
  double seconds = 10;
  for (int i = 5; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = std::atof(argv[++i]);
    else { std::fprintf(stderr, "corruption_bench: unknown argument %s\n", argv[i]); return 2; }
  }
  torch::set_num_threads(1);
  auto images = torch::empty({n, h, w, 3}, torch::kUInt8);
  std::ifstream f(path, std::ios::binary);
  if (!f.read(reinterpret_cast<char*>(images.data_ptr<uint8_t>()), images.numel())) {
    std::fprintf(stderr, "corruption_bench: cannot read %lld bytes from %s\n", static_cast<long long>(images.numel()), path.c_str());
    return 1;
  }
  namespace rb = rpct::robust;
  auto call = [&](int64_t k) {
    return rb::corrupt(images[k % n], static_cast<rb::Corruption>(k % rb::kNumCorruptions),
                       static_cast<int>((k / rb::kNumCorruptions) % rb::kNumSeverities) + 1, static_cast<uint64_t>(k));
  };
  for (int64_t k = 0; k < rb::kNumCorruptions; ++k) call(k);  // warm-up: frost images loaded and rescaled once
  using clk = std::chrono::steady_clock;
  const auto t0 = clk::now();
  int64_t k = 0;
  double elapsed = 0;
  // whole rounds of 95 (every corruption at every severity), so the mix is the same on both sides
  const int64_t round = rb::kNumCorruptions * rb::kNumSeverities;
  std::vector<double> per_corruption(rb::kNumCorruptions, 0.0);  // seconds spent in each
  while (elapsed < seconds || k % round != 0) {
    const auto t = clk::now();
    call(k);
    per_corruption[k % rb::kNumCorruptions] += std::chrono::duration<double>(clk::now() - t).count();
    ++k;
    elapsed = std::chrono::duration<double>(clk::now() - t0).count();
  }
  std::string ms;
  for (int i = 0; i < rb::kNumCorruptions; ++i)
    ms += (i ? ", \"" : "\"") + rb::corruption_names()[i] + "\": " +
          std::to_string(1000 * per_corruption[i] / (k / rb::kNumCorruptions));
  std::printf("{\"images\": %lld, \"seconds\": %.3f, \"img_s\": %.2f, \"ms_per_image\": {%s}}\n",
              static_cast<long long>(k), elapsed, k / elapsed, ms.c_str());
  return 0;
}
