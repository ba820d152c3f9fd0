"""Training: config validation, LR/HR pairs, a smoke run that lowers the loss, exact resume."""

from __future__ import annotations

import logging
import re
import shutil
import tomllib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from vsr.cli import app
from vsr.train.config import config_from_dict, load_config
from vsr.errors import ConfigError, InputError
from vsr.models import load_model_file
from vsr.models.checkpoint import weights_sha256
from vsr.eval.protocol import list_images, load_pairs
from vsr.train.data import PatchSampler
from vsr.train.loop import autocast_dtype, half_precision_error, lr_factor, train
from vsr.resample.matlab import imresize

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / "configs" / "train").glob("*.toml"))

torch.set_num_threads(1)


def _write_images(folder: Path, n: int = 4, size: int = 72) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        img = np.zeros((size, size + 8 * i, 3), np.uint8)
        img[:] = rng.integers(40, 200, 3)
        for _ in range(8):
            x0, y0 = (int(v) for v in rng.integers(0, size, 2))
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            cv2.circle(img, (x0, y0), int(rng.integers(4, 20)), colour, int(rng.integers(1, 4)), cv2.LINE_AA)
            cv2.line(img, (x0, 0), (size - x0, size), colour, 2, cv2.LINE_AA)
        cv2.imwrite(str(folder / f"img_{i}.png"), img)
    return folder


def _config(tmp_path: Path, **train_overrides) -> dict:
    raw = {
        "model": {"arch": "espcn", "scale": 2, "hparams": {"features": [16, 8], "global_skip": False}},
        "data": {"train_dirs": [str(_write_images(tmp_path / "images"))], "val_count": 1, "val_crop": 48,
                 "patch_size": 12, "batch_size": 4, "jitter": 0.1},
        "train": {"iterations": 40, "lr": 3e-3, "warmup_iters": 5, "seed": 3, "val_every": 20, "ckpt_every": 10,
                  "amp": "none", "threads": 1, "output": str(tmp_path / "run"), "ship_to": ""},
    }
    raw["train"].update(train_overrides)
    return raw


@pytest.mark.slow
def test_smoke_run_lowers_the_loss_and_writes_a_loadable_model(tmp_path):
    cfg = config_from_dict(_config(tmp_path), "configs/train/smoke.toml")
    result = train(cfg)
    assert result.finished and result.iterations == 40
    first, last = np.mean(result.losses[:10]), np.mean(result.losses[-10:])
    assert last < first, (first, last)
    model = load_model_file(result.model_path)
    assert model.scale == 2 and model.config == "configs/train/smoke.toml"
    # on a fixed batch, the trained model beats the untrained one
    pairs = load_pairs(list_images(tmp_path / "images"), 2)
    lr, hr = PatchSampler(pairs, scale=2, patch_size=12, batch_size=16).sample(torch.Generator().manual_seed(9))
    with torch.inference_mode():
        before = torch.nn.functional.l1_loss(_untrained(cfg)(lr), hr)
        after = torch.nn.functional.l1_loss(model.module(lr), hr)
    assert after < before


def _untrained(cfg):
    from vsr.models import build

    torch.manual_seed(cfg.train.seed)  # the loop seeds the same way before it builds the model
    return build(cfg.model.arch, cfg.model.scale, cfg.model.hparams).eval()


@pytest.mark.slow
def test_resume_continues_exactly(tmp_path):
    straight = train(config_from_dict(_config(tmp_path / "a", iterations=12, val_every=6)))
    cfg_b = config_from_dict(_config(tmp_path / "b", iterations=12, val_every=6))
    first = train(cfg_b, max_seconds=0.0)  # stops (resumably) after its first step
    assert not first.finished and first.iterations == 1 and first.model_path is None
    with pytest.raises(ConfigError, match="resume"):
        train(cfg_b)  # refuses to overwrite a run in progress
    second = train(cfg_b, resume=True)
    assert second.finished and second.iterations == 12
    a = torch.load(straight.model_path, weights_only=True)["state_dict"]
    b = torch.load(second.model_path, weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def _run_in(output: Path, raw: dict, **sections) -> dict:
    """`raw` with some sections replaced, training into its own folder `output`."""
    return {**raw, **sections, "train": {**raw["train"], "output": str(output)}}


@pytest.mark.slow
def test_init_starts_from_a_model_file_and_checks_its_weights(tmp_path):
    base = train(config_from_dict(_config(tmp_path / "a", iterations=20, val_every=10)))
    base_ckpt = torch.load(base.model_path, weights_only=True)
    digest = weights_sha256(base_ckpt)
    # the digest names the weights, not the file: other metrics, same digest
    assert weights_sha256({**base_ckpt, "metrics": {"train_seconds": 1.0}}) == digest
    raw = {**_config(tmp_path / "b", iterations=1, lr=1e-9, warmup_iters=0),
           "init": {"file": str(base.model_path), "weights_sha256": digest}}
    tuned = torch.load(train(config_from_dict(raw)).model_path, weights_only=True)
    assert tuned["metrics"]["train_config"]["init"]["file"] == str(base.model_path)
    assert weights_sha256(tuned) == digest  # a step of 1e-9 does not move the fp16-stored weights
    cold = _run_in(tmp_path / "cold", raw)
    cold.pop("init")
    assert weights_sha256(torch.load(train(config_from_dict(cold)).model_path, weights_only=True)) != digest
    wrong = _run_in(tmp_path / "c", raw, init={"file": str(base.model_path), "weights_sha256": "0" * 64})
    with pytest.raises(ConfigError, match="other weights"):
        train(config_from_dict(wrong))
    # another scale takes every layer but the upsampler
    other_scale = _run_in(tmp_path / "d", raw, model={**raw["model"], "scale": 3},
                          init={"file": str(base.model_path)})
    x3_cfg = config_from_dict(other_scale)
    x3 = torch.load(train(x3_cfg).model_path, weights_only=True)["state_dict"]
    assert torch.equal(x3["conv1.weight"], base_ckpt["state_dict"]["conv1.weight"])
    assert torch.equal(x3["conv3.weight"], _untrained(x3_cfg).conv3.weight.half())  # the x3 upsampler: as built
    other_arch = _run_in(tmp_path / "g", other_scale, model={"arch": "fsrcnn", "scale": 2, "hparams": {}})
    with pytest.raises(ConfigError, match="cannot start from.*trains fsrcnn"):
        train(config_from_dict(other_arch))
    other_size = _run_in(tmp_path / "h", raw,
                         model={**raw["model"], "hparams": {"features": [8, 8], "global_skip": False}})
    with pytest.raises(ConfigError, match="cannot start from"):
        train(config_from_dict(other_size))
    with pytest.raises(ConfigError, match="file not found"):
        train(config_from_dict(_run_in(tmp_path / "e", raw, init={"file": str(tmp_path / "none.pt")})))
    assert "init" not in config_from_dict(_config(tmp_path / "f")).to_dict()  # configs without it unchanged


@pytest.mark.slow
def test_a_clean_up_model_trains_at_x1_and_validates_on_damaged_images(tmp_path):
    raw = _config(tmp_path, iterations=6, val_every=3)
    raw["model"] = {"arch": "stream", "scale": 1, "hparams": {"channels": 8, "blocks": 1}}
    raw["data"]["jitter"] = 0.0
    raw["degrade"] = {"clean_prob": 0.2, "codec_prob": 0.8, "x264_crf": [30, 40], "margin": 4}
    result = train(config_from_dict(raw))
    model = load_model_file(result.model_path)
    assert result.finished and model.scale == 1 and model.name == "stream"
    assert 15.0 < result.val_psnr < 60.0  # a clean pair would be the identity: inf dB
    with torch.inference_mode():
        assert model.module(torch.rand(1, 1, 20, 24)).shape == (1, 1, 20, 24)


@pytest.mark.slow
def test_init_grows_a_residual_model_into_more_blocks(tmp_path):
    small = {**_config(tmp_path / "a", iterations=10, val_every=5),
             "model": {"arch": "residual", "scale": 2, "hparams": {"channels": 8, "blocks": 1}}}
    small_ckpt = torch.load(train(config_from_dict(small)).model_path, weights_only=True)
    grown = {**small, "model": {**small["model"], "hparams": {"channels": 8, "blocks": 3}},
             "init": {"file": str(tmp_path / "a" / "run" / "model.pt")},
             "train": {**small["train"], "iterations": 1, "lr": 1e-9, "warmup_iters": 0, "output": str(tmp_path / "b")}}
    state = torch.load(train(config_from_dict(grown)).model_path, weights_only=True)["state_dict"]
    assert all(torch.equal(state[k], v) for k, v in small_ckpt["state_dict"].items())
    assert not state["body.2.conv2.weight"].any() and state["body.2.conv1.weight"].any()


@pytest.mark.slow
def test_resume_with_a_different_config_is_refused(tmp_path):
    train(config_from_dict(_config(tmp_path, iterations=5)), max_seconds=0.0)
    other = config_from_dict(_config(tmp_path, iterations=6))
    with pytest.raises(ConfigError, match="different config"):
        train(other, resume=True)


@pytest.mark.parametrize("state", [b"", b"PK\x03\x04 cut short"])
def test_a_damaged_resumable_state_is_one_line_naming_it(tmp_path, state, caplog):
    """torch's "PytorchStreamReader failed ..." or a bare "EOFError", naming no file; and --resume
    where there is no state started from 0 without a word."""
    cfg = config_from_dict(_config(tmp_path))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "last.pt").write_bytes(state)
    with pytest.raises(InputError, match=r"cannot read the resumable state .*last\.pt: damaged or cut short .*remove it"):
        train(cfg, resume=True)
    (tmp_path / "run" / "last.pt").unlink()
    with caplog.at_level(logging.INFO, logger="vsr"):
        train(config_from_dict(_config(tmp_path, iterations=1, val_every=1, ckpt_every=1)), resume=True)
    assert "no resumable state in" in caplog.text


def test_a_folder_given_as_a_weight_file_is_said_to_be_one(tmp_path):
    from vsr.models import load_model_file

    (tmp_path / "adir.pt").mkdir()
    with pytest.raises(InputError, match="adir.pt is a folder, not a weight file"):
        load_model_file(tmp_path / "adir.pt")


def test_config_rejects_unknown_keys_and_bad_values(tmp_path):
    raw = _config(tmp_path)
    raw["train"]["learning_rate"] = 1.0
    with pytest.raises(ConfigError, match=r"learning_rate.*valid keys: iterations, lr"):
        config_from_dict(raw)
    raw = _config(tmp_path)
    raw["train"]["loss"] = "l3"
    with pytest.raises(ConfigError, match=r"l1, mse, charbonnier"):
        config_from_dict(raw)
    raw = _config(tmp_path)
    raw["model"]["scale"] = 5
    with pytest.raises(ConfigError, match=r"scale 5"):
        config_from_dict(raw)
    raw = _config(tmp_path)
    raw["model"]["arch"] = "vdsr"
    with pytest.raises(ConfigError, match=r"'vdsr'.*espcn"):
        config_from_dict(raw)
    raw = _config(tmp_path)
    raw["data"]["flips"] = "yes"
    with pytest.raises(ConfigError, match="true or false"):
        config_from_dict(raw)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")


@pytest.mark.parametrize("section, key, value, message", [
    ("train", "iterations", "30", "iterations must be a whole number"),
    ("model", "scale", "2", "scale must be a whole number"),
    ("data", "train_dirs", "/tmp/images", "train_dirs must be a list of strings"),  # was read letter by letter
    ("train", "min_lr_ratio", -1.0, "min_lr_ratio must be in [0, 1]"),
    ("train", "warmup_iters", -5, "warmup_iters must be >= 0"),
    ("train", "ckpt_every", 2.5, "[train] ckpt_every must be a whole number, got 2.5"),  # was "must be a int"
    ("train", "gamma", -1.0, "[train] gamma must be in (0, 1]"),  # a learning rate that flipped sign
    ("model", "hparams", {"features": [8]}, "[model] hparams.features must be a list of 2 like [64, 32], got [8]"),
    ("model", "hparams", {"features": "8"}, "hparams.features must be a list of 2"),  # was "not enough values to unpack"
    ("model", "hparams", {"global_skip": 1}, "[model] hparams.global_skip must be true or false, got 1"),
    ("train", "seed", 99999999999999999999, "[train] seed must be a whole number from 0 to 2**63 - 1"),  # a raw overflow
    ("train", "threads", -2, "[train] threads must be >= 0"),  # silently torch's default
    ("train", "output", "", "[train] output must name a folder"),  # wrote into the current folder
])
def test_config_checks_the_types_of_required_keys_and_the_ranges(tmp_path, section, key, value, message):
    raw = _config(tmp_path)
    raw[section][key] = value
    with pytest.raises(ConfigError, match=re.escape(message)):
        config_from_dict(raw)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_configs_are_valid_and_name_their_weights(path):
    cfg = load_config(path)
    shipped = f"{cfg.model.arch}_x{cfg.model.scale}"
    assert path.stem == shipped or path.stem.startswith(shipped + "_")  # <arch>_x<s>_<step>: a step before it
    assert cfg.train.ship_to == (f"vsr/models/weights/{path.stem}.pt" if path.stem == shipped else "")
    assert cfg.train.output == f"runs/{path.stem}"
    with open(path, "rb") as f:
        assert tomllib.load(f)["train"]["iterations"] == cfg.train.iterations
    if cfg.init is not None:  # a shipped file with the named weights, or what another config here makes
        if cfg.init.file.startswith("vsr/"):
            assert cfg.init.weights_sha256 == weights_sha256(torch.load(REPO / cfg.init.file, weights_only=True))
        else:
            assert cfg.init.weights_sha256 and cfg.init.file in {f"runs/{p.stem}/model.pt" for p in CONFIGS}


def test_schedule_warms_up_then_decays():
    cfg = config_from_dict(_config(Path("/nonexistent"), iterations=100, warmup_iters=10))
    factors = [lr_factor(cfg, i) for i in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(factors[9:], factors[10:]))
    assert factors[-1] == pytest.approx(cfg.train.min_lr_ratio, abs=0.01)


def test_pairs_are_aligned_through_augmentation(tmp_path):
    pairs = load_pairs(list_images(_write_images(tmp_path / "img")), 3)
    for p in pairs:
        assert p.hr.shape == (3 * p.lr.shape[0], 3 * p.lr.shape[1]) and p.lr.dtype == np.uint8
    sampler = PatchSampler(pairs, scale=3, patch_size=16, batch_size=32)
    lr, hr = sampler.sample(torch.Generator().manual_seed(0))
    assert lr.shape == (32, 1, 16, 16) and hr.shape == (32, 1, 48, 48)
    for k in range(32):
        down = imresize(hr[k, 0].numpy() * 255, 1 / 3)
        inner = np.abs(down - lr[k, 0].numpy() * 255)[3:-3, 3:-3]
        assert inner.mean() < 1.0  # aligned (borders differ: the patch has no context outside)


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\") + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    return repr(v)


def _write_toml(path: Path, raw: dict) -> Path:
    lines = []
    for section, values in raw.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.slow
def test_train_command_runs_resumes_and_reports_bad_configs_in_one_line(tmp_path):
    runner = CliRunner()
    raw = _config(tmp_path, iterations=8, ship_to=str(tmp_path / "shipped" / "espcn_x2.pt"))
    cfg_path = _write_toml(tmp_path / "espcn_x2.toml", raw)
    res = runner.invoke(app, ["train", "--config", str(cfg_path), "--max-minutes", "0", "--quiet"])
    assert res.exit_code == 0, res.output
    assert not (tmp_path / "shipped" / "espcn_x2.pt").exists()
    res = runner.invoke(app, ["train", "--config", str(cfg_path), "--quiet"])
    assert res.exit_code == 1 and "resume" in res.output  # a run in progress is never overwritten
    res = runner.invoke(app, ["train", str(cfg_path), "--resume", "--quiet"])  # the config as an argument, as the input of the others
    assert res.exit_code == 0, res.output
    model = load_model_file(tmp_path / "shipped" / "espcn_x2.pt")
    assert model.config == str(cfg_path)
    raw["train"]["bogus"] = 1
    bad = _write_toml(tmp_path / "bad.toml", raw)
    res = runner.invoke(app, ["train", "--config", str(bad)])
    assert res.exit_code == 1
    assert "unknown key(s) in [train]: bogus" in res.output and "Traceback" not in res.output
    for twice_or_none in ([], [str(bad), "--config", str(bad)]):  # a usage mistake, as a missing argument is
        res = runner.invoke(app, ["train", *twice_or_none])
        assert res.exit_code == 2 and "the training config: give it once" in res.output


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.slow
def test_smoke_run_on_cuda_with_mixed_precision(tmp_path):
    cfg = config_from_dict(_config(tmp_path, iterations=20, amp="auto"))
    result = train(cfg, device="cuda")
    assert result.finished
    assert np.mean(result.losses[-5:]) < np.mean(result.losses[:5])
    model = load_model_file(result.model_path)  # always written as a CPU, float32-loadable file
    assert next(model.module.parameters()).device.type == "cpu"


@pytest.mark.parametrize("native, expected", [(True, torch.bfloat16), (False, None)])
def test_automatic_mixed_precision_on_the_cpu_only_where_bf16_is_native(monkeypatch, native, expected):
    monkeypatch.setattr("vsr.train.loop.cpu_has_fast_bf16", lambda: native)
    assert autocast_dtype("auto", torch.device("cpu")) is expected
    assert autocast_dtype("bf16", torch.device("cpu")) is torch.bfloat16  # asked for: always


def test_without_validation_images_half_precision_is_not_vouched_for():
    from vsr.models.registry import build

    module = build("espcn", 2)
    assert half_precision_error(module, []) == {"bf16": 255, "fp16": 255}  # the model then runs in fp32


@pytest.mark.parametrize("where, message", [
    ("images/model.pt", "is inside the training data"),
    ("a_folder", "is a folder; name the model file"),
    ("run/last.pt", "is one of the run's own files"),  # the shipped file replaced the resumable state
    ("weights/espcn_x4.pt", "names espcn x4, but this config trains espcn x2: name it espcn_x2.pt"),  # load_model took it as x4
    ("weights/fsrcnn_x2.pt", "names fsrcnn x2, but this config trains espcn x2"),
])
def test_a_ship_to_that_would_destroy_something_is_refused_before_training(tmp_path, monkeypatch, where, message):
    (tmp_path / "a_folder").mkdir()
    cfg = config_from_dict(_config(tmp_path, ship_to=str(tmp_path / where)), "configs/train/smoke.toml")
    monkeypatch.setattr("vsr.train.loop.load_pairs", lambda *a: pytest.fail("the data was loaded"))
    with pytest.raises(ConfigError, match=message):
        train(cfg)


@pytest.mark.parametrize("device, message", [("gpu", "unknown device 'gpu'; use cpu, cuda or cuda:N"),
                                             ("cuda:7", "no CUDA device is available; use --device cpu")])
def test_a_device_that_is_not_here_is_one_line(tmp_path, device, message):
    if device == "cuda:7" and torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    if device == "cuda:7" and torch.cuda.is_available():
        message = f"this machine has {torch.cuda.device_count()} CUDA device(s)"
    cfg_path = _write_toml(tmp_path / "espcn_x2.toml", _config(tmp_path, iterations=2))
    res = CliRunner().invoke(app, ["train", "--config", str(cfg_path), "--device", device, "--quiet"])
    assert res.exit_code == 1
    assert message in res.output and "Traceback" not in res.output


def test_the_shipped_file_is_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    """Shipping copied over the shipped file in place: a full disk left it cut short."""
    shipped = tmp_path / "weights" / "espcn_x2.pt"
    shipped.parent.mkdir()
    shutil.copy(REPO / "vsr" / "models" / "weights" / "espcn_x2.pt", shipped)
    previous = shipped.read_bytes()
    cfg = config_from_dict(_config(tmp_path, iterations=2, val_every=2, ckpt_every=2, ship_to=str(shipped)),
                           "configs/train/smoke.toml")
    real_save = torch.save

    def save(obj, path, *args, **kwargs):
        if Path(path).parent == shipped.parent:
            Path(path).write_bytes(b"half a fi")
            raise OSError(28, "No space left on device")
        return real_save(obj, path, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    with pytest.raises(OSError, match="No space left"):
        train(cfg)
    assert shipped.read_bytes() == previous
    assert sorted(p.name for p in shipped.parent.iterdir()) == ["espcn_x2.pt"]


@pytest.mark.parametrize("where, message", [
    ("notes.txt", "exists and is not a vsr model file"),
    ("smoke.toml", "exists and is not a vsr model file"),
    ("init.pt", "is the [init] file this training starts from"),
])
def test_a_ship_to_over_a_file_that_is_not_a_model_or_over_the_init_file_is_refused(tmp_path, monkeypatch, where, message):
    """ship_to replaced whatever was there, the config itself included, after a whole training."""
    from vsr.models.checkpoint import checkpoint_dict, save_checkpoint
    from vsr.models.registry import build

    (tmp_path / "notes.txt").write_text("my notes")
    (tmp_path / "smoke.toml").write_text("[model]\n")
    save_checkpoint(tmp_path / "init.pt", checkpoint_dict(build("espcn", 2), arch="espcn", hparams={}, scale=2,
                                                          supports_half=False, config="x"))
    raw = _config(tmp_path, ship_to=str(tmp_path / where))
    raw["init"] = {"file": str(tmp_path / "init.pt")}
    cfg = config_from_dict(raw, str(tmp_path / "smoke.toml"))
    monkeypatch.setattr("vsr.train.loop.load_pairs", lambda *a: pytest.fail("the data was loaded"))
    with pytest.raises(ConfigError, match=re.escape(message)):
        train(cfg)
    assert (tmp_path / "notes.txt").read_text() == "my notes" and (tmp_path / "smoke.toml").read_text() == "[model]\n"


@pytest.mark.parametrize("where, message", [("notes.txt", "is a file; name a folder"), ("images/run", "is inside the training data"),
                                            ("locked", "is not writable")])
def test_an_output_folder_that_cannot_be_is_refused_before_training(tmp_path, monkeypatch, where, message):
    """It was found at the first checkpoint, 250 iterations in, as 'FileExistsError: [Errno 17] File exists'
    (a read-only folder: 'OSError: [Errno 30] Read-only file system', the training until then lost)."""
    import os

    (tmp_path / "notes.txt").write_text("my notes")
    (tmp_path / "locked").mkdir()
    real_access = os.access
    monkeypatch.setattr("vsr.train.loop.os.access",  # root may write anywhere: a read-only mount, as os.access says it
                        lambda path, mode: False if str(path) == str(tmp_path / "locked") else real_access(path, mode))
    cfg = config_from_dict(_config(tmp_path, output=str(tmp_path / where)), "configs/train/smoke.toml")
    monkeypatch.setattr("vsr.train.loop.load_pairs", lambda *a: pytest.fail("the data was loaded"))
    with pytest.raises(ConfigError, match=re.escape(f"[train] output {tmp_path / where} {message}")):
        train(cfg)


def test_a_training_folder_that_is_not_there_is_named_as_the_config_key(tmp_path):
    raw = _config(tmp_path)
    raw["data"]["train_dirs"] = [raw["data"]["train_dirs"][0], str(tmp_path / "nothere")]
    with pytest.raises(ConfigError, match=re.escape(f"[data] train_dirs: {tmp_path / 'nothere'} is not a folder")):
        train(config_from_dict(raw, "configs/train/smoke.toml"))


def test_a_missing_init_file_is_said_before_the_output_folder_is_made(tmp_path):
    """It left an empty run folder behind, and its hint spoke of runs/ for any path."""
    raw = {**_config(tmp_path), "init": {"file": "gone.pt"}}
    with pytest.raises(ConfigError, match=r"^\[init\] file not found: gone\.pt \(a config's paths are relative"):
        train(config_from_dict(raw))
    assert not (tmp_path / "run").exists()
    raw["init"]["file"] = str(tmp_path / "gone.pt")  # an absolute path: no word of relative ones
    with pytest.raises(ConfigError, match=r"^\[init\] file not found: .*gone\.pt$"):
        train(config_from_dict(raw))


def test_a_run_started_from_an_init_file_resumes_without_it(tmp_path):
    """The resume loaded the [init] file again (its weights are in the run's state): a run whose init
    file was moved or retrained could not go on ("[init] file not found")."""
    base = train(config_from_dict(_config(tmp_path / "a", iterations=10, val_every=10)))
    init = tmp_path / "init.pt"
    init.write_bytes(base.model_path.read_bytes())
    raw = {**_config(tmp_path / "b", iterations=20, val_every=10),
           "init": {"file": str(init), "weights_sha256": weights_sha256(torch.load(init, weights_only=True))}}
    stopped = train(config_from_dict(raw), max_seconds=0)
    assert not stopped.finished
    init.unlink()
    resumed = train(config_from_dict(raw), resume=True)
    assert resumed.finished and resumed.iterations == 20


def test_weights_beyond_the_half_types_range_are_not_half_safe_rather_than_a_crash():
    """lr = 1e9: the fp16 copy's outputs were NaN and int(NaN) ended the run after its last iteration."""
    from vsr.train.loop import _levels_apart

    ref = np.array([[10.0, 20.0]])
    assert _levels_apart(ref, np.array([[11.0, 20.0]])) == 1
    assert _levels_apart(ref, np.array([[np.nan, 20.0]])) == 255
    assert _levels_apart(ref, np.array([[np.inf, 20.0]])) == 255


@pytest.mark.parametrize("where", ["bench/Set5", "video/Vid4/walk"])
def test_evaluation_data_is_refused_as_training_data_before_any_work(tmp_path, where):
    """The data's MANIFEST.md says never to train on bench/ or video/: nothing enforced it (and for
    Vid4 the error advised naming one of its sequences)."""
    data = tmp_path / "data"
    (data / "MANIFEST.md").parent.mkdir()
    (data / "MANIFEST.md").write_text("never train on bench/ or video/")
    images = _write_images(data / where)
    raw = _config(tmp_path)
    raw["data"]["train_dirs"] = [str(images)]
    with pytest.raises(ConfigError, match=f"{images} is evaluation data .*never train on it"):
        train(config_from_dict(raw, "configs/train/smoke.toml"))
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("second", ["images/", "images/inner"])
def test_a_training_folder_named_twice_is_refused(tmp_path, second):
    """Its images were counted twice, and the validation images were among the training ones."""
    raw = _config(tmp_path)
    _write_images(tmp_path / "images" / "inner")
    raw["data"]["train_dirs"] = [str(tmp_path / "images"), str(tmp_path / second)]
    with pytest.raises(ConfigError, match="the same or one inside the other"):
        train(config_from_dict(raw, "configs/train/smoke.toml"))


def test_a_training_folder_without_images_leaves_no_output_folder(tmp_path):
    raw = _config(tmp_path)
    (tmp_path / "empty").mkdir()
    raw["data"]["train_dirs"] = [str(tmp_path / "empty")]
    with pytest.raises(InputError, match="no images"):
        train(config_from_dict(raw, "configs/train/smoke.toml"))
    assert not (tmp_path / "run").exists()


def test_a_stopped_run_says_where_it_can_resume_from(tmp_path):
    """Ctrl-C said only "vsr: interrupted": not that the state of an earlier iteration waits for --resume."""
    cfg = config_from_dict(_config(tmp_path, iterations=40, ckpt_every=10, val_every=40))

    def stop_at_15(progress) -> None:
        if progress.iteration == 15:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as stopped:
        train(cfg, progress=stop_at_15)
    assert stopped.value.__notes__ == [f"the last checkpoint, iteration 10 of 40, is {tmp_path / 'run' / 'last.pt'}: "
                                       "continue with --resume"]
