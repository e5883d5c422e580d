"""Training and sampling (Sec. 4.1, Algorithm 1): the loss, Adam(0.5, 0.999) with cosine LR, the engine (stages,
checkpoints, EMA, exact resume, DDP) and clip-by-clip sampling of whole videos."""

from .checkpoint import (CHECKPOINT_FORMAT, CheckpointError, CheckpointManager, load_checkpoint, load_model,
                         save_checkpoint)
from .ema import EMA
from .engine import NonFiniteLossError, Trainer, train
from .losses import CHARBONNIER_EPS, charbonnier_loss, diffusion_loss
from .batches import ResumableBatchSampler
from .sampling import VideoSampler, checkpoint_super_resolver, denoiser, sample_clip
from .step import (PAPER_BETAS, cosine_lr_factor, make_optimizer, make_scheduler, prepare_batch, sample_timesteps,
                   train_step)

__all__ = ["CHECKPOINT_FORMAT", "CheckpointError", "CheckpointManager", "load_checkpoint", "load_model",
           "save_checkpoint", "EMA", "NonFiniteLossError", "Trainer", "train", "CHARBONNIER_EPS",
           "charbonnier_loss", "diffusion_loss", "ResumableBatchSampler", "VideoSampler",
           "checkpoint_super_resolver", "denoiser", "sample_clip", "PAPER_BETAS", "cosine_lr_factor",
           "make_optimizer", "make_scheduler", "prepare_batch", "sample_timesteps", "train_step"]
