"""Training configuration: frozen dataclasses loaded from TOML.

Unknown keys are rejected with the valid ones listed (ConfigError), so a typo never
silently falls back to a default. Paths in a config are relative to the directory the
command runs in (the repository root for the shipped configs).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

from vsr.degrade.config import DegradeConfig
from vsr.errors import ConfigError, UnsupportedModelError
from vsr.tomlfile import KIND_NAMES, read_toml
from vsr.models.registry import MULTI_FRAME_ARCHS, build

LOSSES = ("l1", "mse", "charbonnier")
SCHEDULES = ("cosine", "step", "constant")
AMP_MODES = ("auto", "bf16", "fp16", "none")


@dataclass(frozen=True)
class ModelConfig:
    arch: str
    scale: int
    hparams: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DataConfig:
    train_dirs: tuple[str, ...]
    val_count: int = 10  # images held out of train_dirs for validation (chosen by the seed)
    val_crop: int = 192  # HR centre crop used for validation PSNR (0: whole image)
    patch_size: int = 32  # LR patch side; the HR patch is scale times larger
    batch_size: int = 16
    flips: bool = True
    rot90: bool = True
    jitter: float = 0.0  # brightness/contrast jitter amplitude (0 disables)


@dataclass(frozen=True)
class TrainConfig:
    iterations: int
    lr: float = 1e-3
    warmup_iters: int = 100
    schedule: str = "cosine"  # cosine to min_lr_ratio*lr | step (gamma every step_every) | constant
    min_lr_ratio: float = 0.01
    step_every: int = 0
    gamma: float = 0.5
    loss: str = "l1"
    charbonnier_eps: float = 1e-3
    seed: int = 0
    val_every: int = 500
    ckpt_every: int = 250
    amp: str = "auto"  # auto: bf16 autocast on CPUs with native bf16 (else fp32), on CUDA bf16 where supported, else fp16
    threads: int = 1  # torch intra-op threads on CPU (0: leave torch's default)
    output: str = "runs/model"  # run folder: last.pt (resumable state), model.pt (final)
    ship_to: str = ""  # also write the final model file here (e.g. vsr/models/weights/espcn_x4.pt)
    weight_dtype: str = "float16"  # storage dtype of the final model file


@dataclass(frozen=True)
class MultiFrameConfig:
    """[multiframe]: the training windows of a multi-frame model (vsr.train.sequences)."""

    windows_per_image: int = 2  # synthetic sequences made from each training image
    motion: float = 3.0  # their largest camera speed, LR pixels per frame
    objects: float = 0.0  # the share of them with a piece of the picture moving on its own (occlusions)
    clips: tuple[str, ...] = ()  # real videos whose consecutive frames also make windows
    clip_windows: int = 0  # windows taken from each clip
    clip_stride: int = 12  # frames between the centres of a clip's windows
    clip_downscale: int = 2  # a clip's frames are reduced by this much to make the HR frames


@dataclass(frozen=True)
class InitConfig:
    """[init]: start from the weights of a model file instead of a random initialisation.

    The file is a model of the same architecture: same scale and size (fine-tuning), a
    `residual` with fewer blocks or channels (grown; it starts as the smaller one) or another scale
    (all but the upsampler). For a multi-frame model: a single-frame `residual` model (its
    weights; the neighbours start at zero).
    """

    file: str
    weights_sha256: str = ""  # vsr.models.checkpoint.weights_sha256 of the file, checked when given


@dataclass(frozen=True)
class Config:
    model: ModelConfig
    data: DataConfig
    train: TrainConfig
    path: str | None = None  # the file it was read from, as given
    multiframe: MultiFrameConfig | None = None  # only for multi-frame architectures
    init: InitConfig | None = None
    degrade: DegradeConfig | None = None  # LR made by random degradations (restoration models)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("path")
        for optional in ("multiframe", "init", "degrade"):
            if d[optional] is None:
                d.pop(optional)  # configs without them keep the dict they always had
        return _plain(d)


def _plain(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


REQUIRED_TYPES: dict[str, tuple[type, str]] = {
    "int": (int, "a whole number"), "str": (str, "a string"),
    "tuple[str, ...]": (tuple, "a list of strings"),
}
"""How the keys without a default are checked (those with one are checked against its type)."""


def _section(cls: type, raw: Any, where: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"[{where}] must be a table")
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(names))
    if unknown:
        raise ConfigError(f"unknown key(s) in [{where}]: {', '.join(unknown)}; valid keys: {', '.join(names)}")
    missing = [
        n for n, f in names.items()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and n not in raw
    ]
    if missing:
        raise ConfigError(f"missing key(s) in [{where}]: {', '.join(missing)}")
    values = {}
    for key, value in raw.items():
        f = names[key]
        default = f.default if f.default is not dataclasses.MISSING else None
        if isinstance(value, list):
            value = tuple(value)
        required = REQUIRED_TYPES.get(str(f.type)) if default is None else None
        if required is not None and (not isinstance(value, required[0]) or isinstance(value, bool)
                                     or (isinstance(value, tuple) and not all(isinstance(v, str) for v in value))):
            raise ConfigError(f"[{where}] {key} must be {required[1]}, got {value!r}")
        if isinstance(default, bool) and not isinstance(value, bool):
            raise ConfigError(f"[{where}] {key} must be true or false, got {value!r}")
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if default is not None and not isinstance(value, type(default)):
            kind = KIND_NAMES.get(type(default), ("a list" if isinstance(default, tuple) else type(default).__name__,))[0]
            raise ConfigError(f"[{where}] {key} must be {kind}, got {value!r}")
        values[key] = value
    return cls(**values)


def config_from_dict(raw: dict[str, Any], path: str | None = None) -> Config:
    """Validate a parsed TOML document. Raises ConfigError naming the bad key or value."""
    sections = {"model": ModelConfig, "data": DataConfig, "train": TrainConfig}
    optional = {"multiframe": MultiFrameConfig, "init": InitConfig, "degrade": DegradeConfig}
    unknown = sorted(set(raw) - set(sections) - set(optional))
    if unknown:
        raise ConfigError(
            f"unknown section(s): {', '.join(unknown)}; valid sections: {', '.join([*sections, *optional])}"
        )
    for name in sections:
        if name not in raw:
            raise ConfigError(f"missing section [{name}]")
    model_raw = dict(raw["model"])
    model = _section(ModelConfig, model_raw, "model")
    if not isinstance(model.hparams, dict):
        raise ConfigError("[model] hparams must be a table")
    data = _section(DataConfig, raw["data"], "data")
    train = _section(TrainConfig, raw["train"], "train")
    multiframe, init, degrade = (_section(cls, raw[name], name) if name in raw else None for name, cls in optional.items())
    if degrade is not None:
        degrade.check()
    cfg = Config(model, data, train, path, multiframe, init, degrade)
    validate(cfg)
    return cfg


def validate(cfg: Config) -> None:
    try:
        build(cfg.model.arch, cfg.model.scale, cfg.model.hparams)  # the [model] table's errors first
    except UnsupportedModelError as exc:
        raise ConfigError(f"[model] {exc}") from None
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"[model] {exc}") from None
    t, d = cfg.train, cfg.data
    checks = [
        (t.loss in LOSSES, f"[train] loss must be one of {', '.join(LOSSES)}, got {t.loss!r}"),
        (t.schedule in SCHEDULES, f"[train] schedule must be one of {', '.join(SCHEDULES)}, got {t.schedule!r}"),
        (t.amp in AMP_MODES, f"[train] amp must be one of {', '.join(AMP_MODES)}, got {t.amp!r}"),
        (t.weight_dtype in ("float16", "float32"), f"[train] weight_dtype must be float16 or float32, got {t.weight_dtype!r}"),
        (t.iterations > 0, f"[train] iterations must be > 0, got {t.iterations}"),
        (0 <= t.seed < 2**63, f"[train] seed must be a whole number from 0 to 2**63 - 1, got {t.seed}"),
        (t.threads >= 0, f"[train] threads must be >= 0 (0: torch's default), got {t.threads}"),
        (bool(t.output.strip()), "[train] output must name a folder (empty: the files would land in the current folder)"),
        (t.lr > 0, f"[train] lr must be > 0, got {t.lr}"),
        (0.0 <= t.min_lr_ratio <= 1.0, f"[train] min_lr_ratio must be in [0, 1], got {t.min_lr_ratio}"),
        (t.warmup_iters >= 0, f"[train] warmup_iters must be >= 0, got {t.warmup_iters}"),
        (d.val_crop >= 0, f"[data] val_crop must be >= 0 (0: whole images), got {d.val_crop}"),
        (t.val_every > 0 and t.ckpt_every > 0, "[train] val_every and ckpt_every must be > 0"),
        (t.schedule != "step" or t.step_every > 0, "[train] schedule 'step' needs step_every > 0"),
        (0.0 < t.gamma <= 1.0, f"[train] gamma must be in (0, 1] (the factor the step schedule multiplies lr by), got {t.gamma}"),
        (d.patch_size >= 4, f"[data] patch_size must be >= 4, got {d.patch_size}"),
        (d.batch_size >= 1, f"[data] batch_size must be >= 1, got {d.batch_size}"),
        (d.val_count >= 0, f"[data] val_count must be >= 0, got {d.val_count}"),
        (0.0 <= d.jitter < 1.0, f"[data] jitter must be in [0, 1), got {d.jitter}"),
        (len(d.train_dirs) > 0, "[data] train_dirs must name at least one folder"),
    ]
    multi = cfg.model.arch in MULTI_FRAME_ARCHS
    mf = cfg.multiframe
    checks += [
        (multi == (mf is not None), f"[multiframe] is {'required' if multi else 'only for multi-frame models'} "
                                    f"for arch {cfg.model.arch!r}"),
        (cfg.degrade is None or d.jitter == 0.0, "[data] jitter must be 0 with [degrade]"),
        (cfg.degrade is None or (d.patch_size % 2 == 0), "[data] patch_size must be even with [degrade] (codec passes)"),
        (not multi or d.jitter == 0.0, "[data] jitter must be 0 for a multi-frame model (it would alter the confidences)"),
    ]
    if mf is not None:
        checks += [
            (mf.windows_per_image >= 0 and mf.clip_windows >= 0, "[multiframe] window counts must be >= 0"),
            (mf.motion >= 0, f"[multiframe] motion must be >= 0, got {mf.motion}"),
            (0.0 <= mf.objects <= 1.0, f"[multiframe] objects must be in [0, 1], got {mf.objects}"),
            (mf.clip_stride >= 1 and mf.clip_downscale >= 1, "[multiframe] clip_stride and clip_downscale must be >= 1"),
            (mf.windows_per_image > 0 or (mf.clips and mf.clip_windows > 0), "[multiframe] gives no training windows"),
        ]
    for ok, msg in checks:
        if not ok:
            raise ConfigError(msg)


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a training config (TOML). Raises ConfigError."""
    return config_from_dict(read_toml(path), str(path))
