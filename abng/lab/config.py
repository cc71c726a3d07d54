"""The lab's abngd configuration: the embedded default (abng/config/default.yaml), adjusted.

Changes to the default, and why:

- ``demux``: the default's profiles already match the lab's VLAN plan (QinQ S-Tag 100-199,
  802.1Q 200-299, abng/lab/subscribers.py).  ``require_packets: 1`` and a high
  ``creation_rate_limit`` so that 1:1 VLANs (one per subscriber) do not slow setups down.
  With ``vlan_mode: untagged`` the demux is disabled: abngd then serves untagged subscribers on
  the trunk itself (abngd serves either untagged or tagged subscribers on one trunk, not both).
- ``aaa.pools``: /18 pools instead of /24, room for the benchmarks' 10,000 sessions.
- ``aaa.subscribers``: the default's three users plus ``sub<N>@lab`` / ``pw<N>`` for every
  emulated PPPoE subscriber (generated, see :func:`abng.lab.subscribers.lab_user`).
- ``--radius``: ``aaa.order: [radius]`` against the lab's FreeRADIUS (abng/lab/radius.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from abng.lab.subscribers import lab_user

DEFAULT = Path(__file__).resolve().parent.parent / "config" / "default.yaml"
PPP_POOL = {"network": "100.64.0.0/18", "gateway": "100.64.0.1", "range": "100.64.1.1-100.64.63.254"}
IPOE_POOL = {"network": "100.64.64.0/18", "gateway": "100.64.64.1"}
RADIUS_SECRET = "testing123"  # noqa: S105 - lab-only FreeRADIUS on loopback


def default_config() -> dict[str, Any]:
    data = yaml.safe_load(DEFAULT.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{DEFAULT} is not a mapping")
    return data


def lab_config(
    *,
    pppoe_users: int,
    vlan_mode: str = "mixed",
    radius: tuple[int, int] | None = None,
    lcp_echo_interval: int | None = None,
    lease_time: int | None = None,
) -> dict[str, Any]:
    """The configuration dict written to ``<lab>/etc/running-config.yaml``.

    ``radius``: (auth port, acct port) of the lab's FreeRADIUS on 127.0.0.1 in the BNG namespace.
    """
    cfg = default_config()
    cfg.setdefault("interfaces", {}).update({"subscriber_trunk": "trunk0", "upstream": "up0"})
    demux = cfg.setdefault("demux", {})
    if vlan_mode == "untagged":
        demux["enabled"] = False
    else:
        demux.update({"enabled": True, "require_packets": 1, "creation_rate_limit": 100_000})
        for profile in demux.get("profiles", []):
            profile["trunk_interface"] = "trunk0"
    aaa = cfg.setdefault("aaa", {})
    dns = aaa.get("pools", {}).get("ppp", {}).get("dns", ["192.0.2.53"])
    aaa["pools"] = {"ppp": {**PPP_POOL, "dns": list(dns)}, "ipoe": {**IPOE_POOL, "dns": list(dns)}}
    users = list(aaa.get("subscribers", []))
    for i in range(1, pppoe_users + 1):
        name, password = lab_user(i)
        users.append({"username": name, "password": password})
    aaa["subscribers"] = users
    if lcp_echo_interval is not None:
        cfg.setdefault("pppoe", {})["lcp_echo_interval"] = lcp_echo_interval
    if lease_time is not None:
        cfg.setdefault("dhcp", {})["lease_time"] = lease_time
    if radius is not None:
        auth_port, acct_port = radius
        cfg["radius"] = {
            "servers": [
                {"host": "127.0.0.1", "port": auth_port, "acct_port": acct_port, "secret": RADIUS_SECRET}
            ],
            "nas_identifier": "abng-lab",
        }
        aaa["order"] = ["radius"]
        cfg.setdefault("pppoe", {})["pool"] = "ppp"
        cfg.setdefault("dhcp", {})["pool"] = "ipoe"
    return cfg


def write_config(config_dir: Path, cfg: dict[str, Any]) -> Path:
    config_dir.mkdir(parents=True, exist_ok=True)
    path = config_dir / "running-config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path
