"""Survey programs: the shipped file loads; bad scales and duplicate ids are refused."""

from typing import Any

import orjson
import pytest
from feedloop.solicit.programs import ProgramsConfig, Survey, load_programs
from pydantic import ValidationError


def test_the_shipped_programs_load_with_a_post_delivery_nps() -> None:
    config = load_programs(None)
    nps = config.by_id("post-delivery-nps")
    assert nps is not None and nps.survey.metric == "nps" and nps.reminder_after_s
    assert config.triggered_by("order.delivered") == [nps]


def test_scales_are_checked_and_answers_follow_them() -> None:
    csat = Survey(metric="csat", scale_max=7)
    assert (csat.low, csat.high) == (1, 7)
    assert csat.answer(7).model_dump()["scale_max"] == 7
    with pytest.raises(ValidationError):
        csat.answer(8)
    ces = Survey(metric="ces", scale_max=5, direction="lower_is_easier")
    assert ces.answer(2).model_dump()["direction"] == "lower_is_easier"
    with pytest.raises(ValidationError):
        Survey(metric="ces", scale_max=6)
    with pytest.raises(ValidationError):
        Survey(metric="nps", scale_max=5)


def test_program_ids_are_unique() -> None:
    program = {"id": "a", "trigger": "x", "survey": {"metric": "nps"}}
    with pytest.raises(ValidationError, match="unique"):
        ProgramsConfig.model_validate({"programs": [program, program]})


def test_outside_local_mode_a_writer_must_name_its_source_systems() -> None:
    from feedloop.solicit.app import create_app
    from feedloop.solicit.settings import SolicitSettings

    writer = {"client_id": "crm", "key_sha256": "0" * 64, "scopes": ["touchpoints:write"]}

    def settings(environment: str, *clients: dict[str, Any]) -> SolicitSettings:
        return SolicitSettings(
            environment=environment,
            api_keys=orjson.dumps(list(clients)).decode(),
            link_keys='{"k": "' + "a" * 44 + '"}',
            public_base_url="https://surveys.example",
        )

    with pytest.raises(ValueError, match="may report touchpoints but list no source_systems"):
        create_app(settings("prod", writer))
    create_app(settings("prod", writer | {"source_systems": ["crm"]}))
    create_app(settings("test", writer))
