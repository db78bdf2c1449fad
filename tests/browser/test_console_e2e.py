"""The caseworker console end to end in real headless Chromium, against a real gateway and Rasa:
a web user asks for a person and consents, a caseworker signs in, sees the question in the
original and in Danish, replies in Danish, the user receives it, the caseworker returns the
conversation and the assistant answers again; new items appear live; a caseworker of another
municipality sees nothing of it; every page passes axe-core's WCAG 2.1 A/AA rules."""
from __future__ import annotations

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from actions.knowledge import Knowledge
from bot.console.auth import create_user
from bot.console.models import AuditEntry
from bot.handoff.desk import Handoff
from tests.browser.conftest import WAIT_MS

KB = Knowledge.load()
PASSWORD = "correct horse battery staple"
AXE_WCAG21_A_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
QUESTION = "I want to talk to a real person"
DANISH_REPLY = "Hej, jeg hedder Mette og er din sagsbehandler. Hvad drejer din sag sig om?"


def assert_accessible(page: Page, state: str) -> None:
    results = Axe().run(page, options=AXE_WCAG21_A_AA).response
    problems = [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}" for v in results["violations"]]
    assert not problems, f"axe-core, {state}:\n" + "\n".join(problems)
    assert results["passes"], "axe-core checked nothing"


def console_user(gateway, username: str, municipality: str, role: str = "caseworker") -> None:
    console = gateway.app.state.console
    create_user(console.sessions, console.policy, KB.municipalities, username=username, display_name=username.split(".")[0].title(),
                password=PASSWORD, role=role, municipality=municipality)


def sign_in(browser: Browser, gateway, username: str) -> Page:
    page = browser.new_context(locale="da-DK", viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{gateway.url}/console/")
    assert page.url == f"{gateway.url}/console/login"
    page.get_by_label("Brugernavn").fill(username)
    page.get_by_label("Adgangskode").fill(PASSWORD)
    page.get_by_role("button", name="Log ind").click()
    page.wait_for_url(f"{gateway.url}/console/")
    return page


def hand_over(gateway, municipality: str, text: str) -> str:
    """A web user writes `text` and, when asked, consents to share the conversation."""
    with gateway.api() as api:
        conversation = api.post("/api/conversations", json={"municipality": municipality}).json()["id"]
        turn = api.post(f"/api/conversations/{conversation}/messages", json={"text": text}).json()
        if not turn["crisis"]:
            assert [b["choice"] for b in turn["replies"][-1]["buttons"]] == ["consent:yes", "consent:no"]
            api.post(f"/api/conversations/{conversation}/messages", json={"text": "Yes, share it", "choice": "consent:yes"})
    return conversation


def stored(gateway, model, *where) -> list:
    with gateway.app.state.pipeline.sessions() as session:
        return list(session.scalars(select(model).where(*where)))


def test_web_user_to_caseworker_and_back_to_the_assistant(gateway, browser):
    console_user(gateway, "mette.slagelse", "slagelse")
    conversation = hand_over(gateway, "slagelse", QUESTION)
    [record] = stored(gateway, Handoff, Handoff.conversation_id == conversation)
    assert (record.municipality, record.language, record.channel, record.reason) == ("slagelse", "en", "web", "request")

    login = browser.new_context(locale="da-DK").new_page()
    login.goto(f"{gateway.url}/console/login")
    assert_accessible(login, "login page")
    login.context.close()

    page = sign_in(browser, gateway, "mette.slagelse")
    expect(page.get_by_role("heading", level=1)).to_have_text("Kø – Slagelse Kommune")
    rows = page.locator("table.queue tbody tr")
    expect(rows).to_have_count(1)
    assert_accessible(page, "queue")

    urgent = hand_over(gateway, "slagelse", "my husband hit me again tonight and im scared he comes back")
    expect(rows).to_have_count(2, timeout=WAIT_MS)  # live, without a reload
    expect(rows.first).to_contain_text("Akut")
    expect(rows.first.get_by_role("link")).to_have_text(f"Åbn samtale {urgent[:8]}")
    expect(page.locator("#announcer")).to_have_text("Køen er opdateret.")

    page.get_by_role("link", name=f"Åbn samtale {conversation[:8]}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Samtale {conversation[:8]}")
    question = page.locator("li.message.user").filter(has_text=QUESTION)
    expect(question.locator(".label").first).to_have_text("Original (engelsk)")
    expect(question.locator(".side .text")).to_have_text([QUESTION, QUESTION])  # original | Danish (as is, flagged)
    expect(question).to_contain_text("Ikke oversat – originalen vises")
    consent_question = KB.message("handoff_consent", "en", municipality="Slagelse Kommune")
    expect(page.locator("li.message.assistant").filter(has_text=consent_question)).to_have_count(1)
    expect(page.locator(".details")).to_contain_text("engelsk (en)")
    assert_accessible(page, "conversation")

    with gateway.api() as api:
        api.post(f"/api/conversations/{conversation}/messages", json={"text": "Hello, are you there?"})
    expect(page.locator("li.message.user").last).to_contain_text("Hello, are you there?", timeout=WAIT_MS)

    page.get_by_label("Dit svar på dansk").fill(DANISH_REPLY)
    page.get_by_role("button", name="Send svar").click()
    expect(page.locator("p.notice[role=status]")).to_have_text("Svaret er sendt.")
    with gateway.api() as api:
        received = api.get(f"/api/conversations/{conversation}/messages").json()["messages"][-1]
    if gateway.app.state.pipeline.translator.can_translate("da", "en"):
        assert received["text"] not in (DANISH_REPLY, "") and received["language"] == "en"
    else:
        assert received["text"] == f"{DANISH_REPLY}\n\n{KB.message('caseworker_untranslated', 'en')}"

    page.get_by_role("button", name="Send tilbage til assistenten").click()
    expect(page.locator("p.notice[role=status]")).to_have_text(
        "Samtalen er sendt tilbage til assistenten, og borgeren har fået besked.")
    with gateway.api() as api:
        answered = api.post(f"/api/conversations/{conversation}/messages", json={"text": "where can I learn danish?"}).json()
    assert answered["topic"] == "danish_language"
    assert answered["replies"][0]["sources"][0]["municipality"] == "slagelse"

    actions = [e.action for e in stored(gateway, AuditEntry, AuditEntry.conversation_id == conversation)]
    assert "view" in actions and [action for action in actions if action != "view"] == ["reply", "return"]
    assert "login" in [e.action for e in stored(gateway, AuditEntry, AuditEntry.actor == "mette.slagelse")]
    page.context.close()


def test_admin_pages_are_accessible_and_faxe_sees_nothing_of_slagelse(gateway, browser):
    slagelse = hand_over(gateway, "slagelse", QUESTION)
    console_user(gateway, "anne.faxe", "faxe", role="admin")
    page = sign_in(browser, gateway, "anne.faxe")
    expect(page.locator("main")).not_to_contain_text(slagelse[:8])
    assert page.goto(f"{gateway.url}/console/conversations/{slagelse}").status == 404

    page.goto(f"{gateway.url}/console/admin/users")
    assert_accessible(page, "users")
    page.get_by_label("Brugernavn").fill("jonas.faxe")
    page.get_by_label("Navn", exact=True).fill("Jonas")
    page.get_by_label("Adgangskode").fill(PASSWORD)
    page.get_by_role("button", name="Opret bruger").click()
    expect(page.locator("p.notice[role=status]")).to_have_text("Brugeren er oprettet.")
    expect(page.locator("table tbody")).to_contain_text("jonas.faxe")

    page.get_by_role("link", name="Revisionslog").click()
    expect(page.locator("table.audit tbody")).to_contain_text("Oprettede bruger")
    assert_accessible(page, "audit log")
    page.context.close()
