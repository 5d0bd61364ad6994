"""Reference for `inctrl train`: two steps of the ORIGINAL InCTRL training loop.

usage: tools/train-parity/run.sh ORIGINAL [OUT_DIR]
       (run.sh makes the Python env, copies and patches the original source, then
       calls: train_step.py --src PATCHED_SRC --fixtures TINY_DIR --out OUT_DIR)

Imports the patched original (mala-lab/InCTRL @ cc535d0; patches listed in
patch_original.py: CPU, per-sample batching, taps) and runs, on the CPU in
float32, what engine_IC.py's train()/train_epoch() do for one batch:

- the model: open_clip.model.InCTRL built as engine_IC.train() builds it
  (quick_gelu False, cast dtype fp32) from the tiny fixture config, with the
  tiny fixture state_dict loaded strictly. InCTRL.__init__ itself freezes the
  CLIP towers (requires_grad False on self.visual and on the text tower), so
  what requires grad is adapter, diff_head and diff_head_ref (bn1 included,
  although it is never used);
- the transform, the optimizer, the forward call and the loss are not re-typed:
  their expressions are read out of engine_IC.py with `ast` and evaluated
  (printed below when the script runs):
    transform  = the `transform` of train()  (Resize 240 bicubic, CenterCrop 240,
                 RGB, ToTensor, OpenAI Normalize; images opened with PIL as
                 datasets/IC_dataset_new.py does, without convert)
    optimizer  = the `optimizer` of train()  (AdamW over model.parameters(),
                 lr 1e-3, betas (0.9, 0.999), torch defaults eps 1e-8 and
                 weight_decay 0.01; frozen params have no grad and are skipped)
    forward    = the `preds, preds2` call of train_epoch()
    loss       = the `loss` of train_epoch() with BinaryFocalLoss() defaults
                 (alpha 1, gamma 2, logits=True on outputs that are already
                 sigmoids: the double sigmoid of the original)
- the batch is what the training DataLoader yields for the fixed batch below:
  each item is ([query, prompt_1, .., prompt_K], category, label) as
  IC_dataset.__getitem__ returns it, collated with torch's default_collate (the
  loader has no collate_fn), so the forward gets a list of K+1 tensors
  [b, 3, 240, 240] (queries first, then one tensor per shot), the list of b
  category strings and the int64 labels.
- each step is, in train_epoch()'s order: forward in train mode (BatchNorm with
  batch statistics, running stats updated), loss, check_nan_losses,
  optimizer.zero_grad(), loss.backward(), optimizer.step().

Sanity checks (the script stops if one fails): the pixels and the category's
prompt tokens equal the tiny fixtures' (expected.safetensors pixels/*,
tokens.json); the trainable parameters are exactly adapter/diff_head/
diff_head_ref; in eval mode, query 0 alone reproduces the fixture's case1/q0
(same category, prompts and query), and the b = 4 forward equals 4 separate
b = 1 forwards (this is what the batching patch fixes).

Writes to OUT_DIR: expected.safetensors, batch.json, README.md.
"""

import argparse
import ast
import json
import struct
import sys
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", category=FutureWarning)

CATEGORY = "metal_nut"
SHOT = 2
# (query, label, prompts): a normal query may draw itself, as the original's
# random.sample over the category's normal pool allows.
BATCH = [
    ("nominal_c.jpg", 0, ["nominal_a.jpg", "nominal_b.jpg"]),
    ("nominal_d.jpg", 0, ["nominal_b.jpg", "nominal_d.jpg"]),
    ("local_defect.jpg", 1, ["nominal_a.jpg", "nominal_c.jpg"]),
    ("global_defect.jpg", 1, ["nominal_d.jpg", "nominal_a.jpg"]),
]
STEPS = 2
HEADS = ("adapter.", "diff_head.", "diff_head_ref.")
# Fixture case whose first query is BATCH[0] with the same category and prompts.
FIXTURE_CASE = "case1/q0"


def log(*args):
    print(*args, file=sys.stderr, flush=True)


class Engine:
    """Expressions of the original engine_IC.py, evaluated rather than copied."""

    def __init__(self, path):
        self.path = path
        self.tree = ast.parse(path.read_text())
        self.logged = set()

    def _function(self, name):
        found = [n for n in self.tree.body if isinstance(n, ast.FunctionDef) and n.name == name]
        if len(found) != 1:
            sys.exit(f"train_step.py: engine_IC.py has {len(found)} functions {name!r}")
        return found[0]

    def value(self, function, target):
        """The right-hand side of the one assignment `target = ...` in `function`."""
        hits = [
            node.value
            for node in ast.walk(self._function(function))
            if isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and ast.unparse(node.targets[0]) in (target, f"({target})")
        ]
        if len(hits) != 1:
            sys.exit(f"train_step.py: engine_IC.py {function}() assigns {target!r} {len(hits)} times")
        return hits[0]

    def eval(self, function, target, namespace):
        node = self.value(function, target)
        if (function, target) not in self.logged:
            self.logged.add((function, target))
            log(f"engine_IC.py {function}() L{node.lineno}: {target} = {ast.unparse(node)}")
        return eval(compile(ast.Expression(body=node), str(self.path), "eval"), namespace)

    def define(self, function, namespace):
        """Runs the module-level `def function` into namespace."""
        code = compile(ast.Module(body=[self._function(function)], type_ignores=[]), str(self.path), "exec")
        exec(code, namespace)
        return namespace[function]


def read_safetensors(path):
    import torch

    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + size])
    out = {}
    for name, meta in header.items():
        if name == "__metadata__" or meta["dtype"] != "F32":
            continue
        start, end = meta["data_offsets"]
        data = bytearray(raw[8 + size + start : 8 + size + end])
        out[name] = torch.frombuffer(data, dtype=torch.float32).reshape(meta["shape"])
    return out


def check(condition, message):
    if not condition:
        sys.exit(f"train_step.py: check failed: {message}")
    log(f"ok: {message}")


def keep(tensor):
    """A float32 copy, safe from later in-place updates (optimizer, BatchNorm)."""
    import torch

    return tensor.detach().to(torch.float32).clone()


def train_steps(engine, model, forward, inputs, types, labels, out, prefix, steps):
    """`steps` training steps as train_epoch() runs them, recording into `out`
    under `prefix` as float32 copies (the float64 run's inputs stay float64: a
    port computing in float64 starts from exactly them). Returns [(loss, final
    term, image term)] per step."""
    import torch
    import open_clip.utils.misc as misc
    from binary_focal_loss import BinaryFocalLoss

    record = keep
    optimizer = engine.eval("train", "optimizer", {"torch": torch, "model": model})
    model.train()
    losses = []
    for step in range(1, steps + 1):
        preds, preds2, taps = forward(inputs, types)
        loss_fun = BinaryFocalLoss()
        loss = engine.eval(
            "train_epoch", "loss", {"loss_fun": loss_fun, "preds": preds, "preds2": preds2, "labels": labels}
        )
        misc.check_nan_losses(loss)
        with torch.no_grad():
            # As engine_IC.py passes them (float32 labels, also to the float64 model).
            loss_final = BinaryFocalLoss()(preds, labels.float())
            loss_image = BinaryFocalLoss()(preds2, labels.float())
        check(
            abs(loss.item() - (loss_final + loss_image).item()) <= 1e-9 * loss.item(),
            f"{prefix}step {step}: loss = focal(final) + focal(image)",
        )
        optimizer.zero_grad()
        loss.backward()
        grads = {name: record(p.grad) for name, p in model.named_parameters() if p.grad is not None}
        optimizer.step()
        log(
            f"{prefix}step {step}: loss {loss.item():.9g} (final {loss_final.item():.9g}, image {loss_image.item():.9g}); "
            f"{len(grads)} tensors / {sum(g.numel() for g in grads.values())} values got gradients"
        )
        losses.append((loss.item(), loss_final.item(), loss_image.item()))
        key = f"{prefix}step{step}"
        out[f"{key}/loss"] = record(loss.reshape(1))
        out[f"{key}/loss_final"] = record(loss_final.reshape(1))
        out[f"{key}/loss_image"] = record(loss_image.reshape(1))
        out[f"{key}/final_score"] = record(preds)
        out[f"{key}/image_score"] = record(preds2)
        out[f"{key}/holistic_score"] = record(taps["hl_score"])
        if prefix == "":
            out[f"{key}/text_score"] = record(taps["text_score"].reshape(-1))
            out[f"{key}/patch_map"] = record(taps["patch_ref_map"])
            out[f"{key}/holistic_map"] = record(taps["holistic_map"])
            out[f"{key}/residual"] = record(taps["token_ref"])
        if step == 1:
            exact = keep if prefix == "" else (lambda t: t.detach().clone())
            out[f"{prefix}input/query_embedding"] = exact(model.parity_inputs["token"])
            out[f"{prefix}input/prompt_embeddings"] = exact(model.parity_inputs["token_n"])
            if prefix != "":
                out[f"{prefix}input/text_score"] = exact(taps["text_score"].reshape(-1))
                out[f"{prefix}input/patch_map"] = exact(taps["patch_ref_map"])
        for name, grad in grads.items():
            out[f"{key}/grad/{name}"] = grad
        for name, value in model.state_dict().items():
            # float64: only what a port holds (bn1 is never used; the counters are not floats).
            wanted = prefix == "" or (".bn1." not in name and "num_batches" not in name)
            if name.startswith(HEADS) and wanted:
                out[f"{key}/param/{name}"] = record(value)
    return losses


def max_diff(a, b):
    return (a.double() - b.double()).abs().max().item()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", type=Path, required=True, help="patched copy of the original source")
    parser.add_argument("--fixtures", type=Path, required=True, help="the tiny fixture folder")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--commit", default="unknown", help="commit of the original source")
    args = parser.parse_args()

    sys.path.insert(0, str(args.src))
    import torch
    from PIL import Image
    from safetensors.torch import save_file
    from torch.utils.data import default_collate
    from torchvision import transforms

    import open_clip
    import open_clip.utils.misc as misc
    from binary_focal_loss import BinaryFocalLoss
    from open_clip.model import InCTRL, get_cast_dtype, get_texts

    # One thread: the same float sums on every machine with this torch build.
    torch.set_num_threads(1)
    torch.manual_seed(10)  # cfg.RNG_SEED, as engine_IC.train() seeds (nothing here is random)

    engine = Engine(args.src / "engine_IC.py")
    fixtures = args.fixtures
    expected = read_safetensors(fixtures / "expected.safetensors")

    # --- model, as engine_IC.train() builds it, sizes from the tiny config -------
    config = json.loads((fixtures / "config.json").read_text())
    vision, text = config["vision_cfg"], config["text_cfg"]
    grid = vision["image_size"] // vision["patch_size"]
    # The values the original hard-codes (see patch_original.py P2).
    check(
        config["embed_dim"] == 640 and vision["image_size"] == 240 and grid * grid == 225 and vision["layers"] == 12,
        "tiny config matches the original's hard-coded 640 / 240 px / 225 patches / 12 layers",
    )
    model = InCTRL(None, config["embed_dim"], vision, text, False, cast_dtype=get_cast_dtype("fp32"))
    state = torch.load(fixtures / "model.pyth", map_location="cpu")
    model.load_state_dict(state, strict=True)
    log(f"loaded {fixtures / 'model.pyth'} strictly ({len(state)} keys)")

    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    heads = [name for name, _ in model.named_parameters() if name.startswith(HEADS)]
    count = sum(p.numel() for p in model.parameters() if p.requires_grad)
    check(trainable == heads, f"requires_grad is exactly adapter/diff_head/diff_head_ref ({len(trainable)} tensors)")
    check(count == 334916, f"trainable parameter count {count} == 334916 (spec §4)")

    # --- batch, as the training DataLoader yields it ------------------------------
    namespace = {"transforms": transforms}
    engine.define("_convert_to_rgb", namespace)
    transform = engine.eval("train", "transform", namespace)
    images = fixtures / "images"

    def load(name):
        return transform(Image.open(images / name))  # IC_dataset._load_image: no convert

    for name in sorted({n for q, _, ps in BATCH for n in [q, *ps]}):
        check(max_diff(load(name), expected[f"pixels/{name}"]) == 0.0, f"pixels of {name} equal the fixture's")
    samples = [([load(q)] + [load(p) for p in prompts], CATEGORY, label) for q, label, prompts in BATCH]
    inputs, types, labels = default_collate(samples)
    check(
        len(inputs) == SHOT + 1 and list(inputs[0].shape) == [len(BATCH), 3, 240, 240] and list(types) == [CATEGORY] * 4,
        "collated batch: K+1 tensors [b, 3, 240, 240] (queries, then one per shot), b category strings",
    )

    tokenizer = open_clip.get_tokenizer("ViT-B-16-plus-240")
    tokens = json.loads((fixtures / "tokens.json").read_text())[CATEGORY]
    normal_texts, anomaly_texts = get_texts(CATEGORY.replace("_", " "))
    check(
        tokenizer(normal_texts).tolist() == tokens["normal"]["ids"]
        and tokenizer(anomaly_texts).tolist() == tokens["anomaly"]["ids"],
        f"tokens of the {len(normal_texts)} + {len(anomaly_texts)} {CATEGORY} prompts equal tokens.json",
    )

    def forward(batch_inputs, batch_types):
        namespace = {"model": model, "tokenizer": tokenizer, "inputs": batch_inputs, "types": batch_types}
        preds, preds2 = engine.eval("train_epoch", "preds, preds2", namespace)
        return preds, preds2, dict(model.parity_taps)

    # --- eval-mode checks with the loaded weights ---------------------------------
    model.eval()
    with torch.no_grad():
        final4, image4, taps4 = forward(inputs, types)
        singles = [forward([t[i : i + 1] for t in inputs], types[i : i + 1]) for i in range(len(BATCH))]
    final1 = torch.cat([s[0] for s in singles])
    image1 = torch.cat([s[1] for s in singles])
    diff = max(max_diff(final4, final1), max_diff(image4, image1))
    check(diff <= 1e-6, f"eval b=4 forward equals 4 separate b=1 forwards (max diff {diff:.3g})")
    q0 = singles[0]
    fixture = {
        "final": q0[0],
        "image_score": q0[1],
        "holistic_score": q0[2]["hl_score"],
        "text_score": q0[2]["text_score"].reshape(1),
        "patch_map": q0[2]["patch_ref_map"].reshape(-1),
        "holistic_map": q0[2]["holistic_map"].reshape(-1),
    }
    diff = max(max_diff(v, expected[f"{FIXTURE_CASE}/{k}"].reshape(v.shape)) for k, v in fixture.items())
    check(diff <= 1e-5, f"eval b=1 query 0 reproduces fixture {FIXTURE_CASE} (max diff {diff:.3g})")

    # --- training steps, in train_epoch()'s order ---------------------------------
    out = {
        "eval/final_score": keep(final4),
        "eval/image_score": keep(image4),
        "eval/holistic_score": keep(taps4["hl_score"]),
    }
    losses = train_steps(engine, model, forward, inputs, types, labels, out, "", STEPS)

    # --- the same in float64 --------------------------------------------------------
    # Float32 cannot pin the gradients down to 1e-5: with a batch of four, the
    # heads' BatchNorms amplify rounding, and AdamW's first update is about
    # lr * sign(g) even where g is rounding noise. In float64 both vanish, so the
    # math itself can be compared tightly. The original's own code, in float64.
    model64 = InCTRL(None, config["embed_dim"], vision, text, False, cast_dtype=get_cast_dtype("fp32"))
    model64.load_state_dict(state, strict=True)
    model64.double()
    inputs64 = [t.double() for t in inputs]

    def forward64(batch_inputs, batch_types):
        namespace = {"model": model64, "tokenizer": tokenizer, "inputs": batch_inputs, "types": batch_types}
        preds, preds2 = engine.eval("train_epoch", "preds, preds2", namespace)
        return preds, preds2, dict(model64.parity_taps)

    # One step (the float32 run covers AdamW's second); values stored as float32.
    train_steps(engine, model64, forward64, inputs64, types, labels.double(), out, "f64/", 1)
    check(
        max_diff(out["f64/step1/loss"], out["step1/loss"]) < 1e-5,
        f"float64 step 1 loss {out['f64/step1/loss'].item():.9g} is the float32 one within 1e-5",
    )
    got_grad = sorted(k.split("/", 2)[2] for k in out if k.startswith("step1/grad/"))
    check(
        got_grad == sorted(n for n in trainable if ".bn1." not in n),
        "gradients reach every trainable tensor except the unused bn1 of both heads",
    )

    # --- outputs --------------------------------------------------------------------
    args.out.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.contiguous() for k, v in out.items()}
    metadata = {"torch": torch.__version__, "original_commit": args.commit}
    save_file(tensors, str(args.out / "expected.safetensors"), metadata=metadata)
    (args.out / "expected.safetensors").chmod(0o644)  # safetensors writes it owner-only
    batch = {
        "category": CATEGORY,
        "shot": SHOT,
        "steps": STEPS,
        "images": "the tiny fixtures' images/ folder (../shared/fixtures/tiny/images)",
        "queries": [{"image": q, "label": label, "prompts": prompts} for q, label, prompts in BATCH],
        "optimizer": {"name": "AdamW", "lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01},
        "loss": "BinaryFocalLoss(alpha=1, gamma=2, logits=True)(final_score) + same(image_score), mean over the batch",
    }
    (args.out / "batch.json").write_text(json.dumps(batch, indent=2) + "\n")
    write_readme(args.out, torch.__version__, args.commit, losses, count)
    size = (args.out / "expected.safetensors").stat().st_size
    log(f"wrote {len(tensors)} tensors ({size} bytes) to {args.out / 'expected.safetensors'}")
    print(json.dumps({"losses": [l[0] for l in losses], "tensors": len(tensors), "bytes": size}))


def write_readme(out, torch_version, commit, losses, count):
    loss_lines = "\n".join(
        f"- step {i}: loss {l:.9g} = {f:.9g} (final score) + {m:.9g} (image score)"
        for i, (l, f, m) in enumerate(losses, 1)
    )
    (out / "README.md").write_text(
        f"""# Training-step reference (`inctrl train` parity)

Made by `tools/train-parity/run.sh /work/.mirror/mala-lab+InCTRL/repo` (any checkout or bare
mirror of mala-lab/InCTRL works), which copies the original source at commit `{commit}`,
patches it (`tools/train-parity/patch_original.py`) and runs `tools/train-parity/train_step.py`
with PyTorch {torch_version} on the CPU, float32, one thread. Nothing of the original is stored
here or in tools/.

What ran: the original `InCTRL` model class with the tiny fixture model (`../shared/fixtures/tiny`,
`model.pyth` loaded strictly), the original training loop's transform, optimizer
(`AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.999))`, eps 1e-8 and weight decay 0.01 by
default), forward call and loss (`BinaryFocalLoss()` of the final score plus that of the image
score; the focal loss's `logits=True` applies a second sigmoid to these probabilities), in train
mode, for {STEPS} steps on the same batch (`batch.json`: {len(BATCH)} queries of `{CATEGORY}`,
K = {SHOT}). {count} parameters require grad (adapter, diff_head, diff_head_ref; the never-used
`bn1` of both heads included, so they get no gradient and AdamW leaves them alone).

Patches to the original (details in `patch_original.py`):
1. CPU: its `.cuda(...)` calls and one `.to('cuda')` removed / sent to the input's device.
2. Sizes: none needed; the tiny config has the values the original hard-codes (640, 240 px,
   225 patches, 12 layers) and the vision width is never hard-coded.
3. Per-sample batching: the three `reshape`s that mix batch items for b > 1 (spec §4.1) replaced
   by permutes, so each query uses its own 3 layers and its own K prompts.
4. A tap that keeps the intermediate tensors of the forward (no change to the computation).
5. A tap that keeps the frozen tower's query and per-sample prompt embeddings just before the
   adapter (`input/*`), so the trainable part can be checked on the original's own inputs.

Checks the script ran: pixels and prompt tokens equal the tiny fixtures'; in eval mode query 0
alone reproduces `case1/q0` of the tiny fixtures; the b = 4 eval forward equals 4 separate b = 1
forwards.

Losses:
{loss_lines}

## `expected.safetensors` (float32)
- `eval/final_score`, `eval/image_score`, `eval/holistic_score` [4]: eval mode (running BN
  statistics), the loaded weights, before any step.
- `step{{1,2}}/loss`, `loss_final`, `loss_image` [1]: the loss and its two focal terms.
- `step{{1,2}}/final_score`, `image_score` (img_ref_score, after the head's sigmoid),
  `holistic_score` (diff_head output), `text_score` [4]; `patch_map`, `holistic_map` [4, 225];
  `residual` [4, 640] (mean adapter(prompts) - adapter(query)): the train-mode forward of that
  step, before its update.
- `step{{1,2}}/grad/<state_dict key>`: every parameter that received a gradient in that step.
- `step{{1,2}}/param/<state_dict key>`: every state_dict entry of adapter, diff_head and
  diff_head_ref after that step (parameters and BatchNorm running_mean, running_var, and
  num_batches_tracked as float).
- `input/query_embedding` [4, 640], `input/prompt_embeddings` [4, 2, 640]: the frozen tower's
  outputs as the adapter receives them.
- `f64/...`: the same model and batch with `model.double()`, one step: `f64/input/*` (float64,
  exactly; also `text_score` [4] and `patch_map` [4, 225]), then, stored as float32, the scores,
  losses, `f64/step1/grad/*` and `f64/step1/param/*` (without bn1 and the counters).

## Comparing against it
- In float64 nothing below applies: compare every value within 1e-5.
- Gradients that are zero in exact arithmetic are rounding noise here: the biases of
  `projection1` and `projection2` feed a BatchNorm through a ReLU, so for a unit that is active
  on all 4 queries the bias gradient sums BatchNorm's input gradient over the batch, which is 0;
  the file holds values like 2.3e-10 (2^-32) up to about 1e-6 there. AdamW's first steps move a
  parameter by about lr * g / (|g| + 1e-8), so such noise becomes an update of up to ±lr (1e-3)
  whose sign no other implementation will reproduce. Compare those elements (|expected grad|
  below about 1e-5 in a step) loosely (2 * lr per step) or not at all, and the rest tightly.
  Other tiny gradients (about 2,000 entries of each `projection2.weight` are below 1e-6) are as
  fragile.
- Exact zeros (dead ReLU units, about 185,000 of the 333,186 gradient values in step 1) stay
  exact zeros: AdamW then only applies the weight decay, p * (1 - 1e-3 * 0.01).
"""
    )


if __name__ == "__main__":
    main()
