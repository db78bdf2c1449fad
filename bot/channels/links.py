"""Which conversation a Telegram chat or an SMS sender is in, and where its replies go.

A link lives exactly as long as its conversation (deleted with it): the SMS number is kept here
only, for as long as replies may be sent to it; the key is a pseudonym (see sms.py).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from bot.pipeline import Pipeline, Reply
from bot.store.models import Base, Conversation, Message, utcnow


class ChannelLink(Base):
    __tablename__ = "channel_links"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    user_key: Mapped[str] = mapped_column(String(128), primary_key=True)  # Telegram chat id; SMS: keyed hash
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), unique=True)
    address: Mapped[str] = mapped_column(String(64))  # the chat id or phone number replies go to
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Links:
    def __init__(self, pipeline: Pipeline, channel: str) -> None:
        self.pipeline = pipeline
        self.channel = channel

    def find(self, user_key: str) -> ChannelLink | None:
        with self.pipeline.sessions() as session:
            return session.get(ChannelLink, (self.channel, user_key))

    def of_conversation(self, conversation_id: str) -> ChannelLink | None:
        with self.pipeline.sessions() as session:
            return session.scalars(select(ChannelLink).where(ChannelLink.conversation_id == conversation_id)).first()

    def conversation(self, user_key: str, address: str) -> tuple[Conversation, bool]:
        """The person's conversation, started on first contact; True when it is new."""
        link = self.find(user_key)
        if link is not None:
            return self.pipeline.conversation(link.conversation_id), False
        conversation = self.pipeline.start_conversation(self.channel)
        try:
            with self.pipeline.sessions.begin() as session:
                session.add(ChannelLink(channel=self.channel, user_key=user_key,
                                        conversation_id=conversation.id, address=address))
        except IntegrityError:  # another worker linked this person first: use theirs
            with self.pipeline.sessions.begin() as session:
                session.execute(delete(Conversation).where(Conversation.id == conversation.id))
            return self.pipeline.conversation(self.find(user_key).conversation_id), False
        return conversation, True

    def guess_language(self, conversation_id: str, language: str) -> Conversation:
        """A first guess (not a choice: detection may replace it), e.g. from a Danish keyword."""
        with self.pipeline.sessions.begin() as session:
            conversation = session.get(Conversation, conversation_id)
            conversation.language = language
        return conversation

    def store(self, conversation_id: str, replies: list[Reply]) -> list[Message]:
        """Channel prompts (language, municipality, keyword confirmations) become ordinary stored
        replies, so they reach the person through the one delivery path like any other."""
        with self.pipeline.sessions.begin() as session:
            return [self.pipeline.store_reply(session, conversation_id, reply) for reply in replies]
