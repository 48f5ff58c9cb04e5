"""Co-medication entries as EHRs send them ("Amiodarone HCl 200 mg tablet", "Cordarone", "amiodarona", "rxnorm:703") → the
generic names the packs check.

Matching exact strings let "amiodarone hydrochloride" pass the amiodarone guardrail and the IWPC covariate unseen; matching
plain words let ``amio\\u200bdarone`` (zero-width space), ``аmiodarone`` (Cyrillic а), ``amiodarona`` (Spanish) and
``amiodaron`` (German) pass. An entry is matched on its **letters**, whatever writes them:

1. NFKC without format characters (as ``dosewise.text`` cleans every API text), lower case (casefold), accents and other
   combining marks dropped (NFKD): "Amiodarona", "MÉTRONIDAZOLE", "phénytoïne" read as plain Latin letters.
2. **Look-alike letters of other scripts become the Latin letter they look like** (Unicode's confusables, UTS #39, as
   packaged by ``confusable_homoglyphs``), after NFKC: Cyrillic ``а о р с е і``, Greek ``ο ν Ι``, Latin ``ı``; a small l
   and a capital I, one glyph in many fonts, are one letter. We map rather than refuse a mixed-script word: refusing
   turns a stray letter from a Cyrillic keyboard layout into no answer at all for the patient, while mapping turns it
   into the answer for the drug the clinician reads, with its guardrail; the stored entry stays as sent. Mapping can
   only add a match (a guardrail that limits a dose), never hide one; a word left in another script ("амиодарон")
   matches nothing and is reported as not recognized (``WarfarinPack.comedication_warnings``).
3. Words are the runs of Latin letters; a name matches a whole word or several adjacent words written together
   ("co-trimoxazole", "amio darone", "amio1darone"), never part of a word ("desamiodarone" is not amiodarone). Typos
   are not corrected ("amiodarnoe" is reported as not recognized).
4. RxNorm codes are accepted beside names, in the entry's text: ``rxnorm:703``, ``RxNorm 703``, ``RXCUI: 703`` or a FHIR
   coding written ``http://www.nlm.nih.gov/research/umls/rxnorm|703``. The contract stays a list of strings: existing
   callers are unchanged and a code can sit next to the name ("Amiodarone 200 mg (rxnorm:703)"); a code we do not know
   matches nothing (and is reported).

Spellings: the INN and US (USAN) names, the Latin, French, Spanish, Italian, Portuguese, German, Dutch and Scandinavian
spellings in use in those countries' labels, and US brand names (Drugs@FDA labels), written from general knowledge; the
RxNorm codes, and which of them were checked against a source, are listed in ``DRUGS``.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache


@dataclass(frozen=True)
class Drug:
    """A generic (ingredient) the packs may check, the RxNorm ingredient codes naming it, and its other names (lower case,
    letters only: how ``_words`` writes them)."""

    generic: str
    rxnorm: tuple[str, ...]
    names: tuple[str, ...]


# RxNorm ingredient codes (RXCUI, term type IN). Checked against CPIC's drug table (GitHub cpicpgx/cpic-data, db/drug.sql,
# column rxnormId): carbamazepine 2002, phenytoin 8183, warfarin 11289, and 10831 for the multi-ingredient concept
# "sulfamethoxazole / trimethoprim" (PRODUCTS). NOT verified (no primary source found; amiodarone 703, fluconazole 4450 and
# metronidazole 6922 appear only in third-party code, the others nowhere we could search): amiodarone 703, fluconazole 4450,
# metronidazole 6922, sulfamethoxazole 10180, trimethoprim 10829, rifampin 9384. Check them against RxNav before relying
# on a code alone: until then a wrong code would match nothing and be reported as not recognized, or match another drug.
DRUGS: tuple[Drug, ...] = (
    Drug("amiodarone", ("703",), ("amiodarona", "amiodaron", "amiodaronum", "cordarone", "pacerone", "nexterone")),
    Drug("fluconazole", ("4450",), ("fluconazol", "fluconazolo", "flukonazol", "fluconazolum", "diflucan")),
    Drug("metronidazole", ("6922",), ("metronidazol", "metronidazolo", "metronidazolum", "flagyl")),
    Drug("sulfamethoxazole", ("10180",), ("sulfametoxazol", "sulfamethoxazol", "sulfametossazolo", "sulfamethoxazolum",
                                          "sulphamethoxazole")),
    Drug("trimethoprim", ("10829",), ("trimetoprima", "trimethoprime", "trimetoprim", "trimethoprimum")),
    Drug("rifampin", ("9384",), ("rifampicin", "rifampicine", "rifampicina", "rifampicinum", "rifadin", "rimactane")),
    Drug("carbamazepine", ("2002",), ("carbamazepina", "carbamazepin", "karbamazepin", "carbamazepinum", "tegretol",
                                      "carbatrol", "equetro", "epitol")),
    # Fosphenytoin (Cerebyx) is a prodrug the body turns into phenytoin: its interactions are phenytoin's.
    Drug("phenytoin", ("8183",), ("phenytoine", "fenitoina", "fenytoin", "fenytoine", "phenytoinum", "diphenylhydantoin",
                                  "dilantin", "phenytek", "fosphenytoin", "cerebyx")),
    Drug("warfarin", ("11289",), ("warfarina", "warfarine", "warfarinum", "coumadin", "jantoven", "marevan")),
)
# Names and codes of products with several ingredients: trimethoprim-sulfamethoxazole (co-trimoxazole; Bactrim and Septra
# on their FDA labels), rifampin with isoniazid (Rifamate) or with isoniazid and pyrazinamide (Rifater).
PRODUCTS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("cotrimoxazole", "cotrimoxazol", "cotrimossazolo", "bactrim", "septra", "tmpsmx", "smxtmp"),
                    ("sulfamethoxazole", "trimethoprim")),
    "rifamate": ("rifampin",), "rifater": ("rifampin",),
}
PRODUCT_CODES: dict[str, tuple[str, ...]] = {"10831": ("sulfamethoxazole", "trimethoprim")}  # RxNorm MIN (CPIC drug table)

NAMES: dict[str, frozenset[str]] = {
    **{name: frozenset({d.generic}) for d in DRUGS for name in (d.generic, *d.names)},
    **{name: frozenset(generics) for name, generics in PRODUCTS.items()},
}
CODES: dict[str, frozenset[str]] = {
    **{code: frozenset({d.generic}) for d in DRUGS for code in d.rxnorm},
    **{code: frozenset(generics) for code, generics in PRODUCT_CODES.items()},
}
# A small l and a capital I are one glyph in many fonts, and UTS #39 gives every I-like letter (Greek Ι, Cyrillic І,
# Latin Ɩ) the skeleton l: words and names are compared with l read as i, on both sides. No two names of the vocabulary
# differ only there (tested), so this only reads "fΙagyl" or "AMΙODARONE" as what they show.
_FOLDED: dict[str, frozenset[str]] = {name.replace("l", "i"): generics for name, generics in NAMES.items()}
_LONGEST_NAME = max(map(len, NAMES))
_RXNORM = re.compile(r"rx(?:norm|cui)\W{0,3}(\d{1,8})")
_WORD = re.compile(r"[a-z]+")


@cache
def _latin_lookalikes() -> dict[str, str]:
    """Every single character outside ASCII that Unicode's confusables (UTS #39) list as looking like one ASCII letter
    → that letter, in the case the data gives (1,225 characters: Cyrillic ``а``, Greek ``ο``, Latin ``ı``, Cherokee,
    mathematical forms…)."""
    from confusable_homoglyphs.confusables import confusables_data

    out: dict[str, str] = {}
    for ch, glyphs in confusables_data.items():
        if len(ch) == 1 and not ch.isascii():
            letters = sorted(g["c"] for g in glyphs if len(g["c"]) == 1 and g["c"] in string.ascii_letters)
            if letters and len({x.lower() for x in letters}) == 1:  # none looks like two letters (else left unmapped)
                out[ch] = letters[0]
    return out


def _latin(ch: str, lookalikes: dict[str, str]) -> str:
    """One character as the Latin letter it looks like, else itself. A small letter like no Latin one whose capital is
    (Greek τ, capital Τ; Cyrillic т, capital Т) counts as its capital: text lower-cased on the way here still matches."""
    if ch.isascii():
        return ch
    return lookalikes.get(ch) or lookalikes.get(ch.upper(), ch)


def _without_marks(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.category(ch).startswith("M"))


def matching_text(entry: str) -> str:
    """The entry as it is matched: without format characters, in NFKC, look-alike letters as the Latin letter they look
    like, casefolded, without accents or other combining marks (module docstring). Look-alikes are read twice: in the
    case they were written (a capital Greek Ν is an N, its small ν a v), and once more after casefolding (a capital whose
    small letter is the look-alike: Cyrillic Ј → ј → j)."""
    text = unicodedata.normalize("NFKC", "".join(ch for ch in entry if unicodedata.category(ch) != "Cf"))
    lookalikes = _latin_lookalikes()
    text = _without_marks("".join(_latin(ch, lookalikes) for ch in text).casefold())
    return "".join(_latin(ch, lookalikes) for ch in text).casefold()


@lru_cache(maxsize=8192)
def ingredients(entry: str) -> frozenset[str]:
    """The generics one co-medication entry names (empty when it names none we know): by name, brand, product or RxNorm
    code. Cached: a batch repeats the same few entries."""
    text = matching_text(entry)
    found: set[str] = set()
    for code in _RXNORM.findall(text):
        found |= CODES.get(str(int(code)), frozenset())  # int(): "0703" and Arabic-Indic digits are 703
    words = [w.replace("l", "i") for w in _WORD.findall(text)]
    for i in range(len(words)):
        joined = ""
        for word in words[i:]:  # a name as one word, or as adjacent words written together
            joined += word
            if len(joined) > _LONGEST_NAME:
                break
            found |= _FOLDED.get(joined, frozenset())
    return frozenset(found)


def generics(entries: Iterable[str]) -> frozenset[str]:
    """The generics all entries name together."""
    return _generics(tuple(entries))


@lru_cache(maxsize=4096)
def _generics(entries: tuple[str, ...]) -> frozenset[str]:
    return frozenset().union(*(ingredients(e) for e in entries))
