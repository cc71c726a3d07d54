"""Kernel VLAN devices for demux access interfaces (kernel data path of D4; reference §6.1).

`KernelVlanBackend` implements abng.access.demux.InterfaceBackend with pyroute2: `ensure(iface)`
creates the chain outer first (`eth1.111` -> `eth1.111.500` -> `eth1.111.500.100`, kernel names
from `demux.device_chain`, each with the TPID of its tag as `vlan_protocol`) and brings each
device up; `remove(iface)` deletes the chain inner first (C-tag, S-tag, outer), keeping any
parent device still used by another access interface. Both are idempotent: "exists" on add and
"no such device" on delete are treated as done (errno as data).

`probe_vlan_support()` says whether the running kernel can create VLAN devices at all (this
development kernel has no 8021q: the userspace data path is used instead, D4).
"""

from __future__ import annotations

import errno
import logging
import secrets
from collections import Counter
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from abng.access.demux import AccessInterface, Device, device_chain

log = logging.getLogger(__name__)


class KernelVlanBackend:
    """Creates and removes VLAN device chains; `ipr` is an open pyroute2 IPRoute (owned by caller)."""

    def __init__(self, ipr: Any) -> None:
        self.ipr = ipr
        self._users: Counter[str] = Counter()  # kernel device name -> access interfaces using it

    def _index(self, ifname: str) -> int | None:
        found = self.ipr.link_lookup(ifname=ifname)
        return int(found[0]) if found else None

    def _add(self, dev: Device) -> None:
        parent = self._index(dev.parent)
        if parent is None:
            raise LookupError(f"parent device {dev.parent!r} of {dev.name} does not exist")
        if self._index(dev.kernel_name) is None:
            try:
                self.ipr.link(
                    "add",
                    ifname=dev.kernel_name,
                    kind="vlan",
                    link=parent,
                    vlan_id=dev.tag.vid,
                    vlan_protocol=dev.tag.tpid,
                )
            except NetlinkError as exc:
                if exc.code != errno.EEXIST:
                    raise
        index = self._index(dev.kernel_name)
        if index is None:
            raise LookupError(f"{dev.kernel_name} vanished after creation")
        self.ipr.link("set", index=index, state="up")

    def ensure(self, iface: AccessInterface) -> None:
        chain = device_chain(iface.trunk, iface.tags)
        for dev in chain:
            self._add(dev)
        if chain and not self._users[chain[-1].kernel_name]:
            for dev in chain:
                self._users[dev.kernel_name] += 1

    def remove(self, iface: AccessInterface) -> None:
        chain = device_chain(iface.trunk, iface.tags)
        if not chain or not self._users[chain[-1].kernel_name]:
            return
        for dev in reversed(chain):
            self._users[dev.kernel_name] -= 1
            if self._users[dev.kernel_name] > 0:
                continue
            del self._users[dev.kernel_name]
            index = self._index(dev.kernel_name)
            if index is None:
                continue
            try:
                self.ipr.link("del", index=index)
            except NetlinkError as exc:
                if exc.code != errno.ENODEV:
                    raise

    def devices(self) -> dict[str, int]:
        """Kernel devices this backend manages, with how many access interfaces use each."""
        return dict(self._users)


def probe_vlan_support(netns: str | None = None) -> bool:
    """Try to create a VLAN device on a throwaway veth pair; True if the kernel can."""
    base = f"abp{secrets.token_hex(3)}"
    with IPRoute(netns=netns) if netns else IPRoute() as ipr:
        try:
            ipr.link("add", ifname=f"{base}a", kind="veth", peer=f"{base}b")
        except NetlinkError as exc:
            log.warning("VLAN probe could not create a veth pair: %s", exc)
            return False
        try:
            (index,) = ipr.link_lookup(ifname=f"{base}a")
            ipr.link("add", ifname=f"{base}v", kind="vlan", link=index, vlan_id=10)
        except NetlinkError:
            return False
        else:
            return True
        finally:
            for name in (f"{base}v", f"{base}a"):
                for idx in ipr.link_lookup(ifname=name):
                    try:
                        ipr.link("del", index=idx)
                    except NetlinkError:
                        pass
