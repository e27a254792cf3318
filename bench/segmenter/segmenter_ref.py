"""An independent PyTorch implementation of rpctrain's Segmenter (models/segmenter.cpp on models/vit.cpp and
models/attention.cpp): the ViT encoder of bench/pyref/vit.py (attention variants softmax, sym, kvpos, rpc as
docs/rpc-attention.md writes them) and a linear or mask-transformer decoder. Shared by the PyTorch parity test
(tests/trainer/test_segmenter_parity.sh) and `bench/run segmenter` (bench_segmenter.py); import it as
bench.segmenter.segmenter_ref with the repository root on PYTHONPATH.

Parameter names and layouts are those of rstrudel/segmenter as `rpctrain export` writes them
(models/vit_weights.h): encoder.{patch_embed.proj, cls_token, pos_embed, blocks.N.{norm1, attn.qkv, attn.proj,
norm2, mlp.fc1, mlp.fc2}, norm}, decoder.head (linear) or decoder.{proj_dec, cls_emb, blocks.N.*, decoder_norm,
proj_patch, proj_classes, mask_norm}. A symmetric-KV block (sym, kvpos, rpc) holds its in-projection as
[K; V] (2C rows); `load_exported` (bench/pyref/vit.py) takes that from the exported timm qkv [Q = K; K; V] after
checking Q == K. kvpos's bias table is BEiT's attn.relative_position_bias_table (T, H).

Shapes: B batch, N tokens, C width, H heads, D = C / H head dim.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from bench.pyref.vit import TRUNC_NORMAL, Block, ViT, block_kind, linear_rates, vit_spec
from bench.pyref.vit import load_exported  # noqa: F401  (segmenter_ref.load_exported: loads a Segmenter too)

DECODER_LAYER_NORM_EPS = 1e-5  # models/segmenter.cpp: the mask decoder's LayerNorms (torch's default, Segmenter's)
MASK_DECODER_HEAD_WIDTH = 64   # models/segmenter.cpp: decoder heads = max(1, d / 64)
MASK_DECODER_MLP_RATIO = 4.0


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
        self.encoder = ViT(m, a, head=False)
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
                nn.init.trunc_normal_(p, **TRUNC_NORMAL)
        for mod in self.modules():
            if isinstance(mod, nn.Linear):
                nn.init.zeros_(mod.bias)

    def forward(self, x):  # (B, Cin, H, W) -> (B, n_cls, H, W)
        H, W = x.shape[-2:]
        grid_h, grid_w = H // self.patch, W // self.patch
        patches = self.encoder(x)[:, 1:]  # the cls token dropped
        logits = self.decoder(patches, grid_h, grid_w)
        return F.interpolate(logits, size=(H, W), mode="bilinear", align_corners=False)


def segmenter_spec(config):
    """The model / attention / seg values (rpctrain config keys) of a resolved config (bench.pyref.config.load)
    that the Segmenter above needs."""
    spec = vit_spec(config)
    s = config["seg"]
    spec["seg"] = {"decoder": s["decoder"], "decoder_depth": s["decoder_depth"],
                   "decoder_dropout": s["decoder_dropout"], "decoder_drop_path": 0.0}
    return spec
