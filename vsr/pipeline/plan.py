"""Planning a job: everything decided before the first frame (model, engine, formats, sizes)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from vsr.engine import LumaEngine, default_batch_size, make_engine
from vsr.engine.fusion import LearnedFusion
from vsr.errors import ConfigError, UnsupportedModelError
from vsr.media.encode import DEFAULT_CODECS, check_aspect_kept, check_encode, choose_pix_fmt, pixel_format_loss
from vsr.media.filterplan import FilterPlan, plan_filters
from vsr.media.frames import Layout
from vsr.media.mux import check_time_precision
from vsr.media.probe import VideoInfo
from vsr.misr.denoise import TemporalDenoiseSettings
from vsr.models import SRModel, resolve
from vsr.options import EncodeOptions, UpscaleOptions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """Everything decided before the first frame: input, model, engine, formats and sizes.
    `frames` is the multi-frame window (1 in single mode); `debug_dir` receives multi-frame
    alignment maps. `video_filter`: the user's FFmpeg filter chain (--vf, "" for none); `filters`:
    every filter run on the decoded frames (deinterlacing, denoising, --vf, colour, aspect), checked
    against the input, and what the frames are after them (`filtered`); `denoise`: the settings of
    the temporal denoising stage after them (--denoise temporal; None: no such stage)."""

    info: VideoInfo
    model: SRModel
    engine: LumaEngine | LearnedFusion
    container: str
    codec: str
    encode_options: EncodeOptions
    layout: Layout
    batch_size: int
    width: int
    height: int
    filters: FilterPlan
    mode: str = "single"
    frames: int = 1
    debug_dir: Path | None = None
    video_filter: str = ""
    denoise: TemporalDenoiseSettings | None = None
    default_batch_size: int = 0
    """The batch the device takes by itself: batch_size, unless a --batch-size asked for another."""

    @property
    def filtered(self) -> VideoInfo:
        """The frames the upscaler gets: the input after the filters (size, rate, time base, frame
        count, the colour tagged on the output, aspect)."""
        return self.filters.output

    def describe(self) -> str:
        """One line for the log: sizes, model, device, precision, batch, codec and pixel format."""
        info = self.info
        multi = f", multi-frame ({self.frames} frames)" if self.mode == "multi" else ""
        ensemble = ", self-ensemble x8" if getattr(self.engine, "ensemble", False) else ""
        filters = f", filters: {self.filters.describe()}" if self.filters.steps else ""
        return (
            f"{info.path.name} {info.width}x{info.height} → {self.width}x{self.height}, model {self.model.name} "
            f"x{self.model.scale}{multi}{ensemble} on {self.engine.device} ({self.engine.precision}), batch {self.batch_size}, "
            f"{self.codec} {self.layout.pix_fmt}{filters}"
        )


def plan_job(info: VideoInfo, container: str, options: UpscaleOptions, *, model: SRModel | None = None) -> Job:
    """Validate `options` (UpscaleOptions.validate), resolve the model (vsr.models.resolve: a name,
    a weight file's path; `model`, a loaded SRModel, replaces `options.model.name`) and choose the engine, pixel format, batch size and output size for
    upscaling `info` into a `container` ("mp4", "matroska", ...). Raises a VsrError subclass."""
    options.validate()
    mode, frames = options.multi_frame.mode, options.multi_frame.frames
    sr_model = resolve(model if model is not None else options.model.name, options.model.scale)
    check_ensemble(sr_model, options.model.ensemble)
    check_network_settings(sr_model, options.model.device, options.model.precision)
    encode = options.encode
    codec = encode.codec or DEFAULT_CODECS[container]
    check_encode(codec, encode)  # before the plan is said: a run refused says only why
    layout = Layout(choose_pix_fmt(codec, info.pix_fmt, encode.pix_fmt))
    if (loss := pixel_format_loss(info.pix_fmt, layout.pix_fmt)) is not None:
        log.warning("the input's %s is written as %s: %s", info.pix_fmt, layout.pix_fmt, loss)
    if info.hdr_metadata:
        log.warning("the input's HDR %s metadata is not carried over (its transfer and primaries are): "
                    "HDR displays may tone-map the output differently", " and ".join(info.hdr_metadata))
    filters = plan_filters(info, options.filters, layout.pix_fmt)  # a filter that cannot run on this input fails now
    frames_in = filters.output  # what the upscaler gets: the size after --square-pixels
    check_aspect_kept(container, codec, frames_in.sample_aspect_ratio)
    check_time_precision(container, frames_in.average_rate)
    engine = choose_engine(sr_model, mode, frames, options.model.device, options.model.precision, layout.max_value,
                           ensemble=options.model.ensemble)
    default_batch = default_batch_size(engine, frames_in.width, frames_in.height)
    batch = options.model.batch_size or default_batch
    scale = options.model.scale
    width, height = layout.even_size(frames_in.width * scale, frames_in.height * scale)
    if (width, height) != (frames_in.width * scale, frames_in.height * scale):
        log.warning(
            "%s needs even dimensions: padding %dx%d to %dx%d by repeating the last column/row",
            layout.pix_fmt, frames_in.width * scale, frames_in.height * scale, width, height,
        )
    multi = mode == "multi"
    return Job(
        info, sr_model, engine, container, codec, encode, layout, batch, width, height, filters,
        mode, frames if multi else 1, options.multi_frame.debug_dir if multi else None, options.filters.video,
        TemporalDenoiseSettings() if options.filters.denoise == "temporal" else None, default_batch,
    )


def check_ensemble(sr_model: SRModel, ensemble: bool) -> None:
    """ConfigError for --ensemble on a model that is not learned (bicubic): it would run 8 times for
    the same picture."""
    if ensemble and not sr_model.learned:
        raise ConfigError(f"--ensemble averages a network over the 8 flips and rotations; {sr_model.name} is the same "
                          "in every orientation: drop --ensemble or name a model")


def check_network_settings(sr_model: SRModel, device: str, precision: str) -> None:
    """ConfigError for a half precision or a GPU asked of a model that is not learned (bicubic:
    OpenCV on the CPU, in the samples' integers): they were ignored without a word."""
    if sr_model.learned:
        return
    half = precision in ("fp16", "bf16")
    if half or device not in ("auto", "cpu"):
        asked = f"--precision {precision}" if half else f"--device {device}"
        raise ConfigError(f"{sr_model.name} is OpenCV's interpolation, on the CPU in the samples' own integers: "
                          f"{asked} does not apply; drop it, or name a network model")


def choose_engine(model: SRModel, mode: str, frames: int, device: str, precision: str,
                  max_value: int, *, ensemble: bool = False) -> LumaEngine | LearnedFusion:
    """The single-frame engine, or for a multi-frame model (multi mode only) its LearnedFusion;
    with `ensemble`, run on the 8 orientations and averaged.
    Raises VsrError when the model and the mode or window do not fit together."""
    if not model.is_multi_frame:
        return make_engine(model, device, precision, max_value, ensemble)
    if mode != "multi":
        raise UnsupportedModelError(f"{model.name} is a multi-frame model (learned fusion): use it with --mode multi")
    if frames != model.frames:
        raise UnsupportedModelError(f"{model.name} fuses windows of {model.frames} frames; use --frames {model.frames}")
    return LearnedFusion(model, device, precision, ensemble)
