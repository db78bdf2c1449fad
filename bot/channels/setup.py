"""Puts Telegram and SMS on the gateway as configured: their webhooks on the app, their senders on
the delivery path, their transports on the one outbox worker; started and stopped with the app."""
from __future__ import annotations

import os
from typing import Mapping

from fastapi import FastAPI

from bot.channels.config import ChannelsConfig
from bot.channels.sms import SmsChannel
from bot.channels.telegram import TelegramChannel
from bot.delivery import Delivery
from bot.outbox import Outbox
from bot.pipeline import Pipeline
from bot.safety.limits import Limits
from bot.settings import Settings


class Channels:
    def __init__(self, config: ChannelsConfig, outbox: Outbox, telegram: TelegramChannel | None,
                 sms: SmsChannel | None, public_url: str) -> None:
        self.config = config
        self.outbox = outbox
        self.telegram = telegram
        self.sms = sms
        self.public_url = public_url

    @classmethod
    def build(cls, settings: Settings, pipeline: Pipeline, delivery: Delivery, limits: Limits,
              env: Mapping[str, str] = os.environ) -> "Channels":
        """Incoming messages of one person are paced by the per-conversation rate limit."""
        config = ChannelsConfig.load(settings.config_dir / "channels.yml", env)
        outbox = Outbox(pipeline.sessions, config.retry, config.concurrency)
        common = (pipeline, delivery, outbox, settings.public_url, limits.per_conversation)
        telegram = config.telegram and TelegramChannel(config.telegram, *common)
        sms = config.sms and SmsChannel(config.sms, *common)
        for name, channel in (("telegram", telegram), ("sms", sms)):
            if channel is not None:
                delivery.register(name, channel.send)
                outbox.register(name, channel.transport)
        return cls(config, outbox, telegram, sms, settings.public_url)

    @property
    def running(self) -> list[TelegramChannel | SmsChannel]:
        return [channel for channel in (self.telegram, self.sms) if channel is not None]

    def mount(self, app: FastAPI) -> None:
        for channel in self.running:
            if channel is self.telegram and self.telegram.config.mode == "polling":
                continue
            app.add_api_route(channel.config.webhook_path, channel.webhook, methods=["POST"], include_in_schema=False)

    async def start(self) -> None:
        for channel in self.running:
            await channel.start()
        if self.running:
            await self.outbox.start()

    async def stop(self) -> None:
        for channel in self.running:  # first what is being received, so its replies are queued
            await channel.stop()
        await self.outbox.stop()
        for channel in self.running:
            await channel.close()

    def describe(self) -> list[str]:
        return self.config.describe(self.public_url)
