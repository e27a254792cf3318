"""An independent PyTorch implementation of rpctrain's Segmenter (models/segmenter.cpp on models/vit.cpp and
models/attention.cpp): a ViT encoder and a linear or mask-transformer decoder, with the attention variants of
docs/rpc-attention.md written out here from that page (softmax, sym, kvpos, rpc). Shared by the PyTorch
parity test (tests/trainer/test_segmenter_parity.sh) and `bench/run segmenter` (bench_segmenter.py).

Parameter names and layouts are those of rstrudel/segmenter as `rpctrain export` writes them
(models/vit_weights.h): encoder.{patch_embed.proj, cls_token, pos_embed, blocks.N.{norm1, attn.qkv, attn.proj,
norm2, mlp.fc1, mlp.fc2}, norm}, decoder.head (linear) or decoder.{proj_dec, cls_emb, blocks.N.*, decoder_norm,
proj_patch, proj_classes, mask_norm}. A symmetric-KV block (sym, kvpos, rpc) holds its in-projection as
[K; V] (2C rows); `load_exported` takes that from the exported timm qkv [Q = K; K; V] after checking Q == K.
kvpos's bias table is BEiT's attn.relative_position_bias_table (T, H).

Shapes: B batch, N tokens, C width, H heads, D = C / H head dim.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

ENCODER_LAYER_NORM_EPS = 1e-6  # models/vit.cpp: the ViT's LayerNorms (timm's)
DECODER_LAYER_NORM_EPS = 1e-5  # models/segmenter.cpp: the mask decoder's LayerNorms (torch's default, Segmenter's)
MASK_DECODER_HEAD_WIDTH = 64   # models/segmenter.cpp: decoder heads = max(1, d / 64)
MASK_DECODER_MLP_RATIO = 4.0


def rpc_attention(k, v, n_iter, lam, model_dim):
    """RPC-Attention as docs/rpc-attention.md#the-iteration writes it, literally: Principal Component Pursuit
    on the keys with the dual Y (not the scaled dual of the C++ reference). k, v (B, H, N, D) -> (B, H, N, D).
    Gradients flow through every iteration and through mu (autograd)."""
    n, scale = k.shape[-2], k.shape[-1] ** -0.5
    abs_sum = k.abs().sum((-2, -1), keepdim=True)  # (B, H, 1, 1)
    if not bool((abs_sum > 0).all()):
        raise ValueError("rpc_attention: a (batch, head) has all-zero keys; this reference leaves that case to the "
                         "C++ op (kernels/rpc_attention/README.md)")
    mu = n * model_dim / (4.0 * abs_sum)
    thresh = lam * mu
    low_rank = torch.zeros_like(k)
    dual = torch.zeros_like(k)
    for _ in range(n_iter):
        x = k - low_rank + dual / mu
        sparse = torch.sign(x) * torch.clamp(x.abs() - thresh, min=0.0)
        k2 = k - sparse - dual / mu
        low_rank = torch.softmax(k2 @ k2.transpose(-2, -1) * scale, -1) @ v
        dual = dual + mu * (k - low_rank - sparse)
    return low_rank


def relative_position_index(grid):
    """BEiT's index for 1 (cls) + grid^2 tokens: patch a -> patch b at (ya - yb + g-1) * (2g-1) + (xa - xb + g-1),
    then cls->patch, patch->cls, cls->cls the three last entries. (1+g^2, 1+g^2) int64."""
    ys, xs = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
    coords = torch.stack([ys.flatten(), xs.flatten()])  # (2, g^2)
    rel = coords[:, :, None] - coords[:, None, :] + (grid - 1)  # (2, g^2, g^2)
    table = (2 * grid - 1) ** 2
    index = torch.empty(1 + grid * grid, 1 + grid * grid, dtype=torch.long)
    index[1:, 1:] = rel[0] * (2 * grid - 1) + rel[1]
    index[0, :] = table
    index[:, 0] = table + 1
    index[0, 0] = table + 2
    return index


class Attention(nn.Module):
    """kind: softmax (qkv 3C), sym / kvpos / rpc (qkv = [K; V], 2C: no query). Dropout as models/attention.cpp:
    attention dropout on the (last) attention matrix, projection dropout after proj."""

    def __init__(self, dim, heads, kind, grid=0, attn_drop=0.0, proj_drop=0.0, rpc_n_iter=4, rpc_lambda=4.0):
        super().__init__()
        self.heads, self.kind, self.attn_drop = heads, kind, attn_drop
        self.rpc_n_iter, self.rpc_lambda = rpc_n_iter, rpc_lambda
        self.qkv = nn.Linear(dim, (3 if kind == "softmax" else 2) * dim)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        if kind == "kvpos":
            self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * grid - 1) ** 2 + 3, heads))
            self.register_buffer("relative_position_index", relative_position_index(grid), persistent=False)

    def forward(self, x):  # (B, N, C) -> (B, N, C)
        B, N, C = x.shape
        parts = self.qkv(x).reshape(B, N, -1, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)  # (P, B, H, N, D)
        drop = self.attn_drop if self.training else 0.0
        if self.kind == "softmax":
            out = F.scaled_dot_product_attention(parts[0], parts[1], parts[2], dropout_p=drop)
        elif self.kind == "sym":
            out = F.scaled_dot_product_attention(parts[0], parts[0], parts[1], dropout_p=drop)
        elif self.kind == "kvpos":
            bias = self.relative_position_bias_table[self.relative_position_index.flatten()]
            bias = bias.reshape(*self.relative_position_index.shape, -1).permute(2, 0, 1)  # (H, 1+g^2, 1+g^2)
            if N == bias.shape[-1] - 1:
                bias = bias[:, 1:, 1:]  # no cls token: patch entries only
            out = F.scaled_dot_product_attention(parts[0], parts[0], parts[1], attn_mask=bias.to(x.dtype),
                                                 dropout_p=drop)
        else:
            if drop > 0:
                raise ValueError("this reference's rpc attention has no attention dropout")
            out = rpc_attention(parts[0], parts[1], self.rpc_n_iter, self.rpc_lambda, C)
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(B, N, C)))


class Mlp(nn.Module):
    def __init__(self, dim, hidden, dropout):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        return self.drop(self.fc2(self.drop(F.gelu(self.fc1(x)))))


def drop_path(x, p, training):
    """Stochastic depth per sample (models/vit.cpp drop_path)."""
    if not training or p <= 0:
        return x
    keep = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype).bernoulli_(1 - p)
    return x * keep / (1 - p)


class Block(nn.Module):
    """Pre-norm transformer block; `attention` are Attention's keyword arguments."""

    def __init__(self, dim, mlp_ratio, drop_path_rate, dropout, norm_eps, **attention):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = Attention(dim, proj_drop=dropout, **attention)
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), dropout)
        self.drop_path_rate = drop_path_rate

    def forward(self, x):
        h = x + drop_path(self.attn(self.norm1(x)), self.drop_path_rate, self.training)
        return h + drop_path(self.mlp(self.norm2(h)), self.drop_path_rate, self.training)


def block_kind(kind, index, rpc_layers):
    """models/attention.cpp AttentionPlan::for_block: with kind rpc, RPC in the listed blocks ("all": every
    block), symmetric KV attention in the others."""
    if kind != "rpc" or rpc_layers == "all" or index in rpc_layers:
        return kind
    return "sym"


def linear_rates(rate, depth):
    """Stochastic-depth rate of each block: 0 at the first, `rate` at the last."""
    return [rate * i / (depth - 1) if depth > 1 else rate for i in range(depth)]


def resize_pos_embed(pos, grid_h, grid_w):
    """(1, 1+g*g, C) -> (1, 1+gh*gw, C): the grid part resized bilinearly (align_corners False), cls kept."""
    g = math.isqrt(pos.shape[1] - 1)
    grid = pos[:, 1:].reshape(1, g, g, -1).permute(0, 3, 1, 2)  # (1, C, g, g)
    grid = F.interpolate(grid, size=(grid_h, grid_w), mode="bilinear", align_corners=False)
    return torch.cat([pos[:, :1], grid.permute(0, 2, 3, 1).reshape(1, grid_h * grid_w, -1)], 1)


class PatchEmbed(nn.Module):
    def __init__(self, patch, in_chans, dim):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, dim, patch, stride=patch)

    def forward(self, x):  # (B, Cin, H, W) -> (B, gh*gw, C)
        return self.proj(x).flatten(2).transpose(1, 2)


class Encoder(nn.Module):
    """The ViT without its head; forward returns the normed tokens (B, 1+gh*gw, C) at any multiple of patch."""

    def __init__(self, m, a):
        super().__init__()
        self.patch = m["patch"]
        self.grid = grid = m["img_size"] // m["patch"]  # the built patch grid side
        self.patch_embed = PatchEmbed(m["patch"], m["in_chans"], m["dim"])
        self.cls_token = nn.Parameter(torch.zeros(1, 1, m["dim"]))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + grid * grid, m["dim"]))
        self.pos_drop = nn.Dropout(m["dropout"])
        self.blocks = nn.ModuleList(
            Block(m["dim"], m["mlp_ratio"], dp, m["dropout"], ENCODER_LAYER_NORM_EPS, heads=m["heads"],
                  kind=block_kind(a["kind"], i, a["rpc_layers"]), grid=grid, attn_drop=a["attn_drop"],
                  rpc_n_iter=a["rpc_n_iter"], rpc_lambda=a["rpc_lambda"])
            for i, dp in enumerate(linear_rates(m["drop_path"], m["depth"])))
        self.norm = nn.LayerNorm(m["dim"], eps=ENCODER_LAYER_NORM_EPS)

    def forward(self, x):
        grid_h, grid_w = x.shape[-2] // self.patch, x.shape[-1] // self.patch
        same_grid = grid_h == self.grid and grid_w == self.grid
        pos = self.pos_embed if same_grid else resize_pos_embed(self.pos_embed, grid_h, grid_w)  # (1, 1+N, C)
        t = self.patch_embed(x)
        t = self.pos_drop(torch.cat([self.cls_token.expand(t.shape[0], -1, -1), t], 1) + pos)
        for b in self.blocks:
            t = b(t)
        return self.norm(t)


class DecoderLinear(nn.Module):
    def __init__(self, dim, n_cls):
        super().__init__()
        self.head = nn.Linear(dim, n_cls)

    def forward(self, patches, grid_h, grid_w):  # (B, gh*gw, C) -> (B, n_cls, gh, gw)
        return self.head(patches).transpose(1, 2).reshape(patches.shape[0], -1, grid_h, grid_w)


class MaskTransformer(nn.Module):
    def __init__(self, dim, n_cls, s, a):
        super().__init__()
        self.n_cls = n_cls
        heads = max(1, dim // MASK_DECODER_HEAD_WIDTH)
        self.proj_dec = nn.Linear(dim, dim)
        self.cls_emb = nn.Parameter(torch.zeros(1, n_cls, dim))
        self.blocks = nn.ModuleList(
            Block(dim, MASK_DECODER_MLP_RATIO, dp, s["decoder_dropout"], DECODER_LAYER_NORM_EPS, heads=heads,
                  kind=block_kind(a["kind"], i, a["rpc_layers"]), attn_drop=a["attn_drop"],
                  rpc_n_iter=a["rpc_n_iter"], rpc_lambda=a["rpc_lambda"])
            for i, dp in enumerate(linear_rates(s["decoder_drop_path"], s["decoder_depth"])))
        self.decoder_norm = nn.LayerNorm(dim, eps=DECODER_LAYER_NORM_EPS)
        self.proj_patch = nn.Parameter(torch.randn(dim, dim) * dim ** -0.5)
        self.proj_classes = nn.Parameter(torch.randn(dim, dim) * dim ** -0.5)
        self.mask_norm = nn.LayerNorm(n_cls, eps=DECODER_LAYER_NORM_EPS)

    def forward(self, patches, grid_h, grid_w):  # (B, gh*gw, C) -> (B, n_cls, gh, gw)
        x = self.proj_dec(patches)
        x = torch.cat([x, self.cls_emb.expand(x.shape[0], -1, -1)], 1)  # (B, N + n_cls, C)
        for b in self.blocks:
            x = b(x)
        x = self.decoder_norm(x)
        patch_feat = x[:, :-self.n_cls] @ self.proj_patch
        class_feat = x[:, -self.n_cls:] @ self.proj_classes
        patch_feat = patch_feat / patch_feat.norm(dim=-1, keepdim=True)
        class_feat = class_feat / class_feat.norm(dim=-1, keepdim=True)
        masks = self.mask_norm(patch_feat @ class_feat.transpose(1, 2))  # (B, N, n_cls)
        return masks.transpose(1, 2).reshape(patches.shape[0], self.n_cls, grid_h, grid_w)


class Segmenter(nn.Module):
    """`spec` is segmenter_spec(config): model / attention / seg values of an rpctrain config."""

    def __init__(self, spec):
        super().__init__()
        m, a, s = spec["model"], spec["attention"], spec["seg"]
        self.patch = m["patch"]
        self.encoder = Encoder(m, a)
        if s["decoder"] == "linear":
            self.decoder = DecoderLinear(m["dim"], m["num_classes"])
        else:
            self.decoder = MaskTransformer(m["dim"], m["num_classes"], s, a)
        self.init_weights()

    def init_weights(self):
        """timm's init as models/vit.cpp: truncated normal std .02 (within 2 std) for tokens, embeddings and
        Linear weights, zero biases; LayerNorms (1, 0)."""
        for name, p in self.named_parameters():
            if name.endswith(("cls_token", "pos_embed", "cls_emb", "relative_position_bias_table")) or (
                    p.dim() == 2 and "proj_patch" not in name and "proj_classes" not in name):
                nn.init.trunc_normal_(p, std=0.02, a=-0.04, b=0.04)
        for mod in self.modules():
            if isinstance(mod, nn.Linear):
                nn.init.zeros_(mod.bias)

    def forward(self, x):  # (B, Cin, H, W) -> (B, n_cls, H, W)
        H, W = x.shape[-2:]
        grid_h, grid_w = H // self.patch, W // self.patch
        patches = self.encoder(x)[:, 1:]  # the cls token dropped
        logits = self.decoder(patches, grid_h, grid_w)
        return F.interpolate(logits, size=(H, W), mode="bilinear", align_corners=False)


def load_exported(model, tensors, source):
    """Copies `tensors` (an `rpctrain export` file as {name: tensor}) into `model`. Every parameter must be
    there with its shape; a symmetric-KV block's [K; V] comes from the timm qkv [Q; K; V] when Q == K. Extra
    tensors (an original Segmenter's encoder.head) are ignored. Errors name `source` and the tensor."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name not in tensors:
                raise KeyError(f"{source}: missing tensor '{name}'")
            t = tensors[name]
            if name.endswith(("attn.qkv.weight", "attn.qkv.bias")) and t.shape[0] * 2 == p.shape[0] * 3:
                C = p.shape[0] // 2
                if not torch.equal(t[:C], t[C:2 * C]):
                    raise ValueError(f"{source}: '{name}' has query rows that differ from its key rows; this block "
                                     "has symmetric KV attention")
                t = t[C:]
            if tuple(t.shape) != tuple(p.shape):
                raise ValueError(f"{source}: '{name}' has shape {tuple(t.shape)}, the model expects {tuple(p.shape)}")
            p.copy_(t)


def read_rpctrain_config(path):
    """The resolved config.yaml of an rpctrain run (yaml-cpp's emitter: nested block maps; scalar lists in flow
    style "[0, 2]" or as "- item" lines) as {dotted key: value}; values int, float, bool, str or a list."""
    def scalar(text):
        text = text.strip()
        if text.startswith("[") and text.endswith("]"):
            return [scalar(item) for item in text[1:-1].split(",") if item.strip()]
        text = text.strip('"')
        if text in ("true", "false"):
            return text == "true"
        for cast in (int, float):
            try:
                return cast(text)
            except ValueError:
                pass
        return text

    flat, stack = {}, []  # stack: (indent, dotted prefix)
    for raw in open(path):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        indent, line = len(raw) - len(raw.lstrip(" ")), raw.strip()
        if line.startswith("- "):
            key = stack[-1][1]
            flat[key] = (flat[key] if isinstance(flat.get(key), list) else []) + [scalar(line[2:])]
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        key, _, value = line.partition(":")
        dotted = stack[-1][1] + "." + key if stack else key
        if value.strip():
            flat[dotted] = scalar(value)
        else:
            flat[dotted] = []  # a nested map or a list follows
            stack.append((indent, dotted))
    return flat


def segmenter_spec(config):
    """The model / attention / seg values (rpctrain config keys) that the Segmenter above needs."""
    c = config
    layers = c["attention.rpc.layers"]
    return {
        "model": {k: c["model." + k] for k in ("img_size", "patch", "in_chans", "num_classes", "dim", "depth",
                                               "heads", "mlp_ratio", "drop_path", "dropout")},
        "attention": {"kind": c["attention.kind"], "attn_drop": c["attention.attn_drop"],
                      "rpc_n_iter": c["attention.rpc.n_iter"], "rpc_lambda": c["attention.rpc.lambda"],
                      "rpc_layers": "all" if layers == "all" else list(layers)},
        "seg": {"decoder": c["seg.decoder"], "decoder_depth": c["seg.decoder_depth"],
                "decoder_dropout": c["seg.decoder_dropout"], "decoder_drop_path": 0.0},
    }
