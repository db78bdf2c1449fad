"""Renders the privacy notice page from config/privacy.yml (no notice text in code)."""
from __future__ import annotations

from html import escape
from pathlib import Path

import yaml

SECTIONS = ("controller", "purpose", "retention", "rights", "not_to_share")


def privacy_page(path: Path, language: str) -> str:
    notice = yaml.safe_load(path.read_text(encoding="utf-8"))
    language = language if language in notice["purpose"] else "en"
    paragraphs = "".join(f"<p>{escape(notice[section][language])}</p>" for section in SECTIONS)
    return (
        f'<!doctype html><html lang="{language}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><title>Velkommen – privacy</title>'
        f"</head><body><main><h1>Velkommen</h1>{paragraphs}</main></body></html>"
    )
