"""RPC-Attention in PyTorch: docs/rpc-attention.md#the-iteration in its scaled-dual form
(docs/rpc-attention.md#scaled-dual), op for op as rpc_attention_reference and rpc_threshold_reference in
kernels/rpc_attention/rpc_attention_ref.cpp: the threshold guarded for all-zero keys
(docs/rpc-attention.md#all-zero-keys), the unused last dual update skipped, attention dropout on the last
iteration's attention matrix only. Gradients through every iteration and through mu (autograd).
The one PyTorch transcription of the op in bench/ (the ViT's rpc blocks, `bench/run attention`'s eager column).

Shapes: k, v, out (B, H, N, D); model_dim is the layer's width C (not D).
"""
import math

import torch
import torch.nn.functional as F


def rpc_threshold(k, lam, model_dim):
    """thresh = lambda * mu, mu = N * C / (4 sum|K|) per (batch, head), (B, H, 1, 1); where sum|K| = 0 the
    limit: +inf (lambda > 0) or 0 (lambda = 0)."""
    n = k.shape[-2]
    s = k.abs().sum((-2, -1), keepdim=True)
    nz = s > 0
    mu = n * model_dim / (4.0 * torch.where(nz, s, torch.ones_like(s)))
    return torch.where(nz, lam * mu, torch.full_like(s, math.inf if lam > 0 else 0.0))


def softmax_attention(q, k, v, attn_drop=0.0, training=False):
    """softmax(q k^T / sqrt(D)) v, with dropout on the attention matrix in training (explicit matrices, as
    softmax_attention_reference)."""
    a = torch.softmax(q @ k.transpose(-2, -1) * q.shape[-1] ** -0.5, -1)
    if training and attn_drop > 0:
        a = F.dropout(a, attn_drop, training=True)
    return a @ v


def rpc_attention(k, v, n_iter, lam, model_dim, attn_drop=0.0, training=False):
    """RPC-Attention (n_iter >= 1) or symmetric attention (n_iter = 0) of k, v (B, H, N, D) -> (B, H, N, D)."""
    if n_iter == 0:
        return softmax_attention(k, k, v, attn_drop, training)
    th = rpc_threshold(k, lam, model_dim)
    L = torch.zeros_like(k)
    Y = torch.zeros_like(k)  # the scaled dual Y / mu
    for it in range(n_iter):
        x = k - L + Y
        S = torch.sign(x) * torch.relu(x.abs() - th)  # soft threshold
        K2 = k - S - Y
        last = it == n_iter - 1
        L = softmax_attention(K2, K2, v, attn_drop if last else 0.0, training)
        if not last:
            Y = Y + (k - L - S)
    return L
