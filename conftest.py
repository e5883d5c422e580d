"""Repository-wide pytest hooks: print each notebook's run time (papermill and nbval) at the end."""

from collections import defaultdict

_nbval_seconds = defaultdict(float)
_papermill_seconds = {}


def pytest_runtest_logreport(report):
    if report.when != "call":
        return
    nodeid = report.nodeid
    if ".ipynb::" in nodeid:  # an nbval cell
        _nbval_seconds[nodeid.split("::")[0]] += report.duration
    for key, value in report.user_properties:
        if key == "notebook_seconds":
            _papermill_seconds[nodeid.split("[")[-1].rstrip("]")] = value


def pytest_terminal_summary(terminalreporter):
    if _papermill_seconds:
        terminalreporter.section("notebook run times (papermill, smoke profile)")
        for name, sec in sorted(_papermill_seconds.items()):
            terminalreporter.write_line(f"{name:<40} {sec:7.1f} s")
    if _nbval_seconds:
        terminalreporter.section("notebook run times (nbval re-run of the executed copies)")
        for name, sec in sorted(_nbval_seconds.items()):
            terminalreporter.write_line(f"{name:<40} {sec:7.1f} s")
