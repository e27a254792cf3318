// The 19 corruptions as deterministic functions of the clean image and of their random draws, which
// are passed in explicitly: corrupt() (corruptions.h) draws them from its seed, the comparison test
// feeds the draws numpy made inside the `imagecorruptions` package and expects the package's pixels.
// Every kernel follows the package (imagecorruptions-imaug 1.1.5, corruptions.py) step by step, in the
// precision it uses (float64 where numpy promotes, float32 where the package's arrays are float32),
// and ends with its np.uint8 cast (truncation). Internal to robust/ and its tests.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace rpct::robust {

// (H, W, 3) uint8 RGB, row-major.
struct RgbImage {
  int64_t height = 0, width = 0;
  std::vector<uint8_t> pixels;
  int64_t size() const { return height * width * 3; }
};

namespace ops {

// z: (H, W, 3) standard normals; the noise is c * z as numpy's normal(scale=c).
RgbImage gaussian_noise(const RgbImage& img, int severity, const double* z);
// counts: (H, W, 3) draws of Poisson(pixel / 255 * c).
RgbImage shot_noise(const RgbImage& img, int severity, const double* counts);
// flipped, salted: (H, W, 3) 0/1 masks (skimage random_noise 's&p': flipped with probability c, salt or
// pepper with probability 1/2 each).
RgbImage impulse_noise(const RgbImage& img, int severity, const uint8_t* flipped, const uint8_t* salted);
RgbImage speckle_noise(const RgbImage& img, int severity, const double* z);
RgbImage gaussian_blur(const RgbImage& img, int severity);
// shifts: (glass_blur_draws(...), 2) pairs (dx, dy) in [-d, d) in the package's loop order.
RgbImage glass_blur(const RgbImage& img, int severity, const int32_t* shifts);
int64_t glass_blur_draws(int64_t height, int64_t width, int severity);
int glass_blur_max_delta(int severity);
RgbImage defocus_blur(const RgbImage& img, int severity);
RgbImage motion_blur(const RgbImage& img, int severity, double angle_deg);
RgbImage zoom_blur(const RgbImage& img, int severity);
// z: (H, W) standard normals for the snow layer; angle in [-135, -45) degrees.
RgbImage snow(const RgbImage& img, int severity, const double* z, double angle_deg);
// The frost image `index` (0..5) of `frost_dir`, rescaled as the package does for this image size, and
// the crop at (top, left) of it. frost_rescaled_size gives the rescaled (height, width).
RgbImage frost(const RgbImage& img, int severity, int index, int64_t top, int64_t left, const std::string& frost_dir);
void frost_rescaled_size(int index, int64_t height, int64_t width, const std::string& frost_dir, int64_t* out_h,
                         int64_t* out_w);
// plasma: (map_size, map_size) float32 plasma fractal in [0, 1], map_size = fog_map_size(H, W).
RgbImage fog(const RgbImage& img, int severity, const float* plasma, int64_t map_size);
int64_t fog_map_size(int64_t height, int64_t width);
double fog_wibble_decay(int severity);
RgbImage brightness(const RgbImage& img, int severity);
RgbImage contrast(const RgbImage& img, int severity);
// u_dx, u_dy: (H, W) uniforms in [0, 1) (the displacement fields before smoothing).
RgbImage elastic_transform(const RgbImage& img, int severity, const double* u_dx, const double* u_dy);
RgbImage pixelate(const RgbImage& img, int severity);
RgbImage jpeg_compression(const RgbImage& img, int severity);
// z: (H, W) standard normals for the liquid layer.
RgbImage spatter(const RgbImage& img, int severity, const double* z);
RgbImage saturate(const RgbImage& img, int severity);

}  // namespace ops
}  // namespace rpct::robust
