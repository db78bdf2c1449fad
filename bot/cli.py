"""The commands behind bin/velkommen: up, test, train, batch, coverage, validate, benchmark, purge, packages."""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from bot.settings import ROOT, Settings
from bot.stack import Stack, cache_dir, ensure_model, rasa_env, rasa_python, say, training_data_args


@contextmanager
def running_stack(home: Path) -> Iterator[Stack | None]:
    """A fresh stack, or none when the environment already names a running Rasa (tests, benchmarks)."""
    if os.environ.get("VELKOMMEN_RASA_URL") and os.environ.get("VELKOMMEN_RASA_TOKEN"):
        yield None
        return
    model = ensure_model()
    say("starting the action server and Rasa (loopback only)")
    started = time.monotonic()
    settings = Settings(home=home)  # scale mode: two Rasa instances on the shared PostgreSQL and Redis
    scale = dict(rasa_instances=2, tracker_url=settings.tracker_url, redis_url=settings.redis_url) if settings.scale else {}
    with Stack(home, model, **scale) as stack:
        say(f"Rasa ready in {time.monotonic() - started:.0f} s")
        yield stack


def up(args: argparse.Namespace) -> int:
    import uvicorn

    from bot.app import create_app

    home = Path(os.environ.get("VELKOMMEN_HOME", ROOT / ".velkommen"))
    with running_stack(home) as stack:
        if stack is not None:
            os.environ.update(stack.gateway_env())
        # Telegram and Twilio webhooks need the address the internet sees (e.g. an ngrok tunnel)
        settings = Settings(home=home, public_url=os.environ.get("VELKOMMEN_PUBLIC_URL") or f"http://127.0.0.1:{args.port}")
        app = create_app(settings)
        # open web chat event streams would otherwise hold Ctrl-C until every browser tab closes
        server = uvicorn.Server(uvicorn.Config(app, host=args.host, port=args.port, log_level="warning",
                                               timeout_graceful_shutdown=2))
        serving = threading.Thread(target=server.run, name="gateway")
        serving.start()
        while not server.started and serving.is_alive():
            time.sleep(0.1)
        if not serving.is_alive():
            say(f"the gateway could not start on port {args.port}")
            return 1
        print(f"ready: gateway  http://127.0.0.1:{args.port}/api/conversations  (JSON API)", flush=True)
        print(f"       privacy  http://127.0.0.1:{args.port}/privacy", flush=True)
        print(f"       console  http://127.0.0.1:{args.port}/console/  (caseworkers; bin/velkommen user add)", flush=True)
        print(f"       web chat demo  http://127.0.0.1:{args.port}/demo/faxe  (all five municipalities: "
              f"http://127.0.0.1:{args.port}/demo)", flush=True)
        for line in app.state.channels.describe():
            print(f"       {line}", flush=True)
        print(f"       rasa     {settings.rasa_url} (loopback, token-protected)", flush=True)
        print(f"       logs     {home}/rasa.log, {home}/actions.log   — Ctrl-C stops everything", flush=True)
        try:
            while serving.is_alive():
                serving.join(0.5)
        except KeyboardInterrupt:
            server.should_exit = True
            serving.join()
    return 0


def batch(args: argparse.Namespace) -> int:
    from bot.app import build_pipeline
    from bot.batch import run_batch

    lines = sys.stdin.read().splitlines()
    with tempfile.TemporaryDirectory(prefix="velkommen-batch-") as tmp, running_stack(Path(tmp)) as stack:
        if stack is not None:
            os.environ.update(stack.gateway_env())
        pipeline = build_pipeline(Settings(home=Path(tmp)))

        async def go() -> None:
            async for result in run_batch(lines, pipeline):
                print(json.dumps(result, ensure_ascii=False), flush=True)
            await pipeline.rasa.close()

        asyncio.run(go())
    return 0


def coverage(args: argparse.Namespace) -> int:
    from actions.content_check import main

    return main()


def rasa(*arguments: str) -> int:
    return subprocess.call([rasa_python(), "-m", "rasa", *arguments], cwd=ROOT, env=rasa_env())


def validate(args: argparse.Namespace) -> int:
    return rasa("data", "validate", "--domain", "domain.yml", *training_data_args(), "--config", "config.yml",
                "--fail-on-warnings")


def train(args: argparse.Namespace) -> int:
    say(f"model: {ensure_model()}")
    return 0


def test(args: argparse.Namespace) -> int:
    """Every test, in the order that fails fastest: content, data, actions, stories, gateway, scale."""
    results: list[tuple[str, bool]] = []

    def stage(name: str, code: int) -> None:
        results.append((name, code == 0))
        say(f"{name}: {'passed' if code == 0 else 'FAILED'}")

    stage("content check", coverage(args))
    stage("rasa data validate", validate(args))
    stage("action unit tests", subprocess.call([rasa_python(), "-m", "pytest", "-q", "--confcutdir=tests/actions", "tests/actions"], cwd=ROOT, env=rasa_env()))
    model = ensure_model()
    with tempfile.TemporaryDirectory(prefix="velkommen-stories-") as tmp:
        stack = Stack(Path(tmp), model)
        try:
            stack.start_actions()
            env = rasa_env() | {"VELKOMMEN_ACTIONS_URL": stack.actions_url, "VELKOMMEN_TRACKER_DB": f"{tmp}/t.db",
                                "VELKOMMEN_RASA_TOKEN": stack.token}
            code = subprocess.call([rasa_python(), "-m", "rasa", "test", "core", "--model", str(model), "--stories",
                                    "tests/stories", "--endpoints", "endpoints.yml", "--fail-on-prediction-errors",
                                    "--out", f"{tmp}/results"], cwd=ROOT, env=env)
        finally:
            stack.stop()
    stage("test stories", code)
    pytest_args = ["-q", "tests/gateway", "tests/browser", *args.pytest_args]
    stage("gateway and browser tests", subprocess.call([sys.executable, "-m", "pytest", *pytest_args], cwd=ROOT,
                                          env=os.environ | {"VELKOMMEN_MODEL": str(model)}))
    stage("scale tests (PostgreSQL, Redis, 2 Rasa, 2 gateways)", subprocess.call(
        [sys.executable, "-m", "pytest", "-q", "-m", "scale", "tests/scale"], cwd=ROOT,
        env=os.environ | {"VELKOMMEN_MODEL": str(model)}))
    passed = sum(ok for _, ok in results)
    print(f"stages: {passed} passed, {len(results) - passed} failed", flush=True)
    return 0 if passed == len(results) else 1


def purge(args: argparse.Namespace) -> int:
    """Deletes what is past its retention period (config/privacy.yml), in the gateway and Rasa's tracker."""
    from bot.retention import RetentionPolicy, purge as purge_expired
    from bot.store.db import open_store

    settings = Settings()
    policy = RetentionPolicy.from_file(settings.config_dir / "privacy.yml")
    counts = purge_expired(open_store(settings.database_url), settings.tracker_url, policy)
    print(json.dumps({"purged": counts, "retention_days": policy.days}), flush=True)
    return 0


def user(args: argparse.Namespace) -> int:
    """`user add NAME`: a console user (caseworker or admin) of one municipality. The password is
    asked for twice, or read from the first line of stdin with --password-stdin."""
    import getpass

    from actions.knowledge import Knowledge
    from bot.console.auth import SecurityPolicy, UserError, create_user
    from bot.store.db import open_store

    settings = Settings()
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
        if password != getpass.getpass("password again: "):
            say("user not created: the passwords differ")
            return 1
    try:
        created = create_user(
            open_store(settings.database_url), SecurityPolicy.from_file(settings.config_dir / "console.yml"),
            Knowledge.load(settings.data_dir).municipalities, username=args.username, display_name=args.name or args.username,
            password=password, role=args.role, municipality=args.municipality,
        )
    except UserError as error:
        say(f"user not created: {error.code}")
        return 1
    print(json.dumps({"created": created.username, "role": created.role, "municipality": created.municipality}), flush=True)
    return 0


def packages(args: argparse.Namespace) -> int:
    """Installs argos translation packages from .argosmodel files (offline), or lists them (README: Translation)."""
    from bot.language.languages import Languages
    from bot.language.packages import command

    settings = Settings()
    languages = Languages.load(settings.data_dir)
    others = {code: name for code, name in languages.names.items() if code not in languages.assistant}
    return command(args.action, [Path(f) for f in args.files], settings.argos_packages_dir, others, languages.machine_codes)


def benchmark(args: argparse.Namespace) -> int:
    import importlib

    module = importlib.import_module(f"benchmarks.{args.name}")
    return module.main(args.rest)


def main() -> int:
    parser = argparse.ArgumentParser(prog="bin/velkommen")
    commands = parser.add_subparsers(dest="command", required=True)
    up_parser = commands.add_parser("up")
    up_parser.add_argument("--host", default="127.0.0.1")
    up_parser.add_argument("--port", type=int, default=int(os.environ.get("VELKOMMEN_PORT", "8000")))
    test_parser = commands.add_parser("test")
    test_parser.add_argument("pytest_args", nargs="*")
    for name in ("train", "batch", "coverage", "validate", "purge"):
        commands.add_parser(name)
    user_parser = commands.add_parser("user").add_subparsers(dest="user_command", required=True).add_parser("add")
    user_parser.add_argument("username")
    user_parser.add_argument("--municipality", required=True)
    user_parser.add_argument("--role", choices=("caseworker", "admin"), default="caseworker")
    user_parser.add_argument("--name", help="display name (default: the username)")
    user_parser.add_argument("--password-stdin", action="store_true")
    packages_parser = commands.add_parser("packages", help="install argos translation packages, or list them")
    packages_parser.add_argument("action", choices=("install", "list"))
    packages_parser.add_argument("files", nargs="*", help=".argosmodel files to install")
    bench = commands.add_parser("benchmark")
    bench.add_argument("name")
    bench.add_argument("rest", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    handlers = {"up": up, "test": test, "train": train, "batch": batch, "coverage": coverage,
                "validate": validate, "benchmark": benchmark, "purge": purge, "user": user,
                "packages": packages}
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
