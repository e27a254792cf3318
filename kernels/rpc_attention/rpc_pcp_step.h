// The elementwise PCP (ADMM) steps of RPC-Attention between two attention calls, per element, forward
// and backward: written once, for the CUDA kernels (rpc_pcp_kernels.cuh, nvcc or kernels/cuda_emu) and
// the CPU loop of the composed op (rpc_attention_composed.cpp). No torch, no CUDA headers.
//
// Scaled dual Z = Y / mu (docs/rpc-attention.md#scaled-dual), iteration t = 1..T of
// docs/rpc-attention.md#the-iteration (the backward below: docs/rpc-attention.md#gradients):
//   X_t = K - L_{t-1} + Z_{t-1};  S_t = shrink(X_t, thresh);  K2_t = K - S_t - Z_{t-1}
//   L_t = softmax(K2_t K2_t^T * scale) V           (the attention call: SDPA in the composed op)
//   Z_t = Z_{t-1} + K - L_t - S_t
// The step between attention calls t-1 and t ("step t") takes L_{t-1} and finishes iteration t-1's
// dual update, then prepares iteration t:
//   step 1:      Z_0 = 0, S_1 = shrink(K), K2_1 = K - S_1
//   step t >= 2: Z_{t-1} = Z_{t-2} + K - L_{t-1} - S_{t-1}; S_t = shrink(K - L_{t-1} + Z_{t-1});
//                K2_t = K - S_t - Z_{t-1}
// Its backward, given gK2 = dLoss/dK2_t (from the attention backward) and G = dLoss/dZ_{t-1} (from step
// t+1; 0 for t = T, and dLoss/dS_t = -G since step t+1 subtracts S_t where it adds Z_{t-1}):
//   gS = -G - gK2;  gX = gS [S_t != 0];  d thresh += -sign(S_t) gX     (d shrink/d thresh = -sign(x))
//   step 1:      gK += gK2 + gX
//   step t >= 2: gZ = G - gK2 + gX;  gK += gK2 + gX + gZ;  gL_{t-1} = -gX - gZ;  G := gZ
// Only S_t is needed from the forward (its mask and sign): |X| > thresh exactly where shrink(X) != 0.
// The operation order matches the LibTorch-ops reference (rpc_attention_ref.cpp), so the soft-threshold
// masks agree with it bit for bit in float64.
#pragma once

#if defined(__CUDACC__)
#define RPCT_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define RPCT_HOST_DEVICE inline
#endif

namespace rpct {
namespace pcp {

// sign(x) * max(|x| - thresh, 0); thresh may be +inf (then 0).
template <class A>
RPCT_HOST_DEVICE A shrink(A x, A thresh) {
  const A m = (x < A(0) ? -x : x) - thresh;
  return m > A(0) ? (x < A(0) ? -m : m) : A(0);
}

// Step t forward for one element. first: t == 1 (l_prev, z_prev, s_prev unused).
// Outputs z = Z_{t-1} (0 for t == 1), s = S_t, k2 = K2_t.
template <class A>
RPCT_HOST_DEVICE void forward(bool first, A k, A l_prev, A z_prev, A s_prev, A thresh, A& z, A& s, A& k2) {
  if (first) {
    z = A(0);
    s = shrink(k, thresh);
    k2 = k - s;
    return;
  }
  const A k_minus_l = k - l_prev;
  z = z_prev + (k_minus_l - s_prev);
  s = shrink(k_minus_l + z, thresh);
  k2 = (k - s) - z;
}

// Step t backward for one element. g: in dLoss/dZ_{t-1} (for t == 1 too: step 2 subtracts S_1 where it
// adds Z_0), out dLoss/dZ_{t-2} (t >= 2); gk accumulates
// dLoss/dK; gl_prev = dLoss/dL_{t-1} (t >= 2); returns this element's d thresh.
template <class A>
RPCT_HOST_DEVICE A backward(bool first, A gk2, A s, A& g, A& gk, A& gl_prev) {
  const A gs = -g - gk2;
  const A gx = s != A(0) ? gs : A(0);
  const A dthresh = s > A(0) ? -gx : (s < A(0) ? gx : A(0));
  if (first) {
    gk += gk2 + gx;
    return dthresh;
  }
  const A gz = (g - gk2) + gx;
  gk += (gk2 + gx) + gz;
  gl_prev = -gx - gz;
  g = gz;
  return dthresh;
}

}  // namespace pcp
}  // namespace rpct
