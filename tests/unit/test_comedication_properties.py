"""However a listed drug is written, it fires the same guardrails as its plain name (property-based).

For every drug of warfarin's interaction table, hypothesis writes one of its names — generic, international spelling,
brand, multi-ingredient product, RxNorm code in several notations — and then obfuscates it: random casing, look-alike
letters of other scripts (Unicode's confusables, drawn here from the data independently of the matcher's own table),
compatibility forms that NFKC folds (fullwidth, mathematical bold), zero-width and other format characters anywhere, a
break inside a name, a salt or strength around it. The patient state must validate and decide exactly as with the plain
name: the same rules firing with the same messages, the same action mask, the same policy features, and no
"not recognized" warning. A control character anywhere is a 422 at that entry instead.
"""

from __future__ import annotations

import string
import unicodedata

import numpy as np
import pytest
from confusable_homoglyphs.confusables import confusables_data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from dosewise import decision
from dosewise.medications import CODES, DRUGS, PRODUCTS, ingredients
from dosewise.schemas import PATIENT_STATE_EXAMPLE, PatientState
from dosewise.therapies.warfarin.interactions import INTERACTIONS, KNOWN, Interaction

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SALTS = ("", " hydrochloride", " HCl", " sodium", " 200 mg", " tablet", " 200 MG Oral Tablet", " (as recorded)")
FORMAT = st.characters(categories=["Cf"])
CONTROL = st.characters(categories=["Cc"])


def _lookalikes() -> dict[str, list[str]]:
    """ASCII letter → the letters of other scripts that Unicode's confusables list as looking like it (in either case),
    that NFKC leaves as they are (what survives the API's text cleaning)."""
    out: dict[str, list[str]] = {c: [] for c in string.ascii_lowercase}
    for ch, glyphs in confusables_data.items():
        if len(ch) != 1 or ch.isascii() or not unicodedata.category(ch).startswith("L"):
            continue
        if unicodedata.normalize("NFKC", ch) != ch:
            continue
        looks = {g["c"].lower() for g in glyphs if len(g["c"]) == 1 and g["c"] in string.ascii_letters}
        if len(looks) == 1:
            out[looks.pop()].append(ch)
    return out


LOOKALIKES = _lookalikes()


def _written(row: Interaction) -> list[str]:
    """Every way the vocabulary writes the row's drug: names, products containing it, RxNorm codes."""
    names = [n for d in DRUGS if d.generic in row.ingredients for n in (d.generic, *d.names)]
    names += [n for n, parts in PRODUCTS.items() if row.ingredients & set(parts)]
    return names + [f"\x00code:{c}" for c, parts in CODES.items() if row.ingredients & parts]


def plain(row: Interaction) -> str:
    return sorted(row.ingredients)[0]


@st.composite
def obfuscated(draw: st.DrawFn, row: Interaction) -> str:
    name = draw(st.sampled_from(_written(row)))
    if name.startswith("\x00code:"):  # an RxNorm code: its notation, maybe zero-padded
        code = name.removeprefix("\x00code:")
        prefix = draw(st.sampled_from(["rxnorm", "RxNorm", "RXCUI", "rxcui", "http://www.nlm.nih.gov/research/umls/rxnorm"]))
        sep = draw(st.sampled_from([":", " ", ": ", "|", "#", " = "]))
        name, breakable = prefix + sep + "0" * draw(st.integers(0, 2)) + code, False
    else:
        breakable = True
    out = []
    for ch in name:
        if ch.isalpha():
            how = draw(st.sampled_from(["lower", "upper", "lookalike", "fullwidth", "bold"]))
            if how == "lookalike" and LOOKALIKES[ch.lower()]:
                ch = draw(st.sampled_from(LOOKALIKES[ch.lower()]))
            elif how == "fullwidth":
                ch = chr(ord(ch.lower()) - ord("a") + 0xFF41)
            elif how == "bold":
                ch = chr(ord(ch.upper()) - ord("A") + 0x1D400)
            else:
                ch = ch.upper() if how == "upper" else ch.lower()
        elif ch.isdigit() and draw(st.booleans()):
            ch = chr(ord(ch) - ord("0") + 0xFF10)  # fullwidth digit
        out.append(ch + "".join(draw(st.lists(FORMAT, max_size=2))))
    text = "".join(out)
    if breakable and draw(st.booleans()):  # a break inside the name: "amio-darone", "rif ampin"
        at = draw(st.integers(1, len(out) - 1))
        text = "".join(out[:at]) + draw(st.sampled_from(["-", " ", ".", "/"])) + "".join(out[at:])
    salt = draw(st.sampled_from(SALTS))
    return text + salt if len(name) + len(salt) <= 60 else text


def decide(entry: str) -> decision.Prepared:
    return decision.prepare([PatientState.model_validate(PATIENT_STATE_EXAMPLE | {"co_medications": [entry]})])


@pytest.mark.parametrize("row", INTERACTIONS, ids=lambda r: r.id)
@SETTINGS
@given(data=st.data())
def test_any_writing_of_a_listed_drug_fires_what_its_plain_name_fires(row: Interaction, data: st.DataObject) -> None:
    entry = data.draw(obfuscated(row))
    got, want = decide(entry), decide(plain(row))
    assert got.guard.firings == want.guard.firings, entry
    np.testing.assert_array_equal(got.guard.mask, want.guard.mask)
    np.testing.assert_array_equal(got.features, want.features)
    assert got.view.covariates[row.id][0] == 1.0 and got.comedication_warnings == ((),), entry


@SETTINGS
@given(row=st.sampled_from(INTERACTIONS), data=st.data())
def test_a_control_character_anywhere_is_a_422_at_that_entry(row: Interaction, data: st.DataObject) -> None:
    name = plain(row)
    at = data.draw(st.integers(0, len(name)))
    bad = name[:at] + data.draw(CONTROL) + name[at:]
    with pytest.raises(ValidationError) as exc:
        PatientState.model_validate(PATIENT_STATE_EXAMPLE | {"co_medications": ["metoprolol", bad]})
    assert [(e["loc"], e["type"]) for e in exc.value.errors()] == [(("co_medications", 1), "control_character")]


def test_the_strategies_reach_every_kind_of_look_alike() -> None:
    """The look-alike pool is not empty where it matters: Cyrillic and Greek letters for the letters of the names."""
    letters = {ch for row in INTERACTIONS for n in _written(row) for ch in n if ch.isalpha()}
    assert all(LOOKALIKES[ch] for ch in letters - {"q"}), [ch for ch in letters if not LOOKALIKES[ch]]
    assert "а" in LOOKALIKES["a"] and "ο" in LOOKALIKES["o"] and "і" in LOOKALIKES["i"]


@SETTINGS
@given(entries=st.lists(st.text(max_size=64), max_size=4))
def test_any_text_is_refused_at_its_entry_or_decided_with_every_unknown_entry_named(entries: list[str]) -> None:
    """Whatever text arrives: a field-level 422, or a decision whose warnings name every entry the table cannot check."""
    try:
        state = PatientState.model_validate(PATIENT_STATE_EXAMPLE | {"co_medications": entries})
    except ValidationError as e:
        assert all(err["loc"][0] == "co_medications" for err in e.errors())
        return
    prep = decision.prepare([state])
    unknown = [e for e in state.co_medications if not ingredients(e) & KNOWN]
    assert list(prep.comedication_warnings[0]) == [f"Co-medication '{e}' was not recognized; interactions with it were "
                                                   "not checked." for e in unknown]
