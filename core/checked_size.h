// Tensor sizes read from a file (IDX headers, safetensors shapes) checked before LibTorch computes with them:
// the element count, and the product of the sizes with 0 counted as 1 (what LibTorch multiplies into the
// strides, so (0, 2^32, 2^32) overflows there although it has no elements), must both fit in int64.
#pragma once
#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

namespace rpct {

// The number of elements of `sizes` (each >= 0), or nullopt when either product overflows int64.
inline std::optional<int64_t> checked_numel(const std::vector<int64_t>& sizes) {
  int64_t numel = 1, stride_span = 1;
  for (const int64_t n : sizes)
    if (__builtin_mul_overflow(numel, n, &numel) || __builtin_mul_overflow(stride_span, std::max<int64_t>(n, 1), &stride_span))
      return std::nullopt;
  return numel;
}

}  // namespace rpct
