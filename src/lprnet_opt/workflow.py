"""Logging set-up shared by the Snakemake scripts."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path


def _one_line_for_bad_input(kind, error, trace) -> None:
    """Bad input (this package's ValueErrors: a corrupt image, an unknown label character,
    another architecture's weights...) ends the script with one line naming the file or key;
    anything else keeps its traceback."""
    if issubclass(kind, ValueError) and kind.__module__.startswith("lprnet_opt"):
        logging.getLogger("lprnet_opt").error("%s: %s", kind.__name__, error)
    else:
        sys.__excepthook__(kind, error, trace)


def setup_logging(log_file: str | None) -> None:
    """Log to the rule's log file and to the console, so long steps show progress in both."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        Path(log_file).write_text("")
        # Append mode: a library that calls logging.config.dictConfig closes our handlers,
        # and a "w" handler would truncate the log when it reopens.
        handlers.append(logging.FileHandler(log_file, mode="a", encoding="utf-8"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", handlers=handlers, force=True)
    sys.excepthook = _one_line_for_bad_input
    job = os.environ.get("SLURM_JOB_ID")
    if job:
        logging.getLogger("lprnet_opt").info("running as SLURM job %s on %s", job, os.uname().nodename)
