"""abngd's signal handling: a forked child's signals never stop the daemon (pyroute2 forks)."""

from __future__ import annotations

import asyncio
import os
import signal

from abng.core.daemon import Daemon, install_signal_handlers


async def test_signal_to_forked_child_does_not_stop_abngd(daemon: Daemon) -> None:
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    install_signal_handlers(asyncio.get_running_loop(), daemon)
    try:
        pid = os.fork()
        if pid == 0:  # the child: what a pyroute2 netns helper gets when it is shut down
            os.kill(os.getpid(), signal.SIGTERM)
            os._exit(3)  # not reached when SIGTERM kills the child as it should
        _, status = await asyncio.to_thread(os.waitpid, pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM
        await asyncio.sleep(0.2)
        assert not daemon._stopping.is_set()
        os.kill(os.getpid(), signal.SIGHUP)  # logged and ignored
        await asyncio.sleep(0.2)
        assert not daemon._stopping.is_set()
        os.kill(os.getpid(), signal.SIGTERM)  # the daemon's own SIGTERM does stop it
        await asyncio.wait_for(daemon.wait_stopped(), 10)
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
