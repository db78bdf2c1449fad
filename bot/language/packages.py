"""Argos translation packages: checking and installing .argosmodel files offline, listing what is installed.

argostranslate keeps its configuration in module globals, read when it is imported; `use_argos`
points them at our packages directory and thread setting before anything else touches argos.
An operator installs packages with `bin/velkommen packages install FILE…` (README: "Translation").
"""
from __future__ import annotations

import json
import logging
import shutil
import sys
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import ModuleType

ARGOS_LOCK = threading.RLock()  # argos state is process-wide; load and install one at a time


class PackageError(ValueError):
    pass


@dataclass(frozen=True)
class PackageInfo:
    source: str
    target: str
    version: str
    folder: str

    def __str__(self) -> str:
        return f"{self.source} → {self.target}  (version {self.version}, {self.folder})"


def use_argos(packages_dir: Path, intra_threads: int = 1) -> ModuleType:
    """Imports argostranslate configured for `packages_dir` (not the process's ARGOS_PACKAGES_DIR,
    which argos read once at import) and for our CTranslate2 threads."""
    packages_dir.mkdir(parents=True, exist_ok=True)
    from argostranslate import settings, utils

    utils.logger.setLevel(logging.WARNING)  # at INFO argos logs every text it translates
    settings.package_data_dir = packages_dir
    settings.package_dirs = [packages_dir]
    settings.inter_threads = 1
    settings.intra_threads = intra_threads
    return settings


def metadata_info(metadata: dict, folder: str) -> PackageInfo:
    if metadata.get("type", "translate") != "translate" or not metadata.get("from_code") or not metadata.get("to_code"):
        raise PackageError(f"{folder}: metadata.json must name from_code and to_code of a translate package")
    return PackageInfo(metadata["from_code"], metadata["to_code"], str(metadata.get("package_version", "?")), folder)


def inspect(path: Path) -> PackageInfo:
    """Checks that `path` is an argos package (a zip of one folder with metadata.json, a model and a tokenizer)."""
    if not path.is_file() or not zipfile.is_zipfile(path):
        raise PackageError(f"{path}: not an .argosmodel file (a zip archive)")
    with zipfile.ZipFile(path) as archive:
        names = [PurePosixPath(name) for name in archive.namelist()]
        folders = {name.parts[0] for name in names if name.parts}
        if len(folders) != 1 or any(name.is_absolute() or ".." in name.parts for name in names):
            raise PackageError(f"{path}: a package holds exactly one top-level folder")
        folder = folders.pop()
        files = {str(name) for name in names}
        for needed in ("metadata.json", "model/model.bin"):
            if f"{folder}/{needed}" not in files:
                raise PackageError(f"{path}: {needed} missing")
        if not {f"{folder}/sentencepiece.model", f"{folder}/bpe.model"} & files:
            raise PackageError(f"{path}: no tokenizer (sentencepiece.model or bpe.model)")
        try:
            metadata = json.loads(archive.read(f"{folder}/metadata.json"))
        except ValueError as error:
            raise PackageError(f"{path}: metadata.json is not JSON ({error})") from error
    return metadata_info(metadata, folder)


def installed(packages_dir: Path) -> list[PackageInfo]:
    """The packages in `packages_dir` (read from their metadata, without loading argos)."""
    if not packages_dir.is_dir():
        return []
    found = []
    for folder in sorted(p for p in packages_dir.iterdir() if (p / "metadata.json").is_file()):
        found.append(metadata_info(json.loads((folder / "metadata.json").read_text(encoding="utf-8")), folder.name))
    return found


def install(path: Path, packages_dir: Path) -> PackageInfo:
    """Installs one package file with argos (offline); replaces an installed package for the same pair."""
    info = inspect(path)
    with ARGOS_LOCK:
        use_argos(packages_dir)
        from argostranslate import package

        for old in installed(packages_dir):
            if (old.source, old.target) == (info.source, info.target) or old.folder == info.folder:
                shutil.rmtree(packages_dir / old.folder)
        package.install_from_path(path)
    return info


def command(action: str, files: list[Path], packages_dir: Path, languages: dict[str, str], machine_codes: dict[str, str]) -> int:
    """`bin/velkommen packages install FILE…` and `packages list`: what was installed or what is, and
    for each language (code → name) which packages serve it."""
    failed = False
    for path in files if action == "install" else []:
        try:
            print(f"installed: {install(path, packages_dir)}", flush=True)
        except PackageError as error:
            print(f"not installed: {error}", file=sys.stderr, flush=True)
            failed = True
    packages = installed(packages_dir)
    print(f"{len(packages)} package(s) in {packages_dir}")
    for info in packages:
        print(f"  {info}")
    for code, name in languages.items():
        via = machine_codes.get(code, code)
        serving = [f"{p.source} → {p.target}" for p in packages if via in (p.source, p.target)]
        note = f" (with the {via} packages)" if via != code and serving else ""
        print(f"{code}: {', '.join(serving) + note if serving else 'none — curated replies and a caseworker only'}")
    return 1 if failed else 0
