"""French/English detection.

The product speaks two languages, so the decision is binary: py3langid's classifier,
restricted to French and English. On the dev set's 40 labelled questions, py3langid and
lingua both scored 40/40 (bench/language.py); py3langid is twice as fast (0.07 ms a
question) and a much smaller dependency.

The classifier reads the text folded (no accents, lower case). Accented letters are its
strongest sign of French, and in English questions about this corpus they come with
French names ("When did Guilhem Pradalié join La MedNum?", "What is Réfugiés.info?"):
of 37 questions that name things in the other language, 8 went to the wrong language
read as written and 1 folded; of the 64 labelled questions none folded, one as
written, and their reference answers and the article sentences are classified the same
either way (bench/language.py).

It also reads the text without its names: a word capitalized after the first is a name
("La MedNum", "Social Economy Europe"), and a name's words are not the reader's
language. In a short question they outweigh the rest: "Who runs La MedNum?" was read as
French. Without names, 15 of 16 short questions naming things in the other language are
right instead of 11, the 37 above all right instead of 36, and the labelled questions,
their reference answers and the article sentences are unchanged (bench/language.py).
When fewer than two words are left, the whole text is read.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence

FRENCH = "fr"
ENGLISH = "en"
LANGUAGES = (FRENCH, ENGLISH)
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
_LETTER_WORD = re.compile(r"[^\W\d_]{2,}", re.UNICODE)
_WORD = re.compile(rf"{_LETTER_WORD.pattern}|\d+")
# A capitalized word that follows another word (not one that opens the text or a sentence).
_NAME = re.compile(r"(?<=[\w,;:'’\"»)] )[A-ZÀ-ÖØ-Þ][\w.\-’']*")
# "UE", "SCIC", "A4": capitals and digits, opening with a capital.
ACRONYM = re.compile(r"\b[A-Z][A-Z0-9]+\b")
_STEMMERS = {"fr": "french", "en": "english", "de": "german", "es": "spanish", "it": "italian", "pt": "portuguese"}


@functools.lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE)
    identifier.set_languages(list(LANGUAGES))
    return identifier


def detect_language(text: str, default: str = FRENCH) -> str:
    """Return "fr" or "en" for ``text``; ``default`` when it has no letters to judge by."""
    if not _LETTER.search(text or ""):
        return default
    lang, _ = _identifier().classify(fold(without_names(text)))
    return lang


def without_names(text: str) -> str:
    """``text`` without the capitalized words after its first, or all of it if that leaves under two words."""
    rest = _NAME.sub(" ", text)
    return rest if len(_LETTER_WORD.findall(rest)) >= 2 else text


def has_names(text: str) -> bool:
    """Whether ``text`` names something: a capitalized word after its first (not "I"), or an acronym."""
    return any(name.group() != "I" for name in _NAME.finditer(text)) or bool(ACRONYM.search(text))


def unaccented(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def fold(text: str) -> str:
    """Lower case without accents: "État" and "etat" compare equal."""
    return unaccented(text).lower()


def stemmer_for(lang: str):
    """A Snowball stemmer for ``lang``, or None for a language it does not know."""
    import Stemmer

    name = _STEMMERS.get(lang)
    return Stemmer.Stemmer(name) if name else None


@functools.lru_cache(maxsize=2)
def _stopwords_and_stemmer(lang: str):
    from bm25s.stopwords import STOPWORDS_EN_PLUS, STOPWORDS_FRENCH

    stopwords = STOPWORDS_FRENCH if lang == FRENCH else STOPWORDS_EN_PLUS
    return frozenset(map(fold, stopwords)), stemmer_for(FRENCH if lang == FRENCH else ENGLISH)


def content_words(text: str, lang: str) -> set[str]:
    """The stems of the words that carry meaning, so "used" and "use" count as one word."""
    stopwords, stemmer = _stopwords_and_stemmer(lang)
    return set(stemmer.stemWords([w for w in _WORD.findall(fold(text)) if w not in stopwords]))


def shared_word_shares(words: set[str], texts_words: Sequence[set[str]]) -> list[float]:
    """For each text (given as its `content_words`), the share of ``words`` it holds."""
    return [len(words & held) / len(words) if words else 0.0 for held in texts_words]
