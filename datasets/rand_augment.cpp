#include "datasets/rand_augment.h"

#include <algorithm>
#include <cmath>

namespace rpct {
namespace {

constexpr double kMaxLevel = 10.0;            // timm _MAX_LEVEL

double randomly_negate(double v, SampleRng& rng) { return rng.uniform() > 0.5 ? -v : v; }

}  // namespace

void rand_augment(Image& img, int num_ops, double magnitude, double magnitude_std, double prob, SampleRng& rng) {
  constexpr int kNumOps = 15;  // timm _RAND_INCREASING_TRANSFORMS
  for (int k = 0; k < num_ops; ++k) {
    const int op = static_cast<int>(rng.randint(0, kNumOps - 1));  // chosen with replacement
    if (prob < 1.0 && rng.uniform() > prob) continue;
    double m = magnitude;
    if (magnitude_std > 0) m = magnitude + magnitude_std * rng.normal();
    m = std::min(kMaxLevel, std::max(0.0, m));
    const double level = m / kMaxLevel;
    switch (op) {
      case 0: autocontrast(img); break;
      case 1: equalize(img); break;
      case 2:  // Invert
        for (auto& v : img.pixels) v = 255 - v;
        break;
      case 3: {  // Rotate, up to 30 degrees, about the centre (PIL rotate matrix)
        const double deg = randomly_negate(level * 30.0, rng);
        const double th = -deg * kPi / 180.0;
        const double cx = img.width / 2.0, cy = img.height / 2.0;
        double mat[6] = {std::cos(th), std::sin(th), 0, -std::sin(th), std::cos(th), 0};
        mat[2] = mat[0] * -cx + mat[1] * -cy + cx;
        mat[5] = mat[3] * -cx + mat[4] * -cy + cy;
        affine(img, mat);
        break;
      }
      case 4: {  // PosterizeIncreasing: keep 4 - int(level * 4) bits
        const int bits = 4 - static_cast<int>(level * 4);
        if (bits >= 8) break;
        const uint8_t mask = static_cast<uint8_t>(~((1 << (8 - bits)) - 1));
        for (auto& v : img.pixels) v &= mask;
        break;
      }
      case 5: {  // SolarizeIncreasing: threshold 256 - int(level * 256)
        const int thresh = 256 - static_cast<int>(level * 256);
        for (auto& v : img.pixels)
          if (v >= thresh) v = 255 - v;
        break;
      }
      case 6: {  // SolarizeAdd: add int(level * 110) below 128
        const int add = static_cast<int>(level * 110);
        for (auto& v : img.pixels)
          if (v < 128) v = static_cast<uint8_t>(std::min(255, v + add));
        break;
      }
      case 7: adjust_saturation(img, 1.0 + randomly_negate(level * 0.9, rng)); break;  // ColorIncreasing
      case 8: adjust_contrast(img, 1.0 + randomly_negate(level * 0.9, rng)); break;
      case 9: adjust_brightness(img, 1.0 + randomly_negate(level * 0.9, rng)); break;
      case 10: adjust_sharpness(img, 1.0 + randomly_negate(level * 0.9, rng)); break;
      case 11: {  // ShearX, up to 0.3
        const double s = randomly_negate(level * 0.3, rng);
        const double mat[6] = {1, s, 0, 0, 1, 0};
        affine(img, mat);
        break;
      }
      case 12: {  // ShearY
        const double s = randomly_negate(level * 0.3, rng);
        const double mat[6] = {1, 0, 0, s, 1, 0};
        affine(img, mat);
        break;
      }
      case 13: {  // TranslateXRel, up to 0.45 of the width
        const double t = randomly_negate(level * 0.45, rng) * img.width;
        const double mat[6] = {1, 0, t, 0, 1, 0};
        affine(img, mat);
        break;
      }
      default: {  // TranslateYRel
        const double t = randomly_negate(level * 0.45, rng) * img.height;
        const double mat[6] = {1, 0, 0, 0, 1, t};
        affine(img, mat);
        break;
      }
    }
  }
}

}  // namespace rpct
