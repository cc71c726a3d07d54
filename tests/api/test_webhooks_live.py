"""Webhooks end to end: registration, persistence, delivery, signatures, retries, redirects."""

from __future__ import annotations

import base64
import re
import time

import pytest

from abng.api.webhooks import signing
from tests.api.conftest import seeded_sessions
from tests.api.receiver import Receiver
from tests.api.stack import running_stack, start_api

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def test_webhooks_end_to_end(tmp_path: pytest.TempPathFactory) -> None:
    args = ["--webhook-backoff", "0.1", "--webhook-attempts", "3"]
    with (
        running_stack(tmp_path, sessions=seeded_sessions(), args=args) as api,
        Receiver() as good,
        Receiver(statuses=[500, 503]) as flaky,
        Receiver(statuses=[302, 302, 302], redirect_to="http://127.0.0.1:9/elsewhere") as moved,
    ):  # type: ignore[arg-type]
        token = api.login("admin")
        with api.client(token) as c:
            r = c.post(
                "/api/v1/webhooks",
                json={
                    "url": good.url(),
                    "events": ["session.up", "session.down", "session.rate_change"],
                    "secret": SECRET,
                },
            )
            assert r.status_code == 200, r.text
            hook = r.json()["data"]
            assert re.fullmatch(r"[0-9a-f]{8}", hook["id"])
            assert hook == {
                "id": hook["id"],
                "url": good.url(),
                "events": ["session.up", "session.down", "session.rate_change"],
                "signed": True,
            }
            plain = c.post(
                "/api/v1/webhooks", json={"url": flaky.url("/f"), "events": ["session.down"]}
            ).json()
            c.post("/api/v1/webhooks", json={"url": moved.url("/m"), "events": ["session.down"]})
            listing = c.get("/api/v1/webhooks").json()["data"]
            assert listing["count"] == 3 and "secret" not in str(listing)

            assert c.delete("/api/v1/subscribers/2").status_code == 200
            assert (
                c.put(
                    "/api/v1/subscribers/3/rate", json={"rate_down": "50mbit", "rate_up": "10mbit"}
                ).status_code
                == 200
            )

        got = good.wait(2)
        events = {m["json"]["event"]: m for m in got}
        down = events["session.down"]["json"]
        assert down["data"] == {"id": 2, "username": "user2", "reason": "admin_reset"}
        assert ISO_Z.match(down["timestamp"])
        rate = events["session.rate_change"]["json"]["data"]
        assert rate == {
            "id": 3,
            "username": "user3",
            "rate_down": 50_000_000,
            "rate_up": 10_000_000,
            "source": "api",
        }
        for m in got:  # Standard Webhooks signature over id.timestamp.body
            h = m["headers"]
            assert h["content-type"] == "application/json"
            assert signing.verify(
                signing.secret_key(SECRET),
                h["webhook-id"],
                int(h["webhook-timestamp"]),
                m["raw"],
                h["webhook-signature"],
            )
            assert not signing.verify(
                b"wrong", h["webhook-id"], int(h["webhook-timestamp"]), m["raw"], h["webhook-signature"]
            )

        # flaky: 500, 503, then 200 -> delivered on the third attempt, unsigned
        flaky_got = flaky.wait(1)
        assert [s for _, s in flaky.attempts] == [500, 503, 200]
        assert "webhook-signature" not in flaky_got[0]["headers"]
        assert flaky_got[0]["json"]["event"] == "session.down"
        # redirects are not followed: 3 attempts at /m, none elsewhere, nothing delivered
        deadline = time.monotonic() + 5
        while len(moved.attempts) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [p for p, _ in moved.attempts] == ["/m", "/m", "/m"]
        assert moved.received == []

        # registrations survive an API restart; delete gives 404 the second time
        api.stop()
        again = start_api(api.abngd, port=api.port, args=args)
        try:
            with again.client(again.login("admin")) as c:
                assert c.get("/api/v1/webhooks").json()["data"]["count"] == 3
                assert c.delete(f"/api/v1/webhooks/{plain['data']['id']}").status_code == 200
                r = c.delete(f"/api/v1/webhooks/{plain['data']['id']}")
                assert r.status_code == 404 and plain["data"]["id"] in r.json()["detail"]
                assert c.get("/api/v1/webhooks").json()["data"]["count"] == 2
                # delivery works after the restart too
                assert c.delete("/api/v1/subscribers/4").status_code == 200
            assert any(m["json"]["data"].get("id") == 4 for m in good.wait(3))
        finally:
            again.stop()
        mode = (api.abngd.config_dir / "webhooks.json").stat().st_mode & 0o777
        assert mode == 0o600
