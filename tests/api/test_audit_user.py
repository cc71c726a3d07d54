"""abngd's own audit log names the API user behind every mutating REST call."""

from __future__ import annotations

import json

from tests.api.stack import ApiHandle


def _abngd_audit(api: ApiHandle) -> list[dict]:  # type: ignore[type-arg]
    path = api.abngd.state_dir / "audit.log"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_mutating_calls_carry_the_api_user(stack: ApiHandle, admin_token: str) -> None:
    with stack.client(admin_token) as c:
        assert c.put("/api/v1/subscribers/2/rate", json={"rate_down": "20mbit"}).status_code == 200
        assert c.delete("/api/v1/subscribers/3").status_code == 200
        r = c.post("/api/v1/system/config/set", json={"path": "system timezone", "value": "UTC"})
        assert r.status_code == 200
        assert c.post("/api/v1/system/config/discard").status_code == 200
    by_method = {e["method"]: e for e in _abngd_audit(stack)}
    for method in (
        "request.subscriber.rate",
        "request.subscriber.disconnect",
        "config.set",
        "config.discard",
    ):
        assert by_method[method]["user"] == "api:admin", by_method[method]
