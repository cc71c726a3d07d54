"""abngd's access + AAA subsystem: ``setup(daemon)`` (appended to ``abng.core.daemon.SUBSYSTEMS``).

Builds AAA (always: ``request.radius.test`` and accounting need no access protocol), then, when
``pppoe.enabled`` or ``dhcp.enabled``, the trunk service with the IPoE and PPPoE services, the
access RPCs, and adopts the sessions restored from the store once the trunk is open.

Config commits (:class:`AccessApplier`): ``pppoe.*`` and ``dhcp.*`` apply to new sessions (a new
``ac_name`` shows in the next PADO; running sessions are untouched); ``demux.*`` reconfigures the
demux (interfaces no profile matches any more are removed from the table, their sessions kept);
enabling pppoe/dhcp when the trunk service is not running starts it.  A change of
``interfaces.subscriber_trunk`` needs a restart (logged).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from typing import TYPE_CHECKING, Any

from abng.aaa import service as aaa_service
from abng.access import rpc
from abng.access.demux import Profile
from abng.access.idle import IdleWatch
from abng.access.ipoe import IpoeService
from abng.access.pppoe.service import PppoeService
from abng.access.service import TrunkService, build_pools

if TYPE_CHECKING:
    from abng.aaa.service import AaaService
    from abng.core.daemon import Daemon

log = logging.getLogger(__name__)


class AccessApplier:
    name = "access"

    def __init__(self, daemon: Daemon, aaa: AaaService) -> None:
        self.daemon = daemon
        self.aaa = aaa
        self.trunk: TrunkService | None = None
        self.ipoe: IpoeService | None = None
        self.pppoe: PppoeService | None = None
        self.idle: IdleWatch | None = None

    async def start(self) -> None:
        cfg = self.daemon.applied
        if self.trunk is not None or not (cfg.pppoe.enabled or cfg.dhcp.enabled):
            return
        trunk = TrunkService(self.daemon, self.aaa)
        self.trunk = trunk
        self.aaa.refresh_counters = trunk.refresh_counters
        self.ipoe = IpoeService(trunk)
        self.pppoe = PppoeService(trunk)
        d = self.daemon
        self.idle = IdleWatch(d.sessions, d.bus, trunk.datapath, trunk.timers, d.tasks.spawn)
        rpc.install(trunk)
        await trunk.start()
        self.daemon.tasks.spawn("access-restore", self._restore_when_up())

    async def _restore_when_up(self) -> None:
        assert self.trunk is not None and self.ipoe is not None and self.pppoe is not None
        await self.trunk.up.wait()
        self.ipoe.reconfigure(self.daemon.applied)  # the trunk MAC is known now
        await self.ipoe.restore()
        await self.pppoe.restore()
        if self.idle is not None:  # Idle-Timeout: restored sessions too
            self.idle.start(self.trunk.clock())

    async def apply_config(self, old: Any, new: Any, changes: list[str]) -> None:
        sections = {c.split(".", 1)[0] for c in changes}
        if self.trunk is None:
            await self.start()
            return
        if "interfaces" in sections and old.interfaces.subscriber_trunk != new.interfaces.subscriber_trunk:
            log.warning("interfaces.subscriber_trunk changed: takes effect at the next abngd restart")
        if "aaa" in sections:
            for name, pool in build_pools(new).items():
                self.trunk.pools.setdefault(name, pool)
        if "demux" in sections:
            profiles = [Profile.from_config(new.demux.resolved(p)) for p in new.demux.profiles]
            for iface in self.trunk.demux.reconfigure(profiles, new.demux.enabled, new.demux.untagged):
                log.info("access interface %s removed by the new demux profiles", iface.name)
        if sections & {"dhcp", "aaa", "system"} and self.ipoe is not None:
            self.ipoe.reconfigure(new)
        if sections & {"pppoe", "aaa"} and self.pppoe is not None:
            self.pppoe.reconfigure(new)


def _reset_signals_in_child() -> None:
    """A child forked from abngd (pyroute2 forks namespace helpers and stops them with SIGTERM)
    must not keep the event loop's signal wakeup fd: its SIGTERM would be read by abngd's loop
    and stop abngd.  Runs in the child right after fork."""
    with contextlib.suppress(ValueError, OSError):
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)


_FORK_GUARD: list[bool] = []


async def setup(daemon: Daemon) -> None:
    if not _FORK_GUARD:
        os.register_at_fork(after_in_child=_reset_signals_in_child)
        _FORK_GUARD.append(True)
    if daemon.applied is None:
        log.warning("no configuration: access and AAA not started")
        return
    aaa = await aaa_service.setup(daemon)
    applier = AccessApplier(daemon, aaa)
    daemon.register_config_applier(applier)
    await applier.start()
