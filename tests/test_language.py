import pytest

from rag.language import detect_language


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("When did Guilhem Pradalié join La MedNum?", "en"),
        ("What is Réfugiés.info?", "en"),
        ("What's the Société coopérative d'intérêt collectif?", "en"),
        ("tell me about Réfugiés.info", "en"),
        ("Who founded OpenAI?", "en"),
        ("Qui est Victor Meseguer ?", "fr"),
        ("C'est quoi la Social Tech Academy ?", "fr"),
        ("odc orange c'est payant ?", "fr"),
        ("Combien de personnes sont en fragilité numérique en France ?", "fr"),
        (
            "Les Orange Digital Center sont des lieux d'accompagnement et de développement des compétences numériques.",
            "fr",
        ),
        ("The themes identified as priorities by the working group are research and e-government.", "en"),
    ],
)
def test_the_language_of_the_sentence_not_of_the_names_in_it(text, lang):
    assert detect_language(text) == lang


@pytest.mark.parametrize("text", ["", "   ", "2030 ?", "[1] [2]"])
def test_text_without_letters_gets_the_default(text):
    assert detect_language(text, default="en") == "en"
    assert detect_language(text) == "fr"
