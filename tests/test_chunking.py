import itertools
import re
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from rag.chunking import chunk_document
from rag.config import PROJECT_ROOT
from rag.documents import Document, load_documents


def make_doc(text: str, doc_id: str = "en/x", title: str = "A title") -> Document:
    return Document(
        doc_id=doc_id, path=Path(f"{doc_id}.md"), slug="x", lang="en", title=title, text=text, content_hash="h"
    )


words = st.sampled_from(["économie", "sociale", "digital", "commons", "a", "l’inclusion", "2022", "—", "«", "»"])
line = st.lists(words, min_size=0, max_size=40).map(" ".join)
block = st.one_of(
    line,
    line.map(lambda s: "## " + s),
    st.lists(line, min_size=1, max_size=4).map(lambda ls: "\n".join("- " + x for x in ls)),
)
markdown = st.lists(block, min_size=1, max_size=25).map(lambda bs: "\n\n".join(bs))


@settings(max_examples=500, deadline=None)
@given(text=markdown, size=st.integers(100, 900), overlap_share=st.floats(0, 0.45))
@example(  # found by CI: two empty headings, the second one once matched the first's position
    text="économie\n\n## \n\n## \n\n- " + " ".join(["économie"] * 11), size=100, overlap_share=0.25
)
@example(  # the overlap made the second piece a copy of the first one's end
    text="- économie sociale\n- sociale sociale sociale sociale a a l’inclusion 2022 2022 2022 — —\n"
    "- sociale a —\n\n## ",
    size=101,
    overlap_share=0.25,
)
@example(  # the first piece is a prefix of the second: both start at the same place
    text="\n\n- \n- \n- économie économie sociale sociale sociale sociale sociale a a a a a a a a a a a "
    "l’inclusion l’inclusion — — — — — —",
    size=124,
    overlap_share=0.25,
)
def test_chunks_are_spans_that_cover_the_text(text, size, overlap_share):
    overlap = int(size * overlap_share)
    chunks = chunk_document(make_doc(text), size, overlap)
    covered = [False] * len(text)
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        assert len(without_opening_headings(chunk.text)) <= size
        for i in range(chunk.start, chunk.end):
            covered[i] = True
    assert all(covered[i] or text[i].isspace() for i in range(len(text)))
    assert [c.position for c in chunks] == list(range(len(chunks)))
    assert all((a.start, a.end) < (b.start, b.end) for a, b in itertools.pairwise(chunks))


def without_opening_headings(text: str) -> str:
    lines = text.splitlines(keepends=True)
    while len(lines) > 1 and (not lines[0].strip() or re.fullmatch(r"#{1,6}(\s.*)?", lines[0].strip())):
        lines.pop(0)
    return "".join(lines)


def test_a_heading_the_splitter_leaves_alone_opens_the_next_chunk():
    paragraph = ("A paragraph of the section, long enough to fill most of a chunk. " * 5)[:295].strip() + "."
    text = f"{paragraph}\n\n## A heading\n\n{paragraph}\n\n{paragraph}\n\n## Last heading\n"
    chunks = chunk_document(make_doc(text), 300, 30)
    assert len(chunks) == 4
    opening = chunks[1]
    assert opening.text == f"## A heading\n\n{paragraph}" == text[opening.start : opening.end]
    assert opening.section == "A heading"
    assert chunks[-1].text == "## Last heading"


@settings(max_examples=80, deadline=None)
@given(text=markdown)
def test_ids_are_stable_unique_and_follow_the_text(text):
    first = chunk_document(make_doc(text), 300, 40)
    again = chunk_document(make_doc(text), 300, 40)
    assert [c.chunk_id for c in first] == [c.chunk_id for c in again]
    assert len({c.chunk_id for c in first}) == len(first)
    elsewhere = chunk_document(make_doc(text, doc_id="fr/y"), 300, 40)
    assert not {c.chunk_id for c in first} & {c.chunk_id for c in elsewhere}


def test_repeated_paragraphs_get_distinct_ids():
    text = "\n\n".join(["The same paragraph, repeated to fill the chunk. " * 5] * 4)
    chunks = chunk_document(make_doc(text), 260, 0)
    assert len({c.text for c in chunks}) < len(chunks)
    assert len({c.chunk_id for c in chunks}) == len(chunks)


def test_an_edit_changes_only_the_ids_of_the_chunks_it_touches():
    docs, _ = load_documents(PROJECT_ROOT / "content")
    doc = next(d for d in docs if d.doc_id == "en/mednum")
    before = chunk_document(doc, 800, 120)
    edited = doc.text.replace("The team is composed of about 15 people.", "The team has about 16 people.")
    after = chunk_document(make_doc(edited, doc.doc_id, doc.title), 800, 120)
    changed = {c.chunk_id for c in after} - {c.chunk_id for c in before}
    assert 1 <= len(changed) <= 2
    assert len(after) == len(before)


def test_title_and_section_are_in_the_embedded_text():
    text = "Intro paragraph.\n\n## The section\n\n" + "Body sentence in the section. " * 40
    chunks = chunk_document(make_doc(text, title="The article"), 300, 30)
    assert all(c.embed_text.startswith("The article") for c in chunks)
    assert chunks[-1].section == "The section"
    assert "The section" in chunks[-1].embed_text
