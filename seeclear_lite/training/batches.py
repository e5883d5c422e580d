"""The data order of a run: a pure function of (seed, epoch, position), split over processes.

:class:`ResumableBatchSampler` yields the local batches of one process. Epoch ``e`` visits the dataset in
the order ``randperm(n, seed + e)``; it is cut into *global* batches of ``global_batch`` indices (the last
incomplete one is dropped, so every step has the same batch), and process ``rank`` of ``world_size`` takes
the ``rank``-th contiguous slice of each global batch. Hence:
* the same global batch is seen whatever the number of processes (a 2-process run and a 1-process run
  with the same global batch see the same clips at every step: the gloo test relies on it);
* resuming needs only (epoch, position within the epoch), both functions of the step, so
  ``set_epoch(e, start_batch=k)`` continues the exact order without loading the skipped batches.

This replaces ``torch.utils.data.DistributedSampler`` (which interleaves indices across ranks and has no
mid-epoch resume).
"""

from __future__ import annotations

import torch
from torch.utils.data import Sampler


class ResumableBatchSampler(Sampler):
    """Batches of dataset indices for one process (see the module docstring).

    Args:
        n: dataset length. global_batch: clips per step over all processes (divisible by ``world_size``).
        seed: base seed of the shuffle. shuffle: False = the natural order (validation, tests).
    """

    def __init__(self, n: int, global_batch: int, seed: int = 0, rank: int = 0, world_size: int = 1,
                 shuffle: bool = True):
        if global_batch % world_size:
            raise ValueError(f"the global batch {global_batch} is not divisible by the {world_size} processes; "
                             f"set data.batch_size to a multiple of the process count.")
        if n < global_batch:
            raise ValueError(f"the dataset has {n} clip windows, fewer than one global batch of {global_batch}; "
                             f"lower data.batch_size or add clips.")
        self.n, self.global_batch, self.seed = int(n), int(global_batch), int(seed)
        self.rank, self.world_size, self.shuffle = int(rank), int(world_size), bool(shuffle)
        self.local_batch = self.global_batch // self.world_size
        self.epoch, self.start_batch = 0, 0

    @property
    def batches_per_epoch(self) -> int:
        return self.n // self.global_batch

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Start epoch ``epoch`` at its batch ``start_batch`` (resume in the middle of an epoch)."""
        if not 0 <= start_batch < self.batches_per_epoch:
            raise ValueError(f"start_batch must be in 0..{self.batches_per_epoch - 1}, got {start_batch}.")
        self.epoch, self.start_batch = int(epoch), int(start_batch)

    def order(self, epoch: int) -> list[int]:
        if not self.shuffle:
            return list(range(self.n))
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.n, generator=g).tolist()

    def global_batches(self, epoch: int) -> list[list[int]]:
        order = self.order(epoch)
        b = self.global_batch
        return [order[i * b:(i + 1) * b] for i in range(self.batches_per_epoch)]

    def __iter__(self):
        lo = self.rank * self.local_batch
        for batch in self.global_batches(self.epoch)[self.start_batch:]:
            yield batch[lo:lo + self.local_batch]

    def __len__(self) -> int:
        return self.batches_per_epoch - self.start_batch
