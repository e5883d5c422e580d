"""The Pixel Condenser's building blocks (App. C): shapes, gradients, window partition, shifted-window
mask, relative position bias, transposed channel attention, wavelet down/upsample, LR pyramid."""

import math

import pytest
import torch

from seeclear_lite.blocks import (ChannelAttention, ChannelAttentionBlock, CondenserUnit, LRPyramid, ResBlock,
                                  TimestepEmbedding, WaveletDownsample, WaveletUpsample, WindowAttentionBlock,
                                  relative_position_index, shifted_window_mask, sinusoidal_embedding,
                                  transposed_attention, window_partition, window_reverse)


def _all_grads_nonzero(module):
    missing = [n for n, p in module.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing, f"parameters without gradient: {missing}"


def test_sinusoidal_embedding_values_and_distinct_steps():
    t = torch.arange(1, 16)
    e = sinusoidal_embedding(t, 8)
    assert e.shape == (15, 8)
    half = 4
    freqs = [10_000 ** (-i / half) for i in range(half)]
    assert math.isclose(e[2, 1].item(), math.cos(3 * freqs[1]), abs_tol=1e-6)
    assert math.isclose(e[2, 5].item(), math.sin(3 * freqs[1]), abs_tol=1e-6)
    assert torch.cdist(e, e).add(torch.eye(15) * 10).min() > 1e-3  # every step has its own code
    assert sinusoidal_embedding(t, 7).shape == (15, 7)
    with pytest.raises(ValueError, match="1-D tensor"):
        sinusoidal_embedding(t[None], 8)


def test_timestep_embedding_and_resblock_shapes_and_grads():
    torch.manual_seed(0)
    emb_mod = TimestepEmbedding(16, 64)
    block = ResBlock(8, 12, 64)
    x = torch.randn(3, 8, 10, 6, requires_grad=True)
    emb = emb_mod(torch.tensor([1, 7, 15]))
    out = block(x, emb)
    assert out.shape == (3, 12, 10, 6)
    out.square().mean().backward()
    _all_grads_nonzero(block)
    _all_grads_nonzero(emb_mod)
    assert x.grad.abs().sum() > 0
    assert emb_mod.double()(torch.tensor([3])).dtype == torch.float64  # follows the module's dtype
    with pytest.raises(ValueError, match="expects 8 input channels"):
        block(torch.randn(1, 5, 4, 4), emb[:1])


def test_resblock_step_changes_output():
    torch.manual_seed(0)
    emb_mod, block = TimestepEmbedding(16, 32), ResBlock(4, 4, 32)
    x = torch.randn(1, 4, 8, 8).expand(2, 4, 8, 8)
    out = block(x, emb_mod(torch.tensor([1, 15])))
    assert (out[0] - out[1]).abs().max() > 1e-4  # the diffusion step modulates the features


def test_window_partition_roundtrip():
    x = torch.randn(2, 12, 8, 5)
    w = window_partition(x, 4)
    assert w.shape == (2 * 3 * 2, 16, 5)
    assert torch.equal(window_reverse(w, 4, 12, 8), x)
    # window 0 of image 0 holds the top-left 4x4 block, row-major
    assert torch.equal(w[0].reshape(4, 4, 5), x[0, :4, :4])
    with pytest.raises(ValueError, match="not divisible by the window size"):
        window_partition(torch.randn(1, 6, 8, 2), 4)


@pytest.mark.parametrize("ws", [2, 3, 4])
def test_relative_position_index_table(ws):
    idx = relative_position_index(ws)
    n = ws * ws
    assert idx.shape == (n, n) and idx.min() == 0 and idx.max() == (2 * ws - 1) ** 2 - 1
    for i in range(n):
        for j in range(n):
            (r1, c1), (r2, c2) = divmod(i, ws), divmod(j, ws)
            assert idx[i, j] == (r1 - r2 + ws - 1) * (2 * ws - 1) + (c1 - c2 + ws - 1)
    center = (ws - 1) * (2 * ws - 1) + (ws - 1)
    assert torch.all(idx.diagonal() == center)
    assert torch.all(idx + idx.T == 2 * center)  # offset (dy, dx) and (-dy, -dx) mirror around the centre


@pytest.mark.parametrize("h,w,ws", [(8, 8, 4), (12, 8, 4), (16, 24, 8)])
def test_shifted_window_mask_matches_original_adjacency(h, w, ws):
    shift = ws // 2
    mask = shifted_window_mask(h, w, ws, shift)
    # original coordinates of the tokens of each window of the rolled map
    rows = (torch.arange(h)[:, None].expand(h, w) + shift) % h
    cols = (torch.arange(w)[None, :].expand(h, w) + shift) % w
    coords = torch.stack([rows, cols], -1)[None].float()
    win = window_partition(coords, ws)  # [nW, N, 2]
    d = (win[:, :, None, :] - win[:, None, :, :]).abs()
    truly_close = (d[..., 0] < ws) & (d[..., 1] < ws)  # neighbours without wrapping around the borders
    assert torch.equal(mask, truly_close)
    assert mask.diagonal(dim1=1, dim2=2).all()


def test_shifted_window_block_never_attends_across_the_wrap():
    torch.manual_seed(0)
    blk = WindowAttentionBlock(8, 2, ws=4, shift=True)
    x = torch.randn(1, 8, 8, 8, requires_grad=True)
    out = blk(x)
    assert out.shape == x.shape
    out[0, :, 0, 0].sum().backward()  # top-left pixel
    g = x.grad[0].abs().sum(0)
    # with shift 2 the top-left pixel shares a rolled window with the bottom/right border rows/cols,
    # but the mask must cut them: no gradient from rows >= 6 or cols >= 6
    assert g[6:, :].sum() == 0 and g[:, 6:].sum() == 0
    assert g[:2, :2].sum() > 0  # it does attend to its true neighbours
    # without the shift the same pixel sees exactly its own 4x4 window
    blk.shift = False
    x.grad = None
    blk(x)[0, :, 0, 0].sum().backward()
    g = x.grad[0].abs().sum(0)
    assert g[4:, :].sum() == 0 and g[:, 4:].sum() == 0 and g[:4, :4].min() > 0


def test_window_attention_block_grads_and_bias_used():
    torch.manual_seed(0)
    blk = WindowAttentionBlock(8, 2, ws=4, shift=True)
    x = torch.randn(2, 8, 8, 12)
    blk(x).square().mean().backward()
    _all_grads_nonzero(blk)
    with pytest.raises(ValueError, match="not divisible by the window size 4"):
        blk(torch.randn(1, 8, 6, 8))


def test_transposed_attention_permutation_behaviour():
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 5, 40, dtype=torch.float64) for _ in range(3))
    temp = torch.rand(3, 1, 1, dtype=torch.float64) + 0.5
    out = transposed_attention(q, k, v, temp)
    assert out.shape == (2, 3, 5, 40)
    # permuting the pixels permutes the output the same way (the C x C map sums over pixels)
    perm = torch.randperm(40)
    assert torch.allclose(transposed_attention(q[..., perm], k[..., perm], v[..., perm], temp), out[..., perm],
                          atol=1e-12)
    # permuting the channels permutes the output channels (channels attend to channels)
    cp = torch.randperm(5)
    assert torch.allclose(transposed_attention(q[:, :, cp], k[:, :, cp], v[:, :, cp], temp), out[:, :, cp],
                          atol=1e-12)
    # each output channel is a convex combination of the value channels
    onehot = torch.eye(5, dtype=torch.float64).expand(2, 3, 5, 5)
    weights = transposed_attention(q, k, onehot, temp)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 3, 5, dtype=torch.float64)) and weights.min() >= 0


def test_channel_attention_temperature_and_grads():
    torch.manual_seed(0)
    ca = ChannelAttention(8, heads=2)
    assert ca.temperature.shape == (2, 1, 1)
    blk = ChannelAttentionBlock(8, heads=2)
    x = torch.randn(2, 8, 6, 10)
    assert blk(x).shape == x.shape
    blk(x).square().mean().backward()
    _all_grads_nonzero(blk)
    with pytest.raises(ValueError, match="not divisible by heads"):
        ChannelAttention(10, heads=4)


def test_wavelet_down_up_roundtrip_and_shapes():
    torch.manual_seed(0)
    f = torch.randn(2, 6, 16, 12, dtype=torch.float64)
    ll, highs = WaveletDownsample()(f)
    assert ll.shape == (2, 6, 8, 6) and highs.shape == (2, 18, 8, 6)
    assert torch.allclose(ll, torch.nn.functional.avg_pool2d(f, 2), atol=1e-12)  # LL / 2 = 2x2 mean
    up = WaveletUpsample(6, 6).double()
    assert torch.allclose(up(ll, highs), f, atol=1e-12)  # exact at initialisation (fuse is zero)
    wide = WaveletUpsample(12, 6)
    out = wide(torch.randn(2, 12, 8, 6), highs.float())
    assert out.shape == (2, 6, 16, 12)
    out.square().mean().backward()
    _all_grads_nonzero(wide)
    with pytest.raises(ValueError, match="expects 18 high-band channels"):
        wide(torch.randn(2, 12, 8, 6), torch.randn(2, 6, 8, 6))


def test_lr_pyramid_shapes_and_grads():
    torch.manual_seed(0)
    pyr = LRPyramid(12, 8, steps=3)
    maps = pyr(torch.randn(2, 12, 32, 16))
    assert [tuple(m.shape) for m in maps] == [(2, 8, 16, 8), (2, 8, 8, 4), (2, 8, 4, 2)]
    sum(m.square().mean() for m in maps).backward()
    _all_grads_nonzero(pyr)
    with pytest.raises(ValueError, match="expects 12 channels"):
        pyr(torch.randn(1, 3, 8, 8))


def test_condenser_unit():
    torch.manual_seed(0)
    unit = CondenserUnit(6, 8, emb_dim=16, heads=2, window=4, shift=True)
    x = torch.randn(2, 6, 8, 8, requires_grad=True)
    out = unit(x, torch.randn(2, 16))
    assert out.shape == (2, 8, 8, 8)
    out.square().mean().backward()
    _all_grads_nonzero(unit)
