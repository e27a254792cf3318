#include "datasets/decode.h"

#include <png.h>
#include <turbojpeg.h>

#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>

namespace rpct {
namespace {

// One TurboJPEG handle per thread and direction (handles are not thread-safe).
std::string tj_error(tjhandle h) { return tjGetErrorStr2(h); }

struct TjHandle {
  tjhandle h = nullptr;
  explicit TjHandle(bool compress) : h(compress ? tjInitCompress() : tjInitDecompress()) {
    if (!h) throw DecodeError(std::string("TurboJPEG: cannot create a handle: ") + tjGetErrorStr2(nullptr));
  }
  ~TjHandle() {
    if (h) tjDestroy(h);
  }
};

TjHandle& decompressor_handle() {
  thread_local TjHandle handle(false);
  return handle;
}

tjhandle decompressor() { return decompressor_handle().h; }

// After a failed call a TurboJPEG 2.1 decompressor can stay in a bad state (the next, valid file then
// fails with e.g. "Bogus Huffman table definition"), so the thread's handle is replaced.
void reset_decompressor() {
  TjHandle& handle = decompressor_handle();
  tjDestroy(handle.h);
  handle.h = tjInitDecompress();
  if (!handle.h) throw DecodeError(std::string("TurboJPEG: cannot create a handle: ") + tjGetErrorStr2(nullptr));
}

[[noreturn]] void jpeg_fail(tjhandle tj, const std::string& what) {
  const std::string msg = what + tj_error(tj);
  reset_decompressor();
  throw DecodeError(msg);
}

tjhandle compressor() {
  thread_local TjHandle handle(true);
  return handle.h;
}

// TurboJPEG reports some recoverable problems as warnings. A truncated file ("Premature end of JPEG
// file") is decoded with grey filler rows; PIL refuses it, so it is treated as an error. Other warnings
// (e.g. extraneous bytes before a marker) leave a complete image and are accepted, as PIL does.
bool is_fatal(tjhandle h) {
  if (tjGetErrorCode(h) != TJERR_WARNING) return true;
  const std::string msg = tj_error(h);
  return msg.find("Premature end") != std::string::npos;
}

ImageHeader jpeg_header(const std::vector<uint8_t>& bytes, const std::string& path, int* colorspace) {
  int w = 0, h = 0, subsamp = 0, cs = 0;
  tjhandle tj = decompressor();
  if (tjDecompressHeader3(tj, bytes.data(), bytes.size(), &w, &h, &subsamp, &cs) != 0)
    jpeg_fail(tj, path + ": bad JPEG header: ");
  if (colorspace) *colorspace = cs;
  return {ImageFormat::kJpeg, w, h};
}

ImageHeader png_header(const std::vector<uint8_t>& bytes, const std::string& path) {
  // IHDR is always the first chunk: 8-byte signature, 4 length, 4 "IHDR", 4 width, 4 height.
  if (bytes.size() < 24 || std::memcmp(bytes.data() + 12, "IHDR", 4) != 0)
    throw DecodeError(path + ": bad PNG header (no IHDR chunk)");
  auto be32 = [&](size_t o) {
    return (uint32_t(bytes[o]) << 24) | (uint32_t(bytes[o + 1]) << 16) | (uint32_t(bytes[o + 2]) << 8) | bytes[o + 3];
  };
  const uint32_t w = be32(16), h = be32(20);
  if (w == 0 || h == 0 || w > (1u << 20) || h > (1u << 20))
    throw DecodeError(path + ": bad PNG size " + std::to_string(w) + "x" + std::to_string(h));
  return {ImageFormat::kPng, static_cast<int>(w), static_cast<int>(h)};
}

// Throws when the header's claimed size is over the limit: checked before a decoder allocates anything.
void check_pixel_limit(const ImageHeader& hdr, const std::string& path, int64_t max_pixels) {
  const int64_t pixels = int64_t(hdr.width) * hdr.height;
  if (max_pixels > 0 && pixels > max_pixels)
    throw DecodeError(path + ": header claims " + std::to_string(hdr.width) + "x" + std::to_string(hdr.height) + " = " +
                      std::to_string(pixels) + " pixels, over data.max_image_pixels " + std::to_string(max_pixels) +
                      " (a decompression bomb?); not decoded");
}

Image decode_jpeg(const std::vector<uint8_t>& bytes, const std::string& path, int min_w, int min_h, double* scale,
                  int64_t max_pixels) {
  int cs = 0;
  const ImageHeader hdr = jpeg_header(bytes, path, &cs);
  check_pixel_limit(hdr, path, max_pixels);  // before any pixel buffer
  int num = 1, denom = 1;
  if (min_w > 0 || min_h > 0) {
    int n = 0;
    const tjscalingfactor* f = tjGetScalingFactors(&n);
    double best = 1.0;
    for (int i = 0; f && i < n; ++i) {
      const double s = double(f[i].num) / f[i].denom;
      // Only 1/2, 1/4, 1/8: libjpeg-turbo has SIMD IDCTs for those; the other N/8 factors use scalar
      // scaled IDCTs that are slower than a full-size SIMD decode (measured with bench/loader).
      if (s >= best || s > 1.0 || f[i].num != 1 || (f[i].denom != 2 && f[i].denom != 4 && f[i].denom != 8)) continue;
      if (TJSCALED(hdr.width, f[i]) >= min_w && TJSCALED(hdr.height, f[i]) >= min_h) {
        best = s;
        num = f[i].num;
        denom = f[i].denom;
      }
    }
  }
  const tjscalingfactor sf{num, denom};
  const int w = TJSCALED(hdr.width, sf), h = TJSCALED(hdr.height, sf);
  if (scale) *scale = double(num) / denom;
  tjhandle tj = decompressor();
  Image img;
  img.width = w;
  img.height = h;
  img.channels = 3;
  const bool cmyk = (cs == TJCS_CMYK || cs == TJCS_YCCK);
  if (!cmyk) {
    img.pixels.resize(size_t(w) * h * 3);
    if (tjDecompress2(tj, bytes.data(), bytes.size(), img.pixels.data(), w, 0, h, TJPF_RGB, 0) != 0) {
      if (is_fatal(tj)) jpeg_fail(tj, path + ": corrupt JPEG: ");
      reset_decompressor();  // accepted warning: still start the next file from a fresh handle
    }
    return img;
  }
  std::vector<uint8_t> raw(size_t(w) * h * 4);
  if (tjDecompress2(tj, bytes.data(), bytes.size(), raw.data(), w, 0, h, TJPF_CMYK, 0) != 0) {
    if (is_fatal(tj)) jpeg_fail(tj, path + ": corrupt CMYK JPEG: ");
    reset_decompressor();
  }
  // Adobe CMYK JPEGs store inverted ink amounts (byte = 255 - ink); PIL reads them as "CMYK;I" and
  // converts with R = (255 - C)(255 - K)/255 on the un-inverted values, i.e. byte_C * byte_K / 255.
  img.pixels.resize(size_t(w) * h * 3);
  for (size_t i = 0, n = size_t(w) * h; i < n; ++i) {
    const unsigned k = raw[4 * i + 3];
    for (int c = 0; c < 3; ++c) img.pixels[3 * i + c] = static_cast<uint8_t>((raw[4 * i + c] * k + 127) / 255);
  }
  return img;
}

Image decode_png_rgb(const std::vector<uint8_t>& bytes, const std::string& path) {
  png_image pi;
  std::memset(&pi, 0, sizeof(pi));
  pi.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&pi, bytes.data(), bytes.size()))
    throw DecodeError(path + ": bad PNG: " + pi.message);
  pi.format = PNG_FORMAT_RGBA;  // alpha dropped below, as PIL's convert("RGB") does
  std::vector<uint8_t> rgba(PNG_IMAGE_SIZE(pi));
  if (!png_image_finish_read(&pi, nullptr, rgba.data(), 0, nullptr)) {
    const std::string msg = pi.message;
    png_image_free(&pi);
    throw DecodeError(path + ": corrupt PNG: " + msg);
  }
  Image img;
  img.width = pi.width;
  img.height = pi.height;
  img.channels = 3;
  img.pixels.resize(size_t(img.width) * img.height * 3);
  for (size_t i = 0, n = size_t(img.width) * img.height; i < n; ++i)
    for (int c = 0; c < 3; ++c) img.pixels[3 * i + c] = rgba[4 * i + c];
  return img;
}

struct PngReadState {
  const uint8_t* data;
  size_t size, pos;
  char message[256];
};

void png_error_fn(png_structp png, png_const_charp msg) {
  auto* st = static_cast<PngReadState*>(png_get_error_ptr(png));
  std::snprintf(st->message, sizeof(st->message), "%s", msg);
  png_longjmp(png, 1);
}

void png_warning_fn(png_structp, png_const_charp) {}

void png_read_fn(png_structp png, png_bytep out, png_size_t n) {
  auto* st = static_cast<PngReadState*>(png_get_io_ptr(png));
  if (st->pos + n > st->size) png_error(png, "truncated PNG data");
  std::memcpy(out, st->data + st->pos, n);
  st->pos += n;
}

// Returns an empty string on success, else the error. Plain C-style: no C++ objects with destructors
// live across setjmp/longjmp here; `out` is sized before the jump point may be taken.
std::string read_label_png(const std::vector<uint8_t>& bytes, Image* out) {
  PngReadState st{bytes.data(), bytes.size(), 0, {0}};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &st, png_error_fn, png_warning_fn);
  if (!png) return "cannot create a libpng reader";
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    return "cannot create a libpng info struct";
  }
  png_bytep* volatile rows = nullptr;
  if (setjmp(png_jmpbuf(png))) {
    delete[] rows;
    png_destroy_read_struct(&png, &info, nullptr);
    return st.message;
  }
  png_set_read_fn(png, &st, png_read_fn);
  png_read_info(png, info);
  const int color = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
  if (color != PNG_COLOR_TYPE_GRAY && color != PNG_COLOR_TYPE_PALETTE) {
    png_destroy_read_struct(&png, &info, nullptr);
    return "label PNG must be 8-bit grayscale or palette (got colour type " + std::to_string(color) + ")";
  }
  if (depth == 16) png_set_strip_16(png);
  if (depth < 8) png_set_packing(png);  // indices/values unchanged, one byte per pixel
  png_read_update_info(png, info);
  const int w = png_get_image_width(png, info), h = png_get_image_height(png, info);
  out->width = w;
  out->height = h;
  out->channels = 1;
  out->pixels.assign(size_t(w) * h, 0);
  rows = new png_bytep[h];
  for (int y = 0; y < h; ++y) rows[y] = out->pixels.data() + size_t(y) * w;
  png_read_image(png, rows);
  png_read_end(png, nullptr);
  delete[] rows;
  rows = nullptr;
  png_destroy_read_struct(&png, &info, nullptr);
  return "";
}

}  // namespace



ImageFormat sniff_format(const uint8_t* d, size_t n) {
  if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return ImageFormat::kJpeg;
  static const uint8_t kPngSig[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  if (n >= 8 && std::memcmp(d, kPngSig, 8) == 0) return ImageFormat::kPng;
  return ImageFormat::kUnknown;
}

ImageHeader read_image_header(const std::vector<uint8_t>& bytes, const std::string& path) {
  if (bytes.empty()) throw DecodeError(path + ": empty file (0 bytes)");
  switch (sniff_format(bytes.data(), bytes.size())) {
    case ImageFormat::kJpeg: return jpeg_header(bytes, path, nullptr);
    case ImageFormat::kPng: return png_header(bytes, path);
    default: throw DecodeError(path + ": not a JPEG or PNG file (unrecognized magic bytes)");
  }
}

Image decode_rgb(const std::vector<uint8_t>& bytes, const std::string& path, int min_width, int min_height,
                 double* scale, int64_t max_pixels) {
  if (bytes.empty()) throw DecodeError(path + ": empty file (0 bytes)");
  switch (sniff_format(bytes.data(), bytes.size())) {
    case ImageFormat::kJpeg: return decode_jpeg(bytes, path, min_width, min_height, scale, max_pixels);
    case ImageFormat::kPng:
      check_pixel_limit(png_header(bytes, path), path, max_pixels);  // IHDR: a few byte reads
      if (scale) *scale = 1.0;
      return decode_png_rgb(bytes, path);
    default: throw DecodeError(path + ": not a JPEG or PNG file (unrecognized magic bytes)");
  }
}

Image decode_label_png(const std::vector<uint8_t>& bytes, const std::string& path, int64_t max_pixels) {
  if (bytes.empty()) throw DecodeError(path + ": empty file (0 bytes)");
  if (sniff_format(bytes.data(), bytes.size()) != ImageFormat::kPng) throw DecodeError(path + ": label map is not a PNG file");
  check_pixel_limit(png_header(bytes, path), path, max_pixels);
  Image img;
  const std::string err = read_label_png(bytes, &img);
  if (!err.empty()) throw DecodeError(path + ": bad label PNG: " + err);
  return img;
}

std::vector<uint8_t> encode_jpeg(const Image& img, int quality) {
  int pf = 0, subsamp = TJSAMP_420;
  switch (img.channels) {
    case 1: pf = TJPF_GRAY; subsamp = TJSAMP_GRAY; break;
    case 3: pf = TJPF_RGB; break;
    case 4: pf = TJPF_CMYK; break;
    default: throw std::invalid_argument("encode_jpeg: channels must be 1, 3 or 4");
  }
  tjhandle tj = compressor();
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  if (tjCompress2(tj, img.pixels.data(), img.width, 0, img.height, pf, &buf, &size, subsamp, quality, 0) != 0) {
    const std::string msg = tj_error(tj);
    tjFree(buf);
    throw std::runtime_error("encode_jpeg: " + msg);
  }
  std::vector<uint8_t> out(buf, buf + size);
  tjFree(buf);
  return out;
}

std::vector<uint8_t> encode_png(const Image& img) {
  if (img.channels != 1 && img.channels != 3) throw std::invalid_argument("encode_png: channels must be 1 or 3");
  png_image pi;
  std::memset(&pi, 0, sizeof(pi));
  pi.version = PNG_IMAGE_VERSION;
  pi.width = img.width;
  pi.height = img.height;
  pi.format = img.channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  png_alloc_size_t size = 0;
  if (!png_image_write_to_memory(&pi, nullptr, &size, 0, img.pixels.data(), 0, nullptr))
    throw std::runtime_error(std::string("encode_png: ") + pi.message);
  std::vector<uint8_t> out(size);
  if (!png_image_write_to_memory(&pi, out.data(), &size, 0, img.pixels.data(), 0, nullptr))
    throw std::runtime_error(std::string("encode_png: ") + pi.message);
  out.resize(size);
  return out;
}

}  // namespace rpct
