"""Stand-ins for the Telegram Bot API and Twilio's REST API on 127.0.0.1, so the tests and the
webhook benchmark run the real python-telegram-bot and twilio clients without the internet.
They record what was sent, and can be told to throttle (429) or fail the next calls.

Also the fixtures that start a gateway with both channels pointed at them, helpers that build
Telegram updates and Twilio-signed SMS webhooks, and a console caseworker for round trips.
"""
from __future__ import annotations

import base64
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlparse

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from bot.app import create_app
from bot.channels.inbox import InboundReceipt
from bot.outbox import OutboxItem
from bot.store.models import Conversation, Message
from tests.gateway.conftest import gateway_settings

TELEGRAM_TOKEN = "123456:standin-token"
TELEGRAM_SECRET = "standin_webhook-secret"
TWILIO_SID = "AC" + "0" * 32
TWILIO_TOKEN = "standin-auth-token"
TWILIO_FROM = "+4512345678"
PUBLIC_URL = "http://127.0.0.1:8000"  # the gateway's configured public URL in tests (Settings default)
SMS_PATH = "/channels/sms/incoming"
TELEGRAM_PATH = "/channels/telegram/webhook"


@dataclass
class Failure:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class StandIn:
    """A small threaded HTTP server; subclasses answer `handle(method, path, params, headers)`."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.sent: list[dict[str, Any]] = []
        self.calls: list[str] = []
        self.failures: list[Failure] = []
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 — http.server's naming
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length).decode()
                params = {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}
                if self.headers.get("content-type", "").startswith("application/json") and body:
                    params = json.loads(body)
                status, answer = standin.handle(urlparse(self.path).path, params, dict(self.headers))
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail_next(self, count: int, failure: Failure) -> None:
        with self.lock:
            self.failures += [failure] * count

    def next_failure(self) -> Failure | None:
        with self.lock:
            return self.failures.pop(0) if self.failures else None

    def record(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.sent.append(entry | {"at": time.monotonic()})
            self.lock.notify_all()

    def wait_for(self, condition: Callable[[list[dict[str, Any]]], bool], timeout_s: float = 30.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        with self.lock:
            while not condition(self.sent):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"stand-in: condition not met in {timeout_s} s; sent: {self.sent}")
                self.lock.wait(left)
            return list(self.sent)

    def to(self, recipient: Any) -> list[dict[str, Any]]:
        with self.lock:
            return [entry for entry in self.sent if entry["to"] == recipient]

    def wait_to(self, recipient: Any, count: int, timeout_s: float = 30.0) -> list[dict[str, Any]]:
        self.wait_for(lambda sent: sum(entry["to"] == recipient for entry in sent) >= count, timeout_s)
        return self.to(recipient)


class TelegramStandIn(StandIn):
    """The Bot API methods the gateway uses: getMe, setWebhook, deleteWebhook, getUpdates,
    sendMessage, answerCallbackQuery."""

    def __init__(self, token: str = TELEGRAM_TOKEN) -> None:
        self.token = token
        self.message_ids = itertools.count(1)
        self.updates: list[dict[str, Any]] = []
        self.webhook: dict[str, Any] = {}
        super().__init__()

    @property
    def api_url(self) -> str:
        return f"{self.url}/bot"

    def handle(self, path: str, params: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        prefix = f"/bot{self.token}/"
        if not path.startswith(prefix):
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        method = path.removeprefix(prefix)
        with self.lock:
            self.calls.append(method)
        if method == "getMe":
            return 200, {"ok": True, "result": {"id": 123456, "is_bot": True, "first_name": "Velkommen",
                                                 "username": "velkommen_standin_bot"}}
        if method in ("setWebhook", "deleteWebhook"):
            self.webhook = params if method == "setWebhook" else {}
            return 200, {"ok": True, "result": True}
        if method == "answerCallbackQuery":
            return 200, {"ok": True, "result": True}
        if method == "getUpdates":
            return 200, {"ok": True, "result": self.polled(int(params.get("offset") or 0))}
        if method == "sendMessage":
            failure = self.next_failure()
            if failure is not None:
                return failure.status, failure.body
            chat_id = int(params["chat_id"])
            markup = json.loads(params["reply_markup"]) if params.get("reply_markup") else None
            message_id = next(self.message_ids)
            self.record({"to": chat_id, "text": params["text"], "reply_markup": markup, "message_id": message_id})
            return 200, {"ok": True, "result": {"message_id": message_id, "date": int(time.time()),
                                                 "chat": {"id": chat_id, "type": "private"}, "text": params["text"]}}
        return 404, {"ok": False, "error_code": 404, "description": "Not Found"}

    def polled(self, offset: int) -> list[dict[str, Any]]:
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            with self.lock:
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
                if self.updates:
                    return list(self.updates)
            time.sleep(0.05)
        return []

    def throttle(self, count: int, retry_after: int) -> None:
        self.fail_next(count, Failure(429, {"ok": False, "error_code": 429,
                                            "description": f"Too Many Requests: retry after {retry_after}",
                                            "parameters": {"retry_after": retry_after}}))


class TwilioStandIn(StandIn):
    """POST /2010-04-01/Accounts/{sid}/Messages.json with HTTP basic auth, as Twilio's REST API."""

    def __init__(self, account_sid: str = TWILIO_SID, auth_token: str = TWILIO_TOKEN) -> None:
        self.account_sid = account_sid
        self.credentials = "Basic " + base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self.sids = itertools.count(1)
        super().__init__()

    def handle(self, path: str, params: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if path != f"/2010-04-01/Accounts/{self.account_sid}/Messages.json":
            return 404, {"code": 20404, "message": "The requested resource was not found", "status": 404}
        if headers.get("Authorization") != self.credentials:
            return 401, {"code": 20003, "message": "Authenticate", "status": 401}
        with self.lock:
            self.calls.append("Messages.create")
        failure = self.next_failure()
        if failure is not None:
            return failure.status, failure.body
        sid = f"SM{next(self.sids):032d}"
        self.record({"to": params["To"], "from": params.get("From"), "body": params["Body"], "sid": sid})
        return 201, {"sid": sid, "account_sid": self.account_sid, "to": params["To"], "from": params.get("From"),
                     "body": params["Body"], "status": "queued", "api_version": "2010-04-01", "direction": "outbound-api"}


# -- building provider traffic --------------------------------------------------------------------

update_ids = itertools.count(10_000)


def telegram_message(chat_id: int, text: str, update_id: int | None = None, language_code: str = "en") -> dict[str, Any]:
    user = {"id": chat_id, "is_bot": False, "first_name": "Test", "language_code": language_code}
    message: dict[str, Any] = {"message_id": 1, "date": int(time.time()), "chat": {"id": chat_id, "type": "private"},
                               "from": user, "text": text}
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"update_id": update_id if update_id is not None else next(update_ids), "message": message}


def telegram_button(chat_id: int, data: str, title: str = "", update_id: int | None = None) -> dict[str, Any]:
    user = {"id": chat_id, "is_bot": False, "first_name": "Test", "language_code": "en"}
    keyboard = {"inline_keyboard": [[{"text": title or data, "callback_data": data}]]}
    message = {"message_id": 1, "date": int(time.time()), "chat": {"id": chat_id, "type": "private"},
               "text": "…", "reply_markup": keyboard}
    return {"update_id": update_id if update_id is not None else next(update_ids),
            "callback_query": {"id": str(next(update_ids)), "from": user, "chat_instance": "1", "data": data,
                               "message": message}}


sms_ids = itertools.count(1)


def sms_params(number: str, body: str, sid: str | None = None) -> dict[str, str]:
    sid = sid or f"SM{next(sms_ids):032x}"
    return {"MessageSid": sid, "SmsSid": sid, "AccountSid": TWILIO_SID, "From": number, "To": TWILIO_FROM,
            "Body": body, "NumMedia": "0"}


def twilio_signature(params: dict[str, str], url: str = PUBLIC_URL + SMS_PATH, token: str = TWILIO_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


# -- fixtures ---------------------------------------------------------------------------------------

@pytest.fixture
def telegram_api():
    standin = TelegramStandIn()
    yield standin
    standin.close()


@pytest.fixture
def twilio_api():
    standin = TwilioStandIn()
    yield standin
    standin.close()


def channel_env(telegram: TelegramStandIn, twilio: TwilioStandIn) -> dict[str, str]:
    return {
        "VELKOMMEN_TELEGRAM_TOKEN": telegram.token, "VELKOMMEN_TELEGRAM_SECRET": TELEGRAM_SECRET,
        "VELKOMMEN_TELEGRAM_API_URL": telegram.api_url, "VELKOMMEN_TELEGRAM_MODE": "webhook",
        "VELKOMMEN_TWILIO_ACCOUNT_SID": TWILIO_SID, "VELKOMMEN_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "VELKOMMEN_TWILIO_FROM": TWILIO_FROM, "VELKOMMEN_SMS_KEY_SECRET": "standin-key-secret",
        "VELKOMMEN_TWILIO_API_URL": twilio.url,
    }


@pytest.fixture
def channels_client(stack, tmp_path, monkeypatch, telegram_api, twilio_api):
    """A gateway on the real stack with Telegram (webhook) and SMS pointed at the stand-ins."""
    for name, value in channel_env(telegram_api, twilio_api).items():
        monkeypatch.setenv(name, value)
    with TestClient(create_app(gateway_settings(tmp_path, stack.rasa_url, stack.token))) as client:
        wait_until_ready(client)
        yield client


def wait_until_ready(client: TestClient, timeout_s: float = 15.0) -> None:
    telegram = client.app.state.channels.telegram
    deadline = time.monotonic() + timeout_s
    while telegram is not None and not telegram.ready.is_set():
        if time.monotonic() > deadline:
            raise AssertionError("the Telegram channel did not start")
        time.sleep(0.05)


def post_update(client: TestClient, update: dict[str, Any], secret: str | None = TELEGRAM_SECRET):
    headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
    return client.post(TELEGRAM_PATH, json=update, headers=headers)


def post_sms(client: TestClient, params: dict[str, str], signature: str | None = None):
    headers = {"X-Twilio-Signature": twilio_signature(params) if signature is None else signature}
    return client.post(SMS_PATH, data=params, headers=headers)


def console_user(client: TestClient, municipality: str):
    """A caseworker of the municipality in the console (bot/console), to answer handoffs."""
    from bot.console.auth import create_user

    console = client.app.state.console
    return create_user(console.sessions, console.policy, client.app.state.pipeline.kb.municipalities,
                       username=f"cw-{municipality}", display_name="Mette", password="a long enough passphrase 42",
                       role="caseworker", municipality=municipality)


# -- looking at the gateway -------------------------------------------------------------------------

def count(client: TestClient, model, *where) -> int:
    with client.app.state.pipeline.sessions() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def settle(client: TestClient, timeout_s: float = 30.0) -> None:
    """Waits until nothing is being processed or waiting in the outbox."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        busy = count(client, InboundReceipt, InboundReceipt.status == "pending") + count(
            client, OutboxItem, OutboxItem.status.in_(("pending", "sending")))
        if not busy:
            return
        time.sleep(0.05)
    raise AssertionError("the gateway did not settle")


def deliver_caseworker(client: TestClient, conversation: Conversation, lines: list[str]) -> None:
    """What the console does with a caseworker's reply: store it, hand it to the one delivery path."""
    pipeline = client.app.state.pipeline
    with pipeline.sessions.begin() as session:
        stored = [Message(conversation_id=conversation.id, role="caseworker", status="done", text=line, details={})
                  for line in lines]
        session.add_all(stored)
    for message in stored:
        client.portal.call(client.app.state.delivery.deliver, conversation, [message])
