"""CaTeGory memory (Sec. 3.3, Eqs. 16–20, Algorithm 1 lines 37–45)."""

from __future__ import annotations

import copy
import math
import types

import pytest
import torch
from torch import nn

from seeclear_lite.memory import (CaTeGory, CaTeGoryConfig, MemoryState, category_config_for, count_parameters,
                                  memory_parameters, split_parameters)

TOKEN_DIM = 16
LEVELS = (24, 16, 16, 8)          # decoder widths, in call order
SIZES = ((3, 5), (6, 10), (12, 20), (12, 20))  # decoder map sizes per level (odd / non-square on purpose)


def make(seed: int = 0, **overrides) -> CaTeGory:
    torch.manual_seed(seed)
    kw = dict(token_dim=TOKEN_DIM, level_channels=LEVELS, groups=2, items=4, texture_dim=8, heads=2,
              feat_pool=4)
    kw.update(overrides)
    return CaTeGory(CaTeGoryConfig(**kw))


def cond_for(tokens, n_frames, memory=None):
    return types.SimpleNamespace(n_frames=n_frames, tokens=None, seg=None, clip_tokens=tokens,
                                 memory=memory, decoder_feats=[])


def run_clip(cat, feats_in, tokens, n_frames, memory):
    """Run the decoder hooks of one clip like the condenser would; returns (outputs, cond)."""
    cond = cond_for(tokens, n_frames, memory)
    outs = []
    for level, f in enumerate(feats_in):
        out = cat.query_hook(level)(f, cond)
        cond.decoder_feats.append(out)  # the condenser appends each level's output
        outs.append(out)
    return outs, cond


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
    feats, tokens = clip_data(b, n, k)
    memory = None if state_kind == "params" else cat.initial_state(b)
    outs, cond = run_clip(cat, feats, tokens, n, memory)
    for f, out in zip(feats, outs):
        assert out.shape == f.shape and out.dtype == f.dtype
        assert torch.isfinite(out).all()
    assert cat.read(tokens, memory).shape == (b, 2 * k, 8)  # J*K read tokens of width d_t
    new = cat.update(memory, cond.decoder_feats, tokens)
    assert new.C.shape == (b, 2, 4, 4) and new.T.shape == (b, 2, 4, 8) and new.clips_seen == 1


@pytest.mark.parametrize("preset", ["tiny", "base"])
def test_presets_run_with_other_level_widths(preset):
    levels = (32, 24, 16)
    sizes = ((4, 4), (8, 7), (16, 13))
    torch.manual_seed(0)
    cat = CaTeGory(CaTeGoryConfig.preset(preset, token_dim=TOKEN_DIM, level_channels=levels))
    feats, tokens = clip_data(1, 2, 3, levels=levels, sizes=sizes)
    outs, cond = run_clip(cat, feats, tokens, 2, None)
    assert [o.shape for o in outs] == [f.shape for f in feats]
    assert cat.update(None, cond.decoder_feats, tokens).T.shape[1:] == (cat.config.groups, cat.config.items,
                                                                        cat.config.texture_dim)


def test_parameter_sizes_of_presets():
    from seeclear_lite.models import get_config

    tiny = CaTeGory(category_config_for(get_config("tiny")))
    base = CaTeGory(CaTeGoryConfig.preset("base", token_dim=64, level_channels=(256, 128, 128, 64)))
    paper = CaTeGory(category_config_for(get_config("paper")))
    assert count_parameters(tiny) < 100_000
    assert count_parameters(base) < 500_000           # InCAM + CaTeGory ~ 1 M at `base`
    assert 8e6 < count_parameters(paper) < 30e6       # the paper's scale (229 M in all, Table 5)
    counts = base.count_parameters()
    assert counts["pairs"] + counts["construction"] + counts["query"] == counts["total"]
    assert counts["pairs"] == 8 * 16 * 16 + 8 * 16 * 64  # J*I*I + J*I*d_t


# ------------------------------------------------------------------------------------------- equations
def test_eq19_attention_and_read_match_a_direct_computation():
    cat = make().double()
    feats, tokens = clip_data(2, 3, 5, dtype=torch.float64)
    state = cat.initial_state(2)
    state = cat.update(state, run_clip(cat, feats, tokens, 3, state)[1].decoder_feats, tokens)
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
    cond = cond_for(tokens, 2)
    hook = cat.query_hook(1)
    base = hook(feats[1], cond) - feats[1]
    gamma = cat.level_queries[1].gamma
    with torch.no_grad():
        gamma.mul_(2.0)
    torch.testing.assert_close(hook(feats[1], cond) - feats[1], 2 * base, rtol=1e-10, atol=1e-12)
    with torch.no_grad():
        gamma.zero_()
    assert torch.equal(hook(feats[1], cond), feats[1])


def test_eq20_matches_a_direct_multi_head_computation():
    cat = make().double()
    b, n, k = 2, 3, 5
    feats, tokens = clip_data(b, n, k, dtype=torch.float64)
    state = cat.initial_state(b)
    level = 1
    f = feats[level]  # [B*N, C, h, w], batch-major frames
    out = cat.query_hook(level)(f, cond_for(tokens, n, state))
    q_mod = cat.level_queries[level]
    att = q_mod.attn
    read = cat.read(tokens, state)  # [B, J*K, d_t]
    heads, d_head = 2, 4
    for bi in range(b):
        mem = torch.nn.functional.layer_norm(read[bi], (8,), q_mod.memory_norm.weight, q_mod.memory_norm.bias)
        keys, vals = att.to_k(mem), att.to_v(mem)  # [J*K, 8]
        for ni in range(n):
            x = f[bi * n + ni].flatten(1).T  # [h*w, C]: the pixels of frame ni of video bi
            xq = att.to_q(torch.nn.functional.layer_norm(x, (x.shape[1],), q_mod.norm.weight, q_mod.norm.bias))
            per_head = []
            for hd in range(heads):
                sl = slice(hd * d_head, (hd + 1) * d_head)
                w = torch.softmax(xq[:, sl] @ keys[:, sl].T / math.sqrt(d_head), dim=-1)  # over J*K reads
                per_head.append(w @ vals[:, sl])
            expected = x + att.to_out(torch.cat(per_head, dim=1)) * q_mod.gamma
            torch.testing.assert_close(out[bi * n + ni].flatten(1).T, expected, rtol=0, atol=1e-12)


def test_query_is_equivariant_to_the_frame_order():
    cat = make().double()
    feats, tokens = clip_data(1, 3, 5, dtype=torch.float64)
    perm = torch.tensor([2, 0, 1])
    hook = cat.query_hook(2)
    a = hook(feats[2], cond_for(tokens, 3))
    b = hook(feats[2][perm], cond_for(tokens, 3))
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
    outs1, cond1 = run_clip(cat, feats1, tokens1, 3, state0)
    state1 = cat.update(state0, cond1.decoder_feats, tokens1, detach=False)
    outs2, _ = run_clip(cat, feats2, tokens2, 3, state1)
    return sum((o ** 2).mean() for o in outs1 + outs2)


def test_gradients_reach_C_T_and_every_parameter():
    cat = make()
    two_clip_loss(cat).backward()
    for name, p in cat.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient reached {name}"


def test_single_clip_training_reaches_C_and_T():
    cat = make()
    feats, tokens = clip_data()
    outs, _ = run_clip(cat, feats, tokens, 3, None)  # memory None = the learned pairs
    sum((o ** 2).mean() for o in outs).backward()
    assert cat.C.grad.abs().sum() > 0 and cat.T.grad.abs().sum() > 0


def test_zero_init_of_both_pairs_starves_the_product():
    # the paper's init: C̄ = T̄ = 0. Eq. 17 is then a saddle: no gradient reaches C̄ at all
    zero = make(init="zeros")
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
        outs1, cond1 = run_clip(cat, feats1, tokens1, 3, state0)
        state1 = cat.update(state0, cond1.decoder_feats, tokens1)
        assert (state1.T - state0.T).abs().max() > 1e-2
        assert (state1.C - state0.C).abs().max() > 1e-4
        with_update, _ = run_clip(cat, feats2, tokens2, 3, state1)
        without_update, _ = run_clip(cat, feats2, tokens2, 3, state0)
    for a, b in zip(with_update, without_update):
        assert (a - b).abs().max() > 1e-4


def _train_carry_task(update: bool, steps: int = 120, seed: int = 0) -> float:
    """Toy task: clip 1 of each video shows a random colour c (its features); clip 2 shows noise and must
    output c. Only the clip-to-clip update can carry c across (the clip tokens are independent of c)."""
    torch.manual_seed(seed)
    cat = CaTeGory(CaTeGoryConfig(token_dim=8, level_channels=(8,), groups=2, items=4, texture_dim=16,
                                  heads=2, feat_pool=4))
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
        out1 = cat.query_hook(0)(clip1, cond_for(tokens, n, state0))
        state1 = cat.update(state0, [out1], tokens, detach=False) if update else state0
        out2 = cat.query_hook(0)(clip2, cond_for(tokens, n, state1))
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
    d_t = cat.config.texture_dim
    bound = math.sqrt(d_t - 1) * gamma.abs().max() + beta.abs().max()  # |LayerNorm output| <= this
    c_lo, c_hi = state.C.min(), state.C.max()
    for clip in range(10):
        feats, tokens = clip_data(2, 3, 5, seed=100 + clip)
        feats = [f.requires_grad_() for f in feats]  # even with inputs in a graph ...
        outs, cond = run_clip(cat, feats, tokens, 3, state)
        state = cat.update(state, cond.decoder_feats, tokens)
        # ... the carried memory holds no graph
        assert state.C.grad_fn is None and state.T.grad_fn is None and not state.requires_grad
        assert (state.numel(), state.nbytes()) == size
        assert state.T.abs().max() <= bound + 1e-5
        o = cat.semantics(tokens).detach()
        c_lo, c_hi = torch.minimum(c_lo, o.min()), torch.maximum(c_hi, o.max())
        assert c_lo - 1e-6 <= state.C.min() and state.C.max() <= c_hi + 1e-6  # convex update of C
    assert state.clips_seen == 10


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


# ------------------------------------------------------------------------- switches and determinism
def test_disabled_memory_is_the_exact_identity():
    cat = make()
    cat.enabled = False
    feats, tokens = clip_data()
    for level, f in enumerate(feats):
        out = cat.query_hook(level)(f, cond_for(tokens, 3))
        assert out is f


def test_deterministic():
    feats, tokens = clip_data()
    a, b = make(seed=7), make(seed=7)
    for (na, pa), (nb, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert na == nb and torch.equal(pa, pb)
    out_a, cond_a = run_clip(a, feats, tokens, 3, None)
    out_b, cond_b = run_clip(b, feats, tokens, 3, None)
    assert all(torch.equal(x, y) for x, y in zip(out_a, out_b))
    sa, sb = a.update(None, cond_a.decoder_feats, tokens), b.update(None, cond_b.decoder_feats, tokens)
    assert torch.equal(sa.C, sb.C) and torch.equal(sa.T, sb.T)


def test_state_moves_and_deepcopy_keeps_hooks_attached():
    cat = make()
    state = cat.initial_state(2).to(torch.float64)
    assert state.C.dtype == torch.float64 and state.batch == 2
    twin = copy.deepcopy(cat).double()
    feats, tokens = clip_data(dtype=torch.float64)
    out, _ = run_clip(twin, feats, tokens, 3, state)
    assert out[0].dtype == torch.float64
    assert twin.query_hook(0).category is twin and cat.query_hook(0).category is cat
    assert sum(p.numel() for p in cat.query_hook(0).parameters()) == 0  # hooks own no parameters


def test_parameter_split_for_training_stages():
    class Toy(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3)
            self.category = make()

    model = Toy()
    mem, rest = split_parameters(model)
    assert sum(p.numel() for p in mem) == count_parameters(model.category)
    assert sum(p.numel() for p in rest) == count_parameters(model.conv)
    assert {id(p) for p in memory_parameters(model)} == {id(p) for p in model.category.memory_parameters()}


# ---------------------------------------------------------------------------------------------- errors
def test_clear_errors_for_wrong_shapes():
    cat = make()
    feats, tokens = clip_data(2, 3, 5)
    hook = cat.query_hook(0)
    with pytest.raises(ValueError, match="channels but CaTeGory was built with 24"):
        hook(feats[1], cond_for(tokens, 3))
    with pytest.raises(ValueError, match="n_frames=4"):
        hook(feats[0], cond_for(tokens, 4))
    with pytest.raises(ValueError, match=r"feature map \[B\*N, C, h, w\]"):
        hook(feats[0][0], cond_for(tokens, 3))
    with pytest.raises(ValueError, match=r"clip_tokens \(O_c\) must be a tensor \[B, K, 16\]"):
        hook(feats[0], cond_for(tokens[..., :8], 3))
    with pytest.raises(ValueError, match=r"clip_tokens \(O_c\)"):
        hook(feats[0], cond_for(tokens[0], 3))
    with pytest.raises(ValueError, match="cond.clip_tokens is None: switch on InCAM"):
        hook(feats[0], cond_for(None, 3))
    with pytest.raises(TypeError, match="has no 'clip_tokens'"):
        hook(feats[0], types.SimpleNamespace(n_frames=3))
    with pytest.raises(ValueError, match="one feature map per decoder level"):
        cat.update(None, feats[:3], tokens)
    with pytest.raises(ValueError, match="not a multiple of the 2 videos"):
        cat.update(None, [f[:5] for f in feats], tokens)
    with pytest.raises(ValueError, match="holds 1 videos but the clip tokens hold 2"):
        hook(feats[0], cond_for(tokens, 3, cat.initial_state(1)))
    with pytest.raises(TypeError, match="must be a MemoryState or None"):
        hook(feats[0], cond_for(tokens, 3, (cat.C, cat.T)))
    with pytest.raises(ValueError, match=r"move it with state.to\(device, dtype\)"):
        hook(feats[0], cond_for(tokens, 3, cat.initial_state(2).to(torch.float64)))
    other = make(items=3).initial_state(2)
    with pytest.raises(ValueError, match="build it with this module's initial_state"):
        hook(feats[0], cond_for(tokens, 3, other))
    with pytest.raises(ValueError, match=r"level must be an integer in \[0, 3\]"):
        cat.query_hook(4)
    with pytest.raises(ValueError, match="MemoryState.T must have shape"):
        MemoryState(torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 3, 8))


def test_clear_errors_for_bad_config():
    with pytest.raises(ValueError, match="not divisible by heads=3"):
        CaTeGoryConfig(token_dim=8, level_channels=(8,), texture_dim=8, heads=3)
    with pytest.raises(ValueError, match="level_channels must list"):
        CaTeGoryConfig(token_dim=8, level_channels=())
    with pytest.raises(ValueError, match="c_momentum must lie in"):
        CaTeGoryConfig(token_dim=8, level_channels=(8,), c_momentum=1.5)
    with pytest.raises(ValueError, match="init must be 'identity'"):
        CaTeGoryConfig(token_dim=8, level_channels=(8,), init="ones")
    with pytest.raises(ValueError, match="Unknown CaTeGory preset"):
        CaTeGoryConfig.preset("huge", token_dim=8, level_channels=(8,))


# ------------------------------------------------------------------------------- Pixel Condenser plugin
def test_plugs_into_the_pixel_condenser_and_carries_memory_across_clips():
    from seeclear_lite.models import Conditioning, build_model

    torch.manual_seed(0)
    model = build_model("tiny", category=True)
    cat = model.extras["category"]
    assert isinstance(cat, CaTeGory) and cat.config.level_channels == tuple(reversed(model.config.widths))
    assert model.parameter_counts()["category"] == count_parameters(cat)
    assert not [k for k in model.state_dict() if k.startswith("memory_hooks.")]  # stored once, in extras
    twin = copy.deepcopy(model)  # e.g. an EMA copy: its hooks must drive its own memory
    assert all(h.category is twin.extras["category"] for h in twin.memory_hooks)
    b, n, size = 1, 1, 16  # the tiny condenser pads frames to 64 x 64
    g = torch.Generator().manual_seed(3)
    clips = [(torch.rand(b, n, 3, size, size, generator=g) * 2 - 1,
              torch.randn(b, 5, cat.config.token_dim, generator=g)) for _ in range(2)]
    t = torch.full((b,), 3, dtype=torch.long)

    def decode(x, tokens, memory):
        cond = Conditioning(n_frames=n, clip_tokens=tokens, memory=memory)
        model(x, x, t, cond)
        return cond.decoder_feats

    with torch.no_grad():
        state0 = cat.initial_state(b)
        feats1 = decode(*clips[0], state0)
        assert [f.shape[1] for f in feats1] == list(cat.config.level_channels)
        state1 = cat.update(state0, feats1, clips[0][1])
        with_update = decode(*clips[1], state1)
        without_update = decode(*clips[1], state0)
        cat.enabled = False
        off = decode(*clips[1], state1)
        model_without = build_model("tiny")  # the baseline, no CaTeGory
        model_without.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("extras.")})
        cond = Conditioning(n_frames=n, clip_tokens=clips[1][1])
        model_without(clips[1][0], clips[1][0], t, cond)
    assert (with_update[-1] - without_update[-1]).abs().max() > 1e-4
    assert all(torch.equal(a, b) for a, b in zip(off, cond.decoder_feats))  # disabled = the baseline


def test_runs_with_incam_clip_tokens_in_the_full_model():
    from seeclear_lite.models import Conditioning, build_model, get_config

    cfg = get_config("tiny", incam=True, category=True)
    torch.manual_seed(0)
    model = build_model(cfg)
    cat = model.extras["category"]
    b, n, size = 1, 2, 16
    g = torch.Generator().manual_seed(0)
    tokens = torch.randn(b, n, cfg.tokens_k, cfg.token_dim, generator=g)  # distiller output O
    seg = torch.randn(b, n, cfg.seg_channels, size // 4, size // 4, generator=g)  # and P
    x = torch.rand(b, n, 3, size, size, generator=g) * 2 - 1
    t = torch.full((b,), 3, dtype=torch.long)
    with torch.no_grad():
        state = cat.initial_state(b)
        for clip in range(2):
            cond = Conditioning(n_frames=n, tokens=tokens, seg=seg, memory=state)
            assert model(x, x, t, cond).shape == x.shape
            assert cond.clip_tokens.shape == (b, cfg.tokens_k, cat.config.token_dim)  # O_c from InCAM
            state = cat.update(state, cond.decoder_feats, cond.clip_tokens)
    assert state.clips_seen == 2
