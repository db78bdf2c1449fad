"""Fuzzes every operation of the gateway's OpenAPI (schemathesis, in-process ASGI): no input may
produce a 5xx. Cases are valid and invalid by the schema; half of them aim at a real conversation so the pipeline itself is exercised
(with Rasa down, its degraded path; the rate limits are lifted so they do not hide the pipeline)."""
from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import create_app
from bot.safety.limits import config_without_rate_limits
from bot.settings import Settings
from bot.stack import free_port
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    home = tmp_path_factory.mktemp("fuzz")
    config = config_without_rate_limits(home)
    app = create_app(Settings(home=home, database_url=f"sqlite:///{home / 'gateway.db'}",
                              rasa_url=f"http://127.0.0.1:{free_port()}", rasa_token="unused", rasa_timeout_s=2,
                              config_dir=config))
    conversation = TestClient(app).post("/api/conversations", json={"municipality": "faxe"}).json()["id"]
    return app, conversation


def test_no_input_gives_a_server_error(gateway):
    app, conversation = gateway
    operations = [result.ok() for result in schemathesis.openapi.from_asgi("/openapi.json", app).get_all_operations()]
    assert len(operations) >= 4
    calls: Counter[str] = Counter()
    for operation in operations:

        cases = st.one_of(*(operation.as_strategy(mode) for mode in GenerationMode))  # valid and invalid input

        @given(case=cases, aim_at_real_conversation=st.booleans())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def fuzz(case, aim_at_real_conversation):
            if aim_at_real_conversation and "conversation_id" in (case.path_parameters or {}):
                case.path_parameters["conversation_id"] = conversation
            case.call_and_validate(checks=[not_a_server_error])
            calls[operation.label] += 1

        fuzz()
    assert set(calls) == {operation.label for operation in operations}, calls
