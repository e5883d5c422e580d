"""Evaluation: super-resolve a dataset and tabulate SeeClear's Table 1 metrics (``python -m seeclear_lite
evaluate``); see :mod:`.harness`."""

from .harness import METRIC_KEYS, evaluate, get_method, metrics_markdown

__all__ = ["evaluate", "get_method", "metrics_markdown", "METRIC_KEYS"]
