"""Telegram and SMS configuration: config/channels.yml for settings, the environment for secrets.
A channel without its credentials is off, with the reason kept for `bin/velkommen up` to print.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import yaml

from bot.outbox import RetryPolicy

TELEGRAM_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


@dataclass(frozen=True)
class TelegramConfig:
    token: str
    mode: str
    secret: str
    api_url: str
    register_webhook: bool
    webhook_path: str


@dataclass(frozen=True)
class SmsConfig:
    account_sid: str
    auth_token: str
    sender: str
    key_secret: str
    api_url: str
    webhook_path: str
    max_segments: int
    keywords: dict[str, dict[str, str | None]]

    def keyword(self, text: str) -> tuple[str, str | None] | None:
        """(action, language) when the whole message is a keyword such as STOP or HJÆLP."""
        word = text.strip().rstrip(".!?").strip().upper()
        for action, words in self.keywords.items():
            if word in words:
                return action, words[word]
        return None


@dataclass(frozen=True)
class ChannelsConfig:
    telegram: TelegramConfig | None
    sms: SmsConfig | None
    off: dict[str, str] = field(default_factory=dict)  # channel → why it is off
    retry: RetryPolicy = RetryPolicy()
    concurrency: int = 8

    @classmethod
    def load(cls, path: Path, env: Mapping[str, str]) -> "ChannelsConfig":
        spec = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
        off: dict[str, str] = {}
        telegram = telegram_config(spec.get("telegram") or {}, env, off)
        sms = sms_config(spec.get("sms") or {}, env, off)
        outbox = spec.get("outbox") or {}
        retry = RetryPolicy(max_attempts=int(outbox.get("max_attempts", 6)),
                            backoff_s=tuple(float(s) for s in outbox.get("backoff_s", RetryPolicy.backoff_s)))
        return cls(telegram, sms, off, retry, int(outbox.get("concurrency", 8)))

    def describe(self, public_url: str) -> list[str]:
        base = public_url.rstrip("/")
        lines = []
        if self.telegram is None:
            lines.append(f"telegram off ({self.off['telegram']})")
        elif self.telegram.mode == "polling":
            lines.append("telegram polling the Bot API (local use)")
        else:
            lines.append(f"telegram webhook {base}{self.telegram.webhook_path}")
        if self.sms is None:
            lines.append(f"sms      off ({self.off['sms']})")
        else:
            lines.append(f"sms      webhook {base}{self.sms.webhook_path}  (Twilio, from {self.sms.sender})")
        return lines


def missing(env: Mapping[str, str], names: list[str]) -> list[str]:
    return [name for name in names if not env.get(name)]


def telegram_config(spec: dict, env: Mapping[str, str], off: dict[str, str]) -> TelegramConfig | None:
    mode = env.get("VELKOMMEN_TELEGRAM_MODE") or spec.get("mode", "webhook")
    needed = ["VELKOMMEN_TELEGRAM_TOKEN"] + (["VELKOMMEN_TELEGRAM_SECRET"] if mode == "webhook" else [])
    if mode not in ("webhook", "polling"):
        off["telegram"] = f"mode must be webhook or polling, not {mode!r}"
    elif absent := missing(env, needed):
        off["telegram"] = f"no {', '.join(absent)}"
    elif mode == "webhook" and not TELEGRAM_SECRET.fullmatch(env["VELKOMMEN_TELEGRAM_SECRET"]):
        off["telegram"] = "VELKOMMEN_TELEGRAM_SECRET must be 1-256 characters of A-Z a-z 0-9 _ -"
    else:
        return TelegramConfig(
            token=env["VELKOMMEN_TELEGRAM_TOKEN"], mode=mode, secret=env.get("VELKOMMEN_TELEGRAM_SECRET", ""),
            api_url=env.get("VELKOMMEN_TELEGRAM_API_URL") or spec.get("api_url", "https://api.telegram.org/bot"),
            register_webhook=bool(spec.get("register_webhook", True)),
            webhook_path=spec.get("webhook_path", "/channels/telegram/webhook"),
        )
    return None


def sms_config(spec: dict, env: Mapping[str, str], off: dict[str, str]) -> SmsConfig | None:
    needed = ["VELKOMMEN_TWILIO_ACCOUNT_SID", "VELKOMMEN_TWILIO_AUTH_TOKEN", "VELKOMMEN_TWILIO_FROM",
              "VELKOMMEN_SMS_KEY_SECRET"]
    if absent := missing(env, needed):
        off["sms"] = f"no {', '.join(absent)}"
        return None
    keywords = {action: {word.upper(): language for word, language in (words or {}).items()}
                for action, words in (spec.get("keywords") or {}).items()}
    return SmsConfig(
        account_sid=env["VELKOMMEN_TWILIO_ACCOUNT_SID"], auth_token=env["VELKOMMEN_TWILIO_AUTH_TOKEN"],
        sender=env["VELKOMMEN_TWILIO_FROM"], key_secret=env["VELKOMMEN_SMS_KEY_SECRET"],
        api_url=env.get("VELKOMMEN_TWILIO_API_URL") or spec.get("api_url", "https://api.twilio.com"),
        webhook_path=spec.get("webhook_path", "/channels/sms/incoming"),
        max_segments=int(spec.get("max_segments", 4)), keywords=keywords,
    )
