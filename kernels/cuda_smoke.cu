// Proves the CUDA toolchain builds and links into rpctrain (sm_80 and sm_90). The real kernels
// live in kernels/rpc_attention/.
#include <cuda_runtime.h>

namespace rpct {

__global__ void axpy_kernel(int n, float a, const float* x, float* y) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] += a * x[i];
}

// Returns the number of visible CUDA devices (0 without a GPU or driver).
int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

}  // namespace rpct
