"""Reference pixel metrics for tests/pixel_metrics.rs, computed independently
of the Rust code:

- pixel AUROC: sklearn.metrics.roc_auc_score over all pixels of all images;
- AUPRO: for every distinct score t, straight from the definition, the FPR
  (share of normal pixels with score >= t) and the PRO (mean over every
  8-connected ground-truth region of every image, scipy.ndimage.label, of the
  share of its pixels with score >= t); the curve from (0, 0) to (1, 1),
  integrated with the trapezoid rule up to FPR 0.3 (the last piece
  interpolated), divided by 0.3, as MVTec AD defines it;
- Gaussian smoothing: scipy.ndimage.gaussian_filter(mode="reflect", truncate=4);
- .npy: numpy.load.

NaN map values (pixels the model never saw) count below every other score.

Input JSON: {"images": [{"width", "height", "map", "mask"}], "smooth":
[{"width", "height", "map", "sigma": [rows, columns]}], "npy": [path]};
output JSON: {"auroc", "aupro", "regions", "smooth": [[...]], "npy": [{"shape", "values"}]}.
"""

import json
import sys

import numpy as np
from scipy import ndimage
from sklearn.metrics import roc_auc_score

FPR_LIMIT = 0.3


def load_images(items):
    maps, masks = [], []
    for item in items:
        shape = (item["height"], item["width"])
        maps.append(np.array(item["map"], dtype=np.float64).reshape(shape))
        masks.append(np.array(item["mask"], dtype=bool).reshape(shape))
    return maps, masks


def pixel_auroc(maps, masks):
    scores = np.concatenate([m.ravel() for m in maps])
    labels = np.concatenate([m.ravel() for m in masks])
    finite = scores[~np.isnan(scores)]
    scores = np.where(np.isnan(scores), finite.min() - 1.0, scores)
    return float(roc_auc_score(labels, scores))


def pro_curve(maps, masks):
    maps = [np.where(np.isnan(m), -np.inf, m) for m in maps]
    regions = []  # (image index, boolean region mask)
    for i, mask in enumerate(masks):
        labelled, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=int))
        regions += [(i, labelled == r) for r in range(1, count + 1)]
    normal_total = sum(int((~m).sum()) for m in masks)
    thresholds = np.unique(np.concatenate([m.ravel() for m in maps]))[::-1]
    fprs, pros = [0.0], [0.0]
    for t in thresholds:
        false_positives = sum(int(((m >= t) & ~k).sum()) for m, k in zip(maps, masks))
        overlaps = [(maps[i][r] >= t).sum() / r.sum() for i, r in regions]
        fprs.append(min(false_positives / normal_total, 1.0))
        pros.append(min(float(np.mean(overlaps)), 1.0))
    fprs.append(1.0)
    pros.append(1.0)
    return fprs, pros, len(regions)


def area_to(xs, ys, limit):
    area = 0.0
    for i in range(1, len(xs)):
        x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
        if x0 >= limit:
            break
        if x1 > limit:
            y1 = y0 + (y1 - y0) * (limit - x0) / (x1 - x0)
            x1 = limit
        area += 0.5 * (y0 + y1) * (x1 - x0)
    return area


def smooth(item):
    shape = (item["height"], item["width"])
    values = np.array(item["map"], dtype=np.float64).reshape(shape)
    out = ndimage.gaussian_filter(values, sigma=item["sigma"], mode="reflect", truncate=4.0)
    return out.ravel().tolist()


def read_npy(path):
    array = np.load(path)
    assert array.dtype == np.float32, array.dtype
    return {"shape": list(array.shape), "values": [None if np.isnan(v) else float(v) for v in array.ravel()]}


def main(source, target):
    with open(source) as f:
        data = json.load(f)
    maps, masks = load_images(data["images"])
    fprs, pros, regions = pro_curve(maps, masks)
    result = {
        "auroc": pixel_auroc(maps, masks),
        "aupro": area_to(fprs, pros, FPR_LIMIT) / FPR_LIMIT,
        "regions": regions,
        "smooth": [smooth(item) for item in data.get("smooth", [])],
        "npy": [read_npy(path) for path in data.get("npy", [])],
    }
    with open(target, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
