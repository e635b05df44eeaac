"""Language detection accuracy and speed on a question set's labelled questions.

Compares the detector the app uses (py3langid, restricted to fr/en) with lingua, when
lingua-language-detector is installed.

    python bench/language.py [--set eval/dev.jsonl]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rag.evaluation import load_question_set
from rag.language import detect_language


def lingua_detector():
    try:
        from lingua import Language, LanguageDetectorBuilder
    except ImportError:
        return None
    detector = LanguageDetectorBuilder.from_languages(Language.FRENCH, Language.ENGLISH).build()
    return lambda text: "fr" if detector.detect_language_of(text) == Language.FRENCH else "en"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", type=Path, default=Path("eval/dev.jsonl"))
    args = parser.parse_args()
    questions = load_question_set(args.set)
    detectors = {"py3langid (rag.language)": detect_language, "lingua": lingua_detector()}
    for name, detect in detectors.items():
        if detect is None:
            print(f"{name:28} not installed")
            continue
        detect(questions[0].question)
        started = time.perf_counter()
        wrong = [q for q in questions if detect(q.question) != q.lang]
        ms = (time.perf_counter() - started) * 1000 / len(questions)
        print(f"{name:28} {len(questions) - len(wrong)}/{len(questions)} correct, {ms:.2f} ms per question")
        for q in wrong:
            print(f"{'':30}{q.id} ({q.lang}): {q.question}")


if __name__ == "__main__":
    main()
