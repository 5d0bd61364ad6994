"""Run the Rust pipeline on image files and compare with the Pillow emulation.

usage: cargo build --profile native --example preprocess_dump
       python3 tools/pillow-parity/compare.py DIR_OR_FILES...
(run from the repository root; images from tools/pillow-parity/gen_images.py)
"""
import os, subprocess, sys, tempfile, glob
import numpy as np
from PIL import Image

MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32).reshape(1, 1, 3)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32).reshape(1, 1, 3)


def reference(path, size=240):
    im = Image.open(path)
    w, h = im.size
    short, long = (w, h) if w <= h else (h, w)
    new_long = int(size * long / short)
    new = (size, new_long) if w <= h else (new_long, size)
    if new != im.size:
        im = im.resize(new, Image.BICUBIC)
    W, H = im.size
    l = int(round((W - size) / 2.0)); t = int(round((H - size) / 2.0))
    c = im.crop((l, t, l + size, t + size)).convert("RGB")
    a = np.asarray(c, dtype=np.float32) / 255.0
    return ((a - MEAN) / STD).transpose(2, 0, 1), Image.open(path).mode


def main():
    files = []
    for a in sys.argv[1:]:
        files += sorted(glob.glob(os.path.join(a, "*"))) if os.path.isdir(a) else [a]
    out = tempfile.mkdtemp()
    r = subprocess.run(["target/native/examples/preprocess_dump", out] + files, capture_output=True, text=True)
    errors = dict(l.split(": ERROR ", 1) for l in r.stdout.splitlines() if ": ERROR " in l)
    worst = 0.0
    for f in files:
        name = os.path.basename(f)
        try:
            ref, mode = reference(f)
        except Exception as e:
            print(f"{name:40s} pillow-error={type(e).__name__}: {e} | rust={errors.get(name, 'ok')}")
            continue
        if name in errors:
            print(f"{name:40s} {mode:5s} RUST ERROR {errors[name]}"); worst = np.inf; continue
        got = np.fromfile(os.path.join(out, name + ".f32"), dtype="<f4").reshape(ref.shape)
        d = float(np.abs(got - ref).max())
        nd = int((got != ref).sum())
        worst = max(worst, d)
        print(f"{name:40s} {mode:5s} maxdiff={d:.6g} ndiff={nd}")
    print("WORST", worst)


main()
