"""Webhook acknowledgement latency for Telegram and SMS at a steady offered rate (default 20 msg/s),
with the real stack behind: a uvicorn gateway with both channels on, real Rasa and action server,
replies sent by the real PTB and twilio clients to the stand-in APIs (tests/gateway/channel_standins.py).

Prints p50/p95/max of the webhook answer per channel, then how long the gateway took to process
every message and send every reply (read from its database); then the same messages again, as a
provider retrying would: acknowledged, not answered twice.

    bin/velkommen benchmark webhook_ack [--rate 20] [--seconds 10] [--users 20]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.gateway_process import start_gateway
from benchmarks.turn_latency import percentile
from bot.settings import ROOT
from bot.stack import Stack, ensure_model
from tests.gateway.channel_standins import (
    SMS_PATH, TELEGRAM_PATH, TELEGRAM_SECRET, TelegramStandIn, TwilioStandIn, channel_env, sms_params,
    telegram_message, twilio_signature,
)

QUESTIONS = [json.loads(line)["text"] for line in (ROOT / "tests/heldout/questions.jsonl").read_text().splitlines()]


async def offer(rate: float, count: int, send) -> list[float]:
    """Sends `count` requests at `rate` per second on a fixed schedule (not waiting for answers)."""
    latencies: list[float] = []

    async def one(i: int) -> None:
        await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
        begun = time.perf_counter()
        response = await send(i)
        latencies.append(time.perf_counter() - begun)
        if response.status_code != 200:
            raise RuntimeError(f"webhook answered {response.status_code}: {response.text[:200]}")

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    return latencies


def report(name: str, rate: float, latencies: list[float]) -> None:
    print(f"{name:<16} offered {rate:g} msg/s  n={len(latencies)}  ack p50={statistics.median(latencies) * 1000:6.1f} ms  "
          f"p95={percentile(latencies, 0.95) * 1000:6.1f} ms  max={max(latencies) * 1000:6.1f} ms", flush=True)


def drained(database: Path, channel: str, timeout_s: float) -> tuple[float, dict[str, int]]:
    """Seconds until the channel's inbox and outbox are empty, and the outbox statuses then."""
    started = time.monotonic()
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10) as db:
        while time.monotonic() - started < timeout_s:
            busy = db.execute("SELECT (SELECT count(*) FROM channel_inbox WHERE channel = ? AND status = 'pending')"
                              " + (SELECT count(*) FROM outbox WHERE channel = ? AND status IN ('pending', 'sending'))",
                              (channel, channel)).fetchone()[0]
            if not busy:
                break
            time.sleep(0.2)
        statuses = dict(db.execute("SELECT status, count(*) FROM outbox WHERE channel = ? GROUP BY status", (channel,)))
        failed = db.execute("SELECT count(*) FROM channel_inbox WHERE channel = ? AND status = 'failed'", (channel,)).fetchone()[0]
    return time.monotonic() - started, statuses | {"inbox_failed": failed}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="benchmark webhook_ack")
    parser.add_argument("--rate", type=float, default=20.0, help="messages per second offered, per channel")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long each channel is offered traffic")
    parser.add_argument("--users", type=int, default=20, help="distinct chats / phone numbers")
    args = parser.parse_args(argv)
    count = int(args.rate * args.seconds)
    telegram_api, twilio_api = TelegramStandIn(), TwilioStandIn()
    with tempfile.TemporaryDirectory(prefix="velkommen-bench-") as tmp, Stack(Path(tmp), ensure_model()) as stack:
        os.environ.update(channel_env(telegram_api, twilio_api))
        gateway, url = start_gateway(stack, Path(tmp))
        try:
            deadline = time.monotonic() + 60
            while not telegram_api.webhook and time.monotonic() < deadline:  # PTB initialised, webhook registered
                time.sleep(0.1)

            async def telegram(client: httpx.AsyncClient, i: int) -> httpx.Response:
                update = telegram_message(900_000 + i % args.users, QUESTIONS[i % len(QUESTIONS)], update_id=i + 1)
                return await client.post(url + TELEGRAM_PATH, json=update,
                                         headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET})

            async def sms(client: httpx.AsyncClient, i: int) -> httpx.Response:
                params = sms_params(f"+4530{i % args.users:06d}", QUESTIONS[i % len(QUESTIONS)], sid=f"SM{i:032x}")
                signature = twilio_signature(params, url=url + SMS_PATH)
                return await client.post(url + SMS_PATH, data=params, headers={"X-Twilio-Signature": signature})

            for name, send, standin in (("telegram", telegram, telegram_api), ("sms", sms, twilio_api)):
                async def run() -> list[float]:
                    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=100)) as client:
                        return await offer(args.rate, count, lambda i: send(client, i))

                report(name, args.rate, asyncio.run(run()))
                seconds, statuses = drained(Path(tmp) / "gateway.db", name, timeout_s=300)
                print(f"{'':<16} all {count} processed and replies sent {seconds:.1f} s after the last message; "
                      f"outbox {statuses}", flush=True)
                replies = len(standin.sent)
                report(f"{name} retries", args.rate, asyncio.run(run()))  # the same ids again: the bare webhook cost
                drained(Path(tmp) / "gateway.db", name, timeout_s=60)
                print(f"{'':<16} replies after the retries: {len(standin.sent) - replies} more (duplicates are not answered)",
                      flush=True)
            print(f"stand-ins received: telegram {len(telegram_api.sent)} messages, sms {len(twilio_api.sent)}", flush=True)
        finally:
            gateway.terminate()
            gateway.wait()
            telegram_api.close()
            twilio_api.close()
    return 0
