"""Still images through `vsr upscale`: exact size, same channels and depth, content close to the input."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import vsr
from vsr.errors import InputError, OutputError
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
