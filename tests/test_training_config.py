"""The one configuration: presets, command-line / file overrides, clear one-line errors."""

import json

import pytest

from seeclear_lite.config import (PRESETS, ConfigError, TrainConfig, apply_overrides, get_config, load_config_file,
                                  parse_override, preset_names)


def test_presets_resolve_and_round_trip():
    for name in preset_names():
        cfg = get_config(name)
        assert cfg.preset == name
        assert TrainConfig.from_dict(cfg.to_dict()) == cfg
        json.dumps(cfg.to_dict())  # plain JSON types only (stored in checkpoints)
    paper = get_config("paper")
    assert [s.train for s in paper.stages] == ["condenser", "memory", "all"]  # Sec. 4.1
    assert paper.optim.betas == (0.5, 0.999)
    assert not get_config("tiny").model.needs_semantics and get_config("tiny_full").model.category


def test_one_table_holds_every_size():
    """Condenser, InCAM and CaTeGory sizes of a preset come from PRESETS alone: no other table names presets."""
    base, tiny = get_config("base").model, get_config("tiny_full").model
    assert (base.channels, base.incam_sizes.token_dim, base.memory_sizes.groups) == (32, 64, 8)
    assert (tiny.channels, tiny.incam_sizes.token_dim, tiny.memory_sizes.groups) == (10, 32, 4)
    import seeclear_lite.memory.category as category
    import seeclear_lite.models.seeclear as seeclear

    for module in (category, seeclear):
        assert not any(isinstance(v, dict) and {"tiny", "base"} <= set(v) for v in vars(module).values())
    assert set(PRESETS) == {"tiny", "tiny_full", "small", "small_v2", "lab", "base", "paper"}


def test_command_line_overrides_with_types():
    cfg = get_config("tiny", ["optim.lr=1e-4", "data.batch_size=8", "stages.0.steps=7", "model.channels=8",
                              "model.head_dim=8", "data.gt_patch=null", "optim.betas=[0.9, 0.99]",
                              "runtime.compile=true", "optim.grad_clip=null", "diffusion.T=4",
                              "model.incam_sizes.token_dim=16"])
    assert cfg.optim.lr == 1e-4 and isinstance(cfg.optim.lr, float)   # YAML reads "1e-4" as a string
    assert cfg.data.batch_size == 8 and cfg.stages[0].steps == 7 and cfg.data.gt_patch is None
    assert cfg.optim.betas == (0.9, 0.99) and cfg.runtime.compile is True and cfg.optim.grad_clip is None
    assert cfg.model.channels == 8 and cfg.diffusion.T == 4 and cfg.model.incam_sizes.token_dim == 16
    assert parse_override("val.clips=[a, b]") == ("val.clips", ["a", "b"])


def test_file_overrides_yaml_and_json(tmp_path):
    y = tmp_path / "run.yaml"
    y.write_text("optim:\n  lr: 3.0e-4\nmodel:\n  channels: 12\n  head_dim: 12\nstages:\n"
                 "  - {name: a, steps: 5, train: condenser}\n  - {name: b, steps: 2, train: all, lr: 1.0e-5}\n")
    j = tmp_path / "run.json"
    j.write_text(json.dumps({"data.batch_size": 2, "seed": 7}))
    cfg = get_config("tiny", ["optim.lr=5e-4"], config_file=y)   # the command line wins over the file
    assert cfg.optim.lr == 5e-4 and cfg.model.channels == 12 and cfg.total_steps == 7
    assert cfg.stage_at(4) == (0, 0) and cfg.stage_at(5) == (1, 5)
    cfg2 = apply_overrides(cfg, load_config_file(j))
    assert cfg2.data.batch_size == 2 and cfg2.seed == 7


@pytest.mark.parametrize("override, match", [
    ("optim.lrr=1", r"Unknown key 'optim.lrr'.*Did you mean: 'lr'"),
    ("data.batch_size=four", r"data.batch_size: Value 'four'.*could not be converted to Integer"),
    ("model.chanels=3", r"Unknown key 'model.chanels'.*Did you mean.*'channels'"),
    ("stages.3.steps=1", r"stages is a list of 1 item"),
    ("runtime.amp=fp16", r"runtime.amp must be one of"),
    ("lr", r"not of the form key=value"),
    ("data.gt_patch=30", r"data.gt_patch must be a positive multiple of 4"),
    ("stages.0.train=decoder", r"stages.0.train must be one of"),
    ("data.augment=maybe", r"data.augment: Value .maybe. is not a valid bool"),
    ("diffusion.form=ddim", r"diffusion.form must be one of"),
    ("stages.0.train=memory", r"trains 'memory' but model.category is false"),
    ("model.channel_mult=[0]", r"model.channel_mult must be"),
    ("seed=-1", r"seed must be >= 0"),
    ("runtime.cpu_threads=0", r"runtime.cpu_threads must be >= 1"),
    ("optim.lr=.inf", r"optim.lr must be a finite number > 0"),
    ("diffusion.T=0", r"diffusion.T must be >= 1"),
    ("optim.sampler_loss=-1", r"optim.sampler_loss must be a finite number >= 0"),
    ("optim.perceptual_t=sampler", r"optim.perceptual_t=sampler puts LPIPS on the sampler loss only"),
])
def test_bad_overrides_name_the_key(override, match):
    with pytest.raises(ConfigError, match=match) as err:
        get_config("tiny", [override])
    assert "\n" not in str(err.value)                                   # one line


def test_bad_preset_and_file(tmp_path):
    with pytest.raises(ConfigError, match="Unknown configuration 'huge'"):
        get_config("huge")
    with pytest.raises(FileNotFoundError, match="Config file not found"):
        load_config_file(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config_file(bad)
    with pytest.raises(ConfigError, match=r"Unknown key.*lrr"):
        TrainConfig.from_dict({**get_config("tiny").to_dict(), "optim": {"lrr": 1}})
