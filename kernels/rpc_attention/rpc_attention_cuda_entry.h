// The tensor-facing part of the CUDA entry points, written once for two backends: the real one
// (rpc_attention_cuda.cpp: CUDA tensors, kernels launched on the current stream) and the emulator
// (tests/kernels/test_emu_*.cpp: CPU tensors, the same kernels run by kernels/cuda_emu). It allocates
// outputs, saved tensors and workspaces and fills the plain params structs. It checks nothing: the op
// entry (rpc_attention_check_inputs, rpc_attention_op.cpp) has checked k, v and the arguments for the
// CUDA kernels, and made k, v and grad_out contiguous in k's dtype.
//
// Backend requirements:
//   void forward(const RpcFwdArgs&) const;
//   void backward(const RpcBwdArgs&) const;
#pragma once
#include <torch/torch.h>

#include <algorithm>
#include <vector>

#include "kernels/rpc_attention/rpc_attention_cuda_params.h"

namespace rpct {
namespace cuda_entry {

// The fields RpcFwdArgs and RpcBwdArgs share. k: (B, H, N, D) contiguous, float32 or bfloat16.
template <class Args>
void set_sizes_and_scalars(Args& a, const torch::Tensor& k, int64_t n_iter, double lambda, int64_t model_dim) {
  const int64_t B = k.size(0), H = k.size(1), N = k.size(2), D = k.size(3);
  a.dims.BH = static_cast<int>(B * H);
  a.dims.N = static_cast<int>(N);
  a.dims.D = static_cast<int>(D);
  a.dims.bh_stride = N * D;
  a.dims.row_stride = D;
  a.dims.bf16 = k.scalar_type() == torch::kBFloat16;
  a.n_iter = static_cast<int>(n_iter);
  a.lambda = static_cast<float>(lambda);
  a.model_dim = static_cast<float>(model_dim);
}

template <class Backend>
std::vector<torch::Tensor> forward(const torch::Tensor& k, const torch::Tensor& v, int64_t n_iter, double lambda,
                                   int64_t model_dim, const Backend& be) {
  const int64_t B = k.size(0), H = k.size(1), N = k.size(2), D = k.size(3), T = n_iter;
  const auto f32 = k.options().dtype(torch::kFloat32);
  auto out = torch::empty_like(k);                          // (B, H, N, D)
  auto row_stats = torch::empty({std::max<int64_t>(T, 1), 2, B, H, N}, f32);  // (T, 2, B, H, N): max, 1/sum
  RpcFwdArgs a{};
  a.k = k.data_ptr();
  a.v = v.data_ptr();
  a.out = out.data_ptr();
  a.row_stats = row_stats.data_ptr<float>();
  set_sizes_and_scalars(a, k, n_iter, lambda, model_dim);
  if (T == 0) {
    be.forward(a);
    return {out, row_stats};
  }
  auto k2s = torch::empty({T, B, H, N, D}, f32);  // (T, B, H, N, D) each
  auto ss = torch::empty({T, B, H, N, D}, f32);
  auto thresh = torch::empty({B, H}, f32);
  auto abs_sum = torch::empty({B, H}, f32);
  auto z = torch::empty({T > 1 ? B : 0, H, N, D}, f32);  // workspace Z_t (unused when T == 1)
  a.k2s = k2s.data_ptr<float>();
  a.ss = ss.data_ptr<float>();
  a.thresh = thresh.data_ptr<float>();
  a.abs_sum = abs_sum.data_ptr<float>();
  a.z = z.data_ptr<float>();
  be.forward(a);
  return {out, row_stats, k2s, ss, thresh, abs_sum};
}

template <class Backend>
std::vector<torch::Tensor> backward(const torch::Tensor& grad_out, const torch::Tensor& k, const torch::Tensor& v,
                                    const std::vector<torch::Tensor>& saved, int64_t n_iter, double lambda,
                                    int64_t model_dim, const Backend& be) {
  const int64_t B = k.size(0), H = k.size(1), N = k.size(2), D = k.size(3), T = n_iter;
  TORCH_INTERNAL_ASSERT(saved.size() == (T == 0 ? 1u : 5u), "rpc_attention_cuda_backward: saved is not what forward "
                        "returned for n_iter=", n_iter);
  const auto f32 = k.options().dtype(torch::kFloat32);
  auto grad_k = torch::empty_like(k);
  auto grad_v = torch::empty_like(v);
  auto ws = torch::zeros({5, B, H, N, D}, f32);  // gk, gv, gk2, dout, gz: (B, H, N, D) each
  auto delta = torch::zeros({B, H, N}, f32);
  auto gtheta = torch::zeros({B, H}, f32);
  RpcBwdArgs a{};
  a.grad_out = grad_out.data_ptr();
  a.k = k.data_ptr();
  a.v = v.data_ptr();
  a.row_stats = saved[0].data_ptr<float>();
  if (T != 0) {
    a.k2s = saved[1].data_ptr<float>();
    a.ss = saved[2].data_ptr<float>();
    a.thresh = saved[3].data_ptr<float>();
    a.abs_sum = saved[4].data_ptr<float>();
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
  set_sizes_and_scalars(a, k, n_iter, lambda, model_dim);
  be.backward(a);
  return {grad_k, grad_v};
}

}  // namespace cuda_entry
}  // namespace rpct
