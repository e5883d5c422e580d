"""Exercises of notebook 06 (CaTeGory): the memory query of Eq. 19 and the kit's update of C.

6.1 ``fn(o, C, T) -> (A, R)``: A = Softmax_items(o C / √I) and the memory read R = A T (what Eq. 20's
    cross-attention reads); checked against ``CaTeGory.attention``. Eq. 19 prints Softmax(O_cᵀ C): the tokens as
    the rows of o is the kit's reading, and the temperature 1/√I is the kit's addition (Eq. 19 has none).
6.2 ``fn(C, o, rho) -> C_new``: the soft k-means update of the channel-wise semantics C after a clip (the
    paper gives no rule for C; the kit's is in ``seeclear_lite.memory.category``); checked against
    ``CaTeGory.update_semantics``.
6.3 ``fn() -> "a" | "b" | "c"``: a prediction, before the experiment: how much does the shipped model's output
    change without its memory read? The check runs both (``seeclear_lite.kit.trained_views.measure_memory_effect``)
    and takes the verdict from that measurement.
"""

from __future__ import annotations

import math

import torch

from ...config import MemoryConfig
from ...memory import CaTeGory
from ..trained_views import measure_memory_effect
from .core import ExerciseError, call, check_choice, close, compare, exercise, fresh_generator, passed, planted, reference

NB = "06_category_memory"


def _category(groups: int, items: int, texture_dim: int, c_momentum: float = 0.1) -> CaTeGory:
    sizes = MemoryConfig(groups=groups, items=items, texture_dim=texture_dim, heads=1, c_momentum=c_momentum)
    return CaTeGory((4,), token_dim=4, sizes=sizes).double()


def _dtype(id: str, got, want: torch.Tensor, what: str) -> None:
    if isinstance(got, torch.Tensor) and got.shape == want.shape and got.dtype != want.dtype:
        raise ExerciseError(f"Exercise {id}: {what} is {got.dtype}, the inputs are {want.dtype}: compute in the "
                            "inputs' dtype (no .float(), no new tensors without dtype=...).")


# --------------------------------------------------------------------------------------------------------
# 6.1 the query A = Softmax(O_c^T C) and the read A T (Eq. 19)
# --------------------------------------------------------------------------------------------------------

def _query(o, C, T, scale=True, dim=-1, transpose_c=False):
    Cm = C.transpose(-1, -2) if transpose_c else C
    logits = o @ Cm
    if scale:
        logits = logits / math.sqrt(C.shape[-1])
    A = torch.softmax(logits, dim=dim)
    return A, A @ T


@exercise("6.1", "the memory query A = Softmax(O_cᵀ C) and the read A·T", notebook=NB, minutes=10)
def check_memory_query(fn):
    """Checks ``fn(o [B, J, K, I], C [B, J, I, I], T [B, J, I, d_T]) -> (A [B, J, K, I], R [B, J, K, d_T])``.

    o: the clip tokens' semantics split into J groups of I channels (one row per clip token: the kit's reading of
    Eq. 19's O_cᵀ); C: column i of C[b, j] is item i's channel-wise semantic; T: row i of T[b, j] is item i's
    texture. A = softmax over the I items of o C / √I (the 1/√I is the kit's addition); R = A T. Reference:
    ``CaTeGory.attention`` (and a matrix product)."""
    gen = fresh_generator()
    cases = [(1, 2, 3, 4, 5), (2, 3, 5, 8, 6), (2, 1, 7, 6, 3)]   # B, J, K, I, d_T
    for b, j, k, i, d in cases:
        o = 2.0 * torch.randn(b, j, k, i, generator=gen, dtype=torch.float64)
        C = torch.randn(b, j, i, i, generator=gen, dtype=torch.float64)
        T = torch.randn(b, j, i, d, generator=gen, dtype=torch.float64)
        got = call("6.1", fn, o.clone(), C.clone(), T.clone())
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            raise ExerciseError(f"Exercise 6.1: return a pair (A, R); got {type(got).__name__}"
                                f"{' of length ' + str(len(got)) if isinstance(got, (tuple, list)) else ''}.")
        A, R = got
        with torch.no_grad():
            A_ref = _category(j, i, d).attention(o, C)
        R_ref = A_ref @ T
        what = f"A for o {tuple(o.shape)}, C {tuple(C.shape)}"
        _dtype("6.1", A, A_ref, "A")
        if not close(A, A_ref, 1e-10):
            if isinstance(A, torch.Tensor) and A.shape == A_ref.shape:
                for kw, why in (
                        (dict(scale=False), "the temperature is missing: divide o C by √I (I = items per group) "
                                            "before the softmax (the kit's addition to Eq. 19, as in Eq. 13)."),
                        (dict(dim=-2), "the softmax runs over the clip tokens (dim -2): each token needs a "
                                       "distribution over the I items, so normalise over the last dim."),
                        (dict(transpose_c=True), "you used Cᵀ: item i's semantic is COLUMN i of C, so the logits "
                                                 "are o @ C (token k, item i: Σ_r o[k, r] C[r, i])."),
                        (dict(scale=False, dim=-2), "softmax over the tokens and no 1/√I: fix both.")):
                    if close(A, _query(o, C, T, **kw)[0], 1e-8):
                        raise ExerciseError(f"Exercise 6.1 ({what}): {why}")
                rows = A.sum(-1)
                if not close(rows, torch.ones_like(rows), 1e-8):
                    raise ExerciseError(f"Exercise 6.1 ({what}): the rows of A should sum to 1 over the I items "
                                        f"(softmax over the last dim); yours sum to {rows.flatten()[0].item():.4g}.")
            compare("6.1", A, A_ref, what, atol=1e-10, hint="A = softmax(o @ C / sqrt(I), dim=-1).")
        _dtype("6.1", R, R_ref, "R")
        if not close(R, R_ref, 1e-10):
            if isinstance(R, torch.Tensor) and close(R, A_ref.transpose(-1, -2) @ (A_ref @ T), 1e-8):
                raise ExerciseError("Exercise 6.1: R is one read per TOKEN, R = A @ T, shape [B, J, K, d_T].")
            if isinstance(R, torch.Tensor) and R.shape == R_ref.shape and close(R, torch.softmax(
                    o @ C / math.sqrt(i), dim=-2) @ T, 1e-8):
                raise ExerciseError("Exercise 6.1: R was read with the wrong A (softmax over the tokens): use the "
                                    "A you returned, normalised over the items.")
            compare("6.1", R, R_ref, f"R = A T for T {tuple(T.shape)}", atol=1e-10,
                    hint="R = A @ T: each token's read is the A-weighted mean of the item textures (rows of T).")
    passed("6.1", f"{len(cases)} random memories (B, J, K, I, d_T) = {cases}; float64, tolerance 1e-10")


@reference("6.1")
def _query_ref(o, C, T):
    with torch.no_grad():
        A = _category(C.shape[1], C.shape[-1], T.shape[-1]).attention(o, C)
    return A, A @ T


@planted("6.1", "no 1/sqrt(I) temperature", expect="temperature is missing")
def _query_no_scale(o, C, T):
    return _query(o, C, T, scale=False)


@planted("6.1", "softmax over the tokens", expect="over the clip tokens")
def _query_wrong_dim(o, C, T):
    return _query(o, C, T, dim=-2)


@planted("6.1", "C transposed", expect="you used Cᵀ")
def _query_transposed(o, C, T):
    return _query(o, C, T, transpose_c=True)


# --------------------------------------------------------------------------------------------------------
# 6.2 the update of C after a clip (the kit's soft k-means step)
# --------------------------------------------------------------------------------------------------------

def _update(C, o, rho, *, count=True, normalise=True, rows=False, plain_mean=False):
    A = torch.softmax(o @ C / math.sqrt(C.shape[-1]), dim=-1)             # [B, J, K, I]
    w = A.sum(dim=2)                                                      # [B, J, I]
    if plain_mean:
        c_hat = o.mean(dim=2).unsqueeze(-1).expand_as(C)
    else:
        c_hat = o.transpose(-1, -2) @ A                                   # [B, J, I(channels), I(items)]
        if normalise:
            c_hat = c_hat / w.clamp_min(1e-12).unsqueeze(-2)
    if rows:
        c_hat = c_hat.transpose(-1, -2)
    rate = (rho * w / (w + 1.0)).unsqueeze(-2) if count else torch.full_like(w, rho).unsqueeze(-2)
    return (1.0 - rate) * C + rate * c_hat


@exercise("6.2", "the update of the channel-wise semantics C after a clip", notebook=NB, minutes=15)
def check_update_c(fn):
    """Checks ``fn(C [B, J, I, I], o [B, J, K, I], rho) -> C_new [B, J, I, I]``: A = Softmax(o C / √I) with
    the OLD C; per item i the soft count w_i = Σ_k A_ki and the centroid ĉ_i = Σ_k A_ki o_k / w_i (a column);
    rate_i = rho w_i / (w_i + 1); column i of C_new = (1 − rate_i) C[:, i] + rate_i ĉ_i.
    Reference: ``CaTeGory.update_semantics`` with ``c_momentum = rho``."""
    gen = fresh_generator()
    cases = [(1, 2, 4, 3, 0.1), (2, 3, 6, 5, 0.5), (2, 1, 3, 8, 1.0)]     # B, J, K, I, rho
    for b, j, k, i, rho in cases:
        C = torch.randn(b, j, i, i, generator=gen, dtype=torch.float64)
        o = 2.0 * torch.randn(b, j, k, i, generator=gen, dtype=torch.float64)
        got = call("6.2", fn, C.clone(), o.clone(), rho)
        with torch.no_grad():
            want = _category(j, i, 4, c_momentum=rho).update_semantics(C, o)
        what = f"C_new for C {tuple(C.shape)}, o {tuple(o.shape)}, rho {rho}"
        _dtype("6.2", got, want, "C_new")
        if close(got, want, 1e-10):
            continue
        if isinstance(got, torch.Tensor) and got.shape == want.shape:
            for kw, why in (
                    (dict(count=False), "the rate is a plain rho: scale it by the soft count, rate_i = rho w_i / "
                                        "(w_i + 1), so an item no token reads (w_i ≈ 0) stays where it is."),
                    (dict(normalise=False), "the centroid is not normalised: divide Σ_k A_ki o_k by the soft "
                                            "count w_i = Σ_k A_ki (a weighted MEAN of the tokens)."),
                    (dict(rows=True), "you wrote the centroids into the ROWS of C: item i's semantic is COLUMN i, "
                                      "so ĉ_i must go to C[..., :, i]."),
                    (dict(plain_mean=True), "every item moves to the plain mean of the tokens: weight token k by "
                                            "A_ki, how much it reads item i.")):
                if close(got, _update(C, o, rho, **kw), 1e-8):
                    raise ExerciseError(f"Exercise 6.2 ({what}): {why}")
            if close(got, C, 1e-12):
                raise ExerciseError(f"Exercise 6.2 ({what}): C did not change: move each column toward its centroid.")
        compare("6.2", got, want, what, atol=1e-10,
                hint="A = softmax(o @ C / sqrt(I), -1); w = A.sum(2); c_hat = (o^T @ A) / w; rate = rho w / (w + 1); "
                     "C_new = (1 - rate) C + rate c_hat, with rate and w broadcast over the rows (columns = items).")
    passed("6.2", f"{len(cases)} random memories (B, J, K, I, rho) = {cases}; float64, tolerance 1e-10")


@reference("6.2")
def _update_ref(C, o, rho):
    with torch.no_grad():
        return _category(C.shape[1], C.shape[-1], 4, c_momentum=rho).update_semantics(C, o)


@planted("6.2", "rate without the soft count", expect="plain rho")
def _update_plain_rate(C, o, rho):
    return _update(C, o, rho, count=False)


@planted("6.2", "unnormalised centroid", expect="not normalised")
def _update_unnormalised(C, o, rho):
    return _update(C, o, rho, normalise=False)


@planted("6.2", "centroids in the rows", expect="ROWS of C")
def _update_rows(C, o, rho):
    return _update(C, o, rho, rows=True)


# --------------------------------------------------------------------------------------------------------
# 6.3 prediction: how much the trained memory changes the output
# --------------------------------------------------------------------------------------------------------

#: Mean |difference| (8-bit grey levels) below SMALL is (a), above LARGE is (c).
SMALL, LARGE = 0.5, 5.0

_MEMORY_WHY = {
    "a": "the read barely moves the decoder features: the memory adds through a LayerScale γ that starts small, and "
         "when the attention over the items is nearly even every token reads about the same mean texture, so the "
         "output hardly changes.",
    "b": "the memory shifts the output by a few grey levels: a change a magnified difference shows, too small to "
         "see side by side.",
    "c": "the memory read changes the output visibly: the decoder relies on what the memory holds.",
}


def _memory_verdict(m: dict) -> tuple[str, str]:
    mean = m["mean_abs"]
    letter = "a" if mean < SMALL else "c" if mean > LARGE else "b"
    rel = ", ".join(f"{100 * v:.1f} %" for _, v in sorted(m["relative_feature_change"].items()))
    evidence = (f"the shipped full model, {m['steps']}-step chain on a crop of the held-out clip, same noise: the outputs "
                f"with and without the memory read differ by {mean:.2f} grey levels on average (largest "
                f"{m['max_abs']:.0f}; (a) < {SMALL}, (c) > {LARGE}); the read changes the decoder features by {rel} "
                f"(levels, deepest first) and the attention over the items has a normalised entropy of "
                f"{m['A_entropy']:.3f} (1 = even)")
    return letter, evidence


@exercise("6.3", "predict how much the trained memory changes the output", notebook=NB, minutes=5)
def check_memory_prediction(fn):
    """Checks a prediction ``fn() -> "a" | "b" | "c"``: with and without its memory read, do the shipped model's
    outputs differ by (a) less than SMALL grey levels on average, (b) SMALL to LARGE, (c) more than LARGE? The
    verdict comes from sampling both (``measure_memory_effect``, cached), never from a stored answer."""
    call("6.3", fn)                          # a stub fails here, before the measurement
    letter, evidence = _memory_verdict(measure_memory_effect())
    check_choice("6.3", fn, letter, _MEMORY_WHY, evidence)


@reference("6.3")
def _memory_reference():
    return _memory_verdict(measure_memory_effect())[0]


@planted("6.3", "a choice the measurement rules out", expect="the measurement says")
def _memory_wrong_letter():
    measured = _memory_verdict(measure_memory_effect())[0]
    return next(c for c in "abc" if c != measured)


@planted("6.3", "a letter outside the choices", expect="return one of")
def _memory_letter_d():
    return "d"
