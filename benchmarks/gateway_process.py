"""Runs a real gateway (uvicorn) in a child process against a running stack, for benchmarks."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from bot.safety.limits import config_without_rate_limits
from bot.settings import ROOT
from bot.stack import Stack, free_port, wait_until


def start_gateway(stack: Stack, home: Path, workers: int = 1) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = os.environ | stack.gateway_env() | {"VELKOMMEN_HOME": str(home), "VELKOMMEN_PUBLIC_URL": f"http://127.0.0.1:{port}",
                                              "VELKOMMEN_CONFIG_DIR": str(config_without_rate_limits(home))}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "bot.app:create_app", "--host", "127.0.0.1", "--port", str(port),
         "--workers", str(workers), "--log-level", "warning"], cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: httpx.get(f"{url}/health").status_code == 200, "gateway", 60, process)
    return process, url
