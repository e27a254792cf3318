"""The ViT of rpctrain in PyTorch (models/vit.cpp on models/attention.cpp): patch embedding, class token and
position embedding (resized bilinearly for another input size), pre-norm blocks whose attention is one of the
kinds of docs/rpc-attention.md (softmax, sym, kvpos, rpc, per block as attention.rpc.layers says), the final
LayerNorm and, for a classifier, the head on the class token (model.global_pool token) or on the mean of the
patch tokens (avg). Shared by `bench/run train-step` (train_step_ref.py), the Segmenter reference
(bench/segmenter/segmenter_ref.py) and the tests that use it.

Parameter names are timm's, as `rpctrain export` writes them (models/vit_weights.h): patch_embed.proj, cls_token,
pos_embed, blocks.N.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}, norm, head. rpctrain's own names
(its model.safetensors) differ in blocks.N.fc1 / fc2 and kvpos's attn.rel_pos_table (H, T) (`rpctrain_param`).
A symmetric-KV block (sym, kvpos, rpc) holds its in-projection as [K; V] (2C rows); kvpos's bias table is BEiT's
attn.relative_position_bias_table (T, H).

Shapes: B batch, N tokens, C width, H heads, D = C / H head dim.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from bench.pyref.attention import rpc_attention

LAYER_NORM_EPS = 1e-6  # model.ln_eps's default (timm's), for configs saved before the key existed
TRUNC_NORMAL = dict(std=0.02, a=-0.04, b=0.04)  # timm's init: truncated normal within 2 std


def vit_spec(cfg):
    """The model / attention values (rpctrain config keys) of a resolved config (bench.pyref.config.load)
    that ViT needs."""
    m, a = cfg["model"], cfg["attention"]
    layers = a["rpc"]["layers"]
    return {
        "model": {k: m[k] for k in ("img_size", "patch", "in_chans", "num_classes", "dim", "depth", "heads",
                                    "mlp_ratio", "drop_path", "dropout", "global_pool")}
                 | {"ln_eps": m.get("ln_eps", LAYER_NORM_EPS)},
        "attention": {"kind": a["kind"], "attn_drop": a["attn_drop"], "rpc_n_iter": a["rpc"]["n_iter"],
                      "rpc_lambda": a["rpc"]["lambda"], "rpc_layers": "all" if layers == "all" else list(layers)},
    }


def rpctrain_param(name, shape):
    """The name and shape rpctrain gives parameter `name` of this ViT in its model.safetensors (models/vit_weights.h):
    the MLP without timm's `mlp.` level, kvpos's BEiT table (T, H) as attn.rel_pos_table (H, T)."""
    name = name.replace(".mlp.fc", ".fc")
    if name.endswith(".attn.relative_position_bias_table"):
        return name[:-len("relative_position_bias_table")] + "rel_pos_table", tuple(reversed(shape))
    return name, tuple(shape)


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
    """kind: softmax (qkv 3C, SDPA), sym / kvpos (qkv = [K; V], 2C: no query; SDPA of K with itself, kvpos with
    BEiT's relative position bias), rpc (qkv = [K; V]; bench.pyref.attention). Dropout as models/attention.cpp:
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
            out = rpc_attention(parts[0], parts[1], self.rpc_n_iter, self.rpc_lambda, C, self.attn_drop,
                                self.training)
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


class ViT(nn.Module):
    """`m`, `a`: the "model" and "attention" parts of vit_spec(config). With `head` a classifier (forward:
    (B, Cin, H, W) -> (B, num_classes)); without, the encoder (forward: the normed tokens (B, 1+gh*gw, C) at any
    input size that is a multiple of the patch). Built with PyTorch's default init; init_weights() is timm's."""

    def __init__(self, m, a, head=True):
        super().__init__()
        self.patch = m["patch"]
        self.grid = grid = m["img_size"] // m["patch"]  # the built patch grid side
        self.global_pool = m.get("global_pool", "token")
        if self.global_pool not in ("token", "avg"):
            raise ValueError(f"model.global_pool = {self.global_pool}; this ViT implements token and avg")
        self.patch_embed = PatchEmbed(m["patch"], m["in_chans"], m["dim"])
        self.cls_token = nn.Parameter(torch.zeros(1, 1, m["dim"]))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + grid * grid, m["dim"]))
        self.pos_drop = nn.Dropout(m["dropout"])
        self.blocks = nn.ModuleList(
            Block(m["dim"], m["mlp_ratio"], dp, m["dropout"], m.get("ln_eps", LAYER_NORM_EPS), heads=m["heads"],
                  kind=block_kind(a["kind"], i, a["rpc_layers"]), grid=grid, attn_drop=a["attn_drop"],
                  rpc_n_iter=a["rpc_n_iter"], rpc_lambda=a["rpc_lambda"])
            for i, dp in enumerate(linear_rates(m["drop_path"], m["depth"])))
        self.norm = nn.LayerNorm(m["dim"], eps=m.get("ln_eps", LAYER_NORM_EPS))
        self.head = nn.Linear(m["dim"], m["num_classes"]) if head else None

    def init_weights(self):
        """timm's init as models/vit.cpp: truncated normal (TRUNC_NORMAL) for the position embedding, the class
        token, every Linear weight and kvpos's bias table; zero Linear biases; LayerNorms (1, 0), patch_embed
        PyTorch's default."""
        for t in (self.pos_embed, self.cls_token):
            nn.init.trunc_normal_(t, **TRUNC_NORMAL)
        for mod in self.modules():
            if isinstance(mod, nn.Linear):
                nn.init.trunc_normal_(mod.weight, **TRUNC_NORMAL)
                nn.init.zeros_(mod.bias)
            elif isinstance(mod, Attention) and mod.kind == "kvpos":
                nn.init.trunc_normal_(mod.relative_position_bias_table, **TRUNC_NORMAL)
        return self

    def forward_features(self, x):  # (B, Cin, H, W) -> (B, 1+gh*gw, C), normed
        grid_h, grid_w = x.shape[-2] // self.patch, x.shape[-1] // self.patch
        same_grid = grid_h == self.grid and grid_w == self.grid
        pos = self.pos_embed if same_grid else resize_pos_embed(self.pos_embed, grid_h, grid_w)  # (1, 1+N, C)
        t = self.patch_embed(x)
        t = self.pos_drop(torch.cat([self.cls_token.expand(t.shape[0], -1, -1), t], 1) + pos)
        for b in self.blocks:
            t = b(t)
        return self.norm(t)

    def forward(self, x):
        t = self.forward_features(x)
        if self.head is None:
            return t
        return self.head(t[:, 1:].mean(1) if self.global_pool == "avg" else t[:, 0])


def load_exported(model, tensors, source):
    """Copies `tensors` (an `rpctrain export` file as {name: tensor}) into `model`. Every parameter must be
    there with its shape; a symmetric-KV block's [K; V] comes from the timm qkv [Q; K; V] when Q == K. Extra
    tensors (an original Segmenter's encoder.head, a classifier's head loaded into an encoder) are ignored. Errors
    name `source` and the tensor."""
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


def from_config(cfg, head=True):
    """The ViT of a resolved rpctrain config (bench.pyref.config.load), timm-initialized."""
    s = vit_spec(cfg)
    return ViT(s["model"], s["attention"], head=head).init_weights()

