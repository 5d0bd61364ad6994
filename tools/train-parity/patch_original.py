"""Patch a copy of the original InCTRL source (mala-lab/InCTRL @ cc535d0) in place.

usage: python3 patch_original.py SRC_DIR

Called by tools/train-parity/run.sh on a temporary copy; never run it on a
checkout you care about. Each patch is a small search/replace of one expression
or line of the original, with the number of times it must match: if the
original differs (another commit), the script stops instead of guessing. No
original code is kept here beyond those fragments.

The patches, and why:

P1  CPU instead of CUDA (the original is CUDA-only as written).
    open_clip/model.py L497, L501, L503, L510 (InCTRL.forward):
        `.cuda(non_blocking=True)`  ->  removed (4 matches)
    open_clip/model.py L565-566 (InCTRL.forward, text branch):
        `tokenizer(normal_texts).cuda()`  -> `tokenizer(normal_texts)`
        `tokenizer(anomaly_texts).cuda()` -> `tokenizer(anomaly_texts)`
    open_clip/transformer.py L789 (VisionTransformer_Mul.forward):
        `torch.zeros([H, H]).to('cuda')` -> `torch.zeros([H, H]).to(x.device)`
        (an attention map that is summed and never used; only its device changes).

P2  Sizes: nothing to patch for the tiny fixture model. The hard-coded values in
    InCTRL are 640 (Adapter(640, 4), TransformerBasicHead(640, 1): embed_dim),
    225 (TransformerBasicHead(225, 1) and the reshapes: (240/16)^2 patches),
    240 (reshape(-1, 3, 240, 240): image size) and, in Transformer_Mul, 12
    layers (`idx == 12`) and out_layers [7, 9, 11]. The tiny config has
    embed_dim 640, image 240, patch 16 and 12 vision layers, so they all hold;
    the vision width (896 in the full model, 64 in the tiny one) is never
    hard-coded (the reshapes use -1). train_step.py asserts these values
    against the config. The replacements of P3 do not hard-code 225 either.

P3  Per-sample batching (spec §4.1). The original stacks the query tokens of the
    3 layers as (3, b, 225, w) and the prompt tokens as (3, shot*b, 225, w) with
    the prompts shot-major (n = s*b + i, as torch.stack(image[1:]) of the
    collated batch makes them), and the prompt CLS embeddings as (shot*b, 640).
    It then `reshape`s them to (b, 3, 225, w), (b, 3, 225*shot, w) and
    (b, shot, 640): correct for b = 1 only; for b > 1 query i gets other
    queries' layers and other queries' prompts. Replaced by the permutes that
    give query i its own 3 layers and its own `shot` prompts (prompt patches in
    shot order, as b = 1 has them):
    open_clip/model.py L521:
        `Fp_list.reshape(b, 3, 225, -1)` -> `Fp_list.permute(1, 0, 2, 3)`
    open_clip/model.py L522:
        `Fp_list_n.reshape(b, 3, 225 * shot, -1)`
        -> `Fp_list_n.unflatten(1, (shot, b)).permute(2, 0, 1, 3, 4).flatten(2, 3)`
    open_clip/model.py L524:
        `token_n.reshape(b, shot, -1)` -> `token_n.unflatten(0, (shot, b)).transpose(0, 1)`

P5  Input taps (no change to the computation): the frozen tower's query
    embeddings `token` [b, D] and per-sample prompt embeddings `token_n`
    [b, shot, D] are kept in `self.parity_inputs` just before the adapter sees
    them, so a port can check its trainable part on exactly the original's inputs.

P4  Taps (no change to the computation): InCTRL.forward returns only
    (final_score, img_ref_score). To record the intermediate values, one
    statement is added before its `return final_score, img_ref_score` (L592)
    that keeps references to text_score, patch_ref_map, holistic_map, hl_score,
    fg_score and token_ref in `self.parity_taps`.
"""

import sys
from pathlib import Path

# (file, search, replace, expected number of matches)
PATCHES = [
    # P1: CPU
    ("open_clip/model.py", ".cuda(non_blocking=True)", "", 4),
    ("open_clip/model.py", "tokenizer(normal_texts).cuda()", "tokenizer(normal_texts)", 1),
    ("open_clip/model.py", "tokenizer(anomaly_texts).cuda()", "tokenizer(anomaly_texts)", 1),
    ("open_clip/transformer.py", "torch.zeros([H, H]).to('cuda')", "torch.zeros([H, H]).to(x.device)", 1),
    # P3: per-sample batching
    ("open_clip/model.py", "Fp_list.reshape(b, 3, 225, -1)", "Fp_list.permute(1, 0, 2, 3)", 1),
    (
        "open_clip/model.py",
        "Fp_list_n.reshape(b, 3, 225 * shot, -1)",
        "Fp_list_n.unflatten(1, (shot, b)).permute(2, 0, 1, 3, 4).flatten(2, 3)",
        1,
    ),
    ("open_clip/model.py", "token_n.reshape(b, shot, -1)", "token_n.unflatten(0, (shot, b)).transpose(0, 1)", 1),
    # P5: input taps (no change to the computation)
    (
        "open_clip/model.py",
        "token_ad = self.adapter.forward(token)",
        "self.parity_inputs = dict(token=token, token_n=token_n); token_ad = self.adapter.forward(token)",
        1,
    ),
]

# P4: the statement added before InCTRL.forward's return (same indentation).
TAP_ANCHOR = "return final_score, img_ref_score"
TAP = (
    "self.parity_taps = dict(text_score=text_score, patch_ref_map=patch_ref_map, "
    "holistic_map=holistic_map, hl_score=hl_score, fg_score=fg_score, token_ref=token_ref)"
)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: patch_original.py SRC_DIR")
    root = Path(sys.argv[1])
    texts = {}
    for name, search, replace, count in PATCHES:
        path = root / name
        text = texts.get(name) or path.read_text()
        found = text.count(search)
        if found != count:
            sys.exit(f"patch_original.py: {name}: expected {count} x {search!r}, found {found} (another commit?)")
        texts[name] = text.replace(search, replace)

    name = "open_clip/model.py"
    lines = texts[name].split("\n")
    anchors = [i for i, line in enumerate(lines) if line.strip() == TAP_ANCHOR]
    if len(anchors) != 1:
        sys.exit(f"patch_original.py: {name}: expected one line {TAP_ANCHOR!r}, found {len(anchors)}")
    line = lines[anchors[0]]
    indent = line[: len(line) - len(line.lstrip())]
    lines.insert(anchors[0], indent + TAP)
    texts[name] = "\n".join(lines)

    for name, text in texts.items():
        (root / name).write_text(text)
    print(f"patch_original.py: patched {', '.join(sorted(texts))} in {root}", file=sys.stderr)


if __name__ == "__main__":
    main()
