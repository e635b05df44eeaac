"""Checks of a question and of a finished answer: what kind of question it is, and whether the answer may be shown.

An answer that states a figure found in no passage (nor in the conversation) has invented
it, and one that shares no meaningful word with the question (nor the user's earlier
turns, nor a passage sentence about the question) answers something else: both are
withdrawn for the abstention message, and so is one that names what no passage names (an
acronym, or a name of two words or more such as "Victor Hugo"). So is an answer that
gives no quantity to a question that asks for one ("how many", "combien", "what
budget"), no time to one that asks when, one that only says a "which / who / what"
question again ("the expert works for a large mutual"), and one that only asks a
question (an interviewer's, copied from a passage). A small model that starts repeating
itself has lost the thread: `first_repetition` finds where.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.chunking import passage_sentences
from rag.citations import MARKER
from rag.figures import (
    asks_for_a_quantity,
    asks_for_a_time,
    invented_acronyms,
    invented_currencies,
    invented_figures,
    invented_names,
    states_a_quantity,
    states_a_time,
)
from rag.language import content_words, fold
from rag.retrieval import Passage


def why_withdrawn(
    text: str, question: str, standalone: str, turns: Sequence[dict[str, str]], passages: Sequence[Passage], lang: str
) -> str | None:
    """Why a finished answer must not be shown, or None: it invents, or it does not answer."""
    if asks_instead(text):
        return "the answer only asks a question"
    sources = [question, standalone, *(t["content"] for t in turns), *(f"{p.title} {p.text}" for p in passages)]
    if invented := invented_figures(text, sources):
        return f"the answer gave figures that no passage contains ({', '.join(invented)})"
    if invented := invented_currencies(text, sources):
        return f"the answer gave a sum in a currency no passage names ({', '.join(invented)})"
    if invented := invented_acronyms(text, sources) + invented_names(text, sources):
        return f"the answer names {', '.join(invented)}, which no passage names"
    # What kind of answer is due is read from the reader's own words: a follow-up may be asked
    # after the previous question, which asked for something else.
    if asks_for_a_quantity(question) and not states_a_quantity(text, sources):
        return "the question asks for a quantity that the answer does not give"
    if asks_for_a_time(question) and not states_a_time(text):
        return "the question asks when, and the answer gives no time"
    asked = readers_words(question, turns)
    if not on_topic(text, f"{asked} {standalone}", passages, lang):
        return "the answer shares no word with the question"
    if restates_the_question(text, f"{question} {standalone}", f"{asked} {standalone}", lang):
        return "the answer only says the question again"
    return None


def readers_words(question: str, turns: Sequence[dict[str, str]]) -> str:
    """What the reader wrote: the question and their earlier turns."""
    return " ".join([question, *(t["content"] for t in turns if t["role"] == "user")])


def first_repetition(text: str) -> int | None:
    """Where the answer starts saying again what it said: a whole sentence, or a looping phrase."""
    found = [at for at in (first_repeated_sentence(text), looping_phrase(text)) if at is not None]
    return min(found, default=None)


def looping_phrase(text: str) -> int | None:
    """Where a run of three words or more, said three times in a row at the end, first comes back.

    The small model can loop inside one sentence, which never ends ("des forums de discussion,
    des groupes de travail, des forums de discussion, …") until the token limit.
    """
    words = list(re.finditer(r"\w+", MARKER.sub(lambda m: " " * len(m.group()), text)))
    lowered = [w.group().lower() for w in words]
    for size in range(3, len(words) // 3 + 1):
        tail = lowered[len(words) - 3 * size :]
        if tail[:size] == tail[size : 2 * size] == tail[2 * size :]:
            start = len(words) - 3 * size
            while start and lowered[start - 1] == lowered[start - 1 + size]:
                start -= 1
            return words[start + size].start()
    return None


def first_repeated_sentence(text: str) -> int | None:
    """Where a finished sentence of four words or more says again what an earlier one said."""
    seen: set[tuple[str, ...]] = set()
    start = 0
    for end in re.finditer(r"[.!?](?=\s)|\n", text):
        words = tuple(re.findall(r"\w+", MARKER.sub("", text[start : end.end()]).lower()))
        if len(words) >= 4:
            if words in seen:
                return start
            seen.add(words)
        start = end.end()
    return None


def on_topic(answer: str, asked: str, passages: Sequence[Passage], lang: str) -> bool:
    """Whether the answer says something about what was asked, directly or through a passage.

    An answer that shares no meaningful word with the question is usually a neighbouring
    fact ("it is a bit early to say" for opening hours). But a terse answer may only name
    what a passage's sentence about the question lists ("research, e-government" for the
    priority themes): a passage sentence that shares two words with the question and one
    with the answer links them.
    """
    answer_words = content_words(MARKER.sub(" ", answer), lang)
    asked_words = content_words(asked, lang)
    if answer_words & asked_words:
        return True
    needed = min(2, len(asked_words))
    return any(
        len(words & asked_words) >= needed and words & answer_words
        for passage in passages
        for words in (content_words(s, lang) for s in passage_sentences(passage.text))
    )


# Words that qualify without naming anything ("une grande mutuelle"), and the question
# words themselves: an answer that adds only these to the question has said nothing.
_VAGUE_WORDS = {
    "fr": "grand grande gros grosse important importante principal principale petit petite certain certaine"
    " divers diverse plusieurs nombreux nombreuse différent différente autre tel telle",
    "en": "big large great major main important small little certain various several many numerous different"
    " other some such",
}
_QUESTION_WORDS = {
    "fr": "qui quel quelle quels quelles quoi comment combien où pourquoi quand lequel laquelle lesquels lesquelles",
    "en": "who whom whose what which when where why how",
}
# "que" asks "what" only at the start: "est-ce que" opens a yes/no question.
_FRENCH_WHAT = r"\bqu['’]est-ce\b|^\W*que\b"
_ASKS_WHICH = {
    "fr": re.compile(rf"\b({'|'.join(_QUESTION_WORDS['fr'].split())})\b|{_FRENCH_WHAT}", re.IGNORECASE),
    "en": re.compile(rf"\b({'|'.join(_QUESTION_WORDS['en'].split())})\b", re.IGNORECASE),
}
_YES_OR_NO = re.compile(r"^\W*(oui|non|yes|no)\b", re.IGNORECASE)


def restates_the_question(answer: str, question: str, asked: str, lang: str) -> bool:
    """Whether the answer to a "which / who / what" question only says the question again.

    "La mutuelle pour laquelle travaille notre expert est une grande mutuelle" answers
    "Pour quelle mutuelle travaille l'expert ?" without naming one: the model found the
    expert but no name. Any other word, number or name the answer adds counts as saying
    something. ``question`` decides whether it is such a question (a yes/no one is
    answered by "oui"); ``asked`` is everything the reader wrote.
    """
    asks_which = _ASKS_WHICH.get(lang)
    if asks_which is None or not asks_which.search(question) or _YES_OR_NO.match(answer):
        return False
    said = content_words(f"{asked} {_QUESTION_WORDS[lang]} {_VAGUE_WORDS[lang]}", lang)
    return not content_words(MARKER.sub(" ", answer), lang) - said


def is_courtesy(question: str, courtesy_words: Sequence[str]) -> bool:
    """Whether the turn only greets or thanks: all its words, accents aside, are courtesy words."""
    words = re.findall(r"[a-z]+", fold(question))
    return bool(words) and set(words) <= set(courtesy_words)


def names_something(question: str, lang: str) -> bool:
    """Whether the question has a word besides stopwords and question words ("what?", "Qui ?" have none)."""
    return bool(content_words(question, lang) - content_words(_QUESTION_WORDS[lang], lang))


# A question without a question word asks yes or no (an order without a question mark
# does not), and so does one that opens with an auxiliary or "est-ce que" even with a
# "who" further on ("is there anything for kids who …").
_YES_NO_OPENING = {
    "fr": re.compile(r"^\W*(est-ce qu|y a-t-il)", re.IGNORECASE),
    "en": re.compile(
        r"^\W*(is|are|was|were|am|do|does|did|can|could|has|have|had|will|would|should|shall|may|might|must)\b",
        re.IGNORECASE,
    ),
}
_YES_NO_WORDS = "oui non si yes no not pas ne"


# "Who", "where", "which …" or "what" followed by a noun rather than a verb ("what legal
# form", not "what is"): the question names the kind of thing it wants. "où" keeps its
# accent: "ou" is "or".
_ASKS_FOR_A_THING = re.compile(
    r"\b(qui|où|quel|quelle|quels|quelles|lequel|laquelle|lesquels|lesquelles|who|whom|whose|where|which)\b"
    r"|\bwhat\s+(?!(is|are|was|were|do|does|did|can|could|would|should|will|has|have|had|may|might|must)\b)[a-z]"
)


def asks_for_a_fact(question: str) -> bool:
    """Whether the question asks for one fact: a person, place, thing, time or quantity.

    Such a question is answered from a passage that names it; the passages about its
    subject name other people, places, dates and figures ("Qui préside Social Economy
    Europe ?" found the two people its team met), which the model then gives as the answer.
    """
    if _ASKS_FOR_A_THING.search(question.lower()):
        return True
    return asks_for_a_quantity(question) or asks_for_a_time(question)


def asks_yes_or_no(question: str, lang: str) -> bool:
    """Whether the question is answered by yes or no ("odc orange c'est payant ?")."""
    if lang not in _ASKS_WHICH:
        return False
    if _YES_NO_OPENING[lang].match(question):
        return True
    return question.rstrip().endswith("?") and not _ASKS_WHICH[lang].search(question)


def adds_from_passages(answer: str, asked: str, passages: Sequence[Passage], lang: str) -> bool:
    """Whether the answer says something the question did not, in words a passage gives.

    To a yes/no question the passages do not answer, the small model replies with the
    question turned round ("No, La MedNum does not run a podcast"); to one they answer, it
    adds what they say ("Oui, les Orange Digital Center sont gratuits").
    """
    given = content_words(" ".join(f"{p.title} {p.text}" for p in passages), lang)
    return bool(_words_added(answer, asked, lang) & given)


# Words by which a yes/no question asks about things it does not name ("did other companies
# …?", "is there anything for …?", "y a-t-il d'autres …"): its reader wants them named.
_UNNAMED = {
    "fr": re.compile(r"\b(autres?|quelque chose|quelqu['’]un|quelques?|certain(e)?s)\b", re.IGNORECASE),
    "en": re.compile(r"\b(others?|any|anything|anyone|anybody|some|something|someone|somebody)\b", re.IGNORECASE),
}


def asks_about_unnamed_things(question: str, lang: str) -> bool:
    """Whether a yes/no question asks about things it does not name, which a good answer names.

    "Did other big tech companies use the same subcontractor?" wants the companies;
    "La MedNum compte-t-elle plus de 100 sociétaires ?" is answered by "Oui".
    """
    pattern = _UNNAMED.get(lang)
    return bool(pattern and pattern.search(question))


def says_only_yes_or_no(answer: str, asked: str, lang: str) -> bool:
    """Whether the answer adds no word to what was asked but yes or no.

    "Yes, other big tech companies used the same subcontractor as OpenAI" to "did other big
    tech companies use the same subcontractor?" leaves out the companies the reader wants.
    """
    return not _words_added(answer, asked, lang)


def _words_added(answer: str, asked: str, lang: str) -> set[str]:
    """The answer's words that are not the question's, a question word, a vague one, yes or no."""
    said = content_words(f"{asked} {_QUESTION_WORDS[lang]} {_VAGUE_WORDS[lang]} {_YES_NO_WORDS}", lang)
    return {
        word
        for word in content_words(MARKER.sub(" ", answer), lang)
        if not any(_same_word(word, other) for other in said)
    }


def _same_word(stem: str, other: str) -> bool:
    """The stemmer leaves some forms apart ("proposent-ils" and "propose", "centers" and "center")."""
    if stem == other:
        return True
    shorter, longer = sorted((stem, other), key=len)
    return len(shorter) >= 4 and longer.startswith(shorter)


def asks_instead(answer: str) -> bool:
    """Whether every sentence of the answer is a question.

    The small model sometimes copies an interviewer's question from a passage ("Pouvez-vous
    nous présenter votre parcours professionnel ?") as its whole answer: that answers nothing.
    """
    sentences = passage_sentences(MARKER.sub("", answer))
    return bool(sentences) and all(s.endswith("?") for s in sentences)


def has_words(text: str) -> bool:
    """An answer made only of citation markers says nothing."""
    return len(re.findall(r"[^\W\d_]{2,}", MARKER.sub("", text))) >= 3
