// The tensor-facing part of the CUDA entry points, written once for two backends: the real one
// (rpc_attention_cuda.cpp: CUDA tensors, kernels launched on the current stream) and the emulator
// (tests/kernels/test_emu_*.cpp: CPU tensors, the same kernels run by kernels/cuda_emu). It checks
// the inputs once, allocates outputs, saved tensors and workspaces, and fills the params structs.
//
// Backend requirements:
//   void check_device(const torch::Tensor& t, const char* what) const;   // throws if t is on the wrong device
//   void forward(const RpcFwdArgs&, bool bf16) const;
//   void backward(const RpcBwdArgs&, bool bf16) const;
#pragma once
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/rpc_attention/rpc_attention_cuda_params.h"

namespace rpct {
namespace cuda_entry {

inline RpcDims check_inputs(const torch::Tensor& k, const torch::Tensor& v, int64_t n_iter, double lambda,
                            int64_t model_dim, const char* who) {
  TORCH_CHECK(k.dim() == 4, who, ": k must be (B, H, N, D), got ", k.sizes());
  TORCH_CHECK(v.sizes() == k.sizes(), who, ": v must have k's shape ", k.sizes(), ", got ", v.sizes());
  TORCH_CHECK(k.scalar_type() == v.scalar_type(), who, ": k and v must have the same dtype, got ", k.scalar_type(),
              " and ", v.scalar_type());
  TORCH_CHECK(k.scalar_type() == torch::kFloat32 || k.scalar_type() == torch::kBFloat16, who,
              ": dtype must be float32 or bfloat16, got ", k.scalar_type());
  TORCH_CHECK(k.is_contiguous() && v.is_contiguous(), who, ": k and v must be contiguous");
  const int64_t B = k.size(0), H = k.size(1), N = k.size(2), D = k.size(3);
  TORCH_CHECK(D == 32 || D == 64 || D == 128, who, ": head dim must be 32, 64 or 128, got ", D);
  TORCH_CHECK(B >= 1 && H >= 1 && N >= 1, who, ": empty input ", k.sizes());
  TORCH_CHECK(B * H * N * D < std::numeric_limits<int>::max() && B * H < 65536, who, ": input too large ", k.sizes());
  TORCH_CHECK(n_iter >= 0, who, ": n_iter must be >= 0, got ", n_iter);
  TORCH_CHECK(n_iter == 0 || (std::isfinite(lambda) && lambda >= 0.0), who, ": lambda must be finite and >= 0, got ",
              lambda);
  TORCH_CHECK(n_iter == 0 || model_dim >= 1, who, ": model_dim must be >= 1, got ", model_dim);
  RpcDims d;
  d.BH = static_cast<int>(B * H);
  d.N = static_cast<int>(N);
  d.D = static_cast<int>(D);
  d.bh_stride = N * D;
  d.row_stride = D;
  return d;
}

template <class Backend>
std::vector<torch::Tensor> forward(const torch::Tensor& k, const torch::Tensor& v, int64_t n_iter, double lambda,
                                   int64_t model_dim, const Backend& be) {
  const char* who = "rpc_attention_cuda_forward";
  const RpcDims dims = check_inputs(k, v, n_iter, lambda, model_dim, who);
  be.check_device(k, "k");
  be.check_device(v, "v");
  TORCH_CHECK(k.device() == v.device(), who, ": k and v on different devices");
  const int64_t B = k.size(0), H = k.size(1), N = k.size(2), D = k.size(3), T = n_iter;
  const auto f32 = k.options().dtype(torch::kFloat32);
  auto out = torch::empty_like(k);                          // (B, H, N, D)
  auto lse = torch::empty({std::max<int64_t>(T, 1), B, H, N}, f32);  // (T, B, H, N)
  RpcFwdArgs a{};
  a.k = k.data_ptr();
  a.v = v.data_ptr();
  a.out = out.data_ptr();
  a.lse = lse.data_ptr<float>();
  a.dims = dims;
  a.n_iter = static_cast<int>(T);
  a.lambda = static_cast<float>(lambda);
  a.model_dim = static_cast<float>(model_dim);
  const bool bf16 = k.scalar_type() == torch::kBFloat16;
  if (T == 0) {
    be.forward(a, bf16);
    return {out, lse, out};
  }
  auto k2s = torch::empty({T, B, H, N, D}, f32);  // (T, B, H, N, D) each
  auto ss = torch::empty({T, B, H, N, D}, f32);
  auto ls = torch::empty({T, B, H, N, D}, f32);
  auto thresh = torch::empty({B, H}, f32);
  auto abs_sum = torch::empty({B, H}, f32);
  auto z = torch::empty({T > 1 ? B : 0, H, N, D}, f32);  // workspace Z_t (unused when T == 1)
  a.k2s = k2s.data_ptr<float>();
  a.ss = ss.data_ptr<float>();
  a.ls = ls.data_ptr<float>();
  a.thresh = thresh.data_ptr<float>();
  a.abs_sum = abs_sum.data_ptr<float>();
  a.z = z.data_ptr<float>();
  be.forward(a, bf16);
  return {out, lse, k2s, ss, ls, thresh, abs_sum};
}

template <class Backend>
std::vector<torch::Tensor> backward(const torch::Tensor& grad_out, const torch::Tensor& k, const torch::Tensor& v,
                                    const std::vector<torch::Tensor>& saved, int64_t n_iter, double lambda,
                                    int64_t model_dim, const Backend& be) {
  const char* who = "rpc_attention_cuda_backward";
  const RpcDims dims = check_inputs(k, v, n_iter, lambda, model_dim, who);
  be.check_device(k, "k");
  be.check_device(v, "v");
  be.check_device(grad_out, "grad_out");
  TORCH_CHECK(grad_out.sizes() == k.sizes() && grad_out.scalar_type() == k.scalar_type(), who,
              ": grad_out must be like k, got ", grad_out.sizes(), " ", grad_out.scalar_type());
  const auto go = grad_out.contiguous();  // (B, H, N, D)
  const int64_t B = k.size(0), H = k.size(1), N = k.size(2), D = k.size(3), T = n_iter;
  const size_t expect = T == 0 ? 2 : 6;
  TORCH_CHECK(saved.size() == expect, who, ": expected ", expect, " saved tensors for n_iter=", n_iter, ", got ",
              saved.size());
  for (size_t i = 0; i < saved.size(); ++i) {
    be.check_device(saved[i], "saved");
    TORCH_CHECK(saved[i].is_contiguous(), who, ": saved[", i, "] must be contiguous");
    if (!(T == 0 && i == 1))
      TORCH_CHECK(saved[i].scalar_type() == torch::kFloat32, who, ": saved[", i, "] must be float32");
  }
  TORCH_CHECK(saved[0].numel() == std::max<int64_t>(T, 1) * B * H * N, who, ": saved lse has the wrong size");
  const auto f32 = k.options().dtype(torch::kFloat32);
  auto grad_k = torch::empty_like(k);
  auto grad_v = torch::empty_like(v);
  auto ws = torch::zeros({5, B, H, N, D}, f32);  // gk, gv, gk2, dout, gz: (B, H, N, D) each
  auto delta = torch::zeros({B, H, N}, f32);
  auto gtheta = torch::zeros({B, H}, f32);
  RpcBwdArgs a{};
  a.grad_out = go.data_ptr();
  a.k = k.data_ptr();
  a.v = v.data_ptr();
  a.lse = saved[0].data_ptr<float>();
  if (T == 0) {
    TORCH_CHECK(saved[1].sizes() == k.sizes() && saved[1].scalar_type() == k.scalar_type(), who,
                ": saved out must be like k");
    a.out = saved[1].data_ptr();
  } else {
    const int64_t big = T * B * H * N * D;
    TORCH_CHECK(saved[1].numel() == big && saved[2].numel() == big && saved[3].numel() == big &&
                    saved[4].numel() == B * H && saved[5].numel() == B * H,
                who, ": saved tensors have the wrong sizes for n_iter=", n_iter);
    a.k2s = saved[1].data_ptr<float>();
    a.ss = saved[2].data_ptr<float>();
    a.ls = saved[3].data_ptr<float>();
    a.thresh = saved[4].data_ptr<float>();
    a.abs_sum = saved[5].data_ptr<float>();
  }
  a.grad_k = grad_k.data_ptr();
  a.grad_v = grad_v.data_ptr();
  a.gk = ws[0].data_ptr<float>();
  a.gv = ws[1].data_ptr<float>();
  a.gk2 = ws[2].data_ptr<float>();
  a.dout = ws[3].data_ptr<float>();
  a.gz = ws[4].data_ptr<float>();
  a.delta = delta.data_ptr<float>();
  a.gtheta = gtheta.data_ptr<float>();
  a.dims = dims;
  a.n_iter = static_cast<int>(T);
  a.lambda = static_cast<float>(lambda);
  a.model_dim = static_cast<float>(model_dim);
  be.backward(a, k.scalar_type() == torch::kBFloat16);
  return {grad_k, grad_v};
}

}  // namespace cuda_entry
}  // namespace rpct
