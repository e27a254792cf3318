// bench_attention: forward+backward time and peak memory of the fused RPC-Attention op, the composed op
// (one LibTorch SDPA call per iteration + the PCP steps) and the LibTorch-ops reference, at the DeiT-Tiny
// and Segmenter shapes, in one run. Prints one JSON line per shape:
// {"shape":..,"B":..,...,"fused_ms":..,"composed_ms":..,"reference_ms":..,"fused_peak_mb":..,...}
// (bench/attention/run.sh merges these with the Python eager column).
//
// Peak memory: a counting c10::Allocator is installed as the CPU allocator; it wraps the default one and
// tracks live and peak bytes of every CPU tensor allocation (autograd's saved tensors, outputs, gradients,
// and the fused kernel's workspaces, which it allocates as tensors for that reason). Reported: peak live
// bytes during one forward+backward minus the bytes live before it (inputs, cotangent). BLAS-internal
// packing buffers are not seen (both implementations use the same BLAS).
#include <ATen/Parallel.h>
#include <c10/core/CPUAllocator.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/rpc_attention/rpc_attention.h"
#include "core/ftz.h"

namespace {

class CountingAllocator final : public c10::Allocator {
 public:
  explicit CountingAllocator(c10::Allocator* base) : base_(base) {}
  c10::DataPtr allocate(size_t n) override {
    auto* ctx = new Ctx{base_->allocate(n), n, this};
    void* data = ctx->inner.get();
    const int64_t now = live_.fetch_add(static_cast<int64_t>(n)) + static_cast<int64_t>(n);
    int64_t p = peak_.load();
    while (now > p && !peak_.compare_exchange_weak(p, now)) {
    }
    return {data, ctx, &CountingAllocator::release, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return nullptr; }
  void copy_data(void* dest, const void* src, std::size_t count) const override { std::memcpy(dest, src, count); }
  int64_t live() const { return live_.load(); }
  void reset_peak() { peak_.store(live_.load()); }
  int64_t peak() const { return peak_.load(); }

 private:
  struct Ctx {
    c10::DataPtr inner;
    size_t n;
    CountingAllocator* self;
  };
  static void release(void* p) {
    auto* ctx = static_cast<Ctx*>(p);
    ctx->self->live_.fetch_sub(static_cast<int64_t>(ctx->n));
    delete ctx;
  }
  c10::Allocator* base_;
  std::atomic<int64_t> live_{0}, peak_{0};
};

CountingAllocator* g_counter = nullptr;

struct Shape {
  const char* name;
  int64_t B, H, N, D, C, n_iter;
  double lambda;
  int reps;
};

enum class Impl { kFused, kComposed, kReference };

// One forward + backward; returns nothing, leaves grads on k, v.
void step(Impl impl, const Shape& s, torch::Tensor& k, torch::Tensor& v, const torch::Tensor& g) {
  k.mutable_grad() = torch::Tensor();
  v.mutable_grad() = torch::Tensor();
  torch::Tensor out;
  switch (impl) {
    case Impl::kFused: out = rpct::rpc_attention(k, v, s.n_iter, s.lambda, s.C); break;
    case Impl::kComposed: out = rpct::rpc_attention_composed(k, v, s.n_iter, s.lambda, s.C); break;
    case Impl::kReference: out = rpct::rpc_attention_reference(k, v, s.n_iter, s.lambda, s.C); break;
  }
  out.backward(g);
}

struct Result {
  double ms, peak_mb;
};

Result measure(Impl impl, const Shape& s, torch::Tensor& k, torch::Tensor& v, const torch::Tensor& g) {
  step(impl, s, k, v, g);  // warm-up (allocator, BLAS)
  k.mutable_grad() = torch::Tensor();
  v.mutable_grad() = torch::Tensor();
  const int64_t before = g_counter->live();
  g_counter->reset_peak();
  step(impl, s, k, v, g);
  const double peak_mb = static_cast<double>(g_counter->peak() - before) / (1024.0 * 1024.0);
  std::vector<double> t;
  for (int r = 0; r < s.reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    step(impl, s, k, v, g);
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return {t[t.size() / 2], peak_mb};  // median
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  static CountingAllocator counter(c10::GetCPUAllocator());
  g_counter = &counter;
  c10::SetCPUAllocator(&counter, /*priority=*/100);
  at::set_num_threads(threads);
  torch::manual_seed(0);
  // segmenter_sym: the Segmenter shape at n_iter = 0, what its symmetric layers (all but block 0) run.
  const Shape shapes[] = {{"deit_tiny", 32, 3, 197, 64, 192, 4, 4.0, 9},
                          {"segmenter", 2, 3, 1025, 64, 192, 4, 4.0, 5},
                          {"segmenter_sym", 2, 3, 1025, 64, 192, 0, 0.0, 5}};
  // Profiling aid: `bench_attention THREADS SHAPE SECONDS` runs only the fused op at SHAPE for SECONDS.
  // Also knows `deit_tiny_sym`: the DeiT-Tiny shape at n_iter = 0 (plain symmetric attention, SymViT).
  const Shape profile_shapes[] = {shapes[0], shapes[1], shapes[2], {"deit_tiny_sym", 32, 3, 197, 64, 192, 0, 0.0, 9}};
  if (argc > 3) {
    for (const auto& s : profile_shapes) {
      if (std::strcmp(s.name, argv[2]) != 0) continue;
      auto k = torch::randn({s.B, s.H, s.N, s.D}).requires_grad_(true), v = torch::randn_like(k).requires_grad_(true);
      auto g = torch::randn_like(k);
      const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(std::atof(argv[3]));
      int n = 0;
      for (; std::chrono::steady_clock::now() < until; ++n) step(Impl::kFused, s, k, v, g);
      std::printf("%s: %d fused steps\n", s.name, n);
      return 0;
    }
    std::fprintf(stderr, "bench_attention: unknown shape %s\n", argv[2]);
    return 2;
  }
  for (const auto& s : shapes) {
    auto k = torch::randn({s.B, s.H, s.N, s.D}).requires_grad_(true);
    auto v = torch::randn({s.B, s.H, s.N, s.D}).requires_grad_(true);
    auto g = torch::randn({s.B, s.H, s.N, s.D});
    // One after the other, each with its own warm-up: reference, fused, composed.
    const Result ref = measure(Impl::kReference, s, k, v, g);
    const Result fused = measure(Impl::kFused, s, k, v, g);
    const Result composed = measure(Impl::kComposed, s, k, v, g);
    // The reference again with denormals flushed in all threads: the softmax of the later iterations
    // underflows into denormals, which slow LibTorch's GEMMs ~10x by default. The fused op flushes them
    // itself; this column shows how much of its lead is that.
    rpct::set_flush_denormal_all_threads(true);
    const Result ref_ftz = measure(Impl::kReference, s, k, v, g);
    rpct::set_flush_denormal_all_threads(false);
    // The fused op's bfloat16 path (what CPU bf16 autocast runs): bf16 K, V and cotangent.
    auto k16 = k.detach().to(torch::kBFloat16).requires_grad_(true);
    auto v16 = v.detach().to(torch::kBFloat16).requires_grad_(true);
    const auto g16 = g.to(torch::kBFloat16);
    const Result fused_bf16 = measure(Impl::kFused, s, k16, v16, g16);
    // (No bf16 columns for the composed op or the LibTorch-ops reference here: LibTorch's bf16 CPU flash kernel
    // and oneDNN's bf16 matmul allocate through raw_allocate, which c10 refuses for an allocator that wraps its
    // pointers, as the counting allocator above does: the flash kernel aborts, and matmul falls back to a slow
    // baddbmm (6.7 s instead of ~0.1 s). bench_attention.py times SDPA in bf16 from Python instead.)
    std::printf("{\"shape\":\"%s\",\"B\":%ld,\"H\":%ld,\"N\":%ld,\"D\":%ld,\"C\":%ld,\"n_iter\":%ld,\"lambda\":%g,"
                "\"threads\":%d,\"fused_ms\":%.2f,\"composed_ms\":%.2f,\"reference_ms\":%.2f,\"fused_peak_mb\":%.2f,"
                "\"composed_peak_mb\":%.2f,\"reference_peak_mb\":%.2f,\"reference_ftz_ms\":%.2f,\"fused_bf16_ms\":%.2f,"
                "\"fused_bf16_peak_mb\":%.2f}\n",
                s.name, (long)s.B, (long)s.H, (long)s.N, (long)s.D, (long)s.C, (long)s.n_iter, s.lambda, threads,
                fused.ms, composed.ms, ref.ms, fused.peak_mb, composed.peak_mb, ref.peak_mb, ref_ftz.ms, fused_bf16.ms,
                fused_bf16.peak_mb);
    std::fflush(stdout);
  }
  return 0;
}
