"""Web chat widget weight: gzip bytes of everything a page loads before the chat's first message
(widget.js, widget.css and the UI strings of one language), as the gateway serves them, against
the 50 kB budget. `bin/velkommen benchmark widget_size`."""
from __future__ import annotations

import json

import yaml

from bot.channels.widget import STATIC_DIR, STATIC_FILES, Asset, ui_payloads
from bot.settings import ROOT

BUDGET_BYTES = 50 * 1024


def main(argv: list[str]) -> int:
    config = yaml.safe_load((ROOT / "config/web_chat.yml").read_text(encoding="utf-8"))
    max_age = int(config["cache_max_age_s"])
    files = {name: Asset.of((STATIC_DIR / name).read_bytes(), media_type, max_age)
             for name, media_type in STATIC_FILES.items()}
    strings = {code: Asset.of(json.dumps(payload, ensure_ascii=False).encode(), "application/json", max_age)
               for code, payload in ui_payloads(ROOT / "data/ui").items()}
    print(f"{'file':<22}{'bytes':>8}{'gzip':>8}")
    for name, asset in files.items():
        print(f"{name:<22}{len(asset.body):>8}{len(asset.gzipped):>8}")
    for code, asset in strings.items():
        print(f"{'/api/ui/' + code:<22}{len(asset.body):>8}{len(asset.gzipped):>8}")
    heaviest = max(strings, key=lambda code: len(strings[code].gzipped))
    total = sum(len(asset.gzipped) for asset in files.values()) + len(strings[heaviest].gzipped)
    print(f"before the first message (js + css + /api/ui/{heaviest}, the heaviest language): "
          f"{total} bytes gzipped = {total / 1024:.1f} kB of the {BUDGET_BYTES // 1024} kB budget")
    return 0 if total <= BUDGET_BYTES else 1
