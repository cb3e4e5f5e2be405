"""A million parcels on paper: how long the nightly rotation of 1,000,000 deliveries takes in AWS, and
what each issued and each verified code costs, recomputed from scripts/million_inputs.toml.

Run: python scripts/million.py [inputs.toml]. Prints Markdown (docs/scale.md quotes it).
"""

from __future__ import annotations

import math
import sys
import tomllib
from pathlib import Path
from typing import Any

DELIVERIES = 1_000_000
INPUTS = Path(__file__).with_name("million_inputs.toml")


def load(path: Path = INPUTS) -> dict[str, Any]:
    return tomllib.loads(path.read_text())


def write_units(kb: float, transactional: bool = False) -> float:
    """DynamoDB bills a write per started KB, twice inside a transaction."""
    return math.ceil(kb) * (2 if transactional else 1)


def rotation_write_units(inputs: dict[str, Any]) -> dict[str, float]:
    """Write units one delivery's night costs: its rotation, the index entry moving, the sent mark."""
    d = inputs["design"]
    return {
        "rotation (transactional update)": write_units(d["item_kb"], transactional=True),
        # The rotation changes due_at, the index's sort key: the old entry is deleted, a new one put.
        "due-index entry moved": 2 * write_units(d["index_entry_kb"]),
        "email sent mark (transactional update)": write_units(d["item_kb"], transactional=True),
    }


def rotation_time(inputs: dict[str, Any], ses_rate: float, deliveries: int = DELIVERIES) -> dict[str, float]:
    """Seconds each stage needs for `deliveries`, and the total: the stages run as a pipeline (the
    stream feeds the emails while the workers rotate), so the slowest one sets the night's length."""
    d, q = inputs["design"], inputs["quotas"]
    units = rotation_write_units(inputs)
    table = deliveries * sum(units.values()) / q["table_write_units_per_second"]
    # Each shard is one partition key value of the index: at most 1,000 write units a second each.
    index = deliveries * units["due-index entry moved"] / (d["shards"] * q["partition_write_units_per_second"])
    workers = min(d["shards"], q["lambda_concurrency"])
    transactions = deliveries / d["batch"] * d["transaction_seconds"] / workers
    ses = deliveries / ses_rate
    stages = {
        "table write throughput": table,
        "due-index partitions": index,
        "rotation workers": transactions,
        "SES sending rate": ses,
    }
    return {**stages, "total": max(stages.values())}


def bottleneck(times: dict[str, float]) -> str:
    return max((name for name in times if name != "total"), key=times.__getitem__)


def cost_per_verification(inputs: dict[str, Any]) -> dict[str, float]:
    """A right code at the door, with a courier: API call, function, one transaction, logs."""
    p, d, lam = inputs["prices"], inputs["design"], inputs["lambda"]
    units = write_units(d["item_kb"], transactional=True) + write_units(d["courier_item_kb"], transactional=True)
    units += write_units(d["index_entry_kb"])  # the delivered parcel leaves the due index
    return {
        "API Gateway": p["http_api_request"],
        "Lambda": p["lambda_request"] + lam["api_gb"] * lam["verify_seconds"] * p["lambda_gb_second"],
        "DynamoDB": units * p["dynamodb_write_unit"],
        "CloudWatch Logs": lam["log_bytes_per_invocation"] / 1e9 * p["logs_gb"],
    }


def _email_share(inputs: dict[str, Any]) -> dict[str, float]:
    """One delivery's share of the email function's batch: read, SES, sent mark, invocation."""
    p, d, lam = inputs["prices"], inputs["design"], inputs["lambda"]
    reads = math.ceil(d["item_kb"] / 4)  # a strongly consistent read: one unit per started 4 KB
    per_batch_lambda = p["lambda_request"] + lam["email_gb"] * lam["email_batch_seconds"] * p["lambda_gb_second"]
    return {
        "SES": p["ses_email"],
        "DynamoDB (email)": reads * p["dynamodb_read_unit"]
        + write_units(d["item_kb"], transactional=True) * p["dynamodb_write_unit"],
        "Lambda (email)": per_batch_lambda / d["stream_batch"],
    }


def cost_per_issued_code(inputs: dict[str, Any]) -> dict[str, float]:
    """A registration that issues a code, and its email."""
    p, d, lam = inputs["prices"], inputs["design"], inputs["lambda"]
    return {
        "API Gateway": p["http_api_request"],
        "Lambda": p["lambda_request"] + lam["api_gb"] * lam["register_seconds"] * p["lambda_gb_second"],
        "DynamoDB": (write_units(d["item_kb"]) + write_units(d["index_entry_kb"])) * p["dynamodb_write_unit"],
        "CloudWatch Logs": lam["log_bytes_per_invocation"] / 1e9 * p["logs_gb"],
        **_email_share(inputs),
    }


def cost_per_rotation(inputs: dict[str, Any]) -> dict[str, float]:
    """A delivery re-coded at night: its share of the schedule, queue and worker, its writes, its email."""
    p, d, lam = inputs["prices"], inputs["design"], inputs["lambda"]
    units = rotation_write_units(inputs)
    worker_seconds = d["transaction_seconds"] / d["batch"]
    return {
        "Scheduler + SQS": (p["scheduler_invocation"] + 3 * d["shards"] * p["sqs_request"]) / DELIVERIES,
        "Lambda (worker)": worker_seconds * lam["worker_gb"] * p["lambda_gb_second"],
        "DynamoDB": (units["rotation (transactional update)"] + units["due-index entry moved"])
        * p["dynamodb_write_unit"],
        **_email_share(inputs),
    }


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s"


def report(inputs: dict[str, Any]) -> str:
    lines = [f"### 1,000,000 rotations in one night ({inputs['design']['shards']} shards)", ""]
    lines += ["| SES rate (msg/s) | table writes | index partitions | workers | SES | night | bottleneck |"]
    lines += ["|---|---|---|---|---|---|---|"]
    for rate in inputs["quotas"]["ses_rates"]:
        t = rotation_time(inputs, rate)
        cells = [_duration(t[k]) for k in ("table write throughput", "due-index partitions", "rotation workers")]
        lines.append(
            f"| {rate} | {' | '.join(cells)} | {_duration(t['SES sending rate'])} | **{_duration(t['total'])}** "
            f"| {bottleneck(t)} |"
        )
    units = rotation_write_units(inputs)
    parts = ", ".join(f"{name} {value:g}" for name, value in units.items())
    lines += ["", f"Write units per delivery per night: {sum(units.values()):g} ({parts}).", ""]
    for title, parts in (
        ("Cost per verified code", cost_per_verification(inputs)),
        ("Cost per issued code (registration + email)", cost_per_issued_code(inputs)),
        ("Cost per nightly re-issue (rotation + email)", cost_per_rotation(inputs)),
    ):
        total = sum(parts.values())
        lines += [f"### {title}: ${total * 1e6:,.2f} per million", "", "| part | USD per million |", "|---|---|"]
        lines += [f"| {name} | {value * 1e6:,.2f} |" for name, value in parts.items()]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(load(Path(sys.argv[1]) if len(sys.argv) > 1 else INPUTS)))
