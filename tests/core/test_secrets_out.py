"""D20: secrets never leave abngd in clear, also not in a config.compare diff or a config.set reply."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.daemon import running_abngd


def test_compare_and_set_reply_mask_secrets(tmp_path: Path) -> None:
    with running_abngd(tmp_path) as d, d.client() as c:
        reply = c.call(
            "config.set",
            {"path": "radius servers", "value": [{"host": "192.0.2.1", "secret": "first-s3cret"}]},
        )
        assert reply["value"] == [{"host": "192.0.2.1", "secret": "********"}]
        reply = c.call("config.set", {"path": "radius servers 0 secret", "value": "second-s3cret"})
        assert reply == {"path": "radius servers 0 secret", "value": "********"}
        diff = c.call("config.compare")
        assert diff["changed"] and "second-s3cret" not in diff["diff"]
        assert "+    secret: '******** (changed)'" in diff["diff"]
        c.call("config.commit", {"comment": "radius"})
        assert c.call("config.compare") == {"changed": False, "diff": ""}
        c.call("config.set", {"path": "radius servers 0 secret", "value": "third-s3cret"})
        c.call("config.set", {"path": "system hostname", "value": "bng-x"})
        text = c.call("config.compare")["diff"]
        assert "s3cret" not in text and "bng-x" in text
        assert "-    secret: '********'" in text and "+    secret: '******** (changed)'" in text
