"""Split a point or equipment name into tokens and expand them into canonical words.

Controller names glue words together in every way there is: ``CH1_EntChwTemp``,
``HWRTEMP``, ``SF VFD S/S``, ``Clg Dmpr Pos. %``. :func:`tokenize` cuts at
separators, at letter/digit changes and at CamelCase humps, and it splits a
run it still does not recognise (``HWRTEMP``, ``ChWCPCmd``) with a small
dynamic programme over the abbreviation table. :func:`expand` then maps each
token to canonical words (``ent`` -> ``entering``, ``chw`` -> ``chilled water``).

Both are pure functions of the text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Final, TypeAlias

from opencrate.model.tagging.abbreviations import ABBREVIATIONS, CANONICAL_WORDS, SEGMENT_ONLY

__all__ = ["Token", "clear_caches", "expand", "rewrite_pairs", "tokenize"]

# A token is (text, is_number): numbers matter for equipment ids ("AHU-1", "CH1").
Token: TypeAlias = tuple[str, bool]

# Spellings that the generic splitter would cut wrongly, rewritten first.
_PROTECT: Final = (
    (re.compile(r"%\s*RH", re.IGNORECASE), " rh "),
    # "RH" before a valve, coil or stage is reheat ("RH-VLV", "RhVlvCmd"), else humidity.
    (re.compile(r"\bRH(?=[\s_.-]*(?:VLV|VALVE|COIL|STG|STAGE))", re.IGNORECASE), " reheat "),
    (re.compile(r"\bS/S\b", re.IGNORECASE), " ss "),
    (re.compile(r"start\s*/\s*stop", re.IGNORECASE), " ss "),
    # start-stop shorthands: St/Sp, StSp, Strt/Stp, On/Off, OnOff
    (re.compile(r"\b(?:st\s*/\s*sp|strt\s*/?\s*stp|on\s*/\s*off)\b", re.IGNORECASE), " ss "),
    (re.compile(r"(?<![A-Za-z])(?:StSp|ST_SP|OnOff|ONOFF)(?![a-z])"), " ss "),
    (re.compile(r"CO2", re.IGNORECASE), " co2 "),
    # Haystack 4's other gases and particulates keep their digits as one word.
    (re.compile(r"\bPM\s*2\.?5\b", re.IGNORECASE), " pmtwofive "),
    (re.compile(r"\bPM\s*10\b", re.IGNORECASE), " pmten "),
    (re.compile(r"\bPM\s*(?:1|0?1\.0)\b", re.IGNORECASE), " pmone "),
    (re.compile(r"\bNO2\b", re.IGNORECASE), " nitrogendioxide "),
    (re.compile(r"\bNH3\b", re.IGNORECASE), " ammonia "),
    (re.compile(r"\bCH2O\b", re.IGNORECASE), " formaldehyde "),
    (re.compile(r"\bO3\b", re.IGNORECASE), " ozone "),
    (re.compile(r"\bin\.?\s*w\.?\s*c\.?", re.IGNORECASE), " "),
    (re.compile(r"\bw\.c\.", re.IGNORECASE), " "),
)
_CHUNK: Final = re.compile(r"(?i:co2)|[A-Za-z]+|\d+")

_KNOWN: Final = frozenset(ABBREVIATIONS) | CANONICAL_WORDS

# Costs of the segmenter (lower is better). A known piece costs 1; a piece the
# tables do not know costs more the longer it is, so "sump" stays one unknown
# token rather than "s" + "ump". Cutting where the writer put a CamelCase hump
# is free; cutting inside a lower-case run is not.
_KNOWN_COST: Final = 1.0
_LETTER_COST: Final = 1.1  # a single-letter abbreviation from SEGMENT_ONLY
_UNKNOWN_COST: Final = 1.5
_UNKNOWN_PER_CHAR: Final = 0.5
_CUT_LOWER: Final = 0.7  # cut between two lower-case letters
_CUT_AFTER_CAPITALS: Final = 0.3  # "HWE|temp": capitals run on into a lower-case word
_CUT_WORD_START: Final = 1.5  # "D|econ": cutting a capitalised word after its first letter
_SPAN_HUMP: Final = 0.5  # a known piece that runs over a CamelCase hump ("ChW")
# The segmenter is cubic in the run's length. Real glued abbreviations are far
# shorter than this; a longer run (pasted text, a hash) stays one unknown word.
_MAX_SEGMENT_RUN: Final = 40


def tokenize(name: str) -> list[Token]:
    """Cut ``name`` into lower-case tokens, numbers flagged.

    ``"CH1_EntChwTemp"`` -> ``ch, 1, ent, chw, temp``. Never raises; text with
    no letters or digits gives an empty list.
    """
    text = name
    for pattern, replacement in _PROTECT:
        text = pattern.sub(replacement, text)
    tokens: list[Token] = []
    for chunk in _CHUNK.findall(text):
        if chunk.isdigit():
            tokens.append((chunk, True))
            continue
        lower = chunk.lower()
        # "DA-T", "ZN-T", "CHW-RT": a short piece cut off an abbreviation.
        if len(chunk) <= 2 and tokens and not tokens[-1][1]:
            merged = tokens[-1][0] + lower
            if merged in ABBREVIATIONS:
                tokens[-1] = (merged, False)
                continue
        tokens.extend((piece, False) for piece in _split_letters(chunk))
    return tokens


def clear_caches() -> None:
    """Forget memoised segmentations (for benchmarks that time a cold start)."""
    _segment.cache_clear()
    _misspelt.cache_clear()


# Misspellings: a long unknown word one edit (insert, delete, substitute or swap
# two neighbours) away from exactly one long known word is that word
# ("Condesner", "Freqency"). Short words are left alone: "Delay" is not "delta".
_MIN_FUZZY_LENGTH: Final = 7


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _build_fuzzy_index() -> dict[str, frozenset[str]]:
    index: dict[str, set[str]] = {}
    for key in _KNOWN:
        if len(key) >= _MIN_FUZZY_LENGTH - 1 and key.isalpha():
            for variant in _deletions(key) | {key}:
                index.setdefault(variant, set()).add(key)
    return {variant: frozenset(keys) for variant, keys in index.items()}


_FUZZY_INDEX: Final = _build_fuzzy_index()


def _one_edit_apart(a: str, b: str) -> bool:
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        i, j = diff[0], diff[-1]
        return len(diff) == 2 and j == i + 1 and a[i] == b[j] and a[j] == b[i]
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


@lru_cache(maxsize=4096)
def _misspelt(word: str) -> str | None:
    """The one known word ``word`` is a misspelling of, if there is exactly one."""
    candidates: set[str] = set()
    for variant in _deletions(word) | {word}:
        candidates |= _FUZZY_INDEX.get(variant, frozenset())
    matches = {key for key in candidates if _one_edit_apart(word, key)}
    return matches.pop() if len(matches) == 1 else None


def _split_letters(run: str) -> tuple[str, ...]:
    lower = run.lower()
    if lower in _KNOWN:
        return (lower,)
    # Plurals: "Temps", "Pumps", "Volts" (tables hold the singular).
    if lower.endswith("s") and lower[:-1] in _KNOWN:
        return (lower[:-1],)
    if len(run) == 1 or lower in SEGMENT_ONLY:
        return (lower,)  # a lone "A" or "(CC)" is not a segment-only abbreviation
    if len(run) > _MAX_SEGMENT_RUN:
        return (lower,)
    pieces = _segment(run)
    # Only a run the tables cannot read in full may be a misspelling.
    if len(lower) >= _MIN_FUZZY_LENGTH and any(piece not in _KNOWN for piece in pieces):
        corrected = _misspelt(lower)
        if corrected is not None:
            return (corrected,)
    return pieces


@lru_cache(maxsize=4096)
def _segment(run: str) -> tuple[str, ...]:
    """Best split of one letter run into known pieces (cheapest by the costs above)."""
    n = len(run)
    lower = run.lower()
    # cut_cost[i]: cost of cutting before position i; hump[i]: a CamelCase hump at i.
    cut_cost = [0.0] * (n + 1)
    hump = [False] * (n + 1)
    inside_word = [False] * (n + 1)
    for i in range(1, n):
        prev, cur = run[i - 1], run[i]
        nxt = run[i + 1] if i + 1 < n else ""
        if prev.islower() and cur.isupper():
            hump[i] = True
        elif prev.isupper() and cur.isupper() and nxt.islower():
            hump[i] = True  # "ChwDifSP": the D starts a new word
        elif prev.islower() and cur.islower():
            cut_cost[i] = _CUT_LOWER
            inside_word[i] = True
        elif prev.isupper() and cur.islower():
            after_capitals = i >= 2 and run[i - 2].isupper()
            cut_cost[i] = _CUT_AFTER_CAPITALS if after_capitals else _CUT_WORD_START
    best: list[float] = [0.0] + [float("inf")] * n
    # back[end] = (start, kind) of the cheapest last piece; kind is "known",
    # "letter" (a SEGMENT_ONLY abbreviation) or "unknown".
    back: list[tuple[int, str]] = [(0, "unknown")] * (n + 1)
    for end in range(1, n + 1):
        for start in range(end):
            piece = lower[start:end]
            if piece in _KNOWN:
                kind, cost = "known", _KNOWN_COST
            elif piece in SEGMENT_ONLY and run[start].isupper():
                kind, cost = "letter", _LETTER_COST
            elif inside_word[start] or inside_word[end]:
                # "Condition" is not "cond" + "ition": a word is only cut
                # between lower-case letters when both halves are known.
                continue
            else:
                kind, cost = "unknown", _UNKNOWN_COST + _UNKNOWN_PER_CHAR * len(piece)
            if kind != "unknown":
                cost += _SPAN_HUMP * sum(hump[start + 1 : end])
            total = best[start] + cost + cut_cost[start]
            if total < best[end]:
                best[end], back[end] = total, (start, kind)
    pieces: list[tuple[str, str]] = []
    end = n
    while end > 0:
        start, kind = back[end]
        pieces.append((lower[start:end], kind))
        end = start
    pieces.reverse()
    out: list[str] = []
    for piece, kind in pieces:
        if kind == "letter":
            out.extend(SEGMENT_ONLY[piece])
        elif kind == "unknown" and out and out[-1] not in _KNOWN:
            out[-1] += piece  # two unknown pieces side by side are one unknown word
        else:
            out.append(piece)
    return tuple(out)


# Canonical bigrams rewritten after expansion, where a word's meaning depends
# on its neighbour: "SP Drv" is supply drive (not setpoint), "Out Air" is
# outside air, "Hot Deck" is a deck (not hot water), "Heating Hot Water" is
# just hot water, "Power Factor" is one quantity.
_SUPPLIED: Final = frozenset({"vfd", "fan", "air"})
_REWRITES: Final[dict[tuple[str, str], tuple[str, ...]]] = {
    ("wet", "bulb"): ("wetbulb",),
    ("on", "off"): ("start", "stop"),
    ("fan", "coil"): ("fcu",),
    ("unit", "ventilator"): ("unitvent",),
    ("weather", "station"): ("weatherstation",),
    ("dual", "discharge"): ("dualduct",),  # "Dual Duct": "duct" alone is discharge air
    ("dew", "point"): ("dewpoint",),
    ("carbon", "monoxide"): ("carbonmonoxide",),
    ("flue", "gas"): ("flue",),
    ("high", "limit"): ("max", "limit"),
    ("cloud", "cover"): ("cloudage",),
    ("heating", "pump"): ("heatpump",),
    ("cooling", "tower"): ("tower",),  # the kind of tower, not a cooling qualifier
    ("weather", "condition"): ("weather", "weathercond"),
    ("sky", "condition"): ("weather", "weathercond"),
    ("low", "limit"): ("min", "limit"),
    ("night", "setback"): ("unoccupied", "setpoint"),  # combustion products, not natural gas
    ("fuel", "oil"): ("fueloil",),
    ("feels", "like"): ("feelslike",),
    ("light", "level"): ("illuminance",),
    ("lighting", "level"): ("illuminance",),
    ("neutral", "deck"): ("neutraldeck", "deck"),
    ("make", "up"): ("makeup",),
    ("freeze", "thermostat"): ("freeze", "alarm"),  # a freezestat is a low-limit switch
    ("volume", "flow"): ("flow",),
    ("output", "air"): ("outside", "air"),
    ("hot", "deck"): ("hotdeck", "deck"),
    ("cold", "deck"): ("colddeck", "deck"),
    ("cooling", "deck"): ("colddeck", "deck"),
    ("heating", "deck"): ("hotdeck", "deck"),
    ("heating", "recovery"): ("heat", "recovery"),
    ("heating", "exchanger"): ("heat", "exchanger"),
    ("heating", "hot"): ("hot",),
    ("chiller", "water"): ("chilled", "water"),
    ("power", "factor"): ("pf",),
    ("natural", "gas"): ("naturalgas",),
    ("efficiency", "cooling"): ("effective", "cooling"),  # "EffClgSp"
    ("efficiency", "heating"): ("effective", "heating"),
    ("efficiency", "setpoint"): ("effective", "setpoint"),
    ("humidity", "enable"): ("humidifier", "enable"),
    ("humidity", "valve"): ("humidifier", "valve"),
    ("humidity", "command"): ("humidifier", "command"),
    ("humidify", "command"): ("humidifier", "command"),
}


def expand(tokens: Sequence[Token]) -> list[Token]:
    """Replace each abbreviation with its canonical words; unknown tokens pass through.

    Numbers pass through unchanged; the bigram rewrites of :func:`rewrite_pairs`
    are applied to each run of words between numbers.
    """
    out: list[Token] = []
    run: list[str] = []
    for text, is_number in tokens:
        if is_number:
            out.extend((word, False) for word in rewrite_pairs(run))
            out.append((text, True))
            run = []
        else:
            run.extend(ABBREVIATIONS.get(text, (text,)))
    out.extend((word, False) for word in rewrite_pairs(run))
    return out


def rewrite_pairs(words: Sequence[str]) -> list[str]:
    """Apply the canonical bigram rewrites (``sp vfd`` -> ``supply vfd``, ...)."""
    # "SP" is supply before a fan, drive or air ("SP Drv"), else a setpoint;
    # decided first, so the pairs below see "setpoint" ("Eff Sp" is effective).
    words = [
        ("supply" if nxt in _SUPPLIED else "setpoint") if word == "sp" else word
        for word, nxt in zip(words, [*words[1:], ""], strict=False)
    ]
    result: list[str] = []
    i = 0
    while i < len(words):
        replacement = _REWRITES.get((words[i], words[i + 1])) if i + 1 < len(words) else None
        if replacement is not None:
            result.extend(replacement)
            i += 2
        else:
            result.append(words[i])
            i += 1
    return result
