"""Machine translation through the real argostranslate code, with tiny packages the tests build:
install from files, load, pivot through English, cache, glossary, threads, and no network."""
from __future__ import annotations

import asyncio
import json
import socket
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

from bot.language.glossary import Glossary
from bot.language.packages import PackageError, inspect, install, installed
from bot.language.translate import ArgosEngine, NoTranslation, SentenceSplitter, Translator
from bot.settings import ROOT
from tests.gateway.tiny_argos import build_package

AR_EN = "where can I learn danish"
EN_AR = "يمكنك تعلم الدنماركية في مدرسة اللغة"
EN_UK = "ви можете вивчати данську мову"
GLOSSARY = Glossary.from_file(ROOT / "data/language/glossary.yml")


@pytest.fixture(scope="module")
def package_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("argos-files")
    return {
        "ar_en": build_package(folder, "ar", "en", AR_EN),
        "en_ar": build_package(folder, "en", "ar", EN_AR),
        "en_uk": build_package(folder, "en", "uk", EN_UK),
    }


@pytest.fixture
def packages_dir(tmp_path, package_files) -> Path:
    target = tmp_path / "argos-packages"
    for path in package_files.values():
        install(path, target)
    return target


@pytest.fixture
def translator(packages_dir) -> Translator:
    return Translator.load(packages_dir, GLOSSARY, ["en", "da"])


class NetworkAttempt(OSError):
    pass


@pytest.fixture
def no_network(monkeypatch) -> list[str]:
    """Any connection or name lookup beyond loopback is refused and recorded."""
    attempts: list[str] = []
    loopback = {"127.0.0.1", "::1", "localhost"}
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(sock, address):
        host = address[0] if isinstance(address, tuple) else None
        if host is not None and host not in loopback:
            attempts.append(f"connect {address}")
            raise NetworkAttempt(f"network use: {address}")
        return real_connect(sock, address)

    def getaddrinfo(host, *args, **kwargs):
        if host not in loopback and host is not None:
            attempts.append(f"lookup {host}")
            raise NetworkAttempt(f"name lookup: {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return attempts


def test_the_tiny_package_is_a_few_kilobytes_with_one_top_level_folder(package_files):
    path = package_files["ar_en"]
    assert path.stat().st_size < 10_000
    with zipfile.ZipFile(path) as archive:
        assert {name.split("/")[0] for name in archive.namelist()} == {"translate-ar_en-1_0"}
        metadata = json.loads(archive.read("translate-ar_en-1_0/metadata.json"))
    assert (metadata["from_code"], metadata["to_code"]) == ("ar", "en")
    assert inspect(path).source == "ar"


def test_install_lists_packages_and_a_reinstall_replaces_the_pair(packages_dir, package_files):
    assert {(p.source, p.target) for p in installed(packages_dir)} == {("ar", "en"), ("en", "ar"), ("en", "uk")}
    install(package_files["ar_en"], packages_dir)
    assert len(installed(packages_dir)) == 3


def test_bad_package_files_are_refused_with_a_clear_reason(tmp_path, package_files):
    not_zip = tmp_path / "x.argosmodel"
    not_zip.write_text("hello")
    two_folders = tmp_path / "two.argosmodel"
    with zipfile.ZipFile(two_folders, "w") as archive:
        archive.writestr("a/metadata.json", "{}")
        archive.writestr("b/model/model.bin", "")
    no_metadata = tmp_path / "nometa.argosmodel"
    with zipfile.ZipFile(package_files["ar_en"]) as source, zipfile.ZipFile(no_metadata, "w") as archive:
        for name in source.namelist():
            if not name.endswith("metadata.json"):
                archive.writestr(name, source.read(name))
    for path, reason in ((not_zip, "zip"), (two_folders, "one top-level folder"), (no_metadata, "metadata.json missing"),
                         (tmp_path / "missing.argosmodel", "zip")):
        with pytest.raises(PackageError, match=reason):
            install(path, tmp_path / "target")
    assert installed(tmp_path / "target") == []


def test_translation_runs_through_argos_and_pivots_through_english(translator):
    assert translator.translate("أين يمكنني تعلم اللغة الدنماركية؟", "ar", "en") == AR_EN
    assert translator.translate("Where are Danish lessons?", "en", "ar") == EN_AR
    assert translator.direct("ar", "en") and not translator.direct("ar", "uk")
    assert translator.can_translate("ar", "uk")  # argos composes ar → en → uk
    assert translator.translate("مرحبا", "ar", "uk") == EN_UK
    assert not translator.can_translate("so", "en")
    with pytest.raises(NoTranslation):
        translator.translate("salaan", "so", "en")
    assert translator.translate("same", "en", "en") == "same"


def test_the_same_text_and_pair_is_translated_once(translator, monkeypatch):
    calls = []
    real = translator.engine.translate
    monkeypatch.setattr(translator.engine, "translate", lambda *args: calls.append(args) or real(*args))
    for _ in range(3):
        assert translator.translate("Where are Danish lessons?", "en", "ar", owner="c1") == EN_AR
    translator.translate("Where are Danish lessons?", "en", "uk", owner="c2")
    assert len(calls) == 2 and translator.cache.hits == 2
    translator.forget("c1")  # erasing a conversation drops what it put in the cache
    translator.translate("Where are Danish lessons?", "en", "ar")
    assert len(calls) == 3


def test_glossary_names_are_kept_and_explained(translator):
    reply = translator.translate("Book a time at Borgerservice with MitID.", "en", "ar")
    lines = reply.splitlines()
    assert lines[0] == EN_AR
    assert lines[1].startswith("Borgerservice: ") and "MitID" in lines[1]
    assert lines[2].startswith("MitID: الهوية الرقمية")
    assert translator.translate("أين Jobcenter؟", "ar", "en") == f"{AR_EN} Jobcenter"
    assert GLOSSARY.keep_names("where is the jobcenter", "أين Jobcenter") == "where is the jobcenter"


def test_many_threads_translate_at_once(translator):
    texts = [f"Question number {i}. Another sentence {i}!" for i in range(60)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda text: translator.translate(text, "en", "ar"), texts))
    assert results == [f"{EN_AR} {EN_AR}"] * 60  # two sentences each, split by our splitter
    assert translator.cache.misses == 60


def test_models_are_warm_and_use_one_thread(translator):
    from argostranslate import settings

    assert settings.intra_threads == 1 and settings.inter_threads == 1
    assert all(t.translator is not None for t in translator.engine.packaged)  # loaded at start, not on first use
    assert all(isinstance(t.sentencizer, SentenceSplitter) for t in translator.engine.packaged)


def test_nothing_touches_the_network(packages_dir, no_network):
    engine = ArgosEngine(packages_dir)  # load and warm with the network refused
    translator = Translator(engine, GLOSSARY, ["en", "da"])
    assert translator.translate("أين؟ متى! كيف.\nشكرا", "ar", "en") == f"{AR_EN} {AR_EN} {AR_EN}\n{AR_EN}"
    assert translator.translate("Hello. Bye.", "en", "uk") == f"{EN_UK} {EN_UK}"
    assert no_network == []


def test_argos_own_sentence_splitter_would_have_downloaded(packages_dir, no_network):
    """Why the splitter is replaced: argos 1.11's default fetches a MiniSBD model at first use."""
    from argostranslate.package import Package
    from argostranslate.sbd import MiniSBDSentencizer

    from minisbd import models

    if Path(models.cache_dir, "ar.onnx").exists():
        pytest.skip("a MiniSBD model is cached on this machine")
    with pytest.raises(Exception):
        MiniSBDSentencizer(Package(packages_dir / "translate-ar_en-1_0")).split_sentences("One. Two.")
    assert no_network and "github.com" in no_network[0]


def test_no_packages_means_no_machine_translation_and_no_argos_import(tmp_path):
    translator = Translator.load(tmp_path / "empty", GLOSSARY, ["en", "da"])
    assert translator.engine is None and not translator.can_translate("ar", "en")
    assert translator.translate("hej", "da", "da") == "hej"


def test_packages_command_installs_and_lists(tmp_path, package_files, monkeypatch, capsys):
    from bot import cli

    monkeypatch.setenv("ARGOS_PACKAGES_DIR", str(tmp_path / "cli-packages"))
    monkeypatch.setattr(sys, "argv", ["velkommen", "packages", "install", str(package_files["en_ar"])])
    assert cli.main() == 0
    monkeypatch.setattr(sys, "argv", ["velkommen", "packages", "list"])
    assert cli.main() == 0
    out = capsys.readouterr().out
    assert "installed: en → ar" in out and "en → ar  (version 1.0" in out
    assert "so: none" in out  # languages without packages are named: they get curated replies only
    monkeypatch.setattr(sys, "argv", ["velkommen", "packages", "install", str(tmp_path / "nope.argosmodel")])
    assert cli.main() == 1


def test_a_failing_model_is_a_missing_translation_not_a_crash(translator, monkeypatch):
    monkeypatch.setattr(translator.engine, "translate", lambda *args: (_ for _ in ()).throw(RuntimeError("model broke")))
    with pytest.raises(NoTranslation):
        translator.translate("Where are Danish lessons?", "en", "ar")


def test_the_assistant_works_in_danish_where_a_danish_package_serves_the_language(tmp_path, package_files):
    from bot.app import build_pipeline
    from bot.pipeline import Turn
    from tests.gateway.conftest import gateway_settings

    packages = tmp_path / "packages"
    install(package_files["ar_en"], packages)
    install(build_package(tmp_path / "files", "da", "uk", EN_UK), packages)
    settings = replace(gateway_settings(tmp_path, "http://127.0.0.1:9", "unused"), argos_packages_dir=packages)
    pipeline = build_pipeline(settings)
    for language, expected in (("uk", "da"), ("ar", "en"), ("so", "en"), ("da", "da")):
        conversation = pipeline.start_conversation("web", "faxe", language)
        turn = Turn(conversation.id, "hej", text="hej", language="da", reply_language=language)
        asyncio.run(pipeline.translate_in(turn, conversation))
        assert turn.assistant_language == expected, language
