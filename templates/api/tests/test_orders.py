"""The orders resource: create, get, list, and what invalid input gets."""

from __future__ import annotations

import uuid
from typing import Any

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
        assert client.get("/api/v1/orders").json()["total"] == 0

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


class TestList:
    def test_pages_newest_first_with_the_total(self, client: TestClient) -> None:
        """limit/offset walk the list newest first; total counts every order."""
        ids = [_create(client, customer_id=f"c{n}")["id"] for n in range(5)]
        first = client.get("/api/v1/orders", params={"limit": 2}).json()
        second = client.get("/api/v1/orders", params={"limit": 2, "offset": 2}).json()
        last = client.get("/api/v1/orders", params={"limit": 2, "offset": 4}).json()
        assert first["total"] == second["total"] == 5
        assert (first["limit"], first["offset"], second["offset"]) == (2, 0, 2)
        seen = [o["id"] for page in (first, second, last) for o in page["items"]]
        assert seen == list(reversed(ids))

    def test_rejects_out_of_range_paging(self, client: TestClient) -> None:
        for params in ({"limit": 0}, {"limit": 101}, {"offset": -1}):
            assert client.get("/api/v1/orders", params=params).status_code == 422, params
