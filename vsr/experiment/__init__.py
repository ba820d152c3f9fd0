"""Streaming-cost experiments (`vsr experiment`): does sending a video at a lower resolution and
upscaling it at the receiver save bits at equal quality, and with which upscaler?

    from vsr.experiment import make_settings, run_experiment
    result = run_experiment("clip.mp4", "runs/ladder", make_settings(scales="1,2", upscalers="bicubic,espcn"))
"""

from vsr.experiment.run import ExperimentResult, run_experiment
from vsr.experiment.spec import ExperimentSettings, load_config, make_settings

__all__ = ["ExperimentResult", "ExperimentSettings", "load_config", "make_settings", "run_experiment"]
