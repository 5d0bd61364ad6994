"""Pillow's reference tensors and the manifest of the decode corpus.

usage: python3 tools/pillow-parity/reference.py IMAGES_DIR REFERENCE_DIR MANIFEST
(run by tools/pillow-parity/corpus.sh with the pinned Pillow and numpy)

For every file in IMAGES_DIR this runs the original pipeline with Pillow,

    im = Image.open(path)                       # no exif_transpose
    im = im.resize(shorter side -> 240, BICUBIC)  # torchvision Resize(240)
    im = im.crop(centre 240 x 240)              # torchvision CenterCrop(240)
    t = (asarray(im.convert("RGB")) / 255 - mean) / std   # float32, CLIP mean/std

and writes `REFERENCE_DIR/<name>.f32`: the [3, 240, 240] tensor, little-endian
float32. MANIFEST (JSON) lists every file: name, format, mode, width, height,
`error` (what Pillow raised, null if it did not; no .f32 then) and `props`,
facts read from the file itself (JPEG process, sampling factors, restart
interval, Adobe transform, EXIF orientation; PNG bit depth and colour type;
TIFF compression, photometric interpretation, bits per sample and byte order;
GIF frames; BMP bits per pixel; WebP encoding) that tests/decode_corpus.rs uses
to check the corpus still contains every kind of file it must.
"""
import json, os, struct, sys

import numpy as np
from PIL import Image

SIZE = 240
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32).reshape(1, 1, 3)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32).reshape(1, 1, 3)


def reference(path):
    im = Image.open(path)
    w, h = im.size
    short, long = (w, h) if w <= h else (h, w)
    new_long = int(SIZE * long / short)
    new = (SIZE, new_long) if w <= h else (new_long, SIZE)
    if new != im.size:
        im = im.resize(new, Image.BICUBIC)
    W, H = im.size
    left = int(round((W - SIZE) / 2.0))
    top = int(round((H - SIZE) / 2.0))
    rgb = im.crop((left, top, left + SIZE, top + SIZE)).convert("RGB")
    a = np.asarray(rgb, dtype=np.float32) / np.float32(255.0)
    return ((a - MEAN) / STD).transpose(2, 0, 1)


def jpeg_props(data, im):
    props = {"restart_interval": 0}
    i = 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        seg = data[i + 4:i + 2 + length]
        if marker in (0xC0, 0xC1, 0xC2):
            props["process"] = "progressive" if marker == 0xC2 else "baseline"
            n = seg[5]
            props["components"] = n
            props["sampling"] = ",".join(f"{seg[7 + 3 * c] >> 4}x{seg[7 + 3 * c] & 15}" for c in range(n))
        elif marker == 0xDD:
            props["restart_interval"] = struct.unpack(">H", seg[:2])[0]
        elif marker == 0xEE and seg.startswith(b"Adobe") and len(seg) >= 12:
            props["adobe_transform"] = seg[11]
        elif marker == 0xDA:
            break
        i += 2 + length
    props["orientation"] = im.getexif().get(0x0112)
    return props


def png_props(data):
    depth, ctype = data[24], data[25]
    return {"bit_depth": depth, "color_type": ctype, "trns": b"tRNS" in data}


def tiff_props(im, data):
    tags = im.tag_v2
    bits = tags.get(258, (1,))
    return {
        "compression": im.info.get("compression"),
        "photometric": tags.get(262),
        "bits": list(bits) if isinstance(bits, tuple) else [bits],
        "byte_order": data[:2].decode(),
    }


def webp_props(data):
    chunks, i = [], 12
    while i + 8 <= len(data):
        tag, size = data[i:i + 4], struct.unpack("<I", data[i + 4:i + 8])[0]
        chunks.append(tag.decode("latin-1"))
        i += 8 + size + (size & 1)
    return {"lossless": "VP8L" in chunks}


def props_of(im, data):
    if im.format == "JPEG":
        return jpeg_props(data, im)
    if im.format == "PNG":
        return png_props(data)
    if im.format == "TIFF":
        return tiff_props(im, data)
    if im.format == "GIF":
        return {"frames": getattr(im, "n_frames", 1), "transparency": "transparency" in im.info}
    if im.format == "BMP":
        return {"bits_per_pixel": struct.unpack("<H", data[28:30])[0],
                "compression": struct.unpack("<I", data[30:34])[0]}
    if im.format == "WEBP":
        return webp_props(data)
    return {}


def main():
    images, refs, manifest = sys.argv[1:4]
    os.makedirs(refs, exist_ok=True)
    entries = []
    for name in sorted(os.listdir(images)):
        path = os.path.join(images, name)
        data = open(path, "rb").read()
        entry = {"name": name, "format": None, "mode": None, "width": None, "height": None,
                 "error": None, "props": {}}
        try:  # what Pillow refuses, ours must refuse too
            im = Image.open(path)
        except Exception as e:
            entry["error"] = f"{type(e).__name__}: {e}"
        else:
            entry.update(format=im.format, mode=im.mode, width=im.width, height=im.height,
                         props=props_of(im, data))
            try:
                tensor = reference(path)
            except Exception as e:
                entry["error"] = f"{type(e).__name__}: {e}"
            else:
                tensor.astype("<f4").tofile(os.path.join(refs, name + ".f32"))
        entries.append(entry)
    with open(manifest, "w") as f:
        json.dump({"size": SIZE, "pillow": Image.__version__, "numpy": np.__version__,
                   "files": entries}, f, indent=1)
    failed = sum(e["error"] is not None for e in entries)
    print(f"{len(entries)} reference entries ({failed} refused by Pillow) in {manifest}")


main()
