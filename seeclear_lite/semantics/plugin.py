"""Plug InCAM into the Pixel Condenser from a :class:`~seeclear_lite.models.config.ModelConfig`.

Importing :mod:`seeclear_lite.semantics` registers :func:`incam_plugin` as the condenser's ``"incam"``
plugin (``seeclear_lite.models.build``). The model switches map onto InCAM's components:

====================================  ===========  ======  ============
ModelConfig                           semantic     mfsa    clip_tokens
====================================  ===========  ======  ============
``semantic_condition=True``           on           –       –
``mfsa=True``                         –            on      –
``incam=True``                        on           on      on
====================================  ===========  ======  ============

(switches combine by "or": Table 2's "MFSA" row is ``semantic_condition=True, mfsa=True``). Sizes follow
the model: ``token_dim`` (d, also the clip-token width), ``tokens_k`` (k, also the K clip tokens),
``seg_channels`` (c of P), ``head_dim`` (heads per level), ``window`` (MFSA's spatial window; the temporal
window is 5 frames, the paper's clip), ``mlp_ratio`` (instance encoder-decoder). MFSA gets no MLP of its
own here: in Algorithm 1 its output goes straight into the condenser's block (B_j / D_k), which has one.
The instance encoder-decoder has 2 + 2 layers (VITA uses 6 + 3; fewer keeps InCAM inside the parameter
budgets of ``seeclear_lite.models.config``). The distiller must produce tokens [.., k, d] and P
with ``seg_channels`` channels: :func:`distiller_for` builds the default one and checks that.
"""

from __future__ import annotations

from .incam import InCAMConfig, make_clip_token_builder, make_decoder_hook, make_middle_hook
from .kmeans_distiller import N_PIXEL_DESCRIPTORS, KMeansDistiller


def incam_config_for(model_cfg, **overrides) -> InCAMConfig:
    """The :class:`InCAMConfig` that a ModelConfig's switches and sizes ask for."""
    d = model_cfg.token_dim
    base = dict(
        semantic=bool(model_cfg.semantic_condition or model_cfg.incam),
        mfsa=bool(model_cfg.mfsa or model_cfg.incam),
        clip_tokens=bool(model_cfg.incam),
        token_dim=d, seg_channels=model_cfg.seg_channels, clip_dim=d, n_clip_tokens=model_cfg.tokens_k,
        head_dim=model_cfg.head_dim, token_heads=max(1, d // 32),
        enc_layers=2, dec_layers=2, mod_hidden=d, window=(5, model_cfg.window, model_cfg.window),
        mlp_ratio=model_cfg.mlp_ratio, mfsa_mlp_ratio=0.0,
    )
    return InCAMConfig(**{**base, **overrides})


def incam_plugin(model_cfg) -> dict:
    """``build_model``'s plugin: hook factories ``(index, channels) -> InCAMHook`` and the clip-token builder."""
    cfg = incam_config_for(model_cfg)
    return {"middle_hook_factory": lambda index, channels: make_middle_hook(channels, cfg),
            "decoder_hook_factory": lambda index, channels: make_decoder_hook(channels, cfg),
            "clip_token_builder": make_clip_token_builder(cfg)}


def distiller_for(model_cfg, **kwargs) -> KMeansDistiller:
    """The default offline distiller sized for a ModelConfig (k = tokens_k, d = token_dim).

    Its P has k + 4 channels, so the config must have ``seg_channels == tokens_k + 4``."""
    k, c = model_cfg.tokens_k, model_cfg.seg_channels
    if c != k + N_PIXEL_DESCRIPTORS:
        raise ValueError(f"config {model_cfg.name!r} has seg_channels={c}, but the k-means distiller with "
                         f"tokens_k={k} gives P with k + {N_PIXEL_DESCRIPTORS} = {k + N_PIXEL_DESCRIPTORS} channels: "
                         f"set seg_channels={k + N_PIXEL_DESCRIPTORS} (or plug in a distiller with c={c}).")
    return KMeansDistiller(k=k, d=model_cfg.token_dim, n_segments=max(k + 4, int(1.5 * k)), **kwargs)
