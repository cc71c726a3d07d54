"""CAKE backend: what would be asked of the kernel, checked as data (no sch_cake here)."""

from __future__ import annotations

import pytest

from abng.dataplane.detect import detect
from abng.dataplane.qos import QosManager, ShapeSpec, ifb_name
from abng.dataplane.qos_cake import apply_plan, cake_args, change_plan, remove_plan, rtt_us
from tests.dataplane.dp_util import requires_root, shaper_ns, tc_json
from tests.helpers.netns import ns_run

__all__ = ["shaper_ns"]

SPEC = ShapeSpec.build(1, "ppp0", "100.64.0.9", "100mbit", "40mbit", overhead=34, mpu=64)


def test_cake_args_match_reference_command() -> None:
    # tc qdisc add dev ppp0 root cake bandwidth 100Mbit overhead 34 mpu 64 rtt 20ms
    #   ack-filter split-gso diffserv4 nat nowash
    args = dict(cake_args(100_000_000, 34, 64, "20ms"))
    assert args == {
        "bandwidth": 100_000_000, "overhead": 34, "mpu": 64, "rtt": 20_000, "ack_filter": True,
        "split_gso": 1, "diffserv_mode": "diffserv4", "nat": 1, "wash": 0,
    }  # fmt: skip


def test_cake_args_encode_with_pyroute2() -> None:
    from pyroute2.netlink.rtnl.tcmsg.sched_cake import get_parameters

    attrs = dict(get_parameters(dict(cake_args(100_000_000, 34, 64, "5ms")))["attrs"])
    assert attrs["TCA_CAKE_BASE_RATE64"] == 12_500_000
    assert attrs["TCA_CAKE_OVERHEAD"] == 34 and attrs["TCA_CAKE_MPU"] == 64
    assert attrs["TCA_CAKE_RTT"] == 5000 and attrs["TCA_CAKE_DIFFSERV_MODE"] == 1  # diffserv4
    assert attrs["TCA_CAKE_ACK_FILTER"] == 1 and attrs["TCA_CAKE_WASH"] == 0


def test_plans() -> None:
    plan = apply_plan(SPEC, "20ms")
    assert [(op.api, op.command, op.ifname, op.kind) for op in plan] == [
        ("link", "add", "ifb-ppp0", "ifb"),
        ("link", "set", "ifb-ppp0", ""),
        ("tc", "add", "ppp0", "cake"),
        ("tc", "add", "ppp0", "ingress"),
        ("tc", "add-filter", "ppp0", "u32"),
        ("tc", "add", "ifb-ppp0", "cake"),
    ]
    assert dict(plan[2].args)["bandwidth"] == 100_000_000 and dict(plan[5].args)["bandwidth"] == 40_000_000
    assert dict(plan[4].args)["action"]["ifname"] == "ifb-ppp0"
    change = change_plan(ShapeSpec(1, "ppp0", SPEC.ip, 50_000_000, 10_000_000, 34, 64), "20ms")
    assert [op.command for op in change] == ["change", "change"]  # never replace / delete+add
    assert [dict(op.args)["bandwidth"] for op in change] == [50_000_000, 10_000_000]
    assert [op.command for op in remove_plan(SPEC)] == ["del", "del", "del"]


def test_ifb_names_fit_ifnamsiz() -> None:
    assert ifb_name("ppp0") == "ifb-ppp0"
    long = ifb_name("eth0.1000.2000")
    assert len(long) == 15 and long == ifb_name("eth0.1000.2000") and long != ifb_name("eth0.1000.2001")
    assert rtt_us("20ms") == 20_000 and rtt_us("500us") == 500 and rtt_us("1s") == 1_000_000


@requires_root
def test_cake_on_kernel(shaper_ns: tuple[str, str]) -> None:
    if not detect().features["cake"]:
        pytest.skip("kernel has no sch_cake (detect.py): CAKE backend checked as data only")
    ns, dev = shaper_ns
    qos = QosManager("cake", netns=ns)
    try:
        assert qos.apply_subscriber(1, dev, "100.64.0.9", "100mbit", "40mbit", 34, 64).ok
        assert qos.change_rate(1, "50mbit", "10mbit").ok
        assert {s.rate_bps for s in qos.installed()} == {50_000_000, 10_000_000}
        assert qos.remove_subscriber(1).ok
        assert qos.installed() == []
    finally:
        qos.close()


@requires_root
def test_cake_refused_rolls_back(shaper_ns: tuple[str, str]) -> None:
    """Without sch_cake the plan fails at the cake step: errno as data, nothing left behind."""
    if detect().features["cake"]:
        pytest.skip("kernel has sch_cake: the refusal path cannot be provoked")
    ns, dev = shaper_ns
    qos = QosManager("cake", netns=ns)
    try:
        result = qos.apply_subscriber(1, dev, "100.64.0.9", "100mbit", "40mbit", 34, 64)
        assert not result.ok and result.errno > 0
        assert qos.spec(1) is None and qos.installed() == []
        assert ns_run(ns, "ip", "link", "show", ifb_name(dev), check=False).returncode != 0
        kinds = {q["kind"] for q in tc_json(ns, "qdisc", "show", "dev", dev)}
        assert "ingress" not in kinds and "cake" not in kinds
        assert qos.change_rate(1, "1mbit", "1mbit").errno == 2
    finally:
        qos.close()
