"""French/English detection.

The product speaks two languages, so the decision is binary: count frequent function
words of each language, with accents as a tie-breaker. Short, sloppy questions
("odc orange c'est payant ?") are the hard case; the word lists favour the words such
questions keep.
"""

from __future__ import annotations

import re

FRENCH = "fr"
ENGLISH = "en"
LANGUAGES = (FRENCH, ENGLISH)

_FR_WORDS = frozenset(
    """
    le la les un une des du de d l au aux et ou mais donc est sont suis sera été etre être
    a ai as avons avez ont avait qui que qu quoi quel quelle quels quelles dont où ou comment
    pourquoi combien quand ce cet cette ces c ça cela ceci il elle ils elles on nous vous je j
    tu t se s ne n pas plus moins sur sous dans avec pour par chez entre selon leur leurs son sa
    ses mon ma mes notre nos votre vos y en aussi très tout tous toute toutes peut faut fait
    c'est qu'est ça veut dire
    """.split()
)
_EN_WORDS = frozenset(
    """
    the a an and or but so is are was were be been being am do does did done have has had
    who whom whose what which when where why how much many this that these those it its they
    them their he she his her we our you your i me my of to in on at by for from with about
    into over under between according not no there here can could would should will shall
    may might must any some all also very than then as if
    """.split()
)
_TOKEN = re.compile(r"[a-zà-öø-ÿœæ]+(?:'[a-zà-öø-ÿœæ]+)?", re.IGNORECASE)
_FR_MARKS = re.compile(r"[éèêàùâîôûçœëïü]", re.IGNORECASE)


def detect_language(text: str, default: str = FRENCH) -> str:
    """Return "fr" or "en" for ``text``; ``default`` when nothing tells them apart."""
    words = [w.lower().replace("’", "'") for w in _TOKEN.findall(text.replace("’", "'"))]
    pieces: list[str] = []
    for word in words:
        pieces.append(word)
        if "'" in word:
            pieces.extend(word.split("'"))
    french = sum(p in _FR_WORDS for p in pieces)
    english = sum(p in _EN_WORDS for p in pieces)
    french += len(_FR_MARKS.findall(text)) * 0.5
    if french == english:
        return default
    return FRENCH if french > english else ENGLISH
