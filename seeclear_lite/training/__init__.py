"""Training: the Charbonnier loss, Adam(0.5, 0.999) with cosine LR, and one training step (Sec. 4.1);
the training engine (configuration, checkpoints, EMA, data order, the loop with its stages, DDP) and
clip-by-clip sampling of whole videos with a trained checkpoint."""

from .losses import CHARBONNIER_EPS, charbonnier_loss
from .step import (PAPER_BETAS, cosine_lr_factor, make_optimizer, make_scheduler, prepare_batch, sample_timesteps,
                   train_step)

__all__ = ["CHARBONNIER_EPS", "charbonnier_loss", "PAPER_BETAS", "cosine_lr_factor", "make_optimizer",
           "make_scheduler", "prepare_batch", "sample_timesteps", "train_step"]

# --- the training engine (issue 8): config, checkpoints, EMA, data order, loop, sampling -------------------
from .checkpoint import (CHECKPOINT_FORMAT, CheckpointError, CheckpointManager, load_checkpoint, load_model,
                         save_checkpoint)
from .config import (PRESETS, ConfigError, Stage, TrainConfig, apply_overrides, get_train_config,
                     load_config_file, preset_names)
from .ema import EMA
from .engine import NonFiniteLossError, Trainer, train
from .sampler import ResumableBatchSampler
from .sampling import VideoSampler, checkpoint_super_resolver, sample_clip

__all__ += ["CHECKPOINT_FORMAT", "CheckpointError", "CheckpointManager", "load_checkpoint", "load_model",
            "save_checkpoint", "PRESETS", "ConfigError", "Stage", "TrainConfig", "apply_overrides",
            "get_train_config", "load_config_file", "preset_names", "EMA", "NonFiniteLossError", "Trainer", "train",
            "ResumableBatchSampler", "VideoSampler", "checkpoint_super_resolver", "sample_clip"]
