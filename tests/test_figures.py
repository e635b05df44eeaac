"""Figures, sums, acronyms, names and times in an answer, checked against the sources."""

import pytest

from rag.figures import (
    asks_for_a_time,
    invented_acronyms,
    invented_currencies,
    invented_figures,
    invented_names,
    states_a_quantity,
)


@pytest.mark.parametrize(
    ("answer", "sources", "invented"),
    [
        ("It opens from 9 am to 17 pm [2].", ["Open in the afternoon, 17 people"], ["9"]),
        ("13,6M jobs, 6.3 %, 2 000 people [1][2, 3].", ["13.6 million jobs, 6,3%, 2,000 people"], []),
        ("Il y a 2 ateliers et 19 États.", ["deux ateliers, dix-neuf États membres"], []),
        ("Two workshops in 2022 [4].", ["two workshops"], ["2022"]),
        ("Le 05 mai, 10.50 €.", ["5 mai, 10,5 euros"], []),
        ("Founded in 2015 by 11 people.", ["founded in 2015", "with eleven staff"], []),
        ("Two things:\n1. a fund (8)\n2) a platform, see passage 9.", ["a fund and a platform"], []),
    ],
)
def test_figures_the_sources_do_not_give_are_found(answer, sources, invented):
    assert invented_figures(answer, sources) == invented


@pytest.mark.parametrize(
    ("answer", "sources", "invented"),
    [
        ("Le budget est de millions de francs [1].", ["14 millions de personnes"], ["franc"]),
        ("It cost 10 € and 5 USD, not 3 £.", ["10 euros", "$5"], ["pound sterling"]),
        ("Europe's franchise in euros.", ["Un budget de 2 M€"], []),
        ("Paid in dollars and shillings.", [], ["dollar", "shilling"]),
    ],
)
def test_currencies_the_sources_do_not_name_are_found(answer, sources, invented):
    assert invented_currencies(answer, sources) == invented


@pytest.mark.parametrize(
    ("answer", "sources", "invented"),
    [
        ("The Greek Association for Social Economy (GASS) [4].", ["a Greek association at the SEE stand"], ["GASS"]),
        ("The EU, the AI Act, the NGO and the UN [1].", ["l'UE, l'IA, les ONG et l'ONU"], []),
        ("La SSE selon SOGA et SEE.", ["Social Economy Europe (SEE) et le SOGA : l'ESS"], []),
        ("Le réseau ÉTÉ et la MedNum [1].", ["La MedNum"], ["ETE"]),
        ("SMEs and Mr Smith [1].", [], []),
        ("Run by the Gass cooperative, a G20 member.", ["la coopérative gass, au G20"], []),
        ("The SME fund [1].", ["le fonds des PME"], ["SME"]),
    ],
)
def test_acronyms_the_sources_do_not_hold_are_found(answer, sources, invented):
    assert invented_acronyms(answer, sources) == invented


@pytest.mark.parametrize(
    ("answer", "sources", "invented"),
    [
        ("Les Misérables a été écrit par Victor Hugo [1].", ["Qui a écrit Les Misérables ?"], ["Victor Hugo"]),
        ("It is Ursula von der Leyen [1].", ["the European Commission"], ["Ursula von der Leyen"]),
        ("La MedNum est dirigée par Guilhem Pradalié [1].", ["Guilhem Pradalié, Directeur Général de La MedNum"], []),
        ("The European Commission and the Digital Commons Report.", ["la Commission européenne, rapport"], []),
        (
            "The Interministerial Delegation for the Reception of Refugees (DIAIR) [1].",
            ["la Délégation interministérielle pour l’accueil et l’intégration des réfugiés (DIAIR)"],
            [],
        ),
        ("Centres opened in the Middle East and the United States.", ["au Moyen Orient et aux États-Unis"], []),
        ("Belgium and Spain host them; Paris too.", ["en Belgique et en Espagne"], []),
        ("It was Jean Dupont, then Marie Curie.", ["Jean Martin"], ["Marie Curie"]),
    ],
)
def test_names_no_source_holds_a_word_of_are_found(answer, sources, invented):
    assert invented_names(answer, sources) == invented


@pytest.mark.parametrize(
    ("question", "asks"),
    [
        ("ça ouvre quand ?", True),
        ("Depuis quand la MedNum existe-t-elle ?", True),
        ("En quelle année a-t-il été fondé ?", True),
        ("Le Time a publié son enquête à quel moment ?", True),
        ("C'est quand même gratuit ?", False),
        ("What happens when a member leaves?", False),
    ],
)
def test_questions_that_ask_when(question, asks):
    assert asks_for_a_time(question) == asks


@pytest.mark.parametrize(
    ("answer", "sources", "states"),
    [
        ("Des milliers de visiteurs [1].", ["Le salon a reçu 2 500 visiteurs."], True),
        ("Des millions de visiteurs [1].", ["Le salon de 2022 a reçu 2 500 visiteurs."], False),
        ("Millions of people [1].", ["22 millions d'emplois"], True),
        ("Millions of people [1].", ["deux mille personnes"], False),
        ("Deux ateliers.", [], True),
        ("Une quinzaine de salariés.", [], True),
        ("Une mutuelle.", [], False),
    ],
)
def test_a_bare_scale_word_is_a_quantity_only_at_a_magnitude_the_sources_give(answer, sources, states):
    assert states_a_quantity(answer, sources) == states
