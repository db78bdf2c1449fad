"""Sustained load through the web API in scale mode (PostgreSQL, Redis, Rasa instances for the rate
plus one spare (N + 1, as docs/deployment.md sizes a region), a gateway with two workers, all on
loopback), in one run:

1. direct Rasa at the same rate (the baseline for the gateway's overhead),
2. the gateway at the rate for the duration: lost messages (0 expected), p50/p95,
3. the same with one Rasa instance SIGKILLed halfway,
and the peak memory (RSS) of every part of the stack.

    bin/velkommen benchmark web_load [--rate 20] [--duration 600] [--direct-duration 120] [--users 200] [--rasa 3]

A message is lost when the gateway acknowledged or stored it and, after the run, the database holds
neither a reply to it nor the message kept for the resume loop (see `outcomes`). Each simulated newcomer has their own conversation of `--turns` messages (then the
next newcomer starts a new one, as real conversations are short: Rasa's tracker grows with every
turn) and their own loopback source address, as real newcomers have their own IPs (the gateway
limits rates per source).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from bot.rasa_client import RasaClient
from bot.scale.local_services import TemporaryPostgres, TemporaryRedis, scale_env, start_gateway
from bot.settings import ROOT
from bot.stack import Stack, ensure_model
from bot.store.models import Conversation, Message

QUESTIONS = [json.loads(line) for line in (ROOT / "tests/heldout/questions.jsonl").read_text().splitlines()]
RETRIES = 3  # a 429/503 is retried with the same client_id, as the web chat does


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))] if ordered else float("nan")


@dataclass
class Newcomer:
    """One simulated person: a conversation, a source address, one message in flight at most."""

    index: int
    client: httpx.AsyncClient
    conversation: str = ""
    turns_left: int = 0  # messages still to send in this conversation before a new newcomer starts one
    busy: bool = False

    def next_conversation(self, turns: int) -> bool:
        """Counts one message; True when it opens a new conversation (the previous one is over)."""
        fresh = self.turns_left == 0
        self.turns_left = (turns if fresh else self.turns_left) - 1
        return fresh


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    sent: dict[str, tuple[str, float]] = field(default_factory=dict)  # client_id → (conversation, sent at)
    acknowledged: set[str] = field(default_factory=set)  # client_ids the gateway answered with 200
    failed: int = 0  # no HTTP success even after retries (the message may still be stored: checked after)
    skipped: int = 0  # every newcomer was still waiting for a reply when a message was due
    elapsed_s: float = 0.0  # from the first arrival until the last reply

    def summary(self) -> str:
        ms = [value * 1000 for value in self.latencies]
        return (f"{self.name:<22} sent={len(self.sent):<6} answered_http={len(self.latencies):<6} "
                f"failed_http={self.failed:<4} skipped={self.skipped:<4} p50={percentile(ms, 0.5):7.1f} ms "
                f"p95={percentile(ms, 0.95):7.1f} ms throughput={len(self.latencies) / self.elapsed_s:5.1f}/s")


def newcomers(count: int) -> list[Newcomer]:
    return [Newcomer(i, httpx.AsyncClient(timeout=120, transport=httpx.AsyncHTTPTransport(
        local_address=f"127.0.{1 + i // 250}.{2 + i % 250}"))) for i in range(count)]


async def gateway_turn(url: str, turns: int, person: Newcomer, phase: Phase, question: dict) -> None:
    if person.next_conversation(turns):
        try:
            response = await person.client.post(f"{url}/api/conversations", json={"municipality": question["municipality"]})
            response.raise_for_status()
        except httpx.HTTPError:
            person.turns_left, phase.failed = 0, phase.failed + 1  # nothing sent yet: the next message starts over
            return
        person.conversation = response.json()["id"]
    client_id = uuid.uuid4().hex
    started = time.perf_counter()
    phase.sent[client_id] = (person.conversation, time.monotonic())
    for attempt in range(RETRIES):
        try:
            response = await person.client.post(f"{url}/api/conversations/{person.conversation}/messages",
                                                json={"text": question["text"], "client_id": client_id})
        except httpx.HTTPError:
            response = None
        if response is not None and response.status_code == 200:
            phase.latencies.append(time.perf_counter() - started)
            phase.acknowledged.add(client_id)
            return
        await asyncio.sleep(0.5 * 2 ** attempt)
    phase.failed += 1


async def rasa_turn(stack: Stack, router: RasaClient, turns: int, person: Newcomer, phase: Phase, question: dict) -> None:
    if person.next_conversation(turns):
        person.conversation = uuid.uuid4().hex
    sender = person.conversation
    started = time.perf_counter()
    phase.sent[uuid.uuid4().hex] = (sender, time.monotonic())
    try:
        response = await person.client.post(router.instances_for(sender)[0], headers={"Authorization": f"Bearer {stack.token}"},
                                             json={"sender": sender, "text": question["text"],
                                                   "metadata": {"language": question["language"],
                                                                "municipality": question["municipality"]}})
        response.raise_for_status()
        phase.latencies.append(time.perf_counter() - started)
    except httpx.HTTPError:
        phase.failed += 1


async def run_phase(phase: Phase, people: list[Newcomer], rate: float, duration_s: float, turn, midway=None) -> None:
    """Open-loop arrivals at a fixed rate; each goes to the next newcomer not waiting for a reply.
    Every phase starts fresh conversations: an earlier phase's may not exist where this one sends."""
    for person in people:
        person.turns_left = 0
    arrivals = int(rate * duration_s)
    tasks: list[asyncio.Task] = []
    start = time.monotonic()
    next_person = 0
    for k in range(arrivals):
        await asyncio.sleep(max(0.0, start + k / rate - time.monotonic()))
        if midway is not None and k == arrivals // 2:
            midway()
        for _ in range(len(people)):
            person = people[next_person % len(people)]
            next_person += 1
            if not person.busy:
                break
        else:
            phase.skipped += 1
            continue
        person.busy = True
        task = asyncio.create_task(turn(person, phase, QUESTIONS[k % len(QUESTIONS)]))
        task.add_done_callback(lambda _, p=person: setattr(p, "busy", False))
        tasks.append(task)
    await asyncio.gather(*tasks, return_exceptions=True)
    phase.elapsed_s = time.monotonic() - start


def outcomes(database_url: str, phase: Phase) -> Counter:
    """After the run, from the database: every message sent is exactly one of
    answered (by Rasa), degraded (the fallback reply; kept with status received, answered on resume),
    pending (stored, reply still to come from the resume loop), caseworker (the conversation was
    handed off: a caseworker answers), refused (never acknowledged after the retries and not stored:
    the sender saw the error) or lost (acknowledged or stored, yet none of these)."""
    with Session(create_engine(database_url)) as session:
        users = {m.client_id: m for m in session.scalars(select(Message).where(Message.client_id.in_(list(phase.sent))))}
        owners = dict(session.execute(select(Conversation.id, Conversation.owner).where(
            Conversation.id.in_({m.conversation_id for m in users.values()}))).all())
        replied = set(session.scalars(select(Message.details["reply_to"].as_integer()).where(
            Message.role != "user", Message.details["reply_to"].as_integer().in_([m.seq for m in users.values()]))))
    counts: Counter = Counter()
    for client_id in phase.sent:
        user = users.get(client_id)
        if user is None:
            counts["lost" if client_id in phase.acknowledged else "refused"] += 1
        elif user.seq in replied:
            counts["answered" if user.status == "done" else "degraded"] += 1
        elif owners.get(user.conversation_id) != "assistant":
            counts["caseworker"] += 1
        else:
            counts["pending" if user.status == "received" else "lost"] += 1
    return counts


def described(counts: Counter) -> str:
    return " ".join(f"{kind}={counts[kind]}" for kind in ("lost", "answered", "degraded", "pending", "caseworker", "refused"))


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def tree_usage(pid: int) -> tuple[int, float]:
    """(resident KiB, CPU seconds) of a process and all its descendants, from /proc."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        rss = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime
        children = [int(c) for task in Path(f"/proc/{pid}/task").iterdir()
                    for c in (task / "children").read_text().split()]
    except (OSError, StopIteration):
        return 0, 0.0
    for child in children:
        child_rss, child_cpu = tree_usage(child)
        rss, cpu = rss + child_rss, cpu + child_cpu
    return rss, cpu


class UsageWatch:
    """Peak memory of every part of the stack, and the CPU each part spends per phase."""

    def __init__(self, parts: dict[str, int]) -> None:
        self.parts = parts
        self.peak = {name: 0 for name in parts}
        self.cpu = {name: 0.0 for name in parts}

    async def run(self) -> None:
        while True:
            for name, pid in self.parts.items():
                rss, self.cpu[name] = tree_usage(pid)
                self.peak[name] = max(self.peak[name], rss)
            await asyncio.sleep(2)

    def cpu_now(self) -> dict[str, float]:
        return {name: tree_usage(pid)[1] for name, pid in self.parts.items()}

    @staticmethod
    def cpu_per_message(before: dict[str, float], after: dict[str, float], messages: int) -> str:
        return "  ".join(f"{name} {1000 * (after[name] - before[name]) / max(1, messages):.0f}" for name in before)

    def report(self) -> str:
        lines = [f"  {name:<16} {kib / 1024:8.0f} MiB" for name, kib in self.peak.items()]
        total = sum(self.peak.values()) / 1024
        app = sum(kib for name, kib in self.peak.items() if not name.startswith(("postgresql", "redis"))) / 1024
        return "\n".join(lines + [f"  {'gateway+rasa+actions':<16} {app:8.0f} MiB", f"  {'whole stack':<16} {total:8.0f} MiB"])


async def load(args: argparse.Namespace, stack: Stack, url: str, database_url: str, memory: UsageWatch) -> int:
    watching = asyncio.create_task(memory.run())
    router = RasaClient(stack.rasa_urls, stack.token)
    people = newcomers(args.users)
    try:
        direct = Phase("direct rasa")
        cpu_before = memory.cpu_now()
        await run_phase(direct, people, args.rate, args.direct_duration, lambda p, ph, q: rasa_turn(stack, router, args.turns, p, ph, q))
        cpu_direct = memory.cpu_now()
        print(direct.summary(), flush=True)

        steady = Phase("gateway")
        await run_phase(steady, people, args.rate, args.duration, lambda p, ph, q: gateway_turn(url, args.turns, p, ph, q))
        cpu_steady = memory.cpu_now()
        steady_outcomes = outcomes(database_url, steady)
        print(f"{steady.summary()} {described(steady_outcomes)}", flush=True)
        print("CPU ms per message, direct rasa:  " + memory.cpu_per_message(cpu_before, cpu_direct, len(direct.latencies)))
        print("CPU ms per message, gateway:      " + memory.cpu_per_message(cpu_direct, cpu_steady, len(steady.latencies)),
              flush=True)

        killed = Phase("gateway, rasa killed")
        kill = lambda: stack.stop_one(stack.rasa_name(1), signal.SIGKILL)  # noqa: E731
        await run_phase(killed, people, args.rate, args.duration, lambda p, ph, q: gateway_turn(url, args.turns, p, ph, q), midway=kill)
        killed_outcomes = outcomes(database_url, killed)
        print(f"{killed.summary()} {described(killed_outcomes)}  (rasa-2 SIGKILLed at {args.duration / 2:.0f} s)",
              flush=True)

        p50 = statistics.median(steady.latencies) / statistics.median(direct.latencies)
        p95 = percentile(steady.latencies, 0.95) / percentile(direct.latencies, 0.95)
        print(f"gateway overhead: p50 x{p50:.2f}, p95 x{p95:.2f} of direct Rasa (same run, same rate)", flush=True)
        print("peak memory (RSS, process trees):\n" + memory.report(), flush=True)
        return 0 if steady_outcomes["lost"] == 0 and killed_outcomes["lost"] == 0 else 1
    finally:
        watching.cancel()
        await router.close()
        await asyncio.gather(*(person.client.aclose() for person in people))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="benchmark web_load")
    parser.add_argument("--rate", type=float, default=20, help="messages per second")
    parser.add_argument("--duration", type=float, default=600, help="seconds per gateway phase")
    parser.add_argument("--direct-duration", type=float, default=120, help="seconds of direct-Rasa baseline")
    parser.add_argument("--users", type=int, default=200, help="newcomers writing at the same time (≤ 2500)")
    parser.add_argument("--turns", type=int, default=8, help="messages per conversation, then a new one starts")
    parser.add_argument("--workers", type=int, default=2, help="gateway worker processes")
    parser.add_argument("--rasa", type=int, default=3, help="Rasa instances: on 2 cores, two carry 20 msg/s and one is the spare")
    args = parser.parse_args(argv)
    with (tempfile.TemporaryDirectory(prefix="velkommen-load-") as tmp, TemporaryPostgres() as postgres,
          TemporaryRedis() as redis_server):
        database_url = postgres.create_database("velkommen")
        with Stack(Path(tmp), ensure_model(), rasa_instances=args.rasa, tracker_url=database_url,
                   redis_url=redis_server.url) as stack:
            gateway, url = start_gateway(scale_env(stack, database_url, redis_server.url), Path(tmp) / "gateway",
                                         workers=args.workers)
            postmaster = int((postgres.directory / "data/postmaster.pid").read_text().split()[0])
            memory = UsageWatch({
                "gateway": gateway.pid, **{name: process.pid for name, process in stack.processes.items()},
                "postgresql": postmaster, "redis": redis_server.process.pid})
            print(f"rate={args.rate:g} msg/s duration={args.duration:g} s users={args.users} gateway workers={args.workers} "
                  f"rasa instances={args.rasa} (PostgreSQL trackers, Redis locks)", flush=True)
            try:
                return asyncio.run(load(args, stack, url, database_url, memory))
            finally:
                gateway.terminate()
                gateway.wait(timeout=30)
