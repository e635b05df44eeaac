"""Values the unit tests build by hand."""

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
