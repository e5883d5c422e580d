"""``python -m seeclear_lite run``: execute the whole notebook sequence with papermill.

Each notebook ``notebooks/NN_*.ipynb`` runs in order at one profile (``smoke`` / ``cpu`` / ``cuda``;
``auto`` picks ``cuda`` when torch sees a GPU, else ``cpu``) into an output folder holding the executed
notebooks, their PNG figures and a results summary (``summary.md`` + ``summary.json``).

The parameters passed to the notebooks are :data:`RUN_PARAMETERS` (per profile) plus
:data:`NOTEBOOK_OVERRIDES` (per notebook and profile). papermill only *warns* on a parameter name the
notebook lacks, so :func:`check_parameters` rejects such names before anything runs (and a test runs
it on every notebook).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from ..utils.device import PROFILES, resolve_profile
from ..utils.io import atomic_write_text

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = REPO_ROOT / "notebooks"

#: Parameters every notebook receives, per profile (RESULTS_DIR is added at run time).
RUN_PARAMETERS: dict[str, dict] = {profile: {"PROFILE": profile} for profile in PROFILES}

#: Longest a single cell may run, per profile (a hung kernel becomes an error instead of a stuck run).
CELL_TIMEOUT_S = {"smoke": 300, "cpu": 1800, "cuda": 7200}

#: Extra parameters for one notebook at one profile: {"07_train": {"cpu": {"MAX_MINUTES": 5}}}.
NOTEBOOK_OVERRIDES: dict[str, dict[str, dict]] = {}


def list_notebooks(notebook_dir: Path = NOTEBOOK_DIR) -> list[Path]:
    """The numbered notebooks of the sequence, in order (``notebooks/NN_name.ipynb``)."""
    return sorted(p for p in Path(notebook_dir).glob("[0-9][0-9]_*.ipynb"))


def parameters_for(notebook: Path, profile: str, results_dir: Path | str) -> dict:
    """The parameters the runner passes to ``notebook`` at ``profile``."""
    params = dict(RUN_PARAMETERS[profile])
    params.update(NOTEBOOK_OVERRIDES.get(Path(notebook).stem, {}).get(profile, {}))
    params["RESULTS_DIR"] = str(results_dir)
    return params


def notebook_parameter_names(notebook: Path) -> set[str]:
    """Names assigned in the notebook's ``parameters`` cell, as papermill parses them."""
    import papermill

    return set(papermill.inspect_notebook(str(notebook)).keys())


def check_parameters(notebook: Path, params: dict) -> None:
    """Raise ``ValueError`` if ``params`` names a parameter the notebook does not have."""
    known = notebook_parameter_names(notebook)
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(
            f"{Path(notebook).name}: the runner passes parameter(s) {unknown} that its parameters cell "
            f"does not define (it has {sorted(known)}). papermill would only warn and inject them; fix "
            "RUN_PARAMETERS / NOTEBOOK_OVERRIDES in seeclear_lite/runner.py or the notebook."
        )


def parse_param(text: str) -> tuple[str, object]:
    """``"NAME=VALUE"`` -> ``(NAME, value)``, the value read as YAML (numbers, true/false, null, lists, strings)."""
    import yaml

    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not name.isidentifier():
        raise ValueError(f"--param {text!r} is not NAME=VALUE (e.g. -p FRAME=3 or -p 'OVERRIDES=[\"optim.lr=1e-4\"]').")
    if name in ("PROFILE", "RESULTS_DIR"):
        raise ValueError(f"--param {name}: set it with --profile / --out instead.")
    try:
        return name, yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        return name, raw


def add_extra_parameters(plan: list[tuple[Path, dict]], extra: dict) -> None:
    """Give each notebook of ``plan`` the ``extra`` parameters its parameters cell defines; a name that no
    notebook of the plan defines is an error (papermill would inject it silently)."""
    used = set()
    for nb, params in plan:
        known = notebook_parameter_names(nb)
        for name, value in extra.items():
            if name in known:
                params[name] = value
                used.add(name)
    unused = sorted(set(extra) - used)
    if unused:
        raise ValueError(f"No notebook of this run has the parameter(s) {unused}: see the parameters cell (the "
                         f"first code cell) of {', '.join(nb.name for nb, _ in plan)}.")


def run_sequence(profile: str = "auto", out: Path | str | None = None, only: list[str] | None = None,
                 notebook_dir: Path = NOTEBOOK_DIR, extra: dict | None = None) -> dict:
    """Execute the notebooks; return the summary dict (also written to ``out/summary.json``).

    ``extra``: parameters set in every notebook of the run whose parameters cell defines them. Running a
    subset into an existing results folder keeps the summary entries of the other notebooks."""
    import papermill

    profile = resolve_profile(None if profile == "auto" else profile)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    # absolute: the kernels run in the notebooks' folder, where a relative RESULTS_DIR would point elsewhere
    out = Path(out).resolve() if out is not None else REPO_ROOT / "results" / f"{profile}-{stamp}"
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {out} is a file; give a folder for the results.")
    every = list_notebooks(notebook_dir)
    notebooks = [nb for nb in every if any(nb.stem.startswith(o) for o in only)] if only else every
    if not notebooks:
        raise FileNotFoundError(f"No notebook matches --only {' '.join(only or [])} in {notebook_dir}: choose from "
                                f"{', '.join(nb.stem for nb in every)} (a prefix such as 07 is enough).")
    plan = [(nb, parameters_for(nb, profile, out)) for nb in notebooks]
    for nb, params in plan:  # fail before running (or creating) anything
        check_parameters(nb, params)
    if extra:
        add_extra_parameters(plan, extra)
    out.mkdir(parents=True, exist_ok=True)

    print(f"Running {len(plan)} notebooks at profile '{profile}' into {out}", flush=True)
    summary = {"profile": profile, "started": stamp, "results_dir": str(out),
               "notebooks": _earlier_entries(out, profile, {nb.name for nb, _ in plan})}
    ok = True
    for i, (nb, params) in enumerate(plan, 1):
        print(f"[{i}/{len(plan)}] {nb.name} ...", flush=True)
        t0 = time.perf_counter()
        entry = {"notebook": nb.name, "output": str(out / nb.name), "parameters": params}
        try:
            papermill.execute_notebook(str(nb), str(out / nb.name), parameters=params, kernel_name="python3",
                                       cwd=str(nb.parent), progress_bar=True, log_output=False,
                                       execution_timeout=CELL_TIMEOUT_S[profile])
            entry["status"] = "ok"
        except Exception as err:  # keep going? no: later notebooks build on earlier ones
            entry["status"] = "failed"
            entry["error"] = f"{type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ''}"
            ok = False
        entry["seconds"] = round(time.perf_counter() - t0, 1)
        result_file = out / f"summary_{nb.stem}.json"
        if result_file.exists():
            entry["results"] = json.loads(result_file.read_text())
        summary["notebooks"] = sorted([e for e in summary["notebooks"] if e["notebook"] != nb.name] + [entry],
                                      key=lambda e: e["notebook"])
        reason = f" ({entry['error']})" if "error" in entry else ""
        print(f"[{i}/{len(plan)}] {nb.name}: {entry['status']} in {entry['seconds']} s{reason}", flush=True)
        _write_summary(out, summary)
        if not ok:
            break
    summary["ok"] = ok   # this invocation's notebooks (earlier entries keep their own status)
    _write_summary(out, summary)
    print(f"\nResults: {out}\n  summary: {out / 'summary.md'}\n  figures: {out / 'figures'}", flush=True)
    return summary


def _earlier_entries(out: Path, profile: str, rerun: set[str]) -> list[dict]:
    """Summary entries of notebooks run earlier into ``out`` at the same profile and not re-run now."""
    try:
        old = json.loads((out / "summary.json").read_text())
    except (OSError, ValueError):
        return []
    if old.get("profile") != profile:
        return []
    return [e for e in old.get("notebooks", []) if e.get("notebook") not in rerun]


def _write_summary(out: Path, summary: dict) -> None:
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2, default=str))
    lines = [f"# SeeClear-lite results ({summary['profile']} profile, {summary['started']} UTC)", "",
             "| notebook | status | seconds | results |", "|---|---|---|---|"]
    for e in summary["notebooks"]:
        res = ", ".join(f"{k}={_fmt(v)}" for k, v in e.get("results", {}).items() if not isinstance(v, (dict, list)))
        lines.append(f"| {e['notebook']} | {e['status']} | {e['seconds']} | {res} |")
        if "error" in e:
            lines.append(f"|  | {e['error']} | | |")
    atomic_write_text(out / "summary.md", "\n".join(lines) + "\n")


def _fmt(v):
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def add_arguments(p) -> None:
    p.add_argument("--profile", default="auto", choices=("auto",) + PROFILES,
                   help="run size; auto = cuda if a GPU is present, else cpu")
    p.add_argument("--out", default=None, help="output folder (default results/<profile>-<time>)")
    p.add_argument("--only", nargs="*", default=None, help="run only notebooks whose name starts with these")
    p.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                   help="set a parameter in every notebook of the run that defines it (VALUE read as YAML); "
                        "repeatable, e.g. -p FRAME=3 -p 'OVERRIDES=[\"optim.lr=1e-4\"]'")


def main(args) -> int:
    extra = dict(parse_param(t) for t in args.param)      # a bad -p is one line from the CLI (ValueError)
    summary = run_sequence(args.profile, args.out, args.only, extra=extra)
    if not summary.get("ok"):
        failed = next(e for e in summary["notebooks"] if e.get("status") == "failed")
        print(f"error: {failed['notebook']} failed: {failed.get('error', '?')} (the executed notebook with the "
              f"traceback: {failed['output']})", file=sys.stderr)
        return 2
    return 0
