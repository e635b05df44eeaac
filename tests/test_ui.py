"""The browser chat, tested against the real app in Debian's chromium driven by Playwright.

Screenshots go to test-artifacts/ at the repository root.
"""

import dataclasses
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from rag.config import PROJECT_ROOT, Settings, load_settings
from rag.language import detect_language
from rag.ui import (
    LABELS,
    READING_PREFIXES,
    browser_language,
    link_markers,
    parse_auth,
    reading_notice,
    sources_html,
)
from tests.conftest import rag_env, smollm_env
from tests.test_end_to_end import check_citations

ARTIFACTS = PROJECT_ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, settings: Settings, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(settings.store_dir.parent / f"app-{self.port}.log", "w+")  # noqa: SIM115
        full_env = rag_env(settings, RAG_PORT=str(self.port), **env)
        full_env["RAG_MODELS_DIR"] = str(load_settings(env={}).models_dir)
        self.proc = subprocess.Popen(
            [sys.executable, str(PROJECT_ROOT / "app.py")],
            env=full_env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=settings.store_dir.parent,
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url, timeout=2)
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"the app did not start:\n{self.output()}")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="module")
def store(full_store) -> Settings:
    return full_store


@pytest.fixture(scope="module")
def server(store):
    """The real app on the default model."""
    running = Server(store)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def smollm_server(store):
    """The real app on SmolLM2, for what does not depend on the answers' quality."""
    running = Server(store, **smollm_env())
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def last_bot_message(page) -> str:
    messages = page.locator("#chat .bot")
    return messages.last.inner_text() if messages.count() else ""


def ask(page, question: str, timeout: float = 180) -> tuple[str, list[str]]:
    """Type and send a question; return the final answer and the partial texts seen while it streamed."""
    before = page.locator("#chat .bot").count()
    page.fill("#question textarea", question)
    page.click("#send")
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    stable = 0
    while time.monotonic() < deadline:
        time.sleep(0.25)
        if page.locator("#chat .bot").count() <= before:
            continue
        text = last_bot_message(page)
        if text and (not seen or seen[-1] != text):
            seen.append(text)
            stable = 0
        elif text:
            stable += 1
        generating = page.locator("#chat .generating, #chat .pending").count() > 0
        if text and stable >= 8 and not generating and not text.startswith(READING_PREFIXES):
            return text, seen
    raise AssertionError(f"no complete answer to {question!r}; seen {seen[-3:]}")


pytestmark = pytest.mark.slow


def test_chat_in_french_and_english_with_sources_follow_up_and_language_switch(server, browser):
    context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.goto(server.url)
    page.wait_for_selector("#question textarea")
    assert page.locator("#send").inner_text().strip() == "Envoyer"
    shot(page, "ui-1-start-fr")

    answer, seen = ask(
        page, "Combien d'États membres de l'UE ont travaillé sur le rapport sur les communs numériques ?"
    )
    assert "19" in answer
    assert seen[0].startswith(READING_PREFIXES), "the passages being read are named while the reader waits"
    pieces = [text for text in seen if not text.startswith(READING_PREFIXES)]
    assert len(pieces) > 1 and len(pieces[0]) < len(pieces[-1]), "the answer should arrive in pieces"
    assert page.locator("#chat a.cite").count() >= 1
    assert "19" in page.locator("#sources").inner_text(), "the cited passage with the fact is shown"
    shot(page, "ui-2-french-answer")

    # A follow-up in the other language: rewritten from the French conversation, answered in English.
    answer, _ = ask(page, "And who initiated this report?")
    assert re.search(r"France|French", answer), answer
    assert detect_language(answer) == "en", answer
    assert re.search(r"France|French", page.locator("#sources").inner_text()), "the cited passage says so"
    cited = {link.get_attribute("href") for link in page.locator("#chat .bot").last.locator("a.cite").all()}
    shown = {f"#{source.get_attribute('id')}" for source in page.locator("#sources .source").all()}
    assert cited and cited <= shown, "each citation marker points at a source shown"
    shot(page, "ui-3-english-follow-up")

    page.get_by_text("English", exact=True).click()
    page.wait_for_function("document.querySelector('#send').innerText.trim() === 'Send'")
    assert page.locator("#new").inner_text().strip() == "New conversation"
    page.click("#new")
    page.wait_for_function("document.querySelectorAll('#chat .bot').length === 0")
    shot(page, "ui-4-english-labels")
    context.close()


def test_english_browsers_get_english_labels(server, browser):
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    page.goto(server.url)
    page.wait_for_function(
        "document.querySelector('#send') && document.querySelector('#send').innerText.trim() === 'Send'"
    )
    context.close()


def test_html_in_questions_is_shown_as_text(smollm_server, browser):
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.goto(smollm_server.url)
    page.wait_for_selector("#question textarea")
    ask(page, 'What is <script>window.pwned = 1</script><img src=x onerror="window.pwned = 2"> in the articles?')
    assert page.evaluate("window.pwned") is None
    assert "<script>" in page.locator("#chat .user").last.inner_text()
    context.close()


def test_two_sessions_keep_their_own_conversations(smollm_server, browser):
    pages = []
    for locale in ("fr-FR", "en-US"):
        page = browser.new_context(locale=locale).new_page()
        page.goto(smollm_server.url)
        page.wait_for_selector("#question textarea")
        pages.append(page)
    pages[0].fill("#question textarea", "Qui est Lobna Karoui ?")
    pages[1].fill("#question textarea", "Who founded OpenAI?")
    pages[0].click("#send")
    pages[1].click("#send")
    for page, expected in ((pages[0], "Lobna"), (pages[1], "OpenAI")):
        page.wait_for_function("document.querySelectorAll('#chat .bot').length === 1", timeout=300_000)
        page.wait_for_function(
            "!document.querySelector('#chat .generating, #chat .pending') && "
            "document.querySelector('#chat .bot').innerText.length > 20",
            timeout=300_000,
        )
        users = page.locator("#chat .user").all_inner_texts()
        assert len(users) == 1 and expected in users[0]
    shot(pages[0], "ui-6-session-a")
    shot(pages[1], "ui-7-session-b")


def test_the_chat_endpoint_for_scripts(smollm_server):
    """What a script gets back: the answer with its citations and passages, as `rag ask --json`.
    SmolLM2 writes it; the default model's citations are checked in the browser, above."""
    from gradio_client import Client

    client = Client(smollm_server.url, verbose=False)
    result = client.predict("How many EU member states worked on the digital commons report?", [], api_name="/chat")
    assert result["done"] and result["lang"] == "en" and result["answer"], result
    assert set(result) >= {"abstained", "citations", "retrieved", "standalone_question", "timings"}
    assert result["retrieved"] and all({"rank", "chunk_id", "doc", "text"} <= set(r) for r in result["retrieved"])
    check_citations(result)


@pytest.mark.parametrize(
    "path",
    [
        "/gradio_api/file=/etc/passwd",
        "/file=/etc/passwd",
        "/gradio_api/file=../../../../etc/passwd",
        f"/gradio_api/file={PROJECT_ROOT / 'pyproject.toml'}",
    ],
)
def test_file_routes_refuse_paths_outside_the_app(server, path):
    try:
        with urllib.request.urlopen(server.url + path, timeout=10) as response:
            body = response.read().decode("utf-8", "replace")
            status = response.status
    except urllib.error.HTTPError as exc:
        body, status = "", exc.code
    assert status >= 400 or ("root:" not in body and "[project]" not in body)


def test_login(store):
    auth_server = Server(store, RAG_AUTH="reader:s3cret", **smollm_env())
    try:
        from gradio_client import Client

        with pytest.raises(Exception):  # noqa: B017 - gradio_client raises a plain ValueError or an HTTP error
            Client(auth_server.url, auth=("reader", "wrong"), verbose=False)
        client = Client(auth_server.url, auth=("reader", "s3cret"), verbose=False)
        result = client.predict("What legal form does La MedNum have?", [], api_name="/chat")
        assert result["done"]
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(auth_server.url + "/gradio_api/info", timeout=10)
    finally:
        auth_server.stop()


def test_passage_text_and_titles_are_escaped():
    from rag.answer import Answer, Citation

    citation = Citation(
        1,
        "en/x#1",
        "x",
        "en",
        "<b>Title</b>",
        'javascript:alert(1)" onclick="x',
        "<script>alert(1)</script> & <img src=x onerror=alert(2)>",
    )
    answer = Answer("q", "text [1]", "en", False, False, (citation,), (), "q", 1.0, 0)
    rendered = sources_html(answer, "en")
    assert "<script>" not in rendered and "&lt;script&gt;" in rendered
    assert "<img" not in rendered and "&lt;b&gt;Title&lt;/b&gt;" in rendered
    assert "javascript:" not in rendered and "onclick" not in rendered
    safe = dataclasses.replace(citation, url="https://example.org/a?b=1&c=2")
    assert 'href="https://example.org/a?b=1&amp;c=2"' in sources_html(
        dataclasses.replace(answer, citations=(safe,)), "en"
    )


def test_the_sources_pane_says_the_articles_lack_the_answer_only_when_they_were_searched():
    from rag.answer import Answer
    from rag.retrieval import Passage

    searched = Passage("en/x#1", "en/x", "x", "en", "Title", "", "", 0, 0, 10, "Some text.", 0.9)
    abstained = Answer("q", "The sources do not contain…", "en", True, False, (), (searched,), "q", 0.2, 0)
    assert LABELS["en"]["abstained"] in sources_html(abstained, "en")
    welcome = dataclasses.replace(abstained, text="Hello!", retrieved=())
    assert LABELS["en"]["no_sources"] in sources_html(welcome, "en")


def test_the_reading_notice_names_each_article_once_escaped():
    from rag.retrieval import Passage

    def read(n: int, title: str) -> Passage:
        return Passage(f"en/x#{n}", "en/x", "x", "en", title, "", "", n, 0, 10, "Text.", 0.9)

    notice = reading_notice([read(1, "<b>A</b>"), read(2, "<b>A</b>"), read(3, "B")], LABELS["en"])
    assert notice == "_Reading 3 passages: &lt;b&gt;A&lt;/b&gt; · B…_"


def test_markers_become_links_and_text_is_escaped():
    assert link_markers("Free [1] <b>x</b> [2, 3]") == (
        'Free [<a href="#source-1" class="cite">1</a>] &lt;b&gt;x&lt;/b&gt; '
        '[<a href="#source-2" class="cite">2</a>, <a href="#source-3" class="cite">3</a>]'
    )


def test_browser_language_and_auth_parsing(tmp_path):
    assert browser_language("en-GB,en;q=0.9,fr;q=0.8") == "en"
    assert browser_language("de-DE,fr;q=0.5") == "fr"
    assert browser_language("") == "fr"
    assert parse_auth("a:b") == [("a", "b")]
    users = tmp_path / "users"
    users.write_text("# readers\nann:one\nbob:two:with-colon\n")
    assert parse_auth(str(users)) == [("ann", "one"), ("bob", "two:with-colon")]
    with pytest.raises(ValueError):
        parse_auth("nocolon")
