"""Subscriber /32 routes, read back with `ip -j route`."""

from __future__ import annotations

import json

from abng.dataplane.routes import RTPROT_ABNG, RouteManager
from tests.dataplane.dp_util import requires_root, shaper_ns
from tests.helpers.netns import ns_run

__all__ = ["shaper_ns"]


def _ours(ns: str) -> list[dict[str, object]]:
    out = json.loads(ns_run(ns, "ip", "-j", "route", "show", "proto", str(RTPROT_ABNG)).stdout or "[]")
    return list(out)


@requires_root
def test_routes_add_list_remove_flush(shaper_ns: tuple[str, str]) -> None:
    ns, dev = shaper_ns
    rm = RouteManager(netns=ns)
    try:
        assert rm.add_subscriber_route("100.64.0.10", dev) == 0
        assert rm.add_subscriber_route("100.64.0.10", dev) == 0  # idempotent
        assert rm.add_many([("100.64.0.11", dev), ("100.64.0.12", dev)]) == [0, 0]
        routes = _ours(ns)
        assert sorted(r["dst"] for r in routes) == ["100.64.0.10", "100.64.0.11", "100.64.0.12"]
        assert {r["dev"] for r in routes} == {dev} and {r["scope"] for r in routes} == {"link"}
        listed = rm.list_subscriber_routes()
        assert sorted(r.ip for r in listed) == ["100.64.0.10", "100.64.0.11", "100.64.0.12"]
        assert {r.ifname for r in listed} == {dev}
        ns_run(ns, "ip", "route", "add", "100.64.9.9/32", "dev", dev)  # not ours: never touched
        assert rm.remove_subscriber_route("100.64.0.10") == 0
        assert rm.remove_subscriber_route("100.64.0.10") == 0
        assert rm.flush_stale(["100.64.0.12"]) == 1
        assert [r["dst"] for r in _ours(ns)] == ["100.64.0.12"]
        assert "100.64.9.9" in ns_run(ns, "ip", "route").stdout
        assert rm.add_subscriber_route("100.64.0.13", "nosuchdev0") == 19
    finally:
        rm.close()
