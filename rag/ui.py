"""The browser chat: Gradio Blocks, layout and events only; answering is `rag.answer`'s job."""

from __future__ import annotations

import html
import json
import logging
import re
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import gradio as gr

from rag.answer import Answer, Done, Pipeline, QuestionError, Reading, Restart, Token, get_pipeline
from rag.config import Settings
from rag.llm import LLMError
from rag.retrieval import Passage
from rag.store import StoreError

log = logging.getLogger("rag.ui")

LABELS: dict[str, dict[str, str]] = {
    "fr": {
        "title": "## Questions aux articles du Social Good Accelerator",
        "intro": "Posez une question en français ou en anglais sur l'économie sociale et l'inclusion numérique. "
        "Les réponses citent les passages des articles qu'elles utilisent ; tout reste sur cette machine.",
        "language": "Langue de l'interface",
        "chat": "Conversation",
        "placeholder": "Votre question…",
        "send": "Envoyer",
        "new": "Nouvelle conversation",
        "sources": "Sources",
        "no_sources": "Les passages cités par la réponse apparaîtront ici.",
        "abstained": "Les articles ne contiennent pas la réponse : aucune source n'est citée.",
        "uncited": "_Cette réponse ne cite aucun passage : à prendre avec prudence._",
        "retrying": "_La réponse ne citait aucun passage : nouvelle tentative…_",
        "reading": "_Lecture de {n} passages : {titles}…_",
        "examples": "Exemples",
        "link": "lire l'article",
        "no_link": "article sans adresse web",
        "too_long": "Votre question est trop longue ({n} caractères, limite {limit}). Raccourcissez-la.",
        "empty": "Écrivez une question avant d'envoyer.",
        "bad_question": "Cette question ne peut pas être traitée : {detail}",
        "unavailable": "Le service n'est pas disponible pour le moment (modèle ou index manquant). "
        "L'administrateur trouvera le détail dans le journal du serveur.",
        "error": "Une erreur est survenue. L'administrateur trouvera le détail dans le journal du serveur.",
    },
    "en": {
        "title": "## Ask the Social Good Accelerator articles",
        "intro": "Ask a question in English or French about the social economy and digital inclusion. "
        "Answers cite the article passages they use; everything stays on this machine.",
        "language": "Interface language",
        "chat": "Conversation",
        "placeholder": "Your question…",
        "send": "Send",
        "new": "New conversation",
        "sources": "Sources",
        "no_sources": "The passages the answer cites will appear here.",
        "abstained": "The articles do not contain the answer: no source is cited.",
        "uncited": "_This answer cites no passage: treat it with care._",
        "retrying": "_The answer cited no passage: trying again…_",
        "reading": "_Reading {n} passages: {titles}…_",
        "examples": "Examples",
        "link": "read the article",
        "no_link": "article without a web address",
        "too_long": "Your question is too long ({n} characters, limit {limit}). Please shorten it.",
        "empty": "Write a question before sending.",
        "bad_question": "This question cannot be handled: {detail}",
        "unavailable": "The service is not available right now (missing model or index). "
        "The administrator will find the details in the server log.",
        "error": "Something went wrong. The administrator will find the details in the server log.",
    },
}
LANGUAGE_CHOICES = [("Français", "fr"), ("English", "en")]
EXAMPLES = {
    "fr": [
        "Combien de personnes sont en fragilité numérique en France selon la MedNum ?",
        "Les Orange Digital Center sont-ils gratuits ?",
        "Qui a fondé OpenAI ?",
    ],
    "en": [
        "How many EU member states worked on the digital commons report?",
        "What legal form does La MedNum have?",
        "Which partners does Orange work with for its training courses?",
    ],
}
_MARKER = re.compile(r"\[(\d+(?:, \d+)*)\]")
CSS = """
.source { border-left: 3px solid var(--color-accent); padding: 0.3em 0.8em; margin-bottom: 0.8em; }
.source blockquote { white-space: pre-wrap; margin: 0.4em 0 0 0; font-size: 0.92em; }
.source .lang { font-size: 0.8em; border: 1px solid var(--border-color-primary); padding: 0 0.3em; }
"""


def browser_language(accept_language: str) -> str:
    """The first of fr/en in the browser's Accept-Language header; French otherwise."""
    for part in accept_language.split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LABELS:
            return code
    return "fr"


def link_markers(text: str) -> str:
    """Make each [n] a link to passage n in the sources panel."""

    def link(match: re.Match) -> str:
        numbers = match.group(1).split(", ")
        return "[" + ", ".join(f'<a href="#source-{n}" class="cite">{n}</a>' for n in numbers) + "]"

    return _MARKER.sub(link, html.escape(text, quote=False))


# How the reading notice starts in each language: what tells it from the answer's own text.
READING_PREFIXES = tuple(labels["reading"].strip("_").split("{n}")[0] for labels in LABELS.values())


def reading_notice(passages: Sequence[Passage], labels: dict[str, str]) -> str:
    """What the reader sees while the model reads the passages, before its first word."""
    titles = " · ".join(html.escape(title, quote=False) for title in dict.fromkeys(p.title for p in passages))
    return labels["reading"].format(n=len(passages), titles=titles)


def sources_html(answer: Answer | None, lang: str) -> str:
    labels = LABELS[lang]
    if answer is None or not answer.citations:
        searched = answer is not None and answer.abstained and answer.retrieved
        message = labels["abstained"] if searched else labels["no_sources"]
        return f'<div class="sources"><p>{html.escape(message)}</p></div>'
    items = []
    for citation in answer.citations:
        if citation.url.startswith(("https://", "http://")):
            link = (
                f'<a href="{html.escape(citation.url)}" target="_blank" rel="noopener noreferrer">'
                f"{html.escape(labels['link'])}</a>"
            )
        else:
            link = f"<span>{html.escape(labels['no_link'])} ({html.escape(citation.doc)})</span>"
        items.append(
            f'<div class="source" id="source-{citation.n}">'
            f"<div><b>[{citation.n}]</b> {html.escape(citation.title)} "
            f'<span class="lang">{html.escape(citation.lang.upper())}</span> · {link}</div>'
            f"<blockquote>{html.escape(citation.text)}</blockquote></div>"
        )
    return '<div class="sources">' + "".join(items) + "</div>"


def parse_auth(value: str | None) -> list[tuple[str, str]] | None:
    """RAG_AUTH: "user:password", or the path of a file with one such line per user."""
    if not value:
        return None
    path = Path(value).expanduser()
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else [value]
    pairs = [tuple(line.strip().split(":", 1)) for line in lines if line.strip() and not line.startswith("#")]
    if not pairs or any(len(pair) != 2 or not all(pair) for pair in pairs):
        raise ValueError("RAG_AUTH must be 'user:password' or a file of such lines")
    return pairs  # type: ignore[return-value]


class ChatSession:
    """What the events do, bound to one pipeline loader; kept apart from the layout to be testable."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def pipeline(self) -> Pipeline:
        return get_pipeline(self.settings)

    def respond(
        self, message: str, chat: list[dict], turns: list[dict], lang: str
    ) -> Iterator[tuple[list[dict], str, str, list[dict]]]:
        """Stream one answer into the chat; the sources panel follows the final answer."""
        labels = LABELS[lang]
        chat = [*chat, {"role": "user", "content": html.escape(message or "", quote=False)}]
        question = (message or "").strip()
        if not question:
            yield [*chat, {"role": "assistant", "content": labels["empty"]}], sources_html(None, lang), "", turns
            return
        if len(question) > self.settings.max_question_chars:
            notice = labels["too_long"].format(n=len(question), limit=self.settings.max_question_chars)
            yield [*chat, {"role": "assistant", "content": notice}], sources_html(None, lang), "", turns
            return
        reply = {"role": "assistant", "content": ""}
        chat.append(reply)
        yield chat, sources_html(None, lang), "", turns
        text, answer = "", None
        try:
            for event in self.pipeline().stream(question, turns):
                if isinstance(event, Reading):
                    reply["content"] = reading_notice(event.passages, labels)
                elif isinstance(event, Token):
                    text += event.text
                    reply["content"] = html.escape(text, quote=False)
                elif isinstance(event, Restart):
                    text = ""
                    reply["content"] = labels["retrying"]
                elif isinstance(event, Done):
                    answer = event.answer
                yield chat, sources_html(None, lang), "", turns
        except QuestionError as exc:
            reply["content"] = labels["bad_question"].format(detail=html.escape(str(exc)))
            yield chat, sources_html(None, lang), "", turns
            return
        except Exception as exc:  # every other failure: a friendly message here, the traceback in the server log
            log.exception("answering %r failed", question)
            reply["content"] = labels["unavailable"] if isinstance(exc, LLMError | StoreError) else labels["error"]
            yield chat, sources_html(None, lang), "", turns
            return
        assert answer is not None
        reply["content"] = link_markers(answer.text) + (f"\n\n{labels['uncited']}" if answer.uncited else "")
        turns = [*turns, {"role": "user", "content": question}, {"role": "assistant", "content": answer.text}]
        yield chat, sources_html(answer, lang), "", turns

    def api_chat(self, question: str, history: list | None = None) -> Iterator[dict]:
        """The `chat` endpoint for scripts: partial text while streaming, then the full answer."""
        text = ""
        for event in self.pipeline().stream(question, history or []):
            if isinstance(event, Token):
                text += event.text
                yield {"answer": text, "done": False}
            elif isinstance(event, Restart):
                text = ""
            elif isinstance(event, Done):
                yield {**event.answer.to_json(), "done": True}

    def record_feedback(self, data: gr.LikeData, chat: list[dict], lang: str) -> None:
        """Append a thumbs up or down, with the exchange, to the feedback file."""
        index = data.index if isinstance(data.index, int) else data.index[0]
        question = next((m["content"] for m in reversed(chat[:index]) if m["role"] == "user"), "")
        entry = {
            "time": time.time(),
            "liked": data.liked,
            "lang": lang,
            "question": question,
            "answer": chat[index]["content"] if index < len(chat) else "",
        }
        self.settings.feedback_file.parent.mkdir(parents=True, exist_ok=True)
        with self.settings.feedback_file.open("a", encoding="utf-8") as out:
            out.write(json.dumps(entry, ensure_ascii=False) + "\n")


def relabel(lang: str) -> tuple:
    labels = LABELS[lang]
    return (
        f"{labels['title']}\n\n{labels['intro']}",
        gr.update(label=labels["language"], value=lang),
        gr.update(label=labels["chat"]),
        gr.update(placeholder=labels["placeholder"], label=labels["placeholder"]),
        gr.update(value=labels["send"]),
        gr.update(value=labels["new"]),
        f"### {labels['sources']}",
        f"**{labels['examples']}**",
        *[gr.update(value=example) for example in EXAMPLES[lang]],
    )


def build_app(settings: Settings) -> gr.Blocks:
    session = ChatSession(settings)
    with gr.Blocks(title="SOGA RAG") as app:
        lang = gr.State("fr")
        turns = gr.State([])
        with gr.Row():
            header = gr.Markdown(f"{LABELS['fr']['title']}\n\n{LABELS['fr']['intro']}", elem_id="header")
            language = gr.Radio(
                LANGUAGE_CHOICES, value="fr", label=LABELS["fr"]["language"], elem_id="language", scale=0, min_width=220
            )
        with gr.Row():
            with gr.Column(scale=3):
                chat = gr.Chatbot(label=LABELS["fr"]["chat"], elem_id="chat", height=480, sanitize_html=True)
                question = gr.Textbox(
                    label=LABELS["fr"]["placeholder"],
                    placeholder=LABELS["fr"]["placeholder"],
                    elem_id="question",
                    max_length=settings.max_question_chars,
                    lines=2,
                )
                with gr.Row():
                    send = gr.Button(LABELS["fr"]["send"], variant="primary", elem_id="send")
                    new = gr.Button(LABELS["fr"]["new"], elem_id="new")
                examples_title = gr.Markdown(f"**{LABELS['fr']['examples']}**")
                with gr.Row():
                    example_buttons = [gr.Button(text, size="sm", elem_classes="example") for text in EXAMPLES["fr"]]
            with gr.Column(scale=2):
                sources_title = gr.Markdown(f"### {LABELS['fr']['sources']}", elem_id="sources-title")
                sources = gr.HTML(sources_html(None, "fr"), elem_id="sources")

        labelled = [header, language, chat, question, send, new, sources_title, examples_title, *example_buttons]
        answer_io = {"inputs": [question, chat, turns, lang], "outputs": [chat, sources, question, turns]}
        send.click(session.respond, **answer_io, api_visibility="private")
        question.submit(session.respond, **answer_io, api_visibility="private")
        new.click(
            lambda current: ([], sources_html(None, current), "", []),
            inputs=lang,
            outputs=[chat, sources, question, turns],
            queue=False,
            api_visibility="private",
        )
        for button in example_buttons:
            button.click(lambda text: text, inputs=button, outputs=question, queue=False, api_visibility="private")
        language.input(
            lambda choice: (choice, *relabel(choice)),
            inputs=language,
            outputs=[lang, *labelled],
            queue=False,
            api_visibility="private",
        )
        chat.like(session.record_feedback, inputs=[chat, lang], queue=False, api_visibility="private")

        def on_load(request: gr.Request):
            choice = browser_language(request.headers.get("accept-language", "") if request else "")
            return (choice, *relabel(choice))

        app.load(on_load, outputs=[lang, *labelled], queue=False, api_visibility="private")
        gr.api(session.api_chat, api_name="chat")
    app.queue(default_concurrency_limit=1, max_size=64)
    return app


def prepare(settings: Settings) -> None:
    """Index first if the store is empty, then load the models so the first reader does not wait."""
    from rag.indexer import sync
    from rag.store import StoreEmptyError, open_store

    try:
        empty = open_store(settings).count() == 0
    except StoreEmptyError:
        empty = True
    if empty:
        print(f"The store is empty: indexing {settings.content_dir} first …", flush=True)
        report = sync(settings)
        print(f"Indexed {report.documents} documents, {report.chunks} chunks.", flush=True)
    try:
        get_pipeline(settings)
    except Exception:  # the app still starts; each question then explains, and the log has the detail
        log.exception("the answer pipeline could not be loaded")


def launch(settings: Settings, prevent_thread_lock: bool = False) -> gr.Blocks:
    app = build_app(settings)
    app.launch(
        server_name=settings.host,
        server_port=settings.port,
        auth=parse_auth(settings.auth),
        show_error=False,
        allowed_paths=[],
        prevent_thread_lock=prevent_thread_lock,
        quiet=False,
        css=CSS,
    )
    return app
