"""PyTorch side of test_segmenter_parity.sh: rpctrain's exported Segmenter in the independent PyTorch
implementation bench/segmenter/segmenter_ref.py (on bench/pyref), in float64, against the logits rpctrain computed
(float32). Needs the repository root on PYTHONPATH (the test's registration, tests/trainer/tests.cmake, sets it).

  segmenter_parity.py make-input OUT B H W SEED      random images (B, 3, H, W), float32, as "images"
  segmenter_parity.py compare CONFIG WEIGHTS INPUT RPCTRAIN_LOGITS BLOCK_KINDS
      CONFIG: the run (its directory, its config.json, or its config.yaml: the config.json beside it is read);
      WEIGHTS: the `rpctrain export` file; BLOCK_KINDS: the attention the reference must have built in each
      block, e.g. "rpc,sym,decoder:rpc,decoder:sym" (so that a config read wrongly cannot pass). Prints the
      largest difference; exits 1 when it is over the tolerance, when the blocks differ or when loading fails.
"""
import sys

import torch
from safetensors.torch import load_file, save_file

from bench.pyref import config as rconfig
from bench.segmenter import segmenter_ref

# rpctrain runs in float32 and this reference in float64, so the difference is rpctrain's float32 rounding
# through a few blocks: 1e-7 to 3e-6 of the logits' scale in these runs. 5e-5 leaves a >= 15x margin and is
# still 10x below what one wrong block costs in the mask_rpc case (RPC computed as sym in encoder block 0 and
# decoder block 0: 6e-4 of the scale; n_iter off by one: 1e-2).
LOGITS_TOLERANCE = 5e-5


def make_input(out, batch, height, width, seed):
    g = torch.Generator().manual_seed(seed)
    save_file({"images": torch.randn(batch, 3, height, width, generator=g)}, out)


def compare(config, weights, inputs, rpctrain_logits, block_kinds):
    spec = segmenter_ref.segmenter_spec(rconfig.load(config))
    model = segmenter_ref.Segmenter(spec).double().eval()
    segmenter_ref.load_exported(model, {k: v.double() for k, v in load_file(weights).items()}, weights)
    images = load_file(inputs)["images"].double()
    with torch.no_grad():
        ours = model(images)
    theirs = load_file(rpctrain_logits)["logits"].double()
    if ours.shape != theirs.shape:
        raise SystemExit(f"shape: PyTorch {tuple(ours.shape)} vs rpctrain {tuple(theirs.shape)}")
    scale = max(1.0, theirs.abs().max().item())
    diff = (ours - theirs).abs().max().item()
    kinds = [b.attn.kind for b in model.encoder.blocks]
    if hasattr(model.decoder, "blocks"):
        kinds += ["decoder:" + b.attn.kind for b in model.decoder.blocks]
    print(f"{spec['seg']['decoder']} decoder, blocks {kinds}, logits {tuple(ours.shape)}: max |PyTorch - rpctrain| "
          f"= {diff:.3g}, logits scale {scale:.3g}, tolerance {LOGITS_TOLERANCE:g} x scale")
    if ",".join(kinds) != block_kinds:
        print(f"the reference built blocks {','.join(kinds)}, expected {block_kinds}")
        return False
    return diff <= LOGITS_TOLERANCE * scale


def main():
    if sys.argv[1] == "make-input":
        make_input(sys.argv[2], *map(int, sys.argv[3:7]))
    elif sys.argv[1] == "compare":
        sys.exit(0 if compare(*sys.argv[2:7]) else 1)
    else:
        raise SystemExit(f"segmenter_parity.py: unknown mode {sys.argv[1]!r} (make-input | compare)")


if __name__ == "__main__":
    main()
