"""Multi-process training with PyTorch's own runtime: ``torchrun --nproc_per_node=K -m seeclear_lite train ...``.

torchrun sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``;
:func:`init_distributed` reads them, joins the process group (NCCL on CUDA, gloo on the CPU) and pins each
process to its GPU. The model is wrapped in ``DistributedDataParallel`` (gradients are averaged over
processes, so each process's loss is the mean over its local batch and the update equals that of one process
with the global batch); the data order is split by :class:`~.batches.ResumableBatchSampler`; only rank 0
logs, validates and writes checkpoints (:func:`is_main`), the others wait at :func:`barrier`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..utils import get_device


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_info() -> DistInfo:
    """The process's place in a torchrun launch (``DistInfo()`` when not launched by torchrun)."""
    return DistInfo(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                    int(os.environ.get("LOCAL_RANK", 0)))


def init_distributed(device: torch.device | None = None) -> tuple[DistInfo, torch.device | None]:
    """Join the process group if launched with several processes; returns (info, device to use).

    On CUDA every process uses ``cuda:LOCAL_RANK`` and NCCL; on the CPU gloo."""
    info = env_info()
    if not info.enabled:
        return info, device
    if dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), info.local_rank), device
    use_cuda = torch.cuda.is_available() and (device is None or device.type == "cuda")
    if use_cuda:
        torch.cuda.set_device(info.local_rank)
        device = torch.device(get_device().type, info.local_rank)   # the GPU of this process
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return info, device


def current() -> DistInfo:
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    return DistInfo()


def is_main() -> bool:
    return current().is_main


def barrier() -> None:
    if current().enabled:
        dist.barrier()


def all_true(flag: bool, device: torch.device) -> bool:
    """True on every process iff ``flag`` is true on every process (e.g. "my loss is finite")."""
    if not current().enabled:
        return bool(flag)
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item() > 0.5)


def broadcast_object(obj, src: int = 0):
    """``obj`` of rank ``src`` on every process."""
    if not current().enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
