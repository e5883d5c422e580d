"""seeclear_lite.kit.trained_views: the shipped files by path, aligned crops, chains with every x̂0, what InCAM's
attention does (checked against the modules' own attention maps) and the memory switched off and on."""

import math

import pytest
import torch

from seeclear_lite.config import get_config
from seeclear_lite.data.datasets import FolderClips, resolve_basicsr_root
from seeclear_lite.data.samples import VALIDATION_CLIP, load_sample_clip
from seeclear_lite.diffusion import BlurringResShift
from seeclear_lite.kit import trained_views as tv
from seeclear_lite.models import build_model
from seeclear_lite.training.sampling import sample_clip


@pytest.fixture(scope="module")
def tiny_full():
    torch.manual_seed(0)
    cfg = get_config("tiny_full", ["diffusion.T=3"])
    return build_model(cfg.model).eval(), cfg


def test_shipped_checkpoint_paths_and_fallback(tmp_path, monkeypatch):
    assert tv.shipped_checkpoint("full").name == "small.pt"
    with pytest.raises(ValueError, match="kind must be one of"):
        tv.shipped_checkpoint("large")
    (tmp_path / "small.pt").write_bytes(b"x")                    # a folder with the full model only
    monkeypatch.setattr(tv, "SHIPPED_CHECKPOINT", tmp_path / "small.pt")
    assert tv.shipped_checkpoint("baseline", fallback=True) == tmp_path / "small.pt"
    with pytest.raises(FileNotFoundError, match="small_baseline.pt"):
        tv.shipped_checkpoint("baseline")


def test_sample_crop_is_aligned_and_crop_dataset_reads_back(tmp_path):
    lr, gt = tv.sample_crop(VALIDATION_CLIP, frames=3, lr_size=16, first=1)
    full_lr, full_gt = load_sample_clip(VALIDATION_CLIP, "BIx4"), load_sample_clip(VALIDATION_CLIP, "GT")
    y0 = (full_lr.shape[-2] - 16) // 2
    x0 = (full_lr.shape[-1] - 16) // 2
    assert lr.shape == (3, 3, 16, 16) and gt.shape == (3, 3, 64, 64)
    assert torch.equal(lr, full_lr[1:4, :, y0:y0 + 16, x0:x0 + 16])
    assert torch.equal(gt, full_gt[1:4, :, 4 * y0:4 * y0 + 64, 4 * x0:4 * x0 + 64])
    whole_lr, whole_gt = tv.sample_crop(VALIDATION_CLIP, frames=1, lr_size=None)
    assert torch.equal(whole_lr, full_lr[:1]) and torch.equal(whole_gt, full_gt[:1])
    with pytest.raises(ValueError, match="larger than"):
        tv.sample_crop(VALIDATION_CLIP, frames=1, lr_size=1000)
    root = tv.crop_dataset(tmp_path / "data", VALIDATION_CLIP, frames=2, lr_size=8)
    source = FolderClips(*resolve_basicsr_root(root), 4, [VALIDATION_CLIP], None)
    assert source.num_frames(VALIDATION_CLIP) == 2
    assert source.load_gt(VALIDATION_CLIP, range(2)).shape == (2, 32, 32, 3)
    assert source.load_lr(VALIDATION_CLIP, range(2)).shape == (2, 8, 8, 3)


def test_chain_run_keeps_every_prediction_of_the_sampler(tiny_full):
    model, cfg = tiny_full
    lr, gt = tv.sample_crop(VALIDATION_CLIP, frames=2, lr_size=8)
    run = tv.chain_run(model, cfg, lr, gt, seed=3)
    assert run.steps == [3, 2, 1] and len(run.predictions) == 3 and len(run.psnr) == 3
    diffusion = BlurringResShift.from_config(cfg.diffusion)
    sr, _ = sample_clip(model, diffusion, lr[None], form=cfg.diffusion.form, generator=torch.Generator().manual_seed(3))
    assert torch.equal(run.output, (sr[0] * 255).round() / 255)   # the chain's output, 8-bit
    assert run.first is run.predictions[0] and run.gt.shape == run.output.shape == run.bicubic.shape
    first = tv.chain_run(model, cfg, lr, gt, seed=3, steps=1)
    assert first.steps == [3] and torch.equal(first.output, run.first)


def test_token_attention_sums_to_one_and_is_the_modules_own(tiny_full):
    model, cfg = tiny_full
    lr, _ = tv.sample_crop("train_bbb", frames=5, lr_size=16)
    cap = tv.capture_incam(model, cfg, lr)
    assert set(cap.ca) == set(cap.mfsa) == set(cap.blocks) and cap.t == 3
    name = next(iter(cap.ca))
    f, block = cap.ca[name], cap.blocks[name]
    w = tv.token_attention(block, f, cap.cond)
    k = cap.cond.tokens.shape[2]
    assert w.shape == (5, block.cross_attention.attn.heads, *f.shape[-2:], k)
    assert torch.allclose(w.sum(-1), torch.ones(()), atol=1e-5)
    # the probabilities rebuild the block's cross-attention output
    ca = block.cross_attention
    ctx = ca.context(cap.cond, 1, 5)
    v = ca.attn.v(ctx).unflatten(-1, (ca.attn.heads, -1)).transpose(1, 2)            # [N, heads, k, d_h]
    out = (w.flatten(2, 3) @ v).transpose(1, 2).flatten(2)
    want = ca(f, cap.cond).flatten(2).transpose(1, 2) - f.flatten(2).transpose(1, 2)
    assert torch.allclose(ca.attn.out(out), want, atol=1e-5)
    ids = tv.segment_ids(cap.cond, f.shape[-2:])
    assert ids.shape == (5, *f.shape[-2:]) and int(ids.max()) < k


def test_incam_stats_agree_with_the_modules_attention_maps(tiny_full):
    model, cfg = tiny_full
    lr, _ = tv.sample_crop("train_bbb", frames=5, lr_size=16)
    cap = tv.capture_incam(model, cfg, lr)
    stats = tv.incam_stats(cap)
    assert set(stats) == set(cap.blocks)
    name = max(stats, key=lambda n: stats[n]["size"][0])
    g, mfsa = cap.mfsa[name], cap.blocks[name].mfsa
    N, (h, w) = 5, g.shape[-2:]
    seg = tv.segment_ids(cap.cond, (h, w))
    queries = [(t, r, c) for t in range(N) for r in range(h) for c in range(w)]
    maps = mfsa.attention_maps(g, cap.cond, queries)[:, 0].mean(1)                   # [Q, N, h, w]
    other, own = [], []
    for a, (t, r, c) in zip(maps, queries):
        o = torch.arange(N) != t
        other.append(a[o].sum().item())
        own.append(((a[o] * (seg[o] == seg[t, r, c])).sum() / a[o].sum()).item())
    mf = stats[name]["mfsa"]
    assert mf["mass_other"] == pytest.approx(sum(other) / len(other), abs=1e-5)
    assert mf["own_segment"] == pytest.approx(sum(own) / len(own), abs=1e-5)
    row = stats[name]
    assert 0 <= row["entropy"] <= 1 + 1e-6 and 1 / row["k"] - 1e-6 <= row["top"] <= 1
    uniform = torch.full((4, 3), 1 / 3)
    assert (-(uniform * uniform.log()).sum(-1) / math.log(3)).mean().item() == pytest.approx(1.0)


def test_memory_read_off_restores_and_zero_layer_scale_changes_nothing(tiny_full):
    model, cfg = tiny_full
    memory = model.memory
    with pytest.raises(RuntimeError):
        with tv.memory_read_off(model):
            assert model.memory is None
            raise RuntimeError
    assert model.memory is memory
    pairs = tv.memory_pairs(model)
    assert pairs["C_minus_identity"] == 0 and pairs["gamma"] == [pytest.approx(cfg.model.memory_sizes.layer_scale_init)] * 4
    lr, gt = tv.sample_crop(VALIDATION_CLIP, frames=5, lr_size=8)
    assert tv.memory_effect(model, cfg, lr, gt)["steps"] == 3
    saved = [q.gamma.detach().clone() for q in memory.level_queries]
    with torch.no_grad():
        for q in memory.level_queries:
            q.gamma.zero_()
    try:
        effect = tv.memory_effect(model, cfg, lr, gt)
    finally:
        with torch.no_grad():
            for q, g in zip(memory.level_queries, saved):
                q.gamma.copy_(g)
    assert effect["mean_abs"] == 0 and effect["psnr_with"] == effect["psnr_without"]
    assert all(v == 0 for v in effect["relative_feature_change"].values())
    assert effect["A"].shape == (cfg.model.memory_sizes.groups, cfg.model.incam_sizes.tokens_k, cfg.model.memory_sizes.items)


def test_baseline_has_neither_incam_nor_memory():
    cfg = get_config("tiny", ["diffusion.T=2"])
    model = build_model(cfg.model).eval()
    lr, _ = tv.sample_crop(VALIDATION_CLIP, frames=1, lr_size=8)
    with pytest.raises(ValueError, match="no InCAM"):
        tv.capture_incam(model, cfg, lr)
    with pytest.raises(ValueError, match="no CaTeGory"):
        tv.memory_pairs(model)


def test_xt_slice_stacks_one_row_over_time():
    video = torch.rand(6, 3, 10, 12)
    s = tv.xt_slice(video, 4)
    assert s.shape == (6, 12, 3) and torch.equal(s[2, :, 1], video[2, 1, 4])
