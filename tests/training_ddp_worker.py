"""Run by tests/test_training_distributed.py under torchrun: train the micro config, save this rank's weights.

usage: python -m torch.distributed.run --standalone --nproc_per_node=2 tests/training_ddp_worker.py OUT KEY=VALUE...
"""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from training_helpers import MICRO  # noqa: E402

from seeclear_lite.config import get_config as get_train_config
from seeclear_lite.training import Trainer  # noqa: E402
from seeclear_lite.training.distributed import cleanup  # noqa: E402


def main() -> None:
    torch.set_num_threads(1)
    out, extra = sys.argv[1], sys.argv[2:]
    cfg = get_train_config("tiny", MICRO + extra)
    tr = Trainer(cfg, out, device=torch.device("cpu"), log=lambda *a: None)
    assert tr.info.world_size == int(os.environ["WORLD_SIZE"]) == 2
    tr.fit()
    torch.save({"model": tr.model.state_dict(), "ema": tr.ema.state_dict(), "step": tr.step},
               os.path.join(out, f"rank{tr.info.rank}.pt"))
    cleanup()


if __name__ == "__main__":
    main()
