"""Generate the decode corpus: images of every format/mode the preprocessor handles.

usage: python3 tools/pillow-parity/gen_images.py OUT_DIR
Run through tools/pillow-parity/corpus.sh, which provides the pinned Pillow and
numpy (requirements.txt) and then writes Pillow's reference tensors next to the
images (reference.py); tests/decode_corpus.rs checks `preprocess_image` against
them bit for bit and checks that every kind listed below is still generated.

Covers: JPEG (baseline 4:4:4/4:2:2/4:2:0 at two qualities, progressive,
optimised Huffman tables, grayscale, Adobe CMYK, YCCK, restart intervals, EXIF
orientations 3/6/8, a truncated file); PNG (1/2/4/8-bit gray and palette, L,
LA, RGB, RGBA, mode 1, 16-bit gray/RGB/RGBA/LA, tRNS, a short palette, a
truncated file); GIF (palette, transparency, animation); BMP (1/8/24/32-bit,
16-bit 555/565); WebP (lossless and lossy, with and without alpha); TIFF (1, L,
LA, I;16, RGB, RGBA, CMYK and palette P, each raw/LZW/deflate, plus raw 1- and
4-bit and big-endian palettes with 16-bit colour maps). Sizes range from 1x1
and 1-pixel strips to 513x1031.
"""
import io, os, struct, sys, zlib
import numpy as np
from PIL import Image, ImageFile

ImageFile.MAXBLOCK = 1 << 26  # progressive/optimized JPEGs of noisy content need a big buffer

rng = np.random.default_rng(1234)
OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)


def content(w, h, ch, hi=255, seed=0):
    """Gradients plus noise plus a few hard edges."""
    y, x = np.mgrid[0:h, 0:w]
    base = []
    for c in range(ch):
        g = (x * (c + 1) * 3 + y * (ch - c) * 2) % (hi + 1)
        base.append(g)
    a = np.stack(base, -1).astype(np.float64)
    a += rng.normal(0, hi * 0.08, a.shape)
    a[(x // 13 + y // 7) % 5 == 0] = hi * 0.9
    return np.clip(a, 0, hi).round().astype(np.uint16 if hi > 255 else np.uint8)


def save(im, name, **kw):
    try:
        im.save(os.path.join(OUT, name), **kw)
    except OSError as e:  # e.g. libjpeg refusing an option for a tiny image
        print("skipped", name, e)
        if os.path.exists(os.path.join(OUT, name)):
            os.remove(os.path.join(OUT, name))


def i16_image(a):
    return Image.frombytes("I;16", (a.shape[1], a.shape[0]), a.astype("<u2").tobytes())


SIZES = [(320, 200), (200, 320), (250, 250), (241, 239), (17, 9), (1, 1), (1, 300), (700, 3), (513, 1031)]

# ---- JPEG
for (w, h) in SIZES:
    rgb = Image.fromarray(content(w, h, 3), "RGB")
    for q in (50, 95):
        for ss in (0, 1, 2):
            save(rgb, f"jpeg_q{q}_ss{ss}_{w}x{h}.jpg", quality=q, subsampling=ss)
    save(rgb, f"jpeg_prog_{w}x{h}.jpg", quality=85, progressive=True)
    save(rgb, f"jpeg_prog_ss0_{w}x{h}.jpg", quality=90, progressive=True, subsampling=0)
    save(rgb, f"jpeg_opt_q100_{w}x{h}.jpg", quality=100, optimize=True)
    save(Image.fromarray(content(w, h, 1)[..., 0], "L"), f"jpeg_gray_{w}x{h}.jpg", quality=80)
    save(Image.fromarray(content(w, h, 1)[..., 0], "L"), f"jpeg_gray_prog_{w}x{h}.jpg", quality=70, progressive=True)
    save(Image.fromarray(content(w, h, 4), "CMYK"), f"jpeg_cmyk_{w}x{h}.jpg", quality=85)
# restart markers
rgb = Image.fromarray(content(333, 211, 3), "RGB")
save(rgb, "jpeg_restart_blocks.jpg", quality=80, restart_marker_blocks=5)
save(rgb, "jpeg_restart_rows.jpg", quality=80, restart_marker_rows=1, progressive=True)
save(rgb, "jpeg_restart_ss0.jpg", quality=90, subsampling=0, restart_marker_blocks=3)


def ycck_jpeg(name, w, h, **kw):
    """A YCCK JPEG: libjpeg (through Pillow) writes CMYK with an Adobe APP14
    marker whose transform byte is 0; Pillow stores CMYK inverted ("CMYK;I"),
    so saving 255 - [Y, Cb, Cr, K] puts YCbCr data (JFIF equations) and K in
    the scan, and setting the transform byte to 2 makes decoders read it as
    YCCK. reference.py records the transform Pillow saw (adobe_transform)."""
    r, g, b = np.moveaxis(content(w, h, 3).astype(np.float64), -1, 0)
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
    k = content(w, h, 1)[..., 0].astype(np.float64)
    ycck = np.clip(np.stack([y, cb, cr, k], -1).round(), 0, 255).astype(np.uint8)
    path = os.path.join(OUT, name)
    Image.fromarray(255 - ycck, "CMYK").save(path, **kw)
    data = bytearray(open(path, "rb").read())
    at = data.find(b"\xff\xee")
    assert at > 0 and data[at + 4:at + 9] == b"Adobe" and data[at + 15] == 0, name
    data[at + 15] = 2
    open(path, "wb").write(bytes(data))


ycck_jpeg("jpeg_ycck_320x200.jpg", 320, 200, quality=90)
ycck_jpeg("jpeg_ycck_ss2_241x239.jpg", 241, 239, quality=85, subsampling=2)
ycck_jpeg("jpeg_ycck_prog_200x320.jpg", 200, 320, quality=80, progressive=True)

# EXIF orientation: the original pipeline never calls exif_transpose, so the
# expected tensor is the stored pixel grid, whatever the tag says.
for orientation in (3, 6, 8):
    exif = Image.Exif()
    exif[0x0112] = orientation
    save(Image.fromarray(content(320, 200, 3), "RGB"), f"jpeg_exif_o{orientation}_320x200.jpg",
         quality=90, exif=exif)

# Truncated: Pillow raises "image file is truncated", so must we.
buf = io.BytesIO()
Image.fromarray(content(300, 200, 3), "RGB").save(buf, "JPEG", quality=90)
open(os.path.join(OUT, "err_truncated.jpg"), "wb").write(buf.getvalue()[:buf.tell() // 2])

# ---- PNG via Pillow
for (w, h) in SIZES[:6] + [(1, 300), (700, 3)]:
    save(Image.fromarray(content(w, h, 1)[..., 0], "L"), f"png_L_{w}x{h}.png")
    save(Image.fromarray(content(w, h, 3), "RGB"), f"png_RGB_{w}x{h}.png")
    save(Image.fromarray(content(w, h, 4), "RGBA"), f"png_RGBA_{w}x{h}.png")
    save(Image.fromarray(content(w, h, 2), "LA"), f"png_LA_{w}x{h}.png")
    save(Image.fromarray(content(w, h, 3), "RGB").quantize(200), f"png_P_{w}x{h}.png")
    save(Image.fromarray(content(w, h, 1)[..., 0], "L").convert("1"), f"png_1_{w}x{h}.png")
    save(i16_image(content(w, h, 1, hi=700)[..., 0]), f"png_I16_low_{w}x{h}.png")
    save(i16_image(content(w, h, 1, hi=65535)[..., 0]), f"png_I16_{w}x{h}.png")
# transparency variants
p = Image.fromarray(content(300, 200, 3), "RGB").quantize(64)
save(p, "png_P_trns.png", transparency=5)
save(Image.fromarray(content(300, 200, 3), "RGB"), "png_RGB_trns.png", transparency=(255, 0, 0))
save(Image.fromarray(content(300, 200, 1)[..., 0], "L"), "png_L_trns.png", transparency=0)
# fully transparent regions with colour data (premultiplication matters)
a = content(260, 180, 4); a[::3, :, 3] = 0; a[1::5, :, 3] = 255
save(Image.fromarray(a, "RGBA"), "png_RGBA_zero_alpha.png")


# ---- raw PNG writer for bit depths Pillow does not save
def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)


def write_png(name, w, h, depth, ctype, rows, plte=None, trns=None):
    raw = b"".join(b"\x00" + r for r in rows)
    d = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0))
    if plte is not None:
        d += chunk(b"PLTE", plte)
    if trns is not None:
        d += chunk(b"tRNS", trns)
    d += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    open(os.path.join(OUT, name), "wb").write(d)


def pack(vals, depth):
    per = 8 // depth
    out = bytearray()
    for i in range(0, len(vals), per):
        b = 0
        for j, v in enumerate(vals[i:i + per]):
            b |= int(v) << (8 - depth * (j + 1))
        out.append(b)
    return bytes(out)


for depth in (1, 2, 4):
    w, h = 123, 77
    v = content(w, h, 1)[..., 0] >> (8 - depth)
    write_png(f"pngraw_gray{depth}.png", w, h, depth, 0, [pack(r, depth) for r in v])
    n = 1 << depth
    plte = bytes(rng.integers(0, 256, 3 * n, dtype=np.uint8))
    write_png(f"pngraw_pal{depth}.png", w, h, depth, 3, [pack(r, depth) for r in v], plte=plte)
# short palette: indices beyond PLTE
v = content(90, 60, 1)[..., 0] >> 4
write_png("pngraw_pal_short.png", 90, 60, 8, 3, [bytes(r) for r in v], plte=bytes(range(30)))
# 16-bit RGB, RGBA, LA
for ctype, ch, nm in ((2, 3, "rgb16"), (6, 4, "rgba16"), (4, 2, "la16")):
    w, h = 150, 211
    v = content(w, h, ch, hi=65535)
    if ch in (2, 4):
        v[::4, :, -1] = 0
    write_png(f"pngraw_{nm}.png", w, h, 16, ctype, [r.astype(">u2").tobytes() for r in v])

buf = io.BytesIO()
Image.fromarray(content(300, 200, 3), "RGB").save(buf, "PNG")
open(os.path.join(OUT, "err_truncated.png"), "wb").write(buf.getvalue()[:buf.tell() // 3])

# ---- GIF
for (w, h) in [(320, 200), (200, 320), (33, 1), (250, 250)]:
    save(Image.fromarray(content(w, h, 3), "RGB").quantize(256), f"gif_P_{w}x{h}.gif")
save(Image.fromarray(content(300, 200, 3), "RGB").quantize(16), "gif_P_trns.gif", transparency=3)
save(Image.fromarray(content(300, 200, 1)[..., 0], "L"), "gif_L.gif")
frames = [Image.fromarray(content(210, 230, 3), "RGB").quantize(100) for _ in range(2)]
save(frames[0], "gif_anim.gif", save_all=True, append_images=frames[1:])

# ---- BMP via Pillow
for (w, h) in [(320, 200), (200, 320), (241, 239), (1, 1)]:
    save(Image.fromarray(content(w, h, 3), "RGB"), f"bmp_RGB_{w}x{h}.bmp")
    save(Image.fromarray(content(w, h, 3), "RGB").quantize(100), f"bmp_P_{w}x{h}.bmp")
    save(Image.fromarray(content(w, h, 1)[..., 0], "L"), f"bmp_L_{w}x{h}.bmp")
    save(Image.fromarray(content(w, h, 1)[..., 0], "L").convert("1"), f"bmp_1_{w}x{h}.bmp")
    save(Image.fromarray(content(w, h, 4), "RGBA"), f"bmp_RGBA_{w}x{h}.bmp")


# ---- raw BMP writer: 16-bit 555/565 and 32-bit BI_RGB
def write_bmp(name, w, h, bits, pixels, masks=None):
    row = ((w * bits + 31) // 32) * 4
    data = b""
    for y in range(h - 1, -1, -1):
        r = pixels[y].tobytes()
        data += r + b"\x00" * (row - len(r))
    comp = 3 if masks else 0
    extra = struct.pack("<III", *masks) if masks else b""
    off = 14 + 40 + len(extra)
    hdr = struct.pack("<IiiHHIIiiII", 40, w, h, 1, bits, comp, len(data), 2835, 2835, 0, 0)
    f = b"BM" + struct.pack("<IHHI", off + len(data), 0, 0, off) + hdr + extra + data
    open(os.path.join(OUT, name), "wb").write(f)


v = rng.integers(0, 65536, (97, 131), dtype=np.uint16).astype("<u2")
write_bmp("bmpraw_555.bmp", 131, 97, 16, v)
write_bmp("bmpraw_555_bitfields.bmp", 131, 97, 16, v, (0x7C00, 0x3E0, 0x1F))
write_bmp("bmpraw_565.bmp", 131, 97, 16, v, (0xF800, 0x7E0, 0x1F))
write_bmp("bmpraw_32.bmp", 131, 97, 32, content(131, 97, 4))

# ---- WebP
for (w, h) in [(320, 200), (241, 239), (17, 9)]:
    save(Image.fromarray(content(w, h, 3), "RGB"), f"webp_lossless_RGB_{w}x{h}.webp", lossless=True)
    save(Image.fromarray(content(w, h, 4), "RGBA"), f"webp_lossless_RGBA_{w}x{h}.webp", lossless=True)
    save(Image.fromarray(content(w, h, 3), "RGB"), f"webp_lossy_RGB_{w}x{h}.webp", quality=80)
    save(Image.fromarray(content(w, h, 4), "RGBA"), f"webp_lossy_RGBA_{w}x{h}.webp", quality=80)

# ---- TIFF
for comp in ("raw", "tiff_lzw", "tiff_adobe_deflate"):
    w, h = 257, 190
    save(Image.fromarray(content(w, h, 3), "RGB"), f"tiff_RGB_{comp}.tif", compression=comp)
    save(Image.fromarray(content(w, h, 4), "RGBA"), f"tiff_RGBA_{comp}.tif", compression=comp)
    save(Image.fromarray(content(w, h, 1)[..., 0], "L"), f"tiff_L_{comp}.tif", compression=comp)
    save(Image.fromarray(content(w, h, 1)[..., 0], "L").convert("1"), f"tiff_1_{comp}.tif", compression=comp)
    save(i16_image(content(w, h, 1, hi=65535)[..., 0]), f"tiff_I16_{comp}.tif", compression=comp)
    save(Image.fromarray(content(w, h, 4), "CMYK"), f"tiff_CMYK_{comp}.tif", compression=comp)
    save(Image.fromarray(content(w, h, 3), "RGB").quantize(77), f"tiff_P_{comp}.tif", compression=comp)
    save(Image.fromarray(content(w, h, 2), "LA"), f"tiff_LA_{comp}.tif", compression=comp)


# ---- raw TIFF writer: palettes Pillow does not save (1/4-bit, big-endian)
def write_tiff_palette(name, w, h, depth, indices, colormap, big_endian=False):
    """One uncompressed strip; `colormap` holds 3 * 2**depth 16-bit values
    (all reds, then greens, then blues), as the ColorMap tag stores them."""
    e = ">" if big_endian else "<"
    data = b"".join(pack(r, depth) if depth < 8 else bytes(r) for r in indices)
    cmap = struct.pack(f"{e}{len(colormap)}H", *colormap)
    entries = [  # tag, type (3 SHORT, 4 LONG), count, value or offset
        (256, 3, 1, w), (257, 3, 1, h), (258, 3, 1, depth), (259, 3, 1, 1),
        (262, 3, 1, 3), (273, 4, 1, None), (277, 3, 1, 1), (278, 3, 1, h),
        (279, 4, 1, len(data)), (320, 3, len(colormap), None),
    ]
    ifd_at = 8
    ifd_len = 2 + 12 * len(entries) + 4
    cmap_at = ifd_at + ifd_len
    data_at = cmap_at + len(cmap)
    ifd = struct.pack(f"{e}H", len(entries))
    for tag, typ, count, value in entries:
        if tag == 273:
            value = data_at
        if tag == 320:
            value = cmap_at
        field = struct.pack(f"{e}H", value) + b"\0\0" if typ == 3 and count == 1 else struct.pack(f"{e}I", value)
        ifd += struct.pack(f"{e}HHI", tag, typ, count) + field
    ifd += struct.pack(f"{e}I", 0)
    head = (b"MM\0*" if big_endian else b"II*\0") + struct.pack(f"{e}I", ifd_at)
    open(os.path.join(OUT, name), "wb").write(head + ifd + cmap + data)


for depth, w, h, big in ((1, 131, 77, False), (4, 123, 250, False), (8, 257, 190, True)):
    idx = content(w, h, 1)[..., 0] >> (8 - depth)
    cmap = [int(v) for v in rng.integers(0, 65536, 3 << depth)]
    order = "be" if big else "le"
    write_tiff_palette(f"tiffraw_P{depth}_{order}.tif", w, h, depth, idx, cmap, big_endian=big)

print(len(os.listdir(OUT)), "files in", OUT)
