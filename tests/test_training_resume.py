"""Exact resume (issue 8): 2N steps straight == N steps, stop, resume N steps, bit for bit, on the CPU.

The run crosses an epoch boundary and a stage boundary (Sec. 4.1 stages with their own optimiser and
schedule), and validates on the way, so every piece of state a resume must restore is exercised: model, EMA,
Adam moments, scheduler, step, RNG states, data order (epoch and position within it)."""

import torch

from training_helpers import micro_config

from seeclear_lite.training import Trainer

# 12 training windows of the sample clips / global batch 4 = 3 steps per epoch; stages of 3 + 3 steps
EXTRA = ["data.batch_size=4",
         "stages=[{name: a, steps: 3, train: condenser}, {name: b, steps: 3, train: all, lr: 5.0e-4}]",
         "runtime.ckpt_every=100", "val.every=2"]


def _final(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def _assert_same_tree(a, b, where=""):
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), f"differs at {where}"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), f"keys differ at {where}"
        for k in a:
            _assert_same_tree(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"lengths differ at {where}"
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same_tree(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def test_resume_is_bit_exact(tmp_path):
    cfg = micro_config(*EXTRA)
    assert cfg.total_steps == 6
    straight = Trainer(cfg, tmp_path / "straight", device=torch.device("cpu"), log=lambda *a: None)
    assert straight.batches.batches_per_epoch == 3
    straight.fit()

    # stop at the stage + epoch boundary (step 3), resume, stop mid-epoch / mid-stage (step 5), resume to the end
    out = tmp_path / "resumed"
    Trainer(cfg, out, device=torch.device("cpu"), log=lambda *a: None).fit(stop_at=3)
    t2 = Trainer(cfg, out, resume=out / "checkpoints" / "step_00000003.pt", device=torch.device("cpu"),
                 log=lambda *a: None)
    assert (t2.step, t2.stage) == (3, 1)
    t2.fit(stop_at=5)
    t3 = Trainer(cfg, out, resume="auto", device=torch.device("cpu"), log=lambda *a: None)
    assert t3.step == 5
    t3.fit()

    a = _final(tmp_path / "straight" / "checkpoints" / "step_00000006.pt")
    b = _final(out / "checkpoints" / "step_00000006.pt")
    for key in ("model", "ema", "optimizer", "scheduler", "rng", "step", "stage", "epoch", "batch_in_epoch"):
        _assert_same_tree(a[key], b[key], key)
    assert (a["step"], a["epoch"], a["batch_in_epoch"]) == (6, 2, 0)
    # the weights did move, and EMA differs from them (so the comparison above is not vacuous)
    init = Trainer(cfg, tmp_path / "init", device=torch.device("cpu"), log=lambda *a: None).model.state_dict()
    assert any(not torch.equal(init[k], a["model"][k]) for k in init)
    assert any(not torch.equal(a["ema"][k], a["model"][k]) for k in init)
    # same validation numbers in both histories (validation is part of the run, and deterministic)
    va = [r["val_psnr"] for r in a["history"] if r.get("val_psnr") is not None]
    vb = [r["val_psnr"] for r in b["history"] if r.get("val_psnr") is not None]
    assert va == vb and len(va) == 3


def test_data_order_is_a_function_of_seed_and_epoch():
    from seeclear_lite.training import ResumableBatchSampler

    s = ResumableBatchSampler(10, 4, seed=3)
    full = [list(s.global_batches(e)) for e in range(3)]
    assert full[0] != full[1]                              # reshuffled each epoch
    assert all(len(b) == 4 for e in full for b in e)       # the incomplete batch is dropped
    s.set_epoch(1, start_batch=1)
    assert list(s) == full[1][1:]                          # mid-epoch resume skips without loading
    r0, r1 = (ResumableBatchSampler(10, 4, seed=3, rank=r, world_size=2) for r in (0, 1))
    r0.set_epoch(2), r1.set_epoch(2)
    assert [a + b for a, b in zip(r0, r1)] == full[2]      # ranks split each global batch
