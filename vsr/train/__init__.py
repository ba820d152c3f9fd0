"""Training: HR images -> LR/HR luma pairs (data.py, resize.py) and the training loop (loop.py).

    from vsr.train.config import load_config
    from vsr.train import train
    result = train(load_config("configs/train/espcn_x4.toml"))
"""

from vsr.train.loop import Progress, TrainResult, train

__all__ = ["train", "TrainResult", "Progress"]
