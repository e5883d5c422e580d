"""The whole SeeClear model (Sec. 3, Algorithm 1): the Pixel Condenser with the Semantic Distiller, InCAM and
CaTeGory in one module. With every Table 2 switch off it is the baseline; InCAM and CaTeGory are in the forward
path; the per-clip work is done once per clip; nothing is written into the arguments; the training stages'
parameter groups partition the model; and there is no plugin registry."""

import copy
import dataclasses
import importlib.util
import json
import os
import subprocess
import sys

import pytest
import torch

import seeclear_lite.models as models
from seeclear_lite.config import get_model_config
from seeclear_lite.memory import MemoryState
from seeclear_lite.models import Condition, SeeClear, build_model

#: tiny_full (InCAM + CaTeGory) at micro size: 2 levels, 1 middle block, frames pad to 16
MICRO = dict(channels=8, head_dim=8, lr_channels=8, channel_mult=(1, 2), middle_blocks=1)
SWITCHES_OFF = dict(semantic_condition=False, mfsa=False, incam=False, category=False)


def _switches_off():
    """tiny_full's network with every Table 2 switch off. (Through the ModelConfig: get_model_config("tiny_full",
    category=False) is refused because the preset's training stages include a 'memory' stage.)"""
    return build_model(dataclasses.replace(get_model_config("tiny_full", **MICRO), **SWITCHES_OFF))


def _perturb(module, seed, std=0.05):
    """Add noise to every parameter of ``module`` (a trained-looking state, so nothing is trivially zero)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=g) * std)
    return module


def _full(seed=0):
    torch.manual_seed(seed)
    model = build_model("tiny_full", **MICRO).eval()
    _perturb(model.condenser.conv_out, seed + 1)   # the zero-initialised head: x0_hat != y
    return model


def _clip(seed=0, b=1, n=3, size=16):
    g = torch.Generator().manual_seed(seed)
    gt = torch.rand(b, n, 3, size, size, generator=g)
    lr = torch.nn.functional.avg_pool2d(gt.flatten(0, 1), 4).reshape(b, n, 3, size // 4, size // 4)
    y = torch.nn.functional.interpolate(lr.flatten(0, 1) * 2 - 1, scale_factor=4, mode="bilinear",
                                        align_corners=False).reshape(gt.shape)
    x = torch.randn(gt.shape, generator=g)
    return lr, y, x


@pytest.fixture(scope="module")
def full():
    return _full()


def test_presets_build_the_parts_their_switches_name():
    base = build_model("tiny", **MICRO)
    assert base.incam is None and base.memory is None and base.distiller is None
    full = build_model("tiny_full", **MICRO)
    assert full.incam is not None and full.memory is not None and full.distiller is not None
    assert full.incam.clip_tokens is not None and len(full.incam.middle) == 1 and len(full.incam.decoder) == 2
    counts = full.parameter_counts()
    assert counts["condenser"] == base.parameter_counts()["condenser"] and counts["incam"] > 0 \
        and counts["category"] > 0
    assert base.parameter_counts() == {"condenser": counts["condenser"], "incam": 0, "category": 0}
    off = _switches_off()
    assert off.incam is None and off.memory is None and off.distiller is None
    assert off.parameter_counts() == base.parameter_counts()


def test_init_predicts_y_exactly_for_the_full_model():
    torch.manual_seed(0)
    model = build_model("tiny_full", **MICRO)
    lr, y, x = _clip(1)
    cond = model.condition(lr, y)
    assert torch.equal(model(x, y, torch.tensor([3]), cond), y)   # zero output conv: x0_hat == y


def test_with_every_switch_off_seeclear_is_the_pixel_condenser_baseline(full):
    """(a) all switches off gives the baseline's network and output; (b) the full model whose InCAM and
    CaTeGory are exact identities (zeroed residual branches, LayerScale gamma = 0) gives the baseline's output
    with the same condenser weights."""
    lr, y, x = _clip(2)
    t = torch.tensor([5])
    baseline = build_model("tiny", **MICRO).eval()
    baseline.condenser.load_state_dict(full.condenser.state_dict())
    assert all(k.startswith("condenser.") for k in baseline.state_dict())   # the baseline is the condenser alone
    with torch.no_grad():
        ref = baseline(x, y, t)
    assert (ref - y).abs().max() > 1e-4   # not trivially y

    off = _switches_off().eval()
    off.condenser.load_state_dict(full.condenser.state_dict())
    with torch.no_grad():
        assert torch.equal(off(x, y, t), ref)
        assert torch.equal(off(x, y, t, off.condition(None, y)), ref)

    ident = copy.deepcopy(full)
    _perturb(ident.incam, 3)
    _perturb(ident.memory, 4)
    with torch.no_grad():
        assert (ident(x, y, t, ident.condition(lr, y)) - ref).abs().max() > 1e-5   # not yet the identity
        blocks = [*ident.incam.middle, *ident.incam.decoder]
        for blk in blocks:
            assert blk.modulation is not None and blk.cross_attention is not None and blk.mfsa is not None
            for layer in (blk.modulation.conv2, blk.cross_attention.attn.out, blk.mfsa.attn.out, blk.mfsa.sem_mod):
                layer.weight.zero_()
                layer.bias.zero_()
        for q in ident.memory.level_queries:
            q.gamma.zero_()
        out = ident(x, y, t, ident.condition(lr, y))
    assert torch.equal(out, ref)


def test_incam_and_category_are_in_the_forward_path(full):
    lr, y, x = _clip(3)
    t = torch.tensor([6])
    with torch.no_grad():
        ref = full(x, y, t, full.condition(lr, y))
    parts = ["incam.middle", "incam.decoder", "incam.clip_tokens", "memory.level_queries", "memory.token_proj"]
    for seed, name in enumerate(parts):
        m = copy.deepcopy(full)
        _perturb(m.get_submodule(name), 10 + seed, std=0.2)
        with torch.no_grad():
            out = m(x, y, t, m.condition(lr, y))
        assert (out - ref).abs().max() > 1e-5, name
    m = copy.deepcopy(full)
    with torch.no_grad():
        m.memory.T.mul_(3.0)   # the learned textures T̄ are read (Eq. 19) when no memory state is given
        out = m(x, y, t, m.condition(lr, y))
    assert (out - ref).abs().max() > 1e-6


def test_a_model_with_semantics_needs_its_condition(full):
    lr, y, x = _clip(4)
    with pytest.raises(ValueError, match="pass cond = model.condition"):
        full(x, y, torch.tensor([2]))
    with pytest.raises(ValueError, match="needs the LR clip"):
        full.condition(None, y)
    with pytest.raises(ValueError, match="needs the LR clip"):
        full.condition(lr[:, :2], y)


def test_condition_runs_the_per_clip_work_once_per_clip(full, monkeypatch):
    lr, y, x = _clip(5)
    calls = {"clip_tokens": 0, "distiller": 0, "read": 0}

    def counted(name, fn):
        def wrapper(*a, **k):
            calls[name] += 1
            return fn(*a, **k)
        return wrapper

    monkeypatch.setattr(full.incam.clip_tokens, "forward", counted("clip_tokens", full.incam.clip_tokens.forward))
    monkeypatch.setattr(full.distiller, "forward", counted("distiller", full.distiller.forward))
    monkeypatch.setattr(full.memory, "read", counted("read", full.memory.read))
    with torch.no_grad():
        cond = full.condition(lr, y)
        assert calls == {"clip_tokens": 1, "distiller": 1, "read": 1}
        outs = [full(x, y, torch.tensor([t]), cond, return_features=(t == 1)) for t in (4, 3, 2, 1)]
        assert calls == {"clip_tokens": 1, "distiller": 1, "read": 1}   # T steps, one condition
        full.update_memory(None, outs[-1][1], cond)
        assert calls["clip_tokens"] == 1 and calls["distiller"] == 1
        # O and P computed elsewhere replace the distiller call
        distilled = (cond.tokens, cond.seg)
        cond2 = full.condition(None, y, distilled=distilled)
        assert calls == {"clip_tokens": 2, "distiller": 1, "read": 2}
        assert torch.equal(cond2.clip_tokens, cond.clip_tokens) and torch.equal(cond2.memory_read, cond.memory_read)
    assert isinstance(cond, Condition) and cond.n_frames == 3 and cond.size == (16, 16)
    assert cond.clip_tokens.shape == (1, full.config.incam_sizes.tokens_k, full.config.incam_sizes.token_dim)


def _tensors(cond):
    return {"y": cond.y, "y_bands": cond.y_bands, "tokens": cond.tokens, "seg": cond.seg,
            "clip_tokens": cond.clip_tokens, "memory_read": cond.memory_read,
            **{f"pyramid{i}": p for i, p in enumerate(cond.pyramid)}}


def test_results_are_returned_never_written_into_arguments(full):
    lr, y, x = _clip(6, b=2)
    lr0, y0, x0 = lr.clone(), y.clone(), x.clone()
    memory = full.memory.initial_state(2)
    C0, T0 = memory.C.clone(), memory.T.clone()
    with torch.no_grad():
        cond = full.condition(lr, y, memory)
        before = {k: v.clone() for k, v in _tensors(cond).items()}
        n_pyramid = len(cond.pyramid)
        x0_hat, feats = full(x, y, torch.tensor([3, 1]), cond, return_features=True)
        full(x, y, torch.tensor([2, 2]), cond)
        assert len(cond.pyramid) == n_pyramid and cond.memory is memory
        after = _tensors(cond)
        assert set(after) == set(before) and all(torch.equal(after[k], before[k]) for k in before)
        assert torch.equal(lr, lr0) and torch.equal(y, y0) and torch.equal(x, x0)
        # the decoder features, deepest first, one per level
        assert [f.shape[1] for f in feats] == list(full.condenser.decoder_widths)
        new = full.update_memory(memory, feats, cond)
    assert isinstance(new, MemoryState) and new is not memory
    assert torch.equal(memory.C, C0) and torch.equal(memory.T, T0) and memory.clips_seen == 0
    assert new.clips_seen == 1 and not torch.equal(new.T, T0) and not new.requires_grad
    # the next clip reads the new memory: its condition differs, the old one is untouched
    with torch.no_grad():
        cond_next = full.condition(lr, y, new)
    assert not torch.equal(cond_next.memory_read, cond.memory_read)
    assert torch.equal(cond.memory_read, before["memory_read"])
    # detach=False keeps the graph (training M across clips)
    kept = full.update_memory(None, [f.requires_grad_() for f in feats], cond, detach=False)
    assert kept.requires_grad
    assert build_model("tiny", **MICRO).update_memory(None, feats, cond) is None   # no CaTeGory, no memory


def test_trainable_partitions_the_parameters(full):
    ids = lambda ps: [id(p) for p in ps]  # noqa: E731
    condenser, memory, all_ = (ids(full.trainable(part)) for part in ("condenser", "memory", "all"))
    assert len(set(condenser)) == len(condenser) and len(set(memory)) == len(memory) and len(set(all_)) == len(all_)
    assert condenser and memory and not set(condenser) & set(memory)
    assert set(condenser) | set(memory) == set(all_)
    assert set(memory) == set(ids(full.memory.parameters()))
    assert set(ids(full.incam.parameters())) <= set(condenser)   # stage 1 trains InCAM with the U-Net
    assert set(ids(full.condenser.parameters())) <= set(condenser)
    named = {id(p): n for n, p in full.named_parameters()}
    assert not any(named[i].startswith("distiller.") for i in all_)
    assert set(all_) == {id(p) for n, p in full.named_parameters() if not n.startswith("distiller.")}
    assert sum(p.numel() for p in full.trainable("all")) == sum(full.parameter_counts().values())
    baseline = build_model("tiny", **MICRO)
    assert set(ids(baseline.trainable("condenser"))) == set(ids(baseline.parameters())) \
        == set(ids(baseline.trainable("all")))
    with pytest.raises(ValueError, match="no CaTeGory"):
        baseline.trainable("memory")


def test_base_trainable_parameters_equal_the_info_cli():
    model = build_model("base")
    trainable = sum(p.numel() for p in model.trainable("all"))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", "seeclear_lite", "info", "--config", "base", "--json"],
                         capture_output=True, text=True, check=True, env=env).stdout
    report = json.loads(out)
    assert report["config"] == "base" and report["total"] == trainable == 7_674_501
    assert report["modules"] == model.parameter_counts()


def test_no_plugin_registry_remains():
    for name in ("register_plugin", "PLUGINS", "required_plugins", "IdentityHook", "Conditioning", "get_config",
                 "CONFIGS"):
        assert not hasattr(models, name), name
    for module in ("seeclear_lite.models.build", "seeclear_lite.models.conditioning", "seeclear_lite.models.config",
                   "seeclear_lite.memory.plugin"):
        assert importlib.util.find_spec(module) is None, module
    assert isinstance(build_model("tiny"), SeeClear)
