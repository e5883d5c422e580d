"""What every notebook calls right after its ``parameters`` cell.

``ctx = start(PROFILE, SEED, RESULTS_DIR)`` resolves the profile, picks the device (through the one
device helper), seeds every RNG, prints the kit version, torch version and device, and returns a
:class:`NotebookContext` whose ``savefig`` and ``record`` write figures (PNG) and a JSON summary into
the results folder that ``python -m seeclear_lite run`` collects.
"""

from __future__ import annotations

import json
import os
import platform
import random
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..utils.device import get_device, resolve_profile
from ..utils.io import atomic_write_png, atomic_write_text


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) RNGs."""
    if not isinstance(seed, int):
        raise TypeError(f"SEED must be an int, got {type(seed).__name__} ({seed!r}).")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass
class NotebookContext:
    """Profile, device and output folder of one notebook run."""

    profile: str
    device: torch.device
    seed: int
    results_dir: Path
    name: str = "notebook"
    summary: dict = field(default_factory=dict)

    @property
    def smoke(self) -> bool:
        return self.profile == "smoke"

    def pick(self, smoke, cpu, cuda):
        """Return the value for the current profile: ``ctx.pick(smoke=2, cpu=200, cuda=20_000)``."""
        return {"smoke": smoke, "cpu": cpu, "cuda": cuda}[self.profile]

    def savefig(self, fig, name: str, dpi: int = 110) -> Path:
        """Save a matplotlib figure as PNG under ``results_dir/figures`` (atomically) and return the path."""
        return atomic_write_png(self.results_dir / "figures" / f"{self.name}_{name}.png", fig, dpi)

    def slider(self, draw, lo: int, hi: int, value: int | None = None, description: str = "t"):
        """An integer slider with its figure: ``draw(value)`` renders into an output area under it (see
        :meth:`explore`, which this is one control of). Returns the slider."""
        import ipywidgets as widgets

        slider = widgets.IntSlider(min=lo, max=hi, value=hi if value is None else value, description=description,
                                   continuous_update=False)
        self.explore(lambda **kw: draw(kw["value"]), value=slider)
        return slider

    def explore(self, draw, **controls):
        """Widgets with one figure: ``draw(**values)`` renders into an output area under the controls, at once
        when a person runs the notebook in Jupyter, and again whenever a control changes. Batch runs (papermill,
        nbval, CI: no Jupyter server session) draw nothing through the widget (nbclient can hang on output
        captured by widgets), so their executed copies keep the static figures above the widget.

        Each control is an ipywidgets widget, or a shorthand: ``(lo, hi)`` or ``(lo, hi, value)`` of ints -> an
        integer slider; the same with a float -> a float slider in 100 steps; a list -> a dropdown (first item
        selected). Returns the dict of widgets, keyed like ``controls``."""
        import ipywidgets as widgets
        from IPython.display import display

        built = {name: _control(name, spec) for name, spec in controls.items()}
        out = widgets.Output()

        def redraw(_change=None, first=False):
            # The figure is set as the output widget's state, not captured with ``with out:``: capture depends on
            # the browser having created the widget before the kernel's display message arrives (a race a busy
            # machine loses, leaving the figure in the cell's own output), state sync does not.
            out.outputs = render(lambda: draw(**{name: w.value for name, w in built.items()}), reraise=first)

        for w in built.values():
            w.observe(redraw, names="value")
        display(widgets.VBox([widgets.HBox(list(built.values())), out]))
        if interactive():
            redraw(first=True)
        return built

    def record(self, **values) -> None:
        """Add JSON-serialisable values to this notebook's summary (``results_dir/summary_<name>.json``)."""
        self.summary.update(values)
        atomic_write_text(self.results_dir / f"summary_{self.name}.json",
                          json.dumps(self.summary, indent=2, sort_keys=True, default=_jsonable))


def render(draw, reraise: bool = False) -> tuple[dict, ...]:
    """Run ``draw()`` and return what it showed as notebook outputs (text, and every matplotlib figure it showed or
    left open, as PNG), ready for ``ipywidgets.Output.outputs``. An error becomes its traceback in the outputs (a
    widget callback has nowhere else to show it), or is raised again when ``reraise``."""
    from IPython.display import display
    from IPython.utils.capture import capture_output

    plt = sys.modules.get("matplotlib.pyplot")
    before = set(plt.get_fignums()) if plt else set()
    error = None
    with capture_output() as captured:
        try:
            draw()
            plt = sys.modules.get("matplotlib.pyplot")
            for num in (sorted(set(plt.get_fignums()) - before) if plt else []):
                display(plt.figure(num))
                plt.close(num)
        except Exception as exc:  # noqa: BLE001 - shown to the reader below, or raised again
            if reraise:
                raise
            error = "".join(traceback.format_exception(exc))
    outputs = [{"output_type": "stream", "name": name, "text": text}
               for name, text in (("stdout", captured.stdout), ("stderr", captured.stderr)) if text]
    outputs += [{"output_type": "display_data", "data": o.data, "metadata": o.metadata or {}}
                for o in captured.outputs]
    if error:
        outputs.append({"output_type": "stream", "name": "stderr", "text": error})
    return tuple(outputs)


def interactive() -> bool:
    """True in a kernel that a Jupyter server started for a person (JupyterLab sets ``JPY_SESSION_NAME``; papermill
    and nbval do not); ``SEECLEAR_BATCH=1`` forces batch behaviour."""
    return "JPY_SESSION_NAME" in os.environ and not os.environ.get("SEECLEAR_BATCH")


def _control(name: str, spec):
    """An ipywidgets control from a widget or a shorthand (see :meth:`NotebookContext.explore`)."""
    import ipywidgets as widgets

    if isinstance(spec, widgets.Widget):
        return spec
    if isinstance(spec, list):
        if not spec:
            raise ValueError(f"control {name!r}: a dropdown needs at least one option.")
        return widgets.Dropdown(options=spec, value=spec[0], description=name)
    if isinstance(spec, tuple) and len(spec) in (2, 3) and all(isinstance(v, (int, float)) for v in spec):
        lo, hi = spec[0], spec[1]
        value = spec[2] if len(spec) == 3 else lo
        if not lo <= value <= hi:
            raise ValueError(f"control {name!r}: value {value} is outside [{lo}, {hi}].")
        if all(isinstance(v, int) and not isinstance(v, bool) for v in spec):
            return widgets.IntSlider(min=lo, max=hi, value=value, description=name, continuous_update=False)
        return widgets.FloatSlider(min=lo, max=hi, value=value, step=(hi - lo) / 100, description=name,
                                   continuous_update=False, readout_format=".3g")
    raise ValueError(f"control {name!r}: give an ipywidgets widget, (lo, hi[, value]) for a slider or a list of "
                     f"options for a dropdown; got {spec!r}.")


def _jsonable(x):
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, torch.Tensor):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON-serialisable: {type(x).__name__}")


def start(profile: str | None = None, seed: int = 0, results_dir: str | os.PathLike | None = None,
          name: str | None = None, device: str | None = None) -> NotebookContext:
    """Resolve ``profile`` (None = auto), choose the device, seed everything, print the environment line.
    The parameters are checked first (papermill passes whatever ``-p`` says), with the same rules as ``train``."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"SEED must be an integer >= 0 (it seeds NumPy's SeedSequence, as `train` does), got {seed!r}.")
    if results_dir is not None and not isinstance(results_dir, (str, os.PathLike)):
        raise ValueError(f"RESULTS_DIR must be a folder path (a string) or None, got {results_dir!r} "
                         f"({type(results_dir).__name__}).")
    profile = resolve_profile(profile)
    dev = get_device(profile, device)
    seed_everything(seed)
    if profile == "smoke" and dev.type == "cpu":
        # smoke tensors are tiny: one intra-op thread is as fast, and two threads crawl (50x measured) when the
        # CPU is shared, e.g. a Jupyter kernel beside a training run on a 2-core machine
        torch.set_num_threads(1)
    if results_dir is None:
        default = Path(__file__).resolve().parents[2] / "results"  # the repo's results/, whatever the cwd
        results_dir = Path(os.environ.get("SEECLEAR_RESULTS", default)) / "interactive"
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    try:  # matplotlib figures as PNG inline (stable under nbval, small in executed notebooks)
        from IPython import get_ipython

        ip = get_ipython()
        if ip is not None:
            from matplotlib_inline.backend_inline import set_matplotlib_formats

            set_matplotlib_formats("png")
    except Exception:  # outside IPython: nothing to configure
        pass
    gpu = f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else ""
    threads = f" ({torch.get_num_threads()} thread{'s' if torch.get_num_threads() > 1 else ''})" if dev.type == "cpu" else ""
    print(f"seeclear_lite {__version__} | torch {torch.__version__} | python {platform.python_version()} "
          f"| profile {profile} | device {dev}{threads}{gpu}")
    return NotebookContext(profile=profile, device=dev, seed=seed, results_dir=results_dir,
                           name=name or "notebook")
