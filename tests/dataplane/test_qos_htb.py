"""HTB backend in a throwaway namespace, read back with `tc -j` (a second tool)."""

from __future__ import annotations

from abng.dataplane.qos import QosManager, ifb_name
from abng.dataplane.qos_htb import SHARD_MAJORS
from tests.dataplane.dp_util import requires_root, shaper_ns, shard_filters, subscriber_classes, tc_json
from tests.helpers.netns import link_index, ns_run

__all__ = ["shaper_ns"]


@requires_root
def test_apply_change_remove(shaper_ns: tuple[str, str]) -> None:
    ns, dev = shaper_ns
    ifb = ifb_name(dev)
    cls = f"{SHARD_MAJORS[7]:x}:1"  # 100.64.3.7: shard = last octet 7, first minor
    qos = QosManager("htb", netns=ns)
    try:
        r = qos.apply_subscriber(7, dev, "100.64.3.7", "20mbit", "5mbit", overhead=34, mpu=64)
        assert r.ok, r
        down, up = subscriber_classes(ns, dev), subscriber_classes(ns, ifb)
        assert list(down) == [cls] and list(up) == [cls]
        assert down[cls] == 20_000_000 and up[cls] == 5_000_000
        flt = shard_filters(ns, dev)
        assert len(flt) == 1 and flt[0]["options"]["flowid"] == cls
        assert flt[0]["options"]["match"]["value"] == "64400307"  # 100.64.3.7
        assert len(shard_filters(ns, ifb)) == 1
        # mirred redirect to the IFB on the ingress qdisc
        ingress = tc_json(ns, "filter", "show", "dev", dev, "parent", "ffff:")
        assert any(a.get("to_dev") == ifb for f in ingress for a in f.get("options", {}).get("actions", []))
        # our own read-back agrees
        inst = {(s.direction, s.handle): s for s in qos.installed()}
        assert inst[("down", cls)].rate_bps == 20_000_000 and inst[("down", cls)].ip == "100.64.3.7"
        assert inst[("up", cls)].overhead == 34 and inst[("up", cls)].mpu == 64
        # idempotent apply
        assert qos.apply_subscriber(7, dev, "100.64.3.7", "20mbit", "5mbit", overhead=34, mpu=64).ok
        assert len(subscriber_classes(ns, dev)) == 1
        # change in place: same handle, new rate
        assert qos.change_rate(7, "10mbit", "2mbit").ok
        down, up = subscriber_classes(ns, dev), subscriber_classes(ns, ifb)
        assert down == {cls: 10_000_000} and up == {cls: 2_000_000}
        # remove: nothing of the subscriber is left; removing twice is fine
        assert qos.remove_subscriber(7).ok
        assert qos.remove_subscriber(7).ok
        assert subscriber_classes(ns, dev) == {} and subscriber_classes(ns, ifb) == {}
        assert shard_filters(ns, dev) == [] and shard_filters(ns, ifb) == []
        assert qos.installed() == []
        # errno as data
        assert qos.change_rate(7, "1mbit", "1mbit").errno == 2
        assert qos.apply_subscriber(8, "nosuchdev0", "100.64.0.8", "1mbit", "1mbit").errno == 19
        assert qos.apply_subscriber(8, 999_999, "100.64.0.8", "1mbit", "1mbit").errno == 19
        # an ifindex works as well as a name
        assert qos.apply_subscriber(9, link_index(ns, dev), "100.64.0.9", "3mbit", "1mbit").ok
        spec = qos.spec(9)
        assert spec is not None and spec.iface == dev
        assert subscriber_classes(ns, dev) == {f"{SHARD_MAJORS[9]:x}:1": 3_000_000}
        assert qos.remove_subscriber(9).ok and subscriber_classes(ns, dev) == {}
        # release: the tree, the ingress redirect and the IFB are gone
        assert qos.apply_subscriber(10, dev, "100.64.0.10", "3mbit", "1mbit").ok
        assert qos.release_device(dev) == 0
        assert qos.spec(10) is None
        assert not [q for q in tc_json(ns, "qdisc", "show", "dev", dev) if q["kind"] in ("htb", "ingress")]
        assert ns_run(ns, "ip", "link", "show", ifb, check=False).returncode != 0
        # and the device can be set up again
        assert qos.apply_subscriber(11, dev, "100.64.0.11", "3mbit", "1mbit").ok
        qos.teardown()
        assert ns_run(ns, "ip", "link", "show", ifb, check=False).returncode != 0
    finally:
        qos.close()
