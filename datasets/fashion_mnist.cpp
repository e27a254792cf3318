#include "datasets/fashion_mnist.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <type_traits>
#include <boost/filesystem.hpp>
#include <optional>
#include <stdexcept>

#include "core/checked_size.h"

namespace rpct {
namespace {

constexpr const char* kPackageHint = "install the Debian package 'dataset-fashion-mnist' (apt-get install dataset-fashion-mnist)";

uint32_t be32(const std::vector<uint8_t>& b, size_t off) {
  return (uint32_t(b[off]) << 24) | (uint32_t(b[off + 1]) << 16) | (uint32_t(b[off + 2]) << 8) | uint32_t(b[off + 3]);
}

using GzFile = std::unique_ptr<std::remove_pointer_t<gzFile>, int (*)(gzFile)>;

// Reads at most `max_bytes` more bytes of a (possibly gzip-compressed: gzread passes plain files through) file;
// the buffer grows with the data actually there, so a header that lies about the size allocates nothing.
std::vector<uint8_t> read_gz_up_to(gzFile f, const std::string& path, int64_t max_bytes) {
  std::vector<uint8_t> out;
  uint8_t buf[1 << 16];
  int n = 0;
  while (static_cast<int64_t>(out.size()) < max_bytes &&
         (n = gzread(f, buf, static_cast<unsigned>(std::min<int64_t>(sizeof(buf), max_bytes - out.size())))) > 0)
    out.insert(out.end(), buf, buf + n);
  int err = Z_OK;
  const char* msg = gzerror(f, &err);
  if (n < 0 || (err != Z_OK && err != Z_STREAM_END))
    throw std::runtime_error(path + ": corrupt gzip data: " + std::string(msg ? msg : "read error"));
  return out;
}

// An IDX file (magic, `ndims` big-endian u32 sizes, then their product of u8 values): the sizes, and the
// values as a tensor of those sizes. A wrong magic, sizes whose product overflows, or a payload shorter or
// longer than the sizes say is an error naming the file; nothing beyond the claimed size is read into memory.
torch::Tensor read_idx(const std::string& path, uint32_t magic, int ndims, const char* kind) {
  if (!boost::filesystem::exists(path)) throw std::runtime_error(path + ": file not found; " + kPackageHint);
  GzFile f(gzopen(path.c_str(), "rb"), &gzclose);
  if (!f) throw std::runtime_error(path + ": cannot open");
  const int64_t header_bytes = 4 + 4 * int64_t(ndims);
  const auto header = read_gz_up_to(f.get(), path, header_bytes);
  if (static_cast<int64_t>(header.size()) < header_bytes || be32(header, 0) != magic)
    throw std::runtime_error(path + ": not an IDX " + kind + " file (bad magic)");
  std::vector<int64_t> sizes;
  std::string dims_text;
  for (int i = 0; i < ndims; ++i) {
    sizes.push_back(be32(header, 4 + 4 * size_t(i)));
    dims_text += (i ? "x" : "") + std::to_string(sizes.back());
  }
  const std::optional<int64_t> numel = checked_numel(sizes);
  if (!numel || *numel == INT64_MAX)  // INT64_MAX: payload + 1 below must not overflow either
    throw std::runtime_error(path + ": header claims " + kind + " sizes " + dims_text +
                             ": too large (the product of the sizes overflows 64 bits)");
  const int64_t payload = *numel;
  const auto values = read_gz_up_to(f.get(), path, payload + 1);  // one more: an oversized file is an error too
  if (static_cast<int64_t>(values.size()) != payload)
    throw std::runtime_error(path + ": truncated or oversized: header claims " + dims_text + ", expected " +
                             std::to_string(header_bytes + payload) + " bytes, got " +
                             (static_cast<int64_t>(values.size()) > payload ? "more"
                                                                            : std::to_string(header_bytes + values.size())));
  auto t = torch::empty(sizes, torch::kUInt8);
  // An empty set (a size of 0) has no storage: memcpy must not get its null pointer, even for 0 bytes.
  if (!values.empty()) std::memcpy(t.data_ptr<uint8_t>(), values.data(), values.size());
  return t;
}

}  // namespace

uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

uint64_t per_sample_hash(uint64_t seed, int64_t epoch, int64_t index) {
  return mix64(mix64(mix64(seed) ^ static_cast<uint64_t>(epoch)) ^ static_cast<uint64_t>(index));
}

torch::Tensor read_idx_images(const std::string& path) { return read_idx(path, 0x00000803, 3, "image"); }

torch::Tensor read_idx_labels(const std::string& path) { return read_idx(path, 0x00000801, 1, "label").to(torch::kInt64); }

ImageSet load_fashion_mnist(const std::string& root, const std::string& split, int64_t limit) {
  if (!boost::filesystem::is_directory(root)) throw std::runtime_error(root + ": Fashion-MNIST directory not found; " + kPackageHint);
  if (split != "train" && split != "test") throw std::invalid_argument("fashion_mnist: split must be train or test, got " + split);
  const std::string prefix = root + "/" + (split == "train" ? "train" : "t10k");
  ImageSet s{read_idx_images(prefix + "-images-idx3-ubyte.gz"), read_idx_labels(prefix + "-labels-idx1-ubyte.gz")};
  if (s.images.size(0) != s.labels.size(0))
    throw std::runtime_error(prefix + "-*: " + std::to_string(s.images.size(0)) + " images but " +
                             std::to_string(s.labels.size(0)) + " labels");
  if (limit > 0 && limit < s.size()) {
    s.images = s.images.narrow(0, 0, limit).contiguous();
    s.labels = s.labels.narrow(0, 0, limit).contiguous();
  }
  return s;
}

void augment_shift_flip(const uint8_t* src, uint8_t* dst, int64_t h, int64_t w, int max_shift, uint64_t seed,
                        int64_t epoch, int64_t index) {
  const uint64_t r = per_sample_hash(seed, epoch, index);
  const int span = 2 * max_shift + 1;
  const int dy = static_cast<int>(r % span) - max_shift;
  const int dx = static_cast<int>((r >> 16) % span) - max_shift;
  const bool flip = (r >> 32) & 1;
  for (int64_t y = 0; y < h; ++y) {
    for (int64_t x = 0; x < w; ++x) {
      const int64_t sy = y + dy, sx0 = x + dx;
      const int64_t sx = flip ? (w - 1 - sx0) : sx0;
      dst[y * w + x] = (sy >= 0 && sy < h && sx0 >= 0 && sx0 < w) ? src[sy * w + sx] : 0;
    }
  }
}

std::pair<torch::Tensor, torch::Tensor> make_batch(const ImageSet& set, const std::vector<int64_t>& indices,
                                                   bool augment, uint64_t seed, int64_t epoch,
                                                   const FashionMnistCanvas& canvas) {
  const int64_t B = static_cast<int64_t>(indices.size()), h = set.images.size(1), w = set.images.size(2);
  const int64_t side = canvas.size > 0 ? canvas.size : 0;
  TORCH_CHECK(side == 0 || (side >= h && side >= w), "fashion-mnist: canvas ", side, " is smaller than the ", h, "x",
              w, " images");
  auto raw = torch::empty({B, 1, h, w}, torch::kUInt8);
  auto labels = torch::empty({B}, torch::kInt64);
  const uint8_t* src = set.images.data_ptr<uint8_t>();
  uint8_t* dst = raw.data_ptr<uint8_t>();
  const int64_t* lab = set.labels.data_ptr<int64_t>();
  int64_t* out_lab = labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < B; ++i) {
    // indices[i] may be a repeated-augmentation code: the image is code % n, the augmentation is
    // keyed on the code, so the copies of one image differ.
    const int64_t code = indices[i], idx = code % set.size();
    if (augment)
      augment_shift_flip(src + idx * h * w, dst + i * h * w, h, w, /*max_shift=*/2, seed, epoch, code);
    else
      std::memcpy(dst + i * h * w, src + idx * h * w, h * w);
    out_lab[i] = lab[idx];
  }
  if (side > 0) {
    TORCH_CHECK(canvas.min_scale > 0 && canvas.max_scale >= canvas.min_scale &&
                    scaled_extent(std::max(h, w), canvas.max_scale) <= side,
                "fashion-mnist: canvas scales [", canvas.min_scale, ", ", canvas.max_scale, "] do not fit ", h, "x", w,
                " images into ", side, "x", side);
    auto placed = torch::zeros({B, 1, side, side}, torch::kUInt8);
    constexpr uint64_t kCanvasStream = 0x63616e766173ULL;  // "canvas": draws independent of the shift/flip ones
    const uint8_t* item = raw.data_ptr<uint8_t>();
    uint8_t* out = placed.data_ptr<uint8_t>();
    for (int64_t i = 0; i < B; ++i, item += h * w, out += side * side) {
      double scale = 1.0;
      int64_t ih = h, iw = w, oy = (side - h) / 2, ox = (side - w) / 2;
      if (canvas.random) {
        const uint64_t r = per_sample_hash(seed ^ kCanvasStream, epoch, indices[i]);
        const double u = static_cast<double>(mix64(r) >> 11) * 0x1.0p-53;  // [0, 1)
        scale = canvas.min_scale + u * (canvas.max_scale - canvas.min_scale);
        ih = scaled_extent(h, scale);
        iw = scaled_extent(w, scale);
        oy = static_cast<int64_t>(r % static_cast<uint64_t>(side - ih + 1));
        ox = static_cast<int64_t>((r >> 32) % static_cast<uint64_t>(side - iw + 1));
      }
      for_each_scaled_pixel(h, w, scale, [&](int64_t y, int64_t x, int64_t from) {
        out[(oy + y) * side + ox + x] = item[from];
      });
    }
    raw = placed;
  }
  auto x = raw.to(torch::kFloat32).div_(255.0).sub_(kFashionMnistMean).div_(kFashionMnistStd);
  return {x, labels};
}

FashionMnistSource::FashionMnistSource(ImageSet set, bool augment, uint64_t seed, FashionMnistCanvas canvas)
    : set_(std::move(set)), augment_(augment), seed_(seed), canvas_(canvas) {}

Batch FashionMnistSource::make_batch(int64_t epoch, const std::vector<int64_t>& indices) {
  Batch b;
  b.epoch = epoch;
  std::tie(b.x, b.y) = rpct::make_batch(set_, indices, augment_, seed_, epoch, canvas_);
  b.indices = indices;
  return b;
}

}  // namespace rpct
