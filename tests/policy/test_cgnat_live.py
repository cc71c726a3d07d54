"""A live abngd with only qos and cgnat enabled (no access protocol): CGNAT steering from start-up,
per-session bypass, and a commit that disables it; read back with ip -j and nft -j."""

from __future__ import annotations

from pathlib import Path

from abng.core.model import SessionType
from tests.helpers.daemon import sample_session
from tests.helpers.netns import delete_netns, ns_run
from tests.policy.conftest import (
    HANDOFF_GW,
    add_handoff,
    base_config,
    make_netns,
    nft_bypass,
    nft_table,
    requires_root,
    routes188,
    rules,
)
from tests.policy.live import start_in_ns, write_config

pytestmark = requires_root


def table_routes(ns: str, table: str) -> list[tuple[str, str | None]]:
    import json

    out = json.loads(ns_run(ns, "ip", "-j", "route", "show", "table", table).stdout or "[]")
    return [(r["dst"], r.get("gateway")) for r in out]


def test_cgnat_from_startup_bypass_and_disable(tmp_path: Path) -> None:
    ns = make_netns("pcg")
    handle = None
    try:
        ns_run(ns, "ip", "tuntap", "add", "abng0", "mode", "tun")
        ns_run(ns, "ip", "link", "set", "abng0", "up")
        add_handoff(ns)
        cfg = base_config()
        cfg["cgnat"]["enabled"] = True
        write_config(tmp_path, cfg)
        sessions = [
            sample_session(1, SessionType.PPPOE, ip_address="100.64.5.1"),
            sample_session(2, SessionType.DHCP, ip_address="100.64.5.2", cgnat_bypass=True),
            sample_session(3, SessionType.DHCP, ip_address="198.51.100.3"),
        ]
        handle = start_in_ns(ns, tmp_path, sessions)
        system = handle.call("show.system")["dataplane"]
        assert system["cgnat"] == {"enabled": True, "error": None} and system["status"] == "ok"
        assert [r["fwmark"] for r in rules(ns) if r.get("table") == "100"] == ["0x64"]
        assert table_routes(ns, "100") == [("default", HANDOFF_GW)]
        assert nft_bypass(ns) == {"100.64.5.2"}
        steered = {s["id"]: s["vrf_steered"] for s in handle.call("show.subscribers")}
        assert steered == {1: True, 2: False, 3: False}
        shown = handle.call("show.routes")
        assert {"destination": "0.0.0.0/0", "gateway": HANDOFF_GW, "interface": "pho0", "protocol": "cgnat",
                "table": 100, "session_id": None} in shown  # fmt: skip
        assert len(routes188(ns)) == 3

        handle.call("config.set", {"path": "cgnat enabled", "value": False})
        assert handle.call("config.commit", {"user": "test"})["committed"] is True
        assert nft_table(ns) == [] and [r for r in rules(ns) if r.get("table") == "100"] == []
        assert table_routes(ns, "100") == []
        assert not any(s["vrf_steered"] for s in handle.call("show.subscribers"))
        assert len(routes188(ns)) == 3  # subscriber routes are not CGNAT's
        assert handle.call("show.system")["dataplane"]["cgnat"]["enabled"] is False
    finally:
        if handle is not None:
            handle.stop()
        delete_netns(ns)
