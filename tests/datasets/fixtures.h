// Test fixtures: a temporary directory and small images written in the real layouts at test time.
#pragma once
#include <gtest/gtest.h>

#include <functional>
#include <stdexcept>
#include <boost/filesystem.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "core/file_io.h"
#include "datasets/decode.h"

namespace rpct::test {

struct TempDir {
  std::string path;
  TempDir() {
    path = (boost::filesystem::temp_directory_path() / boost::filesystem::unique_path("rpct-data-%%%%-%%%%-%%%%")).string();
    boost::filesystem::create_directories(path);
  }
  ~TempDir() {
    boost::system::error_code ec;
    boost::filesystem::remove_all(path, ec);
  }
  std::string sub(const std::string& rel) const {
    const std::string p = path + "/" + rel;
    boost::filesystem::create_directories(boost::filesystem::path(p).parent_path());
    return p;
  }
};

// A smooth RGB pattern (JPEG-friendly), varying with `seed`.
inline Image make_rgb(int w, int h, int seed = 0) {
  Image img;
  img.width = w;
  img.height = h;
  img.channels = 3;
  img.pixels.resize(size_t(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = img.row(y) + x * 3;
      p[0] = static_cast<uint8_t>((x * 255) / std::max(1, w - 1));
      p[1] = static_cast<uint8_t>((y * 255) / std::max(1, h - 1));
      p[2] = static_cast<uint8_t>((seed * 37 + (x + y) / 2) % 256);
    }
  return img;
}

// value: one level per channel (value.size() == channels).
inline Image make_solid(int w, int h, int channels, std::vector<uint8_t> value) {
  if (value.size() != static_cast<size_t>(channels))
    throw std::invalid_argument("make_solid: " + std::to_string(value.size()) + " values for " +
                                std::to_string(channels) + " channels");
  Image img;
  img.width = w;
  img.height = h;
  img.channels = channels;
  img.pixels.resize(size_t(w) * h * channels);
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = value[i % channels];
  return img;
}

inline void write_jpeg(const std::string& path, const Image& img, int quality = 92) {
  write_file_bytes(path, encode_jpeg(img, quality));
}

// Expects `f` to throw an exception whose message contains every one of `parts`.
inline void expect_throw_with(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    FAIL() << "expected an exception";
  } catch (const std::exception& e) {
    for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what() << " lacks " << p;
  }
}

}  // namespace rpct::test
