import pytest

from rag.language import content_words, detect_language, shared_word_shares, without_names


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
        ("Who runs La MedNum?", "en"),
        ("What is La Fabrique?", "en"),
        ("La Tech for Good Week a eu lieu quand ?", "fr"),
        ("Le Social Good Accelerator fait quoi ?", "fr"),
        ("Qui a écrit Building Europe's Digital Sovereignty ?", "fr"),
    ],
)
def test_the_language_of_the_sentence_not_of_the_names_in_it(text, lang):
    assert detect_language(text) == lang


@pytest.mark.parametrize("text", ["", "   ", "2030 ?", "[1] [2]"])
def test_text_without_letters_gets_the_default(text):
    assert detect_language(text, default="en") == "en"
    assert detect_language(text) == "fr"


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Who runs La MedNum?", "Who runs ?"),
        ("Que dit Social Economy Europe du plan ?", "Que dit du plan ?"),
        ("La Tech for Good Week a eu lieu quand ?", "La for a eu lieu quand ?"),
        ("What Is La MedNum", "What Is La MedNum"),
        ("OpenAI", "OpenAI"),
    ],
)
def test_names_are_left_out_unless_too_little_is_left(text, kept):
    assert without_names(text).split() == kept.split()


@pytest.mark.parametrize(
    ("text", "lang", "words"),
    [
        ("Other companies used THE contractor", "en", {"compani", "use", "contractor"}),
        ("les ménages modestes, d'après l'État", "fr", {"menag", "modest", "apre", "etat"}),
        ("It was 6.3 in 2030 [1]", "en", {"6", "3", "2030", "1"}),
    ],
)
def test_content_words_are_stems_without_stopwords_accents_or_case(text, lang, words):
    assert content_words(text, lang) == words


def test_shared_word_shares_are_the_share_of_the_words_each_text_holds():
    words = content_words("gratuits et ouverts à tous en 2022", "fr")
    texts = ["Gratuits et ouverts à tous, ces centres", "Il est un peu tôt pour le dire", "ouvert depuis 2022"]
    shares = shared_word_shares(words, [content_words(t, "fr") for t in texts])
    assert shares == [0.75, 0.0, 0.5]
    assert shared_word_shares(set(), [words]) == [0.0]
