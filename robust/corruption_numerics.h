// Bit-level replicas of the numeric primitives the `imagecorruptions` package (imagecorruptions-imaug
// 1.1.5) calls, so that the C++ corruptions give the package's pixels, not just similar ones:
// scipy.ndimage (gaussian_filter, zoom and map_coordinates with order=1), numpy's pairwise sum and
// float -> uint8 cast, scikit-image's rgb2hsv / hsv2rgb, Pillow's BOX and NEAREST resize. Each follows
// the library's C loop: same operation order, same storage precision between passes (float32 arrays
// stay float32 between the two 1-D passes of a gaussian_filter). Internal to robust/.
#pragma once
#include <cstdint>
#include <vector>

namespace rpct::robust::numerics {

// scipy.ndimage boundary modes used by the package: 'nearest' (a a a | a b c) and 'reflect'
// (half-sample symmetric: c b a | a b c).
enum class Border { kNearest, kReflect };

// numpy's np.sum of a contiguous float64 vector (pairwise summation, 8 accumulators below 128).
double numpy_sum(const double* a, int64_t n);

// scipy.ndimage._gaussian_kernel1d(sigma, 0, radius), radius = int(truncate * sigma + 0.5).
std::vector<double> gaussian_kernel(double sigma, double truncate);

// scipy.ndimage.gaussian_filter on a (H, W, C) array with sigma (sigma_y, sigma_x, 0), in place: axis 0
// then axis 1 (an axis with sigma <= 1e-15 is skipped), each a symmetric correlate1d computed in double
// and stored as T (float or double) as scipy's output array does.
template <class T>
void gaussian_filter(T* data, int64_t height, int64_t width, int64_t channels, double sigma_y, double sigma_x,
                     double truncate, Border border);

// scipy.ndimage.zoom(in, (zoom, zoom, 1), order=1, mode='constant') of a (H, W, C) array: output size
// (round(H * zoom), round(W * zoom)) (Python's round), only its top-left (out_h, out_w) window computed
// (the package crops the zoomed layer right away). Computed in double, stored as T.
template <class T>
std::vector<T> zoom_linear(const T* in, int64_t height, int64_t width, int64_t channels, double zoom,
                           int64_t out_h, int64_t out_w, int64_t* full_h = nullptr, int64_t* full_w = nullptr);
// The (rows, cols) scipy's zoom gives for a (height, width) input and factor `zoom`.
void zoom_output_size(int64_t height, int64_t width, double zoom, int64_t* out_h, int64_t* out_w);

// One axis of scipy.ndimage.map_coordinates(order=1, mode='reflect'): the two source indices and
// their weights for coordinate `coord` on an axis of length `len` (get_spline_interpolation_weights +
// map_coordinate + the mirrored edge offsets of NI_GeometricTransform).
struct LinearTap {
  int64_t index0, index1;
  double weight0, weight1;
};
LinearTap reflect_linear_tap(double coord, int64_t len);

// scikit-image rgb2hsv / hsv2rgb of one float64 pixel.
void rgb_to_hsv(const double rgb[3], double hsv[3]);
void hsv_to_rgb(const double hsv[3], double rgb[3]);

// np.round (half to even).
double round_half_even(double v);

// Pillow Image.resize(size, BOX) and Image.resize(size, NEAREST) of an (H, W, 3) uint8 image.
std::vector<uint8_t> pillow_resize_box(const uint8_t* in, int64_t height, int64_t width, int64_t out_h,
                                       int64_t out_w);
std::vector<uint8_t> pillow_resize_nearest(const uint8_t* in, int64_t height, int64_t width, int64_t out_h,
                                           int64_t out_w);

// np.arange(start, stop, step) for float64, as numpy fills it (start + i * (a[1] - a[0])).
std::vector<double> numpy_arange(double start, double stop, double step);

}  // namespace rpct::robust::numerics
