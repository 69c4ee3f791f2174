"""The stream schemas agree with Amazon's official models (copies in tests/spapi_models)."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tap_spinvoices.streams.customer_invoices import window_params
from tap_spinvoices.streams.schemas import load_schema
from tap_spinvoices.sync.windows import Window

# Verbatim copies of Amazon's models (tests/spapi_models/SOURCE.md says where from).
MODELS = Path(__file__).resolve().parents[1] / "spapi_models"
DF_MODELS = [
    "vendorDirectFulfillmentShipping_2021-12-28.json",
    "vendorDirectFulfillmentShippingV1.json",
]


def _model(name: str) -> dict:
    path = MODELS / name
    if not path.exists():
        pytest.fail(f"official model missing: {path}")
    return json.loads(path.read_text())


@pytest.mark.parametrize("model_name", DF_MODELS)
def test_customer_invoice_fields_match_the_model(model_name):
    model = _model(model_name)["definitions"]["CustomerInvoice"]
    schema = load_schema("customer_invoices")
    for field, spec in model["properties"].items():
        ours = schema["properties"][field]
        assert ours["type"] == spec["type"]
        assert ours.get("pattern") == spec.get("pattern")
        if model_name == DF_MODELS[0]:  # descriptions are taken from the default version
            assert spec["description"].rstrip(".") in ours["description"]
    assert set(model["required"]) <= set(schema["required"])


def test_every_record_field_is_declared_and_typed():
    schema = load_schema("customer_invoices")
    assert set(schema["required"]) <= set(schema["properties"])
    assert schema["properties"]["window_start"]["format"] == "date-time"
    assert all("type" in spec and spec.get("description") for spec in schema["properties"].values())


@pytest.mark.parametrize("model_name", DF_MODELS)
def test_list_query_parameters_match_what_the_tap_sends(model_name):
    model = _model(model_name)
    version = "v1" if "V1" in model_name else "2021-12-28"
    operation = model["paths"][f"/vendor/directFulfillment/shipping/{version}/customerInvoices"][
        "get"
    ]
    declared = {p["name"]: p for p in operation["parameters"]}
    sent = window_params(
        Window(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC)), "WH1"
    )
    assert set(sent) <= set(declared)
    assert {n for n, p in declared.items() if p.get("required")} <= set(sent)
    assert sent["limit"] == declared["limit"]["maximum"]
    assert sent["sortOrder"] in declared["sortOrder"]["enum"]
