"""CaTeGory memory (Sec. 3.3, Eqs. 16–20, Algorithm 1 lines 37–45)."""

from __future__ import annotations

import copy
import dataclasses
import math

import pytest
import torch

from seeclear_lite.config import MemoryConfig, get_config, get_model_config
from seeclear_lite.memory import CaTeGory, MemoryQuery, MemoryState
from seeclear_lite.utils.params import count_parameters

TOKEN_DIM = 16
LEVELS = (24, 16, 16, 8)          # decoder widths, in call order (deepest first)
SIZES = ((3, 5), (6, 10), (12, 20), (12, 20))  # decoder map sizes per level (odd / non-square on purpose)


def make(seed: int = 0, levels=LEVELS, token_dim: int = TOKEN_DIM, **overrides) -> CaTeGory:
    torch.manual_seed(seed)
    kw = dict(groups=2, items=4, texture_dim=8, heads=2, feat_pool=4)
    kw.update(overrides)
    return CaTeGory(levels, token_dim, sizes=MemoryConfig(**kw))


def run_clip(cat, feats_in, tokens, n_frames, memory):
    """Query every decoder level of one clip like SeeClear.forward does: one memory read per clip (Eq. 19),
    then Eq. 20 at each level. Returns the enhanced features (= the clip's decoder features)."""
    read = cat.read(tokens, memory)
    return [cat.query(level, f, read, n_frames) for level, f in enumerate(feats_in)]


def clip_data(b=2, n=3, k=5, seed=1, dtype=torch.float32, levels=LEVELS, sizes=SIZES):
    g = torch.Generator().manual_seed(seed)
    feats = [torch.randn(b * n, c, h, w, generator=g, dtype=dtype) for c, (h, w) in zip(levels, sizes)]
    tokens = torch.randn(b, k, TOKEN_DIM, generator=g, dtype=dtype)
    return feats, tokens


# ---------------------------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("b,n,k", [(1, 1, 1), (2, 3, 5), (3, 5, 2)])
@pytest.mark.parametrize("state_kind", ["params", "state"])
def test_shapes_at_every_level(b, n, k, state_kind):
    cat = make()
    assert cat.num_levels == 4 and cat.level_channels == LEVELS and cat.token_dim == TOKEN_DIM
    assert cat.C.shape == (2, 4, 4) and cat.T.shape == (2, 4, 8)
    feats, tokens = clip_data(b, n, k)
    memory = None if state_kind == "params" else cat.initial_state(b)
    outs = run_clip(cat, feats, tokens, n, memory)
    for f, out in zip(feats, outs):
        assert out.shape == f.shape and out.dtype == f.dtype
        assert torch.isfinite(out).all()
    assert cat.semantics(tokens).shape == (b, 2, k, 4)  # o [B, J, K, I]
    assert cat.read(tokens, memory).shape == (b, 2 * k, 8)  # J*K read tokens of width d_t
    new = cat.update(memory, outs, tokens)
    assert new.C.shape == (b, 2, 4, 4) and new.T.shape == (b, 2, 4, 8) and new.clips_seen == 1


@pytest.mark.parametrize("preset", ["tiny", "base"])
def test_presets_run_with_other_level_widths(preset):
    levels = (32, 24, 16)
    sizes = ((4, 4), (8, 7), (16, 13))
    torch.manual_seed(0)
    sizes_cfg = get_model_config(preset).memory_sizes
    cat = CaTeGory(levels, TOKEN_DIM, sizes=sizes_cfg)
    assert cat.sizes is sizes_cfg
    feats, tokens = clip_data(1, 2, 3, levels=levels, sizes=sizes)
    outs = run_clip(cat, feats, tokens, 2, None)
    assert [o.shape for o in outs] == [f.shape for f in feats]
    assert cat.update(None, outs, tokens).T.shape[1:] == (cat.sizes.groups, cat.sizes.items, cat.sizes.texture_dim)


def _category_of(preset: str) -> CaTeGory:
    """The CaTeGory a preset's SeeClear builds (decoder widths deepest first, d = the clip tokens' width)."""
    m = get_model_config(preset)
    return CaTeGory(tuple(reversed(m.widths)), m.incam_sizes.token_dim, m.memory_sizes)


def test_parameter_sizes_of_presets():
    tiny, base, paper = _category_of("tiny_full"), _category_of("base"), _category_of("paper")
    assert count_parameters(tiny) < 100_000
    assert count_parameters(base) < 500_000           # InCAM + CaTeGory ~ 1 M at `base`
    assert 8e6 < count_parameters(paper) < 30e6       # the paper's scale (229 M in all, Table 5)
    groups = base.parameter_groups()
    assert set(groups) == {"pairs", "construction", "query"}
    counts = {k: sum(p.numel() for p in v) for k, v in groups.items()}
    assert counts["pairs"] + counts["construction"] + counts["query"] == count_parameters(base)
    ids = [id(p) for v in groups.values() for p in v]
    assert len(ids) == len(set(ids)) and set(ids) == {id(p) for p in base.parameters()}  # a partition
    assert counts["pairs"] == 8 * 16 * 16 + 8 * 16 * 64  # J*I*I + J*I*d_t


# ------------------------------------------------------------------------------------------- equations
def test_eq19_attention_and_read_match_a_direct_computation():
    cat = make().double()
    feats, tokens = clip_data(2, 3, 5, dtype=torch.float64)
    state = cat.initial_state(2)
    state = cat.update(state, run_clip(cat, feats, tokens, 3, state), tokens)
    o = cat.semantics(tokens)  # [B, J, K, I]
    read = cat.read(tokens, state).view(2, 2, 5, 8)
    for b in range(2):
        for j in range(2):
            for k in range(5):
                logits = torch.stack([o[b, j, k] @ state.C[b, j, :, i] for i in range(4)]) / math.sqrt(4)
                a = torch.softmax(logits, dim=0)  # Eq. 19: softmax over the items
                expected = sum(a[i] * state.T[b, j, i] for i in range(4))  # A_j T_j
                torch.testing.assert_close(read[b, j, k], expected, rtol=0, atol=1e-12)


def test_eq20_is_a_residual_cross_attention_scaled_by_gamma():
    cat = make().double()
    feats, tokens = clip_data(1, 2, 3, dtype=torch.float64)
    read = cat.read(tokens)
    base = cat.query(1, feats[1], read, 2) - feats[1]
    assert base.abs().max() > 0
    gamma = cat.level_queries[1].gamma
    with torch.no_grad():
        gamma.mul_(2.0)
    torch.testing.assert_close(cat.query(1, feats[1], read, 2) - feats[1], 2 * base, rtol=1e-10, atol=1e-12)
    with torch.no_grad():
        gamma.zero_()
    assert torch.equal(cat.query(1, feats[1], read, 2), feats[1])


def test_eq20_matches_a_direct_multi_head_computation():
    cat = make().double()
    b, n, k = 2, 3, 5
    feats, tokens = clip_data(b, n, k, dtype=torch.float64)
    state = cat.initial_state(b)
    level = 1
    f = feats[level]  # [B*N, C, h, w], batch-major frames
    read = cat.read(tokens, state)  # [B, J*K, d_t]
    out = cat.query(level, f, read, n)
    q_mod = cat.level_queries[level]
    assert isinstance(q_mod, MemoryQuery)
    att = q_mod.attn
    heads, d_head = 2, 4
    for bi in range(b):
        mem = torch.nn.functional.layer_norm(read[bi], (8,), q_mod.memory_norm.weight, q_mod.memory_norm.bias)
        keys, vals = att.k(mem), att.v(mem)  # [J*K, 8]
        for ni in range(n):
            x = f[bi * n + ni].flatten(1).T  # [h*w, C]: the pixels of frame ni of video bi
            xq = att.q(torch.nn.functional.layer_norm(x, (x.shape[1],), q_mod.norm.weight, q_mod.norm.bias))
            per_head = []
            for hd in range(heads):
                sl = slice(hd * d_head, (hd + 1) * d_head)
                w = torch.softmax(xq[:, sl] @ keys[:, sl].T / math.sqrt(d_head), dim=-1)  # over J*K reads
                per_head.append(w @ vals[:, sl])
            expected = x + att.out(torch.cat(per_head, dim=1)) * q_mod.gamma
            torch.testing.assert_close(out[bi * n + ni].flatten(1).T, expected, rtol=0, atol=1e-12)


def test_query_is_equivariant_to_the_frame_order():
    cat = make().double()
    feats, tokens = clip_data(1, 3, 5, dtype=torch.float64)
    perm = torch.tensor([2, 0, 1])
    read = cat.read(tokens)
    a = cat.query(2, feats[2], read, 3)
    b = cat.query(2, feats[2][perm], read, 3)
    torch.testing.assert_close(a[perm], b, rtol=0, atol=1e-12)


def test_c_update_is_the_soft_kmeans_step():
    cat = make(c_momentum=0.3).double()
    _, tokens = clip_data(1, 1, 4, dtype=torch.float64)
    C = cat.initial_state(1).C
    o = cat.semantics(tokens)
    new = cat.update_semantics(C, o)
    A = cat.attention(o, C)
    for j in range(2):
        for i in range(4):
            w = A[0, j, :, i].sum()
            c_hat = sum(A[0, j, k, i] * o[0, j, k] for k in range(4)) / w
            rate = 0.3 * w / (w + 1)
            torch.testing.assert_close(new[0, j, :, i], (1 - rate) * C[0, j, :, i] + rate * c_hat,
                                       rtol=0, atol=1e-12)
    fixed = make(c_momentum=0.0)
    assert torch.equal(fixed.update_semantics(fixed.initial_state(1).C, fixed.semantics(tokens.float())),
                       fixed.initial_state(1).C)


def test_identity_init_makes_eq17_a_no_op_bridge():
    cat = make()
    assert torch.equal(cat.C @ cat.T, cat.T)  # C̄ = I: T̂ = T̄ at init
    assert cat.T.abs().max() > 0


# ------------------------------------------------------------------------------------------- gradients
def two_clip_loss(cat, seed=1):
    """Clip 1 reads the learned pairs, the update writes the memory, clip 2 reads the new memory."""
    feats1, tokens1 = clip_data(2, 3, 5, seed=seed)
    feats2, tokens2 = clip_data(2, 3, 5, seed=seed + 1)
    state0 = cat.initial_state(2, detach=False)
    outs1 = run_clip(cat, feats1, tokens1, 3, state0)
    state1 = cat.update(state0, outs1, tokens1, detach=False)
    outs2 = run_clip(cat, feats2, tokens2, 3, state1)
    return sum((o ** 2).mean() for o in outs1 + outs2)


def test_gradients_reach_C_T_and_every_parameter():
    cat = make()
    two_clip_loss(cat).backward()
    for name, p in cat.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient reached {name}"


def test_single_clip_training_reaches_C_and_T():
    cat = make()
    feats, tokens = clip_data()
    outs = run_clip(cat, feats, tokens, 3, None)  # memory None = the learned pairs
    sum((o ** 2).mean() for o in outs).backward()
    assert cat.C.grad.abs().sum() > 0 and cat.T.grad.abs().sum() > 0


def test_zero_init_of_both_pairs_starves_the_product():
    # the paper's init: C̄ = T̄ = 0. Eq. 17 is then a saddle: no gradient reaches C̄ at all
    zero = make(init="zeros")
    assert torch.count_nonzero(zero.C) == 0 and torch.count_nonzero(zero.T) == 0
    two_clip_loss(zero).backward()
    assert torch.count_nonzero(zero.C.grad) == 0
    # ... and through the construction M alone neither factor moves, however long we train
    zero = make(init="zeros")
    feats, tokens = clip_data()
    opt = torch.optim.SGD([zero.C, zero.T], lr=1.0)
    for _ in range(3):
        opt.zero_grad()
        new = zero.update(None, feats, tokens, detach=False)
        (new.T ** 3).sum().backward()
        assert torch.count_nonzero(zero.C.grad) == 0 and torch.count_nonzero(zero.T.grad) == 0
        opt.step()
    assert torch.count_nonzero(zero.C) == 0 and torch.count_nonzero(zero.T) == 0
    # our init (C̄ = I, T̄ small random): the same loss reaches both factors at the first step
    ours = make()
    new = ours.update(None, feats, tokens, detach=False)
    (new.T ** 3).sum().backward()
    assert ours.C.grad.abs().sum() > 0 and ours.T.grad.abs().sum() > 0


# ------------------------------------------------------------------------------- update across clips
def test_update_changes_memory_and_next_clip_uses_it():
    cat = make()
    feats1, tokens1 = clip_data(2, 3, 5, seed=1)
    feats2, tokens2 = clip_data(2, 3, 5, seed=2)
    with torch.no_grad():
        state0 = cat.initial_state(2)
        outs1 = run_clip(cat, feats1, tokens1, 3, state0)
        state1 = cat.update(state0, outs1, tokens1)
        assert (state1.T - state0.T).abs().max() > 1e-2
        assert (state1.C - state0.C).abs().max() > 1e-4
        with_update = run_clip(cat, feats2, tokens2, 3, state1)
        without_update = run_clip(cat, feats2, tokens2, 3, state0)
    for a, b in zip(with_update, without_update):
        assert (a - b).abs().max() > 1e-4


def _train_carry_task(update: bool, steps: int = 120, seed: int = 0) -> float:
    """Toy task: clip 1 of each video shows a random colour c (its features); clip 2 shows noise and must
    output c. Only the clip-to-clip update can carry c across (the clip tokens are independent of c)."""
    torch.manual_seed(seed)
    cat = CaTeGory((8,), 8, MemoryConfig(groups=2, items=4, texture_dim=16, heads=2, feat_pool=4))
    opt = torch.optim.Adam(cat.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(seed + 1)
    b, n, c, h = 16, 2, 8, 4
    losses = []
    for _ in range(steps):
        colour = torch.randn(b, c, generator=g)
        clip1 = colour[:, None, :, None, None].expand(b, n, c, h, h).reshape(b * n, c, h, h)
        clip1 = clip1 + 0.1 * torch.randn(b * n, c, h, h, generator=g)
        clip2 = torch.randn(b * n, c, h, h, generator=g)
        tokens = torch.randn(b, 3, 8, generator=g)
        state0 = cat.initial_state(b, detach=False)
        out1 = cat.query(0, clip1, cat.read(tokens, state0), n)
        state1 = cat.update(state0, [out1], tokens, detach=False) if update else state0
        out2 = cat.query(0, clip2, cat.read(tokens, state1), n)
        pred = (out2 - clip2).view(b, n, c, h * h).mean(dim=(1, 3))
        loss = ((pred - colour) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return sum(losses[-20:]) / 20


def test_memory_learns_to_carry_information_to_the_next_clip():
    with_update, without_update = _train_carry_task(True), _train_carry_task(False)
    # predicting the mean (0) gives var(c) = 1; measured ~0.15 with the update vs ~1.0 without
    assert without_update > 0.8
    assert with_update < 0.4


def test_fixed_c_option_keeps_c():
    cat = make(c_momentum=0.0)
    feats, tokens = clip_data()
    state0 = cat.initial_state(2)
    state1 = cat.update(state0, feats, tokens)
    assert torch.equal(state1.C, state0.C) and not torch.equal(state1.T, state0.T)


def test_carried_state_is_detached_bounded_and_constant_size():
    cat = make()
    state = cat.initial_state(2)
    size = state.numel(), state.nbytes()
    gamma, beta = cat.out_norm.weight.detach(), cat.out_norm.bias.detach()
    d_t = cat.sizes.texture_dim
    bound = math.sqrt(d_t - 1) * gamma.abs().max() + beta.abs().max()  # |LayerNorm output| <= this
    c_lo, c_hi = state.C.min(), state.C.max()
    for clip in range(10):
        feats, tokens = clip_data(2, 3, 5, seed=100 + clip)
        feats = [f.requires_grad_() for f in feats]  # even with inputs in a graph ...
        outs = run_clip(cat, feats, tokens, 3, state)
        state = cat.update(state, outs, tokens)
        # ... the carried memory holds no graph
        assert state.C.grad_fn is None and state.T.grad_fn is None and not state.requires_grad
        assert (state.numel(), state.nbytes()) == size
        assert state.T.abs().max() <= bound + 1e-5
        o = cat.semantics(tokens).detach()
        c_lo, c_hi = torch.minimum(c_lo, o.min()), torch.maximum(c_hi, o.max())
        assert c_lo - 1e-6 <= state.C.min() and state.C.max() <= c_hi + 1e-6  # convex update of C
    assert state.clips_seen == 10


def test_update_with_detach_false_keeps_the_graph():
    cat = make()
    feats, tokens = clip_data()
    kept = cat.update(cat.initial_state(2, detach=False), feats, tokens, detach=False)
    assert kept.requires_grad and kept.T.grad_fn is not None
    assert not cat.initial_state(2).requires_grad and cat.initial_state(2, detach=False).requires_grad


def test_memory_is_per_video():
    cat = make()
    feats, tokens = clip_data(2, 3, 5)
    state = cat.update(None, feats, tokens)
    feats2 = [f.clone() for f in feats]
    for f in feats2:
        f[3:] += 1.0  # change only video 1 (images 3..5)
    tokens2 = tokens.clone()
    tokens2[1] += 1.0
    state2 = cat.update(None, feats2, tokens2)
    assert torch.allclose(state.T[0], state2.T[0], atol=1e-6) and torch.allclose(state.C[0], state2.C[0])
    assert not torch.allclose(state.T[1], state2.T[1], atol=1e-3)


def test_update_does_not_depend_on_frame_order():
    cat = make().double()
    feats, tokens = clip_data(1, 3, 5, dtype=torch.float64)
    perm = torch.tensor([2, 0, 1])
    a = cat.update(None, feats, tokens)
    b = cat.update(None, [f[perm] for f in feats], tokens)
    torch.testing.assert_close(a.T, b.T, rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- determinism and copies
def test_deterministic():
    feats, tokens = clip_data()
    a, b = make(seed=7), make(seed=7)
    for (na, pa), (nb, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert na == nb and torch.equal(pa, pb)
    out_a = run_clip(a, feats, tokens, 3, None)
    out_b = run_clip(b, feats, tokens, 3, None)
    assert all(torch.equal(x, y) for x, y in zip(out_a, out_b))
    sa, sb = a.update(None, out_a, tokens), b.update(None, out_b, tokens)
    assert torch.equal(sa.C, sb.C) and torch.equal(sa.T, sb.T)


def test_state_moves_and_deepcopy_is_independent():
    cat = make()
    state = cat.initial_state(2).to(torch.float64)
    assert state.C.dtype == torch.float64 and state.batch == 2
    twin = copy.deepcopy(cat).double()
    feats, tokens = clip_data(dtype=torch.float64)
    out = run_clip(twin, feats, tokens, 3, state)
    assert out[0].dtype == torch.float64
    # a copy (e.g. the EMA model) owns its own pairs and queries: changing it leaves the original alone
    assert cat.C.dtype == torch.float32
    with torch.no_grad():
        twin.level_queries[0].gamma.zero_()
    assert torch.equal(run_clip(twin, feats, tokens, 3, state)[0], feats[0])
    assert cat.level_queries[0].gamma.abs().min() > 0


# ---------------------------------------------------------------------------------------------- errors
def test_clear_errors_for_wrong_shapes():
    cat = make()
    feats, tokens = clip_data(2, 3, 5)
    read = cat.read(tokens)
    with pytest.raises(ValueError, match="channels but CaTeGory was built with 24"):
        cat.query(0, feats[1], read, 3)
    with pytest.raises(ValueError, match="n_frames=4"):
        cat.query(0, feats[0], read, 4)
    with pytest.raises(ValueError, match=r"feature map \[B\*N, C, h, w\]"):
        cat.query(0, feats[0][0], read, 3)
    with pytest.raises(ValueError, match=r"clip_tokens \(O_c\) must be a tensor \[B, K, 16\]"):
        cat.read(tokens[..., :8])
    with pytest.raises(ValueError, match=r"clip_tokens \(O_c\)"):
        cat.read(tokens[0])
    with pytest.raises(ValueError, match=r"clip_tokens \(O_c\) must be a tensor.*NoneType"):
        cat.read(None)  # no InCAM clip tokens
    with pytest.raises(ValueError, match=r"clip_tokens \(O_c\)"):
        cat.update(None, feats, tokens[..., :8])
    with pytest.raises(ValueError, match="one feature map per decoder level"):
        cat.update(None, feats[:3], tokens)
    with pytest.raises(ValueError, match="not a multiple of the 2 videos"):
        cat.update(None, [f[:5] for f in feats], tokens)
    with pytest.raises(ValueError, match="holds 1 videos but the clip tokens hold 2"):
        cat.read(tokens, cat.initial_state(1))
    with pytest.raises(TypeError, match="must be a MemoryState or None"):
        cat.read(tokens, (cat.C, cat.T))
    with pytest.raises(ValueError, match=r"move it with state.to\(device, dtype\)"):
        cat.read(tokens, cat.initial_state(2).to(torch.float64))
    other = make(items=3).initial_state(2)
    with pytest.raises(ValueError, match="build it with this module's initial_state"):
        cat.read(tokens, other)
    with pytest.raises(ValueError, match="build it with this module's initial_state"):
        cat.update(other, feats, tokens)
    with pytest.raises(ValueError, match=r"level must be an integer in \[0, 3\]"):
        cat.query(4, feats[0], read, 3)
    with pytest.raises(ValueError, match=r"level must be an integer in \[0, 3\]"):
        cat.query(True, feats[1], read, 3)
    with pytest.raises(ValueError, match="batch must be a positive integer"):
        cat.initial_state(0)
    with pytest.raises(ValueError, match="MemoryState.T must have shape"):
        MemoryState(torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 3, 8))


def test_clear_errors_for_bad_sizes():
    with pytest.raises(ValueError, match="not divisible by heads=3"):
        CaTeGory((8,), 8, MemoryConfig(texture_dim=8, heads=3))
    with pytest.raises(ValueError, match="level_channels must list"):
        CaTeGory((), 8)
    with pytest.raises(ValueError, match="init must be 'identity'"):
        CaTeGory((8,), 8, MemoryConfig(init="ones"))
    # c_momentum is range-checked by the configuration (CaTeGory's constructor does not check it)
    with pytest.raises(ValueError, match=r"c_momentum must be in \[0, 1\]"):
        get_config("tiny_full", {"model.memory_sizes.c_momentum": 1.5})


# ------------------------------------------------------------------------------------ inside SeeClear
def _clip(g, b=1, n=1, size=16):
    """An LR clip in [0, 1] and its x4 upsampling y in [-1, 1] (the tiny condenser pads frames to 64 x 64)."""
    lr = torch.rand(b, n, 3, size // 4, size // 4, generator=g)
    y = torch.nn.functional.interpolate(lr.flatten(0, 1) * 2 - 1, scale_factor=4, mode="bilinear")
    return lr, y.reshape(b, n, 3, size, size)


def test_seeclear_queries_its_category_and_carries_memory_across_clips():
    from seeclear_lite.models import build_model

    torch.manual_seed(0)
    model = build_model("tiny_full")
    cat = model.memory
    assert isinstance(cat, CaTeGory) and cat.level_channels == tuple(reversed(model.config.widths))
    assert cat.token_dim == model.config.incam_sizes.token_dim and cat.sizes == model.config.memory_sizes
    assert model.parameter_counts()["category"] == count_parameters(cat)
    # stored once, under memory.
    keys = [k for k in model.state_dict() if "level_queries" in k]
    assert keys and all(k.startswith("memory.") for k in keys)
    b, n = 1, 1
    g = torch.Generator().manual_seed(3)
    clips = [_clip(g, b, n) for _ in range(2)]
    t = torch.full((b,), 3, dtype=torch.long)

    def decode(m, lr, y, memory):
        cond = m.condition(lr, y, memory)
        _, feats = m(y, y, t, cond, return_features=True)
        return feats, cond

    with torch.no_grad():
        state0 = cat.initial_state(b)
        feats1, cond1 = decode(model, *clips[0], state0)
        assert [f.shape[1] for f in feats1] == list(cat.level_channels)
        state1 = model.update_memory(state0, feats1, cond1)
        assert state1.clips_seen == 1 and not state1.requires_grad
        ref = cat.update(state0, feats1, cond1.clip_tokens)
        assert torch.equal(state1.C, ref.C) and torch.equal(state1.T, ref.T)
        with_update, _ = decode(model, *clips[1], state1)
        without_update, _ = decode(model, *clips[1], state0)
        # an EMA-like copy drives its own memory: zeroing its LayerScales leaves the original untouched
        twin = copy.deepcopy(model)
        for q in twin.memory.level_queries:
            q.gamma.zero_()
        off, _ = decode(twin, *clips[1], state1)
        again, _ = decode(model, *clips[1], state1)
        # with gamma = 0 the model is the baseline without CaTeGory (same other weights)
        model_without = build_model(dataclasses.replace(model.config, category=False))
        assert model_without.memory is None and model_without.update_memory(None, feats1, cond1) is None
        model_without.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("memory.")})
        baseline, _ = decode(model_without, *clips[1], None)
    assert (with_update[-1] - without_update[-1]).abs().max() > 1e-4
    assert all(torch.equal(a, b) for a, b in zip(again, with_update))
    assert (off[-1] - with_update[-1]).abs().max() > 1e-4
    assert all(torch.equal(a, b) for a, b in zip(off, baseline))  # memory switched off = the model without it


def test_parameter_split_for_training_stages():
    """Sec. 4.1's stages: ``memory`` trains CaTeGory alone, ``condenser`` everything else but the frozen
    distiller, ``all`` both."""
    from seeclear_lite.models import build_model

    model = build_model("tiny_full")
    mem, rest, every = model.trainable("memory"), model.trainable("condenser"), model.trainable("all")
    assert {id(p) for p in mem} == {id(p) for p in model.memory.parameters()}
    assert sum(p.numel() for p in mem) == count_parameters(model.memory)
    assert sum(p.numel() for p in rest) == count_parameters(model) - count_parameters(model.memory) \
        - count_parameters(model.distiller)
    assert not {id(p) for p in mem} & {id(p) for p in rest}
    assert {id(p) for p in every} == {id(p) for p in mem + rest}
    with pytest.raises(ValueError, match="has no CaTeGory"):
        build_model("tiny").trainable("memory")


def test_runs_with_incam_clip_tokens_in_the_full_model():
    from seeclear_lite.models import build_model

    torch.manual_seed(0)
    model = build_model("tiny_full")
    cfg, cat = model.config, model.memory
    s = cfg.incam_sizes
    b, n, size = 1, 2, 16
    g = torch.Generator().manual_seed(0)
    tokens = torch.randn(b, n, s.tokens_k, s.token_dim, generator=g)  # distiller output O
    seg = torch.randn(b, n, s.seg_c, size // 4, size // 4, generator=g)  # and P
    x = torch.rand(b, n, 3, size, size, generator=g) * 2 - 1
    t = torch.full((b,), 3, dtype=torch.long)
    with torch.no_grad():
        state = cat.initial_state(b)
        for clip in range(2):
            cond = model.condition(None, x, state, distilled=(tokens, seg))
            assert cond.clip_tokens.shape == (b, s.tokens_k, cat.token_dim)  # O_c from InCAM
            assert cond.memory_read.shape == (b, cat.sizes.groups * s.tokens_k, cat.sizes.texture_dim)
            x0, feats = model(x, x, t, cond, return_features=True)
            assert x0.shape == x.shape and torch.isfinite(x0).all()
            state = model.update_memory(state, feats, cond)
    assert state.clips_seen == 2
