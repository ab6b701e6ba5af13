"""The orders resource: create, get, list, and what invalid input gets."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

ORDER: dict[str, Any] = {
    "customer_id": "customer-42",
    "items": [
        {"sku": "BOOK-1", "quantity": 2, "unit_price": "12.50"},
        {"sku": "PEN-7", "quantity": 1, "unit_price": "1.99"},
    ],
}


def _create(client: TestClient, **changes: Any) -> dict[str, Any]:
    response = client.post("/api/v1/orders", json={**ORDER, **changes})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


class TestCreate:
    def test_returns_201_with_the_stored_order_and_its_location(self, client: TestClient) -> None:
        """A valid order is stored, totalled, and its URL given in Location."""
        response = client.post("/api/v1/orders", json=ORDER)
        assert response.status_code == 201
        order = response.json()
        assert uuid.UUID(order["id"])
        assert order["customer_id"] == "customer-42"
        assert order["total"] == "26.99"
        assert order["status"] == "pending"
        assert response.headers["location"] == f"/api/v1/orders/{order['id']}"

    def test_rejects_an_invalid_body_with_422_naming_the_field(self, client: TestClient) -> None:
        """Validation errors say which field is wrong, and nothing is stored."""
        bad_item = {"sku": "BOOK-1", "quantity": 0, "unit_price": "1.00"}
        response = client.post("/api/v1/orders", json={**ORDER, "items": [bad_item]})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "items", 0, "quantity"]
        assert client.get("/api/v1/orders").json()["items"] == []

    def test_rejects_missing_items_unknown_fields_and_bad_prices(self, client: TestClient) -> None:
        """Each kind of bad body is refused with 422."""
        item = ORDER["items"][0]
        for body in (
            {"customer_id": "c"},
            {**ORDER, "items": []},
            {**ORDER, "surprise": True},
            {**ORDER, "items": [{**item, "unit_price": "-1"}]},
            {**ORDER, "items": [{**item, "unit_price": "1.001"}]},
            {**ORDER, "items": [{**item, "sku": "has space"}]},
        ):
            assert client.post("/api/v1/orders", json=body).status_code == 422, body


class TestGet:
    def test_returns_the_order_created(self, client: TestClient) -> None:
        """GET by id returns exactly what POST returned."""
        created = _create(client)
        response = client.get(f"/api/v1/orders/{created['id']}")
        assert response.status_code == 200
        assert response.json() == created

    def test_unknown_id_is_404(self, client: TestClient) -> None:
        """A well-formed id that matches no order is 404 with a reason."""
        missing = uuid.uuid4()
        response = client.get(f"/api/v1/orders/{missing}")
        assert response.status_code == 404
        assert response.json() == {"detail": f"order {missing} not found"}

    def test_malformed_id_is_422(self, client: TestClient) -> None:
        assert client.get("/api/v1/orders/not-a-uuid").status_code == 422


def _newest_first(orders: list[dict[str, Any]]) -> list[str]:
    """Ids in the order the API lists them: by (created_at, id), newest first."""
    keys = sorted((datetime.fromisoformat(o["created_at"]), uuid.UUID(o["id"])) for o in orders)
    return [str(order_id) for _, order_id in reversed(keys)]


def _walk(client: TestClient, limit: int) -> list[dict[str, Any]]:
    """Every page from the first, following next_cursor until it is null."""
    pages: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": limit}
    while True:
        response = client.get("/api/v1/orders", params=params)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        if pages[-1]["next_cursor"] is None:
            return pages
        params = {"limit": limit, "cursor": pages[-1]["next_cursor"]}


class TestList:
    def test_an_empty_list_is_one_page_without_a_cursor(self, client: TestClient) -> None:
        body = client.get("/api/v1/orders").json()
        assert body == {"items": [], "limit": 20, "next_cursor": None}

    def test_the_cursor_walks_every_order_once_newest_first(self, client: TestClient) -> None:
        """limit + next_cursor visit every order exactly once, in (created_at, id) order."""
        created = [_create(client, customer_id=f"c{n}") for n in range(5)]
        pages = _walk(client, limit=2)
        assert [len(page["items"]) for page in pages] == [2, 2, 1]
        assert all(page["limit"] == 2 for page in pages)
        seen = [o["id"] for page in pages for o in page["items"]]
        assert seen == _newest_first(created)
        assert pages[0]["items"][0] == client.get(f"/api/v1/orders/{seen[0]}").json()

    def test_a_full_last_page_says_there_is_no_next(self, client: TestClient) -> None:
        """The cursor is null exactly when no order is left: no empty page to fetch."""
        for n in range(4):
            _create(client, customer_id=f"c{n}")
        assert [len(page["items"]) for page in _walk(client, limit=2)] == [2, 2]
        assert [len(page["items"]) for page in _walk(client, limit=4)] == [4]

    def test_orders_created_meanwhile_neither_repeat_nor_skip_older_ones(
        self, client: TestClient
    ) -> None:
        """Unlike an offset, a cursor is a position: new orders go before it, not into it."""
        older = [_create(client, customer_id=f"old{n}") for n in range(3)]
        first = client.get("/api/v1/orders", params={"limit": 2}).json()
        for n in range(2):
            _create(client, customer_id=f"new{n}")
        rest = client.get(
            "/api/v1/orders", params={"limit": 2, "cursor": first["next_cursor"]}
        ).json()
        seen = [o["id"] for page in (first, rest) for o in page["items"]]
        assert seen == _newest_first(older)
        assert rest["next_cursor"] is None

    def test_rejects_out_of_range_limits(self, client: TestClient) -> None:
        for params in ({"limit": 0}, {"limit": 101}, {"limit": "ten"}):
            assert client.get("/api/v1/orders", params=params).status_code == 422, params

    @pytest.mark.parametrize(
        "cursor",
        [
            "not-a-cursor",
            "!!!",
            base64.urlsafe_b64encode(b'{"a": 1}').decode(),
            base64.urlsafe_b64encode(b'["2026-01-01T00:00:00", "x"]').decode(),
            # A well-formed position without a time zone is not one the API issues.
            base64.urlsafe_b64encode(
                json.dumps(["2026-01-01T00:00:00", str(uuid.UUID(int=1))]).encode()
            ).decode(),
            "A" * 5000,
        ],
    )
    def test_a_cursor_it_did_not_issue_is_400_with_the_reason(
        self, client: TestClient, cursor: str
    ) -> None:
        """A tampered or made-up cursor is the client's error, never a 500."""
        response = client.get("/api/v1/orders", params={"cursor": cursor})
        assert response.status_code == 400, response.text
        assert response.json()["detail"].startswith("cursor is not one this API issued")
