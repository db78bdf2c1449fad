"""The translated path end to end, with the real Rasa and tiny argos packages the test builds:
an Arabic question goes ar → en → NLU → English answer → ar, labelled as machine-translated,
kept with its pivot and original texts, and answered from the cache when asked again. Curated
text beats machine translation; without a package nothing is answered silently in English."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from actions.knowledge import Knowledge
from bot.app import create_app
from bot.language.glossary import Glossary
from bot.language.packages import install
from bot.language.translate import SentenceSplitter
from bot.settings import ROOT
from bot.store.models import Message
from tests.gateway.conftest import gateway_settings, say, start
from tests.gateway.tiny_argos import build_package

KB = Knowledge.load()
GLOSSARY = Glossary.from_file(ROOT / "data/language/glossary.yml")
QUESTION = "أين يمكنني تعلم اللغة الدنماركية؟"
PIVOT = "where can I learn danish"  # what the tiny ar → en package makes of any Arabic text
ARABIC = "يمكنك تعلم الدنماركية في مدرسة اللغة"  # what the tiny en → ar package makes of any English text


@pytest.fixture(scope="module")
def argos_packages(tmp_path_factory) -> Path:
    files, target = tmp_path_factory.mktemp("argos-files"), tmp_path_factory.mktemp("argos-packages")
    install(build_package(files, "ar", "en", PIVOT), target)
    install(build_package(files, "en", "ar", ARABIC), target)
    return target


def gateway(stack, home: Path, packages: Path) -> TestClient:
    settings = replace(gateway_settings(home, stack.rasa_url, stack.token), argos_packages_dir=packages)
    return TestClient(create_app(settings))


@pytest.fixture
def client(stack, tmp_path, argos_packages) -> TestClient:
    with gateway(stack, tmp_path, argos_packages) as test_client:
        yield test_client


@pytest.fixture
def client_without_packages(stack, tmp_path) -> TestClient:
    with gateway(stack, tmp_path, tmp_path / "no-packages") as test_client:
        yield test_client


def stored(client: TestClient, conversation: str) -> list[Message]:
    with client.app.state.pipeline.sessions() as session:
        return list(session.scalars(select(Message).where(Message.conversation_id == conversation).order_by(Message.seq)))


def machine(english: str) -> str:
    """What the tiny package and the glossary make of an English reply, labelled: one fixed sentence
    per sentence, the Danish names it mentions explained, and the machine-translation label."""
    translation = " ".join([ARABIC] * len(SentenceSplitter().split_sentences(english)))
    return f"{GLOSSARY.explain(translation, english, 'ar')}\n{KB.message('machine_translated', 'ar')}"


def test_an_arabic_question_is_translated_in_answered_and_translated_out(client):
    conversation = start(client, "faxe")
    turn = say(client, conversation, QUESTION)
    assert turn["language"] == "ar" and turn["topic"] == "danish_language"
    [answer] = turn["replies"]
    english = KB.policy_answers["faxe"]["danish_language"]["en"]
    assert (answer["language"], answer["translated"]) == ("ar", "machine")
    assert answer["text"] == machine(english.get("web", english["sms"]))  # labelled for the person
    assert answer["sources"][0]["label"].startswith(KB.message("source_prefix", "ar") + ": Faxe")
    user, reply = stored(client, conversation)[-2:]
    assert (user.original_text, user.details["pivot_text"], user.language) == (QUESTION, PIVOT, "ar")
    assert (reply.original_text, reply.translated, reply.text) == (english["sms"], "machine", machine(english["sms"]))


def test_the_same_question_again_is_answered_from_the_translation_cache(client, monkeypatch):
    translator = client.app.state.pipeline.translator
    inferences = []
    real = translator.engine.translate
    monkeypatch.setattr(translator.engine, "translate", lambda *args: inferences.append(args) or real(*args))
    conversation = start(client, "faxe")
    first = say(client, conversation, QUESTION)
    used, hits = len(inferences), translator.cache.hits
    assert used >= 2  # in, out (and the web rendering)
    again = say(client, conversation, QUESTION)
    assert again["replies"][0]["text"] == first["replies"][0]["text"]
    assert len(inferences) == used and translator.cache.hits >= hits + 2


def test_curated_text_beats_machine_translation(client):
    conversation = start(client)
    asked = say(client, conversation, QUESTION)  # no municipality yet: the assistant asks which
    [question] = asked["replies"]
    assert (question["text"], question["translated"]) == (KB.message("ask_municipality", "ar"), "curated")
    assert [b["title"] for b in question["buttons"]] == [p["name"] for p in KB.municipalities.values()]
    answered = say(client, conversation, "", choice="municipality:faxe")
    assert answered["replies"][0]["translated"] == "machine"


def test_menus_and_the_assistants_own_messages_come_curated_in_the_chosen_language(client):
    conversation = start(client, "faxe")
    say(client, conversation, "", choice="language:ar")
    greeting = say(client, conversation, "hello")
    [reply] = greeting["replies"]
    assert (reply["text"], reply["translated"], reply["language"]) == (KB.message("greet", "ar"), "curated", "ar")
    titles = {b["choice"]: b["title"] for b in reply["buttons"]}
    assert titles["topic:danish_language"] == "تعلّم اللغة الدنماركية"
    assert titles["handoff:request"] == KB.message("talk_to_person", "ar")


def test_without_a_package_nothing_is_answered_silently_in_another_language(client_without_packages):
    client = client_without_packages
    conversation = start(client, "faxe")
    say(client, conversation, "", choice="language:ar")
    typed = say(client, conversation, QUESTION)
    assert [r["text"] for r in typed["replies"]] == [KB.message("language_not_supported", "ar")]
    button = say(client, conversation, "", choice="topic:school")  # a button needs no translation in …
    notice, answer = button["replies"]  # … but the answer it gets is English: said so first, in Arabic
    assert (notice["text"], notice["language"]) == (KB.message("language_not_supported", "ar"), "ar")
    assert (answer["language"], answer["translated"], answer["topic"]) == ("en", "none", "school")
