// corrupt(): validates the image, draws each corruption's random inputs from the seed (as the package
// draws them from numpy, same distributions) and runs its kernel (corruption_ops.h).
#include "robust/corruptions.h"

#include <cstdlib>
#include <stdexcept>

#include "robust/corruption_ops.h"
#include "robust/corruption_random.h"

#ifndef RPCT_FROST_DIR_DEFAULT
#define RPCT_FROST_DIR_DEFAULT ""
#endif

namespace rpct::robust {
namespace {

// Where the frost images are: $RPCT_FROST_DIR, else the imagecorruptions package's frost/ folder found
// by CMake at configure time (RPCT_CORRUPT_PYTHON).
std::string frost_dir() {
  const char* env = std::getenv("RPCT_FROST_DIR");
  if (env && *env) return env;
  const std::string dir = RPCT_FROST_DIR_DEFAULT;
  if (dir.empty())
    throw std::runtime_error(
        "frost corruption: no frost image folder: set RPCT_FROST_DIR to the imagecorruptions package's frost/ "
        "folder (scripts/setup.sh installs the package into ~/.cache/rpctrain/venv-corrupt) or reconfigure "
        "with -DRPCT_CORRUPT_PYTHON=<python that has imagecorruptions>");
  return dir;
}

// The package's plasma_fractal (diamond-square on a float32 map, wibble shrinking by `decay` per level),
// with our uniforms.
std::vector<float> plasma_fractal(int64_t n, double decay, CorruptionRng& rng) {
  std::vector<float> map(n * n, 0.0f);
  auto at = [&](int64_t r, int64_t c) -> float& { return map[r * n + c]; };
  int64_t step = n;
  double wibble = 100;
  auto wibbled = [&](float sum4) {  // array / 4 + wibble * uniform(-wibble, wibble), stored as float32
    return static_cast<float>(static_cast<double>(sum4 / 4.0f) + wibble * rng.uniform(-wibble, wibble));
  };
  while (step >= 2) {
    const int64_t k = n / step, half = step / 2;
    // fillsquares: centre of each square = mean of its 4 corners (wrapping) + wibble
    std::vector<float> sq(k * k);
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < k; ++j) {
        auto corner = [&](int64_t a, int64_t b) { return at((a % k) * step, (b % k) * step); };
        const float col0 = corner(i, j) + corner(i + 1, j);
        const float col1 = corner(i, j + 1) + corner(i + 1, j + 1);
        sq[i * k + j] = col0 + col1;
      }
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < k; ++j) at(i * step + half, j * step + half) = wibbled(sq[i * k + j]);
    // filldiamonds
    auto dr = [&](int64_t a, int64_t b) { return at(((a + k) % k) * step + half, ((b + k) % k) * step + half); };
    auto ul = [&](int64_t a, int64_t b) { return at((a % k) * step, (b % k) * step); };
    std::vector<float> lt(k * k), tt(k * k);
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < k; ++j) {
        lt[i * k + j] = (dr(i, j) + dr(i - 1, j)) + (ul(i, j) + ul(i, j + 1));
        tt[i * k + j] = (dr(i, j) + dr(i, j - 1)) + (ul(i, j) + ul(i + 1, j));
      }
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < k; ++j) at(i * step, j * step + half) = wibbled(lt[i * k + j]);
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < k; ++j) at(i * step + half, j * step) = wibbled(tt[i * k + j]);
    step /= 2;
    wibble /= decay;
  }
  float lo = map[0], hi;
  for (float v : map) lo = std::min(lo, v);
  for (float& v : map) v -= lo;
  hi = map[0];
  for (float v : map) hi = std::max(hi, v);
  for (float& v : map) v = v / hi;
  return map;
}

RgbImage to_rgb(const torch::Tensor& image) {
  if (image.dim() != 3 || image.size(2) != 3)
    throw std::invalid_argument("corrupt: image must be (H, W, 3), got " + std::string(image.sizes().vec().empty() ? "a scalar" : c10::str(image.sizes())));
  if (image.scalar_type() != torch::kUInt8)
    throw std::invalid_argument("corrupt: image must be uint8, got " + std::string(c10::toString(image.scalar_type())));
  if (image.size(0) < 1 || image.size(1) < 1)
    throw std::invalid_argument("corrupt: image is empty: " + c10::str(image.sizes()));
  if (image.device().type() != torch::kCPU) throw std::invalid_argument("corrupt: image must be on the CPU");
  RgbImage img;
  img.height = image.size(0);
  img.width = image.size(1);
  const auto c = image.contiguous();
  img.pixels.assign(c.data_ptr<uint8_t>(), c.data_ptr<uint8_t>() + img.size());
  return img;
}

RgbImage run(const RgbImage& img, Corruption corruption, int severity, uint64_t seed) {
  CorruptionRng rng(seed);
  const int64_t n3 = img.size(), n1 = img.height * img.width;
  std::vector<double> draws;
  switch (corruption) {
    case Corruption::kGaussianNoise:
      draws.resize(n3);
      rng.normals(draws.data(), n3);
      return ops::gaussian_noise(img, severity, draws.data());
    case Corruption::kShotNoise: {
      const double c = std::array<double, 5>{60, 25, 12, 5, 3}[severity - 1];
      PoissonTable table;
      draws.resize(n3);
      for (int64_t i = 0; i < n3; ++i)
        draws[i] = static_cast<double>(table.sample(img.pixels[i], img.pixels[i] / 255.0 * c, rng.uniform()));
      return ops::shot_noise(img, severity, draws.data());
    }
    case Corruption::kImpulseNoise: {
      const double amount = std::array<double, 5>{.03, .06, .09, 0.17, 0.27}[severity - 1];
      std::vector<uint8_t> flipped(n3), salted(n3);
      for (int64_t i = 0; i < n3; ++i) flipped[i] = rng.uniform() <= amount;  // skimage _bernoulli: random() <= p
      for (int64_t i = 0; i < n3; ++i) salted[i] = rng.uniform() <= 0.5;
      return ops::impulse_noise(img, severity, flipped.data(), salted.data());
    }
    case Corruption::kSpeckleNoise:
      draws.resize(n3);
      rng.normals(draws.data(), n3);
      return ops::speckle_noise(img, severity, draws.data());
    case Corruption::kGaussianBlur: return ops::gaussian_blur(img, severity);
    case Corruption::kGlassBlur: {
      const int d = ops::glass_blur_max_delta(severity);
      std::vector<int32_t> shifts(2 * ops::glass_blur_draws(img.height, img.width, severity));
      for (auto& s : shifts) s = static_cast<int32_t>(rng.integer(-d, d));
      return ops::glass_blur(img, severity, shifts.data());
    }
    case Corruption::kDefocusBlur: return ops::defocus_blur(img, severity);
    case Corruption::kMotionBlur: return ops::motion_blur(img, severity, rng.uniform(-45, 45));
    case Corruption::kZoomBlur: return ops::zoom_blur(img, severity);
    case Corruption::kSnow: {
      draws.resize(n1);
      rng.normals(draws.data(), n1);
      return ops::snow(img, severity, draws.data(), rng.uniform(-135, -45));
    }
    case Corruption::kFrost: {
      const std::string dir = frost_dir();
      const int index = static_cast<int>(rng.integer(0, 6));
      int64_t rh, rw;
      ops::frost_rescaled_size(index, img.height, img.width, dir, &rh, &rw);
      const int64_t top = rng.integer(0, std::max<int64_t>(1, rh - img.height));
      const int64_t left = rng.integer(0, std::max<int64_t>(1, rw - img.width));
      return ops::frost(img, severity, index, top, left, dir);
    }
    case Corruption::kFog: {
      const int64_t n = ops::fog_map_size(img.height, img.width);
      const auto plasma = plasma_fractal(n, ops::fog_wibble_decay(severity), rng);
      return ops::fog(img, severity, plasma.data(), n);
    }
    case Corruption::kBrightness: return ops::brightness(img, severity);
    case Corruption::kContrast: return ops::contrast(img, severity);
    case Corruption::kElasticTransform: {
      std::vector<double> ux(n1), uy(n1);
      for (auto& u : ux) u = rng.uniform();
      for (auto& u : uy) u = rng.uniform();
      return ops::elastic_transform(img, severity, ux.data(), uy.data());
    }
    case Corruption::kPixelate: return ops::pixelate(img, severity);
    case Corruption::kJpegCompression: return ops::jpeg_compression(img, severity);
    case Corruption::kSpatter:
      draws.resize(n1);
      rng.normals(draws.data(), n1);
      return ops::spatter(img, severity, draws.data());
    case Corruption::kSaturate: return ops::saturate(img, severity);
  }
  throw std::invalid_argument("corrupt: unknown corruption " + std::to_string(static_cast<int>(corruption)));
}

}  // namespace

const std::vector<std::string>& corruption_names() {
  static const std::vector<std::string> kNames = {
      "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
      "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression",
      "speckle_noise", "gaussian_blur", "spatter", "saturate"};
  return kNames;
}

Corruption corruption_from_name(const std::string& name) {
  const auto& names = corruption_names();
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return static_cast<Corruption>(i);
  std::string valid;
  for (const auto& n : names) valid += (valid.empty() ? "" : ", ") + n;
  throw std::invalid_argument("unknown corruption '" + name + "'; valid: " + valid);
}

torch::Tensor corrupt(const torch::Tensor& image, Corruption corruption, int severity, uint64_t seed) {
  const int index = static_cast<int>(corruption);
  if (index < 0 || index >= kNumCorruptions)
    throw std::invalid_argument("corrupt: corruption index " + std::to_string(index) + " out of range 0.." +
                                std::to_string(kNumCorruptions - 1));
  if (severity < 1 || severity > kNumSeverities)
    throw std::invalid_argument("corrupt: severity must be 1..5, got " + std::to_string(severity) + " (" +
                                corruption_names()[index] + ")");
  const RgbImage img = to_rgb(image);
  RgbImage out = run(img, corruption, severity, seed);
  auto t = torch::empty({out.height, out.width, 3}, torch::kUInt8);
  std::copy(out.pixels.begin(), out.pixels.end(), t.data_ptr<uint8_t>());
  return t;
}

}  // namespace rpct::robust
