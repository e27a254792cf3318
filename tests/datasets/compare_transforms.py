"""Checks the C++ image operations (datasets/image_ops.h, datasets/rand_augment.h) against Pillow.

usage: compare_transforms.py TRANSFORM_DRIVER   (run by ctest with the imagecorruptions venv's python, which has
Pillow and numpy)

The C++ side claims PIL semantics; this runs both on the same images and compares them per op, with the
tolerances named below (exact where the C++ code reproduces PIL's arithmetic):
- resample_box (bilinear / bicubic, downscale, upscale, fractional boxes) vs Image.resize(size, filter, box);
- affine (translations, shears, a rotation, a general matrix) vs Image.transform(AFFINE, BICUBIC, fillcolor);
- adjust_brightness / contrast / saturation / sharpness vs ImageEnhance, at factors over timm's range 0.1-1.9;
- autocontrast / equalize vs ImageOps;
- rand_augment, one op at a time (magnitude 9 and 5, std 0, prob 1): every output must be one of timm's 15
  "increasing" ops as timm computes it with Pillow (ImageOps.posterize / solarize / invert, the SolarizeAdd
  lookup table, ImageEnhance, Image.rotate and Image.transform with timm's fill), within that op's tolerance,
  and every op (with both signs where timm negates at random) must occur.
Test images: ramps, impulses (single bright pixels, near the borders too) and uniform random pixels.
Prints one line per check and a summary; exits 1 when any check fails.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

# ---- tolerances ----
# resample_box vs Image.resize(box=...): the same filters (bilinear; bicubic with a = -0.5), support, box
# arithmetic, normalised weights and 8-bit rounding (and clipping) between the horizontal and the vertical pass;
# but Pillow's weights are 22-bit fixed point, resample_box's float32, so a value that lands within ~1e-5 of a
# half rounds the other way: one level, on a few values (measured: at most 1.9%, bilinear 7x5 of random pixels).
RESAMPLE_MAX_ABS_DIFF = 1
RESAMPLE_MAX_OFF_BY_ONE_FRACTION = 0.05
# affine vs Image.transform(AFFINE, BICUBIC, fillcolor): the same sampling positions, inside test, edge
# clamping, Pillow's bicubic (a = -1) evaluated in the same order in double and truncated as Pillow does:
# identical bits.
AFFINE_MAX_ABS_DIFF = 0
# ... except Image.rotate, which rounds cos and sin to 15 decimals before building its matrix (rand_augment uses
# the unrounded values): a sampling position moves by ~1e-15 px, which flips a truncation only where the value
# lands within ~1e-13 of an integer (measured: never, on these images).
ROTATE_MAX_ABS_DIFF = 1
ROTATE_MAX_OFF_BY_ONE_FRACTION = 0.001
# ImageEnhance blends in float32 (Image.blend's alpha is a C float), adjust_* in double: a value whose exact
# result is an integer (e.g. 100 x 0.19 or 100 x 1.19) truncates to it on one side and to one less on the other
# (measured: at most 2.1% of values, brightness 0.19 on the RandAugment image, off wherever a value is 100 or 200).
ENHANCE_MAX_ABS_DIFF = 1
ENHANCE_MAX_OFF_BY_ONE_FRACTION = 0.05
# Lookup-table ops (autocontrast, equalize, posterize, solarize, SolarizeAdd, invert): integer arithmetic on
# both sides, exact.
LUT_MAX_ABS_DIFF = 0

# RandAugment runs: outputs per magnitude (one op each). Each of the 24 outcomes (15 ops, 9 of them with a
# random sign) has probability 1/15 or 1/30; with 600 draws a given one is missing with chance
# (29/30)^600 ~ 1.5e-9. The SampleRng indices are fixed, so the run is deterministic.
RANDAUG_DRAWS = 600
# Each op is drawn with probability 1/15: its count over RANDAUG_DRAWS must be within this factor of 1/15
# (a 5-sigma band: 40 expected, sd 6.1).
RANDAUG_OP_FREQ_LO, RANDAUG_OP_FREQ_HI = 0.25, 1.75

FILL = (124, 116, 104)  # timm: the ImageNet mean x 255, rounded (affine ops' fillcolor)
BICUBIC, BILINEAR = Image.Resampling.BICUBIC, Image.Resampling.BILINEAR


# ---- test images ----
def ramp(w, h, lo=0, hi=255):
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = lo + (hi - lo) * x / (w - 1)
    g = lo + (hi - lo) * y / (h - 1)
    b = lo + (hi - lo) * (x + y) / (w + h - 2)
    return np.round(np.stack([r, g, b], -1)).astype(np.uint8)


def impulse(w, h):
    a = np.zeros((h, w, 3), np.uint8)
    a[h // 2, w // 2] = 255
    a[3, 4] = (255, 0, 0)
    a[h - 2, w - 3] = (0, 200, 0)
    a[h - 1, 0] = (0, 0, 180)  # a corner: edge clamping
    a[0, w - 1] = (90, 255, 30)
    return a


def random_image(w, h, seed, lo=0, hi=256):
    return np.random.default_rng(seed).integers(lo, hi, (h, w, 3), dtype=np.uint8)


def images():
    return {
        "ramp": ramp(41, 31),
        "impulse": impulse(41, 31),
        "random": random_image(43, 29, 1),
        "ramp_narrow": ramp(37, 23, 40, 190),         # autocontrast / equalize have something to stretch
        "random_narrow": random_image(29, 37, 2, 37, 202),
    }


# ---- Pillow side (timm's ops where rand_augment is concerned) ----
def pil(a):
    return Image.fromarray(a, "RGB")


def np_(im):
    return np.asarray(im, dtype=np.uint8)


def pil_resample(a, box, size, filt):
    return np_(pil(a).resize(tuple(size), BICUBIC if filt == "bicubic" else BILINEAR, box=tuple(box)))


def pil_affine(a, m):
    im = pil(a)
    return np_(im.transform(im.size, Image.Transform.AFFINE, tuple(m), BICUBIC, fillcolor=FILL))


ENHANCERS = {"brightness": ImageEnhance.Brightness, "contrast": ImageEnhance.Contrast,
             "saturation": ImageEnhance.Color, "sharpness": ImageEnhance.Sharpness}


def pil_enhance(a, op, factor):
    return np_(ENHANCERS[op](pil(a)).enhance(factor))


def rotate_matrix(a, degrees):
    """The matrix Image.rotate(degrees) hands to Image.transform (for rand_augment's Rotate via affine)."""
    import math
    h, w = a.shape[:2]
    cx, cy = w / 2.0, h / 2.0
    t = -math.radians(degrees % 360.0)
    m = [round(math.cos(t), 15), round(math.sin(t), 15), 0.0, round(-math.sin(t), 15), round(math.cos(t), 15), 0.0]
    m[2] = m[0] * -cx + m[1] * -cy + cx
    m[5] = m[3] * -cx + m[4] * -cy + cy
    return m


# timm rand-m{M}-mstd0-inc1: _RAND_INCREASING_TRANSFORMS with their level -> argument maps (auto_augment.py).
def timm_outcomes(a, magnitude):
    """{(op, sign): (image, max_abs_diff, max_off_by_one_fraction)}: every outcome of one timm op at `magnitude`."""
    im = pil(a)
    level = magnitude / 10.0  # _LEVEL_DENOM
    lut = (LUT_MAX_ABS_DIFF, 0.0)
    enh = (ENHANCE_MAX_ABS_DIFF, ENHANCE_MAX_OFF_BY_ONE_FRACTION)
    aff = (AFFINE_MAX_ABS_DIFF, 0.0)
    out = {}
    out[("AutoContrast", 0)] = (np_(ImageOps.autocontrast(im)),) + lut
    out[("Equalize", 0)] = (np_(ImageOps.equalize(im)),) + lut
    out[("Invert", 0)] = (np_(ImageOps.invert(im)),) + lut
    bits = 4 - int(level * 4)
    out[("PosterizeIncreasing", 0)] = ((np_(ImageOps.posterize(im, bits)) if bits < 8 else a),) + lut
    out[("SolarizeIncreasing", 0)] = (np_(ImageOps.solarize(im, 256 - min(256, int(level * 256)))),) + lut
    add = min(128, int(level * 110))
    table = [min(255, i + add) if i < 128 else i for i in range(256)]
    out[("SolarizeAdd", 0)] = (np_(im.point(table * 3)),) + lut
    for sign in (1, -1):
        deg = sign * level * 30.0
        out[("Rotate", sign)] = (np_(im.rotate(deg, resample=BICUBIC, fillcolor=FILL)), ROTATE_MAX_ABS_DIFF,
                                 ROTATE_MAX_OFF_BY_ONE_FRACTION)
        f = max(0.1, 1.0 + sign * level * 0.9)
        out[("ColorIncreasing", sign)] = (np_(ImageEnhance.Color(im).enhance(f)),) + enh
        out[("ContrastIncreasing", sign)] = (np_(ImageEnhance.Contrast(im).enhance(f)),) + enh
        out[("BrightnessIncreasing", sign)] = (np_(ImageEnhance.Brightness(im).enhance(f)),) + enh
        out[("SharpnessIncreasing", sign)] = (np_(ImageEnhance.Sharpness(im).enhance(f)),) + enh
        s = sign * level * 0.3
        out[("ShearX", sign)] = (pil_affine(a, (1, s, 0, 0, 1, 0)),) + aff
        out[("ShearY", sign)] = (pil_affine(a, (1, 0, 0, s, 1, 0)),) + aff
        pct = sign * level * 0.45
        out[("TranslateXRel", sign)] = (pil_affine(a, (1, 0, pct * im.size[0], 0, 1, 0)),) + aff
        out[("TranslateYRel", sign)] = (pil_affine(a, (1, 0, 0, 0, 1, pct * im.size[1])),) + aff
    return out


# ---- cases ----
def resample_cases(w, h):
    """(box, size): downscales (whole image, fractional box), upscales, mixed, a near-identity shift."""
    return [
        ((0, 0, w, h), (w // 3, h // 3)),
        ((2.5, 1.25, w - 3.75, h - 2.5), (11, 8)),
        ((0, 0, w, h), (7, 5)),
        ((3.3, 2.7, 14.9, 11.2), (37, 29)),
        ((0, 0, w, h), (2 * w + 3, 2 * h + 1)),
        ((1.5, 0.5, w - 0.5, 9.5), (17, 40)),
        ((0.5, 0.25, w - 0.5, h - 0.75), (w - 1, h - 1)),
    ]


def affine_cases(a):
    h, w = a.shape[:2]
    return {
        "translate_frac": (1, 0, 2.3, 0, 1, -1.7),
        "translate_int": (1, 0, -5, 0, 1, 3),
        "shear_x": (1, 0.27, 0, 0, 1, 0),
        "shear_y": (1, 0, 0, -0.27, 1, 0),
        "translate_x_rel": (1, 0, 0.405 * w, 0, 1, 0),
        "rotate_27": tuple(rotate_matrix(a, 27.0)),
        "scale_rotate": (0.8 * 0.9848, -0.8 * 0.1736, 4.5, 0.8 * 0.1736, 0.8 * 0.9848, -2.25),
    }


ENHANCE_FACTORS = [0.1, 0.19, 0.5, 1.19, 1.81, 1.9]


class Checks:
    def __init__(self):
        self.failed = []
        self.count = 0

    def compare(self, name, ours, theirs, max_abs, max_frac):
        self.count += 1
        if ours.shape != theirs.shape:
            self.failed.append(name)
            print(f"FAIL {name}: shape {ours.shape} vs Pillow {theirs.shape}")
            return
        d = np.abs(ours.astype(np.int32) - theirs.astype(np.int32))
        worst = int(d.max())
        frac = float((d > 0).mean())
        ok = worst <= max_abs and frac <= (max_frac if max_abs > 0 else 0.0)
        where = ""
        if worst:
            y, x, c = np.unravel_index(int(d.argmax()), d.shape)
            where = f" (worst at y={y} x={x} c={c}: ours {ours[y, x, c]} Pillow {theirs[y, x, c]})"
        print(f"{'ok  ' if ok else 'FAIL'} {name}: max |diff| {worst} (<= {max_abs}), differing {frac:.4f}"
              f" (<= {max_frac if max_abs else 0}){where}")
        if not ok:
            self.failed.append(name)

    def expect(self, name, ok, detail):
        self.count += 1
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
        if not ok:
            self.failed.append(name)


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    driver = sys.argv[1]
    imgs = images()
    # Random pixels, each channel short of the full range (autocontrast stretches every one) and with values
    # below 26 (SolarizeIncreasing at magnitude 9 inverts from 26 up, not everything), and a ramp patch.
    rng = np.random.default_rng(3)
    randaug_img = np.stack([rng.integers(lo, hi, (24, 32), dtype=np.uint8) for lo, hi in ((0, 221), (30, 256), (12, 200))], -1)
    randaug_img[8:16, 10:22] = ramp(12, 8, 60, 200)
    imgs["randaug"] = randaug_img
    with tempfile.TemporaryDirectory(prefix="rpct-transforms-") as d:
        for name, a in imgs.items():
            np.ascontiguousarray(a).tofile(os.path.join(d, name + ".u8"))
        cases, expected = [], {}  # expected[id] = (name, Pillow image, max_abs, max_frac)

        def add(cid, image, op, pillow, tol, **params):
            h, w = imgs[image].shape[:2]
            cases.append(dict(id=cid, op=op, image=image + ".u8", width=w, height=h, **params))
            if pillow is not None:
                expected[cid] = (cid.replace("__", " "), pillow) + tol

        resample_tol = (RESAMPLE_MAX_ABS_DIFF, RESAMPLE_MAX_OFF_BY_ONE_FRACTION)
        for name in ("ramp", "impulse", "random"):
            a = imgs[name]
            h, w = a.shape[:2]
            for filt in ("bilinear", "bicubic"):
                for k, (box, size) in enumerate(resample_cases(w, h)):
                    add(f"resample_{filt}__{name}__box{k}_{size[0]}x{size[1]}", name, "resample",
                        pil_resample(a, box, size, filt), resample_tol, box=list(box), size=list(size), filter=filt)
            for label, m in affine_cases(a).items():
                tol = (ROTATE_MAX_ABS_DIFF, ROTATE_MAX_OFF_BY_ONE_FRACTION) if "rotate" in label else (AFFINE_MAX_ABS_DIFF, 0.0)
                add(f"affine__{name}__{label}", name, "affine", pil_affine(a, m), tol, m=list(m))
            for op in ENHANCERS:
                for f in ENHANCE_FACTORS:
                    add(f"{op}__{name}__{f}", name, op, pil_enhance(a, op, f),
                        (ENHANCE_MAX_ABS_DIFF, ENHANCE_MAX_OFF_BY_ONE_FRACTION), factor=f)
        for name in ("ramp", "impulse", "random", "ramp_narrow", "random_narrow"):
            a = imgs[name]
            add(f"autocontrast__{name}", name, "autocontrast", np_(ImageOps.autocontrast(pil(a))), (LUT_MAX_ABS_DIFF, 0.0))
            add(f"equalize__{name}", name, "equalize", np_(ImageOps.equalize(pil(a))), (LUT_MAX_ABS_DIFF, 0.0))
        magnitudes = (9.0, 5.0)
        for m in magnitudes:
            for i in range(RANDAUG_DRAWS):
                add(f"randaug_m{m:g}_{i}", "randaug", "randaug", None, None, magnitude=m, index=i)

        with open(os.path.join(d, "cases.json"), "w") as f:
            json.dump(cases, f)
        subprocess.run([driver, os.path.join(d, "cases.json"), d], check=True)

        def ours(cid, h, w):
            return np.fromfile(os.path.join(d, cid + ".u8"), np.uint8).reshape(h, w, 3)

        checks = Checks()
        for cid, (name, theirs, max_abs, max_frac) in expected.items():
            checks.compare(name, ours(cid, *theirs.shape[:2]), theirs, max_abs, max_frac)

        # RandAugment: each output is one timm outcome; all outcomes occur; ops drawn uniformly.
        for m in magnitudes:
            refs = timm_outcomes(randaug_img, m)
            keys = list(refs)
            stack = np.stack([refs[k][0].astype(np.int32) for k in keys])
            # the outcomes must be told apart: any two differ by more than the largest tolerance
            flat = stack.reshape(len(keys), -1)
            sep = min(int(np.abs(flat[i] - flat[j]).max()) for i in range(len(keys)) for j in range(i))
            checks.expect(f"randaug m={m:g}: outcomes distinguishable", sep > 2,
                          f"closest two of the {len(keys)} timm outcomes differ by {sep} levels")
            seen = {}
            bad = []
            h, w = randaug_img.shape[:2]
            for i in range(RANDAUG_DRAWS):
                o = ours(f"randaug_m{m:g}_{i}", h, w).astype(np.int32)
                d_all = np.abs(stack - o[None]).reshape(len(keys), -1)
                best = int(np.lexsort((d_all.mean(1), d_all.max(1)))[0])
                key = keys[best]
                _, max_abs, max_frac = refs[key]
                worst, frac = int(d_all[best].max()), float((d_all[best] > 0).mean())
                if worst > max_abs or frac > (max_frac if max_abs else 0.0):
                    bad.append(f"index {i}: nearest {key[0]}{'+-'[key[1] < 0] if key[1] else ''} "
                               f"max |diff| {worst} (<= {max_abs}), differing {frac:.4f}")
                seen[key] = seen.get(key, 0) + 1
            checks.expect(f"randaug m={m:g}: every output is a timm op", not bad,
                          f"{RANDAUG_DRAWS - len(bad)} of {RANDAUG_DRAWS} match" + ("; " + "; ".join(bad[:5]) if bad else ""))
            missing = [f"{k[0]}{'+-'[k[1] < 0] if k[1] else ''}" for k in keys if k not in seen]
            checks.expect(f"randaug m={m:g}: every outcome occurs", not missing,
                          f"{len(seen)} of {len(keys)} seen" + (f", missing {missing}" if missing else ""))
            per_op = {}
            for k, n in seen.items():
                per_op[k[0]] = per_op.get(k[0], 0) + n
            expect_n = RANDAUG_DRAWS / 15
            off = {op: n for op, n in per_op.items()
                   if not RANDAUG_OP_FREQ_LO * expect_n <= n <= RANDAUG_OP_FREQ_HI * expect_n}
            checks.expect(f"randaug m={m:g}: ops drawn uniformly", not off,
                          f"counts {min(per_op.values())}..{max(per_op.values())}, expected {expect_n:.0f} each"
                          + (f"; out of band: {off}" if off else ""))
    print(f"{checks.count - len(checks.failed)} of {checks.count} checks passed")
    if checks.failed:
        print("failed: " + ", ".join(checks.failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
