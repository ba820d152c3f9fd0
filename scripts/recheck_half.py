"""Re-measure supports_half of a finished run with the current inference code (one-off; see docs/models.md)."""
# Recompute supports_half / half_max_error_levels of a finished run with the current inference code
# (exactly what vsr.train.loop._finish computes), for files written before InputConv existed.
import sys, torch, shutil
torch.set_num_threads(1)
from vsr.train.config import load_config
from vsr.eval.protocol import list_images, load_pairs
from vsr.train.data import centre_crop, split_train_val
from vsr.train.loop import half_precision_error
from vsr.models.checkpoint import module_from_checkpoint, save_checkpoint
cfg = load_config(sys.argv[1])
paths = [p for d in cfg.data.train_dirs for p in list_images(d)]
_, va = split_train_val(paths, cfg.data.val_count, cfg.train.seed)
s = cfg.model.scale
vp = [p for p in (centre_crop(p, cfg.data.val_crop, s) for p in load_pairs(va, s)) if min(p.lr.shape) > 4]
run = f"{cfg.train.output}/model.pt"
c = torch.load(run, weights_only=True)
err = half_precision_error(module_from_checkpoint(c), vp)
c["supports_half"] = max(err.values()) <= 1
c["metrics"]["half_max_error_levels"] = err
save_checkpoint(run, c)
shutil.copyfile(run, cfg.train.ship_to)
print(sys.argv[1], err, c["supports_half"])
