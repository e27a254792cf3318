// Fuzz target `decode`: datasets/decode's JPEG (TurboJPEG, DCT downscaling, CMYK/YCCK) and PNG (libpng) paths,
// the header reader and the label-map PNG decoder, on the bytes as given. The name ends in .JPEG whatever the
// bytes are, as ImageNet's PNG-saved-as-.JPEG files do: the format comes from the magic bytes.
#include <cmath>
#include <string>

#include "datasets/decode.h"
#include "fuzz/fuzz_entries.h"

namespace rpct::fuzz {
namespace {

// The decompression-bomb limit used here (data.max_image_pixels): 1 MP instead of the default 89 MP keeps one
// execution in milliseconds, so the fuzzer explores instead of filling buffers; the check is the same code
// for any limit (tests/datasets/test_decode.cpp covers the default).
constexpr int64_t kFuzzMaxPixels = 1 << 20;
const std::string kName = "fuzz.JPEG";

// A decoded image holds exactly width x height x channels bytes.
void expect_consistent(const Image& img, int channels, const std::string& call) {
  expect(img.width > 0 && img.height > 0 && img.channels == channels &&
             img.pixels.size() == size_t(img.width) * img.height * channels,
         call + ": decoded image " + std::to_string(img.width) + "x" + std::to_string(img.height) + "x" +
             std::to_string(img.channels) + " with " + std::to_string(img.pixels.size()) + " bytes");
  expect(int64_t(img.width) * img.height <= kFuzzMaxPixels, call + ": decoded an image over the pixel limit");
}

}  // namespace

void decode_entry(const uint8_t* data, size_t size) {
  const std::vector<uint8_t> bytes(data, data + size);
  ImageHeader header;
  bool have_header = false;
  try {
    header = read_image_header(bytes, kName);
    have_header = true;
  } catch (const std::exception& e) {
    expect_named_error(e, {kName});
  }
  // Full size, then the largest DCT downscaling (1/8 keeps a decode at least 1x1).
  for (int min_side : {0, 1}) {
    double scale = 0;
    Image img;
    try {
      img = decode_rgb(bytes, kName, min_side, min_side, &scale, kFuzzMaxPixels);
    } catch (const std::exception& e) {
      expect_named_error(e, {kName});
      continue;
    }
    expect_consistent(img, 3, "decode_rgb");
    if (have_header)  // decoded size = ceil(stored size x scale)
      expect(img.width == int(std::ceil(header.width * scale)) && img.height == int(std::ceil(header.height * scale)),
             "decode_rgb: " + std::to_string(img.width) + "x" + std::to_string(img.height) + " at scale " +
                 std::to_string(scale) + " of a " + std::to_string(header.width) + "x" + std::to_string(header.height) +
                 " header");
  }
  try {
    expect_consistent(decode_label_png(bytes, kName, kFuzzMaxPixels), 1, "decode_label_png");
  } catch (const FuzzFinding&) {
    throw;
  } catch (const std::exception& e) {
    expect_named_error(e, {kName});
  }
}

}  // namespace rpct::fuzz
