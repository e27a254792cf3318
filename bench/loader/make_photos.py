"""Re-encodes photographs to ImageNet-typical JPEGs (500x375, quality 90) into OUT_DIR.
usage: make_photos.py OUT_DIR SRC_IMAGE...   Each source gives 4 crops (different 4:3 windows)."""
import os
import sys

from PIL import Image

out, srcs = sys.argv[1], sys.argv[2:]
os.makedirs(out, exist_ok=True)
n = 0
for path in srcs:
    im = Image.open(path).convert("RGB")
    w, h = im.size
    cw = min(w, h * 4 // 3)
    ch = cw * 3 // 4
    for k, (fx, fy) in enumerate([(0.0, 0.0), (1.0, 1.0), (0.5, 0.5), (0.25, 0.75)]):
        scale = 1.0 - 0.2 * k  # different zooms too
        ww, hh = int(cw * scale), int(ch * scale)
        x0, y0 = int((w - ww) * fx), int((h - hh) * fy)
        crop = im.crop((x0, y0, x0 + ww, y0 + hh)).resize((500, 375), Image.BICUBIC)
        if k == 3:  # one portrait image in four, as in ImageNet
            crop = crop.transpose(Image.ROTATE_90)
        crop.save(os.path.join(out, "photo_%03d.JPEG" % n), quality=90)
        n += 1
print(n)
