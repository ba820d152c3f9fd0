"""Training: the TOML config (config.py), patches of LR/HR luma pairs (data.py, pairs made by
`vsr.eval.protocol`), multi-frame windows (sequences.py) and the training loop (loop.py).

    from vsr.train.config import load_config
    from vsr.train import train
    result = train(load_config("configs/train/espcn_x4.toml"))
"""

from vsr.train.loop import Progress, TrainResult, train

__all__ = ["train", "TrainResult", "Progress"]
