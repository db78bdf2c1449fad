"""Run-time settings, read once from the environment (bin/velkommen and the tests set them)."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Settings:
    home: Path = field(default_factory=lambda: Path(os.environ.get("VELKOMMEN_HOME", ROOT / ".velkommen")))
    database_url: str = ""
    rasa_url: str = field(default_factory=lambda: os.environ.get("VELKOMMEN_RASA_URL", "http://127.0.0.1:5005"))
    rasa_token: str = field(default_factory=lambda: os.environ.get("VELKOMMEN_RASA_TOKEN", ""))
    rasa_timeout_s: float = field(default_factory=lambda: float(os.environ.get("VELKOMMEN_RASA_TIMEOUT", "20")))
    public_url: str = field(default_factory=lambda: os.environ.get("VELKOMMEN_PUBLIC_URL", "http://127.0.0.1:8000"))
    data_dir: Path = ROOT / "data"
    config_dir: Path = ROOT / "config"
    max_message_chars: int = 1000

    def __post_init__(self) -> None:
        if not self.database_url:
            url = os.environ.get("VELKOMMEN_DATABASE_URL") or f"sqlite:///{self.home / 'gateway.db'}"
            object.__setattr__(self, "database_url", url)

    @property
    def privacy_url(self) -> str:
        return f"{self.public_url.rstrip('/')}/privacy"


def new_token() -> str:
    return secrets.token_urlsafe(32)
