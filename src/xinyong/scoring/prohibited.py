"""Prohibited bases: characteristics no scoring model may use.

The list is data, with its source. It follows the US Equal Credit Opportunity Act
(15 U.S.C. §1691(a)) and Regulation B (12 CFR §1002.2(z), §1002.6(b)): race, colour,
religion, national origin, sex, marital status, age, income from public assistance, and
the good-faith exercise of consumer-credit rights (RULES.md 25). Regulation B allows age
in an empirically derived, demonstrably and statistically sound system provided applicants
aged 62 or over are never scored down for it (§1002.6(b)(2)(ii)); Xinyong does not
implement that exception and refuses age outright.

The screen works on column names, in English and Chinese. It is a guard against the
obvious mistakes (a ``gender`` column, the German credit data's ``personal_status_and_sex``),
not a substitute for reviewing what each characteristic means and what it proxies for.
Protected attributes may still be supplied separately to test a model for disparate impact;
they are never model inputs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from xinyong.scoring.errors import ProhibitedFeatureError

REG_B = "ECOA 15 U.S.C. §1691(a); Reg B 12 CFR §1002.2(z), §1002.6(b)"


@dataclass(frozen=True)
class ProhibitedBasis:
    """One prohibited basis and the column-name phrases that reveal it."""

    basis: str
    source: str
    phrases: tuple[tuple[str, ...], ...]
    """Token sequences (lower case) that mark a column, e.g. ``("marital",)``."""
    cjk: tuple[str, ...] = ()
    """Chinese substrings that mark a column, e.g. ``"性别"``."""


PROHIBITED_BASES: tuple[ProhibitedBasis, ...] = (
    ProhibitedBasis(
        "race",
        REG_B,
        (("race",), ("racial",), ("ethnic",), ("ethnicity",), ("ethnic", "group")),
        ("种族", "民族"),
    ),
    ProhibitedBasis("colour", REG_B, (("colour",), ("color",), ("skin",)), ("肤色",)),
    ProhibitedBasis(
        "religion", REG_B, (("religion",), ("religious",), ("faith",)), ("宗教", "信仰")
    ),
    ProhibitedBasis(
        "national origin",
        REG_B,
        (
            ("national", "origin"),
            ("nationality",),
            ("citizenship",),
            ("foreign", "worker"),
            ("country", "of", "birth"),
            ("birth", "country"),
            ("immigration",),
        ),
        ("国籍", "籍贯", "原籍"),
    ),
    ProhibitedBasis(
        "sex",
        REG_B,
        (("sex",), ("gender",), ("male",), ("female",)),
        ("性别",),
    ),
    ProhibitedBasis(
        "marital status",
        REG_B,
        (("marital",), ("married",), ("personal", "status"), ("spouse",)),
        ("婚姻", "婚否", "配偶"),
    ),
    ProhibitedBasis(
        "age",
        REG_B,
        (("birth",), ("birthdate",), ("birthday",), ("dob",), ("years", "old")),
        ("年龄", "出生", "生日"),
    ),
    ProhibitedBasis(
        "public assistance income",
        REG_B,
        (
            ("public", "assistance"),
            ("social", "assistance"),
            ("welfare",),
            ("dibao",),
            ("food", "stamps"),
        ),
        ("低保", "救助", "社会救济"),
    ),
    ProhibitedBasis(
        "exercise of consumer-credit rights",
        "ECOA 15 U.S.C. §1691(a)(3); Reg B 12 CFR §1002.2(z)",
        (("dispute",), ("disputes",), ("disputed",), ("complaint",), ("complaints",)),
        ("异议", "投诉"),
    ),
)

# "age" alone is ambiguous: "age of oldest account" is a legitimate characteristic.
_AGE_OF_A_THING = {"account", "accounts", "oldest", "newest", "credit", "file", "loan", "trade"}


def _tokens(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [token for token in re.split(r"[^0-9a-zA-Z]+", spaced.lower()) if token]


def _contains(tokens: list[str], phrase: tuple[str, ...]) -> bool:
    width = len(phrase)
    return any(tuple(tokens[i : i + width]) == phrase for i in range(len(tokens) - width + 1))


def _is_personal_age(tokens: list[str]) -> bool:
    for i, word in enumerate(tokens):
        if word != "age":
            continue
        after = tokens[i + 1] if i + 1 < len(tokens) else ""
        before = tokens[i - 1] if i > 0 else ""
        if after == "of" or before in _AGE_OF_A_THING:
            continue
        return True
    return False


def prohibited_bases_of(name: str) -> list[str]:
    """The prohibited bases a column name reveals (empty when none)."""
    tokens = _tokens(name)
    found = [
        basis.basis
        for basis in PROHIBITED_BASES
        if any(_contains(tokens, phrase) for phrase in basis.phrases)
        or any(fragment in name for fragment in basis.cjk)
    ]
    if "age" not in found and _is_personal_age(tokens):
        found.append("age")
    return found


def prohibited_columns(columns: Iterable[str]) -> dict[str, list[str]]:
    """Map each prohibited column to the bases it reveals, in column order."""
    return {str(c): bases for c in columns if (bases := prohibited_bases_of(str(c)))}


def refuse_prohibited(columns: Iterable[str]) -> None:
    """Raise :class:`ProhibitedFeatureError` listing every prohibited column."""
    offending = prohibited_columns(columns)
    if offending:
        listed = ", ".join(f"{c} ({'; '.join(b)})" for c, b in offending.items())
        raise ProhibitedFeatureError(
            f"prohibited basis for scoring (RULES.md 25, {REG_B}): {listed}",
            columns=list(offending),
            bases=offending,
        )
