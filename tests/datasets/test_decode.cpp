#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "core/file_io.h"
#include "datasets/decode.h"
#include "tests/datasets/fixtures.h"

using namespace rpct;
using rpct::test::TempDir;

namespace {

// JPEG at quality 95 on a smooth gradient: per-channel error stays within a few levels; 420 chroma
// subsampling adds some on the blue ramp. Mean absolute error is the robust check.
constexpr double kJpegQ95MeanAbsTol = 3.0;
// CMYK -> YCCK -> CMYK through JPEG at quality 95 on a flat colour, then byte_C * byte_K / 255.
constexpr int kCmykTol = 4;

double mean_abs_diff(const Image& a, const Image& b) {
  EXPECT_EQ(a.pixels.size(), b.pixels.size());
  double s = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) s += std::abs(int(a.pixels[i]) - int(b.pixels[i]));
  return s / a.pixels.size();
}

void expect_error_names(const std::vector<uint8_t>& bytes, const std::string& path, const std::string& what) {
  try {
    decode_rgb(bytes, path);
    FAIL() << "expected a DecodeError for " << path;
  } catch (const DecodeError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
  }
}

}  // namespace

TEST(Decode, JpegRoundTripRgb) {
  const Image src = test::make_rgb(96, 64);
  const auto bytes = encode_jpeg(src, 95);
  EXPECT_EQ(sniff_format(bytes.data(), bytes.size()), ImageFormat::kJpeg);
  const ImageHeader h = read_image_header(bytes, "x.jpg");
  EXPECT_EQ(h.width, 96);
  EXPECT_EQ(h.height, 64);
  double scale = 0;
  const Image out = decode_rgb(bytes, "x.jpg", 0, 0, &scale);
  EXPECT_EQ(scale, 1.0);
  ASSERT_EQ(out.width, 96);
  ASSERT_EQ(out.height, 64);
  ASSERT_EQ(out.channels, 3);
  EXPECT_LT(mean_abs_diff(src, out), kJpegQ95MeanAbsTol);
}

TEST(Decode, DctScalingPicksSmallestSufficientFactor) {
  const auto bytes = encode_jpeg(test::make_rgb(400, 300), 90);
  double scale = 0;
  Image a = decode_rgb(bytes, "a.jpg", 100, 75, &scale);
  EXPECT_EQ(scale, 0.25);
  EXPECT_EQ(a.width, 100);
  EXPECT_EQ(a.height, 75);
  Image b = decode_rgb(bytes, "a.jpg", 101, 10, &scale);  // 1/4 gives 100 < 101: the next factor up
  EXPECT_EQ(scale, 0.5);
  EXPECT_EQ(b.width, 200);
  Image b2 = decode_rgb(bytes, "a.jpg", 201, 10, &scale);  // 7/8 .. 5/8 are not used (scalar IDCT)
  EXPECT_EQ(scale, 1.0);
  EXPECT_EQ(b2.width, 400);
  Image c = decode_rgb(bytes, "a.jpg", 10, 10, &scale);  // 1/8 is the smallest factor
  EXPECT_EQ(scale, 0.125);
  EXPECT_EQ(c.width, 50);
  Image d = decode_rgb(bytes, "a.jpg", 500, 10, &scale);  // never upscales
  EXPECT_EQ(scale, 1.0);
  EXPECT_EQ(d.width, 400);
  // A downscaled decode keeps the content: compare with a box-average of the full decode.
  const Image full = decode_rgb(bytes, "a.jpg");
  double err = 0;
  for (int y = 0; y < 75; ++y)
    for (int x = 0; x < 100; ++x) {
      double s = 0;
      for (int dy = 0; dy < 4; ++dy)
        for (int dx = 0; dx < 4; ++dx) s += full.row(4 * y + dy)[(4 * x + dx) * 3];
      err += std::abs(s / 16 - a.row(y)[x * 3]);
    }
  EXPECT_LT(err / (75 * 100), kJpegQ95MeanAbsTol);
}

TEST(Decode, GrayscaleJpegExpandsToRgb) {
  Image g = test::make_solid(40, 30, 1, {0});
  for (int i = 0; i < 40 * 30; ++i) g.pixels[i] = static_cast<uint8_t>(i % 40 * 6);
  const Image out = decode_rgb(encode_jpeg(g, 95), "g.JPEG");
  ASSERT_EQ(out.channels, 3);
  for (size_t i = 0; i < out.pixels.size(); i += 3) {
    EXPECT_EQ(out.pixels[i], out.pixels[i + 1]);
    EXPECT_EQ(out.pixels[i], out.pixels[i + 2]);
  }
}

TEST(Decode, CmykJpegConvertsToRgb) {
  // Stored bytes (Adobe inverted): C=255, M=128, Y=64, K=200 -> RGB = byte * K / 255 = (200, 100, 50).
  const Image cmyk = test::make_solid(32, 24, 4, {255, 128, 64, 200});
  const Image out = decode_rgb(encode_jpeg(cmyk, 95), "c.JPEG");
  ASSERT_EQ(out.channels, 3);
  ASSERT_EQ(out.width, 32);
  const int expect[3] = {200, 100, 50};
  for (size_t i = 0; i < out.pixels.size(); ++i) EXPECT_NEAR(out.pixels[i], expect[i % 3], kCmykTol) << i;
}

TEST(Decode, PngNamedJpegDecodesByMagic) {
  const Image src = test::make_rgb(20, 10, 3);
  const auto bytes = encode_png(src);
  EXPECT_EQ(sniff_format(bytes.data(), bytes.size()), ImageFormat::kPng);
  const ImageHeader h = read_image_header(bytes, "p.JPEG");
  EXPECT_EQ(h.format, ImageFormat::kPng);
  EXPECT_EQ(h.width, 20);
  const Image out = decode_rgb(bytes, "p.JPEG", 5, 5);  // DCT scaling hint ignored for PNG
  EXPECT_EQ(out.pixels, src.pixels);                   // lossless
}

// Regression (scripts/test.sh --sanitize address,undefined): writing an empty vector passed its null data() to
// fwrite, whose buffer is declared nonnull; UBSan stopped the test here. Also: rewriting a file with nothing
// truncates it.
TEST(Decode, WritingNoBytesMakesAnEmptyFile) {
  TempDir dir;
  const std::string path = dir.sub("nothing.bin");
  write_file_bytes(path, {1, 2, 3});
  write_file_bytes(path, {});
  std::FILE* f = std::fopen(path.c_str(), "rb");
  ASSERT_NE(f, nullptr) << path;
  std::fseek(f, 0, SEEK_END);
  EXPECT_EQ(std::ftell(f), 0) << path;
  std::fclose(f);
}

TEST(Decode, BadFilesAreErrorsNamingTheFile) {
  TempDir dir;
  const std::string empty = dir.sub("empty.JPEG");
  write_file_bytes(empty, {});
  try {
    read_file_bytes(empty);
    FAIL();
  } catch (const FileReadError& e) {  // a data set's bad sample, as a DecodeError is
    EXPECT_NE(std::string(e.what()).find(empty), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("empty"), std::string::npos);
  }
  EXPECT_THROW(read_file_bytes(dir.sub("missing.JPEG")), FileReadError);

  auto bytes = encode_jpeg(test::make_rgb(256, 256), 90);
  bytes.resize(bytes.size() * 2 / 3);  // truncated inside the entropy-coded data
  expect_error_names(bytes, "/x/trunc.JPEG", "corrupt JPEG");
  bytes.resize(100);  // truncated inside the header
  expect_error_names(bytes, "/x/trunc2.JPEG", "JPEG");
  expect_error_names({1, 2, 3, 4, 5}, "/x/garbage.JPEG", "not a JPEG or PNG");
  auto png = encode_png(test::make_rgb(16, 16));
  png.resize(png.size() - 20);
  expect_error_names(png, "/x/trunc.png", "PNG");
}

TEST(Decode, LabelPngKeepsRawValues) {
  Image lab = test::make_solid(7, 5, 1, {0});
  for (size_t i = 0; i < lab.pixels.size(); ++i) lab.pixels[i] = static_cast<uint8_t>(i * 7);
  const Image out = decode_label_png(encode_png(lab), "l.png");
  EXPECT_EQ(out.channels, 1);
  EXPECT_EQ(out.width, 7);
  EXPECT_EQ(out.pixels, lab.pixels);
  EXPECT_THROW(decode_label_png(encode_png(test::make_rgb(4, 4)), "rgb.png"), DecodeError);
  EXPECT_THROW(decode_label_png(encode_jpeg(test::make_rgb(4, 4), 90), "l.jpg"), DecodeError);
}

namespace {

// Rewrites the frame size in a baseline JPEG's SOF0 segment (FF C0, length, precision, height, width):
// the file then claims width x height pixels while its data stays tiny, as a decompression bomb does.
std::vector<uint8_t> with_jpeg_frame_size(std::vector<uint8_t> jpeg, int width, int height) {
  for (size_t i = 2; i + 9 < jpeg.size(); ++i)
    if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xC0) {
      jpeg[i + 5] = uint8_t(height >> 8), jpeg[i + 6] = uint8_t(height);
      jpeg[i + 7] = uint8_t(width >> 8), jpeg[i + 8] = uint8_t(width);
      return jpeg;
    }
  ADD_FAILURE() << "no SOF0 marker";
  return jpeg;
}

// Same for a PNG's IHDR (the CRC is left stale: the size check must come before libpng reads the chunk).
std::vector<uint8_t> with_png_size(std::vector<uint8_t> png, uint32_t width, uint32_t height) {
  for (int b = 0; b < 4; ++b) {
    png[16 + b] = uint8_t(width >> (24 - 8 * b));
    png[20 + b] = uint8_t(height >> (24 - 8 * b));
  }
  return png;
}

}  // namespace

TEST(Decode, HeadersOverThePixelLimitAreRefusedBeforeDecoding) {
  // A 16x16 JPEG claiming 65000 x 65000 (4.2 G pixels, ~12 GB as RGB) against the default limit.
  const auto bomb = with_jpeg_frame_size(encode_jpeg(test::make_rgb(16, 16), 90), 65000, 65000);
  EXPECT_EQ(read_image_header(bomb, "bomb.jpg").width, 65000);
  expect_error_names(bomb, "/x/bomb.JPEG", "decompression bomb");
  const auto png_bomb = with_png_size(encode_png(test::make_rgb(16, 16)), 1u << 20, 1u << 20);
  expect_error_names(png_bomb, "/x/bomb.png", "over data.max_image_pixels");
  const auto label_bomb = with_png_size(encode_png(test::make_solid(16, 16, 1, {3})), 1u << 20, 1u << 20);
  EXPECT_THROW(decode_label_png(label_bomb, "bomb_label.png"), DecodeError);

  // The limit is inclusive, applies to the stored size (not the DCT-downscaled one), and 0 disables it.
  const auto jpeg = encode_jpeg(test::make_rgb(64, 32), 90);
  EXPECT_EQ(decode_rgb(jpeg, "ok.jpg", 0, 0, nullptr, 64 * 32).width, 64);
  EXPECT_THROW(decode_rgb(jpeg, "big.jpg", 0, 0, nullptr, 64 * 32 - 1), DecodeError);
  EXPECT_THROW(decode_rgb(jpeg, "big.jpg", 8, 4, nullptr, 64 * 32 - 1), DecodeError);
  EXPECT_EQ(decode_rgb(jpeg, "unlimited.jpg", 0, 0, nullptr, 0).width, 64);
  const auto label = encode_png(test::make_solid(16, 16, 1, {3}));
  EXPECT_EQ(decode_label_png(label, "l.png", 256).width, 16);
  EXPECT_THROW(decode_label_png(label, "l.png", 255), DecodeError);
}
