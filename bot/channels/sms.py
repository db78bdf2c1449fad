"""SMS through Twilio: a signed webhook (X-Twilio-Signature checked with the SDK's RequestValidator
against the configured public URL) that stores the message and answers at once with empty TwiML;
the reply is sent later through Twilio's REST API from the outbox.

STOP / STOPP / AFMELD, START, HELP / HJÆLP and MORE are answered here and persisted: an opted-out
number gets nothing but the confirmation of its STOP. Phone numbers are keyed by an HMAC-SHA256
pseudonym; the number itself is kept only with its conversation (bot/channels/links.py), to send to.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from datetime import datetime
from typing import Any

import aiohttp
from fastapi import Request, Response
from sqlalchemy import DateTime, String, delete, select, update
from sqlalchemy.orm import Mapped, mapped_column
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.messaging_response import MessagingResponse

from bot.channels.config import SmsConfig
from bot.channels.inbox import Inbox
from bot.channels.links import Links
from bot.channels.sms_text import cut, gsm7_when_possible
from bot.delivery import Delivery
from bot.outbox import Outbox, OutboxItem, RetryLater, Suppressed, Undeliverable
from bot.pipeline import Pipeline
from bot.safety.limits import Buckets
from bot.store.models import Base, Conversation, Message, utcnow

log = logging.getLogger(__name__)

CHANNEL = "sms"
SIGNATURE_HEADER = "X-Twilio-Signature"
STOP_CONFIRMATION = "sms_stopped"
TWILIO_TIMEOUT_S = 15


class SmsOptOut(Base):
    """A number (by its pseudonym) that sent STOP: kept until it sends START, whatever is erased."""

    __tablename__ = "sms_opt_outs"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    opted_out_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SmsChannel:
    def __init__(self, config: SmsConfig, pipeline: Pipeline, delivery: Delivery, outbox: Outbox,
                 public_url: str, pace: Buckets) -> None:
        self.config = config
        self.pipeline = pipeline
        self.delivery = delivery
        self.outbox = outbox
        self.public_url = public_url.rstrip("/")
        self.validator = RequestValidator(config.auth_token)
        self.links = Links(pipeline, CHANNEL)
        self.inbox = Inbox(pipeline.sessions, CHANNEL, self.process, pace)
        self.client: Client | None = None
        self.empty_twiml = str(MessagingResponse())

    def key(self, number: str) -> str:
        """The number's pseudonym: stable for a number, useless without the configured secret."""
        normalised = "".join(number.split())
        return hmac.new(self.config.key_secret.encode(), normalised.encode(), hashlib.sha256).hexdigest()

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        http = AsyncTwilioHttpClient(timeout=TWILIO_TIMEOUT_S)
        self.client = Client(self.config.account_sid, self.config.auth_token, http_client=http)
        self.client.api.base_url = self.config.api_url  # the Api domain's base: a stand-in in tests
        self.inbox.prune()
        self.inbox.resume()

    async def stop(self) -> None:
        await self.inbox.drain()

    async def close(self) -> None:
        if self.client is not None:
            await self.client.http_client.close()

    # -- receiving -----------------------------------------------------------------------------

    async def webhook(self, request: Request) -> Response:
        form = await request.form()
        url = self.public_url + request.url.path + (f"?{request.url.query}" if request.url.query else "")
        try:
            valid = self.validator.validate(url, form, request.headers.get(SIGNATURE_HEADER, ""))
        except (TypeError, ValueError):  # e.g. a file part where Twilio only sends text
            valid = False
        if not valid:
            return Response(status_code=403)
        sid, number = form.get("MessageSid") or form.get("SmsSid"), form.get("From")
        if not isinstance(sid, str) or not isinstance(number, str) or not sid or not number:
            return Response(status_code=400)
        body = form.get("Body")
        self.inbox.receive(sid, self.key(number), {"sid": sid, "from": number, "body": body if isinstance(body, str) else ""})
        return Response(self.empty_twiml, media_type="application/xml")

    async def process(self, payload: dict[str, Any]) -> None:
        number, text = payload["from"], payload["body"]
        key = self.key(number)
        conversation, _ = self.links.conversation(key, number)
        keyword = self.config.keyword(text)
        if keyword is None:
            await self.pipeline.handle(conversation.id, text, client_id=payload["sid"])
            return
        action, keyword_language = keyword
        if conversation.language is None and keyword_language:  # HJÆLP as a first message: answer in Danish
            conversation = self.links.guess_language(conversation.id, keyword_language)
        language = conversation.language or self.pipeline.default_language
        if action == "stop":
            self.opt_out(key)
            await self.say(conversation, [], STOP_CONFIRMATION, language)
        elif action == "start":
            self.opt_in(key)
            await self.say(conversation, self.pipeline.disclosure(conversation.id), "sms_started", language)
        elif action == "help":
            await self.say(conversation, self.pipeline.disclosure(conversation.id), "sms_help", language)
        elif not self.release_kept(key):  # MORE with nothing kept is an ordinary message
            await self.pipeline.handle(conversation.id, text, client_id=payload["sid"])

    async def say(self, conversation: Conversation, first: list[Message], key: str, language: str) -> None:
        reply = self.pipeline.curated(key, "smalltalk", language)
        await self.delivery.deliver(conversation, first + self.links.store(conversation.id, [reply]))

    # -- opt-out -------------------------------------------------------------------------------

    def opted_out(self, key: str) -> bool:
        with self.pipeline.sessions() as session:
            return session.get(SmsOptOut, key) is not None

    def opt_out(self, key: str) -> None:
        with self.pipeline.sessions.begin() as session:
            if session.get(SmsOptOut, key) is None:
                session.add(SmsOptOut(key=key))
        self.outbox.cancel_open(CHANNEL, key, "suppressed", "opted out (STOP)")

    def opt_in(self, key: str) -> None:
        with self.pipeline.sessions.begin() as session:
            session.execute(delete(SmsOptOut).where(SmsOptOut.key == key))

    # -- sending -------------------------------------------------------------------------------

    async def send(self, conversation: Conversation, messages: list[Message]) -> None:
        """The delivery sender: one SMS per batch of replies, cut to the segment budget with the
        rest kept for MORE."""
        link = self.links.of_conversation(conversation.id)
        texts = [m.text for m in messages if m.role != "user" and m.text]
        if link is None or not texts:
            return
        language = conversation.language or messages[-1].language or self.pipeline.default_language
        kind = "opt_out_notice" if all(m.key == STOP_CONFIRMATION for m in messages) else "message"
        suppressed = kind == "message" and self.opted_out(link.user_key)
        common = {"channel": CHANNEL, "recipient": link.user_key, "conversation_id": conversation.id,
                  "message_seqs": [m.seq for m in messages], "language": language, "kind": kind}
        if suppressed:  # recorded for the console, never sent
            self.outbox.enqueue([OutboxItem(text="\n\n".join(texts), status="suppressed",
                                            last_error="opted out (STOP)", **common)])
            return
        self.outbox.enqueue(self.cut_items(gsm7_when_possible("\n\n".join(texts)), common))

    def cut_items(self, text: str, common: dict[str, Any]) -> list[OutboxItem]:
        continuation = self.pipeline.kb.message("sms_more", common["language"] or self.pipeline.default_language)
        parts = cut(text, self.config.max_segments, gsm7_when_possible(continuation))
        items = [OutboxItem(text=parts.now, **common)]
        if parts.kept:
            with self.pipeline.sessions.begin() as session:  # only the newest continuation is offered
                session.execute(update(OutboxItem).where(
                    OutboxItem.channel == CHANNEL, OutboxItem.recipient == common["recipient"],
                    OutboxItem.status == "held").values(status="superseded"))
            items.append(OutboxItem(text=parts.kept, status="held", **common))
        return items

    def release_kept(self, key: str) -> bool:
        """MORE: the kept rest goes out (cut again if it is still long). False if nothing was kept."""
        with self.pipeline.sessions.begin() as session:
            kept = session.scalars(select(OutboxItem).where(
                OutboxItem.channel == CHANNEL, OutboxItem.recipient == key, OutboxItem.status == "held",
            ).order_by(OutboxItem.id.desc())).first()
            if kept is None:
                return False
            kept.status = "released"
            common = {"channel": CHANNEL, "recipient": key, "conversation_id": kept.conversation_id,
                      "message_seqs": kept.message_seqs, "language": kept.language, "kind": kept.kind}
            text = kept.text
        self.outbox.enqueue(self.cut_items(text, common))
        return True

    async def transport(self, item: OutboxItem) -> str:
        """The outbox's sender for SMS: checks the opt-out again, then Twilio's Messages API."""
        if item.kind != "opt_out_notice" and self.opted_out(item.recipient):
            raise Suppressed("opted out (STOP)")
        link = self.links.find(item.recipient)
        if link is None:
            raise Undeliverable("the number is no longer stored (conversation deleted)")
        sender = {"messaging_service_sid": self.config.sender} if self.config.sender.startswith("MG") \
            else {"from_": self.config.sender}
        try:
            message = await self.client.messages.create_async(to=link.address, body=item.text, **sender)
        except TwilioRestException as error:
            if error.status == 429 or error.status >= 500:
                raise RetryLater(f"Twilio {error.status}: {error.msg}") from error
            raise Undeliverable(f"Twilio {error.status} (code {error.code}): {error.msg}") from error
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            raise RetryLater(f"Twilio unreachable: {error!r}") from error
        return message.sid
