"""The one path every message takes, whatever its channel, as named steps:

accept → clean → detect_language → check_crisis → translate_in → route_owner → ask_assistant
→ compose → hand_off → translate_out → disclose → record → deliver

Channels call `Pipeline.handle` and render what comes back; nothing here knows a channel.
"""
from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from actions.knowledge import Knowledge
from bot.delivery import Delivery
from bot.language.detect import UNDETERMINED, LanguageDetector
from bot.language.translate import Translator
from bot.rasa_client import AssistantUnavailable, RasaClient
from bot.safety.crisis import CrisisDetector, CrisisMatch
from bot.safety.input_clean import clean_input
from bot.store.models import Conversation, Message

STEPS = (
    "accept", "clean", "detect_language", "check_crisis", "translate_in", "route_owner",
    "ask_assistant", "compose", "hand_off", "translate_out", "disclose", "record", "deliver",
)
CHOICE_INTENTS = {"handoff:request": "request_human", "answer:yes": "affirm", "answer:no": "deny"}


class UnknownConversation(LookupError):
    pass


class BadChoice(ValueError):
    pass


@dataclass
class Reply:
    key: str
    text: str
    topic: str
    language: str
    web_text: str | None = None
    translated: str = "none"
    sources: list[dict[str, str]] = field(default_factory=list)
    buttons: list[dict[str, str]] = field(default_factory=list)
    handoff: bool = False
    national_fallback: bool = False
    seq: int | None = None

    def details(self) -> dict[str, Any]:
        return {
            "web_text": self.web_text or self.text, "sources": self.sources, "buttons": self.buttons,
            "handoff": self.handoff, "national_fallback": self.national_fallback,
        }


@dataclass
class Turn:
    """Everything one incoming message becomes on its way through the steps."""

    conversation_id: str
    raw_text: str
    choice: str | None = None
    client_id: str | None = None
    text: str = ""
    problem: str | None = None
    language: str = UNDETERMINED
    reply_language: str = "en"
    nlu_text: str = ""
    crisis: CrisisMatch | None = None
    intent: str | None = None
    confidence: float | None = None
    topic: str | None = None
    payloads: list[dict[str, Any]] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    handoff: bool = False
    answered: bool = False
    assistant_unavailable: bool = False
    user_seq: int | None = None
    duplicate: bool = False


class Pipeline:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        knowledge: Knowledge,
        detector: LanguageDetector,
        crisis: CrisisDetector,
        translator: Translator,
        rasa: RasaClient,
        delivery: Delivery,
        *,
        assistant_languages: list[str],
        default_language: str,
        privacy_url: str,
        max_message_chars: int = 1000,
    ) -> None:
        self.sessions = sessions
        self.kb = knowledge
        self.detector = detector
        self.crisis = crisis
        self.translator = translator
        self.rasa = rasa
        self.delivery = delivery
        self.assistant_languages = assistant_languages
        self.default_language = default_language
        self.privacy_url = privacy_url
        self.max_message_chars = max_message_chars
        self.locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    # -- conversations -------------------------------------------------------------------------

    def start_conversation(self, channel: str, municipality: str | None = None, language: str | None = None) -> Conversation:
        if municipality is not None and municipality not in self.kb.municipalities:
            raise ValueError(f"unknown municipality {municipality!r}")
        conversation = Conversation(
            id=uuid.uuid4().hex, channel=channel, municipality=municipality,
            language=language, language_chosen=language is not None,
        )
        with self.sessions.begin() as session:
            session.add(conversation)
        return conversation

    def conversation(self, conversation_id: str) -> Conversation:
        with self.sessions() as session:
            found = session.get(Conversation, conversation_id)
        if found is None:
            raise UnknownConversation(conversation_id)
        return found

    def messages(self, conversation_id: str, after: int = 0) -> list[Message]:
        self.conversation(conversation_id)
        with self.sessions() as session:
            query = select(Message).where(Message.conversation_id == conversation_id, Message.seq > after)
            return list(session.scalars(query.order_by(Message.seq)))

    def disclosure(self, conversation_id: str) -> list[Message]:
        """The first-contact replies (AI disclosure, privacy line), stored once per conversation."""
        conversation = self.conversation(conversation_id)
        if conversation.disclosed:
            return []
        language = conversation.language if conversation.language in self.assistant_languages else self.default_language
        replies = self.disclosure_replies(language)
        with self.sessions.begin() as session:
            stored = [self.store_reply(session, conversation_id, reply) for reply in replies]
            session.get(Conversation, conversation_id).disclosed = True
        return stored

    def disclosure_replies(self, language: str) -> list[Reply]:
        return [
            self.curated("disclosure", "smalltalk", language),
            self.curated("privacy_line", "smalltalk", language, privacy_url=self.privacy_url),
        ]

    def curated(self, key: str, topic: str, language: str, **values: str) -> Reply:
        return Reply(key=key, text=self.kb.message(key, language, **values), topic=topic, language=language)

    # -- the steps -----------------------------------------------------------------------------

    async def handle(self, conversation_id: str, text: str = "", choice: str | None = None, client_id: str | None = None) -> Turn:
        conversation = self.conversation(conversation_id)
        turn = Turn(conversation_id, text or "", choice=choice, client_id=client_id)
        async with self.locks[conversation_id]:
            for step in STEPS:
                await getattr(self, step)(turn, conversation)
                if turn.duplicate:
                    break
        return turn

    async def accept(self, turn: Turn, conversation: Conversation) -> None:
        """Persist the message as received before anything else can fail."""
        if turn.choice is not None and not self.choice_intent(turn.choice):
            raise BadChoice(turn.choice)
        try:
            with self.sessions.begin() as session:
                message = Message(
                    conversation_id=turn.conversation_id, role="user", status="received",
                    client_id=turn.client_id, text=turn.raw_text, original_text=turn.raw_text,
                    details={"choice": turn.choice} if turn.choice else {},
                )
                session.add(message)
                session.flush()
                turn.user_seq = message.seq
        except IntegrityError:
            self.load_previous_turn(turn)

    def load_previous_turn(self, turn: Turn) -> None:
        """The same client message again (a retry): return what was answered, do not run it twice."""
        with self.sessions() as session:
            user = session.scalars(select(Message).where(
                Message.conversation_id == turn.conversation_id, Message.client_id == turn.client_id)).one()
            replies = session.scalars(select(Message).where(
                Message.conversation_id == turn.conversation_id, Message.role != "user",
                Message.details["reply_to"].as_integer() == user.seq).order_by(Message.seq))
            turn.user_seq = user.seq
            turn.replies = [self.reply_from_message(m) for m in replies]
        turn.duplicate = True

    async def clean(self, turn: Turn, conversation: Conversation) -> None:
        cleaned = clean_input(turn.raw_text, self.max_message_chars)
        turn.text = cleaned.text
        if turn.choice is None:
            turn.problem = cleaned.problem

    async def detect_language(self, turn: Turn, conversation: Conversation) -> None:
        if turn.choice is not None or turn.problem:
            turn.language = conversation.language or UNDETERMINED
        else:
            current = conversation.language if conversation.language_chosen or conversation.language else None
            turn.language = self.detector.conversation_language(turn.text, current).language
        if conversation.language_chosen and conversation.language:
            turn.reply_language = conversation.language
        elif turn.language in self.assistant_languages:
            turn.reply_language = turn.language
        else:
            turn.reply_language = conversation.language or self.default_language

    async def check_crisis(self, turn: Turn, conversation: Conversation) -> None:
        if turn.choice is not None or not turn.text:
            return
        turn.crisis = self.crisis.detect(turn.text)
        if turn.crisis:
            turn.topic = "crisis"
            turn.replies.append(self.curated(f"crisis_{turn.crisis.kind}", "crisis", turn.reply_language))
            turn.answered = True

    async def translate_in(self, turn: Turn, conversation: Conversation) -> None:
        if turn.answered or turn.problem or turn.choice is not None:
            return
        source = turn.language if turn.language != UNDETERMINED else turn.reply_language
        target = source if source in self.assistant_languages else self.default_language
        turn.nlu_text = self.translator.translate(turn.text, source, target)

    async def route_owner(self, turn: Turn, conversation: Conversation) -> None:
        """A conversation a caseworker owns never reaches the assistant (handoff issue's hook)."""
        if conversation.owner != "assistant":
            turn.answered = True

    async def ask_assistant(self, turn: Turn, conversation: Conversation) -> None:
        if turn.answered:
            return
        if turn.problem:
            turn.topic = "out_of_scope"
            turn.replies.append(self.curated(f"input_{turn.problem}", "out_of_scope", turn.reply_language))
            turn.answered = True
            return
        metadata = {"language": turn.reply_language, "municipality": conversation.municipality}
        try:
            if turn.choice is not None:
                intent, entities = self.choice_intent(turn.choice)
                result = await self.rasa.send(turn.conversation_id, metadata, intent=intent, entities=entities)
            else:
                result = await self.rasa.send(turn.conversation_id, metadata, text=turn.nlu_text)
        except AssistantUnavailable:
            turn.assistant_unavailable = True
            turn.topic = "out_of_scope"
            turn.replies.append(self.curated("assistant_unavailable", "out_of_scope", turn.reply_language))
            return
        turn.intent, turn.confidence, turn.payloads = result.intent, result.confidence, result.payloads
        municipality = result.slots.get("municipality")
        if municipality in self.kb.municipalities:
            conversation.municipality = municipality

    def choice_intent(self, choice: str) -> tuple[str, dict[str, str]] | None:
        kind, _, value = choice.partition(":")
        if choice in CHOICE_INTENTS:
            return CHOICE_INTENTS[choice], {}
        if kind == "topic" and value in self.kb.topics:
            return self.kb.topics[value]["intent"], {}
        if kind == "municipality" and value in self.kb.municipalities:
            return "inform_municipality", {"municipality": value}
        return None

    async def compose(self, turn: Turn, conversation: Conversation) -> None:
        for payload in turn.payloads:
            turn.replies.append(Reply(
                key=payload["key"], text=payload["text"], web_text=payload.get("web_text"),
                topic=payload["topic"], language=payload.get("language", turn.reply_language),
                sources=[self.labelled(source, turn.reply_language) for source in payload.get("sources", [])],
                buttons=payload.get("buttons", []), handoff=bool(payload.get("handoff")),
                national_fallback=bool(payload.get("national_fallback")),
            ))
        if turn.payloads:
            turn.topic = turn.payloads[0]["topic"]
        if turn.topic == "crisis" and turn.crisis is None:  # NLU caught what the phrase lists missed
            turn.crisis = CrisisMatch("general", turn.reply_language, f"nlu:{turn.intent}")

    def labelled(self, source: dict[str, str], language: str) -> dict[str, str]:
        prefix = self.kb.message("source_prefix", language)
        label = f"{prefix}: {source['document']} — {source['section']}"
        return {**source, "label": label}

    async def hand_off(self, turn: Turn, conversation: Conversation) -> None:
        turn.handoff = any(reply.handoff for reply in turn.replies)
        if turn.handoff:
            conversation.handoff = True
        if turn.crisis:
            conversation.crisis = True

    async def translate_out(self, turn: Turn, conversation: Conversation) -> None:
        for reply in turn.replies:
            if reply.language != turn.reply_language:
                reply.text = self.translator.translate(reply.text, reply.language, turn.reply_language)
                reply.language = turn.reply_language

    async def disclose(self, turn: Turn, conversation: Conversation) -> None:
        if not conversation.disclosed:
            after_crisis = len(turn.replies) if turn.crisis else 0  # 112 always comes first
            turn.replies[after_crisis:after_crisis] = self.disclosure_replies(turn.reply_language)
            conversation.disclosed = True

    async def record(self, turn: Turn, conversation: Conversation) -> None:
        with self.sessions.begin() as session:
            user = session.get(Message, turn.user_seq)
            user.text = turn.text or turn.raw_text
            user.language = turn.language
            user.topic, user.intent, user.confidence = turn.topic, turn.intent, turn.confidence
            user.status = "received" if turn.assistant_unavailable else "done"
            for reply in turn.replies:
                stored = self.store_reply(session, turn.conversation_id, reply, reply_to=turn.user_seq)
                reply.seq = stored.seq
            stored_conversation = session.get(Conversation, turn.conversation_id)
            stored_conversation.municipality = conversation.municipality
            stored_conversation.disclosed = conversation.disclosed
            stored_conversation.crisis = conversation.crisis
            stored_conversation.handoff = conversation.handoff
            if turn.language != UNDETERMINED and not stored_conversation.language_chosen:
                stored_conversation.language = turn.reply_language

    async def deliver(self, turn: Turn, conversation: Conversation) -> None:
        with self.sessions() as session:
            stored = [session.get(Message, reply.seq) for reply in turn.replies]
            conversation = session.get(Conversation, turn.conversation_id)
        await self.delivery.deliver(conversation, stored)

    # -- storage helpers -----------------------------------------------------------------------

    @staticmethod
    def store_reply(session: Session, conversation_id: str, reply: Reply, reply_to: int | None = None) -> Message:
        details = reply.details() | ({"reply_to": reply_to} if reply_to is not None else {})
        message = Message(
            conversation_id=conversation_id, role="assistant", status="done", text=reply.text,
            language=reply.language, topic=reply.topic, key=reply.key, translated=reply.translated, details=details,
        )
        session.add(message)
        session.flush()
        return message

    @staticmethod
    def reply_from_message(message: Message) -> Reply:
        details = message.details or {}
        return Reply(
            key=message.key or "", text=message.text, topic=message.topic or "", language=message.language or "",
            web_text=details.get("web_text"), translated=message.translated, sources=details.get("sources", []),
            buttons=details.get("buttons", []), handoff=details.get("handoff", False),
            national_fallback=details.get("national_fallback", False), seq=message.seq,
        )
