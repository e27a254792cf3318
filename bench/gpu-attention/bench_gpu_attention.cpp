// bench/run gpu-attention: on a GPU, one LibTorch scaled_dot_product_attention call (FlashAttention-2 /
// cuDNN class for bf16 on sm_80/sm_90) vs RPC-Attention (n_iter 4, lambda 4) three ways: composed (one
// SDPA call per iteration + the fused PCP kernels, rpct::rpc_attention_composed: attention.impl auto on
// CUDA), the custom fused CUDA kernels (rpct::rpc_attention) and the unfused LibTorch-ops reference;
// forward and forward+backward, bf16, at the DeiT-Tiny (B 128, H 3, N 197, D 64) and Segmenter
// (B 8, H 3, N 1025, D 64) attention shapes. Prints ms, achieved TFLOP/s, GB/s and the ratio to the one
// SDPA call of the same pass (the target: composed fwd+bwd <= 5x). Last line: one JSON object.
//
// Counting (kernels/rpc_attention/README_cuda.md): one attention forward = 4 N^2 D FLOP per head (K K^T
// and P V), backward 2.5x forward; RPC does n_iter attentions. Bytes: the least any implementation must
// move per attention call: read K, V, write the output (3 e N D per head, e = element bytes); forward +
// backward also reads dO and writes dK, dV: 7 e N D per head; RPC: n_iter x that.
// So GB/s is an effective bandwidth, comparable across the variants, not a DRAM counter.
#include <torch/torch.h>

#include <ATen/cuda/CUDAContext.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/rpc_attention/rpc_attention.h"

namespace {

struct Shape {
  const char* name;
  int64_t B, H, N, D;
};

double time_ms(const std::function<void()>& fn, int iters) {
  for (int i = 0; i < 3; ++i) fn();  // warm-up: kernel selection, allocator
  torch::cuda::synchronize();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) fn();
  torch::cuda::synchronize();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / iters;
}

using AttentionFn = std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&)>;

}  // namespace

int main(int argc, char** argv) {
  if (!torch::cuda::is_available()) {
    std::cout << "gpu-attention: no CUDA device visible (torch::cuda::is_available() is false); nothing timed.\n";
    std::cout << "{\"bench\":\"gpu-attention\",\"status\":\"skipped\",\"reason\":\"no CUDA device\"}\n";
    return 0;
  }
  const int iters = argc > 1 ? std::stoi(argv[1]) : 20;
  constexpr int64_t kIter = 4;       // RPC n_iter (the authors' training default)
  constexpr double kLambda = 4.0;    // RPC lambda (the authors' default)
  const Shape shapes[] = {{"deit_tiny", 128, 3, 197, 64}, {"segmenter", 8, 3, 1025, 64}};
  const std::string device = at::cuda::getCurrentDeviceProperties()->name;
  std::ostringstream json;
  json << "{\"bench\":\"gpu-attention\",\"status\":\"ok\",\"device\":\"" << device << "\",\"dtype\":\"bf16\",\"n_iter\":"
       << kIter << ",\"results\":[";
  bool first = true;
  std::printf("device %s, bf16, RPC n_iter %ld lambda %g, %d timed calls each\n", device.c_str(), (long)kIter, kLambda,
              iters);
  std::printf("%-10s %-10s %-8s %10s %9s %9s %8s\n", "shape", "variant", "pass", "ms", "TFLOP/s", "GB/s", "x SDPA");
  for (const Shape& s : shapes) {
    const int64_t C = s.H * s.D;
    const auto opts = torch::TensorOptions().device(torch::kCUDA).dtype(torch::kBFloat16);
    auto k = 0.5 * torch::randn({s.B, s.H, s.N, s.D}, opts);  // (B, H, N, D)
    auto v = torch::randn({s.B, s.H, s.N, s.D}, opts);
    auto go = torch::randn({s.B, s.H, s.N, s.D}, opts);
    const double heads = static_cast<double>(s.B * s.H);
    const double attn_flops = 4.0 * heads * s.N * s.N * s.D;   // one attention forward
    const double attn_bytes = 3.0 * heads * s.N * s.D * 2.0;   // read K, V; write out (bf16)
    struct Variant {
      std::string name;
      int64_t attentions;  // attention calls per forward
      AttentionFn fn;
    };
    const std::vector<Variant> variants = {
        {"sdpa", 1, [](const torch::Tensor& kk, const torch::Tensor& vv) {
           return at::scaled_dot_product_attention(kk, kk, vv);
         }},
        {"composed", kIter, [&](const torch::Tensor& kk, const torch::Tensor& vv) {
           return rpct::rpc_attention_composed(kk, vv, kIter, kLambda, C);
         }},
        {"fused", kIter, [&](const torch::Tensor& kk, const torch::Tensor& vv) {
           return rpct::rpc_attention(kk, vv, kIter, kLambda, C);
         }},
        {"reference", kIter, [&](const torch::Tensor& kk, const torch::Tensor& vv) {
           return rpct::rpc_attention_reference(kk, vv, kIter, kLambda, C);
         }},
    };
    double sdpa_ms[2] = {0, 0};
    for (const auto& var : variants) {
      for (int pass = 0; pass < 2; ++pass) {
        const double ms = time_ms(
            [&] {
              if (pass == 0) {
                torch::NoGradGuard no_grad;
                var.fn(k, v);
              } else {
                auto kk = k.detach().requires_grad_(true), vv = v.detach().requires_grad_(true);
                var.fn(kk, vv).backward(go);
              }
            },
            iters);
        if (var.name == "sdpa") sdpa_ms[pass] = ms;
        const double flops = attn_flops * var.attentions * (pass == 0 ? 1.0 : 3.5);
        const double bytes = attn_bytes * var.attentions * (pass == 0 ? 1.0 : 7.0 / 3.0);
        const double tflops = flops / (ms * 1e-3) / 1e12, gbs = bytes / (ms * 1e-3) / 1e9, x_sdpa = ms / sdpa_ms[pass];
        const char* pass_name = pass == 0 ? "fwd" : "fwd+bwd";
        std::printf("%-10s %-10s %-8s %10.4f %9.2f %9.1f %7.2fx\n", s.name, var.name.c_str(), pass_name, ms, tflops,
                    gbs, x_sdpa);
        json << (first ? "" : ",") << "{\"shape\":\"" << s.name << "\",\"B\":" << s.B << ",\"H\":" << s.H
             << ",\"N\":" << s.N << ",\"D\":" << s.D << ",\"variant\":\"" << var.name << "\",\"pass\":\"" << pass_name
             << "\",\"ms\":" << ms << ",\"tflops\":" << tflops << ",\"gbs\":" << gbs << ",\"x_sdpa\":" << x_sdpa << "}";
        first = false;
      }
    }
  }
  json << "]}";
  std::cout << json.str() << "\n";
  return 0;
}
