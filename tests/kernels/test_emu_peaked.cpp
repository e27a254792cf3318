// The emulated CUDA kernels in the saturated-softmax regime (n_iter 4, lambda 4) at the DeiT-Tiny
// (N 197) and Segmenter (N 1025) shapes, D 64, against the float64 reference, bounded by LibTorch's
// float32 error (expect_peaked_softmax_within_torch_float32, test_emu_backend.h): the port of the fused
// CPU op's RpcAttentionFused.Float32PeakedSoftmaxAtModelShapes. One head, batch 1 (heads are independent
// in the kernels). The Segmenter case is ~27x the DeiT-Tiny one (N^2): label long (see tests.cmake).
#include <gtest/gtest.h>

#include "tests/kernels/test_emu_backend.h"
#include "tests/test_seed.h"

namespace {
constexpr double kLambdaDefault = 4.0;  // the authors' default: saturated rows from iteration 2 on
}

TEST(EmuAttentionNumerics, Float32PeakedSoftmaxAtDeiTTinyShape) {
  expect_peaked_softmax_within_torch_float32({1, 1, 197, 64, 4, kLambdaDefault, torch::kFloat32},
                                             rpct::test::test_seed());
}

TEST(EmuAttentionNumerics, Float32PeakedSoftmaxAtSegmenterShape) {
  expect_peaked_softmax_within_torch_float32({1, 1, 1025, 64, 4, kLambdaDefault, torch::kFloat32},
                                             rpct::test::test_seed());
}
