"""What the running kernel offers, found by trying (DECISIONS.md D4).

Every probe is a real attempt inside a throwaway network namespace that is removed afterwards:
802.1Q (a vlan link), PPP (``/dev/ppp`` opens), sch_cake (a cake qdisc), HTB, IFB, VRF, and
nftables (the ``nft`` binary creates a table, through its JSON interface).  The backend follows
``system.dataplane``: ``kernel`` needs 802.1Q + PPP + cake, ``userspace`` needs HTB + IFB, and
``auto`` takes ``kernel`` when it can.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from pyroute2 import IPRoute, netns
from pyroute2.netlink.exceptions import NetlinkError

from abng.dataplane.nft import NftError, nft_available, run_nft

Backend = Literal["kernel", "userspace"]
Mode = Literal["auto", "kernel", "userspace"]
KERNEL_NEEDS = ("vlan", "ppp", "cake")
USERSPACE_NEEDS = ("htb", "ifb")
FEATURES = ("vlan", "ppp", "cake", "htb", "ifb", "vrf", "nftables")


class DataplaneUnavailable(RuntimeError):
    """``system.dataplane`` asks for a backend the kernel cannot run."""


@dataclass(frozen=True)
class DataplaneInfo:
    """The chosen backend, each feature's presence, and why a missing one is missing."""

    backend: Backend
    features: MappingProxyType[str, bool] = field(default_factory=lambda: MappingProxyType({}))
    reasons: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def as_dict(self) -> dict[str, Any]:
        """For ``show system`` and the health endpoints."""
        return {"backend": self.backend, "features": dict(self.features), "reasons": dict(self.reasons)}


def _errtext(exc: BaseException) -> str:
    if isinstance(exc, NetlinkError):
        return f"netlink error {exc.code}: {os.strerror(exc.code)}"
    return f"{type(exc).__name__}: {exc}"


def _probe_links(ipr: Any) -> dict[str, str | None]:
    """Try each feature in the throwaway namespace; ``None`` means it works."""
    out: dict[str, str | None] = {}
    ipr.link("add", ifname="pr0", kind="veth", peer="pr1")
    base = ipr.link_lookup(ifname="pr0")[0]
    tries: dict[str, Callable[[], object]] = {
        "vlan": lambda: ipr.link("add", ifname="pr0.7", kind="vlan", link=base, vlan_id=7),
        "ifb": lambda: ipr.link("add", ifname="prifb", kind="ifb"),
        "vrf": lambda: ipr.link("add", ifname="prvrf", kind="vrf", vrf_table=77),
        "htb": lambda: ipr.tc("add", "htb", base, 0x10000, default=0),
        "cake": lambda: ipr.tc("add", "cake", ipr.link_lookup(ifname="pr1")[0], 0, bandwidth="10mbit"),
    }
    for name, attempt in tries.items():
        try:
            attempt()
            out[name] = None
        except Exception as exc:  # a probe: any failure means "not available"
            out[name] = _errtext(exc)
    return out


def _probe_ppp() -> str | None:
    try:
        fd = os.open("/dev/ppp", os.O_RDWR)
    except OSError as exc:
        return f"/dev/ppp: {exc.strerror}"
    os.close(fd)
    return None


def _probe_nft(ns: str) -> str | None:
    if not nft_available():
        return "nft binary not found"
    table = {"table": {"family": "inet", "name": "abng_probe"}}
    try:
        run_nft([{"add": table}, {"delete": table}], netns=ns)
    except NftError as exc:
        return str(exc)
    return None


PROBE_PREFIX = "abng-probe-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_probes() -> list[str]:
    """Remove probe namespaces left by a process killed mid-probe (SIGKILL skips ``finally``):
    ``abng-probe-<pid>-<hex>`` whose pid is gone.  Returns the names removed."""
    removed = []
    for name in netns.listnetns():
        parts = name[len(PROBE_PREFIX) :].split("-")
        if not name.startswith(PROBE_PREFIX) or len(parts) != 2 or not parts[0].isdigit():
            continue
        if _alive(int(parts[0])):
            continue
        with contextlib.suppress(OSError):
            netns.remove(name)
            removed.append(name)
    return removed


def probe() -> tuple[dict[str, bool], dict[str, str]]:
    """Run every probe in a fresh namespace; return ``(features, reasons)``."""
    with contextlib.suppress(OSError):
        remove_stale_probes()
    ns = f"{PROBE_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
    results: dict[str, str | None] = {}
    netns.create(ns)
    try:
        with IPRoute(netns=ns) as ipr:
            results.update(_probe_links(ipr))
        results["nftables"] = _probe_nft(ns)
    finally:
        with contextlib.suppress(OSError):
            netns.remove(ns)
    results["ppp"] = _probe_ppp()
    features = {name: results.get(name) is None for name in FEATURES}
    reasons = {name: why for name, why in results.items() if why is not None}
    return features, reasons


def choose_backend(mode: Mode, features: dict[str, bool]) -> Backend:
    """D4: ``kernel`` needs 802.1Q + PPP + cake; raise when ``mode`` cannot be honoured."""
    kernel_ok = all(features.get(f, False) for f in KERNEL_NEEDS)
    user_ok = all(features.get(f, False) for f in USERSPACE_NEEDS)
    if mode == "kernel" and not kernel_ok:
        missing = [f for f in KERNEL_NEEDS if not features.get(f, False)]
        raise DataplaneUnavailable(f"system.dataplane kernel: the kernel lacks {', '.join(missing)}")
    if mode == "userspace" and not user_ok:
        missing = [f for f in USERSPACE_NEEDS if not features.get(f, False)]
        raise DataplaneUnavailable(f"system.dataplane userspace: the kernel lacks {', '.join(missing)}")
    if mode == "kernel" or (mode == "auto" and kernel_ok):
        return "kernel"
    if not user_ok:
        raise DataplaneUnavailable("no dataplane: the kernel has neither 802.1Q+PPP+cake nor HTB+IFB")
    return "userspace"


def detect(mode: Mode = "auto") -> DataplaneInfo:
    """Probe the kernel (well under a second) and choose the backend for ``mode``."""
    features, reasons = probe()
    return DataplaneInfo(
        choose_backend(mode, features), MappingProxyType(features), MappingProxyType(reasons)
    )
