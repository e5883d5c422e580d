"""Shared settings of the training-engine tests: a micro model (72 k parameters, T = 4) on 16x16 HR crops of
the sample clips, so that a training step takes ~0.1-0.2 s on a 2-core CPU."""

from seeclear_lite.config import get_config

MICRO = ["model.channels=8", "model.head_dim=8", "model.lr_channels=8", "model.channel_mult=[1,2]",
         "model.middle_blocks=1", "diffusion.T=4", "data.gt_patch=16", "data.batch_size=2", "val.gt_patch=16",
         "val.lpips=false", "val.every=0", "runtime.progress=false", "optim.warmup_steps=1", "optim.lr=1e-3"]


def micro_config(*extra):
    return get_config("tiny", MICRO + list(extra))


def tiny_notebook(path, body="ctx.record(answer=42)"):
    """A one-cell notebook with a parameters cell, for the runner's tests."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    params = nbformat.v4.new_code_cell("PROFILE = None\nSEED = 0\nRESULTS_DIR = None")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(
        "from seeclear_lite.kit.notebook import start\nctx = start(PROFILE, SEED, RESULTS_DIR, name='01_tiny')\n" + body),
        nbformat.v4.new_markdown_cell("Next: nothing.")]
    nbformat.write(nb, str(path))
