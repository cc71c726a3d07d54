"""In-memory session table with secondary indexes (lookups and listing stay O(matches))."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from abng.core.model import Session, SessionState, SessionType

#: key -> one id, or a set when several sessions share the key (most keys are unique: no set)
Multi = dict[str, "int | set[int]"]


def _add(index: Multi, key: str | None, sid: int) -> None:
    if not key:
        return
    cur = index.get(key)
    if cur is None:
        index[key] = sid
    elif isinstance(cur, int):
        if cur != sid:
            index[key] = {cur, sid}
    else:
        cur.add(sid)


def _drop(index: Multi, key: str | None, sid: int) -> None:
    if not key or (cur := index.get(key)) is None:
        return
    if isinstance(cur, int):
        if cur == sid:
            del index[key]
        return
    cur.discard(sid)
    if len(cur) == 1:
        index[key] = next(iter(cur))


def _ids(index: Multi, key: str) -> Iterable[int]:
    cur = index.get(key)
    if cur is None:
        return ()
    return (cur,) if isinstance(cur, int) else cur


class SessionIndex:
    """Sessions by id (insertion order = id order) plus indexes by ip, username, interface."""

    def __init__(self) -> None:
        self.by_id: dict[int, Session] = {}
        self._ip: dict[str, int] = {}
        self._user: Multi = {}
        self._iface: Multi = {}
        self._counts = {"total": 0, "pppoe": 0, "dhcp": 0}

    def __len__(self) -> int:
        return len(self.by_id)

    def __contains__(self, sid: int) -> bool:
        return sid in self.by_id

    def __iter__(self) -> Iterator[Session]:
        return iter(self.by_id.values())

    def add(self, s: Session) -> None:
        self.by_id[s.id] = s
        self._index(s)
        counts = self._counts
        counts["total"] += 1
        counts[str(s.type)] += 1  # StrEnum: str() is the value (cheaper than .value)

    def remove(self, s: Session) -> None:
        if self.by_id.pop(s.id, None) is None:
            return
        self._unindex(s)
        counts = self._counts
        counts["total"] -= 1
        counts[str(s.type)] -= 1

    def _index(self, s: Session) -> None:
        if s.ip_address:
            self._ip[s.ip_address] = s.id
        _add(self._user, s.username, s.id)
        _add(self._iface, s.access_interface, s.id)
        _add(self._iface, s.ppp_interface, s.id)

    def _unindex(self, s: Session) -> None:
        self._unindex_keys(s.id, s.ip_address, s.username, s.access_interface, s.ppp_interface)

    def _unindex_keys(self, sid: int, ip: str | None, user: str, access: str, ppp: str | None) -> None:
        if ip and self._ip.get(ip) == sid:
            del self._ip[ip]
        _drop(self._user, user, sid)
        _drop(self._iface, access, sid)
        _drop(self._iface, ppp, sid)

    def reindex(self, s: Session, before: tuple[str | None, str, str, str | None]) -> None:
        """Fix the indexes after ip/username/interfaces changed (``before`` = old key tuple);
        an index whose keys did not change is not touched."""
        ip, user, access, ppp = before
        sid = s.id
        if ip != s.ip_address:
            if ip and self._ip.get(ip) == sid:
                del self._ip[ip]
            if s.ip_address:
                self._ip[s.ip_address] = sid
        if user != s.username:
            _drop(self._user, user, sid)
            _add(self._user, s.username, sid)
        if access != s.access_interface or ppp != s.ppp_interface:
            iface = self._iface
            _drop(iface, access, sid)
            _drop(iface, ppp, sid)
            _add(iface, s.access_interface, sid)
            _add(iface, s.ppp_interface, sid)

    @staticmethod
    def keys(s: Session) -> tuple[str | None, str, str, str | None]:
        return (s.ip_address, s.username, s.access_interface, s.ppp_interface)

    # ---- lookups ------------------------------------------------------------------------------
    def by_ip(self, ip: str) -> Session | None:
        sid = self._ip.get(ip)
        return self.by_id.get(sid) if sid is not None else None

    def ip_owner(self, ip: str) -> int | None:
        return self._ip.get(ip)

    def by_username(self, username: str) -> list[Session]:
        return self._many(_ids(self._user, username))

    def by_interface(self, name: str) -> list[Session]:
        return self._many(_ids(self._iface, name))

    def _many(self, ids: Iterable[int]) -> list[Session]:
        return [self.by_id[i] for i in sorted(ids)]

    def summary(self) -> dict[str, int]:
        return dict(self._counts)

    def select(
        self,
        *,
        type: SessionType | None = None,
        username: str | None = None,
        ip: str | None = None,
        interface: str | None = None,
        state: SessionState | None = None,
    ) -> list[Session]:
        """Sessions matching every given filter, in id order."""
        candidates: Iterable[Session]
        if ip is not None:
            one = self.by_ip(ip)
            candidates = [one] if one else []
        elif username is not None:
            candidates = self.by_username(username)
        elif interface is not None:
            candidates = self.by_interface(interface)
        else:
            candidates = self.by_id.values()
        out = []
        for s in candidates:
            if type is not None and s.type is not type:
                continue
            if username is not None and s.username != username:
                continue
            if interface is not None and interface not in (s.access_interface, s.ppp_interface):
                continue
            if state is not None and s.state is not state:
                continue
            out.append(s)
        return out
