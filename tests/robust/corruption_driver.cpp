// Runs the C++ corruptions on cases written by compare_corruptions.py and writes the results back, so
// the Python side can compare them with the imagecorruptions package.
//   corruption_driver CASES.json OUT_DIR
// CASES.json: a list of {"id", "op", "severity", "image": "x.npy", ...}; "op" is a corruption name
// with the package's random draws given as .npy files / numbers (kernel mode, corruption_ops.h), or
// "corrupt:<name>" with "seed" (corrupt(), our own draws). Writes OUT_DIR/<id>.npy, (H, W, 3) uint8.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "robust/corruption_ops.h"
#include "robust/corruptions.h"

namespace {

using rpct::robust::RgbImage;
namespace ops = rpct::robust::ops;

// A C-order .npy array (format 1.0/2.0), converted to double; dtypes |u1 |b1 <i4 <i8 <f4 <f8.
struct Npy {
  std::vector<int64_t> shape;
  std::vector<double> values;
};

Npy read_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  char magic[8];
  f.read(magic, 8);
  if (std::memcmp(magic, "\x93NUMPY", 6) != 0) throw std::runtime_error(path + ": not a .npy file");
  uint32_t header_len = 0;
  if (magic[6] == 1) {
    uint16_t l;
    f.read(reinterpret_cast<char*>(&l), 2);
    header_len = l;
  } else {
    f.read(reinterpret_cast<char*>(&header_len), 4);
  }
  std::string header(header_len, ' ');
  f.read(header.data(), header_len);
  auto field = [&](const std::string& key) {
    const auto p = header.find("'" + key + "'");
    if (p == std::string::npos) throw std::runtime_error(path + ": no " + key + " in header");
    return header.substr(header.find(':', p) + 1);
  };
  const std::string descr = field("descr").substr(field("descr").find('\'') + 1, 3);
  if (field("fortran_order").find("True") < field("fortran_order").find(',')) throw std::runtime_error(path + ": Fortran order");
  const std::string shape_s = field("shape");
  const std::string dims = shape_s.substr(shape_s.find('(') + 1, shape_s.find(')') - shape_s.find('(') - 1);
  Npy a;
  int64_t count = 1;
  std::stringstream ss(dims);
  std::string tok;
  while (std::getline(ss, tok, ','))
    if (tok.find_first_of("0123456789") != std::string::npos) {
      a.shape.push_back(std::stoll(tok));
      count *= a.shape.back();
    }
  a.values.resize(count);
  auto read_as = [&](auto dummy) {
    std::vector<decltype(dummy)> raw(count);
    f.read(reinterpret_cast<char*>(raw.data()), count * sizeof(dummy));
    if (!f) throw std::runtime_error(path + ": truncated");
    for (int64_t i = 0; i < count; ++i) a.values[i] = static_cast<double>(raw[i]);
  };
  if (descr == "|u1" || descr == "|b1") read_as(uint8_t{});
  else if (descr == "<i4") read_as(int32_t{});
  else if (descr == "<i8") read_as(int64_t{});
  else if (descr == "<f4") read_as(float{});
  else if (descr == "<f8") read_as(double{});
  else throw std::runtime_error(path + ": unsupported dtype " + descr);
  return a;
}

void write_npy_u8(const std::string& path, const RgbImage& img) {
  std::string header = "{'descr': '|u1', 'fortran_order': False, 'shape': (" + std::to_string(img.height) + ", " +
                       std::to_string(img.width) + ", 3), }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::ofstream f(path, std::ios::binary);
  f.write("\x93NUMPY\x01\x00", 8);
  const uint16_t len = static_cast<uint16_t>(header.size());
  f.write(reinterpret_cast<const char*>(&len), 2);
  f << header;
  f.write(reinterpret_cast<const char*>(img.pixels.data()), img.size());
  if (!f) throw std::runtime_error("cannot write " + path);
}

template <class T>
std::vector<T> as(const Npy& a) {
  return std::vector<T>(a.values.begin(), a.values.end());
}

RgbImage run_case(const nlohmann::json& c, const std::string& dir) {
  const Npy image = read_npy(dir + "/" + c.at("image").get<std::string>());
  RgbImage img;
  img.height = image.shape.at(0);
  img.width = image.shape.at(1);
  img.pixels = as<uint8_t>(image);
  const std::string op = c.at("op");
  const int s = c.at("severity");
  auto draws = [&](const char* key) { return read_npy(dir + "/" + c.at(key).get<std::string>()); };
  if (op.rfind("corrupt:", 0) == 0) {
    const auto t = torch::from_blob(img.pixels.data(), {img.height, img.width, 3}, torch::kUInt8);
    const auto out = rpct::robust::corrupt(t, rpct::robust::corruption_from_name(op.substr(8)), s, c.at("seed").get<uint64_t>());
    RgbImage r = img;
    std::copy(out.data_ptr<uint8_t>(), out.data_ptr<uint8_t>() + r.size(), r.pixels.begin());
    return r;
  }
  if (op == "gaussian_noise") return ops::gaussian_noise(img, s, draws("z").values.data());
  if (op == "shot_noise") return ops::shot_noise(img, s, draws("counts").values.data());
  if (op == "impulse_noise") return ops::impulse_noise(img, s, as<uint8_t>(draws("flipped")).data(), as<uint8_t>(draws("salted")).data());
  if (op == "speckle_noise") return ops::speckle_noise(img, s, draws("z").values.data());
  if (op == "gaussian_blur") return ops::gaussian_blur(img, s);
  if (op == "glass_blur") return ops::glass_blur(img, s, as<int32_t>(draws("shifts")).data());
  if (op == "defocus_blur") return ops::defocus_blur(img, s);
  if (op == "motion_blur") return ops::motion_blur(img, s, c.at("angle"));
  if (op == "zoom_blur") return ops::zoom_blur(img, s);
  if (op == "snow") return ops::snow(img, s, draws("z").values.data(), c.at("angle"));
  if (op == "frost") return ops::frost(img, s, c.at("index"), c.at("top"), c.at("left"), c.at("frost_dir"));
  if (op == "fog") {
    const Npy p = draws("plasma");
    return ops::fog(img, s, as<float>(p).data(), p.shape.at(0));
  }
  if (op == "brightness") return ops::brightness(img, s);
  if (op == "contrast") return ops::contrast(img, s);
  if (op == "elastic_transform") return ops::elastic_transform(img, s, draws("u_dx").values.data(), draws("u_dy").values.data());
  if (op == "pixelate") return ops::pixelate(img, s);
  if (op == "jpeg_compression") return ops::jpeg_compression(img, s);
  if (op == "spatter") return ops::spatter(img, s, draws("z").values.data());
  if (op == "saturate") return ops::saturate(img, s);
  throw std::runtime_error("unknown op " + op);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: corruption_driver CASES.json OUT_DIR\n");
    return 2;
  }
  const std::string cases_path = argv[1], out_dir = argv[2];
  const std::string dir = cases_path.substr(0, cases_path.find_last_of('/'));
  std::ifstream f(cases_path);
  const auto cases = nlohmann::json::parse(f);
  for (const auto& c : cases) {
    try {
      write_npy_u8(out_dir + "/" + c.at("id").get<std::string>() + ".npy", run_case(c, dir));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "corruption_driver: case %s: %s\n", c.value("id", std::string("?")).c_str(), e.what());
      return 1;
    }
  }
  return 0;
}
