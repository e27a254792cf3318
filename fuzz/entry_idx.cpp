// Fuzz target `idx`: datasets/fashion_mnist's IDX readers (images: magic 0x803 + 3 sizes; labels: 0x801 + 1
// size), through zlib, which reads gzip and plain files alike. The same bytes go to both readers.
#include <torch/torch.h>

#include "datasets/fashion_mnist.h"
#include "fuzz/fuzz_entries.h"

namespace rpct::fuzz {

void idx_entry(const uint8_t* data, size_t size) {
  const std::string path = scratch_dir() + "/fuzz-idx.gz";
  write_scratch(path, data, size);
  try {
    const torch::Tensor images = read_idx_images(path);  // (N, H, W) uint8
    expect(images.dim() == 3 && images.scalar_type() == torch::kUInt8, "read_idx_images: not an (N, H, W) uint8 tensor");
  } catch (const FuzzFinding&) {
    throw;
  } catch (const std::exception& e) {
    expect_named_error(e, {path});
  }
  try {
    const torch::Tensor labels = read_idx_labels(path);  // (N,) int64
    expect(labels.dim() == 1 && labels.scalar_type() == torch::kInt64, "read_idx_labels: not an (N,) int64 tensor");
  } catch (const FuzzFinding&) {
    throw;
  } catch (const std::exception& e) {
    expect_named_error(e, {path});
  }
}

}  // namespace rpct::fuzz
