"""Language detection accuracy and speed on labelled questions and answers.

Compares the detector the app uses (py3langid restricted to fr/en, reading the text
without accents) with py3langid reading the text as written, and with lingua when
lingua-language-detector is installed. Each question set gives its questions and its
reference answers (labelled with the question's language); the articles give their
sentences, labelled with the article's language, from the articles whose French and
English editions are each written in their own language only; a list below gives
questions that name things in the other language ("What is Réfugiés.info?").

    python bench/language.py [--set eval/dev.jsonl eval/extra.jsonl]
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

from rag.documents import load_documents
from rag.evaluation import load_question_set
from rag.language import _identifier, detect_language

SINGLE_LANGUAGE_ARTICLES = ("ai-social-economy", "digital-commons", "social-economy-summit")
# Questions that name things in the other language, as readers of this corpus write them.
NAMES_FROM_THE_OTHER_LANGUAGE = {
    "en": [
        "When did Guilhem Pradalié join La MedNum?",
        "What is Réfugiés.info?",
        "What does the Délégation interministérielle do?",
        "Where is the Orange Digital Center of Saint-Ouen?",
        "What is the Envol numérique programme?",
        "Who is Léon Launay?",
        "What is ESS France Outre-mer?",
        "What is the CRESS Grand Est?",
        "Who are Pierre Roth and Sandra Guilmin?",
        "what's the SCIC status of La MedNum",
        "What is the Mutuelle générale de l'Éducation nationale?",
        "Is the Fondation Orange involved?",
        "what did Guilhem Pradalié do at MGEN",
        "Who wrote the article about La Mednum?",
        "How many Orange Digital Centers are there in Sénégal?",
        "What is the Économie sociale et solidaire?",
        "What's the Société coopérative d'intérêt collectif?",
        "tell me about Réfugiés.info",
        "Is Samasource a non-profit?",
        "Which countries will get an ODC next, Pologne or Moldavie?",
        "Who runs La MedNum?",
        "Who leads La MedNum?",
        "Is La MedNum a cooperative?",
        "What does La MedNum do?",
        "who runs la MedNum",
        "Where is Saint-Ouen?",
        "Who is Guilhem Pradalié?",
        "Who founded La MedNum?",
        "What is La Fabrique?",
        "Is Orange Digital Center Saint-Ouen free?",
    ],
    "fr": [
        "Qui est Victor Meseguer ?",
        "C'est quoi la Social Tech Academy ?",
        "Que dit Social Economy Europe du Social Economy Action Plan ?",
        "Qu'est-ce que le programme restart d'AWS ?",
        "Quel est le rôle de Cooperative Europe et Philea ?",
        "c quoi BeCode",
        "Open Street Map c'est quoi",
        "Qui dirige Social Economy Europe ?",
        "Que pense ChatGPT de OpenAI ?",
        "le Digital Assembly c'était où ?",
        "combien de jobs dans la social economy en Europe",
        "Quel est le European Public Affairs working group ?",
        "Time Magazine a révélé quoi ?",
        "Que fait Google avec le même sous-traitant ?",
        "Où a eu lieu la Digital Assembly ?",
        "Pourquoi Social Economy Europe est satisfait du summit ?",
        "La Tech for Good Week a eu lieu quand ?",
        "C'est quoi Social Tech ?",
        "Qui est Victor Meseguer",
        "Le Social Good Accelerator fait quoi ?",
        "Qui a écrit Building Europe's Digital Sovereignty ?",
        "Que fait Open Food Facts ?",
        "OpenAI c'est quoi",
    ],
}


def lingua_detector():
    try:
        from lingua import Language, LanguageDetectorBuilder
    except ImportError:
        return None
    detector = LanguageDetectorBuilder.from_languages(Language.FRENCH, Language.ENGLISH).build()
    return lambda text: "fr" if detector.detect_language_of(text) == Language.FRENCH else "en"


def labelled_texts(sets: list[Path], content: Path) -> dict[str, list[tuple[str, str, str]]]:
    """(label, language, text) triples by group: questions, questions naming other-language things,
    reference answers, article sentences."""
    questions, answers, sentences = [], [], []
    named = [(f"{lang}:{n}", lang, q) for lang, qs in NAMES_FROM_THE_OTHER_LANGUAGE.items() for n, q in enumerate(qs)]
    for path in sets:
        for q in load_question_set(path):
            questions.append((q.id, q.lang, q.question))
            if q.answer:
                answers.append((q.id, q.lang, q.answer))
    documents, _ = load_documents(content)
    for doc in documents:
        if doc.slug in SINGLE_LANGUAGE_ARTICLES:
            for n, sentence in enumerate(re.split(r"(?<=[.!?])\s+", doc.text)):
                if len(sentence.strip()) > 25:
                    sentences.append((f"{doc.doc_id}:{n}", doc.lang, sentence.strip()))
    return {
        "questions": questions,
        "naming other-language things": named,
        "reference answers": answers,
        "article sentences": sentences,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", type=Path, nargs="+", default=[Path("eval/dev.jsonl"), Path("eval/extra.jsonl")])
    parser.add_argument("--content", type=Path, default=Path("content"))
    args = parser.parse_args()
    groups = labelled_texts(args.set, args.content)
    detectors = {
        "py3langid, folded (rag.language)": detect_language,
        "py3langid, as written": lambda text: _identifier().classify(text)[0],
        "lingua": lingua_detector(),
    }
    for name, detect in detectors.items():
        if detect is None:
            print(f"{name:34} not installed")
            continue
        detect("warm up")
        for group, items in groups.items():
            started = time.perf_counter()
            wrong = [(label, lang, text) for label, lang, text in items if detect(text) != lang]
            ms = (time.perf_counter() - started) * 1000 / len(items)
            print(f"{name:34} {group:30} {len(items) - len(wrong):4}/{len(items):<4} correct, {ms:.2f} ms each")
            for label, lang, text in wrong:
                print(f"{'':36}{label} ({lang}): {text[:100]}")


if __name__ == "__main__":
    main()
