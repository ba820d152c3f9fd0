"""vsr: video super-resolution that keeps audio, timing and metadata.

    import vsr
    vsr.upscale_video("input.mp4", scale=4)          # writes input_x4.mp4
"""

from vsr.errors import VsrError
from vsr.models import SRModel, load_model, model_names
from vsr.pipeline.run import UpscaleResult, upscale_video

__all__ = ["upscale_video", "UpscaleResult", "load_model", "model_names", "SRModel", "VsrError"]
__version__ = "0.1.0"
