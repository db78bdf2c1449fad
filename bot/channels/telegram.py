"""Telegram with python-telegram-bot: receives updates (webhook checked against the secret token,
or long polling for local use), turns them into pipeline turns, and renders replies as Telegram
messages (inline keyboards for quick replies, split under Telegram's 4096 UTF-16 units).

One PTB Application, initialised once (one getMe at start, none per update). Updates are stored
in the inbox before they are acknowledged (update_id unique) and handled in order per chat;
replies go out through the outbox.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
import warnings
from datetime import timedelta
from typing import Any

from fastapi import Request, Response
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, ChatMigrated, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application, ApplicationBuilder, CallbackContext, CallbackQueryHandler, CommandHandler, MessageHandler, filters
from telegram.warnings import PTBDeprecationWarning

from bot.channels.config import TelegramConfig
from bot.channels.inbox import Inbox
from bot.channels.links import Links
from bot.delivery import Delivery
from bot.outbox import Outbox, OutboxItem, RetryLater, Undeliverable
from bot.pipeline import BadChoice, Pipeline, Reply
from bot.safety.limits import Buckets
from bot.store.models import Conversation, Message

log = logging.getLogger(__name__)

CHANNEL = "telegram"
MAX_UTF16_UNITS = 4096
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ["message", "callback_query"]
START = "start"  # callback prefix of the language buttons /start sends: the municipality question follows


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_UTF16_UNITS) -> list[str]:
    """Parts of at most `limit` UTF-16 units, cut after a paragraph, line or word when possible."""
    parts = []
    while utf16_units(text) > limit:
        end, used = 0, 0
        while used + utf16_units(text[end]) <= limit:
            used += utf16_units(text[end])
            end += 1
        window = text[:end]
        boundary = max(window.rfind("\n\n"), window.rfind("\n"), window.rfind(" "))
        if boundary > end // 2:
            end = boundary
        parts.append(text[:end].rstrip())
        text = text[end:].lstrip()
    return [*parts, text.rstrip()] if text.strip() or not parts else parts


def keyboard(buttons: list[dict[str, str]], short: int = 16) -> InlineKeyboardMarkup:
    """Quick replies as an inline keyboard: two a row when every title is short, else one."""
    per_row = 2 if all(len(button["title"]) <= short for button in buttons) else 1
    keys = [InlineKeyboardButton(button["title"], callback_data=button["choice"]) for button in buttons]
    return InlineKeyboardMarkup([keys[i:i + per_row] for i in range(0, len(keys), per_row)])


def seconds(period: int | float | timedelta) -> float:
    return period.total_seconds() if isinstance(period, timedelta) else float(period)


class TelegramChannel:
    def __init__(self, config: TelegramConfig, pipeline: Pipeline, delivery: Delivery, outbox: Outbox,
                 public_url: str, pace: Buckets) -> None:
        self.config = config
        self.pipeline = pipeline
        self.delivery = delivery
        self.outbox = outbox
        self.webhook_url = public_url.rstrip("/") + config.webhook_path
        self.links = Links(pipeline, CHANNEL)
        self.inbox = Inbox(pipeline.sessions, CHANNEL, self.process, pace)
        self.application = self.build_application()
        self.ready = asyncio.Event()
        self.initialized = False
        self.tasks: list[asyncio.Task] = []

    def build_application(self) -> Application:
        builder = ApplicationBuilder().token(self.config.token).base_url(self.config.api_url).job_queue(None)
        if self.config.mode == "webhook":
            builder = builder.updater(None)
        application = builder.build()
        only_messages = filters.UpdateType.MESSAGE
        application.add_handlers([
            CommandHandler("start", self.on_start, filters=only_messages),
            CommandHandler("language", self.on_language, filters=only_messages),
            CommandHandler("municipality", self.on_municipality, filters=only_messages),
            CommandHandler("human", self.on_human, filters=only_messages),
            CommandHandler("delete", self.on_delete, filters=only_messages),
            CallbackQueryHandler(self.on_button),
            MessageHandler(only_messages, self.on_message),
        ])
        application.add_error_handler(self.on_error)
        return application

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        self.tasks.append(asyncio.create_task(self.connect()))

    async def connect(self, retry_s: float = 30.0) -> None:
        """Initialises PTB (its one getMe) and, in webhook mode, registers the webhook; retried while
        the Bot API cannot be reached, meanwhile webhooks are refused with 503 so Telegram retries."""
        while True:
            try:
                await self.application.initialize()
                self.initialized = True
                if self.config.mode == "polling":
                    await self.application.updater.start_polling(allowed_updates=ALLOWED_UPDATES)
                    self.tasks.append(asyncio.create_task(self.consume_polled()))
                elif self.config.register_webhook:
                    await self.application.bot.set_webhook(
                        self.webhook_url, secret_token=self.config.secret, allowed_updates=ALLOWED_UPDATES)
                break
            except BadRequest as error:  # e.g. not an https URL: retrying will not help; say so and go on
                log.error("telegram: the webhook %s was refused: %s", self.webhook_url, error)
                break
            except TelegramError as error:
                log.error("telegram: cannot start (%s); retrying in %.0f s", error, retry_s)
                await asyncio.sleep(retry_s)
        self.ready.set()
        self.inbox.prune()
        self.inbox.resume()

    async def stop(self) -> None:
        if self.config.mode == "polling" and self.application.updater and self.application.updater.running:
            await self.application.updater.stop()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.inbox.drain()

    async def close(self) -> None:
        if self.initialized:
            await self.application.shutdown()

    # -- receiving -----------------------------------------------------------------------------

    async def webhook(self, request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self.config.secret.encode()):
            return Response(status_code=403)
        if not self.ready.is_set():
            return Response(status_code=503)
        try:
            data = json.loads(await request.body())
            update = Update.de_json(data, self.application.bot)
        except Exception:  # not an update: nothing to store, Telegram will not resend it
            return Response(status_code=400)
        self.receive(update, data)
        return Response(status_code=200)

    def receive(self, update: Update, data: dict[str, Any]) -> bool:
        chat = update.effective_chat or update.effective_user
        person = str(chat.id) if chat else f"update:{update.update_id}"
        return self.inbox.receive(str(update.update_id), person, data)

    async def consume_polled(self) -> None:
        while True:
            update = await self.application.update_queue.get()
            if isinstance(update, Update):
                self.receive(update, update.to_dict())

    async def process(self, payload: dict[str, Any]) -> None:
        await self.application.process_update(Update.de_json(payload, self.application.bot))

    async def on_error(self, update: object, context: CallbackContext) -> None:
        log.error("telegram: handling an update failed", exc_info=context.error)
        if isinstance(update, Update):
            self.inbox.failed(str(update.update_id), repr(context.error))

    # -- commands and messages -----------------------------------------------------------------

    def conversation_of(self, update: Update) -> Conversation:
        chat_id = str(update.effective_chat.id)
        return self.links.conversation(chat_id, chat_id)[0]

    @staticmethod
    def client_id(update: Update) -> str:
        return f"telegram:{update.update_id}"

    async def on_start(self, update: Update, context: CallbackContext) -> None:
        await self.ask_language(self.conversation_of(update), update, then=START)

    async def on_language(self, update: Update, context: CallbackContext) -> None:
        await self.ask_language(self.conversation_of(update), update, then="language")

    async def on_municipality(self, update: Update, context: CallbackContext) -> None:
        conversation = self.conversation_of(update)
        await self.say(conversation, [self.municipality_prompt(self.language_of(conversation, update))], disclose=True)

    async def on_human(self, update: Update, context: CallbackContext) -> None:
        conversation = self.conversation_of(update)
        await self.pipeline.handle(conversation.id, update.message.text, choice="handoff:request",
                                   client_id=self.client_id(update))

    async def on_delete(self, update: Update, context: CallbackContext) -> None:
        chat_id = str(update.effective_chat.id)
        link = self.links.find(chat_id)
        language = self.pipeline.default_language
        if link is not None:
            language = self.language_of(self.pipeline.conversation(link.conversation_id), update)
            await self.pipeline.erase(link.conversation_id)
        # The conversation is gone, so this confirmation has no conversation to be delivered in.
        self.outbox.enqueue([OutboxItem(channel=CHANNEL, recipient=chat_id, language=language,
                                        text=self.pipeline.kb.message("telegram_deleted", language))])

    async def on_message(self, update: Update, context: CallbackContext) -> None:
        message = update.message
        conversation = self.conversation_of(update)
        text = message.text or message.caption or ""  # a photo or sticker alone gets the "no text" reply
        await self.pipeline.handle(conversation.id, text, client_id=self.client_id(update))

    async def on_button(self, update: Update, context: CallbackContext) -> None:
        """A quick reply: its choice goes through the pipeline, like a web button. A language picked
        after /start is the pipeline's language choice, followed by the municipality question."""
        query = update.callback_query
        try:
            await query.answer()  # stops the button's spinner; not a message, so not via the outbox
        except TelegramError as error:
            log.info("telegram: answering a button press failed: %s", error)
        conversation = self.conversation_of(update)
        step, _, language = (query.data or "").partition(":")
        choice = f"language:{language}" if step == START else query.data or ""
        try:
            await self.pipeline.handle(conversation.id, self.button_title(query) or choice, choice=choice,
                                       client_id=self.client_id(update))
        except BadChoice:
            log.info("telegram: ignored an unknown button %r", query.data)
            return
        if step == START:
            conversation = self.pipeline.conversation(conversation.id)
            await self.say(conversation, [self.municipality_prompt(self.language_of(conversation, update))], disclose=True)

    @staticmethod
    def button_title(query) -> str | None:
        markup = query.message.reply_markup if query.message else None
        for row in markup.inline_keyboard if markup else ():
            for button in row:
                if button.callback_data == query.data:
                    return button.text
        return None

    # -- prompts -------------------------------------------------------------------------------

    def language_of(self, conversation: Conversation, update: Update) -> str:
        """The conversation's language, else the Telegram app's, else the default."""
        hint = ((update.effective_user.language_code or "") if update.effective_user else "")[:2].lower()
        for language in (conversation.language, hint):
            if language in self.pipeline.languages:
                return language
        return self.pipeline.default_language

    async def ask_language(self, conversation: Conversation, update: Update, then: str) -> None:
        """The pipeline's language buttons (choice language:<code>); after /start they say start:<code>."""
        prompt = self.pipeline.curated("telegram_choose_language", "smalltalk", self.language_of(conversation, update))
        prompt.buttons = [{"title": button["title"], "choice": button["choice"].replace("language:", f"{then}:", 1)}
                          for button in self.pipeline.languages.buttons()]
        await self.say(conversation, [prompt], disclose=False)

    def municipality_prompt(self, language: str) -> Reply:
        prompt = self.pipeline.curated("ask_municipality", "smalltalk", language)
        prompt.buttons = [{"title": place["name"], "choice": f"municipality:{slug}"}
                          for slug, place in self.pipeline.kb.municipalities.items()]
        return prompt

    async def say(self, conversation: Conversation, replies: list[Reply], disclose: bool) -> None:
        """Channel prompts; `disclose` puts the first-contact disclosure before them (not before the
        language question: the disclosure waits for the answer, to be in the person's language)."""
        first_contact = self.pipeline.disclosure(conversation.id) if disclose else []
        await self.delivery.deliver(conversation, first_contact + self.links.store(conversation.id, replies))

    # -- sending -------------------------------------------------------------------------------

    async def send(self, conversation: Conversation, messages: list[Message]) -> None:
        """The delivery sender: renders replies into outbox rows for this conversation's chat."""
        link = self.links.of_conversation(conversation.id)
        if link is None:
            log.warning("telegram: conversation %s has no chat (deleted?); not sent", conversation.id)
            return
        items = []
        for message in messages:
            if message.role == "user":
                continue
            text, buttons = self.render(message)
            parts = split_text(text)
            for number, part in enumerate(parts, 1):
                items.append(OutboxItem(
                    channel=CHANNEL, recipient=link.address, conversation_id=conversation.id,
                    message_seqs=[message.seq], text=part, language=message.language,
                    buttons=buttons if number == len(parts) else [],
                ))
        self.outbox.enqueue(items)

    def render(self, message: Message) -> tuple[str, list[dict[str, str]]]:
        details = message.details or {}
        if message.role != "assistant":  # a caseworker's words, as written
            return message.text, []
        kb, language = self.pipeline.kb, message.language or self.pipeline.default_language
        lines = [details.get("web_text") or message.text]
        if details.get("national_fallback"):
            lines.insert(0, kb.message("national_fallback_note", language))
        lines += [source["label"] for source in details.get("sources", []) if source.get("label")]
        return "\n\n".join(lines), details.get("buttons", [])

    async def transport(self, item: OutboxItem) -> str:
        """The outbox's sender for Telegram: maps Bot API errors to retry, give up, or done."""
        if not self.ready.is_set():
            raise RetryLater("the Bot API is not reachable yet")
        markup = keyboard(item.buttons) if item.buttons else None
        try:
            sent = await self.application.bot.send_message(int(item.recipient), item.text, reply_markup=markup)
        except RetryAfter as error:
            with warnings.catch_warnings():  # PTB 22 deprecates reading it as int; both forms are handled
                warnings.simplefilter("ignore", PTBDeprecationWarning)
                wait = seconds(error.retry_after)
            raise RetryLater(f"Telegram 429: retry after {wait:g} s", delay_s=wait) from error
        except (Forbidden, BadRequest, ChatMigrated, InvalidToken) as error:
            raise Undeliverable(f"Telegram refused: {error}") from error
        except NetworkError as error:
            raise RetryLater(f"Telegram unreachable: {error}") from error
        return str(sent.message_id)
