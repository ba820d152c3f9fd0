"""vsr: video super-resolution that keeps audio, timing and metadata.

    import vsr
    vsr.upscale_video("input.mp4", scale=4)          # writes input_x4.mp4

    options = vsr.UpscaleOptions(model=vsr.ModelOptions(name="espcn", scale=2))
    vsr.upscale_video("input.mp4", "out.mkv", options=options)
"""

from vsr.errors import VsrError
from vsr.models import SRModel, load_model, model_names
from vsr.options import EncodeOptions, FilterOptions, ModelOptions, MultiFrameOptions, RunOptions, UpscaleOptions
from vsr.pipeline.result import UpscaleResult
from vsr.pipeline.run import upscale_video

__all__ = [
    "upscale_video",
    "UpscaleResult",
    "UpscaleOptions",
    "ModelOptions",
    "MultiFrameOptions",
    "FilterOptions",
    "EncodeOptions",
    "RunOptions",
    "load_model",
    "model_names",
    "SRModel",
    "VsrError",
]
__version__ = "0.1.0"
