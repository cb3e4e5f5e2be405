"""`python -m local` as a newcomer runs it, in a subprocess on a free loopback port: started, waited for
until healthy, and stopped with Ctrl-C. Used by the e2e and browser tiers and by `make bench`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from local.stack import free_port
from local.template import ROOT

START_SECONDS = 60.0


def start(auth: str, log_prefix: str) -> tuple[subprocess.Popen, str, Path]:
    """The running stack's process, URL and log file (authentication `"on"` or `"off"`)."""
    port = free_port()
    env = {**os.environ, "PORT": str(port), "LOCAL_AUTH": auth, "PYTHONUNBUFFERED": "1"}
    # A file, not a pipe: nobody reads the log while the stack runs, and a full pipe would block it.
    with tempfile.NamedTemporaryFile(prefix=log_prefix, suffix=".log", delete=False) as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "local"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    url, log_path = f"http://127.0.0.1:{port}", Path(log.name)
    deadline = time.monotonic() + START_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the local stack exited: {log_path.read_text(errors='replace')[-4000:]}")
        try:
            if requests.get(f"{url}/local/health", timeout=1).status_code == 200:
                return process, url, log_path
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the local stack did not become healthy within {START_SECONDS:.0f} s")
        time.sleep(0.1)  # polling for the stack to come up, not synchronising with it


def stop(process: subprocess.Popen) -> int | None:
    """Ctrl-C, as a person stops it; killed after 20 s. The exit code Ctrl-C got (None: it had to be killed)."""
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return None
