"""Login with Amazon, restricted data tokens, and the 403s of getCustomerInvoices."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from .conftest import DF_2021, DF_V1, Api, FakeClock, day, iso

if TYPE_CHECKING:
    from spapi_emulator import EmulatorServer

DENIED = "Access to requested resource is denied."
EXPIRED = "The access token you provided has expired."
INVALID = "The access token you provided is revoked, malformed or invalid."
PARAMS = {"createdAfter": iso(day(1)), "createdBefore": iso(day(2)), "limit": "1"}


class TestLoginWithAmazon:
    def test_refresh_token_grant_returns_a_bearer_access_token(self, api: Api) -> None:
        reply = api.lwa()
        assert reply.status == 200
        body = reply.json
        assert body["access_token"].startswith("Atza|")
        assert body["token_type"] == "bearer"  # noqa: S105 - the OAuth token type
        assert body["expires_in"] == 3600
        assert body["refresh_token"] == api.emu.config.refresh_token

    def test_every_exchange_mints_a_new_random_token(self, api: Api) -> None:
        assert api.access_token() != api.access_token()

    @pytest.mark.parametrize(
        ("form", "status", "error", "description"),
        [
            pytest.param(
                {"client_secret": "rotated"},
                401,
                "invalid_client",
                "Client authentication failed",
                id="wrong-client-secret",
            ),
            pytest.param(
                {"client_id": "someone-else"},
                401,
                "invalid_client",
                "Client authentication failed",
                id="wrong-client-id",
            ),
            pytest.param(
                {"refresh_token": "Atzr|revoked"},
                400,
                "invalid_grant",
                "The request has an invalid grant parameter : refresh_token",
                id="wrong-refresh-token",
            ),
            pytest.param(
                {"grant_type": "client_credentials"},
                400,
                "unsupported_grant_type",
                "The authorization grant type is not supported by the authorization server",
                id="other-grant-type",
            ),
            pytest.param(
                {"refresh_token": None},
                400,
                "invalid_request",
                "The request is missing a required parameter : refresh_token",
                id="missing-refresh-token",
            ),
        ],
    )
    def test_bad_token_requests_get_the_lwa_error(
        self, api: Api, form: dict[str, str | None], status: int, error: str, description: str
    ) -> None:
        reply = api.lwa(**form)
        assert reply.status == status
        assert reply.json == {"error": error, "error_description": description}

    def test_lwa_is_not_throttled(self, api: Api) -> None:
        assert all(api.lwa().status == 200 for _ in range(15))


class TestRestrictedDataToken:
    @pytest.mark.parametrize("path", [DF_2021, DF_V1])
    def test_rdt_for_a_customer_invoices_path(self, api: Api, path: str) -> None:
        reply = api.rdt_reply(api.access_token(), [{"method": "GET", "path": path}])
        assert reply.status == 200
        assert reply.json["restrictedDataToken"].startswith("Atz.sprdt|")
        assert reply.json["expiresIn"] == 3600
        assert reply.headers["x-amzn-RateLimit-Limit"] == "1.0"

    @pytest.mark.parametrize(
        "resource",
        [
            pytest.param({"method": "GET", "path": DF_2021.lstrip("/")}, id="no-leading-slash"),
            pytest.param({"method": "GET", "path": DF_2021 + "?limit=5"}, id="query-string"),
            pytest.param(
                {"method": "GET", "path": "https://sellingpartnerapi-eu.amazon.com" + DF_2021},
                id="with-host",
            ),
            pytest.param({"method": "GET", "path": "/orders/v0/orders"}, id="unknown-path"),
            pytest.param({"method": "POST", "path": DF_2021}, id="wrong-method"),
        ],
    )
    def test_path_that_matches_no_restricted_operation_is_400(
        self, api: Api, resource: dict[str, str]
    ) -> None:
        reply = api.rdt_reply(api.access_token(), [resource])
        assert reply.status == 400
        assert reply.json == {
            "errors": [
                {
                    "code": "InvalidInput",
                    "message": "Could not match input arguments",
                    "details": "",
                }
            ]
        }

    def test_data_elements_on_a_direct_fulfillment_path_are_400(self, api: Api) -> None:
        resource = {
            "method": "GET",
            "path": DF_2021,
            "dataElements": ["buyerInfo", "shippingAddress"],
        }
        reply = api.rdt_reply(api.access_token(), [resource])
        assert reply.status == 400
        assert reply.error["message"] == (
            "Application does not have access to one or more requested data elements: "
            "[buyerInfo, shippingAddress]"
        )

    @pytest.mark.parametrize(
        "body",
        [{}, {"restrictedResources": []}, {"restrictedResources": [{"path": DF_2021}]}],
        ids=["no-resources", "empty-resources", "no-method"],
    )
    def test_missing_resources_are_400_invalid_request(
        self, api: Api, body: dict[str, Any]
    ) -> None:
        reply = api.request(
            "POST",
            api.emu.url + "/tokens/2021-03-01/restrictedDataToken",
            json=body,
            headers={"x-amz-access-token": api.access_token()},
        )
        assert reply.status == 400
        assert reply.error["code"] == "InvalidRequest"

    def test_missing_role_is_400_no_access(self, api: Api, emu: EmulatorServer) -> None:
        emu.reconfigure(rdt_denied=True)
        reply = api.rdt_reply(api.access_token(), [{"method": "GET", "path": DF_2021}])
        assert reply.status == 400
        assert reply.json == {
            "errors": [
                {
                    "code": "InvalidInput",
                    "message": "Application do not have access to some or all requested resource",
                    "details": "",
                }
            ]
        }

    def test_rdt_needs_a_valid_lwa_access_token(self, api: Api) -> None:
        reply = api.rdt_reply("Atza|never-issued", [{"method": "GET", "path": DF_2021}])
        assert reply.status == 403
        assert reply.error == {"code": "Unauthorized", "message": DENIED, "details": INVALID}
        assert "x-amzn-RateLimit-Limit" not in reply.headers

    def test_an_rdt_cannot_mint_another_rdt(self, api: Api) -> None:
        reply = api.rdt_reply(api.rdt(), [{"method": "GET", "path": DF_2021}])
        assert reply.status == 403
        assert reply.error["message"] == DENIED

    def test_expired_access_token_is_403_expired(self, api: Api, clock: FakeClock) -> None:
        token = api.access_token()
        clock.advance(3600.0)
        reply = api.rdt_reply(token, [{"method": "GET", "path": DF_2021}])
        assert reply.status == 403
        assert reply.error == {"code": "Unauthorized", "message": DENIED, "details": EXPIRED}


class TestCustomerInvoicesAccess:
    def test_rdt_for_the_exact_path_is_accepted(self, api: Api) -> None:
        assert api.invoices(api.rdt(DF_2021), **PARAMS).status == 200

    def test_rdt_for_another_path_is_403(self, api: Api) -> None:
        reply = api.invoices(api.rdt(DF_V1), DF_2021, **PARAMS)
        assert reply.status == 403
        assert reply.error == {"code": "Unauthorized", "message": DENIED, "details": ""}

    def test_plain_lwa_token_is_403_when_an_rdt_is_required(self, api: Api) -> None:
        reply = api.invoices(api.access_token(), **PARAMS)
        assert reply.status == 403
        assert reply.error["message"] == DENIED

    def test_plain_lwa_token_is_accepted_when_rdt_is_not_required(
        self, api: Api, emu: EmulatorServer
    ) -> None:
        emu.reconfigure(require_rdt=False)
        assert api.invoices(api.access_token(), **PARAMS).status == 200

    @pytest.mark.parametrize(
        "headers", [{}, {"x-amz-access-token": "Atz.sprdt|forged"}], ids=["absent", "unknown"]
    )
    def test_missing_or_unknown_token_is_403_invalid(
        self, api: Api, headers: dict[str, str]
    ) -> None:
        reply = api.request("GET", api.emu.url + DF_2021, params=PARAMS, headers=headers)
        assert reply.status == 403
        assert reply.error == {"code": "Unauthorized", "message": DENIED, "details": INVALID}

    def test_expired_rdt_is_403_expired(self, api: Api, clock: FakeClock) -> None:
        rdt = api.rdt()
        clock.advance(3599.0)
        assert api.invoices(rdt, **PARAMS).status == 200
        clock.advance(1.0)
        reply = api.invoices(rdt, **PARAMS)
        assert reply.status == 403
        assert reply.error == {"code": "Unauthorized", "message": DENIED, "details": EXPIRED}

    def test_token_lifetimes_follow_the_config(
        self, api: Api, emu: EmulatorServer, clock: FakeClock
    ) -> None:
        emu.reconfigure(access_token_ttl=60.0, rdt_ttl=30.0)
        rdt = api.rdt()
        clock.advance(31.0)
        assert api.invoices(rdt, **PARAMS).error["details"] == EXPIRED

    def test_auth_is_checked_before_the_query(self, api: Api) -> None:
        reply = api.invoices("Atza|bogus", createdAfter="nonsense")
        assert reply.status == 403


def test_issued_secrets_list_every_token_and_the_configured_credentials(
    api: Api, emu: EmulatorServer
) -> None:
    access = api.access_token()
    rdt = api.rdt(access_token=access)
    secrets = emu.issued_secrets()
    assert {access, rdt, emu.config.client_secret, emu.config.refresh_token} <= set(secrets)
