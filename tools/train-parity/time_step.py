"""Times one step of the ORIGINAL InCTRL training loop at full model size, on the CPU.

usage: tools/train-parity/run.sh --time ORIGINAL IMAGES_DIR [time_step.py options]
       (run.sh makes the Python env and the patched copy of the original as for
       train_step.py, then calls: time_step.py --src PATCHED_SRC --images IMAGES_DIR ...)

The reference point for `inctrl train`'s step time ("a step's time against the
original's step on the same machine and batch"). What runs is the patched original
(patch_original.py: CPU, per-sample batching, taps that only keep references):

- the model: open_clip.model.InCTRL built as engine_IC.train() builds it, from the
  original's own open_clip/model_configs/ViT-B-16-plus-240.json (full size: vision
  width 896, 12 + 12 layers, embed 640), quick_gelu False, cast dtype fp32, with
  torch's random initialisation under seed 10 (no weights are read or downloaded:
  the time of a dense float32 step does not depend on the weight values);
- the batch: what BalancedBatchSampler gives, 8 normal then 8 anomalous queries of
  one category, each with `shot` normal prompts drawn by random.sample from the
  normal pool (a normal query may draw itself), transformed with engine_IC.train()'s
  `transform` and collated with default_collate; IMAGES_DIR/nominal is the normal
  pool, every other sub-folder holds anomalies (the textile set: nominal, local,
  global). Loading and transforming is timed apart: the original does it in
  DataLoader workers, outside the step;
- the step: exactly train_epoch()'s, with its expressions read out of engine_IC.py
  (train_step.Engine): model.train(), `preds, preds2 = model(tokenizer, inputs,
  types, None)`, the BinaryFocalLoss sum, check_nan_losses, zero_grad, backward,
  AdamW step. The forward encodes the category's text prompts once per query (242
  prompts for a category outside the CIFAR list), as the original does every step.

Timing: torch.set_num_threads(--threads, default 2), 1 warm-up step, then --steps
(default 3) timed steps: median, min and max; then --forwards (default 1) forwards
without grad (train mode, as in the step) for context. encode_image and encode_text
are wrapped by timers (instance attributes calling the original methods, no change to
the math) so each step is also split into image towers / text tower / the rest of the
forward (patch loop, adapter, heads) / loss+backward+AdamW.

Prints progress to stderr and one JSON line to stdout.
"""

import argparse
import json
import os
import random
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_step import Engine, check, log  # noqa: E402

CONFIG = "open_clip/model_configs/ViT-B-16-plus-240.json"
NORMAL_DIR = "nominal"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", type=Path, required=True, help="patched copy of the original source")
    parser.add_argument("--images", type=Path, required=True, help="folder with nominal/ and anomaly sub-folders")
    parser.add_argument("--category", default="textile")
    parser.add_argument("--shot", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16, help="half normal, half anomalous (BalancedBatchSampler)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3, help="timed steps after one warm-up step")
    parser.add_argument("--forwards", type=int, default=1, help="timed forwards without grad")
    parser.add_argument("--commit", default="unknown", help="commit of the original source")
    args = parser.parse_args()
    if args.batch % 2:
        sys.exit("time_step.py: --batch must be even (half normal, half anomalous)")

    sys.path.insert(0, str(args.src))
    import torch
    from PIL import Image
    from torch.utils.data import default_collate
    from torchvision import transforms

    import open_clip
    import open_clip.utils.misc as misc
    from binary_focal_loss import BinaryFocalLoss
    from open_clip.model import InCTRL, get_cast_dtype, get_texts

    torch.set_num_threads(args.threads)
    cpus = os.cpu_count()
    affinity = len(os.sched_getaffinity(0))
    log(
        f"CPU: {cpus} logical CPUs ({affinity} usable by this process), torch.set_num_threads({args.threads}) "
        f"-> {torch.get_num_threads()} intra-op threads; torch {torch.__version__}"
    )
    torch.manual_seed(10)  # cfg.RNG_SEED, as engine_IC.train() seeds; also fixes the random init

    engine = Engine(args.src / "engine_IC.py")

    # --- model at full size, as engine_IC.train() builds it ---------------------------
    config = json.loads((args.src / CONFIG).read_text())
    vision, text = config["vision_cfg"], config["text_cfg"]
    grid = vision["image_size"] // vision["patch_size"]
    check(
        config["embed_dim"] == 640 and vision["image_size"] == 240 and grid * grid == 225 and vision["layers"] == 12,
        f"{CONFIG} has the original's hard-coded 640 / 240 px / 225 patches / 12 layers "
        f"(vision width {vision['width']}, text width {text['width']} x {text['layers']} layers)",
    )
    started = time.perf_counter()
    model = InCTRL(None, config["embed_dim"], vision, text, False, cast_dtype=get_cast_dtype("fp32"))
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log(f"built InCTRL in {time.perf_counter() - started:.1f} s: {total} parameters, {trainable} require grad")
    check(trainable == 334916, f"trainable parameter count {trainable} == 334916 (spec §4)")

    # --- one balanced batch, as the training DataLoader yields it ---------------------
    def images_in(folder):
        return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)

    normals = images_in(args.images / NORMAL_DIR)
    anomalies = [p for d in sorted(args.images.iterdir()) if d.is_dir() and d.name != NORMAL_DIR for p in images_in(d)]
    half = args.batch // 2
    if len(normals) < max(half, args.shot) or len(anomalies) < half:
        sys.exit(f"time_step.py: {args.images} has {len(normals)} normal and {len(anomalies)} anomalous images")
    rng = random.Random(10)
    queries = [(p, 0) for p in rng.sample(normals, half)] + [(p, 1) for p in rng.sample(anomalies, half)]
    prompts = [rng.sample(normals, args.shot) for _ in queries]  # IC_dataset: random.sample, self allowed

    namespace = {"transforms": transforms}
    engine.define("_convert_to_rgb", namespace)
    transform = engine.eval("train", "transform", namespace)
    started = time.perf_counter()
    samples = [
        ([transform(Image.open(q))] + [transform(Image.open(p)) for p in ps], args.category, label)
        for (q, label), ps in zip(queries, prompts)
    ]
    inputs, types, labels = default_collate(samples)
    data_s = time.perf_counter() - started
    size = Image.open(queries[0][0]).size
    log(
        f"batch: {half} normal + {half} anomalous queries from {args.images}, K = {args.shot} prompts each "
        f"({len(samples) * (1 + args.shot)} images of {size[0]}x{size[1]} decoded and transformed in {data_s:.2f} s, "
        f"not part of the step)"
    )
    check(
        len(inputs) == args.shot + 1 and list(inputs[0].shape) == [args.batch, 3, 240, 240],
        f"collated batch: {args.shot + 1} tensors [{args.batch}, 3, 240, 240], labels {labels.tolist()}",
    )
    tokenizer = open_clip.get_tokenizer("ViT-B-16-plus-240")
    normal_texts, anomaly_texts = get_texts(args.category.replace("_", " "))
    prompts_per_query = len(normal_texts) + len(anomaly_texts)
    log(
        f"category {args.category!r}: {len(normal_texts)} + {len(anomaly_texts)} text prompts, encoded for each "
        f"of the {args.batch} queries on every forward ({prompts_per_query * args.batch} text sequences)"
    )

    # --- timers around the frozen towers (no change to what they compute) -------------
    spent = {"image": 0.0, "text": 0.0}

    def timed(name, method):
        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return method(*a, **k)
            finally:
                spent[name] += time.perf_counter() - t

        return wrapper

    model.encode_image = timed("image", model.encode_image)
    model.encode_text = timed("text", model.encode_text)

    # --- the step, in train_epoch()'s order --------------------------------------------
    optimizer = engine.eval("train", "optimizer", {"torch": torch, "model": model})

    def forward():
        namespace = {"model": model, "tokenizer": tokenizer, "inputs": inputs, "types": types}
        return engine.eval("train_epoch", "preds, preds2", namespace)

    def step():
        spent.update(image=0.0, text=0.0)
        t0 = time.perf_counter()
        preds, preds2 = forward()
        t1 = time.perf_counter()
        loss_fun = BinaryFocalLoss()
        loss = engine.eval("train_epoch", "loss", {"loss_fun": loss_fun, "preds": preds, "preds2": preds2, "labels": labels})
        misc.check_nan_losses(loss)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss_value = loss.item()  # train_epoch's loss.item()
        t2 = time.perf_counter()
        parts = {
            "image_towers_s": spent["image"],
            "text_tower_s": spent["text"],
            "rest_of_forward_s": (t1 - t0) - spent["image"] - spent["text"],
            "loss_backward_adamw_s": t2 - t1,
        }
        return t2 - t0, loss_value, parts

    def show(parts):
        return ", ".join(f"{k[:-2]} {v:.2f} s" for k, v in parts.items())

    model.train()  # train_epoch(): once, before its loop
    seconds, loss, parts = step()
    log(f"warm-up step: {seconds:.2f} s (loss {loss:.6g}; {show(parts)})")
    times, breakdowns = [], []
    # Quietness: CPU time this process got over the timed steps, per thread and wall
    # second (about 1 when nothing else competes for the cores; the single-threaded
    # Python parts of the forward also pull it below 1).
    load_before = os.getloadavg()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i in range(1, args.steps + 1):
        seconds, loss, parts = step()
        times.append(seconds)
        breakdowns.append(parts)
        log(f"step {i}: {seconds:.2f} s (loss {loss:.6g}; {show(parts)})")

    cpu_share = (time.process_time() - cpu0) / ((time.perf_counter() - wall0) * torch.get_num_threads())
    load_after = os.getloadavg()
    log(f"timed steps got {cpu_share:.2f} of {torch.get_num_threads()} threads; load average {load_before} -> {load_after}")

    forwards = []
    for i in range(1, args.forwards + 1):
        spent.update(image=0.0, text=0.0)
        t = time.perf_counter()
        with torch.no_grad():
            forward()
        forwards.append(time.perf_counter() - t)
        log(
            f"forward without grad {i}: {forwards[-1]:.2f} s "
            f"(image towers {spent['image']:.2f} s, text tower {spent['text']:.2f} s)"
        )

    median = statistics.median(times)
    median_parts = breakdowns[times.index(sorted(times)[(len(times) - 1) // 2])] if times else {}
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    result = {
        "original_step_s": round(median, 3),
        "step_min_s": round(min(times), 3),
        "step_max_s": round(max(times), 3),
        "steps_timed": len(times),
        "forward_no_grad_s": round(statistics.median(forwards), 3) if forwards else None,
        "step_breakdown_s": {k: round(v, 3) for k, v in median_parts.items()},
        "batch": args.batch,
        "shot": args.shot,
        "text_prompts_per_query": prompts_per_query,
        "threads": torch.get_num_threads(),
        "cpus": cpus,
        "torch": torch.__version__,
        "model": "ViT-B-16-plus-240, random init, float32",
        "peak_rss_mib": round(peak_rss_mib),
        "cpu_share": round(cpu_share, 3),
        "loadavg_1min": [load_before[0], load_after[0]],
        "data_prep_s": round(data_s, 3),
        "original_commit": args.commit,
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
