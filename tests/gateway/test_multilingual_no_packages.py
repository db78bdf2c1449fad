"""With no translation packages installed and the assistant (Rasa) down: every language we list
gets a curated reply in its own language, a crisis in any of them gets 112 first, and the
person can choose the language on any channel. Also checks the curated files themselves."""
from __future__ import annotations

import string
from dataclasses import replace

import pytest
import yaml
from fastapi.testclient import TestClient

from actions.knowledge import Knowledge
from bot.app import create_app
from bot.settings import ROOT
from bot.stack import free_port
from tests.gateway.conftest import gateway_settings, say, start

KB = Knowledge.load()
SPEC = yaml.safe_load((ROOT / "data/language/languages.yml").read_text(encoding="utf-8"))
LANGUAGES = list(SPEC["languages"])
OTHERS = [code for code in LANGUAGES if code not in SPEC["assistant"]]
TOPICS = yaml.safe_load((ROOT / "data/knowledge/topics.yml").read_text(encoding="utf-8"))["knowledge_topics"]
NUMBERS = {"danger": ["112"], "violence": ["112", "1888"], "suicide": ["112", "70 201 201"], "general": ["112", "1888", "70 201 201"]}

QUESTIONS = {
    "da": "hvor kan jeg lære dansk?", "en": "where can I learn Danish?", "ar": "أين يمكنني تعلم اللغة الدنماركية؟",
    "uk": "Де я можу вивчити данську мову?", "ru": "Где я могу выучить датский язык?", "pl": "Gdzie mogę nauczyć się duńskiego?",
    "ro": "Unde pot învăța limba daneză?", "tr": "Danca nerede öğrenebilirim?", "so": "Xagee ka baran karaa luqadda Deenishka?",
    "ti": "ቋንቋ ዴንማርክ ኣበይ ክመሃር ይኽእል?", "ku": "Ez li ku derê dikarim zimanê danîmarkî hîn bibim?",
    "ps": "زه چیرته ډنمارکي ژبه زده کولی شم؟", "ur": "میں ڈینش زبان کہاں سیکھ سکتا ہوں؟",
    "fa": "کجا میتونم زبان دانمارکی یاد بگیرم؟", "prs": "زبان دنمارکی را در کجا یاد گرفته میتوانم؟",
}
CRISES = {
    "da": {"danger": "min mand trækker ikke vejret", "violence": "min mand slår mig", "suicide": "jeg vil dø"},
    "en": {"danger": "my husband is not breathing", "violence": "my husband hits me", "suicide": "I want to die"},
    "ar": {"danger": "ساعدوني زوجي لا يتنفس", "violence": "زوجي يضربني كل يوم وأنا خائفة", "suicide": "أريد أن أموت، لم أعد أحتمل"},
    "uk": {"danger": "допоможіть, моя дитина не дихає", "violence": "чоловік постійно б'є мене і дітей", "suicide": "я більше не хочу жити"},
    "ru": {"danger": "помогите, мама без сознания", "violence": "муж бьет меня каждый вечер", "suicide": "я хочу умереть"},
    "pl": {"danger": "pomocy, mój syn nie oddycha", "violence": "mąż znowu mnie bije", "suicide": "nie chcę już żyć"},
    "ro": {"danger": "ajutor, copilul nu respiră", "violence": "soțul meu mă bate în fiecare zi", "suicide": "vreau să mor"},
    "tr": {"danger": "yardım edin, babam nefes alamıyor", "violence": "kocam beni her gün dövüyor", "suicide": "artık ölmek istiyorum"},
    "so": {"danger": "i caawiya, wiilkaygu ma neefsanayo", "violence": "ninkaygu wuu i garaacaa maalin walba",
           "suicide": "waxaan rabaa inaan is dilo"},
    "ti": {"danger": "ሓግዙኒ፡ ወደይ ኣይተንፍስን ዘሎ", "violence": "ሰብኣየይ ኩሉ ግዜ ይወቕዓኒ", "suicide": "ክመውት እደሊ"},
    "ku": {"danger": "alîkarî, bavê min nefes nagire", "violence": "mêrê min her roj li min dixe", "suicide": "ez dixwazim bimirim"},
    "ps": {"danger": "مرسته وکړئ، زما زوی ساه نه شي اخیستلی", "violence": "زما مېړه هره ورځ ما وهي", "suicide": "غواړم چې مړ شم"},
    "ur": {"danger": "مدد کریں، میرا بیٹا سانس نہیں لے رہا", "violence": "میرا شوہر مجھے مارتا ہے", "suicide": "میں مرنا چاہتا ہوں"},
    "fa": {"danger": "کمک کنید، پسرم نفس نمی‌کشه", "violence": "شوهرم منو کتک می‌زنه", "suicide": "می‌خوام بمیرم"},
    "prs": {"danger": "کمک کنید، طفل من نفس نمی‌کشد", "violence": "شوهرم مرا لت و کوب می‌کند", "suicide": "مه می‌خواهم خود را بکشم"},
}


@pytest.fixture
def client(tmp_path) -> TestClient:
    """A gateway with an empty packages directory whose Rasa is down (nothing listens on its port)."""
    home = tmp_path
    settings = replace(gateway_settings(home, f"http://127.0.0.1:{free_port()}", "unused-token"),
                       argos_packages_dir=home / "argos-packages")
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_has_every_message_and_menu_label_curated(language):
    spec = yaml.safe_load((ROOT / f"data/messages/{language}.yml").read_text(encoding="utf-8"))
    assert spec["review"] in ("draft", "approved")
    english = KB.messages["en"]
    assert set(spec["messages"]) == set(english)
    for key, text in spec["messages"].items():
        assert placeholders(text) == placeholders(english[key]), key
    for kind, numbers in NUMBERS.items():
        text = spec["messages"][f"crisis_{kind}"]
        assert 0 <= text.find("112") < 60 and all(number in text for number in numbers), kind
    labels = spec.get("topics") or {topic: entry[language] for topic, entry in TOPICS.items()}
    assert set(labels) == set(TOPICS) and all(labels.values())


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_gets_a_curated_reply_in_that_language(client, language):
    conversation = start(client, "faxe")
    turn = say(client, conversation, QUESTIONS[language])
    assert turn["language"] == language
    [reply] = turn["replies"]
    assert reply["language"] == language
    if language in SPEC["assistant"]:  # understood directly; the assistant is down
        assert (reply["text"], reply["translated"]) == (KB.message("assistant_unavailable", language), "none")
    else:  # never silently in another language: the curated "I can only answer in …" and a caseworker
        assert (reply["text"], reply["translated"]) == (KB.message("language_not_supported", language), "curated")
        assert reply["buttons"] == [{"title": KB.message("talk_to_person", language), "choice": "handoff:request"}]


@pytest.mark.parametrize("language, kind", [(code, kind) for code in LANGUAGES for kind in ("danger", "violence", "suicide")])
def test_crisis_in_every_language_gets_112_first(client, language, kind):
    conversation = start(client, "faxe")
    turn = say(client, conversation, CRISES[language][kind])
    first = turn["replies"][0]
    assert turn["crisis"] is True and turn["topic"] == "crisis"
    assert (first["text"], first["language"]) == (KB.message(f"crisis_{kind}", language), language)
    assert first["text"].index("112") < 60 and all(number in first["text"] for number in NUMBERS[kind])


def test_a_language_chosen_at_the_start_is_used_from_the_first_message(client):
    response = client.post("/api/conversations", json={"municipality": "faxe", "language": "so"})
    assert [m["text"] for m in response.json()["messages"]] == [
        KB.message("disclosure", "so"), KB.message("privacy_line", "so", privacy_url="http://127.0.0.1:8000/privacy")]
    assert all(m["translated"] == "curated" for m in response.json()["messages"])
    assert client.post("/api/conversations", json={"language": "xx"}).status_code == 422


def test_a_language_button_or_its_name_chooses_and_the_choice_wins_over_detection(client):
    conversation = start(client, "faxe")
    chosen = say(client, conversation, "", choice="language:ti")
    assert [r["text"] for r in chosen["replies"]] == [KB.message("language_set", "ti", language_name="ትግርኛ")]
    english = say(client, conversation, "where can I learn danish?")
    assert english["language"] == "en"  # what the message is written in …
    assert english["replies"][0]["text"] == KB.message("assistant_unavailable", "ti")  # … is not what we answer in
    typed = say(client, conversation, "Türkçe")
    assert typed["replies"][0]["text"] == KB.message("language_set", "tr", language_name="Türkçe")
    assert say(client, conversation, "hvor kan jeg lære dansk?")["replies"][0]["language"] == "tr"


def test_a_first_message_in_no_recognisable_language_asks_once(client):
    conversation = start(client, "faxe")
    first = say(client, conversation, "qwpo zxmn lkjh")
    [ask] = [r for r in first["replies"] if r["text"] == KB.message("choose_language", "en")]
    assert [b["choice"] for b in ask["buttons"]] == [f"language:{code}" for code in LANGUAGES]
    assert ask["buttons"][2]["title"] == "العربية"
    second = say(client, conversation, "brrm tkkk ppfz")
    assert KB.message("choose_language", "en") not in [r["text"] for r in second["replies"]]
