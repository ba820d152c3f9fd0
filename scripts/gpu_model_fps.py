"""Model-only throughput on a CUDA device: the network alone on luma already on the GPU.

    python3 scripts/gpu_model_fps.py [--iters 30] [--only espcn:4,residual:2] > model_fps.txt

For each model and input size, times the forward pass with CUDA events over a batch sweep in fp16,
channels-last (as the CUDA engine runs it), after warm-up, and prints frames per second and the
peak memory of each batch. No host copies, chroma or encoding: `vsr bench` measures those.
"""

from __future__ import annotations

import argparse

import torch

from vsr.models import load_model

CASES = [  # (model, scale, input height, input width)
    ("espcn", 4, 540, 960),
    ("restore-fast", 4, 540, 960),
    ("fsrcnn", 4, 540, 960),
    ("residual", 4, 540, 960),
    ("restore", 4, 540, 960),
    ("espcn", 2, 1080, 1920),
    ("residual", 2, 1080, 1920),
]
BATCHES = (1, 4, 8, 16, 32)


def time_forward(module: torch.nn.Module, batch: int, height: int, width: int, iters: int) -> tuple[float, float]:
    """(frames per second, peak MiB) of `iters` forward passes of a batch after three warm-ups."""
    x = torch.rand((batch, 1, height, width), device="cuda", dtype=torch.float16)
    x = x.contiguous(memory_format=torch.channels_last)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    with torch.inference_mode():
        for _ in range(3):
            module(x)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            module(x)
        end.record()
        end.synchronize()
    seconds = start.elapsed_time(end) / 1000
    return batch * iters / seconds, torch.cuda.max_memory_allocated() / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=30)
    parser.add_argument("--only", default="", help="comma-separated NAME:SCALE cases (default: all)")
    args = parser.parse_args()
    only = {tuple(case.split(":")) for case in args.only.split(",") if case}
    torch.backends.cudnn.benchmark = True
    print(f"device {torch.cuda.get_device_name()}, torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}")
    for name, scale, height, width in CASES:
        if only and (name, str(scale)) not in only:
            continue
        model = load_model(name, scale)
        module = model.module.eval().to("cuda", dtype=torch.float16, memory_format=torch.channels_last)
        for batch in BATCHES:
            try:
                fps, peak = time_forward(module, batch, height, width, args.iters)
            except torch.cuda.OutOfMemoryError:
                print(f"{name:<13} x{scale} {width}x{height} batch {batch:>2}: out of memory")
                break
            print(f"{name:<13} x{scale} {width}x{height} batch {batch:>2}: {fps:9.1f} fps  peak {peak:8.0f} MiB", flush=True)
        del module
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
