"""The three training stages of Sec. 4.1 on the full model (InCAM + CaTeGory) at micro size (issue 8):
each stage changes exactly the parameters it names; with two clips per sample the memory update M trains too."""

import json

import torch

from training_helpers import micro_config

from seeclear_lite.training import Trainer

FULL = ["model.incam=true", "model.category=true", "model.incam_sizes.seg_channels=12", "data.clip_length=3",
        "data.clips_per_sample=2", "stages=[{name: condenser, steps: 1, train: condenser}, "
        "{name: memory, steps: 1, train: memory}, {name: joint, steps: 1, train: all}]"]


def _snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def _changed(before, model):
    return {n for n, p in model.named_parameters() if not torch.equal(before[n], p.detach())}


def test_stages_train_their_parameter_groups(tmp_path):
    tr = Trainer(micro_config(*FULL), tmp_path, device=torch.device("cpu"), log=lambda *a: None)
    assert tr.model.incam is not None and tr.model.memory is not None
    names = {id(p): n for n, p in tr.model.named_parameters()}
    mem_names = {names[id(p)] for p in tr.model.trainable("memory")}
    rest_names = {names[id(p)] for p in tr.model.trainable("condenser")}
    construction = {names[id(p)] for p in tr.model.memory.parameter_groups()["construction"]}
    assert mem_names and rest_names and construction <= mem_names and not mem_names & rest_names

    changed, trained = [], []
    for stop in (1, 2, 3):
        before = _snapshot(tr.model)
        tr.fit(stop_at=stop)
        changed.append(_changed(before, tr.model))
        trained.append({n for n, p in tr.model.named_parameters() if p.requires_grad})
    condenser_stage, memory_stage, joint_stage = changed
    assert condenser_stage and condenser_stage <= rest_names                 # stage 1: condenser only
    assert memory_stage and memory_stage <= mem_names                        # stage 2: CaTeGory only ...
    assert memory_stage & construction                                       # ... including M (Eqs. 16-18)
    assert joint_stage & mem_names and joint_stage & rest_names              # stage 3: everything
    # the engine freezes what a stage does not train (model.trainable(stage.train))
    assert trained == [rest_names, mem_names, rest_names | mem_names]


def test_the_three_stages_run_under_bf16_autocast(tmp_path):
    """The CUDA path trains under bf16 autocast. CPU autocast runs the same dtype logic, so a float32/bfloat16
    mismatch in the full model (InCAM, CaTeGory with its memory carried across clips, the sampler used by
    validation) shows up here, before a GPU session is spent on it."""
    from seeclear_lite.training import train

    cfg = micro_config(*FULL, "runtime.amp=bf16", "val.every=3")
    summary = train(cfg, tmp_path, device=torch.device("cpu"), log=lambda *a: None)
    tr = Trainer(cfg, tmp_path / "probe", device=torch.device("cpu"), log=lambda *a: None)
    assert tr.amp   # the switch really is on for this run
    assert summary["step"] == 3 and summary["best"]["value"] is not None
    rows = json.loads((tmp_path / "history.json").read_text())["rows"]
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in rows)
