"""Exercises of notebook 04 (the Pixel Condenser): Swin window partition, the relative position index.

4.1 ``fn(x [B, H, W, C], ws) -> [B·nW, ws·ws, C]``: cut a map into non-overlapping ws×ws windows (Sec. 3.1's
    window-based self-attention; Algorithm 1 lines 15–22), checked against
    ``seeclear_lite.blocks.window_partition``.
4.2 ``fn(ws) -> [ws², ws²]``: the row of the relative position bias table for every pair of tokens of a
    window (Swin's B[dy, dx]), checked against ``seeclear_lite.blocks.relative_position_index``.
4.3 ``fn() -> "a" | "b" | "c"``: a prediction, before the experiment: along the shipped Pixel Condenser's reverse
    chain, does the PSNR of x̂0 rise, fall or stay? The check runs the chain itself
    (``seeclear_lite.kit.trained_views.measure_first_vs_chain``) and takes the verdict from that measurement.
"""

from __future__ import annotations


import torch

from ...blocks.window_attention import relative_position_index, window_partition
from ..trained_views import measure_first_vs_chain
from .core import ExerciseError, call, check_choice, compare, exercise, fresh_generator, passed, planted, reference

NB = "04_pixel_condenser"


# --------------------------------------------------------------------------------------------------------
# 4.1 window partition
# --------------------------------------------------------------------------------------------------------

def _blocks(x: torch.Tensor, ws: int) -> torch.Tensor:
    """[B, H, W, C] -> [B, H/ws (window row i), ws (row r in window), W/ws (window col j), ws (col c), C]."""
    b, h, w, c = x.shape
    return x.reshape(b, h // ws, ws, w // ws, ws, c)


# Typical wrong partitions, each as (what the student did, how to fix it). Checked in this order.
_PARTITION_MISTAKES = {
    "strips": (
        lambda x, ws: x.reshape(-1, ws * ws, x.shape[-1]),
        "you reshaped without permuting: each 'window' holds ws·ws consecutive pixels of one row (a strip), "
        "not a ws×ws square. Reshape to [B, H/ws, ws, W/ws, ws, C] and permute to "
        "[B, H/ws, W/ws, ws, ws, C] (permute(0, 1, 3, 2, 4, 5)) before flattening."),
    "windows column-major": (
        lambda x, ws: _blocks(x, ws).permute(0, 3, 1, 2, 4, 5).reshape(-1, ws * ws, x.shape[-1]),
        "the windows are in column-major order (window (i, j) sits where window (j, i) should). Put the "
        "window-row axis H/ws before the window-column axis W/ws: permute(0, 1, 3, 2, 4, 5)."),
    "tokens column-major": (
        lambda x, ws: _blocks(x, ws).permute(0, 1, 3, 4, 2, 5).reshape(-1, ws * ws, x.shape[-1]),
        "the tokens inside each window are transposed (column-major): token r·ws + c must be pixel (r, c) of "
        "the window. Keep the within-window row axis before the within-window column axis: "
        "permute(0, 1, 3, 2, 4, 5)."),
    "both column-major": (
        lambda x, ws: _blocks(x, ws).permute(0, 3, 1, 4, 2, 5).reshape(-1, ws * ws, x.shape[-1]),
        "both the windows and the tokens inside each window are in column-major order (you permuted W before "
        "H). Use permute(0, 1, 3, 2, 4, 5) on [B, H/ws, ws, W/ws, ws, C]."),
    "strided windows": (
        lambda x, ws: x.reshape(x.shape[0], ws, x.shape[1] // ws, ws, x.shape[2] // ws, x.shape[3])
        .permute(0, 1, 3, 2, 4, 5).reshape(-1, ws * ws, x.shape[-1]),
        "you split H into [ws, H/ws] (and W into [ws, W/ws]) instead of [H/ws, ws]: your 'windows' take every "
        "(H/ws)-th pixel, a strided grid, not a contiguous ws×ws square. Reshape to [B, H/ws, ws, W/ws, ws, C]."),
    "batch inside": (
        lambda x, ws: _blocks(x, ws).permute(1, 3, 0, 2, 4, 5).reshape(-1, ws * ws, x.shape[-1]),
        "the batch index is inside the window index (your rows go window-major, image-minor). The package's "
        "order is image-major: all windows of image 0 first, then image 1 (keep B as the first axis)."),
}


@exercise("4.1", "window partition", notebook=NB, minutes=10)
def check_window_partition(fn):
    """Checks ``fn(x [B, H, W, C], ws) -> [B·nW, ws·ws, C]`` against ``seeclear_lite.blocks.window_partition``.

    Windows in row-major order (image-major over the batch), tokens row-major inside each window; float64
    maps of several shapes (H ≠ W, at least 2 windows per axis) with fresh random values.
    """
    gen = fresh_generator()
    cases = [(2, 8, 12, 3, 4), (1, 6, 4, 5, 2), (3, 9, 6, 2, 3)]  # B, H, W, C, ws
    for b, h, w, c, ws in cases:
        x = torch.randn(b, h, w, c, generator=gen, dtype=torch.float64)
        got = call("4.1", fn, x.clone(), ws)
        want = window_partition(x, ws)
        shape = (b * (h // ws) * (w // ws), ws * ws, c)
        if not isinstance(got, torch.Tensor):
            raise ExerciseError(f"Exercise 4.1: return a torch.Tensor, got {type(got).__name__}.")
        if tuple(got.shape) != shape:
            hint = ""
            if got.numel() == x.numel() and got.dim() == 4 and tuple(got.shape[-3:]) == (ws, ws, c):
                hint = " Flatten the two within-window axes into one: .reshape(-1, ws * ws, C)."
            raise ExerciseError(
                f"Exercise 4.1: for x of shape {(b, h, w, c)} and ws = {ws} the windows should have shape "
                f"[B·nW, ws·ws, C] = {shape} (nW = (H/ws)·(W/ws) = {(h // ws) * (w // ws)} windows per image), "
                f"yours has {tuple(got.shape)}.{hint}")
        if got.dtype != x.dtype:
            raise ExerciseError(f"Exercise 4.1: your windows are {got.dtype}, the input is {x.dtype}: a partition "
                                "only rearranges pixels, keep the dtype (no .float() or .to(...)).")
        if torch.equal(got, want):
            continue
        sorted_gap = (got.to(want.dtype).flatten().sort().values - want.flatten().sort().values).abs().max().item()
        if sorted_gap > 0:
            raise ExerciseError(
                f"Exercise 4.1: your output does not hold the same numbers as the input (largest difference of "
                f"the sorted values {sorted_gap:.3g}). A partition only rearranges pixels: use reshape/permute, "
                "no arithmetic.")
        for name, (wrong, why) in _PARTITION_MISTAKES.items():
            if torch.equal(got.to(want.dtype), wrong(x, ws)):
                raise ExerciseError(f"Exercise 4.1 (x {(b, h, w, c)}, ws = {ws}): {why}")
        bad = (got.to(want.dtype) != want).any(-1).nonzero()[0].tolist()
        raise ExerciseError(
            f"Exercise 4.1 (x {(b, h, w, c)}, ws = {ws}): the pixels are rearranged in an order that is not the "
            f"package's; the first wrong token is window {bad[0]}, token {bad[1]}. Window n = (b·H/ws + i)·W/ws + j "
            "holds pixels (i·ws + r, j·ws + c), token r·ws + c.")
    passed("4.1", f"{len(cases)} maps (B, H, W, C, ws) = {cases}: every pixel in its window and token slot")


@reference("4.1")
def _partition_reference(x, ws):
    return window_partition(x, ws)


@planted("4.1", "reshape without permute", expect="without permuting")
def _partition_strips(x, ws):
    return x.reshape(-1, ws * ws, x.shape[-1])


@planted("4.1", "transposed window order", expect="windows are in column-major order")
def _partition_window_order(x, ws):
    b, h, w, c = x.shape
    return x.reshape(b, h // ws, ws, w // ws, ws, c).permute(0, 3, 1, 2, 4, 5).reshape(-1, ws * ws, c)


@planted("4.1", "transposed tokens", expect="tokens inside each window are transposed")
def _partition_token_order(x, ws):
    b, h, w, c = x.shape
    return x.reshape(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 4, 2, 5).reshape(-1, ws * ws, c)


@planted("4.1", "H split as [ws, H/ws]", expect="strided grid")
def _partition_strided(x, ws):
    b, h, w, c = x.shape
    return x.reshape(b, ws, h // ws, ws, w // ws, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, ws * ws, c)


@planted("4.1", "windows not flattened", expect="Flatten the two within-window axes")
def _partition_unflattened(x, ws):
    b, h, w, c = x.shape
    return x.reshape(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, ws, ws, c)


# --------------------------------------------------------------------------------------------------------
# 4.2 relative position index
# --------------------------------------------------------------------------------------------------------

def _index_variant(ws: int, sign: int = 1, swap: bool = False, mult: int | None = None, offset: bool = True):
    """The index table with one typical mistake: offsets j - i (sign -1), dy/dx swapped, another multiplier,
    or without the + (ws - 1) shift."""
    r, c = torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")
    r, c = r.flatten(), c.flatten()
    dy, dx = sign * (r[:, None] - r[None]), sign * (c[:, None] - c[None])
    if swap:
        dy, dx = dx, dy
    if offset:
        dy, dx = dy + ws - 1, dx + ws - 1
    return dy * (2 * ws - 1 if mult is None else mult) + dx


@exercise("4.2", "the relative position index", notebook=NB, minutes=10)
def check_relative_position_index(fn):
    """Checks ``fn(ws) -> [ws², ws²]`` integer table against ``seeclear_lite.blocks.relative_position_index``.

    Entry [i, j] for tokens i = (r1, c1), j = (r2, c2) of a window is the bias-table row of the offset
    (r1 − r2, c1 − c2): ``(r1 − r2 + ws − 1)·(2ws − 1) + (c1 − c2 + ws − 1)``.
    """
    gen = fresh_generator()
    sizes = [2, 3, 4, 7, (5, 6, 8)[int(torch.randint(3, (1,), generator=gen))]]
    for ws in sizes:
        got = call("4.2", fn, ws)
        want = relative_position_index(ws)
        n = ws * ws
        if not isinstance(got, torch.Tensor):
            raise ExerciseError(f"Exercise 4.2: return a torch.Tensor, got {type(got).__name__}.")
        if tuple(got.shape) != (n, n):
            raise ExerciseError(f"Exercise 4.2: for ws = {ws} the table has one row and one column per token of "
                                f"the window: shape (ws², ws²) = {(n, n)}, yours has {tuple(got.shape)}.")
        if got.is_floating_point() or got.is_complex() or got.dtype == torch.bool:
            raise ExerciseError(f"Exercise 4.2: the table indexes rows of the bias table, so it must be an integer "
                                f"tensor (torch.long); yours is {got.dtype}.")
        got = got.long()
        if torch.equal(got, want):
            continue
        if torch.equal(got, _index_variant(ws, offset=False)) or got.min() < 0:
            raise ExerciseError(
                f"Exercise 4.2 (ws = {ws}): your table has negative entries (smallest {got.min().item()}). The "
                f"offsets r1 − r2 and c1 − c2 run from −(ws − 1) to ws − 1: add ws − 1 to each before combining "
                "them, so they run over 0 … 2ws − 2.")
        if torch.equal(got, want.T) or torch.equal(got, _index_variant(ws, sign=-1)):
            raise ExerciseError(
                f"Exercise 4.2 (ws = {ws}): your table is the transpose of the expected one: you used the offset "
                "of token j from token i (r2 − r1, c2 − c1). Entry [i, j] uses (r1 − r2, c1 − c2), query minus key.")
        if torch.equal(got, _index_variant(ws, swap=True)):
            raise ExerciseError(
                f"Exercise 4.2 (ws = {ws}): the row and column offsets are swapped: the index is "
                "(dy + ws − 1)·(2ws − 1) + (dx + ws − 1) with dy the row offset r1 − r2, not the column offset.")
        for mult in (ws, 2 * ws, 2 * ws - 2, ws - 1):
            if mult != 2 * ws - 1 and torch.equal(got, _index_variant(ws, mult=mult)):
                raise ExerciseError(
                    f"Exercise 4.2 (ws = {ws}): the shifted row offset must be multiplied by 2·ws − 1 = {2 * ws - 1} "
                    f"(the number of possible column offsets), you multiplied by {mult}"
                    + (": different offsets now share a row of the bias table." if mult < 2 * ws - 1 else
                       ": the indices overflow the (2ws − 1)² rows of the table."))
        compare("4.2", got.double(), want.double(), f"the index table for ws = {ws}", atol=0.5,
                hint="entry [i, j] = (r1 − r2 + ws − 1)·(2ws − 1) + (c1 − c2 + ws − 1), with token i = "
                     "(r1, c1) = (i // ws, i % ws) in row-major order.")
    passed("4.2", f"ws = {sizes}: every pair of tokens points at the bias-table row of its offset")


@reference("4.2")
def _index_reference(ws):
    return relative_position_index(ws)


@planted("4.2", "forgot the + (ws - 1) shift", expect="negative entries")
def _index_no_offset(ws):
    return _index_variant(ws, offset=False)


@planted("4.2", "offsets key minus query", expect="transpose")
def _index_transposed(ws):
    return _index_variant(ws, sign=-1)


@planted("4.2", "dy and dx swapped", expect="swapped")
def _index_swapped(ws):
    return _index_variant(ws, swap=True)


@planted("4.2", "multiplied by ws", expect="multiplied by")
def _index_wrong_multiplier(ws):
    return _index_variant(ws, mult=ws)


@planted("4.2", "float table", expect="integer tensor")
def _index_float(ws):
    return relative_position_index(ws).double()


# --------------------------------------------------------------------------------------------------------
# 4.3 prediction: the PSNR of x̂0 along the reverse chain
# --------------------------------------------------------------------------------------------------------

#: A difference of PSNR smaller than this (dB) counts as "the same".
CHAIN_TIE_DB = 0.1

_CHAIN_WHY = {
    "a": "a rise means the chain's output is closer to the truth than the first estimate. The first estimate "
         "x̂0(x_T), from a network trained with a pixel loss, is close to the conditional mean E[x0 | y], the estimate "
         "with the least squared error; a chain that ends closer still would mean that first step is far from that "
         "mean (a network that has not learnt its first step).",
    "b": "the first estimate x̂0(x_T) is close to the conditional mean E[x0 | y], the estimate with the least "
         "squared error (MMSE); each later step commits to more detail drawn from the noise, and the chain ends "
         "near one sample of the posterior, whose squared error is up to twice the MMSE (Blau & Michaeli, CVPR "
         "2018): up to 3 dB less PSNR, by design. What the chain should buy instead is a lower perceptual distance.",
    "c": "equal PSNR means the steps after the first add nothing the first estimate lacks: the chain stays at its "
         "first estimate (it can, with a short schedule whose last step still has much noise to undo).",
}


def _chain_verdict(run) -> tuple[str, str]:
    """The letter the measurement gives, and the numbers, from a :class:`~seeclear_lite.kit.trained_views.ChainRun`."""
    gap = run.psnr[0] - run.psnr[-1]
    letter = "b" if gap > CHAIN_TIE_DB else "a" if gap < -CHAIN_TIE_DB else "c"
    n, _, h, w = run.gt.shape
    evidence = (f"{run.label} on {n} frames ({h}×{w} crop) of the held-out clip: x̂0(x_T) scores {run.psnr[0]:.2f} dB, "
                f"the output of its {len(run.steps)}-step chain {run.psnr[-1]:.2f} dB (first minus chain: {gap:+.2f} dB; "
                f"within ±{CHAIN_TIE_DB} dB counts as equal); bicubic {run.psnr_bicubic:.2f} dB")
    return letter, evidence


@exercise("4.3", "predict the PSNR of x̂0 along the chain", notebook=NB, minutes=5)
def check_chain_prediction(fn):
    """Checks a prediction ``fn() -> "a" | "b" | "c"``: which output of the shipped Pixel Condenser has the higher
    PSNR, (a) the chain's output, (b) the first estimate x̂0(x_T), (c) neither (within CHAIN_TIE_DB dB)? The
    verdict comes from running the chain (``measure_first_vs_chain``, cached), never from a stored answer."""
    call("4.3", fn)                          # a stub fails here, before the measurement
    letter, evidence = _chain_verdict(measure_first_vs_chain())
    check_choice("4.3", fn, letter, _CHAIN_WHY, evidence)


@reference("4.3")
def _chain_reference():
    return _chain_verdict(measure_first_vs_chain())[0]


@planted("4.3", "a choice the measurement rules out", expect="the measurement says")
def _chain_wrong_letter():
    measured = _chain_verdict(measure_first_vs_chain())[0]
    return next(c for c in "abc" if c != measured)


@planted("4.3", "not one of the letters", expect="return one of")
def _chain_not_a_letter():
    return "rises"
