"""LocalAuthenticator (D19): PAP, CHAP-MD5, MAC, pools."""

from __future__ import annotations

import pytest

from abng.aaa.crypto import chap_response
from abng.aaa.local import LocalAaaConfig, LocalAuthenticator
from abng.aaa.types import AuthRequest

CFG = LocalAaaConfig.from_dict(
    {
        "subscribers": [
            {
                "username": "alice",
                "password": "pw1",
                "ip": "100.64.1.5",
                "rate_down": "50mbit",
                "rate_up": 10_000_000,
            },
            {"username": "bob", "password": "pw2", "pool": "residential", "mac": "02:00:00:00:00:02"},
            {"mac": "02:00:00:00:00:0A", "ip": "100.64.1.10"},
        ],
        "pools": {
            "residential": {"network": "100.64.2.0/24", "gateway": "100.64.2.1", "dns": ["1.1.1.1"]},
            "guest": {"start": "100.64.3.10", "end": "100.64.3.200", "gateway": "100.64.3.1"},
        },
        "default_pool": "guest",
    }
)


def _req(
    username: str = "alice", mac: str = "02:00:00:00:00:01", service: str = "pppoe", **kw: object
) -> AuthRequest:
    return AuthRequest(username=username, mac=mac, nas_port_id="eth1.1.1", service=service, **kw)  # type: ignore[arg-type]


async def test_pap() -> None:
    auth = LocalAuthenticator(CFG)
    ok = await auth.authenticate(_req(password="pw1"))
    assert ok.accepted and ok.framed_ip == "100.64.1.5" and ok.pool is None
    assert (ok.rate_down_bps, ok.rate_up_bps) == (50_000_000, 10_000_000)
    assert not (await auth.authenticate(_req(password="pw2"))).accepted
    assert not (await auth.authenticate(_req(username="nobody", password="pw1"))).accepted
    assert not (await auth.authenticate(_req())).accepted


async def test_chap_and_mac_binding() -> None:
    auth = LocalAuthenticator(CFG)
    ch = b"0123456789abcdef"
    good = _req(
        "bob", "02:00:00:00:00:02", chap_id=3, chap_challenge=ch, chap_response=chap_response(3, b"pw2", ch)
    )
    res = await auth.authenticate(good)
    assert res.accepted and res.pool == "residential" and res.framed_ip is None
    wrong_mac = _req(
        "bob", "02:00:00:00:00:03", chap_id=3, chap_challenge=ch, chap_response=chap_response(3, b"pw2", ch)
    )
    assert not (await auth.authenticate(wrong_mac)).accepted
    bad = _req(
        "bob", "02:00:00:00:00:02", chap_id=3, chap_challenge=ch, chap_response=chap_response(4, b"pw2", ch)
    )
    assert not (await auth.authenticate(bad)).accepted


async def test_dhcp_mac_and_default_pool() -> None:
    auth = LocalAuthenticator(CFG)
    known = await auth.authenticate(_req("", "02-00-00-00-00-0a", "dhcp"))
    assert known.accepted and known.framed_ip == "100.64.1.10"
    unknown = await auth.authenticate(_req("", "02:00:00:00:00:99", "dhcp"))
    assert unknown.accepted and unknown.pool == "guest"
    strict = LocalAuthenticator(LocalAaaConfig(CFG.subscribers, CFG.pools, None))
    assert not (await strict.authenticate(_req("", "02:00:00:00:00:99", "dhcp"))).accepted


def test_config_errors() -> None:
    with pytest.raises(ValueError, match="unknown pool"):
        LocalAuthenticator(LocalAaaConfig.from_dict({"subscribers": [{"username": "x", "pool": "nope"}]}))
    with pytest.raises(ValueError, match="default pool"):
        LocalAuthenticator(LocalAaaConfig.from_dict({"default_pool": "nope"}))
    with pytest.raises(ValueError, match="rate"):
        LocalAuthenticator(
            LocalAaaConfig.from_dict({"subscribers": [{"username": "x", "rate_down": "fast"}]})
        )
    with pytest.raises(ValueError, match="start and end"):
        LocalAuthenticator(LocalAaaConfig.from_dict({"pools": {"p": {"gateway": "10.0.0.1"}}}))
