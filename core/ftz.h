// Flush-to-zero + denormals-are-zero (x86 MXCSR FTZ bit 15, DAZ bit 6). Float32 values below FLT_MIN
// (1.2e-38) do not matter to training, but every FMA that reads a denormal takes a microcode assist:
// LibTorch's / MKL's GEMMs ran ~10x slower on saturated softmax rows (kernels/rpc_attention/README.md).
#pragma once

namespace rpct {

// Whether this CPU has the FTZ/DAZ mode (x86 with SSE); elsewhere the functions below change nothing.
bool have_flush_denormal();

// FTZ/DAZ on or off in the calling thread and in every LibTorch intra-op thread (torch.set_flush_denormal
// sets only the calling thread). Returns false where the CPU has no such mode.
bool set_flush_denormal_all_threads(bool on);

// FTZ/DAZ on in the calling thread for this scope; the previous mode is restored on exit.
class ScopedFlushDenormal {
 public:
  ScopedFlushDenormal();
  ~ScopedFlushDenormal();
  ScopedFlushDenormal(const ScopedFlushDenormal&) = delete;
  ScopedFlushDenormal& operator=(const ScopedFlushDenormal&) = delete;

 private:
  unsigned saved_ = 0;
};

}  // namespace rpct
