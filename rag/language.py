"""French/English detection.

The product speaks two languages, so the decision is binary: py3langid's classifier,
restricted to French and English. On the dev set's 40 labelled questions, py3langid and
lingua both scored 40/40 (bench/language.py); py3langid is twice as fast (0.07 ms a
question) and a much smaller dependency.
"""

from __future__ import annotations

import functools
import re
import unicodedata

FRENCH = "fr"
ENGLISH = "en"
LANGUAGES = (FRENCH, ENGLISH)
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)


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
    lang, _ = _identifier().classify(text)
    return lang


def fold(text: str) -> str:
    """Lower case without accents: "État" and "etat" compare equal."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
