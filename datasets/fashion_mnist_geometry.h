// Fashion-MNIST's fixed facts and the item scaling shared by the loader, prepare-data's scenes and the config
// checks. No LibTorch: trainer/config.cpp (built alone by the config fuzz target) includes it.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace rpct {

constexpr int kFashionMnistSide = 28;         // every image is kFashionMnistSide x kFashionMnistSide pixels
constexpr double kFashionMnistMean = 0.2860;  // over the 60k training images, pixel/255
constexpr double kFashionMnistStd = 0.3530;

// The side of n pixels scaled by `scale` (nearest neighbour, rounded): an item's extent on the canvas / scene.
inline int64_t scaled_extent(int64_t n, double scale) { return std::lround(static_cast<double>(n) * scale); }

// Nearest-neighbour scaling of an h x w item by `scale` (output lround(h x scale) x lround(w x scale)): calls
// f(y, x, source offset sy * w + sx) for every output pixel. make_batch's canvas and prepare-data's scenes both
// scale items with it, so the backbone's scaled items are the scenes' items.
template <class F>
void for_each_scaled_pixel(int64_t h, int64_t w, double scale, F&& f) {
  const int64_t oh = scaled_extent(h, scale), ow = scaled_extent(w, scale);
  for (int64_t y = 0; y < oh; ++y) {
    const int64_t sy = std::min<int64_t>(h - 1, static_cast<int64_t>(static_cast<double>(y) / scale));
    for (int64_t x = 0; x < ow; ++x)
      f(y, x, sy * w + std::min<int64_t>(w - 1, static_cast<int64_t>(static_cast<double>(x) / scale)));
  }
}

}  // namespace rpct
