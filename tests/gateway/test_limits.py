"""Input abuse: oversized bodies get 413 (declared or chunked), floods get 429 with Retry-After
and a polite text in the client's language, per source IP and per conversation."""
from __future__ import annotations

import shutil

import pytest
import yaml
from fastapi.testclient import TestClient

from actions.knowledge import Knowledge
from bot.app import create_app
from bot.safety.limits import TokenBuckets
from bot.settings import ROOT, Settings
from bot.stack import free_port

KB = Knowledge.load()


def limited_client(tmp_path, **rate) -> TestClient:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    limits = yaml.safe_load((config / "limits.yml").read_text())
    limits["body"]["max_bytes"] = 2000
    for name, values in rate.items():
        limits["rate"][name].update(values)
    (config / "limits.yml").write_text(yaml.safe_dump(limits))
    settings = Settings(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'gateway.db'}",
                        rasa_url=f"http://127.0.0.1:{free_port()}", rasa_token="unused", config_dir=config)
    return TestClient(create_app(settings))


@pytest.fixture
def client(tmp_path):
    with limited_client(tmp_path) as test_client:
        yield test_client


def new_conversation(client: TestClient) -> str:
    return client.post("/api/conversations", json={"municipality": "faxe"}).json()["id"]


def test_a_declared_oversized_body_gets_413_and_nothing_is_stored(client):
    conversation = new_conversation(client)
    response = client.post(f"/api/conversations/{conversation}/messages", json={"text": "a " * 1500})
    assert response.status_code == 413
    history = client.get(f"/api/conversations/{conversation}/messages").json()["messages"]
    assert [m for m in history if m["role"] == "user"] == []


def test_a_chunked_oversized_body_gets_413(client):
    conversation = new_conversation(client)

    def chunks():
        yield b'{"text": "'
        for _ in range(50):
            yield b"x" * 100
        yield b'"}'

    response = client.post(f"/api/conversations/{conversation}/messages", content=chunks(),
                           headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers
    assert response.status_code == 413


def test_a_body_within_the_limit_passes(client):
    conversation = new_conversation(client)
    response = client.post(f"/api/conversations/{conversation}/messages", json={"text": "where can I learn danish?"})
    assert response.status_code == 200


def test_a_flooding_conversation_gets_429_with_retry_after_and_a_polite_danish_text(tmp_path):
    with limited_client(tmp_path, per_conversation={"burst": 3, "per_second": 0.1}) as client:
        conversation, other = new_conversation(client), new_conversation(client)
        statuses = [client.post(f"/api/conversations/{conversation}/messages", json={"text": f"hej {i}"},
                                headers={"accept-language": "da-DK,da;q=0.9"}) for i in range(5)]
        assert [r.status_code for r in statuses] == [200, 200, 200, 429, 429]
        assert 1 <= int(statuses[3].headers["retry-after"]) <= 10
        assert statuses[3].json()["detail"] == KB.message("rate_limited", "da")
        assert client.post(f"/api/conversations/{other}/messages", json={"text": "hello"}).status_code == 200
        stored = client.get(f"/api/conversations/{conversation}/messages").json()["messages"]
        assert len([m for m in stored if m["role"] == "user"]) == 3


def test_a_flooding_source_gets_429_on_the_api_but_health_stays_open(tmp_path):
    with limited_client(tmp_path, per_source={"burst": 4, "per_second": 0.01}) as client:
        statuses = [client.post("/api/conversations", json={}).status_code for _ in range(6)]
        assert statuses == [201] * 4 + [429] * 2
        refused = client.get("/api/conversations/x/messages")
        assert refused.status_code == 429 and refused.json()["detail"] == KB.message("rate_limited", "en")
        assert client.get("/health").status_code == 200


def test_token_buckets_refill_with_time():
    now = [0.0]
    buckets = TokenBuckets(per_second=2, burst=2, clock=lambda: now[0])
    assert [buckets.take("a"), buckets.take("a")] == [0, 0]
    assert buckets.take("a") == pytest.approx(0.5)
    now[0] += 0.5
    assert buckets.take("a") == 0
    assert buckets.take("b") == 0  # keys are independent


def test_idle_buckets_are_forgotten_beyond_the_key_limit():
    now = [0.0]
    buckets = TokenBuckets(per_second=1, burst=2, max_keys=10, clock=lambda: now[0])
    for key in range(10):
        buckets.take(str(key))
    now[0] += 5  # every bucket is full again
    buckets.take("new")
    assert set(buckets.buckets) == {"new"}
