"""Scale mode end to end: two gateway processes on one PostgreSQL and Redis, two Rasa instances
behind them. Turns of one conversation never interleave whichever worker takes them, events reach
other workers, and a conversation survives the death of its Rasa instance.
(The failover test kills a Rasa instance, so it stays the last test of this module.)
"""
from __future__ import annotations

import asyncio
import json
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import yaml
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from bot.rasa_client import RasaClient
from bot.scale.events import RedisEventBus
from bot.settings import ROOT
from bot.store.models import Message

pytestmark = pytest.mark.scale

QUESTIONS = [json.loads(line)["text"] for line in (ROOT / "tests/heldout/questions.jsonl").read_text().splitlines()
             if json.loads(line)["language"] == "en"]


def start(url: str, **body) -> str:
    response = httpx.post(f"{url}/api/conversations", json={"municipality": "faxe", "language": "en", **body}, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def post(url: str, conversation: str, text: str, client_id: str) -> dict:
    response = httpx.post(f"{url}/api/conversations/{conversation}/messages", json={"text": text, "client_id": client_id},
                          timeout=120)
    assert response.status_code == 200, response.text
    return response.json()


def transcript(database_url: str, conversation: str) -> list[Message]:
    with Session(create_engine(database_url)) as session:
        return list(session.scalars(select(Message).where(Message.conversation_id == conversation).order_by(Message.seq)))


def test_concurrent_turns_through_two_workers_never_interleave(gateways, database_url):
    conversation = start(gateways[0])
    questions = QUESTIONS[:8]
    with ThreadPoolExecutor(len(questions)) as pool:  # all at once, alternating between the two workers
        turns = list(pool.map(lambda i: post(gateways[i % 2], conversation, questions[i], f"m{i}"), range(len(questions))))
    assert all(turn["replies"] for turn in turns)

    messages = transcript(database_url, conversation)
    current_user = None
    for message in messages:
        if message.role == "user":
            current_user = message.seq
        elif current_user is not None:
            assert (message.details or {}).get("reply_to") == current_user, (
                f"reply to {message.details.get('reply_to')} stored inside the turn of {current_user}: turns interleaved")
    users = [m for m in messages if m.role == "user"]
    assert sorted(m.client_id for m in users) == sorted(f"m{i}" for i in range(len(questions)))
    assert all(m.status == "done" for m in users), "a turn did not reach Rasa"

    with create_engine(database_url).connect() as connection:  # Rasa (PostgreSQL tracker) saw them in the same order
        tracked = [json.loads(data).get("text") for data in connection.scalars(text(
            "SELECT data FROM events WHERE sender_id = :id AND type_name = 'user' ORDER BY id"), {"id": conversation})]
    assert tracked == [m.text for m in users]


def test_events_published_by_one_worker_reach_another(gateways, redis_server):
    async def scenario() -> dict:
        other_worker = RedisEventBus(redis_server.url)
        conversation = start(gateways[0])
        events = other_worker.subscribe(conversation)
        waiting = asyncio.ensure_future(anext(events))
        await asyncio.sleep(0.2)  # the subscription is confirmed before the turn starts
        turn = await asyncio.to_thread(post, gateways[1], conversation, QUESTIONS[0], "e1")
        event = await asyncio.wait_for(waiting, 10)
        await events.aclose()
        await other_worker.close()
        return {"event": event, "last_seq": turn["replies"][-1]["seq"]}

    result = asyncio.run(scenario())
    assert result["event"] == {"type": "message", "seq": result["last_seq"]}


def test_server_sent_events_of_one_worker_carry_a_reply_made_by_another(gateways):
    """The stream re-reads the store only every 15 s by itself: arriving within 5 s means the
    notice travelled from worker A through Redis to worker B."""
    started = httpx.post(f"{gateways[0]}/api/conversations", json={"municipality": "faxe", "language": "en"}, timeout=30)
    conversation, after = started.json()["id"], max(m["seq"] for m in started.json()["messages"])

    async def scenario() -> tuple[float, int]:
        async with httpx.AsyncClient(timeout=30) as client, client.stream(
                "GET", f"{gateways[1]}/api/conversations/{conversation}/events", params={"after": after}) as stream:
            await asyncio.sleep(1.0)  # worker B's subscription is confirmed
            turn = await asyncio.to_thread(post, gateways[0], conversation, QUESTIONS[2], "sse1")
            posted, last = time.monotonic(), turn["replies"][-1]["seq"]

            async def until_last_reply() -> None:
                async for line in stream.aiter_lines():
                    if line.startswith("data:") and json.loads(line.removeprefix("data:"))["seq"] == last:
                        return

            await asyncio.wait_for(until_last_reply(), 10)
            return time.monotonic() - posted, last

    delay, _ = asyncio.run(scenario())
    assert delay < 5


def test_a_source_has_one_rate_budget_however_many_workers_it_reaches(gateways):
    """Rate limits live in Redis in scale mode: requests spread over both workers still get the
    per-source burst once, not once per worker (per-process buckets would let all of them through)."""
    conversation = start(gateways[0])
    per_source = yaml.safe_load((ROOT / "config/limits.yml").read_text())["rate"]["per_source"]
    attempts = 2 * per_source["burst"]
    with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.9"), timeout=30) as client:
        started = time.monotonic()
        statuses = [client.get(f"{gateways[i % 2]}/api/conversations/{conversation}/messages").status_code
                    for i in range(attempts)]
        elapsed = time.monotonic() - started
    assert set(statuses) == {200, 429}
    assert statuses.count(200) <= per_source["burst"] + per_source["per_second"] * elapsed + 1, statuses


def test_a_conversation_survives_the_death_of_its_rasa_instance(gateways, scale_stack, database_url):
    client = RasaClient(scale_stack.rasa_urls, scale_stack.token)
    conversation = start(gateways[0])
    while client.instances_for(conversation)[0] != client.urls[0]:  # one that lives on the instance about to die
        conversation = start(gateways[0])
    post(gateways[0], conversation, QUESTIONS[0], "before")

    scale_stack.stop_one("rasa", signal.SIGKILL)
    started = time.monotonic()
    after = [post(gateways[i % 2], conversation, QUESTIONS[i + 1], f"after{i}") for i in range(3)]
    elapsed = time.monotonic() - started

    assert all(turn["replies"] for turn in after)
    assert elapsed < 30
    users = [m for m in transcript(database_url, conversation) if m.role == "user"]
    assert [m.status for m in users] == ["done"] * 4, "a turn after the kill was not answered by the other instance"
    with create_engine(database_url).connect() as connection:  # the survivor continued the same tracker
        tracked = connection.scalar(text("SELECT count(*) FROM events WHERE sender_id = :id AND type_name = 'user'"),
                                    {"id": conversation})
    assert tracked == 4
