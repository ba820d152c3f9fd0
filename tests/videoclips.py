"""Tiny synthetic clips for the pipeline tests, and helpers that read results back.

Every clip is made with PyAV inside the test's tmp_path. Each frame carries its index, drawn
as a band of big black/white blocks (one bit each, most significant first) along the top
edge; the rest of the frame is a coloured texture that moves a few pixels per frame. The
blocks survive lossy encoding, 4:2:0 chroma and a bicubic upscale, so `read_index` recovers
the index from any output frame and tests can assert that order is kept and nothing is
dropped or duplicated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

INDEX_BITS = 8
"""Bits of the drawn frame index: clips hold at most 256 frames."""

AUDIO_RATE = 48000
AUDIO_FRAME_SAMPLES = {"aac": 1024, "libmp3lame": 1152, "mp3": 1152, "libopus": 960, "opus": 960, "flac": 1152, "pcm_s16le": 1024, "vorbis": 64}
AUDIO_CONTAINER_CODEC = {"mp3": "libmp3lame", "opus": "libopus"}

FORMATS = {".mp4": "mp4", ".m4a": "mp4", ".mkv": "matroska", ".mka": "matroska", ".mov": "mov", ".webm": "webm",
           ".avi": "avi"}


def band_height(height: int) -> int:
    """Rows of the index band at the top of a `height`-row frame."""
    return max(8, height // 4)


def block_width(width: int) -> int:
    return width // INDEX_BITS


def draw_frame(index: int, width: int, height: int, seed: int = 0) -> np.ndarray:
    """(height, width, 3) uint8 RGB: a moving coloured texture with `index` drawn in the top band."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    shift = 3.0 * index
    texture = np.stack(
        [
            128 + 70 * np.sin(2 * np.pi * (x + shift) / 23.0) * np.cos(2 * np.pi * y / 17.0),
            128 + 60 * np.cos(2 * np.pi * (x - shift + y) / 29.0),
            128 + 50 * np.sin(2 * np.pi * (y + shift) / 19.0),
        ],
        axis=-1,
    )
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.normal(0, 12, (height, width + 64)).astype(np.float32), (0, 0), 1.0)
    start = int(shift) % 64
    texture += noise[:, start : start + width, None]
    rgb = np.clip(texture, 20, 235).astype(np.uint8)
    band, block = band_height(height), block_width(width)
    for bit in range(INDEX_BITS):
        on = (index >> (INDEX_BITS - 1 - bit)) & 1
        rgb[:band, bit * block : (bit + 1) * block] = 255 if on else 0
    return rgb


def luma(frame: av.VideoFrame) -> np.ndarray:
    """The Y plane of a planar YUV/grey frame as a 2-D float array in [0, 1] (no colour conversion)."""
    fmt = frame.format
    depth = fmt.components[0].bits
    dtype = np.uint16 if depth > 8 else np.uint8
    if not fmt.name.startswith(("yuv", "gray")):
        frame = frame.reformat(format="gray")
        dtype, depth = np.uint8, 8
    plane = frame.planes[0]
    rows = np.frombuffer(plane, dtype=dtype).reshape(-1, plane.line_size // np.dtype(dtype).itemsize)
    return rows[: frame.height, : frame.width].astype(np.float32) / ((1 << depth) - 1)


def read_index(y: np.ndarray, width: int | None = None, height: int | None = None) -> int:
    """The index drawn into a frame by `draw_frame`, from its luma `y` (any scale of the original).

    `width`/`height` are the original (unscaled) frame size; by default the size of `y`.
    Each block is averaged over its middle half so that ringing at the edges does not matter.
    """
    out_h, out_w = y.shape
    width = width or out_w
    height = height or out_h
    sx, sy = out_w / width, out_h / height
    band, block = band_height(height) * sy, block_width(width) * sx
    value = 0
    for bit in range(INDEX_BITS):
        x0, x1 = bit * block + block / 4, (bit + 1) * block - block / 4
        patch = y[int(band / 4) : int(math.ceil(3 * band / 4)), int(x0) : int(math.ceil(x1))]
        value = (value << 1) | int(patch.mean() > 0.5)
    return value


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two float arrays in [0, 1]."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * math.log10(1.0 / mse)


@dataclass
class ClipSpec:
    width: int = 64
    height: int = 48
    frames: int = 12
    rate: Fraction = Fraction(25)
    codec: str = "libx264"
    pix_fmt: str = "yuv420p"
    time_base: Fraction | None = None
    durations: list[int] | None = None
    audio: tuple[str, ...] = ()
    colour: tuple[int, int, int, int] | None = None
    sar: Fraction | None = None
    rotation: int | None = None
    mirrored: bool = False
    """With `rotation`: the display matrix mirrors the picture too (a front camera, a flipped scan)."""
    options: dict[str, str] = field(default_factory=dict)
    corrupt: tuple[int, ...] = ()
    seed: int = 0


def write_clip(path: Path, spec: ClipSpec) -> Path:
    """Encode a clip described by `spec` at `path` (the container follows the extension).

    `durations` (ticks of `time_base`, one per frame) makes a variable-frame-rate clip;
    `colour` is (primaries, transfer, matrix, range) as FFmpeg enum values; `corrupt` lists
    video packets (in decode order) whose payload is replaced by random bytes.
    """
    fmt = FORMATS[path.suffix]
    rng = np.random.default_rng(spec.seed + 1)
    with av.open(str(path), "w", format=fmt) as out:
        video = out.add_stream(spec.codec, rate=spec.rate, options=_video_options(spec))
        video.width, video.height, video.pix_fmt = spec.width, spec.height, spec.pix_fmt
        tb = spec.time_base or Fraction(1, 1) / spec.rate
        video.time_base = tb
        video.codec_context.time_base = tb
        ctx = video.codec_context
        if spec.colour is not None:
            ctx.color_primaries, ctx.color_trc, ctx.colorspace, ctx.color_range = spec.colour
        if spec.sar is not None:
            ctx.sample_aspect_ratio = spec.sar
        if spec.rotation is not None:
            video.set_display_rotation(spec.rotation, hflip=spec.mirrored)
        pattern = spec.durations or [round(1 / (spec.rate * tb))]
        durations = [pattern[i % len(pattern)] for i in range(spec.frames)]
        pts = [sum(durations[:i]) for i in range(spec.frames)]
        seconds = float(sum(durations) * tb)

        events: list[tuple[float, int, object, object]] = []
        for i in range(spec.frames):
            frame = av.VideoFrame.from_ndarray(draw_frame(i, spec.width, spec.height, spec.seed), format="rgb24")
            frame = frame.reformat(format=spec.pix_fmt)
            frame.pts, frame.time_base = pts[i], tb
            frame.duration = durations[i]
            if spec.colour is not None:
                frame.color_range = spec.colour[3]
            events.append((float(pts[i] * tb), 0, video, frame))
        for track, name in enumerate(spec.audio):
            stream, frames = _audio_frames(out, name, seconds, 330.0 * (track + 1))
            events += [(float(f.pts * f.time_base), 1 + track, stream, f) for f in frames]
        events.sort(key=lambda e: (e[0], e[1]))

        video_packets = 0

        def mux(stream, packets):
            nonlocal video_packets
            for packet in packets:
                if stream is video:
                    if video_packets in spec.corrupt:
                        packet = _garbage_like(packet, rng)
                    video_packets += 1
                out.mux(packet)

        for _, _, stream, frame in events:
            mux(stream, stream.encode(frame))
        for stream in out.streams:
            mux(stream, stream.encode(None))
    return path


def _video_options(spec: ClipSpec) -> dict[str, str]:
    options = {"preset": "superfast", "crf": "12"} if spec.codec in ("libx264", "libx265") else {}
    if spec.codec == "libx264":
        options["x264-params"] = "log-level=error"
    return {**options, **spec.options}


def _audio_frames(out, name: str, seconds: float, hz: float):
    codec = AUDIO_CONTAINER_CODEC.get(name, name)
    stream = out.add_stream(codec, rate=AUDIO_RATE)
    if codec == "vorbis":  # FFmpeg's own Vorbis encoder (PyAV has no libvorbis)
        stream.codec_context.options = {"strict": "experimental"}
    stream.layout = "stereo"
    sample_format = av.codec.Codec(codec, "w").audio_formats[0].name
    stream.format = sample_format
    size = AUDIO_FRAME_SAMPLES[codec]
    total = int(round(seconds * AUDIO_RATE))
    frames = []
    for start in range(0, total, size):
        n = min(size, total - start)
        t = (start + np.arange(n)) / AUDIO_RATE
        tone = (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
        planar = np.stack([tone, tone])
        frame = av.AudioFrame.from_ndarray(planar, format="fltp", layout="stereo")
        frame.sample_rate = AUDIO_RATE
        if sample_format != "fltp":
            frame = av.AudioResampler(format=sample_format, layout="stereo", rate=AUDIO_RATE).resample(frame)[0]
        frame.pts, frame.time_base = start, Fraction(1, AUDIO_RATE)
        frames.append(frame)
    return stream, frames


def _garbage_like(packet: av.Packet, rng: np.random.Generator) -> av.Packet:
    bad = av.Packet(rng.integers(0, 256, packet.size, dtype=np.uint8).tobytes())
    bad.pts, bad.dts, bad.time_base, bad.stream = packet.pts, packet.dts, packet.time_base, packet.stream
    bad.is_keyframe = packet.is_keyframe
    return bad


# --- reading back -------------------------------------------------------------------------------


@dataclass
class VideoFacts:
    """What a file's first video stream looks like, read back with PyAV."""

    format_name: str
    codec: str
    width: int
    height: int
    pix_fmt: str
    time_base: Fraction
    average_rate: Fraction | None
    pts: list[int]
    duration_seconds: float
    colour: tuple[int, int, int, int]
    sar: Fraction | None
    rotation: int
    lumas: list[np.ndarray]
    audio_codecs: list[str]


def read_video(path: Path, *, keep_lumas: bool = True) -> VideoFacts:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        colour = (ctx.color_primaries, ctx.color_trc, ctx.colorspace, ctx.color_range)
        facts = VideoFacts(
            format_name=container.format.name,
            codec=ctx.name,
            width=ctx.width,
            height=ctx.height,
            pix_fmt=ctx.pix_fmt,
            time_base=stream.time_base,
            average_rate=stream.average_rate,
            pts=[],
            duration_seconds=container.duration / av.time_base if container.duration else 0.0,
            colour=colour,
            sar=stream.sample_aspect_ratio,
            rotation=0,
            lumas=[],
            audio_codecs=[s.codec_context.name for s in container.streams.audio],
        )
        for i, frame in enumerate(container.decode(stream)):
            if i == 0:
                facts.rotation = int(frame.rotation or 0)
            facts.pts.append(frame.pts)
            if keep_lumas:
                facts.lumas.append(luma(frame))
    return facts


def audio_packets(path: Path) -> list[list[bytes]]:
    """Every audio stream's packet payloads, in order (empty packets left out)."""
    with av.open(str(path)) as container:
        streams = list(container.streams.audio)
        payloads: dict[int, list[bytes]] = {s.index: [] for s in streams}
        if streams:
            for packet in container.demux(streams):
                if packet.size:
                    payloads[packet.stream.index].append(bytes(packet))
        return [payloads[s.index] for s in streams]


def audio_durations(path: Path) -> list[float]:
    """Seconds from the first audio packet's start to the last one's end, per audio stream."""
    with av.open(str(path)) as container:
        spans = {}
        if not container.streams.audio:
            return []  # (demux of no streams would read them all)
        for packet in container.demux(container.streams.audio):
            if packet.pts is None or not packet.size:
                continue
            start = float(packet.pts * packet.time_base)
            end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
            lo, hi = spans.get(packet.stream.index, (start, end))
            spans[packet.stream.index] = (min(lo, start), max(hi, end))
        return [hi - lo for lo, hi in (spans[i] for i in sorted(spans))]


def container_brand(path: Path) -> str:
    """What the file's header says it is: 'mp4', 'mov', 'webm' or 'matroska'."""
    head = path.read_bytes()[:64]
    if head[4:8] == b"ftyp":
        return "mov" if head[8:12] == b"qt  " else "mp4"
    if b"webm" in head:
        return "webm"
    if b"matroska" in head:
        return "matroska"
    return "unknown"


def write_audio_only(path: Path, codec: str = "aac", seconds: float = 0.5) -> Path:
    """A file with one audio stream and no video (e.g. .m4a or .mka)."""
    with av.open(str(path), "w", format=FORMATS[path.suffix]) as out:
        stream, frames = _audio_frames(out, codec, seconds, 440.0)
        for frame in frames:
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def listing(folder: Path) -> list[str]:
    """Every name in `folder`, hidden ones (temporary `.x.vsr-….partial.mp4` files) included, sorted."""
    return sorted(p.name for p in folder.iterdir())


def raw_planes(path: Path) -> list[list[np.ndarray]]:
    """Every frame's planes (Y first) as integer arrays without line padding, for exact comparisons."""
    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            fmt = frame.format
            dtype = np.uint16 if fmt.components[0].bits > 8 else np.uint8
            planes = []
            for plane in frame.planes:
                rows = np.frombuffer(plane, dtype=dtype).reshape(-1, plane.line_size // np.dtype(dtype).itemsize)
                planes.append(rows[: plane.height, : plane.width].copy())
            frames.append(planes)
    return frames


def remux(source: Path, target: Path, container: str, *, video_first: bool = False, **options: str) -> Path:
    """`source`'s packets copied unchanged into `target` in `container` (muxer `options` as given).
    `video_first`: every video packet first, then the other streams' (with the muxer option
    max_interleave_delta="1" they are stored in that order, as some muxers store a second's chunks)."""
    with av.open(str(source)) as src, av.open(str(target), "w", format=container, options=options) as out:
        streams = {s.index: out.add_stream_from_template(s) for s in src.streams}
        packets = src.demux()
        if video_first:
            packets = sorted((p for p in packets if p.size), key=lambda p: p.stream.type != "video")
        for packet in packets:
            if packet.size:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    return target


def hiding_first_frames(source: Path, target: Path, hidden: int) -> Path:
    """`source`'s video with its first `hidden` frames before time 0, which an MP4's edit list hides
    (what `ffmpeg -ss T -c copy` makes: the GOP's start is kept, but not shown)."""
    with av.open(str(source)) as src, av.open(str(target), "w") as out:
        stream = src.streams.video[0]
        video = out.add_stream_from_template(stream)
        shift = hidden * round(1 / (stream.average_rate * stream.time_base))
        for packet in src.demux(stream):
            if packet.size:
                packet.pts, packet.dts = packet.pts - shift, packet.dts - shift
                packet.stream = video
                out.mux(packet)
    return target
