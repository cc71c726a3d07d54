"""abngd going away and coming back: 503 meanwhile, recovery without restarting the API."""

from __future__ import annotations

import time
from pathlib import Path

from tests.api.stack import config, running_api
from tests.helpers.daemon import running_abngd, start_abngd


def test_abngd_restart(tmp_path: Path) -> None:
    with running_abngd(tmp_path, config()) as d, running_api(d) as api:
        token = api.login("admin")
        with api.client(token) as c:
            assert c.get("/api/v1/system/health").status_code == 200
            d.stop()
            r = c.get("/api/v1/system/health")
            assert r.status_code == 503 and r.json() == {"detail": "abngd is not reachable"}
            assert r.headers["retry-after"] == "5"
            deadline = time.monotonic() + 5
            while c.get("/api/v1/health").status_code != 503 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert c.get("/api/v1/health").json() == {"status": "unavailable"}
            again = start_abngd(d.config_dir, d.run_dir, d.state_dir)
            try:
                assert c.get("/api/v1/system/health").status_code == 200  # reconnects on the next call
                assert c.get("/api/v1/subscribers").json()["data"]["count"] == 0
                deadline = time.monotonic() + 10
                while c.get("/api/v1/health").status_code != 200 and time.monotonic() < deadline:
                    time.sleep(0.1)
                assert c.get("/api/v1/health").json() == {"status": "ok"}
                # the token and the users survived: logins and config reads work again
                assert api.login("operator")
            finally:
                again.stop()
