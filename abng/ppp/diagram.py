"""Print the RFC 1661 automaton (``abng.ppp.fsm.TRANSITIONS``) as a Mermaid state diagram.

    python -m abng.ppp.diagram > /tmp/fsm.mmd

Parallel edges between the same two states are merged into one label; self-loops without
actions are left out to keep the picture readable (the table in fsm.py has them all).
"""

from __future__ import annotations

from abng.ppp.fsm import TRANSITIONS, Event, State


def mermaid() -> str:
    edges: dict[tuple[State, State], list[str]] = {}
    for (state, event), (actions, nxt) in TRANSITIONS.items():
        if state is nxt and not actions:
            continue
        label = event.value + (" / " + ",".join(a.value for a in actions) if actions else "")
        edges.setdefault((state, nxt), []).append(label)
    order = {e: i for i, e in enumerate(Event)}
    lines = ["stateDiagram-v2", "    [*] --> INITIAL"]
    for (src, dst), labels in sorted(edges.items()):
        labels.sort(key=lambda lab: order[Event(lab.split(" ")[0])])
        lines.append(f"    {src.name} --> {dst.name}: {'<br/>'.join(labels)}")
    return "\n".join(lines)


def main() -> None:
    print(mermaid())


if __name__ == "__main__":
    main()
