"""PyTorch CPU peer of `inctrl bench`: the same work, timed the same way.

usage: tools/bench-torch.sh [--runs 5] [--k 2,4,8] > torch.json
       tools/bench-torch.sh --serve [--runs 5]   (what inctrl bench --against-torch runs)
       (the wrapper installs a pinned PyTorch into target/torch-venv on first use;
       any Python that has torch can also run this file directly)

Builds InCTRL on open_clip's ViT-B-16-plus-240 image tower in plain PyTorch,
with random weights, and times, like `inctrl bench` (src/cli/bench/mod.rs):
- encoding a prompt set of K images (one forward of all K) for each --k;
- scoring one query against a K=4 prompt set encoded beforehand (warm query).
Each measurement is one warm-up call, then --runs timed calls; the median is
reported. float32, torch.inference_mode(), torch's default thread count.

stdout gets one JSON object (with --serve, one JSON line per request), e.g.
  {"torch": "2.15.0+cu132", "threads": 2, "runs": 5, "matmul_gflops": 173.7,
   "prompt_set_ms": {"2": 493.33, "4": 872.13, "8": 1721.6}, "query_ms": 255.74}
and progress goes to stderr.
"""

import argparse
import json
import sys
import time
import warnings

# The venv has no NumPy (nothing here needs it); torch warns about that on import.
warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
import torch  # noqa: E402
from torch import nn  # noqa: E402

# src/config.rs: the built-in ViT-B-16-plus-240 config and InCTRL's constants.
IMAGE_SIZE = 240
PATCH_SIZE = 16
WIDTH = 896
LAYERS = 12
HEAD_WIDTH = 64
HEADS = WIDTH // HEAD_WIDTH  # 14
MLP_WIDTH = int(WIDTH * 4.0)  # 3584
EMBED_DIM = 640
PATCH_LAYERS = (7, 9, 11)  # 1-based blocks whose outputs feed the patch map
PATCHES = (IMAGE_SIZE // PATCH_SIZE) ** 2  # 225
TOKENS = PATCHES + 1  # 226 with CLS
TEXT_TEMPERATURE = 100.0
# bench.rs draws its images from this range (roughly the span of CLIP-normalised pixels).
PIXEL_RANGE = (-1.8, 2.2)


class ResidualAttentionBlock(nn.Module):
    """open_clip's pre-LN block: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self):
        super().__init__()
        self.ln_1 = nn.LayerNorm(WIDTH)
        # batch_first as current open_clip builds it; with q, k, v the same tensor
        # under inference_mode this takes PyTorch's fused native MHA path.
        self.attn = nn.MultiheadAttention(WIDTH, HEADS, batch_first=True)
        self.ln_2 = nn.LayerNorm(WIDTH)
        self.mlp = nn.Sequential()
        self.mlp.add_module("c_fc", nn.Linear(WIDTH, MLP_WIDTH))
        self.mlp.add_module("gelu", nn.GELU())  # exact erf GELU (quick_gelu=False)
        self.mlp.add_module("c_proj", nn.Linear(MLP_WIDTH, WIDTH))

    def forward(self, x):
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class VisionTransformer(nn.Module):
    """open_clip's VisionTransformer, also returning the residual stream after PATCH_LAYERS."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, WIDTH, PATCH_SIZE, stride=PATCH_SIZE, bias=False)
        # Normal(0, width^-0.5) as open_clip and our Rust init use: small, finite,
        # far from denormals, so no slow float paths distort the timing.
        scale = WIDTH**-0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(WIDTH))
        self.positional_embedding = nn.Parameter(scale * torch.randn(TOKENS, WIDTH))
        self.ln_pre = nn.LayerNorm(WIDTH)
        self.resblocks = nn.ModuleList(ResidualAttentionBlock() for _ in range(LAYERS))
        self.ln_post = nn.LayerNorm(WIDTH)
        self.proj = nn.Parameter(scale * torch.randn(WIDTH, EMBED_DIM))

    def forward(self, pixels):
        """[B, 3, 240, 240] -> (g = ln_post(CLS) @ proj [B, 640], 3 taps [B, 226, 896])."""
        x = self.conv1(pixels).flatten(2).transpose(1, 2)  # [B, 225, W], row-major grid
        cls = self.class_embedding.expand(x.shape[0], 1, WIDTH)
        x = self.ln_pre(torch.cat([cls, x], dim=1) + self.positional_embedding)
        taps = []
        for index, block in enumerate(self.resblocks, start=1):
            x = block(x)
            if index in PATCH_LAYERS:
                taps.append(x)
        return self.ln_post(x[:, 0]) @ self.proj, taps


def scoring_head(inputs):
    """InCTRL's TransformerBasicHead in eval mode (its bn1 is never used)."""
    return nn.Sequential(
        nn.Linear(inputs, 128), nn.ReLU(), nn.BatchNorm1d(128),
        nn.Linear(128, 64), nn.ReLU(), nn.BatchNorm1d(64),
        nn.Linear(64, 1), nn.Sigmoid(), nn.Flatten(0),
    )  # fmt: skip


def unit_patches(tokens):
    """[B, 226, W] -> the 225 patch tokens scaled to unit length (plain t / |t|, as InCTRL)."""
    patches = tokens[:, 1:]
    return patches / patches.norm(dim=-1, keepdim=True)


class Inctrl(nn.Module):
    """The InCTRL query path as src/model/inctrl.rs runs it."""

    def __init__(self):
        super().__init__()
        self.visual = VisionTransformer()
        self.adapter = nn.Sequential(
            nn.Linear(EMBED_DIM, EMBED_DIM // 4, bias=False), nn.ReLU(),
            nn.Linear(EMBED_DIM // 4, EMBED_DIM, bias=False), nn.ReLU(),
        )  # fmt: skip
        self.diff_head = scoring_head(PATCHES)
        self.diff_head_ref = scoring_head(EMBED_DIM)

    def encode_prompts(self, pixels):
        """K prompts in one forward -> ([3, W, K*225] unit patch tokens, [640] mean adapted g)."""
        embedding, taps = self.visual(pixels)
        tokens = torch.stack([unit_patches(t).reshape(-1, WIDTH).T for t in taps])
        return tokens, self.adapter(embedding).mean(0)

    def forward(self, pixels, prompt_tokens, adapted_mean, prototypes):
        """Queries [B, 3, 240, 240] -> final score [B] and the patch map [B, 225]."""
        embedding, taps = self.visual(pixels)
        # min over prompt patches of ½(1 − cos) = ½(1 − max cos), mean over the layers.
        patch_map = torch.stack(
            [0.5 * (1 - (unit_patches(t) @ p).amax(-1)) for t, p in zip(taps, prompt_tokens)]
        ).mean(0)
        unit = embedding / embedding.norm(dim=-1, keepdim=True)
        text_score = torch.softmax(TEXT_TEMPERATURE * unit @ prototypes.T, dim=-1)[:, 1]
        image_score = self.diff_head_ref(adapted_mean - self.adapter(embedding))
        holistic_score = self.diff_head((text_score + image_score)[:, None] + patch_map)
        return (holistic_score + patch_map.amax(-1)) / 2, patch_map


def median_ms(runs, call):
    """Median wall time of `runs` calls after one warm-up, as bench.rs measures (upper median)."""
    call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2] * 1e3


def random_images(count):
    low, high = PIXEL_RANGE
    return [torch.empty(3, IMAGE_SIZE, IMAGE_SIZE).uniform_(low, high) for _ in range(count)]


def matmul_gflops(runs):
    """The reference product bench.rs reports: [226 x 896] · [896 x 3584]."""
    # Fresh inputs per call, made before timing, so no call can reuse a result.
    inputs = [(torch.randn(TOKENS, WIDTH), torch.randn(WIDTH, MLP_WIDTH)) for _ in range(runs + 1)]
    ms = median_ms(runs, lambda: torch.mm(*inputs.pop()).sum().item())
    return 2 * TOKENS * WIDTH * MLP_WIDTH / (ms / 1e3) / 1e9


def check_prompts(k, tokens, adapted_mean):
    assert tokens.shape == (len(PATCH_LAYERS), WIDTH, k * PATCHES), tokens.shape
    assert adapted_mean.shape == (EMBED_DIM,), adapted_mean.shape
    assert torch.isfinite(tokens).all() and torch.isfinite(adapted_mean).all()


def check_scores(scores, patch_map):
    assert scores.shape == (1,) and patch_map.shape == (1, PATCHES), (scores.shape, patch_map.shape)
    assert torch.isfinite(patch_map).all() and ((0 <= scores) & (scores <= 1)).all(), scores


class Measurements:
    """The model and inputs of every measurement, each timed on demand."""

    def __init__(self):
        self.model = Inctrl().eval()
        self.query_prompts = self.encode(random_images(4))
        self.prototypes = nn.functional.normalize(torch.randn(2, EMBED_DIM), dim=-1)
        self.query = random_images(1)
        check_scores(*self.score_tensors())

    def encode(self, images):
        # The stack is timed too: ours builds its batch tensor from host buffers.
        return self.model.encode_prompts(torch.stack(images))

    def score_tensors(self):
        return self.model(torch.stack(self.query), *self.query_prompts, self.prototypes)

    def prompt_set_ms(self, k, runs):
        images = random_images(k)
        check_prompts(k, *self.encode(images))
        # .item() mirrors bench.rs reading the adapted mean back.
        return median_ms(runs, lambda: self.encode(images)[1].sum().item())

    def query_ms(self, runs):
        def score():
            scores, patch_map = self.score_tensors()
            return scores.tolist(), patch_map.tolist()  # what `Detector::score` reads back

        return median_ms(runs, score)


def bench(runs, ks):
    """Runs every measurement once; returns the JSON-ready result."""
    measurements = Measurements()
    log(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {runs} runs each, medians")
    result = {"torch": torch.__version__, "threads": torch.get_num_threads(), "runs": runs}
    result["matmul_gflops"] = round(matmul_gflops(runs), 1)
    log(f"reference matmul [{TOKENS}x{WIDTH}]·[{WIDTH}x{MLP_WIDTH}]: {result['matmul_gflops']} GFLOP/s")
    result["prompt_set_ms"] = {}
    for k in ks:
        ms = measurements.prompt_set_ms(k, runs)
        result["prompt_set_ms"][str(k)] = round(ms, 2)
        log(f"prompt set K={k}: {ms:.1f} ms")
    result["query_ms"] = round(measurements.query_ms(runs), 2)
    log(f"query (K=4, warm): {result['query_ms']:.1f} ms")
    return result


def serve(runs):
    """Times one measurement per stdin line, `matmul`, `prompt_set K` or `query`,
    answering each with one JSON line: `inctrl bench --against-torch` keeps this
    process for the whole run and alternates with its own measurements, so the
    two halves of every comparison are seconds apart, not a minute."""
    measurements = Measurements()
    answer({"torch": torch.__version__, "threads": torch.get_num_threads()})
    for line in sys.stdin:
        match line.split():
            case ["matmul"]:
                answer({"matmul_gflops": matmul_gflops(runs)})
            case ["prompt_set", k]:
                answer({"ms": measurements.prompt_set_ms(int(k), runs)})
            case ["query"]:
                answer({"ms": measurements.query_ms(runs)})
            case _:
                answer({"error": f"unknown request {line.strip()!r}"})


def answer(value):
    print(json.dumps(value), flush=True)


def log(message):
    print(message, file=sys.stderr, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per measurement")
    parser.add_argument("--k", default="2,4,8", help="prompt-set sizes, comma-separated")
    parser.add_argument("--seed", type=int, default=0, help="seed for weights and images")
    parser.add_argument("--serve", action="store_true", help="time what stdin asks for (see serve)")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    runs = max(args.runs, 1)
    with torch.inference_mode():
        if args.serve:
            serve(runs)
            return
        ks = [int(k) for k in args.k.split(",") if k.strip()]
        print(json.dumps(bench(runs, ks)))


if __name__ == "__main__":
    main()
