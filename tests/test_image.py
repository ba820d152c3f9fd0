"""Still images through `vsr upscale`: exact size, same channels and depth, content close to the input."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

import vsr
from vsr.errors import InputError, OutputError
from vsr.pipeline import image as still
from vsr.pipeline.image import StillTiling, upscale_image
from videoclips import draw_frame, listing, psnr

BICUBIC = ("-m", "bicubic")


def photo(height: int = 40, width: int = 52, channels: int = 3, dtype=np.uint8) -> np.ndarray:
    """A smooth colour picture (BGR order, as OpenCV writes it), optionally with an alpha ramp or as grey."""
    rgb = draw_frame(5, width, height).astype(np.float32) / 255.0
    rgb = cv2.GaussianBlur(rgb, (0, 0), 0.8)
    bgr = rgb[..., ::-1]
    if channels == 1:
        image = cv2.cvtColor(np.ascontiguousarray(bgr), cv2.COLOR_BGR2GRAY)
    elif channels == 4:
        alpha = np.linspace(0.2, 1.0, width, dtype=np.float32)[None, :].repeat(height, axis=0)
        image = np.dstack([bgr, alpha])
    else:
        image = bgr
    peak = np.iinfo(dtype).max
    return np.clip(np.rint(image * peak), 0, peak).astype(dtype)


def rgb_profile(body: bytes, space: bytes = b"RGB ") -> bytes:
    """`body` as an ICC profile of colour space `space` (bytes 16–19, what vsr checks against the pixels)."""
    return body[:16] + space + body[20:]


def downscaled_psnr(big: np.ndarray, small: np.ndarray) -> float:
    height, width = small.shape[:2]
    peak = float(np.iinfo(small.dtype).max)
    down = cv2.resize(big.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA) / peak
    return psnr(down, small.astype(np.float32) / peak)


@pytest.mark.parametrize(
    "name,channels,dtype,min_db",
    [
        # bicubic x4 then area /4 of a smooth picture comes back at ~47-50 dB; a swapped or
        # mis-converted colour channel would be far below these bounds
        ("photo.png", 3, np.uint8, 40),
        ("photo.png", 4, np.uint8, 40),
        ("photo.png", 1, np.uint8, 40),
        ("photo.jpg", 3, np.uint8, 38),
        ("deep.png", 1, np.uint16, 40),
        ("deep.png", 3, np.uint16, 40),
    ],
)
def test_cli_upscales_an_image_by_exactly_the_scale(cli, tmp_path, name, channels, dtype, min_db):
    source = tmp_path / name
    assert cv2.imwrite(str(source), photo(channels=channels, dtype=dtype))
    original = cv2.imread(str(source), cv2.IMREAD_UNCHANGED)  # as stored (JPEG is lossy)
    result = cli("upscale", source, "--scale", "4", "-o", tmp_path / f"big{source.suffix}", "-q", *BICUBIC)
    assert result.exit_code == 0, result.stderr
    big = cv2.imread(str(tmp_path / f"big{source.suffix}"), cv2.IMREAD_UNCHANGED)
    assert big.dtype == original.dtype == dtype
    assert big.shape[:2] == (4 * original.shape[0], 4 * original.shape[1])
    assert big.ndim == original.ndim and (big.ndim == 2 or big.shape[2] == original.shape[2])
    assert downscaled_psnr(big, original) > min_db
    assert sorted(listing(tmp_path)) == sorted([name, f"big{source.suffix}"])


def test_alpha_is_upscaled_not_dropped(tmp_path):
    source = tmp_path / "rgba.png"
    cv2.imwrite(str(source), photo(channels=4))
    result = vsr.upscale_video(source, scale=2, model="bicubic")
    big = cv2.imread(str(result.output), cv2.IMREAD_UNCHANGED)
    original = cv2.imread(str(source), cv2.IMREAD_UNCHANGED)
    assert big.shape == (80, 104, 4)
    assert downscaled_psnr(big[..., 3], original[..., 3]) > 40  # a smooth ramp stays a smooth ramp


def test_the_default_image_output_is_stem_x_scale_beside_the_input(tmp_path):
    source = tmp_path / "photo.png"
    cv2.imwrite(str(source), photo())
    result = vsr.upscale_video(source, scale=3, model="bicubic")
    assert result.output == tmp_path / "photo_x3.png"
    assert (result.width, result.height, result.frames) == (156, 120, 1)
    assert listing(tmp_path) == ["photo.png", "photo_x3.png"]


def test_the_default_model_upscales_an_image(tmp_path):
    """Whatever model ships as the default for x2 (bicubic when no weights are shipped)."""
    source = tmp_path / "photo.png"
    cv2.imwrite(str(source), photo())
    result = vsr.upscale_video(source, scale=2)
    big = cv2.imread(str(result.output), cv2.IMREAD_UNCHANGED)
    assert big.shape == (80, 104, 3)
    assert downscaled_psnr(big, cv2.imread(str(source), cv2.IMREAD_UNCHANGED)) > 28


def test_an_image_cannot_become_a_video(tmp_path):
    source = tmp_path / "photo.png"
    cv2.imwrite(str(source), photo())
    with pytest.raises(OutputError, match="image"):
        vsr.upscale_video(source, tmp_path / "photo.mp4", scale=2, model="bicubic")
    assert listing(tmp_path) == ["photo.png"]


def test_an_existing_image_output_needs_overwrite(tmp_path):
    source = tmp_path / "photo.png"
    cv2.imwrite(str(source), photo())
    target = tmp_path / "big.png"
    target.write_bytes(b"keep me")
    with pytest.raises(OutputError, match="exists"):
        vsr.upscale_video(source, target, scale=2, model="bicubic")
    assert target.read_bytes() == b"keep me"
    vsr.upscale_video(source, target, scale=2, model="bicubic", overwrite=True)
    assert cv2.imread(str(target)).shape == (80, 104, 3)


def test_a_still_sweeps_the_partial_an_interrupted_run_left_and_leaves_only_its_output(tmp_path):
    source = tmp_path / "photo.png"
    cv2.imwrite(str(source), photo())
    killed = subprocess.Popen(["true"])
    killed.wait()
    stale = tmp_path / f".big.vsr-{killed.pid}-0123abcd.partial.png"
    stale.write_bytes(b"half an image")
    os.utime(stale, (time.time() - 60, time.time() - 60))
    vsr.upscale_video(source, tmp_path / "big.png", scale=2, model="bicubic")
    assert listing(tmp_path) == ["big.png", "photo.png"]


def test_a_file_that_is_not_an_image(cli, tmp_path):
    source = tmp_path / "fake.png"
    source.write_text("not a picture")
    with pytest.raises(InputError, match="not an image"):
        vsr.upscale_video(source, scale=2, model="bicubic")
    result = cli("upscale", source, "-s", "2", "-q", *BICUBIC)
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("vsr: error: ") and "not an image" in lines[0]
    assert listing(tmp_path) == ["fake.png"]


def test_an_unsupported_scale_for_an_image(cli, tmp_path):
    source = tmp_path / "photo.png"
    cv2.imwrite(str(source), photo())
    result = cli("upscale", source, "-s", "5", "-q", *BICUBIC)
    assert result.exit_code == 1 and "unsupported scale" in result.stderr
    assert listing(tmp_path) == ["photo.png"]


SMALL_PARTS = StillTiling(luma_rows=7, tile=5, colour_rows=3)
"""Bands and tiles far smaller than the model's context: every seam of the cut is exercised."""


def noisy_photo(channels: int, dtype=np.uint8) -> np.ndarray:
    """photo() with noise on it, so that a misplaced row or column changes many samples."""
    image = photo(45, 61, channels, dtype).astype(np.float64)
    peak = np.iinfo(dtype).max
    image += np.random.default_rng(7).normal(0, 0.03 * peak, image.shape)
    return np.clip(np.rint(image), 0, peak).astype(dtype)


def upscaled(tmp_path, image: np.ndarray, model: str, scale: int, tiling: StillTiling | None) -> np.ndarray:
    source, target = tmp_path / "in.png", tmp_path / f"out_{id(tiling)}.png"
    cv2.imwrite(str(source), image)
    upscale_image(source, target, scale=scale, model=model, device="cpu", overwrite=True, tiling=tiling)
    return cv2.imread(str(target), cv2.IMREAD_UNCHANGED)


@pytest.mark.parametrize(
    "channels,dtype,model,scale",
    [
        (3, np.uint8, "bicubic", 4),
        (4, np.uint8, "espcn", 2),
        (3, np.uint8, "espcn", 4),
        (1, np.uint8, "residual", 2),
        (3, np.uint16, "residual", 2),
        (1, np.uint16, "bicubic", 4),
    ],
)
def test_bands_and_tiles_give_the_untiled_image_exactly(tmp_path, channels, dtype, model, scale):
    """The default sizes take this image in one band and one tile: the untiled result."""
    image = noisy_photo(channels, dtype)
    whole = upscaled(tmp_path, image, model, scale, None)
    cut = upscaled(tmp_path, image, model, scale, SMALL_PARTS)
    assert cut.shape == whole.shape == (scale * 45, scale * 61, *image.shape[2:]) and cut.dtype == dtype
    assert np.array_equal(cut, whole)


@pytest.mark.parametrize(
    "channels,dtype,model,scale",
    [
        # torch's F.interpolate computes source positions from 1/3 in float32, so the rows and
        # columns of a cut image get weights an ulp apart (x2 and x4 are exact binary fractions)
        (3, np.uint8, "bicubic", 3),
        # oneDNN picks other kernels for very narrow tiles: sums an ulp apart, which 16 bits can show
        (4, np.uint16, "espcn", 4),
    ],
)
def test_where_the_cut_shows_it_moves_a_few_samples_by_one_level_at_most(tmp_path, channels, dtype, model, scale):
    image = noisy_photo(channels, dtype)
    whole = upscaled(tmp_path, image, model, scale, None).astype(int)
    cut = upscaled(tmp_path, image, model, scale, SMALL_PARTS).astype(int)
    difference = np.abs(cut - whole)
    assert difference.max() <= 1 and np.mean(difference > 0) < 0.02


def test_an_output_too_large_for_the_memory_is_refused_before_any_work(tmp_path, monkeypatch):
    source = tmp_path / "photo.png"
    cv2.imwrite(str(source), photo())
    monkeypatch.setattr(still, "available_memory", lambda: 50_000)
    with pytest.raises(OutputError) as refused:
        vsr.upscale_video(source, tmp_path / "big.png", scale=4, model="bicubic")
    message = str(refused.value)
    assert message.startswith("the output would be 208x160 (0.1 MB as 8-bit RGB")
    assert "but only 0.1 MB of memory is available" in message and "\n" not in message
    assert listing(tmp_path) == ["photo.png"]


def test_the_memory_check_counts_the_working_set_and_passes_when_unknown(tmp_path, monkeypatch):
    source = tmp_path / "photo.png"
    cv2.imwrite(str(source), photo(channels=4, dtype=np.uint16))
    monkeypatch.setattr(still, "available_memory", lambda: 208 * 160 * 4 * 2 + 1000)  # the output array alone
    with pytest.raises(OutputError, match="0.3 MB as 16-bit RGBA"):
        vsr.upscale_video(source, tmp_path / "big.png", scale=4, model="bicubic")
    monkeypatch.setattr(still, "available_memory", lambda: None)
    assert vsr.upscale_video(source, tmp_path / "big.png", scale=4, model="bicubic").width == 208


@pytest.mark.slow
def test_a_large_still_takes_the_output_array_and_a_bounded_working_set(tmp_path):
    """Peak memory (not time): 2400x1600 RGB at x4 is a 184 MB output; the untiled code took
    ~53 bytes per output pixel (3.3 GB here), this takes the array and the bands' working set."""
    source = tmp_path / "large.png"
    noise = np.random.default_rng(0).integers(0, 256, (1600, 2400, 3), dtype=np.uint8)
    cv2.imwrite(str(source), noise)
    script = (
        "import resource, sys; from pathlib import Path; import vsr, torch, cv2;"
        "from vsr.pipeline.image import upscale_image;"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss;"
        "upscale_image(Path(sys.argv[1]), Path(sys.argv[2]), scale=4, model='bicubic', device='cpu');"
        "print(before * 1024, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)"
    )
    result = subprocess.run([sys.executable, "-c", script, str(source), str(tmp_path / "big.png")],
                            capture_output=True, text=True, check=True)
    before, peak = map(int, result.stdout.split())
    output = 6400 * 9600 * 3
    assert peak - before < output + 3 * still.BAND_BYTES + noise.nbytes


def test_a_jpeg_is_turned_as_its_exif_orientation_says(tmp_path):
    import struct

    image = np.zeros((24, 40, 3), np.uint8)
    image[:, :20] = 255  # white on the left as stored; orientation 6: turn 90° clockwise to show
    jpeg = cv2.imencode(".jpg", image)[1].tobytes()
    tiff = b"MM\x00*" + struct.pack(">IHHHIHHI", 8, 1, 0x0112, 3, 1, 6, 0, 0)  # one IFD entry: Orientation = 6
    app1 = b"\xff\xe1" + struct.pack(">H", 8 + len(tiff)) + b"Exif\x00\x00" + tiff
    source = tmp_path / "photo.jpg"
    source.write_bytes(jpeg[:2] + app1 + jpeg[2:])
    out = vsr.upscale_video(source, tmp_path / "photo_x2.png", scale=2, model="bicubic").output
    shown = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert shown.shape == (80, 48, 3)  # upright, as a viewer shows the photo
    assert shown[:30].mean() > 240 and shown[-30:].mean() < 15  # the left half is now on top


@pytest.mark.parametrize("suffix, out_suffix", [(".png", ".png"), (".jpg", ".jpg"), (".png", ".jpg"), (".jpg", ".png"),
                                               (".webp", ".webp"), (".webp", ".png"), (".png", ".webp")])
@pytest.mark.parametrize("profile_bytes", [3144, 150_000])  # a small profile, and one in three JPEG segments
def test_the_icc_profile_of_a_still_is_carried_over(tmp_path, suffix, out_suffix, profile_bytes):
    """Read back by Pillow, an independent reader (in the experiment extra, which CI installs)."""
    Image = pytest.importorskip("PIL.Image")
    noise = bytes(np.random.default_rng(profile_bytes).integers(0, 256, profile_bytes, dtype=np.uint8))
    profile = rgb_profile(noise)
    source = tmp_path / f"in{suffix}"
    Image.fromarray(np.ascontiguousarray(photo()[..., ::-1])).save(source, icc_profile=profile)
    result = upscale_image(source, tmp_path / f"out{out_suffix}", scale=2, model="bicubic")
    with Image.open(result.output) as out:
        assert out.info.get("icc_profile") == profile
        assert out.size == (104, 80)
    expected = cv2.resize(cv2.imread(str(source)), (104, 80), interpolation=cv2.INTER_CUBIC)
    assert np.abs(cv2.imread(str(result.output)).astype(int) - expected).mean() < 4  # the picture itself is intact


def test_an_image_without_a_profile_gets_none_and_a_format_without_one_is_warned_about(tmp_path, caplog):
    Image = pytest.importorskip("PIL.Image")
    plain = tmp_path / "plain.png"
    cv2.imwrite(str(plain), photo())
    with Image.open(upscale_image(plain, tmp_path / "plain_x2.png", scale=2, model="bicubic").output) as out:
        assert "icc_profile" not in out.info
    tagged = tmp_path / "tagged.png"
    Image.fromarray(photo()[..., ::-1].copy()).save(tagged, icc_profile=rgb_profile(b"\x00" * 500))
    with caplog.at_level("WARNING", logger="vsr"):
        upscale_image(tagged, tmp_path / "out.tif", scale=2, model="bicubic")
    assert any("ICC profile is not carried into .tif" in r.getMessage() for r in caplog.records)


def test_a_full_disk_while_writing_a_still_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    import builtins
    import errno

    source = tmp_path / "in.png"
    cv2.imwrite(str(source), photo())

    class FullDisk:
        def __init__(self, path, mode):
            self.file = builtins.open(path, mode)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

        def write(self, data):
            self.file.write(bytes(data)[:4])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(still, "open", FullDisk, raising=False)  # the writer's open(), not the reader's
    with pytest.raises(OutputError, match=r"^could not write .*out\.png: no space left on device$"):
        upscale_image(source, tmp_path / "out.png", scale=2, model="bicubic")
    assert listing(tmp_path) == ["in.png"]


def test_a_multi_frame_model_on_a_still_says_it_needs_a_video(tmp_path):
    source = tmp_path / "in.png"
    cv2.imwrite(str(source), photo())
    with pytest.raises(vsr.errors.UnsupportedModelError, match="multiframe_refine is a multi-frame model: it needs a video"):
        upscale_image(source, tmp_path / "out.png", scale=4, model="multiframe_refine")
    assert listing(tmp_path) == ["in.png"]


@pytest.mark.parametrize("flags, message", [
    (("--mode", "multi"), "--mode multi applies to videos, not to the still image in.png"),
    (("--max-frames", "3"), "--max-frames applies to videos"),
    (("--crf", "30"), "--crf applies to videos"),
    (("--pix-fmt", "gray", "--preset", "fast"), "--preset and --pix-fmt apply to videos"),
])
def test_video_only_options_on_a_still_are_refused_not_ignored(cli, tmp_path, flags, message):
    source = tmp_path / "in.png"
    cv2.imwrite(str(source), photo())
    result = cli("upscale", source, "-s", "2", *BICUBIC, *flags)
    assert result.exit_code == 1
    assert message in result.stderr
    assert listing(tmp_path) == ["in.png"]


def test_the_memory_check_counts_the_encoded_file_held_before_it_is_written(tmp_path, monkeypatch):
    from vsr.models import resolve

    source = tmp_path / "photo.bmp"
    cv2.imwrite(str(source), photo())  # 52x40 → 208x160 at x4, BMP: an encoded file as large as the array
    module = resolve("bicubic", 4).module
    working_set = StillTiling.for_image(52, 4, module).working_set(40, 52, 4, module) + 52 * 40 * 3  # and the input
    output = 208 * 160 * 3
    monkeypatch.setattr(still, "available_memory", lambda: output + working_set + output // 2)
    with pytest.raises(OutputError, match="with the working memory"):
        upscale_image(source, tmp_path / "big.bmp", scale=4, model="bicubic")
    monkeypatch.setattr(still, "available_memory", lambda: 2 * output + working_set - 52 * 40 * 3 + 1)
    with pytest.raises(OutputError, match="with the working memory"):  # the decoded input was not counted
        upscale_image(source, tmp_path / "big.bmp", scale=4, model="bicubic")
    monkeypatch.setattr(still, "available_memory", lambda: 2 * output + working_set + 1)
    assert upscale_image(source, tmp_path / "big.bmp", scale=4, model="bicubic").width == 208


@pytest.mark.parametrize("dtype, out_suffix, written, said", [
    (np.uint16, ".jpg", np.uint8, "JPEG holds no 16-bit samples: written as 8-bit"),
    (np.uint16, ".webp", np.uint8, "WebP holds no 16-bit samples: written as 8-bit"),
    (np.float32, ".png", np.uint16, "PNG holds no float samples: written as 16-bit, values clamped to 0–1"),
    (np.float32, ".bmp", np.uint8, "BMP holds no float samples: written as 8-bit"),
])
def test_a_deep_image_into_a_shallower_format_keeps_its_levels_and_says_so(tmp_path, caplog, dtype, out_suffix, written, said):
    """A 16-bit or float picture written as JPEG/WebP/BMP/PNG was cut to the format's depth by OpenCV
    (16-bit levels saturated: nearly white; floats 0–1 truncated: black) and reported as written."""
    source = tmp_path / ("deep.png" if dtype == np.uint16 else "deep.tif")
    grey = photo(channels=3, dtype=np.uint16)
    assert cv2.imwrite(str(source), grey if dtype == np.uint16 else (grey / 65535).astype(np.float32))
    target = tmp_path / f"big{out_suffix}"
    vsr.upscale_video(source, target, scale=2, model="bicubic")
    big = cv2.imread(str(target), cv2.IMREAD_UNCHANGED)
    assert big.dtype == written and big.shape == (80, 104, 3)
    levels = np.iinfo(written).max
    reference = (grey.astype(np.float64) / 65535 * levels)
    assert downscaled_psnr(big, np.rint(reference).astype(written)) > 35
    assert f"big{out_suffix}: {said}" in caplog.text


def test_alpha_into_a_jpeg_is_warned_about_and_a_16_bit_tiff_stays_16_bit(tmp_path, caplog):
    source = tmp_path / "rgba.png"
    cv2.imwrite(str(source), photo(channels=4, dtype=np.uint16))
    vsr.upscale_video(source, tmp_path / "big.jpg", scale=2, model="bicubic")
    assert "big.jpg: JPEG has no alpha channel: the transparency is dropped, what was transparent comes out black" in caplog.text
    caplog.clear()
    vsr.upscale_video(source, tmp_path / "big.tif", scale=2, model="bicubic")
    assert cv2.imread(str(tmp_path / "big.tif"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    assert "holds no" not in caplog.text and "alpha" not in caplog.text


@pytest.mark.parametrize("width, out_suffix, limit", [(8200, ".webp", "WebP holds at most 16383"),
                                                       (33000, ".jpg", "JPEG holds at most 65500")])
def test_an_output_wider_than_its_format_holds_is_refused_before_any_work(tmp_path, width, out_suffix, limit):
    source = tmp_path / "strip.png"
    cv2.imwrite(str(source), np.full((2, width, 3), 90, np.uint8))
    with pytest.raises(OutputError, match=limit) as refused:
        vsr.upscale_video(source, tmp_path / f"big{out_suffix}", scale=2, model="bicubic")
    assert str(refused.value).startswith(f"the output would be {2 * width}x4, but")
    assert listing(tmp_path) == ["strip.png"]


def test_a_lossy_webp_stays_lossy_and_a_lossless_one_lossless(tmp_path):
    """OpenCV writes WebP lossless unless told otherwise: an upscaled photo came out many times larger than it needs."""
    picture = photo(height=120, width=160)
    sizes = {}
    for name, quality in (("lossy.webp", 80), ("lossless.webp", 101)):
        cv2.imwrite(str(tmp_path / name), picture, [cv2.IMWRITE_WEBP_QUALITY, quality])
        result = vsr.upscale_video(tmp_path / name, scale=2, model="bicubic")
        sizes[name] = result.output.stat().st_size
        assert result.output.read_bytes()[12:16] == (b"VP8 " if quality <= 100 else b"VP8L")
    assert sizes["lossy.webp"] < sizes["lossless.webp"]
    cv2.imwrite(str(tmp_path / "photo.jpg"), picture)  # a JPEG named .png is lossy all the same
    (tmp_path / "photo.jpg").rename(tmp_path / "misnamed.png")
    out = vsr.upscale_video(tmp_path / "misnamed.png", tmp_path / "misnamed.webp", scale=2, model="bicubic").output
    assert out.read_bytes()[12:16] == b"VP8 "


def test_a_jpe_file_is_an_image_and_a_multi_page_tiff_says_only_the_first_page_is_upscaled(tmp_path, caplog):
    cv2.imwrite(str(tmp_path / "photo.jpe"), photo())
    assert vsr.upscale_video(tmp_path / "photo.jpe", scale=2, model="bicubic").output == tmp_path / "photo_x2.jpe"
    assert cv2.imwritemulti(str(tmp_path / "pages.tif"), [photo(), photo()[::-1].copy(), photo()])
    result = vsr.upscale_video(tmp_path / "pages.tif", scale=2, model="bicubic")
    assert cv2.imcount(str(result.output)) == 1
    assert "pages.tif holds 3 pages or animation frames: only the first is upscaled" in caplog.text


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("suffix", [".png", ".webp"])
def test_every_exif_orientation_of_a_png_or_webp_is_applied_alpha_and_depth_kept(tmp_path, orientation, suffix):
    """Only JPEGs were turned (read unchanged, to keep alpha and 16 bits, OpenCV turns nothing); the
    colour channels must come out as OpenCV's own upright reading of the file shows them."""
    import struct

    exif = b"II*\x00" + struct.pack("<IHHHIHHI", 8, 1, 0x0112, 3, 1, orientation, 0, 0)
    dtype = np.uint16 if suffix == ".png" else np.uint8
    stored = np.random.default_rng(orientation).integers(0, np.iinfo(dtype).max, (5, 7, 4), dtype=dtype)
    source = tmp_path / f"turned{suffix}"
    params = [cv2.IMWRITE_WEBP_QUALITY, 101] if suffix == ".webp" else []
    assert cv2.imwriteWithMetadata(str(source), stored, [cv2.IMAGE_METADATA_EXIF], [np.frombuffer(exif, np.uint8)], params)
    shown = cv2.imread(str(source), cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)  # OpenCV turns it, dropping alpha
    image = still.read_image(source)
    assert image.dtype == dtype and image.shape == (*shown.shape[:2], 4)
    assert np.array_equal(image[..., :3], shown)


def test_precision_and_batch_size_on_a_still_are_refused_and_options_checked_before_the_output(tmp_path):
    source = tmp_path / "in.png"
    cv2.imwrite(str(source), photo())
    with pytest.raises(vsr.errors.ConfigError, match="--precision applies to videos, not to the still image in.png"):
        vsr.upscale_video(source, scale=2, model="bicubic", precision="bf16")  # ran in fp32, said nothing
    assert vsr.upscale_video(source, scale=2, model="bicubic", precision="fp32").frames == 1  # what a still runs in
    (tmp_path / "out.mp4").write_bytes(b"an earlier result")
    with pytest.raises(vsr.errors.ConfigError, match="unknown mode 'bogus'"):  # not 'out.mp4 exists' first
        vsr.upscale_video(tmp_path / "in.mp4", tmp_path / "out.mp4", model="bicubic", mode="bogus")


def test_a_temporal_filter_asked_for_a_still_is_said_to_do_nothing(tmp_path, caplog):
    """--denoise temporal (and --deinterlace auto) on a still ran the model alone without a word."""
    import logging

    source = tmp_path / "in.png"
    cv2.imwrite(str(source), photo())
    with caplog.at_level(logging.INFO, logger="vsr"):
        vsr.upscale_video(source, scale=2, model="bicubic", denoise="temporal")
    assert any("nothing to deinterlace or denoise temporally in one picture (--denoise temporal)" in m
               for m in caplog.messages)


def test_progress_is_reported_for_a_still(tmp_path):
    source = tmp_path / "in.png"
    cv2.imwrite(str(source), photo())
    reports = []
    vsr.upscale_video(source, scale=2, model="bicubic", progress=lambda done, total: reports.append((done, total)))
    assert reports == [(1, 1)]  # the callback was never called for a still


def test_a_progress_callback_that_raises_on_a_still_leaves_no_output(tmp_path):
    """As for a video, the caller's exception stops the work: the still was written first."""
    source = tmp_path / "in.png"
    cv2.imwrite(str(source), photo())

    def stop(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        vsr.upscale_video(source, tmp_path / "out.png", scale=2, model="bicubic", progress=stop)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]


@pytest.mark.parametrize("space, channels", [(b"GRAY", 3), (b"CMYK", 3), (b"RGB ", 1)])
def test_an_icc_profile_of_another_colour_space_than_the_pixels_is_left_out(tmp_path, caplog, space, channels):
    """A profile whose colour space is not the pixels' (as a grey+alpha PNG's GRAY profile on the RGBA
    OpenCV reads, or a CMYK JPEG's CMYK profile on its RGB) went onto the output: viewers read the colours
    wrong (libpng drops a GRAY one on RGB itself, with a warning). Here: GRAY and CMYK on RGB, RGB on grey."""
    Image = pytest.importorskip("PIL.Image")
    source = tmp_path / "in.png"
    pixels = photo(channels=channels)
    Image.fromarray(pixels if channels == 1 else np.ascontiguousarray(pixels[..., ::-1])).save(
        source, icc_profile=rgb_profile(b"\x01" * 600, space))
    out = upscale_image(source, tmp_path / "out.png", scale=2, model="bicubic").output
    with Image.open(out) as written:
        assert "icc_profile" not in written.info
    assert f"in.png: its ICC profile describes {space.decode().strip()} pixels, not the {channels}-channel ones" in caplog.text


def test_a_jpeg_cut_short_is_refused_not_filled_with_grey(tmp_path):
    """OpenCV decoded what there was of it and filled the rest with grey: 78 % of the rows, exit 0."""
    whole = tmp_path / "whole.jpg"
    cv2.imwrite(str(whole), photo(height=160, width=160))
    data = whole.read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) * 3 // 10])
    with pytest.raises(InputError, match="cut.jpg is cut short or damaged"):
        vsr.upscale_video(tmp_path / "cut.jpg", tmp_path / "out.png", scale=2, model="bicubic")
    assert vsr.upscale_video(whole, tmp_path / "whole.png", scale=2, model="bicubic").width == 320
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.jpg", "whole.jpg", "whole.png"]
    # whole pictures followed by other data (a phone's motion photo appends a video) are not cut short,
    # even where that data holds the bytes of a scan marker and no end marker after them
    trailers = {"motion.jpg": b"ftypmp42\x12\xff\xda\x34" + bytes(64),
                "noise.jpg": np.random.default_rng(1).integers(0, 256, 100_000, dtype=np.uint8).tobytes()}
    progressive = cv2.imencode(".jpg", photo(height=64, width=64), [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes()
    for name, trailer in trailers.items():
        (tmp_path / name).write_bytes(data + trailer)
        assert vsr.upscale_video(tmp_path / name, scale=2, model="bicubic").width == 320
    (tmp_path / "progressive.jpg").write_bytes(progressive)
    assert vsr.upscale_video(tmp_path / "progressive.jpg", scale=2, model="bicubic").width == 128
    (tmp_path / "cut_progressive.jpg").write_bytes(progressive[: len(progressive) // 2])
    with pytest.raises(InputError, match="is cut short or damaged"):
        vsr.upscale_video(tmp_path / "cut_progressive.jpg", tmp_path / "x.png", scale=2, model="bicubic")
    (tmp_path / "named.png").write_bytes(data[: len(data) * 6 // 10])  # a JPEG named otherwise: its grey fill was upscaled
    with pytest.raises(InputError, match="named.png is cut short or damaged"):
        vsr.upscale_video(tmp_path / "named.png", tmp_path / "y.png", scale=2, model="bicubic")


def test_unreadable_claims_signed_samples_and_a_folder_output_are_one_clear_line(tmp_path):
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    huge = tmp_path / "huge.png"  # 74 bytes claiming 100000x100000: an OpenCV assertion came through as 'error: error:'
    huge.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    with pytest.raises(InputError, match="huge.png cannot be read: "):
        vsr.upscale_video(huge, tmp_path / "out.png", scale=2, model="bicubic")
    signed = tmp_path / "signed.tif"
    cv2.imwrite(str(signed), np.full((8, 8), 700, np.int16))
    with pytest.raises(InputError, match="holds signed 16-bit samples"):  # came out all white
        vsr.upscale_video(signed, tmp_path / "out.png", scale=2, model="bicubic")
    (tmp_path / "outdir").mkdir()
    cv2.imwrite(str(tmp_path / "ok.png"), photo())
    # a folder as the output ('has no image extension' once): the still goes in it, under its default name
    assert vsr.upscale_video(tmp_path / "ok.png", tmp_path / "outdir", scale=2, model="bicubic").output == (
        tmp_path / "outdir" / "ok_x2.png")
    with pytest.raises(OutputError, match="is a folder; give a file name"):  # the still function itself
        upscale_image(tmp_path / "ok.png", tmp_path / "outdir", scale=2, model="bicubic")


@pytest.mark.parametrize("hidden", [(0, 255, 0), (0, 0, 0)])
def test_what_lies_under_transparent_pixels_does_not_bleed_into_the_edge(tmp_path, hidden):
    """Straight alpha through the resize and the model: a red logo next to transparent pixels got a green
    (or dark) fringe from the colour hidden under them, which no viewer shows."""
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., :3] = hidden[::-1]  # BGR under the transparent half
    rgba[:, :8] = (0, 0, 255, 255)  # opaque red on the left
    cv2.imwrite(str(tmp_path / "logo.png"), rgba)
    out = cv2.imread(str(vsr.upscale_video(tmp_path / "logo.png", scale=2, model="bicubic").output), cv2.IMREAD_UNCHANGED)
    edge = out[:, 12:20].reshape(-1, 4).astype(int)
    seen = edge[edge[:, 3] >= 32]  # every pixel a viewer shows with some weight
    assert len(seen) and (seen[:, 2] >= 230).all() and (seen[:, :2] <= 25).all(), seen[:, :3].max(axis=0)


@pytest.mark.parametrize("out_suffix, kept", [(".png", True), (".tif", False)])
def test_the_icc_profile_of_a_tiff_is_carried_into_a_format_that_holds_one(tmp_path, caplog, out_suffix, kept):
    """A TIFF's profile (a scanner's, Lightroom's Adobe RGB) was lost without a word."""
    Image = pytest.importorskip("PIL.Image")
    profile = rgb_profile(bytes(range(256)) * 3)
    source = tmp_path / "scan.tif"
    Image.fromarray(np.ascontiguousarray(photo()[..., ::-1])).save(source, icc_profile=profile)
    out = upscale_image(source, tmp_path / f"out{out_suffix}", scale=2, model="bicubic").output
    with Image.open(out) as written:
        assert (written.info.get("icc_profile") == profile) == kept
    assert ("ICC profile is not carried into .tif" in caplog.text) == (not kept)


def test_grey_transparency_opencv_does_not_read_is_warned_about(tmp_path, caplog):
    """OpenCV reads no tRNS key of a grey PNG and drops a grey TIFF's alpha: the transparent pixels
    came out opaque, in silence."""
    Image = pytest.importorskip("PIL.Image")
    grey = photo(channels=1)
    Image.fromarray(grey).save(tmp_path / "keyed.png", transparency=int(grey[0, 0]))
    Image.fromarray(np.dstack([grey, grey[::-1]]), mode="LA").save(tmp_path / "alpha.tif")
    Image.fromarray(grey).save(tmp_path / "plain.png")
    Image.fromarray(grey).save(tmp_path / "plain.tif")
    for name in ("keyed.png", "alpha.tif", "plain.png", "plain.tif"):
        vsr.upscale_video(tmp_path / name, scale=2, model="bicubic")
    for name in ("keyed.png", "alpha.tif"):
        assert f"{name}: the transparency of its grey pixels" in caplog.text
    assert "plain.png: the transparency" not in caplog.text and "plain.tif: the transparency" not in caplog.text


def test_an_alpha_channel_that_is_zero_everywhere_keeps_the_colour(tmp_path):
    """A texture whose fourth channel is 0 everywhere (a spare channel, not transparency) came out black."""
    rgba = np.dstack([photo(), np.zeros((40, 52), np.uint8)])
    cv2.imwrite(str(tmp_path / "texture.png"), rgba)
    out = cv2.imread(str(vsr.upscale_video(tmp_path / "texture.png", scale=2, model="bicubic").output), cv2.IMREAD_UNCHANGED)
    assert out.shape == (80, 104, 4) and not out[..., 3].any()
    assert downscaled_psnr(out[..., :3], photo()) > 40


def test_a_png_s_gamma_and_primaries_are_carried_into_a_png_and_a_linear_one_warned_about_elsewhere(tmp_path, caplog):
    """A linear PNG (gAMA 1.0) without an ICC profile came out as plain sRGB: viewers showed it darker."""
    from vsr.media.images import png_colour_chunks, with_png_chunks

    chrm = b"".join(v.to_bytes(4, "big") for v in (31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000))
    for name, gamma in (("linear.png", 100000), ("srgb.png", 45455)):
        encoded = cv2.imencode(".png", photo())[1]
        chunks = [(b"gAMA", gamma.to_bytes(4, "big")), (b"cHRM", chrm)]
        (tmp_path / name).write_bytes(b"".join(bytes(p) for p in with_png_chunks(memoryview(encoded).cast("B"), chunks)))
    assert len(png_colour_chunks(tmp_path / "linear.png")) == 2
    out = upscale_image(tmp_path / "linear.png", tmp_path / "out.png", scale=2, model="bicubic").output
    assert png_colour_chunks(out) == [(b"gAMA", (100000).to_bytes(4, "big")), (b"cHRM", chrm)]
    assert cv2.imread(str(out)).shape[:2] == (80, 104)
    upscale_image(tmp_path / "linear.png", tmp_path / "linear.jpg", scale=2, model="bicubic")
    upscale_image(tmp_path / "srgb.png", tmp_path / "srgb.jpg", scale=2, model="bicubic")
    assert caplog.text.count("gamma (gAMA) is not carried into .jpg") == 1  # the sRGB one is what a viewer assumes


def test_a_png_s_hdr_code_points_are_carried_into_a_png_and_warned_about_elsewhere(tmp_path, caplog):
    """cICP (BT.2020, PQ, full range) was dropped in silence: an HDR PNG came out shown as sRGB."""
    from vsr.media.images import png_colour_chunks, with_png_chunks

    cicp = bytes([9, 16, 0, 1])
    encoded = cv2.imencode(".png", photo())[1]
    (tmp_path / "hdr.png").write_bytes(b"".join(bytes(p) for p in with_png_chunks(memoryview(encoded).cast("B"), [(b"cICP", cicp)])))
    out = upscale_image(tmp_path / "hdr.png", tmp_path / "out.png", scale=2, model="bicubic").output
    assert png_colour_chunks(out) == [(b"cICP", cicp)]
    upscale_image(tmp_path / "hdr.png", tmp_path / "out.tif", scale=2, model="bicubic")
    assert "colour code points (cICP: an HDR or wide-gamut image) are not carried into .tif" in caplog.text


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_a_grey_picture_upscales_as_its_rgb_copy_does(tmp_path, dtype):
    """Grey went through the network in the full range, colour as BT.601's 16–235 luma (what the models
    learned): the same picture stored grey came out up to 37 levels from its R = G = B copy, and worse."""
    grey = cv2.cvtColor(photo(height=48, width=64), cv2.COLOR_BGR2GRAY).astype(dtype) * (257 if dtype == np.uint16 else 1)
    cv2.imwrite(str(tmp_path / "grey.png"), grey)
    cv2.imwrite(str(tmp_path / "rgb.png"), cv2.merge([grey, grey, grey]))
    for name in ("grey", "rgb"):
        upscale_image(tmp_path / f"{name}.png", tmp_path / f"{name}_x2.png", scale=2, model="espcn")
    from_grey = cv2.imread(str(tmp_path / "grey_x2.png"), cv2.IMREAD_UNCHANGED).astype(np.int64)
    from_rgb = cv2.imread(str(tmp_path / "rgb_x2.png"), cv2.IMREAD_UNCHANGED)[..., 1].astype(np.int64)
    one_level = 257 if dtype == np.uint16 else 1
    assert np.abs(from_grey - from_rgb).max() <= one_level


def test_a_float_pictures_alpha_stays_between_0_and_1(tmp_path):
    """Bicubic overshoots at an edge: a float TIFF's alpha came out from -0.016 to 1.016."""
    picture = np.zeros((24, 32, 4), np.float32)
    picture[..., :3] = 0.5
    picture[:, 16:, 3] = 1.0  # a hard edge of coverage
    cv2.imwrite(str(tmp_path / "a.tif"), picture)
    upscale_image(tmp_path / "a.tif", tmp_path / "b.tif", scale=2, model="bicubic")
    alpha = cv2.imread(str(tmp_path / "b.tif"), cv2.IMREAD_UNCHANGED)[..., 3]
    assert alpha.min() >= 0.0 and alpha.max() <= 1.0


def test_a_grey_pictures_grey_profile_is_not_put_on_the_rgb_webp_it_becomes(tmp_path, caplog):
    """WebP holds no grey: the pixels were written as RGB under the GRAY profile of the input."""
    from PIL import Image

    source = tmp_path / "scan.png"
    Image.fromarray(cv2.cvtColor(photo(), cv2.COLOR_BGR2GRAY)).save(source, icc_profile=rgb_profile(b"\x01" * 600, b"GRAY"))
    with caplog.at_level(logging.WARNING, logger="vsr"):
        out = upscale_image(source, tmp_path / "scan.webp", scale=2, model="bicubic").output
    with Image.open(out) as written:
        assert written.mode.startswith("RGB") and "icc_profile" not in written.info
    assert "scan.png: its ICC profile describes GRAY pixels, not the 3-channel ones scan.webp holds" in caplog.text


def test_a_jpeg_keeps_its_colour_at_full_resolution_unless_the_input_was_subsampled(tmp_path):
    """OpenCV writes 4:2:0 by default: a 4:4:4 JPEG (or a PNG) came out with half its colour, 23 levels
    off on fine colour detail. A 4:2:2 one keeps 4:2:2; an EXIF segment of 64 KiB before the frame
    header does not hide it."""
    from vsr.media.images import jpeg_sampling

    def jpeg_chroma_subsampled(path):
        return jpeg_sampling(path) != cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444

    stripes = np.zeros((32, 32, 3), np.uint8)
    stripes[:, ::2], stripes[:, 1::2] = (30, 30, 220), (220, 30, 30)  # BGR: red and blue columns
    cv2.imwrite(str(tmp_path / "full.jpg"), stripes, [cv2.IMWRITE_JPEG_QUALITY, 100,
                                                    cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444])
    cv2.imwrite(str(tmp_path / "half.jpg"), stripes)
    cv2.imwrite(str(tmp_path / "lossless.png"), stripes)
    assert not jpeg_chroma_subsampled(tmp_path / "full.jpg") and jpeg_chroma_subsampled(tmp_path / "half.jpg")
    for name in ("full.jpg", "half.jpg", "lossless.png"):
        upscale_image(tmp_path / name, tmp_path / f"{name}.x2.jpg", scale=2, model="bicubic")
    assert not jpeg_chroma_subsampled(tmp_path / "full.jpg.x2.jpg")
    assert not jpeg_chroma_subsampled(tmp_path / "lossless.png.x2.jpg")
    assert jpeg_chroma_subsampled(tmp_path / "half.jpg.x2.jpg")
    as_png = cv2.imread(str(upscale_image(tmp_path / "full.jpg", tmp_path / "full.png", scale=2, model="bicubic").output))
    as_jpeg = cv2.imread(str(tmp_path / "full.jpg.x2.jpg"))
    assert np.abs(as_png.astype(int) - as_jpeg).mean() < 5
    cv2.imwrite(str(tmp_path / "422.jpg"), stripes, [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422])
    data = (tmp_path / "422.jpg").read_bytes()
    exif = b"\xff\xe1" + (65533).to_bytes(2, "big") + b"Exif\x00\x00" + bytes(65525)  # a camera's full APP1
    (tmp_path / "exif422.jpg").write_bytes(data[:2] + exif + data[2:])
    assert jpeg_sampling(tmp_path / "exif422.jpg") == cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422
    upscale_image(tmp_path / "exif422.jpg", tmp_path / "exif422.x2.jpg", scale=2, model="bicubic")
    assert jpeg_sampling(tmp_path / "exif422.x2.jpg") == cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422


@pytest.mark.parametrize("orientation", [5, 6, 7, 8])
def test_a_tiff_turned_about_a_diagonal_is_read_and_turned(tmp_path, orientation):
    """OpenCV 5 cannot decode those ("Internal imread issue"): a rotated scan was "not an image
    OpenCV can read"."""
    from PIL import Image

    from vsr.media.images import upright

    stored = photo(height=13, width=17)
    Image.fromarray(stored[..., ::-1]).save(tmp_path / "scan.tif", tiffinfo={274: orientation})
    result = upscale_image(tmp_path / "scan.tif", tmp_path / "big.png", scale=2, model="bicubic")
    shown = upright(stored, orientation)
    assert (result.height, result.width) == (2 * shown.shape[0], 2 * shown.shape[1]) == (34, 26)
    expected = cv2.resize(shown, (result.width, result.height), interpolation=cv2.INTER_CUBIC)
    assert np.abs(cv2.imread(str(result.output)).astype(int) - expected).mean() < 3


def test_a_pngs_gamma_after_a_large_text_chunk_is_carried_too(tmp_path):
    """Only the first 64 KiB were read: a 70 KB XMP text before gAMA hid it, and the output lost it."""
    from vsr.media.images import png_colour_chunks, with_png_chunks

    encoded = cv2.imencode(".png", photo())[1]
    chunks = [(b"tEXt", b"XML:com.adobe.xmp\x00" + b"x" * 70_000), (b"gAMA", (100000).to_bytes(4, "big"))]
    (tmp_path / "xmp.png").write_bytes(b"".join(bytes(p) for p in with_png_chunks(memoryview(encoded).cast("B"), chunks)))
    out = upscale_image(tmp_path / "xmp.png", tmp_path / "out.png", scale=2, model="bicubic").output
    assert png_colour_chunks(out) == [(b"gAMA", (100000).to_bytes(4, "big"))]


@pytest.mark.parametrize("real, named", [(".webp", ".png"), (".tif", ".jpg"), (".png", ".webp")])
def test_an_icc_profile_is_read_by_the_files_content_not_its_name(tmp_path, real, named):
    """WebP and TIFF profiles were looked for by the extension: a WebP named .png lost its profile."""
    from PIL import Image

    profile = rgb_profile(b"\x01" * 600)
    Image.fromarray(photo()[..., ::-1]).save(tmp_path / f"tagged{real}", icc_profile=profile,
                                             **({"lossless": True} if real == ".webp" else {}))
    (tmp_path / f"tagged{real}").rename(tmp_path / f"misnamed{named}")
    out = upscale_image(tmp_path / f"misnamed{named}", tmp_path / "out.png", scale=2, model="bicubic").output
    with Image.open(out) as written:
        assert written.info.get("icc_profile") == profile


def big_endian_grey_tiff(pixels: np.ndarray, orientation: int) -> bytes:
    """An uncompressed 8-bit grey TIFF in Motorola byte order with its orientation as a LONG (as some
    scanners write it)."""
    height, width = pixels.shape
    entries = [(256, 3, width), (257, 3, height), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 4, 0),
               (274, 4, orientation), (277, 3, 1), (278, 3, height), (279, 4, pixels.size)]
    data_offset = 8 + 2 + 12 * len(entries) + 4
    ifd = len(entries).to_bytes(2, "big")
    for tag, kind, value in entries:
        value = data_offset if tag == 273 else value
        field = value.to_bytes(2, "big") + bytes(2) if kind == 3 else value.to_bytes(4, "big")
        ifd += tag.to_bytes(2, "big") + kind.to_bytes(2, "big") + (1).to_bytes(4, "big") + field
    return b"MM\x00\x2a" + (8).to_bytes(4, "big") + ifd + bytes(4) + pixels.tobytes()


def test_a_big_endian_tiffs_orientation_stored_as_a_long_is_read_too(tmp_path):
    from vsr.media.images import upright

    stored = cv2.cvtColor(photo(height=13, width=17), cv2.COLOR_BGR2GRAY)
    (tmp_path / "mm.tif").write_bytes(big_endian_grey_tiff(stored, 6))
    result = upscale_image(tmp_path / "mm.tif", tmp_path / "big.png", scale=2, model="bicubic")
    assert (result.height, result.width) == (34, 26)
    expected = cv2.resize(upright(stored, 6), (26, 34), interpolation=cv2.INTER_CUBIC)
    assert np.abs(cv2.imread(str(result.output), cv2.IMREAD_UNCHANGED).astype(int) - expected).mean() < 3


@pytest.mark.parametrize("suffix", [".png", ".webp"])
def test_a_png_or_webp_cut_short_says_so(tmp_path, suffix):
    """It was "not an image OpenCV can read", as if it were another format: a JPEG cut short says what it is."""
    data = cv2.imencode(suffix, photo(height=60, width=80))[1].tobytes()
    (tmp_path / f"cut{suffix}").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=rf"cut\{suffix} is cut short or damaged"):
        upscale_image(tmp_path / f"cut{suffix}", tmp_path / "out.png", scale=2, model="bicubic")
    (tmp_path / "whole.png").write_bytes(cv2.imencode(".png", photo())[1].tobytes())
    from vsr.media.images import is_cut_short

    assert not is_cut_short(tmp_path / "whole.png")


def test_metadata_no_output_carries_is_warned_about(tmp_path, caplog):
    """A camera's EXIF (make, model, date, copyright) and a PNG's text were dropped without a word."""
    from PIL import Image, PngImagePlugin

    picture = Image.fromarray(photo()[..., ::-1])
    exif = Image.Exif()
    exif[0x010F], exif[0x8298] = "Canon", "© the archive"  # Make, Copyright
    picture.save(tmp_path / "camera.jpg", exif=exif.tobytes())
    text = PngImagePlugin.PngInfo()
    text.add_text("Author", "the archive")
    picture.save(tmp_path / "scan.png", pnginfo=text)
    picture.save(tmp_path / "plain.png")
    with caplog.at_level(logging.WARNING, logger="vsr"):
        for name in ("camera.jpg", "scan.png", "plain.png"):
            upscale_image(tmp_path / name, tmp_path / f"out_{name}", scale=2, model="bicubic")
    assert "camera.jpg: its EXIF metadata is not carried into out_camera.jpg" in caplog.text
    assert "scan.png: its text metadata" in caplog.text and "plain.png" not in caplog.text
    caplog.clear()
    turned = Image.Exif()
    turned[0x0112] = 6  # the orientation only: the pixels carry it
    picture.save(tmp_path / "phone.jpg", exif=turned.tobytes())
    with caplog.at_level(logging.WARNING, logger="vsr"):
        upscale_image(tmp_path / "phone.jpg", tmp_path / "out_phone.png", scale=2, model="bicubic")
    assert "metadata" not in caplog.text


def test_a_jpeg_header_with_a_length_under_2_ends_the_walk(tmp_path):
    """A damaged segment length (0 or 1, which would seek backwards) ends the walk: no sampling said, no error."""
    from vsr.media.images import jpeg_sampling

    for length in (0, 1):
        (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe1" + length.to_bytes(2, "big") + bytes(32))
        assert jpeg_sampling(tmp_path / "bad.jpg") is None


def test_a_complete_png_damaged_inside_says_damaged(tmp_path):
    data = bytearray(cv2.imencode(".png", photo(height=60, width=80))[1].tobytes())
    start = data.index(b"IDAT") + 8
    data[start : start + 20] = bytes(range(20))
    (tmp_path / "bad.png").write_bytes(bytes(data))
    with pytest.raises(InputError, match="bad.png is damaged: OpenCV cannot decode its picture"):
        upscale_image(tmp_path / "bad.png", tmp_path / "out.png", scale=2, model="bicubic")


def test_a_tiff_turned_about_a_diagonal_is_told_by_its_content_not_its_name(tmp_path):
    from PIL import Image

    Image.fromarray(photo(height=13, width=17)[..., ::-1]).save(tmp_path / "scan.tif", tiffinfo={274: 6})
    (tmp_path / "scan.tif").rename(tmp_path / "scan.png")
    assert upscale_image(tmp_path / "scan.png", tmp_path / "big.png", scale=2, model="bicubic").width == 26


def test_a_pngs_wide_gamut_primaries_are_warned_about_where_they_are_not_carried(tmp_path, caplog):
    """cHRM (Display P3 primaries here) was dropped from a JPEG, WebP or TIFF output without a word:
    colour-managed viewers then show the colours as sRGB's, less saturated."""
    from vsr.media.images import with_png_chunks

    p3 = b"".join(v.to_bytes(4, "big") for v in (31270, 32900, 68000, 32000, 26500, 69000, 15000, 6000))
    encoded = cv2.imencode(".png", photo())[1]
    chunks = [(b"gAMA", (45455).to_bytes(4, "big")), (b"cHRM", p3)]
    (tmp_path / "p3.png").write_bytes(b"".join(bytes(p) for p in with_png_chunks(memoryview(encoded).cast("B"), chunks)))
    with caplog.at_level(logging.WARNING, logger="vsr"):
        upscale_image(tmp_path / "p3.png", tmp_path / "p3.jpg", scale=2, model="bicubic")
    assert "the input's PNG primaries (cHRM) are not carried into .jpg output" in caplog.text
    assert "gamma" not in caplog.text  # sRGB's gamma: nothing lost there
