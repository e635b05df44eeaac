"""Figures an answer states that none of its sources give, and figures it fails to give.

A small model asked about something the articles do not say (opening hours, a budget, a
date) sometimes invents it, and the grounding check does not always catch the question
beforehand. A figure cannot be paraphrased the way words can, so a number in the answer
that is in no passage, nor in the conversation, was made up. Only the answer's digits are
checked; the sources count their figures in digits and in French or English number words,
because the model may write "2 ateliers" for "deux ateliers".

The other way round, a question that asks for a quantity ("combien", "how many", "what
budget") is not answered by a reply that states none: asked what the Kenyan workers were
paid, which the articles never say, the model wrote that they were exposed to violent
content "for a derisory wage". A question that asks when gets the same treatment: a reply
that places nothing in time does not answer it.

Acronyms are checked the same way, being no more paraphrasable than figures: asked which
Greek association visited a stand, which the articles never name, the model made one up
with its acronym, "the Greek Association for Social Economy (GASS)". So are names of two
words or more: asked who wrote Les Misérables, the model answered "Victor Hugo" from what
it knows, and cited a passage that never says so.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from rag.language import ACRONYM, fold, unaccented

# Numbers that point at passages or number a list: "[2]", "(2)", "passage 2", "2. " at a line start.
_REFERENCE = re.compile(r"\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\]|\(\s*\d+\s*\)|\bpassages?\s+\d+|^\s*\d+[.)]\s", re.MULTILINE)
# "2 000", "2,000" and "2.000" are one number; "6,3" and "6.3" another.
_THOUSANDS = re.compile(r"(?<=\d)[\s,.](?=\d{3}(?!\d))")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_WORD = re.compile(r"[a-z]+(?:-[a-z]+)*")
NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40,
    "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "thousand": 1000,
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "tenth": 10,
    "un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "sept": 7, "huit": 8, "neuf": 9,
    "dix": 10, "onze": 11, "douze": 12, "treize": 13, "quatorze": 14, "quinze": 15, "seize": 16,
    "dix-sept": 17, "dix-huit": 18, "dix-neuf": 19, "vingt": 20, "trente": 30, "quarante": 40,
    "cinquante": 50, "soixante": 60, "soixante-dix": 70, "quatre-vingt": 80, "quatre-vingts": 80,
    "quatre-vingt-dix": 90, "cent": 100, "mille": 1000,
    "premier": 1, "premiere": 1, "deuxieme": 2, "seconde": 2, "troisieme": 3, "quatrieme": 4,
    "cinquieme": 5, "dixieme": 10,
    "huitaine": 8, "quinzaine": 15, "vingtaine": 20, "trentaine": 30, "quarantaine": 40, "cinquantaine": 50,
    "soixantaine": 60,
}  # fmt: skip


# Articles and ordinals that are number words too ("une mutuelle", "the first meeting").
_NOT_QUANTITIES = {"un", "une", "one", "premier", "premiere", "first", "second", "seconde"}
# Scale words by order of magnitude: "des milliers" is about 10**3.
_SCALE_WORDS = {
    "dizaine": 1, "dizaines": 1, "douzaine": 1, "dozen": 1, "dozens": 1, "centaine": 2, "centaines": 2,
    "hundreds": 2, "millier": 3, "milliers": 3, "thousands": 3, "million": 6, "millions": 6, "milliard": 9,
    "milliards": 9, "billion": 9, "billions": 9, "trillion": 12,
}  # fmt: skip
_SCALES = (0, *sorted(set(_SCALE_WORDS.values())))  # 2 500 is in the thousands, 22 000 000 in the millions
# Currencies by their words, symbols and codes: "€", "EUR" and "euros" are one.
_CURRENCY_NAMES = {
    "euro": "euro", "euros": "euro", "€": "euro", "eur": "euro",
    "dollar": "dollar", "dollars": "dollar", "$": "dollar", "usd": "dollar",
    "franc": "franc", "francs": "franc", "chf": "franc",
    "sterling": "pound sterling", "£": "pound sterling", "gbp": "pound sterling",
    "shilling": "shilling", "shillings": "shilling", "kes": "shilling",
}  # fmt: skip
_CURRENCY = re.compile(r"[€$£]|\b(?:" + "|".join(w for w in _CURRENCY_NAMES if w.isalpha()) + r")\b")
_ASKS_FOR_A_QUANTITY = re.compile(
    r"\bcombien\b|\bhow (many|much)\b"
    r"|\b(quel|quelle)s? (est|sont|etait|etaient) (le|la|les) (nombre|montant|budget|prix|cout|salaire|taux)\b"
    r"|\bwhat (is|was|are|were) the (number|amount|budget|price|cost|salary|rate)\b"
    r"|\b(quel|what) (budget|montant|amount|salaire|salary)\b"
)


# "quand" and "when" ask for a time only as question words: opening the question or a clause
# ("Et quand a-t-elle …", "c'était quand, …"), ending it ("ça ouvre quand ?"), or before a verb
# ("when did …"); not in "que fait-elle quand une collectivité adhère ?" nor in "quand même".
_ASKS_FOR_A_TIME = re.compile(
    r"(?:^|[,;.?!] *|\b(?:et|mais|depuis|jusqu'a|c'est|c'etait|and|but|since) )(?:quand(?! meme\b)|when)\b"
    r"|\bquand(?: exactement| precisement)? *\?|\bquand est-ce\b|\bquand [a-z]+-(?:t-)?(?:il|elle|ils|elles|on)\b"
    r"|\bwhen (?:did|does|do|was|were|will|is|are|has|have|had|would|could|exactly)\b"
    r"|\b(?:quelle|which|what) (?:annee|date|year|month|day|mois|jour)\b|\ba quel moment\b|\bwhat time\b"
)
# What places a time without digits: months, seasons, days and spans ("il y a deux ans").
# Words that also mean something else are left out: "may", "march", "fall", "été", "an".
_TIME_WORDS = {
    "janvier", "fevrier", "mars", "avril", "mai", "juin", "juillet", "aout", "septembre", "octobre",
    "novembre", "decembre", "january", "february", "april", "june", "july", "august", "september",
    "october", "november", "december", "printemps", "automne", "hiver", "spring", "summer", "autumn",
    "winter", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche", "monday",
    "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "aujourd", "hier", "demain",
    "today", "yesterday", "tomorrow", "ago", "depuis", "annee", "annees", "ans", "year", "years", "mois",
    "month", "months", "semaine", "semaines", "week", "weeks", "jours", "days", "siecle", "century",
    "decennie", "decade", "recemment", "recently", "bientot", "soon",
}  # fmt: skip


def asks_for_a_time(question: str) -> bool:
    return bool(_ASKS_FOR_A_TIME.search(fold(question)))


def states_a_time(answer: str) -> bool:
    """Digits (passage references aside) or a word that places something in time.

    Asked when an academy would open its first campus, which the articles never say, the
    model wrote that it "will open its first campus in", and stopped there.
    """
    return bool(digit_figures(answer)) or any(w in _TIME_WORDS for w in _words(answer))


def asks_for_a_quantity(question: str) -> bool:
    return bool(_ASKS_FOR_A_QUANTITY.search(fold(question)))


def states_a_quantity(answer: str, sources: Iterable[str] = ()) -> bool:
    """Digits (passage references aside), a number word other than an article, or a sourced scale word.

    A bare scale word is a quantity only where a source speaks of that order of magnitude:
    asked the budget of an association whose articles give none, the model wrote "de
    millions de francs", as vague as "a lot", but "des milliers" for "2 500 visitors" stands.
    """
    if digit_figures(answer):
        return True
    words = _words(answer)
    if any(w in NUMBER_WORDS and w not in _NOT_QUANTITIES for w in words):
        return True
    scales = {_SCALE_WORDS[w] for w in words if w in _SCALE_WORDS}
    return bool(scales) and bool(scales & {m for source in sources for m in _magnitudes(source)})


def _magnitudes(text: str) -> set[int]:
    """The orders of magnitude of what ``text`` counts: its scale words and its numbers.

    A year counts as a number in the thousands: "2000 participants" is written like one.
    """
    scales = {_SCALE_WORDS[w] for w in _words(text) if w in _SCALE_WORDS}
    numbers = {int(float(n)) for n in source_figures(text)}
    return scales | {max(m for m in _SCALES if 10**m <= n) for n in numbers if n >= 1}


def _words(text: str) -> list[str]:
    """The folded words of ``text``, a hyphenated one also by its parts ("vingt-cinq": vingt, cinq)."""
    words = _WORD.findall(fold(text))
    return [part for word in words for part in ([word, *word.split("-")] if "-" in word else [word])]


def _canonical(number: str) -> str:
    whole, _, fraction = number.replace(",", ".").partition(".")
    whole = whole.lstrip("0") or "0"
    fraction = fraction.rstrip("0")
    return f"{whole}.{fraction}" if fraction else whole


def digit_figures(text: str) -> list[str]:
    """The numbers written in digits in ``text``, references to passages aside, in one canonical form."""
    text = _THOUSANDS.sub("", _REFERENCE.sub(" ", fold(text)))
    return [_canonical(n) for n in _NUMBER.findall(text)]


def source_figures(text: str) -> set[str]:
    """The numbers ``text`` gives, in digits or in words."""
    return set(digit_figures(text)) | {str(NUMBER_WORDS[w]) for w in _words(text) if w in NUMBER_WORDS}


def invented_currencies(answer: str, sources: Iterable[str]) -> list[str]:
    """The currencies ``answer`` names that no text of ``sources`` names, in order of appearance.

    A sum in a currency the articles never use was made up even when its scale word is sourced:
    asked La MedNum's budget, the model wrote "de millions de francs" beside a passage on
    "14 millions de personnes".
    """
    given = {currency for source in sources for currency in _currencies(source)}
    return [c for c in dict.fromkeys(_currencies(answer)) if c not in given]


def _currencies(text: str) -> list[str]:
    return [_CURRENCY_NAMES[m] for m in _CURRENCY.findall(fold(text))]


def invented_figures(answer: str, sources: Iterable[str]) -> list[str]:
    """The numbers in ``answer`` that no text of ``sources`` gives, in order of appearance."""
    given: set[str] = set()
    for source in sources:
        given |= source_figures(source)
    return [n for n in dict.fromkeys(digit_figures(answer)) if n not in given]


_LETTERS = re.compile(r"[a-z0-9]+")


def invented_acronyms(answer: str, sources: Iterable[str]) -> list[str]:
    """The acronyms in ``answer`` that no text of ``sources`` holds, in order of appearance.

    One written in the other language's letter order, or with one letter more or fewer, is
    the sources' own ("EU" for "UE", "NGO" for "ONG", "UN" for "ONU"): answers translate them.
    A word the sources spell in lower case ("Gass") counts as held too.
    """
    texts = list(sources)
    words = _folded_words(texts)
    given = [Counter(fold(a)) for text in texts for a in ACRONYM.findall(unaccented(text))]

    def held(acronym: str) -> bool:
        folded = fold(acronym)
        letters = Counter(folded)
        return folded in words or any(sum(((letters - other) + (other - letters)).values()) <= 1 for other in given)

    return [a for a in dict.fromkeys(ACRONYM.findall(unaccented(answer))) if not held(a)]


def _folded_words(texts: Iterable[str]) -> set[str]:
    """Every word of ``texts``, lower case and without accents: "Délégation" is "delegation"."""
    return {word for text in texts for word in _LETTERS.findall(fold(text))}


# Lower-case words inside a name: "Ursula von der Leyen", "Délégation pour l'accueil des réfugiés",
# "Delegation for the Reception of Refugees".
_NAME_PARTICLES = {
    "von", "van", "der", "den", "di", "da", "del", "de", "du", "des", "la", "le", "les", "l", "d", "pour", "et", "en",
    "a", "au", "aux", "sur", "of", "the", "for", "and", "in", "on",
}  # fmt: skip
# Words of place names that answers translate, so that no source holds them: "Moyen-Orient"
# is "the Middle East", "États-Unis" "the United States", "Afrique du Sud" "South Africa".
_PLACE_WORDS = {
    "north", "south", "east", "west", "middle", "central", "united", "states", "kingdom", "republic",
    "nord", "sud", "est", "ouest", "moyen", "orient", "centrale", "unis", "uni", "royaume", "republique",
}  # fmt: skip
_NAME_RUN = re.compile(r"[^\W\d_][\w'’-]*")
_BREAK = re.compile(r"[^\w\s'’-]")


def invented_names(answer: str, sources: Iterable[str]) -> list[str]:
    """The names of two capitalized words or more in ``answer`` none of whose words a source holds.

    "Victor Hugo" and "Ursula von der Leyen" come from the model's own knowledge. A name
    one of whose words a source holds is the sources' own, translated ("European
    Commission" for "Commission européenne") or shortened; a single capitalized word is
    not checked, because answers translate country names ("Belgium" for "Belgique").
    """
    words = _folded_words(sources)

    def held(word: str) -> bool:
        stem = word[: max(5, len(word) * 2 // 3)]
        return word in words or word in _PLACE_WORDS or (len(word) >= 5 and any(w.startswith(stem) for w in words))

    invented = []
    for name in _names(answer):
        checked = [w for w in _LETTERS.findall(fold(name)) if len(w) >= 3 and w not in _NAME_PARTICLES]
        if checked and not any(held(w) for w in checked):
            invented.append(name)
    return list(dict.fromkeys(invented))


def _names(text: str) -> list[str]:
    """Runs of two capitalized words or more, with the particles between them, inside a clause."""
    names = []
    for clause in _BREAK.split(_REFERENCE.sub(" ", text)):
        run: list[str] = []
        particles: list[str] = []
        for word in [*_NAME_RUN.findall(clause), ""]:
            if word[:1].isupper():
                run += [*particles, word]
                particles = []
            elif run and word.lower() in _NAME_PARTICLES:
                particles.append(word)
            else:
                if sum(w[:1].isupper() for w in run) >= 2:
                    names.append(" ".join(run))
                run, particles = [], []
    return names
