"""Values and stand-ins the tests build by hand."""

from collections.abc import Iterator

from rag.retrieval import Passage


def passage(n: int, lang: str = "en", text: str | None = None) -> Passage:
    """Passage ``n`` of a one-document corpus in ``lang``; by default it says "fact n"."""
    return Passage(
        chunk_id=f"{lang}/doc#{n}",
        doc_id=f"{lang}/doc",
        slug="doc",
        lang=lang,
        title=f"Title {n}",
        url="",
        section="",
        position=n,
        start=0,
        end=10,
        text=text or f"Passage number {n} says fact {n}.",
        score=1.0 / n,
    )


class ScriptedLLM:
    """Replies from a script, and records what it was asked."""

    name = "scripted"
    context_size = 4096

    def __init__(self, replies: list[str], yes: float = 0.9, condensed: str = "standalone question?") -> None:
        self.replies = list(replies)
        self.yes = yes
        self.condensed = condensed
        self.asked: list[list[dict]] = []
        self.preambles: list[list[dict] | None] = []

    def count_tokens(self, text: str) -> int:
        return len(text) // 4 + 1

    def stream_chat(self, messages, max_tokens, temperature, seed=0) -> Iterator[str]:
        self.asked.append(messages)
        reply = self.replies.pop(0)
        for i in range(0, len(reply), 3):
            yield reply[i : i + 3]

    def chat(self, messages, max_tokens, temperature=0.0, seed=0) -> str:
        self.asked.append(messages)
        return self.condensed

    def yes_probability(self, messages, yes, no, preamble=None) -> float:
        self.preambles.append(preamble)
        return self.yes
