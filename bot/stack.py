"""Starts and stops the services behind the gateway (Rasa and its action server), and trains
the Rasa model when its inputs changed. Used by `bin/velkommen up`, the tests, batch and
benchmarks alike, so every one of them runs the same real stack.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bot.settings import ROOT, new_token

MODEL_INPUTS = ("config.yml", "domain.yml", "data/nlu", "data/rules.yml", "data/stories.yml")


def say(message: str) -> None:
    print(f"[velkommen] {message}", file=sys.stderr, flush=True)


def cache_dir() -> Path:
    return Path(os.environ.get("VELKOMMEN_CACHE", Path.home() / ".cache/velkommen"))


def rasa_python() -> str:
    return os.environ.get("VELKOMMEN_RASA_PYTHON") or shutil.which("python3.10") or "python3.10"


def rasa_env() -> dict[str, str]:
    env = dict(os.environ, RASA_TELEMETRY_ENABLED="false", SANIC_HOST="127.0.0.1", PYTHONPATH=str(ROOT))
    env.pop("VIRTUAL_ENV", None)
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def model_files() -> list[Path]:
    files: list[Path] = []
    for name in MODEL_INPUTS:
        path = ROOT / name
        files += sorted(path.rglob("*.yml")) if path.is_dir() else [path] if path.exists() else []
    return files


def model_fingerprint() -> str:
    digest = hashlib.sha256()
    for path in model_files():
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def training_data_args() -> list[str]:
    return ["--data", *(str(ROOT / name) for name in MODEL_INPUTS[2:] if (ROOT / name).exists())]


def run_with_heartbeat(command: list[str], log: Path, what: str, every_s: float = 20.0) -> None:
    """Runs a long command with its output in a log file, printing progress so CI shows life."""
    started = time.monotonic()
    next_report = started + every_s
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=rasa_env(), stdout=out, stderr=subprocess.STDOUT)
        while process.poll() is None:
            time.sleep(1)
            if time.monotonic() >= next_report:
                next_report += every_s
                tail = log.read_text(errors="replace")[-400:].replace("\r", "\n").strip().splitlines()
                say(f"  {what}: {int(time.monotonic() - started)} s — {tail[-1][:110] if tail else 'starting'}")
    if process.returncode != 0:
        say(f"{what} failed; last lines of {log}:")
        print(log.read_text(errors="replace")[-4000:], file=sys.stderr)
        raise SystemExit(process.returncode)
    say(f"{what} done in {int(time.monotonic() - started)} s")


def ensure_model() -> Path:
    """The model for the current data, trained once per change and cached outside the clone."""
    models = cache_dir() / "models"
    models.mkdir(parents=True, exist_ok=True)
    name = f"velkommen-{model_fingerprint()}"
    model = models / f"{name}.tar.gz"
    if not model.exists():
        say(f"training the Rasa model {name} (its data changed; a few minutes)")
        command = [rasa_python(), "-m", "rasa", "train", "--config", str(ROOT / "config.yml"),
                   "--domain", str(ROOT / "domain.yml"), *training_data_args(),
                   "--out", str(models), "--fixed-model-name", name]
        run_with_heartbeat(command, cache_dir() / "train.log", "training")
    local = ROOT / "models"
    local.mkdir(exist_ok=True)
    if not (local / model.name).exists():
        for old in local.glob("velkommen-*.tar.gz"):
            old.unlink()
        shutil.copy2(model, local / model.name)
    return model


def wait_until(check, what: str, timeout_s: float, process: subprocess.Popen | None = None, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            detail = log.read_text(errors="replace")[-3000:] if log else ""
            raise RuntimeError(f"{what} exited with {process.returncode}\n{detail}")
        try:
            if check():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{what} not ready after {timeout_s:.0f} s")


@dataclass
class Stack:
    """Rasa and the action server on loopback, on free ports, with a fresh channel token."""

    home: Path
    model: Path
    rasa_port: int = field(default_factory=free_port)
    actions_port: int = field(default_factory=free_port)
    token: str = field(default_factory=new_token)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    # scale mode: several Rasa instances sharing trackers in PostgreSQL and locks in Redis
    rasa_instances: int = 1
    tracker_url: str = ""
    redis_url: str = ""
    rasa_ports: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rasa_ports = [self.rasa_port] + [free_port() for _ in range(self.rasa_instances - 1)]

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    @property
    def rasa_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.rasa_ports]

    @staticmethod
    def rasa_name(instance: int) -> str:
        """The process name stop_one takes: "rasa", then "rasa-2", "rasa-3"…"""
        return "rasa" if instance == 0 else f"rasa-{instance + 1}"

    @property
    def actions_url(self) -> str:
        return f"http://127.0.0.1:{self.actions_port}/webhook"

    def spawn(self, name: str, command: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, Path]:
        log = self.home / f"{name}.log"
        out = log.open("a")
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes[name] = process
        return process, log

    def start_actions(self) -> None:
        process, log = self.spawn(
            "actions", [rasa_python(), "-m", "rasa_sdk", "--actions", "actions", "--port", str(self.actions_port)], rasa_env())
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{self.actions_port}/health").status_code == 200,
                   "action server", 120, process, log)

    def start_rasa(self, timeout_s: float = 300, instance: int = 0) -> None:
        env = rasa_env() | {
            "VELKOMMEN_RASA_TOKEN": self.token, "VELKOMMEN_ACTIONS_URL": self.actions_url,
            "VELKOMMEN_TRACKER_DB": str(self.home / "rasa_tracker.db"),
        }
        endpoints = ROOT / "endpoints.yml"
        if self.tracker_url:
            endpoints, env = ROOT / "endpoints.scale.yml", env | self.scale_env()
        command = [rasa_python(), "-m", "rasa", "run", "--model", str(self.model), "--endpoints", str(endpoints),
                   "--credentials", str(ROOT / "credentials.yml"), "--interface", "127.0.0.1",
                   "--port", str(self.rasa_ports[instance])]
        process, log = self.spawn(self.rasa_name(instance), command, env)
        wait_until(lambda: self.rasa_answers(instance), f"Rasa server {instance + 1}", timeout_s, process, log)

    def scale_env(self) -> dict[str, str]:
        """endpoints.scale.yml's variables: Rasa's own driver (psycopg2) for the tracker database."""
        from urllib.parse import urlsplit

        from sqlalchemy.engine import make_url

        redis = urlsplit(self.redis_url)
        return {
            "VELKOMMEN_RASA_TRACKER_URL": make_url(self.tracker_url).set(drivername="postgresql")
            .render_as_string(hide_password=False),
            "VELKOMMEN_REDIS_HOST": redis.hostname or "127.0.0.1", "VELKOMMEN_REDIS_PORT": str(redis.port or 6379),
            "VELKOMMEN_REDIS_DB": redis.path.strip("/") or "0", "VELKOMMEN_REDIS_PASSWORD": redis.password or "",
            # a crashed instance's conversation lock frees in time for the failover within the gateway's timeout
            "TICKET_LOCK_LIFETIME": "10",
        }

    def rasa_answers(self, instance: int = 0) -> bool:
        response = httpx.post(f"{self.rasa_urls[instance]}/webhooks/gateway/webhook", timeout=30,
                              headers={"Authorization": f"Bearer {self.token}"},
                              json={"sender": "velkommen-readiness", "text": "hello", "metadata": {}})
        return response.status_code == 200 and bool(response.json().get("messages"))

    def start(self) -> "Stack":
        self.home.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(self.rasa_instances + 1) as pool:
            started = [pool.submit(self.start_actions)]
            started += [pool.submit(self.start_rasa, instance=i) for i in range(self.rasa_instances)]
            try:
                for future in started:
                    future.result()
            except BaseException:
                wait(started)
                self.stop()
                raise
        return self

    def stop_one(self, name: str, sig: int = signal.SIGTERM) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def stop(self) -> None:
        for name in list(self.processes):
            self.stop_one(name)

    def gateway_env(self) -> dict[str, str]:
        return {"VELKOMMEN_RASA_URL": ",".join(self.rasa_urls), "VELKOMMEN_RASA_TOKEN": self.token}

    def __enter__(self) -> "Stack":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
