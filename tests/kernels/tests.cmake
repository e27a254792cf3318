# kernels/: the attention op against its reference (see tests/CMakeLists.txt for the functions and labels).
rpct_add_test(test_rpc_attention LABELS unit SOURCES test_rpc_attention.cpp)
# The composed op (SDPA + PCP steps) against the reference, at the model shapes.
rpct_add_test(test_rpc_attention_composed LABELS unit SOURCES test_rpc_attention_composed.cpp)
# The fused segmentation loss (bilinear upsampling + pixel cross-entropy) against the composed LibTorch ops.
rpct_add_test(test_upsample_cross_entropy LABELS unit SOURCES test_upsample_cross_entropy.cpp)
# CUDA kernels run on the CPU through kernels/cuda_emu (label emu), and the same kernels on a GPU
# (label gpu: without a device or a CUDA build every case skips with a reason, and ctest reports the test as
# Skipped, not Passed: tests/CMakeLists.txt).
rpct_add_test(test_emu_runtime NO_PCH LABELS emu SOURCES test_emu_runtime.cpp)
rpct_add_test(test_emu_attention LABELS emu SOURCES test_emu_attention.cpp)
rpct_add_test(test_emu_composed LABELS emu SOURCES test_emu_composed.cpp)
# Includes the Segmenter shape (N 1025: ~27x the DeiT-Tiny case; minutes with the old thread-based emulator,
# ~5 CPU s with the fiber one, so no longer a `long` test).
rpct_add_test(test_emu_peaked LABELS emu SOURCES test_emu_peaked.cpp)
# The deliberately broken kernel variants (each in its own translation unit and kernel namespace):
# these tests pass when the emulated run DETECTS the bug (a mismatch against the reference).
rpct_add_test(test_emu_broken LABELS emu SOURCES test_emu_broken_sync.cpp test_emu_broken_bound.cpp
              test_emu_broken_pcp.cpp)
rpct_add_test(test_gpu_attention LABELS gpu SOURCES test_gpu_attention.cpp)
# Static resource usage of every kernel for each RPCT_CUDA_ARCHS entry (registers, spills, static shared
# memory, occupancy) from the compiler's report; fails on any spill or a per-block limit. CUDA builds only.
if(RPCT_WITH_CUDA)
  string(REPLACE ";" "," _rpct_archs "${RPCT_CUDA_ARCHS}")  # a CMake list would split the argument
  add_test(NAME test_cuda_resources COMMAND bash ${PROJECT_SOURCE_DIR}/scripts/cuda_resources.sh
           --nvcc ${CMAKE_CUDA_COMPILER} --archs ${_rpct_archs})
  _rpct_test_properties(test_cuda_resources "unit" 900)
endif()
