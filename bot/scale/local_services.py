"""Throwaway PostgreSQL and Redis servers on loopback, in temporary data directories, for the
scale tests and benchmarks (Debian packages `postgresql` and `redis-server`; bin/velkommen installs
them). Never used in production, where the platform runs both.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis

from bot.settings import ROOT
from bot.stack import Stack, free_port, wait_until


def postgres_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        raise FileNotFoundError(f"{name} not found: install the Debian package postgresql")
    return found


@dataclass
class TemporaryPostgres:
    """A fresh cluster (trust authentication, loopback only) that is deleted when stopped."""

    user: str = "velkommen"
    port: int = field(default_factory=free_port)
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="velkommen-pg-")))

    def as_owner(self, command: list[str]) -> list[str]:
        """initdb and postgres refuse to run as root: run them as the package's postgres user."""
        return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command

    def start(self) -> "TemporaryPostgres":
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.directory, owner.pw_uid, owner.pw_gid)
        data = self.directory / "data"
        subprocess.run(self.as_owner([postgres_bin("initdb"), "-D", str(data), "-U", self.user, "-A", "trust",
                                      "-E", "UTF8", "--no-locale"]), check=True, capture_output=True)
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        try:
            subprocess.run(self.as_owner([postgres_bin("pg_ctl"), "-D", str(data), "-o", options,
                                          "-l", str(self.directory / "postgres.log"), "-w", "start"]),
                           check=True, capture_output=True)
        except BaseException:
            self.stop()
            raise
        return self

    def create_database(self, name: str) -> str:
        subprocess.run(self.as_owner([postgres_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                                      "-U", self.user, name]), check=True, capture_output=True)
        return self.url(name)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        for mode in ("fast", "immediate"):
            stopped = subprocess.run(self.as_owner([postgres_bin("pg_ctl"), "-D", str(self.directory / "data"),
                                                    "-m", mode, "-t", "20", "-w", "stop"]), capture_output=True)
            if stopped.returncode == 0:
                break
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> "TemporaryPostgres":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class TemporaryRedis:
    """redis-server without persistence on a free loopback port."""

    port: int = field(default_factory=free_port)
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="velkommen-redis-")))
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "TemporaryRedis":
        server = shutil.which("redis-server")
        if server is None:
            raise FileNotFoundError("redis-server not found: install the Debian package redis-server")
        log = (self.directory / "redis.log").open("w")
        self.process = subprocess.Popen(
            [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory)], stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until(self.answers, "redis-server", 30, self.process)
        except BaseException:
            self.stop()
            raise
        return self

    def answers(self) -> bool:
        try:
            return redis.Redis.from_url(self.url).ping()
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> "TemporaryRedis":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_gateway(env: dict[str, str], home: Path, workers: int = 1) -> tuple[subprocess.Popen, str]:
    """A real gateway (uvicorn, `workers` processes) on a free loopback port, configured by `env`."""
    port = free_port()
    home.mkdir(parents=True, exist_ok=True)
    env = os.environ | env | {"VELKOMMEN_HOME": str(home), "VELKOMMEN_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    log = (home / f"gateway-{port}.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "bot.app:create_app", "--host", "127.0.0.1", "--port", str(port),
         "--workers", str(workers), "--log-level", "warning"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(f"{url}/health").status_code == 200, "gateway", 300, process, home / f"gateway-{port}.log")
    except BaseException:
        process.kill()
        process.wait()
        raise
    return process, url


def scale_env(stack: Stack, database_url: str, redis_url: str) -> dict[str, str]:
    """The one switch and its two addresses, as an operator would set them."""
    return stack.gateway_env() | {"VELKOMMEN_MODE": "scale", "VELKOMMEN_DATABASE_URL": database_url,
                                  "VELKOMMEN_REDIS_URL": redis_url}
