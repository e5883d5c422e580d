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
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from ..utils.device import PROFILES, resolve_profile
from ..utils.io import StagedOutput, atomic_write_text, clean_stale
from ..utils.lock import FolderLock, LockedError, refuse_overlap

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
PACKAGE_DIR = REPO_ROOT / "seeclear_lite"

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
    return set(import_papermill().inspect_notebook(str(notebook)).keys())


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
    subset into an existing results folder keeps the summary entries of the other notebooks.

    ``out`` is locked for the run (a second ``run`` into it stops at once), and the notebooks execute into a
    staging folder inside it: when every notebook ran, their executed copies, figures and summaries replace the
    earlier ones; when one fails (or the run is interrupted), nothing of the earlier results changes and this run's
    notebooks, the failed one with its traceback, go to ``out/failed-<time>/`` with a summary of this run alone."""
    papermill = import_papermill()
    profile = resolve_profile(None if profile == "auto" else profile)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    if out is not None and not str(out).strip():
        raise ValueError("--out is empty: give a folder name, e.g. --out results/mine (an empty path would write into "
                         "the current folder).")
    # absolute: the kernels run in the notebooks' folder, where a relative RESULTS_DIR would point elsewhere
    out = Path(out).resolve() if out is not None else REPO_ROOT / "results" / f"{profile}-{stamp}"
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {out} is a file; give a folder for the results.")
    refuse_overlap(out, "--out", [("the notebooks folder", notebook_dir), ("the package", PACKAGE_DIR)])
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
    with FolderLock(out, "--out", "run"):
        clean_stale(out, StagedOutput.STAGING_PREFIX + "*")
        stage = Path(tempfile.mkdtemp(prefix=f"{StagedOutput.STAGING_PREFIX}{os.getpid()}-", dir=out))
        try:
            return _run_plan(papermill, plan, profile, stamp, out, stage)
        finally:
            shutil.rmtree(stage, ignore_errors=True)


def import_papermill():
    """papermill, or one line saying which extra installs it."""
    try:
        import papermill
    except ImportError:
        raise ModuleNotFoundError("`run` executes the notebooks with papermill, which is not installed: install the "
                                  "kit's notebook extra, pip install -e '.[notebooks]' (or `make venv`).") from None
    return papermill


def _run_plan(papermill, plan, profile: str, stamp: str, out: Path, stage: Path) -> dict:
    for _, params in plan:
        params["RESULTS_DIR"] = str(stage)
    print(f"Running {len(plan)} notebooks at profile '{profile}' into {out}", flush=True)
    summary = {"profile": profile, "started": stamp, "results_dir": str(out), "notebooks": []}
    ok, done = True, False
    try:
        for i, (nb, params) in enumerate(plan, 1):
            print(f"[{i}/{len(plan)}] {nb.name} ...", flush=True)
            t0 = time.perf_counter()
            entry = {"notebook": nb.name, "output": str(out / nb.name), "parameters": {**params, "RESULTS_DIR": str(out)}}
            try:
                papermill.execute_notebook(str(nb), str(stage / nb.name), parameters=params, kernel_name="python3",
                                           cwd=str(nb.parent), progress_bar=True, log_output=False,
                                           execution_timeout=CELL_TIMEOUT_S[profile])
                entry["status"] = "ok"
            except Exception as err:  # keep going? no: later notebooks build on earlier ones
                entry["status"] = "failed"
                entry["error"] = f"{type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ''}"
                ok = False
            entry["seconds"] = round(time.perf_counter() - t0, 1)
            result_file = stage / f"summary_{nb.stem}.json"
            if result_file.exists():
                entry["results"] = json.loads(result_file.read_text())
            summary["notebooks"].append(entry)
            reason = f" ({entry['error']})" if "error" in entry else ""
            print(f"[{i}/{len(plan)}] {nb.name}: {entry['status']} in {entry['seconds']} s{reason}", flush=True)
            if not ok:
                break
        done = True
    finally:
        if ok and done:      # every notebook ran: swap this run's files in, the summary keeps the others' entries
            _relocate(stage, out)
            _move_into(stage, out)
            summary["notebooks"] = sorted(_earlier_entries(out, profile, {e["notebook"] for e in summary["notebooks"]})
                                          + summary["notebooks"], key=lambda e: e["notebook"])
            summary["ok"] = True
            _write_summary(out, summary)
            print(f"\nResults: {out}\n  summary: {out / 'summary.md'}\n  figures: {out / 'figures'}", flush=True)
        else:                # the earlier results stay as they were; this run is kept apart, whole
            failed = out / f"failed-{stamp}"
            n = 1
            while failed.exists():
                n += 1
                failed = out / f"failed-{stamp}-{n}"
            _relocate(stage, failed)
            os.replace(stage, failed)
            for e in summary["notebooks"]:
                e["output"] = str(failed / e["notebook"])
                e["parameters"]["RESULTS_DIR"] = str(failed)
            summary.update(results_dir=str(failed), ok=False)
            _write_summary(failed, summary)
            print(f"\nThis run did not finish: its notebooks and summary are in {failed}; the results already in "
                  f"{out} are unchanged.", flush=True)
    return summary


def _relocate(folder: Path, to: Path) -> None:
    """Executed notebooks and JSON summaries in ``folder`` name the staging folder as RESULTS_DIR: make them name
    ``to`` (where they end up)."""
    old = str(folder)
    for p in list(folder.glob("*.ipynb")) + list(folder.glob("summary_*.json")):
        text = p.read_text()
        if old in text:
            atomic_write_text(p, text.replace(json.dumps(old)[1:-1], json.dumps(str(to))[1:-1]).replace(old, str(to)))


def _move_into(stage: Path, out: Path) -> None:
    """Every file under ``stage`` to the same place under ``out``, each by one rename (replacing the old file)."""
    for p in sorted(stage.rglob("*")):
        if p.is_file():
            dest = out / p.relative_to(stage)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(p, dest)


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
    try:
        extra = dict(parse_param(t) for t in args.param)      # a bad -p is one line
        summary = run_sequence(args.profile, args.out, args.only, extra=extra)
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError, ValueError, LockedError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not summary.get("ok"):
        failed = next(e for e in summary["notebooks"] if e.get("status") == "failed")
        print(f"error: {failed['notebook']} failed: {failed.get('error', '?')} (the executed notebook with the "
              f"traceback: {failed['output']})", file=sys.stderr)
        return 2
    return 0
