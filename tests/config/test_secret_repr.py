"""Schema fields marked secret are left out of model repr()/str() (log lines, tracebacks)."""

from __future__ import annotations


def test_secret_fields_stay_out_of_model_repr() -> None:
    from abng.config.schema_access import LocalSubscriber
    from abng.config.schema_services import Radius

    radius = Radius.model_validate(
        {"servers": [{"host": "192.0.2.1", "secret": "repr-s3cret"}], "coa_secret": "coa-s3cret"}
    )
    sub = LocalSubscriber.model_validate({"username": "u", "password": "pw-s3cret"})
    text = repr(radius) + str(radius) + repr(radius.servers[0]) + repr(sub) + str(sub)
    assert "s3cret" not in text and "192.0.2.1" in text
