"""`make bench`'s figures of the people's pages still come out: the courier app's first load followed from
its page, and the recipient page's times beside their references. The figures are not judged here
(timings belong to `make bench`), except the first load's size, which is bytes, not time."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_pages_benchmark_runs_and_reports_every_figure() -> None:
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    env.update({"BENCH_PAGE_ROUNDS": "3", "BENCH_PAGE_COLD_RUNS": "1", "PYTHONDONTWRITEBYTECODE": "1"})
    run = subprocess.run(
        [sys.executable, "-m", "bench.pages"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    loaded = re.search(r"courier app first load +([\d,]+) bytes .*files: (.*)", out)
    assert loaded, out
    assert int(loaded.group(1).replace(",", "")) < 100 * 1024
    # Followed from the page: the modules app.js imports and the service worker it registers are counted.
    assert {"app.js", "auth.js", "pending.js", "sw.js", "manifest.webmanifest", "app.css"} <= set(
        loaded.group(2).split(", ")
    )
    for line in ("recipient page warm GET", "two GetItem round trips", "recipient page warm show", "cold GET"):
        assert line in out, out
