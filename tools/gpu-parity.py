"""Parity of `inctrl score` against the fixtures made with the original InCTRL.

usage: python3 tools/gpu-parity.py INCTRL FIXTURES_DIR [--device wgpu] [--precision f16]

Runs every scoring case of FIXTURES_DIR/cases.json through the CLI on the given
device (the fixture checkpoint and config as weights) and compares each query's
final score and 15x15 patch map with FIXTURES_DIR/expected.safetensors. Prints
one JSON object: {"cases", "queries", "max_final_diff", "max_map_diff"}.
Needs only the Python standard library, so it runs on a bare GPU machine.
"""

import argparse
import json
import struct
import subprocess
import sys
from pathlib import Path


def read_safetensors(path):
    """name -> list of float32 values (the file's F32 tensors)."""
    raw = Path(path).read_bytes()
    (header_size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + header_size])
    body = raw[8 + header_size :]
    tensors = {}
    for name, meta in header.items():
        if name == "__metadata__" or meta["dtype"] != "F32":
            continue
        start, end = meta["data_offsets"]
        tensors[name] = list(struct.unpack(f"<{(end - start) // 4}f", body[start:end]))
    return tensors


def score_case(inctrl, fixtures, case, device, precision):
    images = fixtures / "images"
    command = [
        inctrl, "score",
        "--weights", str(fixtures / "model.pyth"), "--config", str(fixtures / "config.json"),
        "--category", case["category"], "--device", device, "--precision", precision,
    ]  # fmt: skip
    for prompt in case["prompts"]:
        command += ["--prompt", str(images / prompt)]
    command += [str(images / query["image"]) for query in case["queries"]]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output)["results"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("inctrl")
    parser.add_argument("fixtures", type=Path)
    parser.add_argument("--device", default="wgpu")
    parser.add_argument("--precision", default="f32")
    args = parser.parse_args()
    expected = read_safetensors(args.fixtures / "expected.safetensors")
    cases = json.loads((args.fixtures / "cases.json").read_text())["cases"]
    worst_final = worst_map = 0.0
    queries = 0
    for case in cases:
        for query, result in zip(case["queries"], score_case(args.inctrl, args.fixtures, case, args.device, args.precision)):
            key = query["key"]
            worst_final = max(worst_final, abs(result["score"] - expected[f"{key}/final"][0]))
            map_diffs = (abs(a - b) for a, b in zip(result["patch_map"], expected[f"{key}/patch_map"]))
            worst_map = max(worst_map, *map_diffs)
            queries += 1
    print(json.dumps({"cases": len(cases), "queries": queries,
                      "max_final_diff": worst_final, "max_map_diff": worst_map}))  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
