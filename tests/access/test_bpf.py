"""The BPF assembler and program shape (no sockets)."""

from __future__ import annotations

import pytest

from abng.access import bpf
from abng.access.bpf import FilterSpec, Insn, Label


def test_labels_resolve_to_forward_offsets() -> None:
    prog = bpf.assemble(
        [
            Insn(bpf.BPF_JMP | bpf.BPF_JEQ, 1, "yes", "no"),
            Label("no"),
            Insn(bpf.BPF_RET, 0),
            Label("yes"),
            Insn(bpf.BPF_RET, 1),
        ]
    )
    assert prog[0] == Insn(bpf.BPF_JMP | bpf.BPF_JEQ, 1, 1, 0)


def test_duplicate_label_and_backward_jump_raise() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        bpf.assemble([Label("a"), Label("a")])
    with pytest.raises(ValueError, match="out of range"):
        bpf.assemble([Label("a"), Insn(bpf.BPF_JMP, 0, "a", 0)])


def test_pack_is_eight_bytes_per_insn_and_needs_assembly() -> None:
    prog = bpf.build_program(FilterSpec.control_plane())
    assert len(bpf.pack(prog)) == 8 * len(prog)
    with pytest.raises(ValueError, match="not assembled"):
        bpf.pack([Insn(0, 0, "x", 0)])


def test_programs_end_with_reject_then_accept_and_fit_the_limit() -> None:
    for spec in (FilterSpec.control_plane(), FilterSpec.userspace(), FilterSpec(dhcp=False)):
        prog = bpf.build_program(spec)
        assert prog[-2] == Insn(bpf.BPF_RET, 0)
        assert prog[-1] == Insn(bpf.BPF_RET, bpf.ACCEPT_LEN)
        assert len(prog) < 4096
    # the DHCP port walk is absent when only "any IPv4" is wanted
    assert len(bpf.build_program(FilterSpec.userspace())) < len(bpf.build_program(FilterSpec.control_plane()))
    assert "0x00000043" in bpf.disassemble(bpf.build_program(FilterSpec.control_plane()))
