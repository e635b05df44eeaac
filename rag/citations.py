"""Citation markers in a streamed answer: checked, or put where a passage supports the sentence.

The small model's own markers mostly point at passage [1] or at all of them, so by default
each sentence is cited, as it streams, with the given passage that best supports it
(`SentenceCiter`), unless it is an aside that would bring in a new one (`AsideGuard`);
otherwise the model's markers are shown once checked to point at a passage it was given
(`CitationFilter`). A line that only repeats a passage's title is not shown
(`TitleEchoFilter`). Each filter is fed the text as it comes and holds back only what it
cannot decide yet.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

from rag.language import fold

MARKER = re.compile(r"\[(\s*\d+\s*(?:[,;]\s*\d+\s*)*)\]")
_MARKER_CHARS = set("0123456789,; ")


class CitationFilter:
    """Streams text while holding back anything that may be a citation marker until it is checked.

    Markers whose numbers were all given to the model come out as ``[n]`` or ``[n, m]``; numbers
    that were not are dropped, and a marker left with none disappears.
    """

    def __init__(self, valid: range) -> None:
        self.valid = valid
        self.cited: list[int] = []
        self._pending = ""

    def feed(self, text: str) -> str:
        self._pending += text
        out = []
        while self._pending:
            start = self._pending.find("[")
            if start < 0:
                out.append(self._pending)
                self._pending = ""
                break
            out.append(self._pending[:start])
            self._pending = self._pending[start:]
            end = self._pending.find("]")
            inside = self._pending[1:] if end < 0 else self._pending[1:end]
            if not set(inside) <= _MARKER_CHARS or len(inside) > 24:
                out.append("[")
                self._pending = self._pending[1:]
                continue
            if end < 0:
                break
            out.append(self._rewrite(self._pending[: end + 1]))
            self._pending = self._pending[end + 1 :]
        return "".join(out)

    def flush(self) -> str:
        rest, self._pending = self._pending, ""
        return rest if not rest.startswith("[") else ""

    def _rewrite(self, marker: str) -> str:
        kept = [n for n in dict.fromkeys(cited_numbers(marker)) if n in self.valid]
        for n in kept:
            if n not in self.cited:
                self.cited.append(n)
        return f"[{', '.join(map(str, kept))}]" if kept else ""


class SentenceCiter:
    """Streams the model's text without its own markers, ending each sentence with a checked one.

    ``support`` gives, for a finished sentence, the number of the passage that best
    supports it, or None. The marker goes before the sentence's final punctuation, which
    is held back until the next word shows the sentence has ended: "6.3", "i.e. a" and
    "Eric S. Raymond" do not.
    """

    def __init__(self, support: Callable[[str], int | None]) -> None:
        self.support = support
        self.cited: list[int] = []
        self._markers = CitationFilter(range(0))
        self._sentence = ""
        self._held = ""

    def feed(self, text: str) -> str:
        return "".join(self._char(c) for c in self._markers.feed(text))

    def flush(self) -> str:
        rest = "".join(self._char(c) for c in self._markers.flush())
        return rest + self._end_sentence(self._held.rstrip(" "), "")

    def _char(self, char: str) -> str:
        held = self._held
        if char == "\n":
            return self._end_sentence(held.rstrip(" "), "\n")
        if char.isspace():
            if held or self._sentence:
                self._held = held.rstrip(" ") + " "
            return ""
        if char in ".!?":
            self._held = held.rstrip(" ") + char
            return ""
        ended = held.endswith(" ") and held.rstrip(" ")[-1:] in (".", "!", "?") and not char.islower()
        if ended and not (held.rstrip(" ") == "." and _ends_with_an_initial(self._sentence)):
            return self._end_sentence(held.rstrip(" "), " ") + self._char(char)
        if char in ",;:" and not held.strip():
            held = ""
        self._held = ""
        self._sentence += held + char
        return held + char

    def _end_sentence(self, punctuation: str, after: str) -> str:
        """The sentence's marker and final punctuation; a space after it waits for more text."""
        sentence, self._sentence = self._sentence, ""
        marker = ""
        if len(re.findall(r"\w+", sentence)) >= 3 and (n := self.support(sentence)) is not None:
            marker = f" [{n}]"
            if n not in self.cited:
                self.cited.append(n)
        self._held = " " if after == " " and (sentence or punctuation) else ""
        return marker + punctuation + ("" if after == " " else after)


class AsideGuard:
    """Whether an answer's sentence may bring a new passage into its citations.

    The small model answers, then goes on with whatever else the passages say. A sentence
    further from the question than an earlier one is such an aside: it may cite a passage
    the answer already cites, but brings in no new one. A sentence that adds fewer than
    ``bar_words`` words to the question (it only says the question again) sets no bar.
    ``closeness`` scores a sentence against the question; ``new_words`` counts the words
    it adds to it.
    """

    def __init__(self, closeness: Callable[[str], float], new_words: Callable[[str], int], bar_words: int) -> None:
        self.closeness = closeness
        self.new_words = new_words
        self.bar_words = bar_words
        self.cited: set[int] = set()
        self._closest = -math.inf

    def allows(self, sentence: str, n: int) -> bool:
        close = self.closeness(sentence)
        aside = close < self._closest
        if self.new_words(sentence) >= self.bar_words:
            self._closest = max(self._closest, close)
        if aside and n not in self.cited:
            return False
        self.cited.add(n)
        return True


class TitleEchoFilter:
    """Drops a line that only repeats a given passage's title.

    The small model sometimes writes the title of the passage it draws on as a heading of
    its own, first or between paragraphs; shown, it reads as part of the answer and gets
    cited. Each line is held back while it may still turn out to be a title, so the delay
    ends as soon as it differs from every title.
    """

    def __init__(self, titles: Sequence[str]) -> None:
        self.titles = {t for t in map(_comparable, titles) if t}
        self._line: str | None = ""  # the start of the current line while held, None once shown
        self._after_title = False

    def feed(self, text: str) -> str:
        shown = []
        while text:
            if self._after_title:
                text = text.lstrip("\n")
                self._after_title = not text
            elif self._line is None:
                line, newline, text = text.partition("\n")
                shown.append(line + newline)
                if newline:
                    self._line = ""
            else:
                head, newline, text = (self._line + text).partition("\n")
                if newline:
                    self._line = ""
                    if _comparable(head) in self.titles:
                        self._after_title = True
                    else:
                        shown.append(head + newline)
                elif any(title.startswith(_comparable(head)) for title in self.titles):
                    self._line = head
                else:
                    shown.append(head)
                    self._line = None
        return "".join(shown)

    def flush(self) -> str:
        held, self._line = self._line or "", None
        return "" if _comparable(held) in self.titles else held


def _comparable(line: str) -> str:
    """A line's words, without markers, accents, case, punctuation or markdown."""
    line = re.sub(r"\[[\d,; ]*$", "", MARKER.sub(" ", line))
    return " ".join(re.findall(r"\w+", fold(line)))


def _ends_with_an_initial(text: str) -> bool:
    """Whether ``text`` ends with a capital letter standing alone: "Eric S" of "Eric S. Raymond"."""
    return text[-1:].isupper() and not text[-2:-1].isalnum()


def cited_numbers(text: str) -> list[int]:
    """The passage numbers of the markers in ``text``, in order: "[1, 3] … [2]" gives 1, 3, 2."""
    return [int(n) for marker in MARKER.findall(text) for n in re.split(r"[,;]", marker)]
