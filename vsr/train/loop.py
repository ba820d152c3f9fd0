"""The training loop: Adam with warm-up and a schedule, periodic validation, resumable checkpoints.

`train(cfg)` is deterministic for a given config on a given device and thread count:
all randomness comes from the config's seed, and its state is saved in the resumable
checkpoint so that a resumed run continues the same sequence.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import os
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vsr.device import DTYPES, cpu_has_fast_bf16, named_device
from vsr.engine.fusion import single_frame_engine
from vsr.errors import ConfigError, InputError, UnsupportedModelError
from vsr.eval.metrics import psnr
from vsr.eval.protocol import Pair, list_images, load_pairs
from vsr.models import load_model_file, model_from_checkpoint, run_luma
from vsr.models.checkpoint import checkpoint_dict, module_from_checkpoint, read_checkpoint, save_checkpoint, weights_sha256
from vsr.models.registry import ARCHS, build, get_arch, normalise_hparams
from vsr.train.config import Config
from vsr.train.data import PatchSampler, centre_crop, split_train_val
from vsr.train.degraded import DegradedPatchSampler, degraded_validation
from vsr.train.sequences import clip_windows, synthetic_windows

log = logging.getLogger(__name__)

STATE_FILE = "last.pt"
MODEL_FILE = "model.pt"


@dataclass(frozen=True)
class Progress:
    """One training step, for progress reporting (the CLI turns it into a bar)."""

    iteration: int  # 1-based, after the step
    total: int
    loss: float
    lr: float
    val_psnr: float | None  # the latest validation PSNR (dB), None before the first


@dataclass(frozen=True)
class TrainResult:
    iterations: int  # iterations completed in total (across resumes)
    finished: bool  # all configured iterations done and the final model written
    train_seconds: float  # wall time spent in this and earlier (resumed) sessions
    val_psnr: float | None
    model_path: Path | None  # the final model file (None unless finished)
    ship_path: Path | None
    losses: list[float] = field(default_factory=list)  # per-iteration losses of this session
    metrics: dict[str, Any] = field(default_factory=dict)


def loss_fn(name: str, eps: float) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if name == "l1":
        return F.l1_loss
    if name == "mse":
        return F.mse_loss
    if name == "charbonnier":
        return lambda a, b: torch.sqrt((a - b) ** 2 + eps * eps).mean()
    raise ConfigError(f"unknown loss {name!r}")


def lr_factor(cfg: Config, it: int) -> float:
    """Learning-rate multiplier at (0-based) iteration `it`: linear warm-up, then the schedule."""
    t = cfg.train
    if t.warmup_iters > 0 and it < t.warmup_iters:
        return (it + 1) / t.warmup_iters
    if t.schedule == "constant":
        return 1.0
    if t.schedule == "step":
        return t.gamma ** (it // t.step_every)
    span = max(1, t.iterations - t.warmup_iters)
    progress = min(1.0, (it - t.warmup_iters) / span)
    return t.min_lr_ratio + (1.0 - t.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for `amp` on `device` (None: plain fp32)."""
    if amp == "none":
        return None
    if amp in DTYPES:
        return DTYPES[amp]
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cpu_has_fast_bf16() else None  # emulated bf16 trained 3x slower than fp32


def _autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def output_levels(module: nn.Module, lr: np.ndarray, **run: Any) -> np.ndarray:
    """A model's rounded, clipped 8-bit output for a Pair's LR side: an (h, w) luma plane in 8-bit
    levels, or a multi-frame model's (C, h, w) window in [0, 1]. `run`: `vsr.models.run_luma`'s options."""
    if lr.ndim == 2:
        levels = run_luma(module, lr, **run)
    else:
        levels = run_luma(module, lr, max_value=1, **run) * 255.0
    return np.clip(np.rint(levels), 0, 255)


def validate(module: nn.Module, pairs: list[Pair], scale: int, device: torch.device) -> float:
    """Mean Y-PSNR (dB) over `pairs`, output clipped and rounded to 8 bits, border = scale."""
    if not pairs:
        return float("nan")
    was_training = module.training
    module.eval()
    vals = []
    for p in pairs:
        vals.append(psnr(output_levels(module, p.lr, device=device), p.hr, border=scale))
    module.train(was_training)
    return float(np.mean(vals))


def half_precision_error(module: nn.Module, pairs: list[Pair]) -> dict[str, int]:
    """The largest difference, in 8-bit levels, between fp32 and fp16/bf16 outputs (rounded, clipped).

    Measured on CPU: bf16 under autocast, fp16 by running a half copy of the module. Without
    pairs (no validation images) 255 for both: half precision is then not vouched for.
    """
    if not pairs:  # nothing measured is not "within a level": the model then runs in fp32
        return {"bf16": 255, "fp16": 255}
    res = {"bf16": 0, "fp16": 0}
    half = _half_copy(module)
    for p in pairs:
        ref = output_levels(module, p.lr)
        bf = output_levels(module, p.lr, autocast=torch.bfloat16)
        res["bf16"] = max(res["bf16"], _levels_apart(ref, bf))
        if half is not None:
            fp = output_levels(half, p.lr, dtype=torch.float16)
            res["fp16"] = max(res["fp16"], _levels_apart(ref, fp))
        else:
            res["fp16"] = 255
    return res


def _levels_apart(a: np.ndarray, b: np.ndarray) -> int:
    """The largest difference of two outputs in 8-bit levels; 255 where one is not finite (weights
    beyond the half type's range)."""
    apart = np.abs(a.astype(np.float64) - b)
    return int(apart.max()) if np.isfinite(apart).all() else 255


def _half_copy(module: nn.Module) -> nn.Module | None:
    try:
        half = copy.deepcopy(module).half().eval()
        with torch.inference_mode():
            half(torch.rand(1, getattr(module, "in_channels", 1), 8, 8).half())
        return half
    except RuntimeError:  # an op without a CPU fp16 kernel
        return None


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _resolve(path: str) -> Path:
    return Path(path).expanduser()


EVALUATION_FOLDERS = ("bench", "video")
"""The folders of a data tree described by a MANIFEST.md (as ../shared/data is) that hold evaluation
data only: never trained on."""


def check_training_data(cfg: Config) -> None:
    """ConfigError, before any work, for training data that is evaluation data (EVALUATION_FOLDERS;
    a model trained on its benchmark reports figures that mean nothing) and for [data] folders named
    twice or one inside another (their images counted twice: the validation images trained on)."""
    folders = [_resolve(folder).resolve() for folder in cfg.data.train_dirs]
    clips = [_resolve(clip).resolve() for clip in (cfg.multiframe.clips if cfg.multiframe is not None else ())]
    for path in (*folders, *clips):
        for folder in (path, *path.parents):
            if folder.name in EVALUATION_FOLDERS and (folder.parent / "MANIFEST.md").is_file():
                raise ConfigError(f"{path} is evaluation data ({folder}, see {folder.parent / 'MANIFEST.md'}): "
                                  "never train on it; evaluate on it with vsr eval")
    for index, folder in enumerate(folders):
        for other in folders[index + 1:]:
            if folder.is_relative_to(other) or other.is_relative_to(folder):
                raise ConfigError(f"[data] train_dirs names {folder} and {other}, the same or one inside the other: "
                                  "their images would be trained on twice, the validation images among them")


def checked_ship_path(cfg: Config) -> Path | None:
    """Where the final file is shipped (None without ship_to), checked before any training: not a
    folder, not inside the training data, in a folder that exists or can be made and written."""
    if not cfg.train.ship_to:
        return None
    path = _resolve(cfg.train.ship_to)
    if path.is_dir():
        raise ConfigError(f"ship_to {path} is a folder; name the model file, e.g. {path / 'model.pt'}")
    named = re.fullmatch(r"(.+)_x(\d+)\.pt", path.name)  # a shipped file's name says what load_model finds in it
    trains = (cfg.model.arch, cfg.model.scale)
    if named is not None and named[1] in ARCHS and (named[1], int(named[2])) != trains:
        raise ConfigError(f"ship_to {path.name} names {named[1]} x{named[2]}, but this config trains {trains[0]} "
                          f"x{trains[1]}: name it {trains[0]}_x{trains[1]}.pt")
    for folder in cfg.data.train_dirs:
        if path.resolve().is_relative_to(_resolve(folder).resolve()):
            raise ConfigError(f"ship_to {path} is inside the training data ({folder}); ship the model elsewhere")
    if cfg.init is not None and path.resolve() == _resolve(cfg.init.file).resolve():
        raise ConfigError(f"ship_to {path} is the [init] file this training starts from; ship the model elsewhere")
    if path.resolve() in ((_resolve(cfg.train.output) / name).resolve() for name in (STATE_FILE, MODEL_FILE)):
        raise ConfigError(f"ship_to {path} is one of the run's own files in {cfg.train.output} (its resumable state "
                          "or its model); ship the model elsewhere")
    if path.exists():
        try:
            read_checkpoint(path)
        except InputError:
            raise ConfigError(f"ship_to {path} exists and is not a vsr model file; ship the model elsewhere") from None
    existing = next(parent for parent in path.parents if parent.exists())
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write ship_to {path}: {existing} is not writable")
    return path


def checked_output(cfg: Config) -> Path:
    """The [train] output folder, made now (before any training) or refused: a file, a folder that
    cannot be made, a place inside the training data."""
    out_dir = _resolve(cfg.train.output)
    for folder in cfg.data.train_dirs:
        if out_dir.resolve().is_relative_to(_resolve(folder).resolve()):
            raise ConfigError(f"[train] output {out_dir} is inside the training data ({folder}); choose another folder")
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"[train] output {out_dir} is a file; name a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"[train] output {out_dir} cannot be made: {exc.strerror or exc}") from None
    if not os.access(out_dir, os.W_OK | os.X_OK):  # found at the first checkpoint, the training until then lost
        raise ConfigError(f"[train] output {out_dir} is not writable")
    return out_dir


def train(
    cfg: Config,
    *,
    resume: bool = False,
    max_seconds: float | None = None,
    device: str | torch.device | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> TrainResult:
    """Train the model `cfg` describes; write `<output>/last.pt` periodically and `<output>/model.pt` at the end.

    resume: continue from `<output>/last.pt` (ConfigError if it was written by a different
    config). max_seconds: stop early (after checkpointing) once this much wall time has
    passed in this session; the run is then resumable and `finished` is False.
    device: "cpu", "cuda", ... (default: CUDA when available).
    Raises InputError for missing/unreadable data, ConfigError for inconsistent state.
    """
    t_cfg, d_cfg, m_cfg = cfg.train, cfg.data, cfg.model
    dev = named_device(device)
    missing = [folder for folder in d_cfg.train_dirs if not _resolve(folder).is_dir()]
    if missing:
        relative = any(not _resolve(folder).is_absolute() for folder in missing)
        raise ConfigError(f"[data] train_dirs: {', '.join(missing)} {'is not a folder' if len(missing) == 1 else 'are not folders'}"
                          f"{_RELATIVE_HINT.format(cwd=Path.cwd()) if relative else ''}")
    check_training_data(cfg)
    if cfg.init is not None and not (resume and (_resolve(t_cfg.output) / STATE_FILE).exists()):
        _init_path(cfg)  # missing: said before the output folder is made
    ship_path = checked_ship_path(cfg)
    paths = [p for d in d_cfg.train_dirs for p in list_images(_resolve(d))]  # a folder without images: before the output folder
    if dev.type == "cpu" and t_cfg.threads > 0:
        torch.set_num_threads(t_cfg.threads)
    out_dir = checked_output(cfg)
    state_path = out_dir / STATE_FILE
    if not resume and state_path.exists():
        raise ConfigError(f"{state_path} exists: pass resume to continue it, or delete the folder to start over")

    _seed_everything(t_cfg.seed)
    hparams = normalise_hparams(get_arch(m_cfg.arch), m_cfg.hparams)
    module = build(m_cfg.arch, m_cfg.scale, hparams)
    if cfg.init is not None and not (resume and state_path.exists()):  # a resumed run's weights are in its state
        _warm_start(module, cfg)
    module = module.to(dev)
    opt = torch.optim.Adam(module.parameters(), lr=t_cfg.lr, betas=(0.9, 0.999))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda it: lr_factor(cfg, it))
    gen = torch.Generator().manual_seed(t_cfg.seed)
    start_it, elapsed_before, best_val = 0, 0.0, None

    if resume and not state_path.exists():
        log.info("no resumable state in %s: starting from iteration 0", out_dir)
    if resume and state_path.exists():
        try:
            state = torch.load(state_path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - cut short, damaged: torch's own words name no file
            raise InputError(f"cannot read the resumable state {state_path}: damaged or cut short "
                             f"({type(exc).__name__}); remove it to start over") from None
        if not isinstance(state, dict):
            raise InputError(f"{state_path} is not the resumable state of `vsr train`; remove it to start over")
        if state.get("config") != cfg.to_dict():
            raise ConfigError(f"{state_path} was written by a different config; use a new output folder")
        module.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        start_it, elapsed_before, best_val = state["iteration"], state["elapsed"], state.get("val_psnr")
        log.info("resuming %s at iteration %d of %d", state_path, start_it, t_cfg.iterations)

    # data
    train_paths, val_paths = split_train_val(paths, d_cfg.val_count, t_cfg.seed)
    scale = m_cfg.scale
    if cfg.multiframe is None:
        train_pairs = load_pairs(train_paths, scale)
        val_pairs = load_pairs(val_paths, scale)
    else:
        train_pairs, val_pairs = _window_pairs(cfg, module, train_paths, val_paths)
    val_pairs = [centre_crop(p, d_cfg.val_crop, scale) for p in val_pairs]
    val_pairs = [p for p in val_pairs if min(p.hr.shape) > 2 * scale]  # something left after the border crop
    if scale == 1 and cfg.degrade is not None:
        val_pairs = degraded_validation(val_pairs, cfg.degrade, t_cfg.seed + 1)
    patches = dict(scale=scale, patch_size=d_cfg.patch_size, batch_size=d_cfg.batch_size,
                   flips=d_cfg.flips, rot90=d_cfg.rot90, jitter=d_cfg.jitter)
    if cfg.degrade is None or cfg.multiframe is not None:  # a multi-frame model's windows are degraded already
        sampler = PatchSampler(train_pairs, **patches, hr_phases=scale * scale if getattr(module, "refine", False) else 0)
    else:
        sampler = DegradedPatchSampler(train_pairs, cfg.degrade, **patches)
    crit = loss_fn(t_cfg.loss, t_cfg.charbonnier_eps)
    ac_dtype = autocast_dtype(t_cfg.amp, dev)
    log.info("%s x%d: %d training images, %d validation images, %d parameters, device %s, %s",
             m_cfg.arch, scale, len(sampler.pairs), len(val_pairs),
             sum(p.numel() for p in module.parameters()), dev,
             f"{str(ac_dtype).removeprefix('torch.')} autocast" if ac_dtype else "fp32")
    scaler = torch.amp.GradScaler("cuda") if (dev.type == "cuda" and ac_dtype == torch.float16) else None

    saved = [start_it] if state_path.exists() else []  # the iterations the state was saved at

    def save_state(it: int, elapsed: float) -> None:
        save_checkpoint(state_path, {
            "config": cfg.to_dict(),
            "iteration": it,
            "elapsed": elapsed,
            "val_psnr": best_val,
            "model": {k: v.detach().cpu() for k, v in module.state_dict().items()},
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "generator": gen.get_state(),
            "torch_rng": torch.get_rng_state(),
        })
        saved.append(it)  # once on disk: a stop during the save names the state that is there

    module.train()
    t0 = time.monotonic()
    losses: list[float] = []
    it = start_it
    stopped_early = False
    with _resumable_when_stopped(state_path, saved, t_cfg.iterations):
        while it < t_cfg.iterations:
            lr_b, hr_b = sampler.sample(gen)
            lr_b, hr_b = lr_b.to(dev, non_blocking=True), hr_b.to(dev, non_blocking=True)
            with _autocast(dev, ac_dtype):
                sr = module(lr_b)
            loss = crit(sr.float(), hr_b)
            opt.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                opt.step()
            sched.step()
            it += 1
            loss_v = float(loss.detach())
            if not math.isfinite(loss_v):
                raise ConfigError(f"training diverged at iteration {it} (loss {loss_v}); lower [train] lr")
            losses.append(loss_v)
            if it - start_it == 50 and it < t_cfg.iterations:
                rate = 50 / (time.monotonic() - t0)
                log.info("%.1f iterations/s on %s: about %.0f min for the remaining %d iterations",
                         rate, dev, (t_cfg.iterations - it) / rate / 60, t_cfg.iterations - it)
            if it % t_cfg.val_every == 0 or it == t_cfg.iterations:
                best_val = validate(module, val_pairs, scale, dev)
                log.info("iteration %d/%d: loss %.5f, validation PSNR %.3f dB, %.0f s",
                         it, t_cfg.iterations, loss_v, best_val, elapsed_before + time.monotonic() - t0)
            if progress is not None:
                progress(Progress(it, t_cfg.iterations, loss_v, opt.param_groups[0]["lr"], best_val))
            out_of_time = max_seconds is not None and time.monotonic() - t0 >= max_seconds
            if it % t_cfg.ckpt_every == 0 or it == t_cfg.iterations or out_of_time:
                save_state(it, elapsed_before + time.monotonic() - t0)
            if out_of_time and it < t_cfg.iterations:
                stopped_early = True
                log.info("time limit reached at iteration %d of %d after %.0f s; continue with --resume", it,
                         t_cfg.iterations, elapsed_before + time.monotonic() - t0)
                break

    elapsed = elapsed_before + time.monotonic() - t0
    if stopped_early:
        return TrainResult(it, False, elapsed, best_val, None, None, losses)
    return _finish(cfg, module, val_pairs, it, elapsed, out_dir, losses, ship_path)


@contextlib.contextmanager
def _resumable_when_stopped(state_path: Path, saved: list[int], iterations: int) -> Iterator[None]:
    """A run the user stops (Ctrl-C, a signal) says in a note where it can resume from: the state
    saved every ckpt_every iterations, not where it stopped."""
    try:
        yield
    except BaseException as exc:
        if not isinstance(exc, Exception):
            exc.add_note(f"the last checkpoint, iteration {saved[-1]} of {iterations}, is {state_path}: continue with --resume"
                         if saved else "no checkpoint was saved yet (every [train] ckpt_every iterations): the run starts over")
        raise


_RELATIVE_HINT = " (a config's paths are relative to the folder vsr runs in, {cwd}; those in configs/train to the repository root)"


def _init_path(cfg: Config) -> Path:
    """The [init] model file; ConfigError where it is not there, saying how it is made."""
    path = _resolve(cfg.init.file)
    if not path.is_file():
        made_by = (" (a training run's: train the config that writes it first)" if path.parts[:1] == ("runs",)
                   else "" if path.is_absolute() else _RELATIVE_HINT.format(cwd=Path.cwd()))
        raise ConfigError(f"[init] file not found: {path}{made_by}")
    return path


def _warm_start(module: nn.Module, cfg: Config) -> None:
    """Load the [init] model file's weights into `module` (ConfigError if it is missing, changed or does not fit)."""
    init, m_cfg = cfg.init, cfg.model
    path = _init_path(cfg)
    ckpt = read_checkpoint(path)
    digest = weights_sha256(ckpt)
    if init.weights_sha256 and digest != init.weights_sha256:
        raise ConfigError(f"[init] file {path} holds other weights (SHA-256 {digest}, the config names "
                          f"{init.weights_sha256}): make it again with the config it names, or restore it, "
                          "to reproduce this model")
    try:
        source_model = model_from_checkpoint(ckpt)
        source = source_model.module
        if get_arch(m_cfg.arch).multi_frame and not source_model.is_multi_frame:
            module.init_from_single(source)
        elif get_arch(str(ckpt["arch"])).builder is not get_arch(m_cfg.arch).builder:
            raise ValueError(f"it is {ckpt['arch']}, this config trains {m_cfg.arch}")
        elif int(ckpt["scale"]) == m_cfg.scale:
            if _shapes(source) == _shapes(module) or not hasattr(module, "grow_from"):
                module.load_state_dict(source.state_dict())
            else:  # a smaller model of the architecture
                module.grow_from(source)
        else:  # another scale (as EDSR starts x3/x4 from x2): all but the scale's own layers
            own = module.state_dict()
            shared = {k: v for k, v in source.state_dict().items() if k in own and own[k].shape == v.shape}
            if not any(v.dim() == 4 for v in shared.values()):
                raise ValueError(f"no convolution of the x{ckpt['scale']} model fits this x{m_cfg.scale} one")
            module.load_state_dict(shared, strict=False)
            log.info("from the x%s model: %d of %d tensors; the rest start as initialised",
                     ckpt["scale"], len(shared), len(own))
    except (AttributeError, ValueError, RuntimeError, UnsupportedModelError) as exc:
        raise ConfigError(f"[init] cannot start from {path}: {exc}") from None
    log.info("starting from %s (weights SHA-256 %s)", path, digest)


def _shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def _window_pairs(cfg: Config, module: nn.Module, train_paths: list[Path],
                  val_paths: list[Path]) -> tuple[list[Pair], list[Pair]]:
    """Aligned training and validation windows for a multi-frame model (vsr.train.sequences)."""
    mf, scale, seed = cfg.multiframe, cfg.model.scale, cfg.train.seed
    frames = module.frames
    single = load_model_file(_resolve(cfg.init.file)) if cfg.init is not None else None
    if single is not None and single.is_multi_frame:  # fine-tuning a multi-frame model
        single = None
    engine = single_frame_engine(module, scale, "cpu", single=single)  # as `vsr upscale` runs it on the CPU
    t0 = time.monotonic()
    damage = cfg.degrade  # each window's LR frames through a chain drawn from it (None: BI)
    train_pairs = synthetic_windows(train_paths, scale, frames, per_image=mf.windows_per_image, motion=mf.motion,
                                    seed=seed, objects=mf.objects, engine=engine, degrade=damage)
    if mf.clips and mf.clip_windows:
        train_pairs += clip_windows([_resolve(c) for c in mf.clips], scale, frames, count=mf.clip_windows,
                                    downscale=mf.clip_downscale, stride=mf.clip_stride, engine=engine,
                                    degrade=damage, seed=seed)
    val_pairs = synthetic_windows(val_paths, scale, frames, per_image=1, motion=mf.motion, seed=seed + 1,
                                  objects=mf.objects, engine=engine, degrade=damage)
    log.info("%d training and %d validation windows aligned in %.0f s",
             len(train_pairs), len(val_pairs), time.monotonic() - t0)
    return train_pairs, val_pairs


def _finish(cfg: Config, module: nn.Module, val_pairs: list[Pair], iterations: int, elapsed: float,
            out_dir: Path, losses: list[float], ship_path: Path | None = None) -> TrainResult:
    """Write the final, self-describing model file (and its shipped copy)."""
    m_cfg, t_cfg = cfg.model, cfg.train
    module = module.cpu().float().eval()
    storage = torch.float16 if t_cfg.weight_dtype == "float16" else torch.float32
    # measure everything on the weights exactly as they will be stored
    stored = checkpoint_dict(module, arch=m_cfg.arch, hparams=normalise_hparams(get_arch(m_cfg.arch), m_cfg.hparams),
                             scale=m_cfg.scale, supports_half=False, config=cfg.path, dtype=storage)
    final = module_from_checkpoint(stored)
    val_psnr = validate(final, val_pairs, m_cfg.scale, torch.device("cpu"))
    half_err = half_precision_error(final, val_pairs)
    supports_half = max(half_err.values()) <= 1
    metrics = {
        "val_psnr": val_psnr,
        "iterations": iterations,
        "train_seconds": round(elapsed, 1),
        "half_max_error_levels": half_err,
        "torch": str(torch.__version__),
        "train_config": cfg.to_dict(),
    }
    stored["supports_half"] = supports_half
    stored["metrics"] = metrics
    model_path = save_checkpoint(out_dir / MODEL_FILE, stored)
    if ship_path is not None:
        save_checkpoint(ship_path, stored)  # a new file renamed over the shipped one: never half written
    log.info("finished %d iterations in %.0f s: validation PSNR %.3f dB, half-precision error %s levels -> %s",
             iterations, elapsed, val_psnr, half_err, ship_path or model_path)
    return TrainResult(iterations, True, elapsed, val_psnr, model_path, ship_path, losses, metrics)


__all__ = ["train", "TrainResult", "Progress", "validate", "output_levels", "half_precision_error", "lr_factor"]
