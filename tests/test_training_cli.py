"""``python -m seeclear_lite train`` and ``sample`` end to end on the CPU at micro size (issue 8)."""

import json

import imageio.v3 as iio
import numpy as np
import torch

from training_helpers import MICRO

from seeclear_lite.__main__ import main
from seeclear_lite.data.io import list_frames, quantize, read_image, to_uint8, write_image
from seeclear_lite.data.samples import VALIDATION_CLIP, sample_clip_dir
from seeclear_lite.training import checkpoint_super_resolver


def _lr_input(folder, n=6, size=8):
    """The first n LR frames of the validation sample clip, cropped to size x size (HR 4x that)."""
    frames = [read_image(p)[:, :size, :size] for p in list_frames(sample_clip_dir(VALIDATION_CLIP, "BIx4"))[:n]]
    for i, f in enumerate(frames):
        write_image(folder / f"{i:08d}.png", f)
    return frames


def test_train_then_sample_end_to_end(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--config", "tiny", *MICRO, "stages.0.steps=2", "val.every=2", "runtime.log_every=1",
                 "--out", str(run)]) == 0
    ckpt = run / "checkpoints" / "step_00000002.pt"
    assert ckpt.is_file() and (run / "checkpoints" / "best.pt").is_file()
    assert (run / "checkpoints" / "step_00000002.config.yaml").is_file() and (run / "config.yaml").is_file()
    history = json.loads((run / "history.json").read_text())
    assert [r["step"] for r in history["rows"]] == [1, 2] and history["rows"][-1]["val_psnr"] > 5
    assert (run / "history.csv").read_text().splitlines()[0].startswith("step,stage,epoch,loss,lr")

    lr_dir = tmp_path / "lr"
    frames = _lr_input(lr_dir)
    out = tmp_path / "sr"
    args = ["sample", "--checkpoint", str(ckpt), "--input", str(lr_dir), "--output", str(out), "--no-progress"]
    assert main(args) == 0
    sr = list_frames(out / "SR")
    assert len(sr) == 6 and len(list_frames(out / "bicubic")) == 6       # 2 clips of m = 5, the last padded
    assert read_image(sr[0]).shape == (3, 32, 32)
    gif = iio.imread(out / "side_by_side.gif", index=None)
    assert gif.shape[0] == 6 and gif.shape[1:3] == (32, 64)               # bicubic | model
    record = json.loads((out / "sample.json").read_text())
    assert record["frames"] == 6 and record["clips"] == 2 and record["seconds_per_frame"] > 0
    # the model starts as x0_hat = y (bicubic) and trained 2 steps: its frames stay close to bicubic
    bic = torch.stack([read_image(p) for p in list_frames(out / "bicubic")])
    got = torch.stack([read_image(p) for p in sr])
    assert float((bic - got).abs().mean()) < 0.1
    # the Python entry point (evaluation harness, notebooks) gives the same frames as the command
    f = checkpoint_super_resolver(ckpt, device="cpu")
    same = f(torch.stack(frames))
    assert same.shape == (6, 3, 32, 32) and torch.equal(quantize(same), got)

    capsys.readouterr()
    assert main(args) == 2                                                # refuses to overwrite
    assert "pass --overwrite" in capsys.readouterr().err
    assert main(args + ["--overwrite", "--steps", "9"]) == 2
    assert "give 1..4 network calls per clip" in capsys.readouterr().err
    # a shorter chain (re-spaced) and the one-step estimate: what the Python entry point gives with those steps
    assert main(args + ["--overwrite", "--steps", "2", "--noise", "shared"]) == 0
    record = json.loads((out / "sample.json").read_text())
    assert record["steps"] == 2 and record["T"] == 4 and record["noise"] == "shared"
    two = torch.stack([read_image(p) for p in list_frames(out / "SR")])
    assert torch.equal(quantize(checkpoint_super_resolver(ckpt, device="cpu", steps=2, noise="shared")(
        torch.stack(frames))), two)
    assert main(args + ["--overwrite", "--max-psnr"]) == 0
    one = torch.stack([read_image(p) for p in list_frames(out / "SR")])
    assert json.loads((out / "sample.json").read_text())["steps"] == 1
    assert torch.equal(quantize(checkpoint_super_resolver(ckpt, device="cpu", steps=1)(torch.stack(frames))), one)

    # a video file as input (GIF), first 3 frames, paper-form posterior
    video = tmp_path / "lr.gif"
    iio.imwrite(video, np.stack([to_uint8(f).permute(1, 2, 0).numpy() for f in frames]), extension=".gif")
    assert main(["sample", "--checkpoint", str(ckpt), "--input", str(video), "--output", str(tmp_path / "v"),
                 "--max-frames", "3", "--form", "paper", "--no-progress"]) == 0
    assert len(list_frames(tmp_path / "v" / "SR")) == 3


def test_train_cli_errors_and_print_config(tmp_path, capsys):
    assert main(["train", "--config", "tiny", "optim.lrr=1", "--out", str(tmp_path)]) == 2
    assert "Unknown key 'optim.lrr'" in capsys.readouterr().err
    assert main(["train", "--config", "tiny", "stages.0.steps=3", "--print-config"]) == 0
    assert "steps: 3" in capsys.readouterr().out
    assert main(["train", "--config", "tiny", *MICRO, "--out", str(tmp_path), "--resume",
                 str(tmp_path / "none.pt")]) == 2
    assert "Checkpoint not found" in capsys.readouterr().err
