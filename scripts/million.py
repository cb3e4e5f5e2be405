"""A million parcels on paper: how long the nightly rotation of 1,000,000 deliveries takes in AWS, and
what each issued and each verified code costs, recomputed from scripts/million_inputs.toml.

Run: python scripts/million.py [inputs.toml] [--results-only]. Prints Markdown; docs/scale.md quotes it
(--results-only: without the inputs table).
Python 3.13 standard library only.
"""

from __future__ import annotations

import copy
import math
import re
import sys
import tomllib
from pathlib import Path
from typing import Any, NamedTuple

INPUTS = Path(__file__).with_name("million_inputs.toml")
DAY = 86_400
GB_IN_KB = 1024 * 1024

# Stages of the night. The first three rotate the codes (old code dead, new one live and on the
# tracking page); the others carry the emails. They overlap (the stream feeds the email function while
# the workers still write), so the night lasts as long as its slowest stage.
TABLE, INDEX, WORKERS, EMAIL_FN, SES_RATE, SES_DAY = (
    "table writes",
    "due-index writes",
    "rotation workers",
    "email function",
    "SES send rate",
    "SES 24-hour quota",
)
ROTATION_STAGES = (TABLE, INDEX, WORKERS)
STAGES = (TABLE, INDEX, WORKERS, EMAIL_FN, SES_RATE, SES_DAY)


class Figure(NamedTuple):
    """A computed figure (seconds or USD) and the formula, with its inputs, that gave it."""

    value: float
    formula: str


# --- inputs ---------------------------------------------------------------------------------------


def load(path: Path = INPUTS) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def sources(path: Path = INPUTS) -> dict[str, str]:
    """`section.key` -> the comment line(s) just above the value (where the value comes from)."""
    found: dict[str, str] = {}
    section: str | None = None
    comment: list[str] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("#"):
            comment.append(line.lstrip("#").strip())
            continue
        if line.startswith("[["):
            section = None  # what-if scenarios are not inputs
        elif line.startswith("["):
            section = line.strip("[]").strip()
        elif section and (match := re.match(r"([A-Za-z0-9_]+)\s*=", line)):
            found[f"{section}.{match.group(1)}"] = " ".join(comment)
        comment = []
    return found


def with_changes(inputs: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A copy of `inputs` with {"section.key": value} changed."""
    changed = copy.deepcopy(inputs)
    for dotted, value in changes.items():
        section, key = dotted.split(".", 1)
        if key not in changed[section]:
            raise KeyError(f"no input {dotted}")
        changed[section][key] = value
    return changed


# --- DynamoDB units -------------------------------------------------------------------------------


def write_units(kb: float, transactional: bool = False) -> int:
    """DynamoDB bills a write per started KB of the item, twice inside a transaction."""
    return math.ceil(kb) * (2 if transactional else 1)


def read_units(kb: float, strongly_consistent: bool = True) -> float:
    """A read per started 4 KB; half of it when eventually consistent."""
    return math.ceil(kb / 4) * (1 if strongly_consistent else 0.5)


def night_write_units(inputs: dict[str, Any]) -> dict[str, int]:
    """Write units one delivery's night costs, by where they land."""
    s = inputs["sizes"]
    return {
        # TransactWriteItems of 100 conditional puts of the whole item: the item's size, twice.
        "rotation": write_units(s["item_kb"], transactional=True),
        # The email function's sent mark, also a transaction of up to 100 (and it writes the whole item).
        "sent mark": write_units(s["item_kb"], transactional=True),
        # due_at, the index's sort key, changes: the old entry is deleted and a new one put (2 writes).
        # Index writes are billed as standard writes; the sent mark touches no projected attribute.
        "due-index": 2 * write_units(s["index_entry_kb"]),
    }


# --- the night ------------------------------------------------------------------------------------


def email_function_rate(inputs: dict[str, Any]) -> tuple[int, float]:
    """(concurrent email batches, seconds of email-function time per code) at night, full batches."""
    d, lam = inputs["design"], inputs["lambda"]
    concurrency = min(d["stream_shards"] * d["parallelization_factor"], d["email_concurrency"])
    per_code = d["stream_records_per_code"] / d["stream_batch"] * lam["email_invocation_seconds"]
    return concurrency, per_code + lam["email_seconds_per_email"]


def stage_bounds(inputs: dict[str, Any]) -> dict[str, Figure]:
    """Seconds each stage needs at its own limit for the night's deliveries, with the formula."""
    n = inputs["volume"]["deliveries"]
    d, q, lam = inputs["design"], inputs["quotas"], inputs["lambda"]
    units = night_write_units(inputs)
    table_units = units["rotation"] + units["sent mark"]
    index_rate = min(q["index_write_units_per_second"], d["shards"] * q["partition_write_units_per_second"])
    workers = min(d["shards"], d["worker_concurrency"], q["lambda_concurrency"])
    per_worker = q["transaction_items"] / lam["worker_seconds_per_transaction"]
    concurrency, per_code = email_function_rate(inputs)
    rate, daily = q["ses_send_rate"], q["ses_daily_quota"]
    return {
        TABLE: Figure(
            n * table_units / q["table_write_units_per_second"],
            f"{n:,} x ({units['rotation']} rotation + {units['sent mark']} sent mark) WU"
            f" / {q['table_write_units_per_second']:,} WU/s",
        ),
        INDEX: Figure(
            n * units["due-index"] / index_rate,
            f"{n:,} x {units['due-index']} WU / min({q['index_write_units_per_second']:,},"
            f" {d['shards']} shards x {q['partition_write_units_per_second']:,}) WU/s",
        ),
        WORKERS: Figure(
            n / (workers * per_worker),
            f"{n:,} / ({workers} workers x {q['transaction_items']} per {lam['worker_seconds_per_transaction']:g} s)",
        ),
        EMAIL_FN: Figure(
            n * per_code / concurrency,
            f"{n:,} x {per_code * 1000:.1f} ms / min({d['stream_shards']} stream shards x"
            f" {d['parallelization_factor']}, {d['email_concurrency']}) batches",
        ),
        SES_RATE: Figure(n / rate, f"{n:,} / {rate:,} msg/s"),
        SES_DAY: Figure(DAY * max(0.0, n / daily - 1), f"1 day x max(0, {n:,} / {daily:,} - 1)"),
    }


def rotation_time(inputs: dict[str, Any], ses_rate: float | None = None) -> dict[str, float]:
    """Seconds per stage, `codes rotated` (the rotation stages' max, the rotation's writes only) and
    `total` (the max of every stage: the night's length)."""
    if ses_rate is not None:
        inputs = with_changes(inputs, {"quotas.ses_send_rate": ses_rate})
    bounds = {name: figure.value for name, figure in stage_bounds(inputs).items()}
    n, q = inputs["volume"]["deliveries"], inputs["quotas"]
    rotation_only_table = n * night_write_units(inputs)["rotation"] / q["table_write_units_per_second"]
    rotated = max(rotation_only_table, bounds[INDEX], bounds[WORKERS])
    return {**bounds, "codes rotated": rotated, "total": max(bounds[name] for name in STAGES)}


def bottleneck(times: dict[str, float]) -> str:
    return max(STAGES, key=times.__getitem__)


# --- costs ----------------------------------------------------------------------------------------


def _usd(price: float) -> str:
    return f"${price * 1e6:g}/M" if price < 0.001 else f"${price:g}"


def _plain(value: Any) -> str:
    """A number as a reader writes it: 1,000,000, 0.0000133334, 0.25."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.10f}".rstrip("0").rstrip(".") if abs(value) < 0.001 else f"{value:,g}"


def _lambda(inputs: dict[str, Any], gb: float, seconds: float, invocations: float = 1) -> Figure:
    p = inputs["prices"]
    usd = invocations * p["lambda_request"] + gb * seconds * p["lambda_gb_second"]
    calls = "" if invocations == 1 else f"{invocations:g} x "
    return Figure(
        usd, f"{calls}{_usd(p['lambda_request'])} + {gb:g} GB x {seconds:g} s x ${_plain(p['lambda_gb_second'])}/GB-s"
    )


def _api_request(inputs: dict[str, Any], gb: float, seconds: float) -> dict[str, Figure]:
    """What one API call costs around its DynamoDB work: gateway, function, logs, traces, idempotency."""
    p, d, s = inputs["prices"], inputs["design"], inputs["sizes"]
    idem = 2 * write_units(s["idempotency_record_kb"])  # Powertools: a conditional put, then the answer
    return {
        "API Gateway HTTP API": Figure(p["http_api_request"], f"1 request x {_usd(p['http_api_request'])}"),
        "Lambda": _lambda(inputs, gb, seconds),
        "DynamoDB (Idempotency-Key record)": Figure(
            d["idempotency_key_share"] * idem * p["dynamodb_write_unit"],
            f"{d['idempotency_key_share']:g} x {idem} WU x {_usd(p['dynamodb_write_unit'])}",
        ),
        "CloudWatch Logs": Figure(
            s["api_log_kb"] / GB_IN_KB * p["logs_gb"], f"{s['api_log_kb']:g} KB x ${p['logs_gb']:g}/GB"
        ),
        "X-Ray": Figure(
            d["xray_sampled_share"] * p["xray_trace"], f"{d['xray_sampled_share']:g} x {_usd(p['xray_trace'])}"
        ),
    }


def cost_per_verification(inputs: dict[str, Any], courier: bool = True) -> dict[str, Figure]:
    """A right code at the door. With a known courier: one TransactWriteItems (the delivery's update and
    a ConditionCheck on the courier's budget); without: one conditional UpdateItem. Either way the
    delivered parcel leaves the due index (one index delete)."""
    p, s = inputs["prices"], inputs["sizes"]
    index = write_units(s["index_entry_kb"])
    if courier:
        item, check = write_units(s["item_kb"], True), write_units(s["courier_item_kb"], True)
        units, formula = item + check + index, f"({item} delivery + {check} courier check + {index} index)"
    else:
        item = write_units(s["item_kb"])
        units, formula = item + index, f"({item} delivery + {index} index)"
    dynamo = Figure(units * p["dynamodb_write_unit"], f"{formula} WU x {_usd(p['dynamodb_write_unit'])}")
    return _with_dynamodb(_api_request(inputs, inputs["lambda"]["api_gb"], inputs["lambda"]["verify_seconds"]), dynamo)


def _with_dynamodb(parts: dict[str, Figure], dynamo: Figure) -> dict[str, Figure]:
    """The request's own DynamoDB work, listed right after its function."""
    names = list(parts)
    at = names.index("Lambda") + 1
    return {name: parts[name] for name in names[:at]} | {"DynamoDB": dynamo} | {n: parts[n] for n in names[at:]}


def email_share(inputs: dict[str, Any], records_per_batch: float) -> dict[str, Figure]:
    """One code's share of the email function: SES, the re-read and sent mark, its time, its logs.
    Reading the stream is free for a Lambda trigger."""
    p, d, s, lam = inputs["prices"], inputs["design"], inputs["sizes"], inputs["lambda"]
    invocations = d["stream_records_per_code"] / records_per_batch
    seconds = invocations * lam["email_invocation_seconds"] + lam["email_seconds_per_email"]
    reads, mark = read_units(s["item_kb"]), write_units(s["item_kb"], transactional=True)
    return {
        "SES": Figure(p["ses_email"], f"1 email x ${p['ses_email'] * 1000:g}/1,000"),
        "DynamoDB (email: re-read + sent mark)": Figure(
            reads * p["dynamodb_read_unit"] + mark * p["dynamodb_write_unit"],
            f"{reads:g} RU x {_usd(p['dynamodb_read_unit'])} + {mark} WU x {_usd(p['dynamodb_write_unit'])}",
        ),
        "Lambda (email)": _lambda(inputs, lam["email_gb"], round(seconds, 6), round(invocations, 6)),
        "CloudWatch Logs (email)": Figure(
            invocations * s["email_log_kb"] / GB_IN_KB * p["logs_gb"],
            f"{invocations:g} x {s['email_log_kb']:g} KB x ${p['logs_gb']:g}/GB",
        ),
    }


def cost_per_issued_code(inputs: dict[str, Any]) -> dict[str, Figure]:
    """POST /deliveries that issues a code: the item (and its due-index entry) and its page link's lookup
    item, two puts in one TransactWriteItems (which bills each item twice), then its email."""
    p, s, lam = inputs["prices"], inputs["sizes"], inputs["lambda"]
    item, link = 2 * write_units(s["registration_item_kb"]), 2 * write_units(s["link_item_kb"])
    index = write_units(s["index_entry_kb"])
    dynamo = Figure(
        (item + link + index) * p["dynamodb_write_unit"],
        f"({item} put + {link} page link, in a transaction, + {index} index) WU x {_usd(p['dynamodb_write_unit'])}",
    )
    parts = _with_dynamodb(_api_request(inputs, lam["api_gb"], lam["register_seconds"]), dynamo)
    return {**parts, **email_share(inputs, inputs["design"]["day_records_per_batch"])}


def cost_per_rotation(inputs: dict[str, Any]) -> dict[str, Figure]:
    """A delivery re-coded at night: its worker's time, its reads (index, item) and writes, its email. The
    schedule, planner, queue and empty shards cost the same whatever is due: see fixed_costs."""
    p, d, s, q, lam = inputs["prices"], inputs["design"], inputs["sizes"], inputs["quotas"], inputs["lambda"]
    units = night_write_units(inputs)
    query = read_units(s["index_entry_kb"] * q["transaction_items"], strongly_consistent=False) / q["transaction_items"]
    read = read_units(s["item_kb"])  # the item itself, strongly consistent, in a BatchGetItem of 100
    seconds = lam["worker_seconds_per_transaction"] / q["transaction_items"]
    return {
        "Lambda (worker)": Figure(
            seconds * lam["rotation_gb"] * p["lambda_gb_second"],
            f"{lam['rotation_gb']:g} GB x {seconds:g} s x ${_plain(p['lambda_gb_second'])}/GB-s",
        ),
        "DynamoDB": Figure(
            (units["rotation"] + units["due-index"]) * p["dynamodb_write_unit"]
            + (read + query) * p["dynamodb_read_unit"],
            f"({units['rotation']} rotation + {units['due-index']} index) WU x {_usd(p['dynamodb_write_unit'])}"
            f" + ({read:g} item + {query:g} Query) RU x {_usd(p['dynamodb_read_unit'])}",
        ),
        **email_share(inputs, d["stream_batch"]),
    }


def cost_of_events_per_rotation(inputs: dict[str, Any]) -> dict[str, Figure]:
    """A re-issued code's integration events: put on the bus (and archived), queued by the webhook rule,
    and its share of the publisher. Reading the stream is free for a Lambda trigger."""
    p, d, s, lam = inputs["prices"], inputs["design"], inputs["sizes"], inputs["lambda"]
    events, chunks = d["events_per_rotation"], math.ceil(s["event_kb"] / 64)
    invocations = d["stream_records_per_code"] / d["stream_batch"]
    seconds = invocations * lam["publisher_batch_seconds"]
    return {
        "EventBridge PutEvents": Figure(
            events * chunks * p["eventbridge_event"],
            f"{events} events x {chunks} chunk x {_usd(p['eventbridge_event'])}",
        ),
        "EventBridge archive": Figure(
            events * s["event_kb"] / GB_IN_KB * p["eventbridge_archive_gb"],
            f"{events} x {s['event_kb']:g} KB x ${p['eventbridge_archive_gb']:g}/GB",
        ),
        "SQS (rule to the webhook queue)": Figure(
            events * p["sqs_request"], f"{events} SendMessage x {_usd(p['sqs_request'])}"
        ),
        "Lambda (publisher)": _lambda(inputs, lam["publisher_gb"], round(seconds, 6), round(invocations, 6)),
        "CloudWatch Logs (publisher)": Figure(
            invocations * s["publisher_log_kb"] / GB_IN_KB * p["logs_gb"],
            f"{invocations:g} x {s['publisher_log_kb']:g} KB x ${p['logs_gb']:g}/GB",
        ),
    }


def events_time(inputs: dict[str, Any]) -> dict[str, Figure]:
    """How long the night's integration events take to reach the bus: the publisher's pace through the
    stream, and the account's PutEvents rate. Neither holds up a code or an email."""
    n, d, q, lam = inputs["volume"]["deliveries"], inputs["design"], inputs["quotas"], inputs["lambda"]
    batches = min(d["stream_shards"] * d["publisher_parallelization"], d["publisher_concurrency"])
    records = n * d["stream_records_per_code"]
    per_second = batches * d["stream_batch"] / lam["publisher_batch_seconds"]
    events = n * d["events_per_rotation"]
    return {
        "publisher": Figure(
            records / per_second,
            f"{records:,} records / (min({d['stream_shards']} stream shards x {d['publisher_parallelization']},"
            f" {d['publisher_concurrency']}) batches x {d['stream_batch']} per {lam['publisher_batch_seconds']:g} s)",
        ),
        "PutEvents quota": Figure(
            events / q["put_events_per_second"], f"{events:,} events / {q['put_events_per_second']:,} a second"
        ),
    }


def fixed_costs(inputs: dict[str, Any]) -> dict[str, Figure]:
    """USD a month whatever the volume: every run queues every shard, and each worker looks."""
    p, d, q, lam = inputs["prices"], inputs["design"], inputs["quotas"], inputs["lambda"]
    runs = d["schedule_runs_per_day"] * 30
    shards = d["shards"]
    sqs_calls = math.ceil(shards / q["sqs_batch"]) + 2 * shards  # send batches; receive + delete per shard
    planner, worker = (
        _lambda(inputs, lam["rotation_gb"], lam["planner_seconds"]),
        _lambda(inputs, lam["rotation_gb"], lam["worker_empty_seconds"]),
    )
    return {
        "EventBridge Scheduler": Figure(
            runs * p["scheduler_invocation"], f"{runs:,} runs x {_usd(p['scheduler_invocation'])} (inside the free 14M)"
        ),
        "Lambda (planner)": Figure(runs * planner.value, f"{runs:,} x ({planner.formula})"),
        "SQS": Figure(
            runs * sqs_calls * p["sqs_request"], f"{runs:,} x {sqs_calls} requests x {_usd(p['sqs_request'])}"
        ),
        "Lambda (workers, nothing due)": Figure(
            runs * shards * worker.value, f"{runs:,} x {shards} x ({worker.formula})"
        ),
        "Secrets Manager": Figure(d["secrets"] * p["secret_month"], f"{d['secrets']} secrets x ${p['secret_month']:g}"),
    }


# --- report ---------------------------------------------------------------------------------------


def duration(seconds: float) -> str:
    if seconds >= 2 * DAY:
        return f"{seconds / DAY:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s"


def _cost_table(title: str, parts: dict[str, Figure], unit: str = "USD per million codes", scale: float = 1e6):
    usd = total(parts)
    lines = [f"#### {title}: ${usd * scale:,.2f} {unit.removeprefix('USD ')}", ""]
    lines += [f"| part | formula | {unit} |", "|---|---|---:|"]
    lines += [f"| {name} | {part.formula} | {part.value * scale:,.3f} |" for name, part in parts.items()]
    return [*lines, f"| **total** | | **{usd * scale:,.3f}** |", ""]


def total(parts: dict[str, Figure]) -> float:
    return sum(part.value for part in parts.values())


def report(inputs: dict[str, Any], path: Path = INPUTS, with_inputs: bool = True) -> str:
    """The whole Markdown; docs/scale.md quotes it without the inputs table (`--results-only`)."""
    n, d = inputs["volume"]["deliveries"], inputs["design"]
    bounds = stage_bounds(inputs)
    units = night_write_units(inputs)
    lines = [f"### The night: {n:,} rotations, {d['shards']} shards, SES at {inputs['quotas']['ses_send_rate']}/s", ""]
    lines += ["| stage | formula | time |", "|---|---|---:|"]
    lines += [f"| {name} | {figure.formula} | {duration(figure.value)} |" for name, figure in bounds.items()]
    times = rotation_time(inputs)
    lines += [
        f"| **codes rotated** | max(rotation writes, index, workers) | **{duration(times['codes rotated'])}** |",
        f"| **emails out: the night** | max(every stage); bottleneck: {bottleneck(times)} | "
        f"**{duration(times['total'])}** |",
        "",
        f"Per delivery: {units['rotation'] + units['sent mark']} table write units ({units['rotation']} rotation,"
        f" {units['sent mark']} sent mark: {inputs['sizes']['item_kb']:g} KB items in transactions),"
        f" {units['due-index']} due-index write units (delete + put), {d['stream_records_per_code']} stream records.",
        "",
        "| SES msg/s | table | due-index | workers | email function | SES | codes rotated | night | bottleneck |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for rate in inputs["quotas"]["ses_rates"]:
        t = rotation_time(inputs, rate)
        cells = " | ".join(duration(t[name]) for name in (TABLE, INDEX, WORKERS, EMAIL_FN, SES_RATE))
        lines.append(
            f"| {rate:,} | {cells} | {duration(t['codes rotated'])} | **{duration(t['total'])}** | {bottleneck(t)} |"
        )
    lines += ["", "| what if | night | bottleneck |", "|---|---:|---|"]
    for scenario in inputs.get("scenarios", []):
        t = rotation_time(with_changes(inputs, scenario["set"]))
        lines.append(f"| {scenario['name']} | {duration(t['total'])} | {bottleneck(t)} |")
    lines += ["", "### Costs (USD, us-east-1 list prices)", ""]
    lines += _cost_table("Verified code, courier known", cost_per_verification(inputs))
    lines += [
        f"Without a known courier (a plain conditional UpdateItem, no budget check):"
        f" ${total(cost_per_verification(inputs, courier=False)) * 1e6:,.2f} per million codes.",
        "",
    ]
    lines += _cost_table("Issued code (registration + email)", cost_per_issued_code(inputs))
    lines += _cost_table("Re-issued code (nightly rotation + email)", cost_per_rotation(inputs))
    lines += _cost_table("Integration events of a re-issued code", cost_of_events_per_rotation(inputs))
    lines += _cost_table("Fixed, whatever the volume", fixed_costs(inputs), "USD per month", 1)
    timing = events_time(inputs)
    lines += ["### Integration events of the night", "", "| stage | formula | time |", "|---|---|---:|"]
    lines += [f"| {name} | {figure.formula} | {duration(figure.value)} |" for name, figure in timing.items()]
    lines += [
        f"| **events on the bus** | max(publisher, PutEvents quota) |"
        f" **{duration(max(f.value for f in timing.values()))}** |",
        "",
    ]
    if with_inputs:
        known = sources(path)
        lines += ["### Inputs", "", "| input | value | source |", "|---|---:|---|"]
        for section, values in inputs.items():
            if isinstance(values, dict):
                lines += [
                    f"| {section}.{key} | {_plain(v)} | {known.get(f'{section}.{key}', '')} |"
                    for key, v in values.items()
                ]
    return "\n".join(lines).rstrip("\n") + "\n"


if __name__ == "__main__":
    paths = [Path(arg) for arg in sys.argv[1:] if not arg.startswith("--")]
    source = paths[0] if paths else INPUTS
    print(report(load(source), source, with_inputs="--results-only" not in sys.argv), end="")
