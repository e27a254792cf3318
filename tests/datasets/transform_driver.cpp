// Runs the C++ image operations (datasets/image_ops.h, datasets/rand_augment.h) on cases written by
// compare_transforms.py and writes the results back, so the Python side can compare them with Pillow.
//   transform_driver CASES.json DIR
// CASES.json: a list of {"id", "op", "image": "x.u8", "width", "height", ...parameters}; images are raw
// (H, W, 3) uint8 files in DIR. Writes DIR/<id>.u8, (H', W', 3) uint8. Ops and their parameters:
//   resample      box [x0, y0, x1, y1], size [w, h], filter "bilinear" | "bicubic"   (resample_box)
//   affine        m [a, b, c, d, e, f]                                               (affine, timm's fill)
//   brightness | contrast | saturation | sharpness   factor                         (adjust_*)
//   autocontrast | equalize                                                          (no parameter)
//   randaug       magnitude, index: rand_augment(1 op, magnitude, std 0, prob 1) with SampleRng(0, 0, index)
#include <cstdio>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "datasets/image_ops.h"
#include "datasets/rand_augment.h"

namespace {

using rpct::Image;

Image read_raw(const std::string& path, int w, int h) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  Image img;
  img.width = w;
  img.height = h;
  img.channels = 3;
  img.pixels.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  if (img.pixels.size() != static_cast<size_t>(w) * h * 3)
    throw std::runtime_error(path + ": " + std::to_string(img.pixels.size()) + " bytes, expected " + std::to_string(w) + "x" +
                             std::to_string(h) + "x3");
  return img;
}

void write_raw(const std::string& path, const Image& img) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(img.pixels.data()), static_cast<std::streamsize>(img.pixels.size()));
  if (!f) throw std::runtime_error("cannot write " + path);
}

Image run_case(const nlohmann::json& c, const std::string& dir) {
  Image img = read_raw(dir + "/" + c.at("image").get<std::string>(), c.at("width"), c.at("height"));
  const std::string op = c.at("op");
  if (op == "resample") {
    const auto b = c.at("box").get<std::vector<double>>();
    const auto s = c.at("size").get<std::vector<int>>();
    const std::string f = c.at("filter");
    if (f != "bilinear" && f != "bicubic") throw std::runtime_error("unknown filter " + f);
    return rpct::resample_box(img, b.at(0), b.at(1), b.at(2), b.at(3), s.at(0), s.at(1),
                              f == "bicubic" ? rpct::Filter::kBicubic : rpct::Filter::kBilinear);
  }
  if (op == "affine") {
    const auto m = c.at("m").get<std::vector<double>>();
    if (m.size() != 6) throw std::runtime_error("affine: m needs 6 numbers");
    rpct::affine(img, m.data());
    return img;
  }
  if (op == "brightness") rpct::adjust_brightness(img, c.at("factor"));
  else if (op == "contrast") rpct::adjust_contrast(img, c.at("factor"));
  else if (op == "saturation") rpct::adjust_saturation(img, c.at("factor"));
  else if (op == "sharpness") rpct::adjust_sharpness(img, c.at("factor"));
  else if (op == "autocontrast") rpct::autocontrast(img);
  else if (op == "equalize") rpct::equalize(img);
  else if (op == "randaug") {
    rpct::SampleRng rng(0, 0, c.at("index").get<int64_t>());
    rpct::rand_augment(img, /*num_ops=*/1, c.at("magnitude"), /*magnitude_std=*/0, /*prob=*/1.0, rng);
  } else {
    throw std::runtime_error("unknown op " + op);
  }
  return img;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: transform_driver CASES.json DIR\n");
    return 2;
  }
  const std::string dir = argv[2];
  std::ifstream f(argv[1]);
  const auto cases = nlohmann::json::parse(f);
  for (const auto& c : cases) {
    try {
      write_raw(dir + "/" + c.at("id").get<std::string>() + ".u8", run_case(c, dir));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "transform_driver: case %s: %s\n", c.value("id", std::string("?")).c_str(), e.what());
      return 1;
    }
  }
  return 0;
}
