"""The million-parcel arithmetic of docs/scale.md (scripts/million.py): the claims it makes hold."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import pytest

_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "million.py"
_spec = importlib.util.spec_from_file_location("million", _SCRIPT)
assert _spec and _spec.loader
million = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(million)


@pytest.fixture
def inputs():
    return million.load()


def test_the_night_lasts_as_long_as_its_slowest_stage(inputs):
    times = million.rotation_time(inputs, ses_rate=100)
    stages = {k: v for k, v in times.items() if k != "total"}
    assert times["total"] == max(stages.values())
    assert million.bottleneck(times) == "SES sending rate"


def test_twice_the_ses_rate_halves_the_ses_bound(inputs):
    slow, fast = million.rotation_time(inputs, 100), million.rotation_time(inputs, 200)
    assert fast["SES sending rate"] == pytest.approx(slow["SES sending rate"] / 2)


def test_more_shards_relieve_the_index_partitions(inputs):
    few = copy.deepcopy(inputs)
    few["design"]["shards"] = 1
    one, sixteen = million.rotation_time(few, 1000), million.rotation_time(inputs, 1000)
    assert one["due-index partitions"] == pytest.approx(16 * sixteen["due-index partitions"])
    # With no sharding the index, not SES, would set the pace at a fast sending rate.
    assert million.bottleneck(one) == "due-index partitions"


def test_a_transaction_costs_twice_the_write_units_of_a_plain_write():
    assert million.write_units(2, transactional=True) == 2 * million.write_units(2)
    assert million.write_units(0.5) == 1 and million.write_units(1.01) == 2


@pytest.mark.parametrize("cost", ["cost_per_verification", "cost_per_issued_code", "cost_per_rotation"])
def test_every_cost_is_positive_and_its_total_is_the_sum_of_its_parts(inputs, cost):
    parts = getattr(million, cost)(inputs)
    assert all(value > 0 for value in parts.values())
    report = million.report(inputs)
    total = sum(parts.values())
    assert f"${total * 1e6:,.2f} per million" in report


def test_email_is_most_of_what_an_issued_code_costs(inputs):
    parts = million.cost_per_issued_code(inputs)
    assert parts["SES"] > sum(parts.values()) / 2


def test_docs_scale_quotes_what_the_script_prints_now(inputs):
    doc = (_SCRIPT.parents[1] / "docs" / "scale.md").read_text()
    assert million.report(inputs) in doc, "rerun: python scripts/million.py, and paste its output into docs/scale.md"
