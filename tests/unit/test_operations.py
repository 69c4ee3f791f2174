"""The operations table agrees with Amazon's models and with the emulator's usage plans."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from spapi_emulator.config import DEFAULT_RATE_LIMITS
from tap_spinvoices.spapi import operations
from tap_spinvoices.spapi.operations import (
    OPERATIONS,
    USAGE_PLANS,
    Operation,
    customer_invoices,
    role_for_restricted_path,
    role_of,
)

# Verbatim copies of Amazon's models (tests/spapi_models/SOURCE.md says where from).
MODELS = Path(__file__).resolve().parents[1] / "spapi_models"
# "| Rate (requests per second) | Burst |\n| ---- | ---- |\n| 1 | 10 |" in a description.
USAGE_PLAN_ROW = re.compile(
    r"\|\s*Rate[^|]*\|\s*Burst\s*\|\s*\|[-\s|]*\|\s*([\d.]+)\s*\|\s*(\d+)\s*\|"
)


@cache
def model(name: str) -> dict[str, Any]:
    return json.loads((MODELS / name).read_text(encoding="utf-8"))


def model_operation(operation: Operation) -> dict[str, Any]:
    return model(operation.model)["paths"][operation.path][operation.method.lower()]


def by_id(operation: Operation) -> str:
    return f"{operation.name}:{operation.path}"


class TestAgainstTheModels:
    @pytest.mark.parametrize("operation", OPERATIONS, ids=by_id)
    def test_method_and_path_belong_to_the_operation_id(self, operation):
        assert model_operation(operation)["operationId"] == operation.name

    @pytest.mark.parametrize(
        "operation", [o for o in OPERATIONS if o.plan_source == o.model], ids=by_id
    )
    def test_usage_plan_is_the_one_printed_in_the_model(self, operation):
        match = USAGE_PLAN_ROW.search(model_operation(operation)["description"])
        assert match is not None, "the model prints no usage plan: cite another source"
        assert operation.plan.rate == float(match.group(1))
        assert operation.plan.burst == int(match.group(2))

    @pytest.mark.parametrize(
        "operation", [o for o in OPERATIONS if o.plan_source != o.model], ids=by_id
    )
    def test_a_plan_not_in_the_vendored_model_cites_a_public_url(self, operation):
        assert operation.plan_source.startswith("https://")
        assert USAGE_PLAN_ROW.search(model_operation(operation)["description"]) is None

    @pytest.mark.parametrize("operation", OPERATIONS, ids=by_id)
    def test_roles_are_sourced(self, operation):
        assert operation.role_source.startswith("https://")


class TestUsagePlans:
    @pytest.mark.parametrize(
        ("operation", "rate", "burst"),
        [
            ("getCustomerInvoices", 10, 10),
            ("createRestrictedDataToken", 1, 10),
            ("getInvoicesExports", 0.1, 20),
            ("getInvoicesExport", 2, 15),
            ("getInvoicesDocument", 0.0167, 1),
            ("createInvoicesExport", 0.167, 1),
            ("getInvoices", 0.1, 20),
        ],
    )
    def test_table_matches_the_sp_api_models(self, operation, rate, burst):
        plan = USAGE_PLANS[operation]
        assert plan.rate == pytest.approx(rate, rel=0.01)
        assert plan.burst == burst

    def test_operations_sharing_an_id_share_a_plan(self):
        for operation in OPERATIONS:
            assert USAGE_PLANS[operation.name] == operation.plan

    @pytest.mark.parametrize("operation", OPERATIONS, ids=by_id)
    def test_the_emulator_enforces_the_same_plan(self, operation):
        # Two independent statements of Amazon's plans: a drift in either shows here.
        rate, burst = DEFAULT_RATE_LIMITS[operation.name]
        assert (operation.plan.rate, operation.plan.burst) == (rate, burst)


class TestLookups:
    @pytest.mark.parametrize("version", ["2021-12-28", "v1"])
    def test_customer_invoices_path_carries_the_version(self, version):
        operation = customer_invoices(version)
        assert operation.path == f"/vendor/directFulfillment/shipping/{version}/customerInvoices"
        assert operation.restricted

    def test_unknown_customer_invoices_version_is_refused(self):
        with pytest.raises(ValueError, match="2020-01-01"):
            customer_invoices("2020-01-01")

    def test_path_parameters_are_filled_in(self):
        path = operations.GET_INVOICES_EXPORT.path_for(exportId="4bdd8293")
        assert path == "/tax/invoices/2024-06-19/exports/4bdd8293"

    def test_a_missing_path_parameter_is_refused(self):
        with pytest.raises(ValueError, match="missing"):
            operations.GET_INVOICES_DOCUMENT.path_for()

    def test_an_unknown_path_parameter_is_refused(self):
        with pytest.raises(ValueError, match="exportId"):
            operations.GET_INVOICES_DOCUMENT.path_for(exportId="x")

    def test_roles_by_operation_id(self):
        assert role_of("getCustomerInvoices") == "Direct-to-Consumer Shipping (Restricted)"
        assert role_of("getInvoicesDocument") == "Tax Invoicing (Restricted)"
        assert role_of("createRestrictedDataToken") is None
        assert role_of("noSuchOperation") is None

    def test_only_customer_invoices_paths_need_an_rdt(self):
        restricted = {o.path for o in OPERATIONS if o.restricted}
        assert restricted == {
            "/vendor/directFulfillment/shipping/v1/customerInvoices",
            "/vendor/directFulfillment/shipping/2021-12-28/customerInvoices",
        }
        assert role_for_restricted_path(operations.GET_CUSTOMER_INVOICES_V1.path) == (
            "Direct-to-Consumer Shipping (Restricted)"
        )
        assert role_for_restricted_path(operations.GET_INVOICES.path) is None
