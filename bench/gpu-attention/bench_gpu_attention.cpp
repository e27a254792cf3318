// bench/run gpu-attention: times the CUDA RPC-Attention kernels against PyTorch's
// scaled_dot_product_attention (FlashAttention-2-class for bf16 on sm_80/sm_90) and the unfused
// reference (the spec's loop from LibTorch ops), forward and forward+backward, and prints achieved
// TFLOP/s and GB/s. Cost model: kernels/rpc_attention/README_cuda.md. Last line: one JSON object.
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/rpc_attention/rpc_attention.h"

namespace {

// The spec (scaled-dual form, as kernels/rpc_attention/rpc_attention_ref.cpp), unfused torch ops.
torch::Tensor unfused_rpc(const torch::Tensor& k, const torch::Tensor& v, int64_t n_iter, double lambda, int64_t C) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(k.size(3)));
  auto attn = [&](const torch::Tensor& kk) {
    return torch::matmul(torch::softmax(torch::matmul(kk, kk.transpose(-2, -1)) * scale, -1), v);
  };
  if (n_iter == 0) return attn(k);
  auto thresh = lambda * (static_cast<double>(k.size(2) * C) / (4.0 * k.abs().sum({2, 3}, true)));
  auto L = torch::zeros_like(k), Z = torch::zeros_like(k);
  for (int64_t t = 0; t < n_iter; ++t) {
    auto x = k - L + Z;
    auto S = torch::sign(x) * torch::relu(x.abs() - thresh);
    L = attn(k - S - Z);
    Z = Z + (k - L - S);
  }
  return L;
}

double time_ms(const std::function<void()>& fn, int iters) {
  for (int i = 0; i < 3; ++i) fn();
  torch::cuda::synchronize();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) fn();
  torch::cuda::synchronize();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / iters;
}

}  // namespace

int main(int argc, char** argv) {
  if (!torch::cuda::is_available()) {
    std::cout << "gpu-attention: no CUDA device visible (torch::cuda::is_available() is false); nothing timed.\n";
    std::cout << "{\"bench\":\"gpu-attention\",\"status\":\"skipped\",\"reason\":\"no CUDA device\"}\n";
    return 0;
  }
  const int64_t B = argc > 1 ? std::stoll(argv[1]) : 128, H = 3, N = 197, D = 64, C = H * D;
  const int iters = 20;
  std::ostringstream json;
  json << "{\"bench\":\"gpu-attention\",\"status\":\"ok\",\"B\":" << B << ",\"H\":" << H << ",\"N\":" << N
       << ",\"D\":" << D << ",\"results\":[";
  bool first = true;
  std::printf("%-10s %-22s %-8s %10s %10s %10s\n", "dtype", "variant", "pass", "ms", "TFLOP/s", "GB/s");
  for (auto dt : {torch::kBFloat16, torch::kFloat32}) {
    const auto opts = torch::TensorOptions().device(torch::kCUDA).dtype(dt);
    auto k = (0.5 * torch::randn({B, H, N, D}, opts)).contiguous();
    auto v = torch::randn({B, H, N, D}, opts);
    auto go = torch::randn({B, H, N, D}, opts);
    // The kernels are called directly below, so check the shape and arguments as the op entry would.
    rpct::rpc_attention_check_inputs(k, v, 4, 4.0, C, rpct::RpcAttentionBackend::kCuda);
    const double elem = dt == torch::kBFloat16 ? 2.0 : 4.0;
    const double attn_flops = 4.0 * B * H * N * N * D;  // K K^T and P V, one attention
    const double io_bytes = 3.0 * B * H * N * D * elem;  // read K, V; write out
    struct Variant {
      std::string name;
      int64_t n_iter;
      std::function<void()> fwd, fwdbwd;
    };
    std::vector<Variant> vs;
    vs.push_back({"sdpa", 1, [&] { at::scaled_dot_product_attention(k, k, v); },
                  [&] {
                    auto kk = k.detach().requires_grad_(true), vv = v.detach().requires_grad_(true);
                    auto o = at::scaled_dot_product_attention(kk, kk, vv);
                    o.backward(go);
                  }});
    for (int64_t it : {0, 1, 4}) {
      vs.push_back({"fused n_iter=" + std::to_string(it), std::max<int64_t>(it, 1),
                    [&, it] { rpct::rpc_attention_cuda_forward(k, v, it, 4.0, C); },
                    [&, it] {
                      auto r = rpct::rpc_attention_cuda_forward(k, v, it, 4.0, C);
                      rpct::rpc_attention_cuda_backward(go, k, v, {r.begin() + 1, r.end()}, it, 4.0, C);
                    }});
      vs.push_back({"unfused n_iter=" + std::to_string(it), std::max<int64_t>(it, 1),
                    [&, it] { unfused_rpc(k, v, it, 4.0, C); },
                    [&, it] {
                      auto kk = k.detach().requires_grad_(true), vv = v.detach().requires_grad_(true);
                      unfused_rpc(kk, vv, it, 4.0, C).backward(go);
                    }});
    }
    for (auto& var : vs) {
      for (int pass = 0; pass < 2; ++pass) {
        const double ms = time_ms(pass == 0 ? var.fwd : var.fwdbwd, iters);
        // forward: n_iter attentions; backward counted as 2.5x forward (FlashAttention-2 convention)
        const double flops = attn_flops * var.n_iter * (pass == 0 ? 1.0 : 3.5);
        const double bytes = io_bytes * (pass == 0 ? 1.0 : 7.0 / 3.0);  // + read dO, write dK, dV
        const double tflops = flops / (ms * 1e-3) / 1e12, gbs = bytes / (ms * 1e-3) / 1e9;
        const char* dts = dt == torch::kBFloat16 ? "bf16" : "f32";
        std::printf("%-10s %-22s %-8s %10.4f %10.2f %10.1f\n", dts, var.name.c_str(), pass == 0 ? "fwd" : "fwd+bwd", ms,
                    tflops, gbs);
        json << (first ? "" : ",") << "{\"dtype\":\"" << dts << "\",\"variant\":\"" << var.name << "\",\"pass\":\""
             << (pass == 0 ? "fwd" : "fwd+bwd") << "\",\"ms\":" << ms << ",\"tflops\":" << tflops << ",\"gbs\":" << gbs
             << "}";
        first = false;
      }
    }
  }
  json << "]}";
  std::cout << json.str() << "\n";
  return 0;
}
