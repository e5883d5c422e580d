"""Exercises of notebook 05 (Semantic Distiller and InCAM): the modulation G, the semantic cross-attention.

5.1 ``fn(f, seg, w1, b1, w2, b2) -> F``: (γ, β) = G(P) with G = conv3×3 → ReLU → conv1×1 (Eq. 10), then
    F = (f ⊙ γ + β) + f (Eq. 11); checked against ``seeclear_lite.semantics.SemanticModulation``.
5.2 ``fn(x, tokens, wq, wk, wv, heads) -> F̂``: multi-head cross-attention of the pixels over a frame's
    semantic tokens, Softmax(Q Kᵀ / √d_h) V per head of width d_h (Eqs. 12–13); checked against
    ``seeclear_lite.semantics.cross_attention.MultiHeadAttention`` (biases zero, W^O = identity).
5.3 ``fn() -> "a" | "b" | "c"``: a prediction, before the experiment: how does a pixel of the shipped model split
    its cross-attention over its frame's k tokens? The check measures it on a real clip
    (``seeclear_lite.kit.trained_views.measure_incam_attention``) and takes the verdict from that measurement.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
import torch.nn.functional as F

from ...blocks.attention import MultiHeadAttention
from ...semantics.modulation import SemanticModulation
from ..trained_views import measure_incam_attention
from .core import ExerciseError, call, check_choice, close, compare, exercise, fresh_generator, passed, planted, reference

NB = "05_semantic_distiller_incam"


def _same_dtype(id: str, got, want: torch.Tensor) -> None:
    """A float32 answer to float64 inputs is off by ~1e-7: say so instead of reporting a small error."""
    if isinstance(got, torch.Tensor) and got.shape == want.shape and got.dtype != want.dtype:
        raise ExerciseError(f"Exercise {id}: your result is {got.dtype}, the inputs are {want.dtype}: compute in the "
                            "inputs' dtype (no .float(), no new tensors without dtype=...).")


# --------------------------------------------------------------------------------------------------------
# 5.1 the modulation G (Eqs. 10-11)
# --------------------------------------------------------------------------------------------------------

def _gamma_beta(seg, w1, b1, w2, b2, relu_last=False, no_relu=False):
    h = F.conv2d(seg, w1, b1, padding=w1.shape[-1] // 2)
    h = h if no_relu else F.relu(h)
    gb = F.conv2d(h, w2, b2, padding=w2.shape[-1] // 2)
    gb = F.relu(gb) if relu_last else gb
    return gb.chunk(2, dim=1)


def _modulation_reference(f, seg, w1, b1, w2, b2):
    """Through the package: SemanticModulation with these weights, applied to a clip of B·N = f.shape[0] frames."""
    c, cs, hidden = f.shape[1], seg.shape[1], w1.shape[0]
    g = SemanticModulation(c, cs, hidden=hidden, kernels=(w1.shape[-1], w2.shape[-1])).to(f.dtype)
    with torch.no_grad():
        for p, v in ((g.conv1.weight, w1), (g.conv1.bias, b1), (g.conv2.weight, w2), (g.conv2.bias, b2)):
            p.copy_(v)
        cond = SimpleNamespace(n_frames=f.shape[0], seg=seg[None])
        return g(f, cond)


@exercise("5.1", "the modulation G", notebook=NB, minutes=10)
def check_modulation(fn):
    """Checks ``fn(f [B, C, h, w], seg [B, c, h, w], w1, b1, w2, b2) -> F [B, C, h, w]`` (Eqs. 10–11).

    w1 [hidden, c, 3, 3], b1 [hidden] (first conv, padding 1), w2 [2C, hidden, 1, 1], b2 [2C] (second conv);
    γ = the first C output channels, β = the last C. Reference: ``seeclear_lite.semantics.SemanticModulation``.
    """
    gen = fresh_generator()
    cases = [(2, 4, 3, 6, 5, 7), (3, 6, 5, 8, 8, 6), (1, 2, 4, 4, 3, 9)]  # B, C, c, hidden, h, w
    for b, c, cs, hidden, h, w in cases:
        r = lambda *s, scale=1.0: scale * torch.randn(*s, generator=gen, dtype=torch.float64)  # noqa: E731
        f, seg = r(b, c, h, w), r(b, cs, h, w)
        w1, b1 = r(hidden, cs, 3, 3, scale=0.4), r(hidden, scale=0.3)
        w2, b2 = r(2 * c, hidden, 1, 1, scale=0.4), r(2 * c, scale=0.3)
        args = (f, seg, w1, b1, w2, b2)
        got = call("5.1", fn, *(a.clone() for a in args))
        want = _modulation_reference(*args)
        _same_dtype("5.1", got, want)
        if close(got, want, 1e-10):
            continue
        what = f"F for f {tuple(f.shape)}, P {tuple(seg.shape)}"
        if isinstance(got, torch.Tensor) and tuple(got.shape) != tuple(want.shape):
            hint = ""
            if tuple(got.shape[-2:]) == (h - 2, w - 2):
                hint = " The 3×3 convolution shrank the map by 2 pixels: pad it (F.conv2d(..., padding=1))."
            elif got.shape[1] == 2 * c:
                hint = " You returned G's 2C channels: split them into γ (first C) and β (last C) and apply Eq. 11."
            raise ExerciseError(f"Exercise 5.1: {what} should have the shape of f, {tuple(want.shape)}; yours has "
                                f"{tuple(got.shape)}.{hint}")
        if isinstance(got, torch.Tensor) and got.shape == want.shape:
            gamma, beta = _gamma_beta(seg, w1, b1, w2, b2)
            mistakes = [
                ((f * gamma + beta), "the residual is missing: Eq. 11 is F = (f ⊙ γ + β) + f, add f back."),
                ((f * beta + gamma) + f, "γ and β are swapped: γ (the scale) is the FIRST C channels of G's output, "
                                         "β (the shift) the last C."),
                (f * (1 + gamma) + beta + f, "you scaled by (1 + γ) and added f: Eq. 11 already has the + f, so the "
                                             "scale is plain γ: F = f ⊙ γ + β + f."),
                (f * gamma + f, "β is missing: F = (f ⊙ γ + β) + f."),
            ]
            g_n, b_n = _gamma_beta(seg, w1, b1, w2, b2, no_relu=True)
            mistakes.append(((f * g_n + b_n) + f, "the ReLU between the two convolutions is missing: "
                                                  "G = conv3×3 → ReLU → conv1×1."))
            g_l, b_l = _gamma_beta(seg, w1, b1, w2, b2, relu_last=True)
            mistakes.append(((f * g_l + b_l) + f, "you applied a ReLU after the last convolution too: then γ, β ≥ 0, "
                                                  "the shift could never subtract. Only conv1 is followed by a ReLU."))
            for variant, why in mistakes:
                if close(got, variant, 1e-8):
                    raise ExerciseError(f"Exercise 5.1 ({what}): {why}")
        compare("5.1", got, want, what, atol=1e-10,
                hint="G(P) = conv1×1(ReLU(conv3×3(P, padding 1))) gives 2C channels; γ = first C, β = last C; "
                     "F = (f ⊙ γ + β) + f.")
    passed("5.1", f"{len(cases)} random clips (B, C, c, hidden, h, w) = {cases}; float64, tolerance 1e-10")


@reference("5.1")
def _modulation_ref(f, seg, w1, b1, w2, b2):
    return _modulation_reference(f, seg, w1, b1, w2, b2)


@planted("5.1", "missing residual", expect="residual is missing")
def _modulation_no_residual(f, seg, w1, b1, w2, b2):
    gamma, beta = _gamma_beta(seg, w1, b1, w2, b2)
    return f * gamma + beta


@planted("5.1", "gamma and beta swapped", expect="γ and β are swapped")
def _modulation_swapped(f, seg, w1, b1, w2, b2):
    gamma, beta = _gamma_beta(seg, w1, b1, w2, b2)
    return f * beta + gamma + f


@planted("5.1", "ReLU after the last conv", expect="ReLU after the last convolution")
def _modulation_relu_last(f, seg, w1, b1, w2, b2):
    gamma, beta = _gamma_beta(seg, w1, b1, w2, b2, relu_last=True)
    return f * gamma + beta + f


@planted("5.1", "no padding", expect="padding=1")
def _modulation_no_padding(f, seg, w1, b1, w2, b2):
    gamma, beta = F.conv2d(F.relu(F.conv2d(seg, w1, b1)), w2, b2).chunk(2, 1)
    return f[..., 1:-1, 1:-1] * gamma + beta + f[..., 1:-1, 1:-1]


# --------------------------------------------------------------------------------------------------------
# 5.2 the semantic cross-attention (Eqs. 12-13)
# --------------------------------------------------------------------------------------------------------

def _heads(t, heads, interleaved=False):
    """[B, L, C] -> [B, heads, L, C/heads]; head h = channels h·dh … (h+1)·dh − 1
    (or, if ``interleaved``, the wrong split h, h + heads, h + 2·heads, …)."""
    if interleaved:
        return t.unflatten(-1, (-1, heads)).permute(0, 3, 1, 2)
    return t.unflatten(-1, (heads, -1)).transpose(1, 2)


def _attend(x, tokens, wq, wk, wv, heads, scale=None, softmax_dim=-1, interleaved=False):
    """Eqs. 12-13 with one knob per typical mistake."""
    q, k, v = (_heads(t, heads, interleaved) for t in (x @ wq, tokens @ wk, tokens @ wv))
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    out = (q @ k.transpose(-1, -2) * scale).softmax(softmax_dim) @ v
    if interleaved:
        return out.permute(0, 2, 3, 1).flatten(-2)
    return out.transpose(1, 2).flatten(-2)


def _cross_attention_reference(x, tokens, wq, wk, wv, heads):
    """Through the package's MultiHeadAttention: W^Q, W^K, W^V given (row-vector convention), biases 0, W^O = I."""
    c, d = wq.shape[0], wk.shape[0]
    m = MultiHeadAttention(c, heads, ctx_dim=d).to(x.dtype)
    with torch.no_grad():
        for lin, wt in ((m.q, wq), (m.k, wk), (m.v, wv), (m.out, torch.eye(c, dtype=x.dtype))):
            lin.weight.copy_(wt.T)      # nn.Linear computes x @ weight.T
            lin.bias.zero_()
        return m(x, tokens)


@exercise("5.2", "the semantic cross-attention", notebook=NB, minutes=15)
def check_cross_attention(fn):
    """Checks ``fn(x [B, L, C], tokens [B, k, d_O], wq [C, C], wk [d_O, C], wv [d_O, C], heads) -> [B, L, C]``.

    Q = x W^Q, K = O W^K, V = O W^V (Eq. 12); head h uses channels h·C/heads … (h+1)·C/heads − 1 of each;
    per head Softmax(Q Kᵀ / √(C/heads)) V over the k tokens (Eq. 13); heads concatenated back to C channels.
    Reference: ``seeclear_lite.semantics.cross_attention.MultiHeadAttention`` with zero biases and W^O = I.
    """
    gen = fresh_generator()
    cases = [(2, 12, 4, 8, 6, 2), (1, 20, 8, 16, 5, 4), (3, 9, 3, 6, 4, 3)]  # B, L (pixels), k, C, d_O, heads
    for b, L, k, c, d, heads in cases:
        r = lambda *s, scale=1.0: scale * torch.randn(*s, generator=gen, dtype=torch.float64)  # noqa: E731
        # weights large enough that the softmax is far from uniform (so every mistake shows)
        x, tokens = r(b, L, c), r(b, k, d)
        wq, wk, wv = r(c, c, scale=0.8), r(d, c, scale=0.8), r(d, c)
        args = (x, tokens, wq, wk, wv)
        got = call("5.2", fn, *(a.clone() for a in args), heads)
        want = _cross_attention_reference(*args, heads)
        what = f"F̂ for x {tuple(x.shape)}, O {tuple(tokens.shape)}, heads = {heads}"
        if not isinstance(got, torch.Tensor):
            raise ExerciseError(f"Exercise 5.2: return a torch.Tensor, got {type(got).__name__}.")
        if tuple(got.shape) != tuple(want.shape):
            hint = ""
            if tuple(got.shape) == (b, heads, L, k):
                hint = " That is the attention map: multiply it by V (per head) and merge the heads."
            elif tuple(got.shape) == (b, heads, L, c // heads):
                hint = " Merge the heads back: transpose to [B, L, heads, C/heads] and flatten the last two axes."
            raise ExerciseError(f"Exercise 5.2: {what} should have shape [B, L, C] = {tuple(want.shape)} (one "
                                f"C-vector per pixel), yours has {tuple(got.shape)}.{hint}")
        _same_dtype("5.2", got, want)
        if close(got, want, 1e-10):
            continue
        dh = c // heads
        mistakes = [
            (dict(scale=1.0), "the logits are not scaled: divide Q Kᵀ by √d_h, d_h = C/heads the width of one head."),
            (dict(scale=c ** -0.5), f"you scaled by 1/√C = 1/√{c}; each head's logits are scaled by 1/√(C/heads) = "
                                    f"1/√{dh}, the width of one head."),
            (dict(scale=1.0 / dh), f"you divided by d_h = {dh}; Eq. 13 divides by √d_h."),
            (dict(softmax_dim=-2), "the softmax runs over the wrong axis: over the pixels (queries). Each pixel's "
                                   "weights over the k tokens must sum to 1: softmax over the last axis of Q Kᵀ."),
            (dict(interleaved=True), "the heads take the wrong channels: head h is the contiguous block "
                                     "h·C/heads … (h+1)·C/heads − 1 (reshape [.., C] to [.., heads, C/heads]), "
                                     "not every heads-th channel."),
        ]
        for kw, why in mistakes:
            if close(got, _attend(*args, heads, **kw), 1e-8):
                raise ExerciseError(f"Exercise 5.2 ({what}): {why}")
        for h_wrong in {1, c} - {heads}:
            for scale in (dh ** -0.5, (c // h_wrong) ** -0.5):
                if close(got, _attend(*args, h_wrong, scale=scale), 1e-8):
                    raise ExerciseError(f"Exercise 5.2 ({what}): you used {h_wrong} head(s) instead of heads = "
                                        f"{heads}: split Q, K, V into {heads} heads of {dh} channels each.")
        compare("5.2", got, want, what, atol=1e-10,
                hint="Q = x @ wq, K = O @ wk, V = O @ wv; per head softmax(Q Kᵀ / √(C/heads), over the k tokens) @ V; "
                     "concatenate the heads.")
    passed("5.2", f"{len(cases)} random cases (B, L, k, C, d_O, heads) = {cases}; float64, tolerance 1e-10")


@reference("5.2")
def _cross_attention_ref(x, tokens, wq, wk, wv, heads):
    return _cross_attention_reference(x, tokens, wq, wk, wv, heads)


@planted("5.2", "no 1/sqrt(d) scaling", expect="not scaled")
def _attn_unscaled(x, tokens, wq, wk, wv, heads):
    return _attend(x, tokens, wq, wk, wv, heads, scale=1.0)


@planted("5.2", "softmax over the queries", expect="wrong axis")
def _attn_softmax_axis(x, tokens, wq, wk, wv, heads):
    return _attend(x, tokens, wq, wk, wv, heads, softmax_dim=-2)


@planted("5.2", "scaled by sqrt(C)", expect="1/√C")
def _attn_scale_c(x, tokens, wq, wk, wv, heads):
    return _attend(x, tokens, wq, wk, wv, heads, scale=x.shape[-1] ** -0.5)


@planted("5.2", "single head", expect="head(s) instead of")
def _attn_one_head(x, tokens, wq, wk, wv, heads):
    return _attend(x, tokens, wq, wk, wv, 1, scale=(x.shape[-1] // heads) ** -0.5)


@planted("5.2", "interleaved heads", expect="wrong channels")
def _attn_interleaved(x, tokens, wq, wk, wv, heads):
    return _attend(x, tokens, wq, wk, wv, heads, interleaved=True)


@planted("5.2", "returns the attention map", expect="That is the attention map")
def _attn_map_only(x, tokens, wq, wk, wv, heads):
    q, k = _heads(x @ wq, heads), _heads(tokens @ wk, heads)
    return (q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5).softmax(-1)


# --------------------------------------------------------------------------------------------------------
# 5.3 prediction: where the trained cross-attention goes
# --------------------------------------------------------------------------------------------------------

#: (a) needs more than this mean weight on the pixel's own segment's token; (b) a normalised entropy above EVEN.
OWN_TOKEN, EVEN = 0.5, 0.9

_ATTENTION_WHY = {
    "a": "attention that follows the segmentation: each pixel reads the description of its own object, as the "
         "hand-set weights of section 3 were built to do.",
    "b": "the k weights are all close to 1/k: every pixel reads about the mean of its frame's tokens, the same mix "
         "wherever it is, so the cross-attention adds one frame-wide vector rather than per-object semantics.",
    "c": "selective attention that is not organised by segment: pixels pick a few tokens by another cue "
         "(position, brightness), not by the object they belong to.",
}


def _attention_verdict(stats: dict) -> tuple[str, str]:
    rows = [r for r in stats.values() if "own_token" in r]
    own = sum(r["own_token"] for r in rows) / len(rows)
    even = sum(r["entropy"] for r in rows) / len(rows)
    top = sum(r["top"] for r in rows) / len(rows)
    k = rows[0]["k"]
    letter = "a" if own > OWN_TOKEN else "b" if even > EVEN else "c"
    evidence = (f"over the {len(rows)} InCAM blocks of the shipped model at its first step (t = T), a pixel puts on "
                f"average {own:.1%} of its attention on its own segment's token (even: 1/k = {1 / k:.1%}), its largest "
                f"weight is {top:.1%}, and the normalised entropy of its {k} weights is {even:.3f} (1 = perfectly "
                f"even; (a) needs > {OWN_TOKEN:.0%} on its own token, (b) an entropy > {EVEN})")
    return letter, evidence


@exercise("5.3", "predict where the trained cross-attention goes", notebook=NB, minutes=5)
def check_attention_prediction(fn):
    """Checks a prediction ``fn() -> "a" | "b" | "c"``: does a pixel of the shipped full model put (a) most of its
    cross-attention on its own segment's token, (b) nearly the same weight on every token, or (c) most of it on
    tokens of other segments? The verdict comes from the model's own attention on a real clip
    (``measure_incam_attention``, cached), never from a stored answer."""
    call("5.3", fn)                          # a stub fails here, before the measurement
    letter, evidence = _attention_verdict(measure_incam_attention()[1])
    check_choice("5.3", fn, letter, _ATTENTION_WHY, evidence)


@reference("5.3")
def _attention_reference():
    return _attention_verdict(measure_incam_attention()[1])[0]


@planted("5.3", "a choice the measurement rules out", expect="the measurement says")
def _attention_wrong_letter():
    measured = _attention_verdict(measure_incam_attention()[1])[0]
    return next(c for c in "abc" if c != measured)


@planted("5.3", "a number instead of a letter", expect="return one of")
def _attention_number():
    return 1
