"""Raw frame I/O on the subscriber trunk (AF_PACKET, reference §6.1, MACHINE.md "Plain AF_PACKET").

`PacketIO(ifname, spec)` opens `socket(AF_PACKET, SOCK_RAW, ETH_P_ALL)` on the trunk with the
trunk BPF filter (abng/access/bpf.py) and PACKET_AUXDATA. On receive the kernel has moved the
outer VLAN tag into metadata; `recv()` puts it back inline, so every upper layer sees the full
tag stack in the frame. The host's own transmitted frames (pkttype PACKET_OUTGOING) are dropped
and counted. Frames are sent as given (tags inline).

The asyncio side is a thin adapter: `start(on_frame)` registers the socket with
`loop.add_reader`, and each wake-up reads up to `batch` frames and hands each to
`on_frame(frame, ifindex)`. A handler that raises is counted and logged; the reader carries on.

Frames sent while a batch is being handled are queued and go out together, in order, after
every FLUSH_EVERY (8) frames handled and at the end of the batch. On a veth or a real NIC this
changes nothing but timing (a frame waits for at most 7 other frames' handling); what it saves
is the wake-up of the receiver per frame: back-to-back sends find a peer on the same host still
awake, where sends spread over the handling woke it (an inter-processor interrupt in a VM) for
each frame. Flushing every 8 frames rather than once per batch keeps the peer working while we
handle the rest (a flush per 64-frame batch made the two sides take turns: DHCP set-up was
slower). Sends outside a batch (timers, the TUN side, the API) go out at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass

from abng.access import bpf, rxring
from abng.access.frames import insert_outer_tag

log = logging.getLogger(__name__)

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_AUXDATA = 8
PACKET_IGNORE_OUTGOING = 23  # Linux 4.20+: our own frames are not even cloned to this socket
PACKET_OUTGOING = 4
TP_STATUS_VLAN_VALID = 1 << 4
TP_STATUS_VLAN_TPID_VALID = 1 << 6
ETH_P_8021Q = 0x8100
_AUXDATA = struct.Struct("=IIIHHHH")  # struct tpacket_auxdata
_AUXDATA_UNPACK = _AUXDATA.unpack_from
MSG_TRUNC = int(socket.MSG_TRUNC)  # a plain int: IntFlag arithmetic per frame is slow
_CMSG_SPACE = socket.CMSG_SPACE(_AUXDATA.size)
MAX_FRAME = 65536 + 64
FLUSH_EVERY = 8  # frames handled between flushes of the frames they sent (module docstring)
DEFAULT_RCVBUF = 8 * 1024 * 1024
SO_RCVBUFFORCE = 33
SIOCGIFMTU = 0x8921

FrameHandler = Callable[[bytes, int], None]


@dataclass(frozen=True, slots=True)
class AuxData:
    """The kernel's struct tpacket_auxdata for one received frame."""

    status: int
    length: int
    snaplen: int
    mac: int
    net: int
    vlan_tci: int
    vlan_tpid: int

    @property
    def vlan_valid(self) -> bool:
        return bool(self.status & TP_STATUS_VLAN_VALID)

    @property
    def tpid(self) -> int:
        """The stripped tag's TPID; kernels without TPID reporting mean 802.1Q."""
        return self.vlan_tpid if self.status & TP_STATUS_VLAN_TPID_VALID else ETH_P_8021Q

    @classmethod
    def parse(cls, data: bytes) -> AuxData:
        if len(data) < _AUXDATA.size:
            raise ValueError(f"tpacket_auxdata too short: {len(data)}")
        return cls(*_AUXDATA.unpack_from(data))


def restore_frame(frame: bytes, ancdata: list[tuple[int, int, bytes]]) -> bytes:
    """`frame` with the tag from a PACKET_AUXDATA control message re-inserted, if any."""
    for level, kind, data in ancdata:
        if level == SOL_PACKET and kind == PACKET_AUXDATA:
            return _restore(frame, data)
    return frame


def _restore(frame: bytes, aux: bytes) -> bytes:
    """The hot-path twin of :func:`restore_frame` for one PACKET_AUXDATA payload (no objects)."""
    if len(aux) < _AUXDATA.size:
        raise ValueError(f"tpacket_auxdata too short: {len(aux)}")
    status, _len, _snap, _mac, _net, tci, tpid = _AUXDATA_UNPACK(aux)
    if not status & TP_STATUS_VLAN_VALID:
        return frame
    return insert_outer_tag(frame, tpid if status & TP_STATUS_VLAN_TPID_VALID else 0, tci)


@dataclass(slots=True)
class PacketCounters:
    rx: int = 0
    tx: int = 0
    rx_bytes: int = 0
    tx_bytes: int = 0
    dropped_outgoing: int = 0
    truncated: int = 0
    errors: int = 0
    handler_errors: int = 0


class PacketIO:
    """AF_PACKET socket on one interface; see the module docstring.

    `spec=None` attaches no filter (every frame of the interface, used by tests). With `ring`
    (the default where abng.access.rxring is supported) frames are read from a TPACKET_V2 ring
    of `rcvbuf` bytes instead of one `recvmsg` each; `ring=False` or a kernel that refuses the
    ring means `recvmsg` (PACKET_AUXDATA for the outer tag)."""

    def __init__(
        self,
        ifname: str,
        spec: bpf.FilterSpec | None = None,
        *,
        rcvbuf: int = DEFAULT_RCVBUF,
        batch: int = 64,
        ring: bool = True,
    ) -> None:
        self.ifname = ifname
        self.spec = spec
        self.rcvbuf = rcvbuf
        self.batch = batch
        self.counters = PacketCounters()
        self.ifindex = 0
        self.mac = b""
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._deferred: list[bytes] | None = None  # frames sent during a batch (see the docstring)
        self._want_ring = ring and rxring.supported()
        self._ring: rxring.RxRing | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def open(self) -> None:
        """Create the socket, attach the filter BEFORE binding (no unfiltered backlog), bind."""
        if self._sock is not None:
            raise RuntimeError(f"PacketIO({self.ifname}) already open")
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)  # protocol 0: receives nothing yet
        try:
            if self.spec is not None:
                bpf.attach(sock, bpf.build_program(self.spec))
            sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
            with contextlib.suppress(OSError):  # older kernels: the BPF filter drops them instead
                sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, self.rcvbuf)
            except PermissionError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
            if self._want_ring:
                self._ring = self._open_ring(sock)
            sock.bind((self.ifname, ETH_P_ALL))
            sock.setblocking(False)
            self.ifindex = socket.if_nametoindex(self.ifname)
            self.mac = bytes(sock.getsockname()[4])
        except BaseException:
            if self._ring is not None:
                self._ring.close()
                self._ring = None
            sock.close()
            raise
        self._sock = sock

    def _open_ring(self, sock: socket.socket) -> rxring.RxRing | None:
        try:
            req = struct.pack("16sH14x", self.ifname.encode(), 0)
            mtu = struct.unpack_from("16sH", fcntl.ioctl(sock.fileno(), SIOCGIFMTU, req))[1]
            return rxring.RxRing(sock, rxring.slot_size(mtu), self.rcvbuf)
        except OSError as exc:  # no such device is reported by bind() below, as without a ring
            log.info("no receive ring on %s (%s): using recvmsg", self.ifname, exc)
            return None

    @property
    def ring(self) -> bool:
        """Whether frames are read from a TPACKET_V2 ring (else recvmsg)."""
        return self._ring is not None

    def close(self) -> None:
        self.stop()
        if self._ring is not None:
            self._ring.close()
            self._ring = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> PacketIO:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fileno(self) -> int:
        return self._socket.fileno()

    @property
    def _socket(self) -> socket.socket:
        if self._sock is None:
            raise RuntimeError(f"PacketIO({self.ifname}) is not open")
        return self._sock

    # -- receive ---------------------------------------------------------------------------
    def recv(self) -> bytes | None:
        """The next frame (tags inline), or None when nothing is waiting. Never blocks."""
        if self._ring is not None:
            return self._ring.next_frame(self.counters)
        recvmsg = self._socket.recvmsg
        counters = self.counters
        while True:
            try:
                data, ancdata, flags, addr = recvmsg(MAX_FRAME, _CMSG_SPACE)
            except (BlockingIOError, InterruptedError):
                return None
            except OSError as exc:
                counters.errors += 1
                log.warning("recvmsg on %s failed: %s", self.ifname, exc)
                return None
            if addr[2] == PACKET_OUTGOING:
                counters.dropped_outgoing += 1
                continue
            if flags & MSG_TRUNC:
                counters.truncated += 1
                continue
            try:
                for level, kind, aux in ancdata:
                    if level == SOL_PACKET and kind == PACKET_AUXDATA:
                        data = _restore(data, aux)
                        break
            except ValueError as exc:  # frames.DecodeError: shorter than two MACs
                counters.errors += 1
                log.warning("bad frame on %s: %s", self.ifname, exc)
                continue
            counters.rx += 1
            counters.rx_bytes += len(data)
            return data

    def recv_batch(self, limit: int | None = None) -> list[bytes]:
        ring = self._ring
        if ring is not None:
            return ring.read(limit or self.batch, self.counters)
        out: list[bytes] = []
        recv = self.recv
        for _ in range(limit or self.batch):
            frame = recv()
            if frame is None:
                break
            out.append(frame)
        return out

    # -- transmit --------------------------------------------------------------------------
    def send(self, frame: bytes) -> bool:
        """Send one frame as is (tags inline). False (and counted) if the kernel refused it.

        During a batch (`_readable`) the frame is queued and True returned; a refusal when the
        batch is flushed is counted in `counters.errors` as any other."""
        deferred = self._deferred
        if deferred is not None:
            deferred.append(frame)
            return True
        return self._send_now(frame)

    def _send_now(self, frame: bytes) -> bool:
        try:
            self._socket.send(frame)
        except OSError as exc:
            self.counters.errors += 1
            log.debug("send on %s failed: %s", self.ifname, exc)
            return False
        self.counters.tx += 1
        self.counters.tx_bytes += len(frame)
        return True

    # -- asyncio adapter -------------------------------------------------------------------
    def start(self, on_frame: FrameHandler, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Call `on_frame(frame, ifindex)` for every frame, from the event loop."""
        if self._loop is not None:
            raise RuntimeError(f"PacketIO({self.ifname}) already started")
        self._loop = loop or asyncio.get_running_loop()
        self._loop.add_reader(self.fileno(), self._readable, on_frame)

    def stop(self) -> None:
        if self._loop is not None and self._sock is not None:
            self._loop.remove_reader(self._sock.fileno())
        self._loop = None

    def _readable(self, on_frame: FrameHandler) -> None:
        frames = self.recv_batch()
        if not frames:
            return
        deferred: list[bytes] = []
        self._deferred = deferred
        ifindex = self.ifindex
        handled = 0
        try:
            for frame in frames:
                try:
                    on_frame(frame, ifindex)
                except Exception:
                    self.counters.handler_errors += 1
                    log.exception("frame handler failed on %s", self.ifname)
                handled += 1
                if handled == FLUSH_EVERY:
                    handled = 0
                    if deferred:
                        self._flush(deferred)
        finally:
            self._deferred = None
            if deferred:
                self._flush(deferred)

    def _flush(self, deferred: list[bytes]) -> None:
        """Send the queued frames in order (dropped if a handler closed the socket meanwhile);
        each as `_send_now` would, the counters added once."""
        sock = self._sock
        if deferred and sock is not None:
            send = sock.send
            sent = nbytes = 0
            for frame in deferred:
                try:
                    send(frame)
                except OSError as exc:
                    self.counters.errors += 1
                    log.debug("send on %s failed: %s", self.ifname, exc)
                    continue
                sent += 1
                nbytes += len(frame)
            self.counters.tx += sent
            self.counters.tx_bytes += nbytes
        deferred.clear()
