"""Citation markers checked, or put by the passage that supports each sentence, as the answer streams."""

import pytest

from rag.citations import AsideGuard, CitationFilter, SentenceCiter, TitleEchoFilter


@pytest.mark.parametrize(
    ("stream", "valid", "shown", "cited"),
    [
        ("It is free [1].", 5, "It is free [1].", [1]),
        ("A [2, 9] and B [7].", 5, "A [2] and B .", [2]),
        ("See [3][1] and [3].", 5, "See [3][1] and [3].", [3, 1]),
        ("An array a[i] stays; [x] too.", 5, "An array a[i] stays; [x] too.", []),
        ("Cut at the end [1", 5, "Cut at the end ", []),
        ("Semicolons [1; 2] work.", 5, "Semicolons [1, 2] work.", [1, 2]),
    ],
)
def test_citation_filter_streams_only_valid_markers(stream, valid, shown, cited):
    for step in (1, 2, 5, len(stream)):
        citation_filter = CitationFilter(range(1, valid + 1))
        out = "".join(citation_filter.feed(stream[i : i + step]) for i in range(0, len(stream), step))
        assert out + citation_filter.flush() == shown
        assert citation_filter.cited == cited


@pytest.mark.parametrize(
    ("stream", "shown", "cited"),
    [
        ("[1] It says fact 2. Then fact 3 [1] here.", "It says fact 2 [2]. Then fact 3 here [3].", [2, 3]),
        ("Growth from 6.3 to 10 says fact 4", "Growth from 6.3 to 10 says fact 4 [4]", [4]),
        ("Fact 5 is it!  [5][2]\n- and fact 1 too\n\nOk.", "Fact 5 is it [5]!\n- and fact 1 too [1]\n\nOk.", [5, 1]),
        ("Is it fact 2 ?   Yes.", "Is it fact 2 [2]? Yes.", [2]),
        ("A coop, i.e. a fact 3 kind. Next", "A coop, i.e. a fact 3 kind [3]. Next", [3]),
        ("A book by Eric S. Raymond says fact 2. Then", "A book by Eric S. Raymond says fact 2 [2]. Then", [2]),
        ("[2] [3] [4]", "", []),
    ],
)
def test_sentences_are_cited_with_the_passage_that_supports_them(stream, shown, cited):
    passages = [f"Passage number {n} says fact {n}" for n in range(1, 6)]

    def best(sentence):
        words = set(sentence.lower().split())
        scores = [len(words & set(p.lower().split())) for p in passages]
        return scores.index(max(scores)) + 1

    for step in (1, 2, 7, len(stream)):
        citer = SentenceCiter(best)
        out = "".join(citer.feed(stream[i : i + step]) for i in range(0, len(stream), step)) + citer.flush()
        assert out == shown
        assert citer.cited == cited


TITLES = ["Les Orange Digital Center, une initiative pour l'inclusion numérique", "AI in 2023"]


@pytest.mark.parametrize(
    ("stream", "shown"),
    [
        ("Les Orange Digital Center, une initiative pour l'inclusion numérique [4]\nIl est tôt.", "Il est tôt."),
        ("## les orange digital center : une initiative pour l’inclusion numerique\n\nOui [1].", "Oui [1]."),
        ("**AI in 2023**\nIt helps.", "It helps."),
        ("Les Orange Digital Center offrent des formations.\nGratuites.", None),
        ("Les Orange Digital Center, une initiative pour l'inclusion numérique et sociale.\nOui.", None),
        ("AI in 2023 [2]", ""),
        ("No title here, AI in 2023\nAI in 2023\n", "No title here, AI in 2023\n"),
        ("\nAI in 2023\nLater.", "\nLater."),
        ("It helps [1].\n\n### AI in 2023 [2]\nIt also helps [2].", "It helps [1].\n\nIt also helps [2]."),
        ("It helps.\nAI in 2023 brought more.\nAI in", "It helps.\nAI in 2023 brought more.\nAI in"),
    ],
)
def test_a_line_that_repeats_a_title_is_dropped(stream, shown):
    for step in (1, 3, len(stream)):
        echo = TitleEchoFilter(TITLES)
        out = "".join(echo.feed(stream[i : i + step]) for i in range(0, len(stream), step)) + echo.flush()
        assert out == (stream if shown is None else shown)


def test_text_is_released_as_soon_as_it_differs_from_every_title():
    echo = TitleEchoFilter(TITLES)
    assert echo.feed("AI in") == ""
    assert echo.feed(" practice") == "AI in practice"
    assert echo.feed(" is.\nAI") == " is.\n"
    assert echo.feed(" in 2022") == "AI in 2022"


def test_an_aside_cites_only_passages_the_answer_already_cites():
    closeness = {"answer": 0.9, "restated question": 0.95, "aside": 0.8, "closer": 0.92}
    new_words = {"answer": 5, "restated question": 0, "aside": 5, "closer": 4}
    guard = AsideGuard(closeness.__getitem__, new_words.__getitem__, bar_words=2)
    assert guard.allows("restated question", 1)
    assert guard.allows("answer", 2)
    assert not guard.allows("aside", 3)
    assert guard.allows("aside", 2)
    assert guard.allows("closer", 4)
    assert not guard.allows("answer", 5)
    assert guard.cited == {1, 2, 4}
