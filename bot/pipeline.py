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
from bot import retention
from bot.delivery import Delivery
from bot.handoff.desk import HandoffDesk, Notice
from bot.language.detect import UNDETERMINED, LanguageDetector
from bot.language.languages import BUTTON_MESSAGES, Languages
from bot.language.translate import NoTranslation, Translator
from bot.rasa_client import AssistantUnavailable, RasaClient
from bot.safety.crisis import CrisisDetector, CrisisMatch
from bot.safety.input_clean import clean_input
from bot.safety.pii import PersonalDataRedactor
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
    original_text: str | None = None  # before translation (translated: curated or machine)
    original_language: str | None = None

    def details(self) -> dict[str, Any]:
        return {
            "web_text": self.web_text or self.text, "sources": self.sources, "buttons": self.buttons,
            "handoff": self.handoff, "national_fallback": self.national_fallback,
        } | ({"original_language": self.original_language} if self.original_language else {})


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
    source_language: str = UNDETERMINED  # what this message itself is written in, when that is fairly sure
    assistant_language: str = "en"  # the language the assistant works in for this turn (en or da)
    nlu_text: str = ""  # what the NLU reads: the text, or its machine translation (the pivot)
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
    personal_data: frozenset[str] = frozenset()  # kinds of identifier removed in accept
    stored_conversation: Conversation | None = None  # as record left it in the store
    stored: list[Message] = field(default_factory=list)  # the replies as record stored them


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
        redactor: PersonalDataRedactor,
        tracker_url: str | None = None,
        locks: Any = None,  # per-conversation turn locks; bot.scale.turn_locks.RedisTurnLocks across workers
        languages: Languages,
        handoffs: HandoffDesk,
    ) -> None:
        self.sessions = sessions
        self.kb = knowledge
        self.detector = detector
        self.crisis = crisis
        self.translator = translator
        self.rasa = rasa
        self.delivery = delivery
        self.assistant_languages = assistant_languages
        self.languages = languages
        self.default_language = default_language
        self.privacy_url = privacy_url
        self.max_message_chars = max_message_chars
        self.redactor = redactor
        self.tracker_url = tracker_url
        self.locks = locks if locks is not None else defaultdict(asyncio.Lock)
        self.handoffs = handoffs

    # -- conversations -------------------------------------------------------------------------

    def start_conversation(self, channel: str, municipality: str | None = None, language: str | None = None) -> Conversation:
        if municipality is not None and municipality not in self.kb.municipalities:
            raise ValueError(f"unknown municipality {municipality!r}")
        if language is not None and language not in self.languages:
            raise ValueError(f"unsupported language {language!r}")
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
        language = conversation.language if conversation.language in self.languages else self.default_language
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
        translated = "none" if language in self.assistant_languages else "curated"
        return Reply(key=key, text=self.kb.message(key, language, **values), topic=topic, language=language,
                     translated=translated)

    # -- the steps -----------------------------------------------------------------------------

    async def handle(self, conversation_id: str, text: str = "", choice: str | None = None, client_id: str | None = None) -> Turn:
        turn = Turn(conversation_id, text or "", choice=choice, client_id=client_id)
        async with self.locks[conversation_id]:
            try:
                conversation = await asyncio.to_thread(self.conversation, conversation_id)  # as the previous turn left it
            except UnknownConversation:
                self.locks.pop(conversation_id, None)
                raise
            for step in STEPS:
                await getattr(self, step)(turn, conversation)
                if turn.duplicate:
                    break
        return turn

    async def accept(self, turn: Turn, conversation: Conversation) -> None:
        """Remove personal identifiers, then persist the message as received before anything else can fail."""
        if turn.choice is not None and not (self.choice_intent(turn.choice) or self.handoffs.handles(turn.choice)
                                            or self.languages.chosen(turn.choice)):
            raise BadChoice(turn.choice)
        redaction = self.redactor.redact_message(turn.raw_text)
        turn.raw_text, turn.personal_data = redaction.text, redaction.kinds
        await asyncio.to_thread(self.store_received, turn)

    def store_received(self, turn: Turn) -> None:
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
        """The language of the message and of the replies. An explicit choice (a language button, or
        the language's name as the whole message) wins from then on; otherwise the conversation rule
        (bot/language/detect.py) decides; translate_in asks once when a first message cannot be placed."""
        chosen = self.languages.chosen(turn.choice) or (self.detector.choice(turn.text) if turn.choice is None else None)
        if chosen:
            conversation.language, conversation.language_chosen = chosen, True
            turn.language = turn.reply_language = chosen
            turn.topic, turn.answered = "smalltalk", True
            turn.replies.append(self.curated("language_set", "smalltalk", chosen, language_name=self.languages.names[chosen]))
            return
        if turn.choice is not None or turn.problem:
            turn.language = conversation.language or UNDETERMINED
        else:
            found = self.detector.detect(turn.text)
            if found.confidence >= self.detector.min_confidence:
                turn.source_language = found.language
            turn.language = self.detector.conversation_language(turn.text, conversation.language, found).language
        if conversation.language_chosen and conversation.language:
            turn.reply_language = conversation.language
        elif turn.language in self.languages:
            turn.reply_language = turn.language
        else:
            turn.reply_language = conversation.language or self.default_language

    def asked_language(self, conversation_id: str) -> bool:
        with self.sessions() as session:
            return session.scalar(select(Message.seq).where(
                Message.conversation_id == conversation_id, Message.key == "choose_language").limit(1)) is not None

    async def check_crisis(self, turn: Turn, conversation: Conversation) -> None:
        if turn.choice is not None or not turn.text:
            return
        turn.crisis = self.crisis.detect(turn.text)
        if turn.crisis:
            if turn.language == UNDETERMINED and not conversation.language_chosen and turn.crisis.language in self.languages:
                turn.reply_language = turn.crisis.language  # too short to place, but the phrase says which
            turn.topic = "crisis"
            turn.replies.append(self.curated(f"crisis_{turn.crisis.kind}", "crisis", turn.reply_language))
            turn.answered = True

    async def translate_in(self, turn: Turn, conversation: Conversation) -> None:
        """The assistant understands en/da: anything else is machine-translated into English (the argos
        hub) for the NLU. The assistant answers in the person's language when it is en/da, in Danish
        where a da → language package exists, else in English; translate_out takes it from there.
        Without a package for the person's language: the curated "I can only answer in …" and a
        caseworker. A first message in no recognisable language also gets the language buttons."""
        reply_language = turn.reply_language
        if reply_language in self.assistant_languages:
            turn.assistant_language = reply_language
        else:
            turn.assistant_language = "da" if self.translator.direct("da", reply_language) else self.default_language
        if turn.language == UNDETERMINED and conversation.language is None and turn.choice is None \
                and not (turn.problem or turn.crisis) and not await asyncio.to_thread(self.asked_language, turn.conversation_id):
            ask = self.curated("choose_language", "smalltalk", reply_language)
            ask.buttons = self.languages.buttons()
            turn.replies.insert(0, ask)  # not after a crisis: there 112 comes first, and alone
        if turn.answered or turn.problem or turn.choice is not None:
            return
        source = next(code for code in (turn.source_language, turn.language, reply_language) if code != UNDETERMINED)
        if source in self.assistant_languages:
            turn.nlu_text = turn.text
            return
        try:
            turn.nlu_text = await asyncio.to_thread(
                self.translator.translate, turn.text, source, self.default_language, turn.conversation_id)
        except NoTranslation:
            turn.topic, turn.answered = "out_of_scope", True
            turn.replies.append(self.not_supported(reply_language))

    def not_supported(self, language: str) -> Reply:
        reply = self.curated("language_not_supported", "out_of_scope", language)
        reply.buttons = [{"title": self.kb.message("talk_to_person", language), "choice": "handoff:request"}]
        return reply

    async def route_owner(self, turn: Turn, conversation: Conversation) -> None:
        """Who answers: the handoff desk its own buttons (consent, contact time); the console, never
        the assistant, every message while a caseworker owns the conversation; else the assistant."""
        language = turn.reply_language
        if turn.choice is not None and self.handoffs.handles(turn.choice):
            turn.topic, turn.answered = "handoff", True
            turn.replies += self.told(await asyncio.to_thread(
                self.handoffs.answer_choice, conversation, turn.choice, turn.user_seq, language))
        elif conversation.owner != "assistant":
            turn.topic, turn.answered = turn.topic or "handoff", True
            await asyncio.to_thread(self.handoffs.forward, conversation, turn.user_seq)
            if turn.choice is not None:  # an assistant button, pressed while a person has the conversation
                turn.replies += self.told([self.handoffs.say("handoff_already", language)])

    async def ask_assistant(self, turn: Turn, conversation: Conversation) -> None:
        if turn.answered:
            return
        if turn.problem:
            turn.topic = "out_of_scope"
            turn.replies.append(self.curated(f"input_{turn.problem}", "out_of_scope", turn.reply_language))
            turn.answered = True
            return
        metadata = {"language": turn.assistant_language, "municipality": conversation.municipality}
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
        if turn.personal_data:
            turn.replies.append(self.curated("personal_data_removed", "smalltalk", turn.reply_language))

    def labelled(self, source: dict[str, str], language: str) -> dict[str, str]:
        prefix = self.kb.message("source_prefix", language)
        label = f"{prefix}: {source['document']} — {source['section']}"
        return {**source, "label": label}

    async def hand_off(self, turn: Turn, conversation: Conversation) -> None:
        """A crisis is handed over at once and urgently, after the 112 reply; a reply flagged handoff
        asks for consent first; a typed yes/no answers a pending consent question (in place of the
        assistant's bare "OK"). The handoff desk keeps the record (Conversation.handoff: consented)."""
        turn.handoff = any(reply.handoff for reply in turn.replies)
        language = turn.reply_language
        typed = self.handoffs.typed_consent(conversation, turn.intent) if turn.choice is None else None
        if turn.crisis:
            conversation.crisis = True
            turn.replies += self.told(await asyncio.to_thread(self.handoffs.urgent, conversation, turn.user_seq, language))
        elif typed:
            turn.topic = "handoff"
            assistant_said = {payload["key"] for payload in turn.payloads}
            turn.replies = [reply for reply in turn.replies if reply.key not in assistant_said]
            turn.replies += self.told(await asyncio.to_thread(self.handoffs.consent, conversation, typed, turn.user_seq, language))
        elif turn.handoff:
            turn.replies += self.told(await asyncio.to_thread(self.handoffs.ask_consent, conversation, turn.intent, language))

    @staticmethod
    def told(notices: list[Notice]) -> list[Reply]:
        return [Reply(key=n.key, text=n.text, topic="handoff", language=n.language, buttons=n.buttons) for n in notices]

    async def translate_out(self, turn: Turn, conversation: Conversation) -> None:
        """Every reply into the person's language: curated text where its key has one (it always beats
        machine translation), else machine translation, labelled; a reply neither can reach is kept
        as it is, after the curated "I can only answer in …" — never silently in the wrong language."""
        language = turn.reply_language
        for reply in turn.replies:
            reply.buttons = [self.button_in(button, language) for button in reply.buttons]
            if reply.language == language:
                if language not in self.assistant_languages and reply.key in self.kb.messages.get(language, {}):
                    reply.translated = "curated"  # the handoff desk's notices come in the person's language
                continue
            if self.use_curated(reply, language, conversation):
                continue
            try:
                await self.machine_translate(reply, language, turn.conversation_id)
            except NoTranslation:
                pass
        stranded = [i for i, reply in enumerate(turn.replies) if reply.language != language]
        if stranded and not any(reply.key == "language_not_supported" for reply in turn.replies):
            turn.replies.insert(stranded[0], self.not_supported(language))

    def use_curated(self, reply: Reply, language: str, conversation: Conversation) -> bool:
        curated = self.kb.messages.get(language, {}).get(reply.key)
        if curated is None:
            return False
        values = {"privacy_url": self.privacy_url}
        if conversation.municipality in self.kb.municipalities:
            values["municipality"] = self.kb.municipality_name(conversation.municipality)
        try:
            text = curated.format(**values)
        except (KeyError, IndexError):  # a value only the assistant knew: machine translation instead
            return False
        reply.original_text, reply.original_language = reply.text, reply.language
        reply.text = reply.web_text = text
        reply.language, reply.translated = language, "curated"
        return True

    async def machine_translate(self, reply: Reply, language: str, conversation_id: str) -> None:
        label = self.kb.message("machine_translated", language)
        text = await asyncio.to_thread(self.translator.translate, reply.text, reply.language, language, conversation_id)
        web_text = None
        if reply.web_text and reply.web_text != reply.text:
            web_text = await asyncio.to_thread(self.translator.translate, reply.web_text, reply.language, language, conversation_id)
        reply.original_text, reply.original_language = reply.text, reply.language
        reply.text = f"{text}\n{label}"
        reply.web_text = f"{web_text}\n{label}" if web_text else None
        reply.language, reply.translated = language, "machine"

    def button_in(self, button: dict[str, str], language: str) -> dict[str, str]:
        """A button the assistant sent, titled in `language` when its title is curated there."""
        kind, _, value = button.get("choice", "").partition(":")
        title = None
        if kind == "topic":
            title = self.languages.topic_labels.get(language, {}).get(value)
        elif button.get("choice") in BUTTON_MESSAGES:
            title = self.kb.messages.get(language, {}).get(BUTTON_MESSAGES[button["choice"]])
        return {**button, "title": title} if title else button

    async def disclose(self, turn: Turn, conversation: Conversation) -> None:
        if not conversation.disclosed:
            after_crisis = len(turn.replies) if turn.crisis else 0  # 112 always comes first
            turn.replies[after_crisis:after_crisis] = self.disclosure_replies(turn.reply_language)
            conversation.disclosed = True

    async def record(self, turn: Turn, conversation: Conversation) -> None:
        turn.stored_conversation, turn.stored = await asyncio.to_thread(self.store_turn, turn, conversation)

    def store_turn(self, turn: Turn, conversation: Conversation) -> tuple[Conversation, list[Message]]:
        """The turn's outcome and replies, and what it changed in the conversation, in one transaction."""
        with self.sessions.begin() as session:
            user = session.get(Message, turn.user_seq)
            user.text = turn.text or turn.raw_text
            user.language = turn.language
            user.topic, user.intent, user.confidence = turn.topic, turn.intent, turn.confidence
            user.status = "received" if turn.assistant_unavailable else "done"
            if turn.nlu_text and turn.nlu_text != turn.text:  # the pivot the NLU read
                user.details = {**(user.details or {}), "pivot_text": turn.nlu_text, "pivot_language": self.default_language}
            stored = [self.store_reply(session, turn.conversation_id, reply, reply_to=turn.user_seq) for reply in turn.replies]
            for reply, message in zip(turn.replies, stored):
                reply.seq = message.seq
            stored_conversation = session.get(Conversation, turn.conversation_id)
            stored_conversation.municipality = conversation.municipality
            stored_conversation.disclosed = conversation.disclosed
            stored_conversation.crisis = conversation.crisis
            stored_conversation.handoff = conversation.handoff
            if conversation.language_chosen:
                stored_conversation.language, stored_conversation.language_chosen = conversation.language, True
            elif turn.language != UNDETERMINED:
                stored_conversation.language = turn.reply_language
        return stored_conversation, stored

    async def deliver(self, turn: Turn, conversation: Conversation) -> None:
        await self.delivery.deliver(turn.stored_conversation, turn.stored)

    # -- rights and recovery -------------------------------------------------------------------

    async def erase(self, conversation_id: str) -> dict[str, int]:
        """Erase-my-data, for every channel: the gateway's rows, Rasa's tracker, caches."""
        await asyncio.to_thread(self.conversation, conversation_id)
        async with self.locks[conversation_id]:
            erased = await asyncio.to_thread(
                retention.erase, self.sessions, self.tracker_url, [conversation_id], caches=(self.translator,))
        self.locks.pop(conversation_id, None)
        return erased

    def export(self, conversation_id: str) -> dict[str, Any]:
        """Export-my-data: everything stored about the conversation, the assistant's tracker included."""
        self.conversation(conversation_id)
        return retention.export(self.sessions, self.tracker_url, conversation_id)

    async def resume_pending(self) -> int:
        """Answers messages kept with status "received" (the assistant was down, or the gateway
        stopped mid-turn), oldest first; stops at the first the assistant still cannot answer."""
        with self.sessions() as session:
            pending = list(session.scalars(select(Message).where(
                Message.role == "user", Message.status == "received").order_by(Message.seq)))
        answered = 0
        for message in pending:
            async with self.locks[message.conversation_id]:
                current, conversation = await asyncio.to_thread(self.pending_state, message)
                if current is None or current.status != "received" or conversation is None:
                    continue  # answered meanwhile, or erased
                turn = Turn(message.conversation_id, message.original_text or message.text,
                            choice=(message.details or {}).get("choice"), client_id=message.client_id, user_seq=message.seq)
                for step in STEPS[1:]:
                    await getattr(self, step)(turn, conversation)
                    if turn.assistant_unavailable:
                        return answered
            answered += 1
        return answered

    def pending_state(self, message: Message) -> tuple[Message | None, Conversation | None]:
        with self.sessions() as session:
            return session.get(Message, message.seq), session.get(Conversation, message.conversation_id)

    # -- storage helpers -----------------------------------------------------------------------

    @staticmethod
    def store_reply(session: Session, conversation_id: str, reply: Reply, reply_to: int | None = None) -> Message:
        details = reply.details() | ({"reply_to": reply_to} if reply_to is not None else {})
        message = Message(
            conversation_id=conversation_id, role="assistant", status="done", text=reply.text,
            original_text=reply.original_text, language=reply.language, topic=reply.topic, key=reply.key,
            translated=reply.translated, details=details,
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
