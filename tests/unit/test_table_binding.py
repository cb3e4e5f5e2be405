"""The models are bound to their table in one place (`model.bind`, called by wiring): building an adapter
never changes them, binding again to the same place keeps pynamodb's connection, and binding elsewhere
gives a connection for the new place. The verify handler loads only the adapters its path uses."""

from __future__ import annotations

import pytest
from delivery_otp.adapters.deliveries import DeliveryRepository
from delivery_otp.adapters.suppression import SuppressionList
from delivery_otp.adapters.table import Table
from delivery_otp.model import CourierBudgetModel, DeliveryModel, bind

from tests.support.imports import modules_loaded_by

MODELS = (DeliveryModel, CourierBudgetModel)


class _NoKey:
    def key(self) -> bytes:
        raise AssertionError("building an adapter reads no key")


SETTINGS = ("table_name", "host", "region")


def bound(model) -> tuple:
    return tuple(getattr(model.Meta, name) for name in SETTINGS)


@pytest.fixture
def models():
    """The models' settings and connections as they were, put back afterwards (other tests use them)."""
    saved = [(bound(model), model._connection) for model in MODELS]
    yield
    for model, (settings, connection) in zip(MODELS, saved, strict=True):
        for name, value in zip(SETTINGS, settings, strict=True):
            setattr(model.Meta, name, value)
        model._connection = connection


def test_building_the_adapters_leaves_the_models_as_they_are(models):
    # Given models bound to one table, with their connections made
    bind("deliveries-a", "http://localhost:4566", "eu-south-1")
    before = [(bound(model), model._get_connection()) for model in MODELS]
    # When adapters are built on another table
    other = Table("deliveries-b")
    DeliveryRepository(other)
    SuppressionList(other, _NoKey())
    # Then neither the models' settings nor their connections changed
    assert [(bound(model), model._connection) for model in MODELS] == before


def test_binding_again_to_the_same_place_keeps_the_connection(models):
    bind("deliveries-a", "http://localhost:4566", "eu-south-1")
    connections = [model._get_connection() for model in MODELS]
    bind("deliveries-a", "http://localhost:4566", None)  # no region given: the bound one stays
    assert [model._get_connection() for model in MODELS] == connections
    assert [bound(model) for model in MODELS] == [("deliveries-a", "http://localhost:4566", "eu-south-1")] * 2


@pytest.mark.parametrize(
    ("table_name", "host", "region"),
    [
        ("deliveries-b", "http://localhost:4566", "eu-south-1"),
        ("deliveries-a", "http://localhost:5000", "eu-south-1"),
        ("deliveries-a", None, "eu-west-1"),
    ],
)
def test_binding_elsewhere_gives_a_connection_for_the_new_place(models, table_name, host, region):
    bind("deliveries-a", "http://localhost:4566", "eu-south-1")
    old = [model._get_connection() for model in MODELS]
    bind(table_name, host, region)
    for model, connection in zip(MODELS, old, strict=True):
        fresh = model._get_connection()
        assert fresh is not connection
        assert (fresh.table_name, fresh.connection.host, fresh.connection.region) == (table_name, host, region)


def test_the_verify_handler_loads_only_the_adapters_its_path_uses():
    loaded = modules_loaded_by("verify", ("delivery_otp.adapters.",))
    path = {"deliveries", "prepared", "courier_budgets", "table", "clients"}
    assert loaded <= {f"delivery_otp.adapters.{name}" for name in path}
