"""Analytic FLOP counts of the models and the attention op, from their shapes: the one place the formula is
written (every compute benchmark's GFLOP/s and fraction of peak comes from here; tests/bench/test_flops.py checks
it against a hand count of one small model).

Convention (the "model FLOPs" of MFU figures, PaLM appendix B / llm.c): only matrix products are counted, a
multiply-add is 2 FLOPs, a training step is forward + backward = 3 x the forward's matrix FLOPs (the backward
computes two products per forward product: the input gradient and the weight gradient; for an attention product
both operands' gradients). Not counted: softmax, LayerNorm, GELU, the PCP steps, the optimizer, the loss, and
any recomputation an implementation chooses (the fused RPC backward recomputes its attention tiles; that is
work the kernel does, not work the model needs). So achieved GFLOP/s = counted FLOPs / time is a lower bound on
what the machine executed, and its fraction of the GEMM peak says how much of the step the matrix units are busy
with model work.

Shapes: B batch, N tokens, C width, H heads, D = C / H, n_iter RPC iterations (0: symmetric attention).
"""

from bench.pyref.vit import block_kind

TRAIN_MULTIPLIER = 3  # forward 1 + backward 2


def linear(rows, fan_in, fan_out):
    """A Linear (or a patch-embedding conv as one) applied to `rows` vectors."""
    return 2 * rows * fan_in * fan_out


def attention_core(B, H, N, D, n_iter, kind="softmax", queries=None):
    """The attention products of one layer, forward: scores (Nq x N x D) and the weighted sum of values (same),
    per head. RPC runs one attention per iteration (docs/rpc-attention.md: n_iter >= 1); softmax, sym and kvpos
    (n_iter ignored) one."""
    Nq = N if queries is None else queries
    per = 2 * (2 * Nq * N * D)
    return B * H * per * (max(n_iter, 1) if kind == "rpc" else 1)


def attention_op_train(B, H, N, D, n_iter):
    """`rpc_attention(k, v)` forward + backward (bench/run attention): the op alone, no projections."""
    return TRAIN_MULTIPLIER * attention_core(B, H, N, D, n_iter, kind="rpc" if n_iter >= 1 else "sym")


def transformer_blocks(B, N, C, heads, depth, mlp_ratio, attention):
    """`depth` pre-norm blocks on N tokens, forward: in-projection (3C for softmax, 2C = [K; V] for the symmetric
    kinds), attention, out-projection, MLP C -> hidden -> C."""
    total = 0
    hidden = int(C * mlp_ratio)
    for i in range(depth):
        kind = block_kind(attention["kind"], i, attention["rpc_layers"])
        n_proj = 3 if kind == "softmax" else 2
        total += linear(B * N, C, n_proj * C) + linear(B * N, C, C)
        total += attention_core(B, heads, N, C // heads, attention["rpc_n_iter"], kind)
        total += linear(B * N, C, hidden) + linear(B * N, hidden, C)
    return total


def vit_forward(spec, B, img_size=None):
    """ViT forward (bench/pyref/vit.py ViT, models/vit.cpp), spec as bench.pyref.vit.vit_spec; the classifier
    head when model.num_classes > 0 (a Segmenter encoder passes a spec without it: see segmenter_forward)."""
    m, a = spec["model"], spec["attention"]
    grid = (img_size or m["img_size"]) // m["patch"]
    patches = grid * grid
    N = patches + 1  # + cls token
    C = m["dim"]
    total = linear(B * patches, m["in_chans"] * m["patch"] ** 2, C)
    total += transformer_blocks(B, N, C, m["heads"], m["depth"], m["mlp_ratio"], a)
    if m.get("num_classes", 0) > 0:
        total += linear(B, C, m["num_classes"])
    return total


def vit_train_step(spec, B):
    """One training step of the ViT classifier on B images (per rank, or all ranks for the global batch)."""
    return TRAIN_MULTIPLIER * vit_forward(spec, B)


def segmenter_forward(spec, B):
    """Segmenter forward (bench/segmenter/segmenter_ref.py, models/segmenter.cpp), spec as segmenter_spec: the ViT
    encoder without a head, then the linear decoder (a Linear C -> classes on the patches) or the mask transformer
    (proj_dec, decoder blocks on patches + class embeddings, heads = max(1, C / 64), MLP 4x, the patch and class
    projections and the masks product). The bilinear upsampling to the input size is not a matrix product."""
    m, a, s = spec["model"], spec["attention"], spec["seg"]
    encoder = {"model": dict(m, num_classes=0), "attention": a}
    total = vit_forward(encoder, B)
    grid = m["img_size"] // m["patch"]
    P, C, K = grid * grid, m["dim"], m["num_classes"]
    if s["decoder"] == "linear":
        return total + linear(B * P, C, K)
    from bench.segmenter.segmenter_ref import MASK_DECODER_HEAD_WIDTH, MASK_DECODER_MLP_RATIO
    heads = max(1, C // MASK_DECODER_HEAD_WIDTH)
    total += linear(B * P, C, C)
    total += transformer_blocks(B, P + K, C, heads, s["decoder_depth"], MASK_DECODER_MLP_RATIO, a)
    total += linear(B * P, C, C) + linear(B * K, C, C)  # proj_patch, proj_classes
    total += 2 * B * P * C * K  # masks = patch_feat @ class_feat^T
    return total


def segmenter_train_step(spec, B):
    return TRAIN_MULTIPLIER * segmenter_forward(spec, B)


def gflops_per_s(flops, seconds):
    return flops / seconds / 1e9
