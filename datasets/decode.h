// Image decoding: JPEG through TurboJPEG (with DCT-domain downscaling), PNG through libpng.
// The format is detected from the file's magic bytes, not its name, so ImageNet's PNG saved as
// .JPEG decodes. CMYK/YCCK JPEGs are converted to RGB (Adobe inverted-CMYK convention, as PIL);
// grayscale JPEGs/PNGs are expanded to RGB. Every failure is a DecodeError naming the file.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/file_io.h"  // read_file_bytes, write_file_bytes: how image files are read and written

namespace rpct {

// A file that does not decode. It is a FileReadError (core/file_io.h), as a missing or empty file is: data
// sets skip both as bad samples (data.on_bad_sample).
struct DecodeError : FileReadError {
  using FileReadError::FileReadError;
};

enum class ImageFormat { kUnknown, kJpeg, kPng };

// Interleaved 8-bit image, row-major (H, W, C).
struct Image {
  int width = 0, height = 0, channels = 0;
  std::vector<uint8_t> pixels;
  uint8_t* row(int y) { return pixels.data() + static_cast<size_t>(y) * width * channels; }
  const uint8_t* row(int y) const { return pixels.data() + static_cast<size_t>(y) * width * channels; }
};

struct ImageHeader {
  ImageFormat format = ImageFormat::kUnknown;
  int width = 0, height = 0;
};

// Decompression-bomb guard: a header claiming more pixels than this is refused before any pixel memory is
// allocated (Pillow's Image.MAX_IMAGE_PIXELS; 0 = no limit). Callers pass data.max_image_pixels.
constexpr int64_t kDefaultMaxImagePixels = 89478485;

ImageFormat sniff_format(const uint8_t* data, size_t size);

// Dimensions without decoding pixels. `path` only names the file in errors.
ImageHeader read_image_header(const std::vector<uint8_t>& bytes, const std::string& path);

// Decodes to RGB (3 channels). For JPEG, `min_width`/`min_height` > 0 allow DCT-domain downscaling
// by the smallest factor of 1/8, 1/4, 1/2 (the SIMD-accelerated ones) that keeps the decoded image at
// least that large;
// the factor used is returned in *scale (decoded size = ceil(original * scale)); 1 for PNG.
// A header over `max_pixels` (width x height as stored, before any downscaling) is a DecodeError.
Image decode_rgb(const std::vector<uint8_t>& bytes, const std::string& path, int min_width = 0, int min_height = 0,
                 double* scale = nullptr, int64_t max_pixels = kDefaultMaxImagePixels);

// Decodes a label map: an 8-bit grayscale or palette PNG, returned as raw values/indices (1 channel),
// without any colour conversion. Anything else is a DecodeError, as is a header over `max_pixels`.
Image decode_label_png(const std::vector<uint8_t>& bytes, const std::string& path,
                       int64_t max_pixels = kDefaultMaxImagePixels);

// Encoders (for prepare-data and tests). channels: 1 (gray), 3 (RGB) or 4 (CMYK, JPEG only; stored
// in the Adobe inverted convention, i.e. the byte is 255 - ink).
std::vector<uint8_t> encode_jpeg(const Image& img, int quality);
std::vector<uint8_t> encode_png(const Image& img);  // channels 1 or 3

}  // namespace rpct
