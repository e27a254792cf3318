// The emulated CUDA kernels in the saturated-softmax regime (n_iter 4, lambda 4) at the DeiT-Tiny
// (N 197) and Segmenter (N 1025) shapes, D 64, against float64, bounded by LibTorch's float32 error
// (expect_peaked_within_float32_reference, float32_check.h; the fused CPU op's
// RpcAttentionFused.Float32PeakedSoftmaxAtModelShapes runs the same check). One head, batch 1 (heads are
// independent in the kernels).
#include <gtest/gtest.h>

#include "tests/kernels/test_emu_backend.h"
#include "tests/test_seed.h"

namespace {

constexpr double kLambdaDefault = 4.0;  // the authors' default: saturated rows from iteration 2 on
constexpr int64_t kNIter = 4;           // the authors' training default
constexpr int64_t kHeadDim = 64;        // DeiT-Tiny / Seg-Tiny

void expect_emu_peaked(int64_t N) {
  rpct::test::expect_peaked_within_float32_reference(
      1, 1, N, kHeadDim, kNIter, kLambdaDefault, rpct::test::test_seed(), "emulated kernels",
      [](const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& w) {
        return emu_float32_run(k, v, w, kNIter, kLambdaDefault, k.size(1) * k.size(3));
      });
}

}  // namespace

TEST(EmuAttentionNumerics, Float32PeakedSoftmaxAtDeiTTinyShape) { expect_emu_peaked(197); }

TEST(EmuAttentionNumerics, Float32PeakedSoftmaxAtSegmenterShape) { expect_emu_peaked(1025); }
