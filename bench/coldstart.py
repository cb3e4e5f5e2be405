"""Cold start: a fresh interpreter importing a function's handler module, as Lambda's init phase does.

Reference: a fresh interpreter that imports boto3 and creates one DynamoDB client, measured in the
same run and interleaved with the functions' runs, so the machine's noise falls on both alike.
Bytecode is compiled first for everything (the package as `sam build` ships it is compiled on first
use and Lambda caches nothing between cold starts, but site-packages would be cached on this
machine): both sides then pay only for importing, never for compiling.
"""

from __future__ import annotations

import compileall
import os
import statistics
import subprocess
import sys
import sysconfig
import time
import warnings

from local.template import ROOT, functions

REFERENCE = "import boto3; boto3.client('dynamodb', region_name='eu-south-1')"
_ENV = {
    "AWS_REGION": "eu-south-1",
    "AWS_DEFAULT_REGION": "eu-south-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "POWERTOOLS_SERVICE_NAME": "delivery-otp",
    "POWERTOOLS_METRICS_NAMESPACE": "DeliveryOtp",
    "TABLE_NAME": "deliveries",
    "IDEMPOTENCY_TABLE_NAME": "idempotency",
    "CODE_KEY_SECRET_ID": "arn:aws:secretsmanager:eu-south-1:123456789012:secret:code-key",
    "EMAIL_SENDER": "codes@example.com",
}


def _handler_script(props: dict) -> str:
    module = props["Handler"].rsplit(".", 1)[0]
    paths = [str(ROOT / "layers" / "shared"), str(ROOT / props["CodeUri"])]
    return f"import sys; sys.path[:0] = {paths!r}; import {module}"


def _wall(script: str) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))} | _ENV
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", script], env=env, check=True)  # noqa: S603 - our own scripts
    return time.perf_counter() - started


def measure(runs: int = 15) -> dict[str, dict[str, float]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # third-party test files with old escape sequences
        for folder in (sysconfig.get_paths()["purelib"], ROOT / "layers", ROOT / "functions"):
            compileall.compile_dir(str(folder), quiet=2)
    scripts = {"reference": REFERENCE} | {name: _handler_script(props) for name, props in functions().items()}
    for script in scripts.values():
        _wall(script)  # warm the file cache
    times: dict[str, list[float]] = {name: [] for name in scripts}
    for _ in range(runs):
        for name, script in scripts.items():
            times[name].append(_wall(script))
    reference = statistics.median(times["reference"])
    return {
        name: {"median_s": statistics.median(values), "ratio": statistics.median(values) / reference}
        for name, values in times.items()
    }


if __name__ == "__main__":
    for name, figures in measure(int(os.environ.get("RUNS", "15"))).items():
        print(f"{name:24} {figures['median_s'] * 1000:7.1f} ms  {figures['ratio']:.2f}x")
