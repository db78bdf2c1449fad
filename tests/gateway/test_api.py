"""The web chat's JSON API through the real pipeline and the real Rasa server."""
from __future__ import annotations

from actions.knowledge import Knowledge
from tests.gateway.conftest import say, start

KB = Knowledge.load()


def test_new_conversation_discloses_the_assistant_and_links_the_privacy_notice(client):
    response = client.post("/api/conversations", json={"municipality": "faxe"})
    first = response.json()["messages"]
    assert [m["text"] for m in first] == [
        KB.message("disclosure", "en"),
        KB.message("privacy_line", "en", privacy_url="http://127.0.0.1:8000/privacy"),
    ]
    assert len(response.json()["id"]) == 32
    assert client.get("/privacy").status_code == 200


def test_question_is_answered_from_the_municipality_policy_with_its_source(client):
    conversation = start(client, "slagelse")
    turn = say(client, conversation, "where can I learn Danish?")
    [answer] = turn["replies"]
    entry = KB.policy_answers["slagelse"]["danish_language"]
    assert turn["topic"] == "danish_language" and turn["language"] == "en"
    assert answer["text"] == entry["en"].get("web", entry["en"]["sms"])
    assert answer["sources"][0]["municipality"] == "slagelse"
    assert answer["sources"][0]["label"].startswith("From: Slagelse Kommune")


def test_danish_question_gets_a_danish_answer(client):
    conversation = start(client, "nyborg")
    turn = say(client, conversation, "hvordan finder jeg en læge til min familie?")
    assert turn["language"] == "da" and turn["topic"] == "health"
    assert turn["replies"][0]["language"] == "da"
    assert turn["replies"][0]["sources"][0]["label"].startswith("Kilde: ")


def test_municipality_is_asked_once_then_remembered_and_changeable(client):
    conversation = start(client)
    asked = say(client, conversation, "how do I find an apartment?")
    assert asked["replies"][0]["text"] == KB.message("ask_municipality", "en")
    assert len(asked["replies"][0]["buttons"]) == 5
    answered = say(client, conversation, "", choice="municipality:nyborg")
    assert answered["topic"] == "housing"
    assert answered["replies"][0]["sources"][0]["municipality"] == "nyborg"
    remembered = say(client, conversation, "where can I learn danish?")
    assert remembered["replies"][0]["sources"][0]["municipality"] in ("nyborg", "national")
    assert remembered["replies"][0]["text"] != KB.message("ask_municipality", "en")
    say(client, conversation, "I moved to Faxe")
    switched = say(client, conversation, "where can I learn danish?")
    assert switched["replies"][0]["sources"][0]["municipality"] == "faxe"


def test_topic_button_is_answered_without_nlu(client):
    conversation = start(client, "jammerbugt")
    turn = say(client, conversation, "School", choice="topic:school")
    assert turn["topic"] == "school"
    assert turn["replies"][0]["sources"]


def test_conversation_history_is_kept_in_order(client):
    conversation = start(client, "faxe")
    say(client, conversation, "hello")
    history = client.get(f"/api/conversations/{conversation}/messages").json()["messages"]
    assert [m["role"] for m in history] == ["assistant", "assistant", "user", "assistant"]
    assert history[2]["text"] == "hello"
    later = client.get(f"/api/conversations/{conversation}/messages", params={"after": history[2]["seq"]}).json()
    assert len(later["messages"]) == 1


def test_unknown_conversation_municipality_and_choice_are_clear_errors(client):
    assert client.post("/api/conversations/nope/messages", json={"text": "hi"}).status_code == 404
    assert client.post("/api/conversations", json={"municipality": "aarhus"}).status_code == 422
    conversation = start(client, "faxe")
    assert client.post(f"/api/conversations/{conversation}/messages", json={"choice": "intent:restart"}).status_code == 422
    assert client.post(f"/api/conversations/{conversation}/messages", content=b"{not json").status_code == 422


def test_a_message_number_beyond_what_the_store_holds_is_refused_not_a_server_error(client_without_rasa):
    conversation = start(client_without_rasa, "faxe")
    for path in ("messages", "events"):
        response = client_without_rasa.get(f"/api/conversations/{conversation}/{path}", params={"after": 2**64})
        assert response.status_code == 422, path


def test_second_misunderstanding_offers_a_caseworker_and_yes_hands_off(client):
    conversation = start(client, "faxe")
    first = say(client, conversation, "qwpo zxmn lkjh")
    assert first["replies"][-1]["text"] == KB.message("rephrase", "en")
    second = say(client, conversation, "brrm tkkk ppfz")
    assert second["replies"][0]["text"] == KB.message("offer_handoff", "en")
    accepted = say(client, conversation, "", choice="answer:yes")
    assert accepted["handoff"] is True and accepted["topic"] == "handoff"
