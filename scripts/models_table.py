"""Benchmark every shipped model with `vsr eval` and write the models table into README.md.

    python scripts/models_table.py [--readme README.md] [--fallback docs/models.md] [--rerun]

Each (model, scale, set) is evaluated once with the real command
`vsr eval --model NAME --scale S --data DIR --json runs/eval/NAME_xS_SET.json --overwrite --quiet`
(results are cached there; --rerun discards them), CPU speed is measured on a 960x540
luma input, and the table replaces whatever lies between the markers
`<!-- models-table:start -->` and `<!-- models-table:end -->` (read, substitute, write in one go).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SETS = {"Set5": "../shared/data/bench/Set5/HR", "Set14": "../shared/data/bench/Set14", "BSD100": "../shared/data/bench/BSD100"}
START, END = "<!-- models-table:start -->", "<!-- models-table:end -->"

# Published Y-PSNR (Set5 / Set14 / BSD100), paper protocol; sources differ by ~0.05 dB.
PUBLISHED = {
    2: {"bicubic": (33.66, 30.24, 29.56), "SRCNN": (36.66, 32.45, 31.36), "FSRCNN": (37.05, 32.66, 31.53),
        "VDSR": (37.53, 33.05, 31.90)},
    3: {"bicubic": (30.39, 27.55, 27.21), "SRCNN": (32.75, 29.30, 28.41), "FSRCNN": (33.18, 29.37, 28.53),
        "ESPCN": (33.13, 29.49, None), "VDSR": (33.67, 29.78, 28.83)},
    4: {"bicubic": (28.42, 26.00, 25.96), "SRCNN": (30.48, 27.50, 26.90), "FSRCNN": (30.72, 27.61, 26.98),
        "ESPCN": (30.90, 27.73, None), "VDSR": (31.35, 28.02, 27.29)},
}
REFERENCE = {"residual": "VDSR", "espcn": "ESPCN", "fsrcnn": "FSRCNN", "srcnn": "SRCNN", "restore": "VDSR",
             "restore-fast": "ESPCN", "stream": "VDSR"}


def evaluate(name: str, scale: int, set_name: str, rerun: bool) -> dict:
    out = REPO / "runs" / "eval" / f"{name}_x{scale}_{set_name}.json"
    if rerun or not out.exists():
        cmd = [sys.executable, "-c", "from vsr.cli import main; main()", "eval", "--model", name, "--scale",
               str(scale), "--data", SETS[set_name], "--json", str(out.relative_to(REPO)), "--overwrite", "--quiet"]
        subprocess.run(cmd, cwd=REPO, check=True)
    return json.loads(out.read_text())


def fps(name: str, scale: int) -> dict:
    import torch

    from vsr.eval.evaluate import measure_fps
    from vsr.models import load_model

    cache = REPO / "runs" / "eval" / f"{name}_x{scale}_fps.json"
    if cache.exists():
        return json.loads(cache.read_text())
    model = load_model(name, scale)
    res = {"threads": torch.get_num_threads(), "fp32": measure_fps(model, frames=2)}
    if model.supports_half:
        res["bf16"] = measure_fps(model, frames=2, precision="bf16")
    cache.write_text(json.dumps(res))
    return res


def table(rerun: bool) -> str:
    import torch

    from vsr.models import shipped_models

    order = {"residual": 0, "espcn": 1, "fsrcnn": 2, "srcnn": 3, "restore": 4, "restore-fast": 5, "stream": 6}
    rows = []
    # x1 (clean-up) models have no clean benchmark: scripts/restore_table.py --scale 1 measures them
    upscalers = [(name, scale) for name, scale in shipped_models() if scale > 1]
    for name, scale in sorted(upscalers, key=lambda m: (order.get(m[0], 9), m[1])):
        ckpt = torch.load(REPO / "vsr" / "models" / "weights" / f"{name}_x{scale}.pt", weights_only=True)
        res = {s: evaluate(name, scale, s, rerun) for s in SETS}
        speed = fps(name, scale)
        ref_name = REFERENCE[name] if REFERENCE[name] in PUBLISHED[scale] else "FSRCNN"
        ref = PUBLISHED[scale][ref_name]
        cells = [f"{res[s]['mean']['psnr']:.2f} / {res[s]['mean']['ssim']:.4f}" for s in SETS]
        bic = " / ".join(f"{res[s]['mean']['bicubic_psnr']:.2f}" for s in SETS)
        pub = " / ".join("–" if v is None else f"{v:.2f}" for v in ref)
        sp = f"{speed['fp32']:.2f}" + (f" ({speed['bf16']:.2f} bf16)" if "bf16" in speed else "")
        m = ckpt["metrics"]
        init = m["train_config"].get("init")
        start = f", from `{init['file']}`" if init else ""  # a step made first, by its own config
        rows.append(
            f"| `{name}` | x{scale} | {' | '.join(cells)} | {bic} | {ref_name} {pub} | {sp} | "
            f"{m['iterations']} it, {m['train_seconds'] / 60:.0f} min{start} | `vsr train --config {ckpt['config']}` |"
        )
    head = (
        "| model | scale | Set5 PSNR / SSIM | Set14 PSNR / SSIM | BSD100 PSNR / SSIM | bicubic PSNR (Set5 / Set14 / BSD100) "
        "| published (Set5 / Set14 / BSD100) | CPU fps, 960x540 input | training (CPU, 1 thread) | reproduce |\n"
        "|---|---|---|---|---|---|---|---|---|---|"
    )
    notes = (
        "\nY channel (BT.601, 16–235) in whole 8-bit levels, of the HR image and of the LR input alike (MATLAB's "
        "`rgb2ycbcr` on uint8; what a video's Y plane holds; before session 19 `vsr eval` scored the unrounded luma, "
        "0.02–0.1 dB higher), border = scale, HR cropped to a multiple of the scale, LR by MATLAB-style "
        "antialiased bicubic downscale; bicubic is MATLAB-style bicubic upscaling of the same LR. Figures from "
        "`vsr eval --model NAME --scale S --data DIR` (JSON in `runs/eval/`). Speed: the CPU engine of `vsr upscale` "
        f"(fused oneDNN graph, 8-bit output) on one 960x540 luma plane, {torch.get_num_threads()} CPU thread(s), fp32 "
        "and, in brackets, bf16 where the model is declared half-safe, on the shared 2-core development machine. "
        "Published figures: SRCNN, FSRCNN, ESPCN and VDSR papers as tabulated by VDSR/LapSRN (ESPCN trained on "
        "ImageNet; sources differ by ~0.05 dB); `residual` is compared with VDSR, the fast models with ESPCN/FSRCNN. "
        "`restore` and `restore-fast` are trained for damaged input (see \"Restoring old footage\") and `stream` for "
        "x264-compressed rungs (see \"Streaming-cost experiments\"): these rows, on clean input, show what that costs. "
        "Targets, misses and how each model was trained: `docs/models.md`.\n"
    )
    return head + "\n" + "\n".join(rows) + "\n" + notes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--readme", default=str(REPO / "README.md"))
    ap.add_argument("--fallback", default=str(REPO / "docs" / "models.md"))
    ap.add_argument("--rerun", action="store_true")
    args = ap.parse_args()
    (REPO / "runs" / "eval").mkdir(parents=True, exist_ok=True)
    text = table(args.rerun)
    readme = Path(args.readme)
    if readme.exists() and START in (body := readme.read_text(encoding="utf-8")) and END in body:
        pre, rest = body.split(START, 1)
        _, post = rest.split(END, 1)
        readme.write_text(pre + START + "\n" + text + END + post, encoding="utf-8")
        print(f"table written to {readme}")
    else:
        fb = Path(args.fallback)
        fb.parent.mkdir(parents=True, exist_ok=True)
        fb.write_text("# Shipped models\n\n" + START + "\n" + text + END + "\n", encoding="utf-8")
        print(f"{readme} has no table markers: table written to {fb}")


if __name__ == "__main__":
    main()
