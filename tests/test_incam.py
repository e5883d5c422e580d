"""InCAM (Eqs. 10–15): shapes, gradients, switches, frame permutations, 3-D windows."""

import dataclasses
import types

import pytest
import torch

from seeclear_lite.config import InCAMConfig, ModelConfig
from seeclear_lite.semantics import (ClipTokenBuilder, InCAM, InCAMBlock, MultiFrameSelfAttention,
                                     SemanticCrossAttention, SemanticModulation)
from seeclear_lite.utils.params import count_parameters

B, N, K_TOK, D, C_SEG = 2, 5, 6, 16, 7
C = 16
K_CLIP = 4                        # clip tokens O_c (tokens_k); the frame tokens O have K_TOK each

#: Table 2's rows as ModelConfig switches (cumulative, as in the paper)
ROWS = {"baseline": {}, "semantic": dict(semantic_condition=True),
        "mfsa": dict(semantic_condition=True, mfsa=True),
        "incam": dict(semantic_condition=True, mfsa=True, incam=True)}


def make_cond(h=8, w=8, seed=0, seg_size=(10, 10)):
    """A cond with random O [B, N, k, d] and P [B, N, c, h', w'] (what SeeClear.condition fills in)."""
    g = torch.Generator().manual_seed(seed)
    return types.SimpleNamespace(n_frames=N, tokens=torch.randn(B, N, K_TOK, D, generator=g),
                                 seg=torch.rand(B, N, C_SEG, *seg_size, generator=g), clip_tokens=None)


def feats(h=8, w=8, seed=1):
    return torch.randn(B * N, C, h, w, generator=torch.Generator().manual_seed(seed))


def cfg(row="incam", **kw):
    """A small ModelConfig: every level C = 16 channels, 4 heads (head_dim 4), MFSA window (5, 4, 4)."""
    sizes = InCAMConfig(tokens_k=K_CLIP, token_dim=D, seg_channels=C_SEG, enc_layers=1, dec_layers=1)
    base = dict(channels=C, channel_mult=(1, 1), head_dim=4, window=4, middle_blocks=1, incam_sizes=sizes)
    return ModelConfig(**{**base, **ROWS[row], **kw})


def block_and_builder(row="incam", **kw):
    """InCAM's first middle block and its clip-token builder (Eq. 14), built from the configuration."""
    incam = InCAM(cfg(row, **kw))
    return incam.middle[0], incam.clip_tokens


def permute_frames(x, perm, flat=True):
    """Permute the frame axis of [B·N, ...] (flat) or [B, N, ...] tensors."""
    if flat:
        return x.reshape(B, N, *x.shape[1:])[:, perm].reshape(x.shape)
    return x[:, perm]


def permuted_cond(cond, perm):
    return types.SimpleNamespace(n_frames=cond.n_frames, tokens=cond.tokens[:, perm], seg=cond.seg[:, perm],
                                 clip_tokens=cond.clip_tokens)


# --- shapes, gradients, switches ----------------------------------------------------------------------

def test_full_incam_shapes_and_gradients_reach_every_parameter():
    hook, builder = block_and_builder()
    cond = make_cond(h=12, w=12)
    cond.clip_tokens = builder(cond.tokens)
    assert cond.clip_tokens.shape == (B, K_CLIP, D)
    f = feats(12, 12).requires_grad_(True)
    out = hook(f, cond)
    assert out.shape == f.shape
    (out * torch.randn_like(out)).sum().backward()
    params = dict(hook.named_parameters()) | {f"builder.{n}": p for n, p in builder.named_parameters()}
    missing = [n for n, p in params.items() if p.grad is None or p.grad.abs().max() == 0]
    assert not missing, f"no gradient reaches {missing}"
    assert f.grad.abs().max() > 0


@pytest.mark.parametrize("row", ["baseline", "semantic", "mfsa", "incam"])
def test_table2_rows_switch_components(row):
    c = cfg(row)
    semantic, mfsa, clip = row != "baseline", row in ("mfsa", "incam"), row == "incam"
    hook = InCAMBlock(C, c)
    assert (hook.modulation is not None) == semantic and (hook.cross_attention is not None) == semantic
    assert (hook.mfsa is not None) == mfsa
    assert (hook.mfsa is not None and hook.mfsa.clip_dim is not None) == clip
    incam = InCAM(c)
    assert (incam.clip_tokens is not None) == clip
    # one block per middle block and per decoder level (deepest first), none for the baseline
    assert len(incam.middle) == (c.middle_blocks if semantic else 0)
    assert [b.channels for b in incam.decoder] == (list(reversed(c.widths)) if semantic else [])
    cond = make_cond()
    if clip:
        cond.clip_tokens = incam.clip_tokens(cond.tokens)
    f = feats()
    out = hook(f, cond)
    if row == "baseline":
        assert out is f and sum(p.numel() for p in hook.parameters()) == 0
        assert count_parameters(incam) == 0
    else:
        assert out.shape == f.shape and not torch.allclose(out, f)
        # InCAM's parameters are exactly those of its blocks and its clip-token builder
        parts = [*incam.middle, *incam.decoder] + ([incam.clip_tokens] if clip else [])
        assert count_parameters(incam) == sum(count_parameters(p) for p in parts) > 0


def test_config_and_cond_errors():
    hook, _ = block_and_builder()
    with pytest.raises(ValueError, match="needs cond.clip_tokens"):
        hook(feats(), make_cond())
    with pytest.raises(ValueError, match="not a multiple of cond.n_frames=5"):
        hook(torch.randn(7, C, 8, 8), make_cond())
    bad = make_cond()
    bad.tokens = bad.tokens[:1]
    with pytest.raises(ValueError, match="cond.tokens has shape"):
        SemanticCrossAttention(C, D)(feats(), bad)
    with pytest.raises(ValueError, match="seg_channels"):
        SemanticModulation(C, C_SEG + 1)(feats(), make_cond())
    with pytest.raises(ValueError, match="source must be 'frame'"):
        SemanticCrossAttention(C, D, source="everything")


def test_duck_typed_cond_and_low_precision():
    """SeeClear's Condition and any object with the same attributes work alike; bfloat16 weights and
    autocast run."""
    from seeclear_lite.models import Condition

    hook, builder = block_and_builder()
    duck = make_cond()
    real = Condition(n_frames=N, size=(8, 8), y=None, y_bands=None, pyramid=[], tokens=duck.tokens, seg=duck.seg)
    real.clip_tokens = builder(real)
    duck.clip_tokens = builder(duck.tokens)
    f = feats()
    torch.testing.assert_close(hook(f, duck), hook(f, real), rtol=0, atol=0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.isfinite(hook(f, real)).all()
    hook, builder = hook.to(torch.bfloat16), builder.to(torch.bfloat16)
    real.clip_tokens = builder(real)
    out = hook(f.to(torch.bfloat16), real)
    assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()


# --- the equations -------------------------------------------------------------------------------------

def test_modulation_is_eq_10_11_with_resized_P():
    m, cond, f = SemanticModulation(C, C_SEG, hidden=8), make_cond(seg_size=(8, 8)), feats()
    P = cond.seg.flatten(0, 1)
    gb = m.conv2(torch.relu(m.conv1(P)))
    gamma, beta = gb[:, :C], gb[:, C:]
    torch.testing.assert_close(m(f, cond), (f * gamma + beta) + f, rtol=0, atol=1e-6)
    cond_big = make_cond(seg_size=(16, 16))                            # P at another size is resized
    assert m(f, cond_big).shape == f.shape
    # ... bilinearly, antialiased when shrinking (16 x 16 -> 8 x 8)
    P = torch.nn.functional.interpolate(cond_big.seg.flatten(0, 1), size=(8, 8), mode="bilinear",
                                        align_corners=False, antialias=True)
    gamma, beta = m.gamma_beta(P)
    torch.testing.assert_close(m(f, cond_big), (f * gamma + beta) + f, rtol=0, atol=1e-6)


def test_cross_attention_is_eq_12_13_per_frame():
    ca, cond, f = SemanticCrossAttention(C, D, heads=2), make_cond(), feats()
    x = ca.norm(f.flatten(2).transpose(1, 2))                           # [BN, hw, C]
    O = cond.tokens.flatten(0, 1)                                       # O_i per image
    q, k, v = ca.attn.q(x), ca.attn.k(O), ca.attn.v(O)
    heads = []
    for hd in range(2):
        sl = slice(hd * C // 2, (hd + 1) * C // 2)
        a = torch.softmax(q[..., sl] @ k[..., sl].transpose(1, 2) / (C // 2) ** 0.5, dim=-1)  # Eq. 13
        heads.append(a @ v[..., sl])
    ref = f.flatten(2).transpose(1, 2) + ca.attn.out(torch.cat(heads, -1))
    torch.testing.assert_close(ca(f, cond), ref.transpose(1, 2).reshape(f.shape), rtol=0, atol=1e-5)


def test_semantic_weighting_is_activation_maps_times_clip_tokens():
    """s = A O_c with A = softmax(<W_a LN(F̂), O_c> / sqrt(d_c)) (the "O_c · F̂" of Eq. 15), written out, equals
    the scaled_dot_product_attention form the block uses (float64: 1e-12)."""
    mfsa = MultiFrameSelfAttention(C, heads=2, window=(5, 4, 4), clip_dim=12).double()
    g = torch.Generator().manual_seed(3)
    x = torch.randn(B, N, 8, 8, C, generator=g, dtype=torch.float64)
    oc = torch.randn(B, 4, 12, generator=g, dtype=torch.float64)
    A = mfsa.activation_maps(x, oc)                                      # [B, N, h, w, K]
    torch.testing.assert_close(A.sum(-1), torch.ones_like(A[..., 0]), rtol=0, atol=1e-12)
    s = torch.einsum("bnhwk,bkd->bnhwd", A, oc)
    gamma, beta = mfsa.sem_mod(s).chunk(2, dim=-1)
    torch.testing.assert_close(mfsa.semantic_weighting(x, oc), x * (1 + gamma) + beta, rtol=0, atol=1e-12)


# --- permutations of the frames ------------------------------------------------------------------------

def test_per_frame_components_are_frame_equivariant():
    perm = torch.tensor([3, 0, 4, 1, 2])
    cond, f = make_cond(), feats()
    for module in (SemanticModulation(C, C_SEG, 8), SemanticCrossAttention(C, D, 2)):
        out = module(f, cond)
        out_p = module(permute_frames(f, perm), permuted_cond(cond, perm))
        torch.testing.assert_close(out_p, permute_frames(out, perm), rtol=0, atol=1e-5)


def test_clip_tokens_invariant_to_frame_and_token_order_unless_frame_embedding():
    torch.manual_seed(0)
    tokens = torch.randn(B, N, K_TOK, D)
    perm_f, perm_t = torch.tensor([4, 2, 0, 1, 3]), torch.tensor([5, 3, 1, 0, 2, 4])
    b = ClipTokenBuilder(d=12, K=4, in_dim=D, heads=2, enc_layers=2, dec_layers=2)
    oc = b(tokens)
    torch.testing.assert_close(b(tokens[:, perm_f]), oc, rtol=0, atol=1e-5)
    torch.testing.assert_close(b(tokens[:, :, perm_t]), oc, rtol=0, atol=1e-5)
    b_pos = ClipTokenBuilder(d=12, K=4, in_dim=D, heads=2, frame_embedding=True)
    with torch.no_grad():
        b_pos.frame_embedding.normal_()
    assert (b_pos(tokens[:, perm_f]) - b_pos(tokens)).abs().max() > 1e-3


@pytest.mark.parametrize("semantic", [False, True])
def test_mfsa_equivariant_iff_temporal_bias_is_zero(semantic):
    """With the window spanning the clip, MFSA treats frames as a set, except for the relative position
    bias over the time offset: zero bias -> equivariant to permuting frames; learned bias -> not."""
    perm = torch.tensor([2, 4, 1, 0, 3])
    m = MultiFrameSelfAttention(C, heads=4, window=(5, 4, 4), clip_dim=12 if semantic else None)
    cond, f = make_cond(), feats()
    cond.clip_tokens = torch.randn(B, 4, 12)
    pcond = permuted_cond(cond, perm)
    with torch.no_grad():
        m.bias_table.zero_()
    torch.testing.assert_close(m(permute_frames(f, perm), pcond), permute_frames(m(f, cond), perm),
                               rtol=0, atol=1e-5)
    with torch.no_grad():
        m.bias_table.normal_()
    diff = (m(permute_frames(f, perm), pcond) - permute_frames(m(f, cond), perm)).abs().max()
    assert diff > 1e-2


def test_full_incam_equivariant_with_zero_bias():
    perm = torch.tensor([1, 0, 3, 4, 2])
    hook, builder = block_and_builder()
    with torch.no_grad():
        hook.mfsa.bias_table.zero_()
    cond, f = make_cond(), feats()
    cond.clip_tokens = builder(cond.tokens)
    pcond = permuted_cond(cond, perm)
    pcond.clip_tokens = builder(pcond.tokens)
    torch.testing.assert_close(hook(permute_frames(f, perm), pcond), permute_frames(hook(f, cond), perm),
                               rtol=0, atol=1e-4)


# --- 3-D windows ---------------------------------------------------------------------------------------

def reference_mfsa(m, f, cond):
    """Dense attention over every token of the clip, masked to the 3-D windows, written independently:
    tokens p, q share a window iff floor((p - shift) / win) agrees on all three axes (shifted windows
    are offset by the shift and cut at the borders), with bias[t, y, x offsets]."""
    n, h, w = N, f.shape[-2], f.shape[-1]
    win, shifts, _ = m.geometry(n, h, w)
    x = f.reshape(B, n, C, h, w).permute(0, 1, 3, 4, 2)
    tokens = m.norm1(x).reshape(B, n * h * w, C)
    coords = torch.stack(torch.meshgrid(torch.arange(n), torch.arange(h), torch.arange(w), indexing="ij"),
                         -1).reshape(-1, 3)
    wid = torch.div(coords - torch.tensor(shifts), torch.tensor(win), rounding_mode="floor")
    same = (wid[:, None] == wid[None]).all(-1)
    rel = coords[:, None] - coords[None]
    Wt, Wh, Ww = m.window
    rel_c = rel.clone()
    for a, Wa in enumerate((Wt, Wh, Ww)):
        rel_c[..., a] = rel[..., a].clamp(-(Wa - 1), Wa - 1) + Wa - 1
    idx = (rel_c[..., 0] * (2 * Wh - 1) + rel_c[..., 1]) * (2 * Ww - 1) + rel_c[..., 2]
    bias = m.bias_table[idx].permute(2, 0, 1).masked_fill(~same, float("-inf"))
    y = m.attn(tokens, attn_mask=bias).reshape(B, n, h, w, C)
    return (x + y).permute(0, 1, 4, 2, 3).reshape(f.shape)


@pytest.mark.parametrize("window,shift,size", [((5, 4, 4), False, (6, 10)),    # padded spatially
                                               ((5, 4, 4), True, (8, 8)),      # shifted
                                               ((3, 4, 4), True, (7, 9))])     # temporal windows, all three
def test_window_attention_matches_dense_reference(window, shift, size):
    torch.manual_seed(0)
    m = MultiFrameSelfAttention(C, heads=4, window=window, shift=shift, mlp_ratio=0)
    with torch.no_grad():
        m.bias_table.normal_()
    f = torch.randn(B * N, C, *size)
    torch.testing.assert_close(m(f, make_cond()), reference_mfsa(m, f, make_cond()), rtol=0, atol=2e-5)


def test_attention_restricted_to_windows():
    m = MultiFrameSelfAttention(C, heads=4, window=(5, 4, 4))
    cond, f = make_cond(), feats(8, 8)
    out = m(f, cond)
    g = f.clone()
    g[0 * N + 1, :, 1, 2] += torch.linspace(-3, 3, C)                  # clip 0, frame 1, pixel (1, 2)
    # (not a constant: LayerNorm would remove it)
    diff = (m(g, cond) - out).abs().reshape(B, N, C, 8, 8).amax(2)     # [B, N, 8, 8]
    inside = torch.zeros(8, 8, dtype=torch.bool)
    inside[:4, :4] = True
    assert diff[1].max() == 0, "another clip changed"
    assert diff[0][:, ~inside].max() == 0, "a pixel outside the 3-D window changed"
    assert (diff[0][:, inside].amin(-1) > 1e-4).all(), "every frame of the window must see the change"
    a = m.attention_map(f, cond, frame=1, row=1, col=2)                 # [B, heads, N, h, w]
    torch.testing.assert_close(a.sum((2, 3, 4)), torch.ones(B, 4), rtol=0, atol=1e-5)
    assert a[..., ~inside].abs().max() == 0 and (a[..., inside] > 0).all()


# --- in SeeClear ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("switches,parts", [(dict(semantic_condition=True), (True, False, False, False)),
                                            (dict(mfsa=True), (False, True, False, False)),
                                            (dict(incam=True), (True, True, True, True)),
                                            (dict(category=True), (False, False, False, True))])
def test_model_switches_build_the_parts(switches, parts):
    """Table 2's switches of ModelConfig decide which parts of InCAM exist: semantic (G + CA), MFSA, MFSA
    guided by O_c, and the clip-token builder (also built for CaTeGory alone, which reads O_c)."""
    from seeclear_lite.config import get_model_config

    c = get_model_config("tiny", **switches)
    incam = InCAM(c)
    blocks = [*incam.middle, *incam.decoder]
    semantic = bool(blocks) and blocks[0].modulation is not None and blocks[0].cross_attention is not None
    mfsa = bool(blocks) and blocks[0].mfsa is not None
    guided = mfsa and blocks[0].mfsa.clip_dim is not None
    assert (semantic, mfsa, guided, incam.clip_tokens is not None) == parts
    assert all((b.modulation is not None, b.mfsa is not None) == (semantic, mfsa) for b in blocks)
    assert len(incam.middle) == (c.middle_blocks if blocks else 0)
    if blocks:  # middle blocks at the deepest width, decoder levels deepest first
        assert [b.channels for b in incam.middle] == [c.widths[-1]] * c.middle_blocks
        assert [b.channels for b in incam.decoder] == list(reversed(c.widths))


def test_incam_inside_seeclear_end_to_end():
    """Distiller -> SeeClear.condition -> build_model(tiny, incam=True): runs, and gradients reach InCAM."""
    from seeclear_lite.models import build_model
    from seeclear_lite.semantics import moving_square_clip

    model = build_model("tiny", incam=True)
    s = model.config.incam_sizes
    assert model.incam is not None and model.memory is None
    assert model.parameter_counts()["incam"] == count_parameters(model.incam) > 0
    lr, _ = moving_square_clip(n_frames=2, size=16, square=4, step=(1, 1))
    # y: the LR frames upsampled x4 (64 x 64 is the tiny config's padding multiple), diffusion range
    y = torch.nn.functional.interpolate(lr[0] * 2 - 1, scale_factor=4, mode="bilinear")[None]   # [1, 2, 3, 64, 64]
    cond = model.condition(lr, y)
    assert cond.tokens.shape[:2] == (1, 2) and cond.seg.shape[2] == s.seg_c
    # the condenser's output conv is zero-initialised (x0_hat == y, no gradient upstream): give it weights
    with torch.no_grad():
        model.condenser.conv_out.weight.normal_(std=0.02, generator=torch.Generator().manual_seed(0))
    x0 = model(y + 0.1 * torch.randn_like(y), y, torch.tensor([3]), cond)
    assert x0.shape == y.shape and cond.clip_tokens.shape == (1, s.tokens_k, s.token_dim)
    x0.square().mean().backward()
    assert model.incam.middle[0].mfsa.attn.q.weight.grad.abs().max() > 0
    assert model.incam.decoder[-1].modulation.conv1.weight.grad.abs().max() > 0
    assert model.incam.clip_tokens.queries.grad.abs().max() > 0


def test_default_distiller_checks_seg_channels():
    from seeclear_lite.models import build_model, default_distiller

    bad = cfg("incam", incam_sizes=InCAMConfig(tokens_k=8, token_dim=D, seg_channels=8))
    with pytest.raises(ValueError, match="seg_channels=8.*set seg_channels to null"):
        default_distiller(bad)
    with pytest.raises(ValueError, match="set seg_channels to null"):
        build_model(bad)
    ok = default_distiller(dataclasses.replace(bad, incam_sizes=InCAMConfig(tokens_k=8, token_dim=D)))
    assert (ok.k, ok.d, ok.c) == (8, D, 12)


@pytest.mark.parametrize("mask_kind", ["none", "bias3d", "window4d", "window4d_one_head", "bool4d", "full5d"])
def test_attention_4d_equals_sdpa_on_the_original_shapes(mask_kind):
    """attention_4d (what MultiHeadAttention runs; 4-D for torch.compile) gives the numbers of
    scaled_dot_product_attention on the 5-D window tensors [B, windows, heads, L, d], float64 to 1e-12."""
    import torch.nn.functional as F

    from seeclear_lite.blocks.attention import attention_4d

    g = torch.Generator().manual_seed(7)
    Bc, nW, H, L, d = 2, 3, 2, 6, 4
    q, k, v = (torch.randn(Bc, nW, H, L, d, generator=g, dtype=torch.float64) for _ in range(3))
    mask = {"none": None,
            "bias3d": torch.randn(H, L, L, generator=g, dtype=torch.float64),
            "window4d": torch.randn(nW, H, L, L, generator=g, dtype=torch.float64),
            "window4d_one_head": torch.randn(nW, 1, L, L, generator=g, dtype=torch.float64),
            "bool4d": torch.rand(nW, 1, L, L, generator=g) > 0.3,
            "full5d": torch.randn(Bc, nW, H, L, L, generator=g, dtype=torch.float64)}[mask_kind]
    if mask is not None and mask.dtype == torch.bool:
        mask[..., 0] = True   # every query may attend somewhere
    torch.testing.assert_close(attention_4d(q, k, v, mask), F.scaled_dot_product_attention(q, k, v, attn_mask=mask),
                               rtol=0, atol=1e-12)
    # keys / values shared across windows (broadcast leading dims) work too
    k1, v1 = k[:, :1], v[:, :1]
    torch.testing.assert_close(attention_4d(q, k1, v1, mask),
                               F.scaled_dot_product_attention(q, k1.expand_as(k), v1.expand_as(v), attn_mask=mask),
                               rtol=0, atol=1e-12)


@pytest.mark.slow
def test_mfsa_compiles_with_inductor_and_matches_eager():
    """torch.compile (inductor) of the InCAM window attention, with the relative-position bias and the shift
    mask (the 3-D and 4-D mask paths), equals eager to 1e-5. Before attention_4d, 5-D window attention with a
    broadcast mask failed to compile (PyTorch 2.13), which the GPU benchmark's compile variant relies on."""
    torch._dynamo.reset()
    g = torch.Generator().manual_seed(0)
    for shift in (False, True):
        mfsa = MultiFrameSelfAttention(C, heads=2, window=(5, 4, 4), shift=shift, clip_dim=12).eval()
        f = torch.randn(N, C, 8, 8, generator=g)
        cond = types.SimpleNamespace(n_frames=N, tokens=torch.randn(1, N, K_TOK, D, generator=g),
                                     seg=torch.rand(1, N, C_SEG, 8, 8, generator=g),
                                     clip_tokens=torch.randn(1, 4, 12, generator=g))
        with torch.no_grad():
            ref = mfsa(f, cond)
            out = torch.compile(mfsa)(f, cond)
        torch.testing.assert_close(out, ref, rtol=0, atol=1e-5)
