"""Semantic Distiller (Eqs. 8–9): the contract, the joint-k-means default, the cache and the precomputed one."""

import time

import numpy as np
import pytest
import torch

from seeclear_lite.semantics import (KMeansDistiller, PrecomputedDistiller, SemanticDistiller,
                                     moving_square_clip, precompute_distilled, save_distilled)


@pytest.fixture(scope="module")
def square():
    frames, masks = moving_square_clip(n_frames=5, size=64, square=16, step=(2, 4))
    return frames, masks


@pytest.fixture(scope="module")
def distilled(square):
    d = KMeansDistiller(k=8, d=64)
    return d, d(square[0])


def test_shapes_and_contract(distilled):
    d, (tokens, seg) = distilled
    assert tokens.shape == (1, 5, d.k, d.d)
    assert seg.shape == (1, 5, d.c, 64, 64) and d.c == d.k + 4
    assert torch.isfinite(tokens).all() and torch.isfinite(seg).all()
    assign = seg[:, :, : d.k]
    assert assign.min() >= 0 and assign.sum(2).max() <= 1 + 1e-5   # soft assignments to the kept k of 12


def test_segment_follows_moving_object_across_frames(square, distilled):
    """The object's pixels get one segment id j in every frame, and j's pixels are the object's."""
    _, masks = square
    d, (_, seg) = distilled
    labels = KMeansDistiller.labels(seg[0], d.k)                          # [N, h, w]
    j = int(torch.mode(labels[0][masks[0]]).values)
    for i in range(5):
        on_object = (labels[i][masks[i]] == j).float().mean().item()
        in_segment = masks[i][labels[i] == j].float().mean().item()
        assert on_object >= 0.95, f"frame {i}: only {on_object:.2f} of the object has segment {j}"
        assert in_segment >= 0.90, f"frame {i}: only {in_segment:.2f} of segment {j} is on the object"
        ys, xs = torch.nonzero(labels[i] == j, as_tuple=True)
        oy, ox = torch.nonzero(masks[i], as_tuple=True)
        assert abs(ys.float().mean() - oy.float().mean()) < 1.0 and abs(xs.float().mean() - ox.float().mean()) < 1.0
    # the square is the most salient segment (area × contrast): first in the top-k order
    assert j == 0


def test_token_motion_descriptor_sees_the_motion(square, distilled):
    """Tokens are a fixed projection of the descriptors: recover them and read the centroid motion."""
    d, (tokens, _) = distilled
    desc = torch.linalg.lstsq(d.projection.T, tokens[0, :, 0].T).solution.T   # [N, 11] for segment 0
    motion = desc[1:, 9:11] / 5.0                                              # (dx, dy) per frame, in [0, 1] units
    assert torch.allclose(motion, torch.tensor([4 / 64, 2 / 64]).expand(4, 2), atol=2e-3)


def test_deterministic_frozen_no_grad(square):
    frames = square[0].clone().requires_grad_(True)
    a = KMeansDistiller(seed=3)
    a.train()
    assert not a.training, "a distiller stays in eval mode"
    t1, s1 = a(frames)
    t2, s2 = KMeansDistiller(seed=3)(square[0])
    assert torch.equal(t1, t2) and torch.equal(s1, s2)
    assert not t1.requires_grad and not s1.requires_grad
    assert all(not p.requires_grad for p in a.parameters())
    t3, _ = KMeansDistiller(seed=4)(square[0])
    assert not torch.allclose(t1, t3), "the seed must change the token projection"


def test_fast_on_cpu(square):
    """Well under a second for a 5-frame 64×64 clip. Measured as CPU time (best of 3), so that other
    processes on a busy machine do not make the test flaky; it sums both threads, so it is >= wall time."""
    d = KMeansDistiller()
    d(square[0])
    times = []
    for _ in range(3):
        t0 = time.process_time()
        d(square[0])
        times.append(time.process_time() - t0)
    assert min(times) < 1.0, f"distilling took {min(times):.2f} s of CPU time"


def test_batch_equals_clip_by_clip(square):
    d = KMeansDistiller()
    other = square[0].flip(-1)
    tb, sb = d(torch.cat([square[0], other]))
    t1, s1 = d(other)
    assert torch.equal(tb[1:], t1) and torch.equal(sb[1:], s1)


def test_cache(square):
    d = KMeansDistiller(cache_size=2)
    out1 = d(square[0])
    out2 = d(square[0])
    assert d.cache_hits == 1
    assert torch.equal(out1[0], out2[0]) and torch.equal(out1[1], out2[1])
    batch = torch.cat([square[0].flip(-2), square[0]])        # one miss, one hit
    tb, _ = d(batch)
    assert d.cache_hits == 2 and torch.equal(tb[1], out1[0][0])
    d(square[0].flip(-1))                                     # evicts the oldest (LRU)
    assert len(d._cache) == 2


def test_bad_input_messages(square):
    d = KMeansDistiller()
    with pytest.raises(ValueError, match="to_image_range"):
        d(square[0] * 2 - 1)
    with pytest.raises(ValueError, match=r"\[B, N, 3, h, w\]"):
        d(square[0][0])
    with pytest.raises(ValueError, match="n_segments"):
        KMeansDistiller(k=8, n_segments=4)


def test_plugin_output_is_checked(square):
    class Broken(SemanticDistiller):
        def __init__(self):
            super().__init__(k=4, d=8, c=3)

        def distill(self, lr_frames):
            B, N = lr_frames.shape[:2]
            return torch.zeros(B, N, 5, 8), torch.zeros(B, N, 3, 4, 4)

    with pytest.raises(ValueError, match="expected \\[B, N, k, d\\]"):
        Broken()(square[0])


# --- precomputed ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["npz", "pt"])
def test_precomputed_round_trip(tmp_path, square, distilled, fmt):
    d, (tokens, seg) = distilled
    ids = [f"{i:08d}" for i in range(5)]
    precompute_distilled(d, [("clipA", ids, square[0][0])], tmp_path, fmt=fmt)
    assert (tmp_path / "clipA" / f"00000003.{fmt}").is_file()
    p = PrecomputedDistiller(tmp_path)                                   # k, d, c from meta.json
    assert (p.k, p.d, p.c) == (d.k, d.d, d.c)
    t, s = p(square[0], clips=["clipA"], frame_ids=[ids])
    assert torch.equal(t, tokens) and torch.equal(s, seg)
    t2, _ = p(square[0], clips=["clipA"])                               # frame ids from the folder
    assert torch.equal(t2, tokens)
    t3, _ = p(square[0], clips=["clipA"], frame_ids=[ids[::-1]])        # reversed file order
    assert torch.equal(t3, tokens.flip(1))


def test_precomputed_errors(tmp_path, square):
    frames = square[0]
    ids = [f"f{i}" for i in range(5)]
    save_distilled(tmp_path, "c", ids[:4], torch.zeros(4, 3, 8), torch.zeros(4, 2, 6, 6))
    p = PrecomputedDistiller(tmp_path, k=3, d=8, c=2)
    with pytest.raises(FileNotFoundError, match="missing precomputed semantics for clip 'c', frame 'f4'"):
        p(frames, clips=["c"], frame_ids=[ids])
    with pytest.raises(ValueError, match="4 frame files but lr_frames has N=5"):
        p(frames, clips=["c"])
    with pytest.raises(FileNotFoundError, match="clip 'nope'"):
        p(frames, clips=["nope"])
    with pytest.raises(ValueError, match="clip names"):
        p(frames)
    np.savez(tmp_path / "c" / "f4.npz", tokens=np.zeros((3, 9), np.float32), seg=np.zeros((2, 6, 6), np.float32))
    with pytest.raises(ValueError, match=r"tokens have shape \(3, 9\), expected \[k, d\] = \(3, 8\)"):
        p(frames, clips=["c"], frame_ids=[ids])
    np.savez(tmp_path / "c" / "f4.npz", tokens=np.zeros((3, 8), np.float32), seg=np.zeros((5, 6, 6), np.float32))
    with pytest.raises(ValueError, match="seg has shape .* c = 2"):
        p(frames, clips=["c"], frame_ids=[ids])
    np.savez(tmp_path / "c" / "f4.npz", tokens=np.zeros((3, 8), np.float32), seg=np.zeros((2, 7, 7), np.float32))
    with pytest.raises(ValueError, match="same h', w'"):
        p(frames, clips=["c"], frame_ids=[ids])
    np.savez(tmp_path / "c" / "f4.npz", tokens=np.zeros((3, 8), np.float32))
    with pytest.raises(ValueError, match="no array 'seg'"):
        p(frames, clips=["c"], frame_ids=[ids])
    with pytest.raises(ValueError, match="needs k"):
        PrecomputedDistiller(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        PrecomputedDistiller(tmp_path / "absent", k=1, d=1, c=1)


def test_degenerate_clips_stay_finite():
    """A flat clip (every pixel equal), a single tiny frame and odd sizes: no NaN, the contract holds."""
    d = KMeansDistiller()
    for frames in (torch.full((1, 5, 3, 16, 16), 0.5), torch.rand(2, 1, 3, 4, 4), torch.rand(1, 3, 3, 7, 9)):
        tokens, seg = d(frames)
        assert tokens.shape[:3] == (*frames.shape[:2], d.k) and seg.shape[-2:] == frames.shape[-2:]
        assert torch.isfinite(tokens).all() and torch.isfinite(seg).all()
