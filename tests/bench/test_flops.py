"""bench/pyref/flops.py, the one FLOP formula of the compute benchmarks: against a hand count of one small ViT
(every product written out below), and against torch.utils.flop_counter.FlopCounterMode run on the PyTorch
references themselves (bench/pyref/vit.py, bench/segmenter/segmenter_ref.py) for the ViT kinds and the
Segmenter's mask decoder, so a product left out of (or counted twice in) the formula shows as a difference.
FlopCounterMode does not count the CPU SDPA kernel (it reports 0 for it), so where a model runs SDPA (softmax,
sym) the formula's attention products are added to the counter's figure; the RPC layers run explicit matmuls and
are counted by the counter itself.
Usage: PYTHONPATH=REPO python test_flops.py   (tests/bench/tests.cmake sets PYTHONPATH)"""
import sys

import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.pyref import flops, vit
from bench.segmenter import segmenter_ref

fails = 0


def check(name, got, want):
    """FLOP counts are integers: equal or wrong."""
    global fails
    ok = got == want
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {got} vs {want}")
    fails += not ok


def spec(kind="softmax", n_iter=4, layers="all", img=8, patch=4, dim=8, heads=2, depth=1, mlp=2.0, classes=3):
    return {"model": {"img_size": img, "patch": patch, "in_chans": 1, "num_classes": classes, "dim": dim,
                      "depth": depth, "heads": heads, "mlp_ratio": mlp, "drop_path": 0.0, "dropout": 0.0,
                      "global_pool": "token", "ln_eps": 1e-6},
            "attention": {"kind": kind, "attn_drop": 0.0, "rpc_n_iter": n_iter, "rpc_lambda": 4.0,
                          "rpc_layers": layers}}


# Hand count: 8x8x1 image, patch 4 -> 4 patches + cls = 5 tokens, width 8, 2 heads (D 4), 1 block, MLP 16, 3
# classes, batch 2.
#   patch embedding  2 * (2*4 patches) * 16 * 8     = 2048
#   qkv (softmax 3C) 2 * (2*5 tokens) * 8 * 24      = 3840
#   scores + values  2 * 2 heads * 2 * (2*5*5*4)    = 1600
#   proj             2 * 10 * 8 * 8                 = 1280
#   fc1, fc2         2 * 10 * 8 * 16, twice         = 5120
#   head             2 * 2 * 8 * 3                  =   96
HAND_SOFTMAX_FORWARD = 2048 + 3840 + 1600 + 1280 + 5120 + 96  # 13984
# RPC, 4 iterations, every layer: in-projection [K; V] 2C (2 * 10 * 8 * 16 = 2560), one attention per iteration.
HAND_RPC_FORWARD = 2048 + 2560 + 4 * 1600 + 1280 + 5120 + 96  # 17504
check("hand count, softmax ViT forward", flops.vit_forward(spec(), 2), HAND_SOFTMAX_FORWARD)
check("hand count, softmax ViT train step", flops.vit_train_step(spec(), 2), 3 * HAND_SOFTMAX_FORWARD)
check("hand count, RPC ViT forward", flops.vit_forward(spec("rpc"), 2), HAND_RPC_FORWARD)
check("hand count, attention op fwd+bwd (n_iter 4)", flops.attention_op_train(2, 2, 5, 4, 4), 3 * 4 * 1600)
check("hand count, attention op fwd+bwd (n_iter 0)", flops.attention_op_train(2, 2, 5, 4, 0), 3 * 1600)


def counted(model, x):
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(x)
    return fc.get_total_flops()


def sdpa_flops(s, B, N):
    """The attention products of the SDPA layers (softmax, sym, kvpos), which FlopCounterMode reports as 0 on CPU."""
    m, a = s["model"], s["attention"]
    total = 0
    for i in range(m["depth"]):
        kind = vit.block_kind(a["kind"], i, a["rpc_layers"])
        if kind != "rpc":
            total += flops.attention_core(B, m["heads"], N, m["dim"] // m["heads"], 0, kind)
    return total


torch.manual_seed(0)
B = 3
for name, s in [("softmax", spec(img=16, dim=16, heads=2, depth=2, mlp=4.0)),
                ("rpc every layer", spec("rpc", 3, "all", img=16, dim=16, heads=4, depth=2)),
                ("rpc in block 1, sym elsewhere", spec("rpc", 2, [1], img=12, patch=4, dim=12, heads=3, depth=3)),
                ("no head (encoder)", spec(classes=0, img=16, dim=16, depth=2))]:
    model = vit.ViT(s["model"], s["attention"], head=s["model"]["num_classes"] > 0)
    x = torch.randn(B, 1, s["model"]["img_size"], s["model"]["img_size"])
    N = (s["model"]["img_size"] // s["model"]["patch"]) ** 2 + 1
    check(f"FlopCounterMode, ViT {name}", counted(model, x) + sdpa_flops(s, B, N), flops.vit_forward(s, B))

# Segmenter, mask decoder (2 blocks, RPC in block 0 of encoder and decoder, sym elsewhere), and linear decoder.
for decoder in ("mask", "linear"):
    s = spec("rpc", 2, [0], img=16, patch=4, dim=64, heads=2, depth=2, classes=5)
    s["seg"] = {"decoder": decoder, "decoder_depth": 2, "decoder_dropout": 0.0, "decoder_drop_path": 0.0}
    model = segmenter_ref.Segmenter(s)
    x = torch.randn(B, 1, 16, 16)
    P, K = 16, 5
    sdpa = sdpa_flops(s, B, P + 1)  # encoder block 1 (sym)
    if decoder == "mask":  # decoder block 1 (sym): heads = 64 / 64 = 1, on patches + class embeddings
        sdpa += flops.attention_core(B, 1, P + K, 64, 0, "sym")
    check(f"FlopCounterMode, Segmenter {decoder} decoder", counted(model, x) + sdpa, flops.segmenter_forward(s, B))

print(f"{fails} failed")
sys.exit(1 if fails else 0)
