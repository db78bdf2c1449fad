"""Turn latency and throughput, direct Rasa (its loopback channel) versus the gateway API, for
1 and 10 concurrent users, measured in the same run on the same stack.

    bin/velkommen benchmark turn_latency [--turns 40]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from benchmarks.gateway_process import start_gateway
from bot.settings import ROOT
from bot.stack import Stack, ensure_model

QUESTIONS = [json.loads(line)["text"] for line in (ROOT / "tests/heldout/questions.jsonl").read_text().splitlines()]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


async def rasa_user(client: httpx.AsyncClient, stack: Stack, turns: int, offset: int, latencies: list[float]) -> None:
    sender = uuid.uuid4().hex
    for i in range(turns):
        started = time.perf_counter()
        response = await client.post(f"{stack.rasa_url}/webhooks/gateway/webhook",
                                     headers={"Authorization": f"Bearer {stack.token}"},
                                     json={"sender": sender, "text": QUESTIONS[(offset + i) % len(QUESTIONS)],
                                           "metadata": {"language": "en", "municipality": "faxe"}})
        response.raise_for_status()
        latencies.append(time.perf_counter() - started)


async def gateway_user(client: httpx.AsyncClient, url: str, turns: int, offset: int, latencies: list[float]) -> None:
    conversation = (await client.post(f"{url}/api/conversations", json={"municipality": "faxe"})).json()["id"]
    for i in range(turns):
        started = time.perf_counter()
        response = await client.post(f"{url}/api/conversations/{conversation}/messages",
                                     json={"text": QUESTIONS[(offset + i) % len(QUESTIONS)]})
        response.raise_for_status()
        latencies.append(time.perf_counter() - started)


async def measure(name: str, users: int, turns: int, make_user) -> None:
    latencies: list[float] = []
    async with httpx.AsyncClient(timeout=120) as client:
        started = time.perf_counter()
        await asyncio.gather(*(make_user(client, turns, u * turns, latencies) for u in range(users)))
        elapsed = time.perf_counter() - started
    print(f"{name:<8} users={users:<3} p50={statistics.median(latencies) * 1000:7.1f} ms "
          f"p95={percentile(latencies, 0.95) * 1000:7.1f} ms throughput={len(latencies) / elapsed:5.1f} turns/s "
          f"(turns={len(latencies)})", flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="benchmark turn_latency")
    parser.add_argument("--turns", type=int, default=40, help="turns per user")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="velkommen-bench-") as tmp, Stack(Path(tmp), ensure_model()) as stack:
        gateway, url = start_gateway(stack, Path(tmp))
        try:
            for users in (1, 10):
                turns = args.turns if users == 1 else max(4, args.turns // 4)
                asyncio.run(measure("rasa", users, turns, lambda c, t, o, l: rasa_user(c, stack, t, o, l)))
                asyncio.run(measure("gateway", users, turns, lambda c, t, o, l: gateway_user(c, url, t, o, l)))
        finally:
            gateway.terminate()
            gateway.wait()
    return 0
