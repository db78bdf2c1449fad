"""Scale-mode fixtures: a real PostgreSQL and Redis (Debian packages) in temporary directories on
loopback, two Rasa instances sharing them, and gateway processes in scale mode. All stopped at the end.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.scale.local_services import TemporaryPostgres, TemporaryRedis, scale_env, start_gateway
from bot.stack import Stack, ensure_model


@pytest.fixture(scope="session")
def postgres() -> TemporaryPostgres:
    with TemporaryPostgres() as server:
        yield server


@pytest.fixture(scope="session")
def redis_server() -> TemporaryRedis:
    with TemporaryRedis() as server:
        yield server


@pytest.fixture(scope="session")
def database_url(postgres: TemporaryPostgres) -> str:
    return postgres.create_database("velkommen")


@pytest.fixture(scope="session")
def scale_stack(database_url: str, redis_server: TemporaryRedis, tmp_path_factory) -> Stack:
    """The action server and two Rasa instances with trackers in PostgreSQL and locks in Redis."""
    model = Path(os.environ["VELKOMMEN_MODEL"]) if os.environ.get("VELKOMMEN_MODEL") else ensure_model()
    with Stack(tmp_path_factory.mktemp("scale-stack"), model, rasa_instances=2, tracker_url=database_url,
               redis_url=redis_server.url) as stack:
        yield stack


@pytest.fixture(scope="session")
def gateways(scale_stack: Stack, database_url: str, redis_server: TemporaryRedis, tmp_path_factory) -> list[str]:
    """Two gateway processes (as two workers or two pods would be) on the same database and Redis."""
    env = scale_env(scale_stack, database_url, redis_server.url)
    started = [start_gateway(env, tmp_path_factory.mktemp(f"gateway-{i}")) for i in range(2)]
    yield [url for _, url in started]
    for process, _ in started:
        process.terminate()
        process.wait(timeout=30)
