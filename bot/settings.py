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
    config_dir: Path = field(default_factory=lambda: Path(os.environ.get("VELKOMMEN_CONFIG_DIR", ROOT / "config")))
    max_message_chars: int = 1000
    # scale mode: PostgreSQL for the gateway and Rasa's trackers, Redis for locks and events (docs/deployment.md)
    mode: str = field(default_factory=lambda: os.environ.get("VELKOMMEN_MODE", "single"))
    redis_url: str = field(default_factory=lambda: os.environ.get("VELKOMMEN_REDIS_URL", ""))
    tracker_url: str = ""  # Rasa's SQL tracker store, so erase/export/purge reach it
    resume_interval_s: float = field(default_factory=lambda: float(os.environ.get("VELKOMMEN_RESUME_INTERVAL", "30")))
    # machine translation (README "Translation"): where argos packages are installed (ARGOS_PACKAGES_DIR,
    # default <home>/argos-packages) and CTranslate2's threads per translation (0 oversubscribes small machines)
    argos_packages_dir: Path | None = None
    argos_intra_threads: int = field(default_factory=lambda: int(os.environ.get("VELKOMMEN_ARGOS_INTRA_THREADS", "1")))

    def __post_init__(self) -> None:
        if self.argos_packages_dir is None:
            packages = os.environ.get("ARGOS_PACKAGES_DIR") or self.home / "argos-packages"
            object.__setattr__(self, "argos_packages_dir", Path(packages))
        if not self.database_url:
            url = os.environ.get("VELKOMMEN_DATABASE_URL") or f"sqlite:///{self.home / 'gateway.db'}"
            object.__setattr__(self, "database_url", url)
        if self.mode not in ("single", "scale"):
            raise ValueError(f"VELKOMMEN_MODE must be single or scale, not {self.mode!r}")
        if self.scale:
            self.check_scale()
        if not self.tracker_url:
            tracker_db = os.environ.get("VELKOMMEN_TRACKER_DB") or self.home / "rasa_tracker.db"
            object.__setattr__(self, "tracker_url", os.environ.get("VELKOMMEN_TRACKER_URL")
                               or (self.database_url if self.scale else f"sqlite:///{tracker_db}"))

    @property
    def scale(self) -> bool:
        return self.mode == "scale"

    def check_scale(self) -> None:
        if not self.database_url.startswith("postgresql"):
            raise ValueError("VELKOMMEN_MODE=scale needs VELKOMMEN_DATABASE_URL=postgresql+psycopg://user:password@host/db")
        if not self.redis_url.startswith(("redis://", "rediss://")):
            raise ValueError("VELKOMMEN_MODE=scale needs VELKOMMEN_REDIS_URL=redis://host:6379/0")

    @property
    def rasa_urls(self) -> list[str]:
        """VELKOMMEN_RASA_URL may list several Rasa instances, comma-separated."""
        return [url.strip() for url in self.rasa_url.split(",") if url.strip()]

    @property
    def turn_lock_s(self) -> float:
        """Longer than the longest turn: two Rasa attempts (failover) and the steps around them."""
        return 2 * self.rasa_timeout_s + 30

    @property
    def privacy_url(self) -> str:
        return f"{self.public_url.rstrip('/')}/privacy"


def new_token() -> str:
    return secrets.token_urlsafe(32)
