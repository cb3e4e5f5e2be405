"""The million-parcel arithmetic of docs/scale.md (scripts/million.py): the claims it makes hold."""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[2]
_SCRIPT = _ROOT / "scripts" / "million.py"
_spec = importlib.util.spec_from_file_location("million", _SCRIPT)
assert _spec and _spec.loader
million = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(million)

COSTS = ["cost_per_verification", "cost_per_issued_code", "cost_per_rotation", "fixed_costs"]


@pytest.fixture
def inputs():
    return million.load()


@pytest.mark.parametrize("rate", [14, 100, 500, 1000, 5000])
def test_the_night_lasts_as_long_as_its_slowest_stage(inputs, rate):
    times = million.rotation_time(inputs, ses_rate=rate)
    stages = [times[name] for name in million.STAGES]
    assert times["total"] == max(stages)
    assert times[million.bottleneck(times)] == times["total"]
    # The codes are rotated before (or when) the last email is out.
    assert times["codes rotated"] <= times["total"]


def test_twice_the_ses_rate_halves_the_ses_bound_and_nothing_else(inputs):
    slow, fast = million.rotation_time(inputs, 100), million.rotation_time(inputs, 200)
    assert fast[million.SES_RATE] == pytest.approx(slow[million.SES_RATE] / 2)
    for name in (million.TABLE, million.INDEX, million.WORKERS, million.EMAIL_FN):
        assert fast[name] == slow[name]


def test_at_a_new_accounts_rate_ses_is_the_bottleneck(inputs):
    times = million.rotation_time(inputs, 14)
    assert million.bottleneck(times) == million.SES_RATE
    assert times["total"] == pytest.approx(inputs["volume"]["deliveries"] / 14)


def test_a_rotation_moves_its_due_index_entry_a_delete_and_a_put(inputs):
    units = million.night_write_units(inputs)
    assert units["due-index"] == 2 * million.write_units(inputs["sizes"]["index_entry_kb"])
    assert units["rotation"] == 2 * math.ceil(inputs["sizes"]["item_kb"])


def test_a_transaction_costs_twice_the_write_units_of_a_plain_write_per_started_kb():
    assert million.write_units(2, transactional=True) == 2 * million.write_units(2) == 4
    assert million.write_units(0.3) == 1 and million.write_units(1.01) == 2
    assert million.read_units(2) == 1 and million.read_units(30, strongly_consistent=False) == 4


def test_write_sharding_the_index_relieves_its_partitions(inputs):
    fast = {"quotas.ses_send_rate": 1000, "design.parallelization_factor": 10}
    one = million.rotation_time(million.with_changes(inputs, {**fast, "design.shards": 1}))
    many = million.rotation_time(million.with_changes(inputs, fast))
    n = inputs["volume"]["deliveries"]
    assert one[million.INDEX] == pytest.approx(n * 2 / 1000)  # a single partition: 1,000 WU/s
    assert one[million.INDEX] > 10 * many[million.INDEX]
    assert million.bottleneck(one) == million.INDEX
    assert million.bottleneck(many) != million.INDEX


def test_the_email_function_is_capped_by_its_reserved_concurrency(inputs):
    capped = million.with_changes(inputs, {"design.parallelization_factor": 10})  # 4 x 10 = 40 > 20
    concurrency, _ = million.email_function_rate(capped)
    assert concurrency == inputs["design"]["email_concurrency"]
    uncapped = million.with_changes(capped, {"design.email_concurrency": 1000})
    assert million.rotation_time(uncapped)[million.EMAIL_FN] == pytest.approx(
        million.rotation_time(capped)[million.EMAIL_FN] / 2
    )


def test_a_24_hour_quota_below_the_night_costs_days(inputs):
    n = inputs["volume"]["deliveries"]
    assert million.rotation_time(million.with_changes(inputs, {"quotas.ses_daily_quota": n}))[million.SES_DAY] == 0
    short = million.rotation_time(million.with_changes(inputs, {"quotas.ses_daily_quota": n // 2}))
    assert short[million.SES_DAY] == pytest.approx(million.DAY)
    assert million.bottleneck(short) == million.SES_DAY


@pytest.mark.parametrize("cost", COSTS)
def test_every_cost_is_positive_and_its_total_is_the_sum_of_its_parts(inputs, cost):
    parts = getattr(million, cost)(inputs)
    assert parts and all(part.value > 0 and part.formula for part in parts.values())
    assert million.total(parts) == pytest.approx(sum(part.value for part in parts.values()))
    scale = 1 if cost == "fixed_costs" else 1e6
    assert f"${million.total(parts) * scale:,.2f} per" in million.report(inputs)


def test_a_known_courier_adds_exactly_its_budget_check(inputs):
    with_courier = million.cost_per_verification(inputs, courier=True)
    without = million.cost_per_verification(inputs, courier=False)
    sizes, price = inputs["sizes"], inputs["prices"]["dynamodb_write_unit"]
    extra = million.write_units(sizes["courier_item_kb"], True) + million.write_units(sizes["item_kb"], True)
    extra -= million.write_units(sizes["item_kb"])
    assert million.total(with_courier) - million.total(without) == pytest.approx(extra * price)


def test_email_is_most_of_what_a_code_costs(inputs):
    for parts in (million.cost_per_issued_code(inputs), million.cost_per_rotation(inputs)):
        assert parts["SES"].value > million.total(parts) / 2


def test_every_input_says_where_it_comes_from(inputs):
    known = million.sources()
    for section, values in inputs.items():
        if isinstance(values, dict):
            for key in values:
                assert known.get(f"{section}.{key}"), f"{section}.{key} has no source comment"


def test_every_what_if_changes_existing_inputs(inputs):
    assert inputs["scenarios"]
    for scenario in inputs["scenarios"]:
        million.with_changes(inputs, scenario["set"])  # raises KeyError on a misspelt input
    with pytest.raises(KeyError):
        million.with_changes(inputs, {"quotas.no_such_quota": 1})


def test_the_script_runs_from_the_command_line():
    out = subprocess.run(
        [sys.executable, str(_SCRIPT)], cwd=_ROOT, capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert "### Inputs" in out and "| prices.ses_email |" in out


def test_docs_scale_quotes_what_the_script_prints_now(inputs):
    doc = (_ROOT / "docs" / "scale.md").read_text(encoding="utf-8")
    assert million.report(inputs, with_inputs=False) in doc, (
        "rerun: python scripts/million.py --results-only, and paste its output into docs/scale.md"
    )


def test_events_cost_one_putevents_entry_per_started_64_kb_chunk(inputs):
    small = million.cost_of_events_per_rotation(inputs)["EventBridge PutEvents"].value
    inputs["sizes"]["event_kb"] = 65
    large = million.cost_of_events_per_rotation(inputs)["EventBridge PutEvents"].value
    assert small == inputs["design"]["events_per_rotation"] * inputs["prices"]["eventbridge_event"]
    assert large == 2 * small


def test_the_publisher_is_bounded_by_its_concurrency_and_the_bus_by_the_putevents_quota(inputs):
    timing = million.events_time(inputs)
    d = inputs["design"]
    batches = min(d["stream_shards"] * d["publisher_parallelization"], d["publisher_concurrency"])
    records = inputs["volume"]["deliveries"] * d["stream_records_per_code"]
    expected = records / (batches * d["stream_batch"] / inputs["lambda"]["publisher_batch_seconds"])
    assert timing["publisher"].value == pytest.approx(expected)
    inputs["quotas"]["put_events_per_second"] /= 2
    assert million.events_time(inputs)["PutEvents quota"].value == pytest.approx(2 * timing["PutEvents quota"].value)


def test_the_fixed_costs_count_every_secret_the_template_keeps(inputs):
    from local.template import resources

    kept = [name for name, r in resources().items() if r["Type"] == "AWS::SecretsManager::Secret"]
    assert inputs["design"]["secrets"] == len(kept), kept
