"""From a name to the canonical words the tagging rules read.

Shared by the point and the equipment rules. The one job here beyond
:mod:`.tokens` is telling equipment *identifiers* apart from description: in
``"AHU-1 SAT"`` or ``"CH1_EntChwTemp"`` the ``AHU-1`` / ``CH1`` names the
equipment the point belongs to (context), it does not say the point is an AHU.
An equipment noun directly followed by a number is such an identifier.
"""

from __future__ import annotations

from typing import Final

from attrs import frozen

from opencrate.errors import InvalidInput
from opencrate.model.tagging.abbreviations import ABBREVIATIONS, CANONICAL_WORDS, SUFFIX_LETTERS
from opencrate.model.tagging.tokens import rewrite_pairs, tokenize

__all__ = ["EQUIP_NOUNS", "NameWords", "read_name"]

# Canonical words that name a kind of equipment.
EQUIP_NOUNS: Final = frozenset(
    {
        "ahu",
        "rtu",
        "doas",
        "mau",
        "vav",
        "cav",
        "fcu",
        "crac",
        "boiler",
        "chiller",
        "tower",
        "pump",
        "fan",
        "exchanger",
        "meter",
        "plant",
        "thermostat",
        "vfd",
        "motor",
        "system",
        "lighting",
        "panel",
        "circuit",
        "unitvent",
        "weatherstation",
        "luminaire",
        "heatpump",
    }
)


# Words that qualify an equipment identifier written right after them.
_IDENTIFIER_QUALIFIERS: Final = frozenset(
    {"hot", "water", "chilled", "condenser", "steam", "domestic", "primary", "secondary"}
)


@frozen(kw_only=True)
class NameWords:
    """What one name says.

    ``words``: canonical words describing the thing, in order (identifiers
    removed). ``context``: canonical words of equipment identifiers found in the
    name (``"CH1"`` -> ``chiller``). ``written``: every canonical word in the
    order written, identifiers included. ``letters``: lone one/two-letter tokens
    that were not abbreviations (phase names such as ``"A"``, ``"BN"``).
    ``unknown``: words the tables do not know (kept as written, lower case).
    """

    words: tuple[str, ...]
    context: tuple[str, ...]
    written: tuple[str, ...]
    letters: frozenset[str]
    unknown: tuple[str, ...] = ()

    @property
    def word_set(self) -> frozenset[str]:
        return frozenset(self.words)


def read_name(name: str, *, what: str = "name") -> NameWords:
    """Tokenise and expand ``name``.

    Raises :class:`InvalidInput` naming ``what`` when ``name`` is not a string
    or holds no letters or digits.
    """
    if not isinstance(name, str):
        raise InvalidInput(f"{what} must be a string, got {type(name).__name__}", field=what)
    tokens = tokenize(name)
    if not tokens:
        raise InvalidInput(f"{what} has no letters or digits: {name!r}", field=what)
    words: list[str] = []
    context: list[str] = []
    written: list[str] = []
    letters: set[str] = set()
    unknown: list[str] = []
    previous: list[str] = []  # the expansion of the previous token, if it went to words
    for index, (text, is_number) in enumerate(tokens):
        if is_number:
            previous = []
            continue
        expansion = list(ABBREVIATIONS.get(text, (text,)))
        after_word = index > 0 and not tokens[index - 1][1]
        if text in SUFFIX_LETTERS and after_word:
            expansion = list(SUFFIX_LETTERS[text])
        elif text == "spt" and not after_word:
            # "SPT" after a quantity is its setpoint ("SAT SPT"); standing first
            # or alone it is the space temperature (Carrier, ALC).
            expansion = ["zone", "air", "temperature"]
        if expansion == [text] and text not in CANONICAL_WORDS and len(text) > 2:
            unknown.append(text)
        written.extend(expansion)
        followed_by_number = index + 1 < len(tokens) and tokens[index + 1][1]
        if followed_by_number and EQUIP_NOUNS.intersection(expansion):
            # "HwBlr1": the qualifier right before an identifier belongs to it.
            if previous and set(previous) <= _IDENTIFIER_QUALIFIERS:
                del words[-len(previous) :]
                context.extend(previous)
            context.extend(expansion)
            previous = []
        else:
            words.extend(expansion)
            previous = expansion
            if expansion == [text] and len(text) <= 2:
                letters.add(text)
    # Bigram rewrites ("SP Drv" -> supply drive) need the whole sequence.
    return NameWords(
        words=tuple(rewrite_pairs(words)),
        context=tuple(context),
        written=tuple(rewrite_pairs(written)),
        letters=frozenset(letters),
        unknown=tuple(unknown),
    )
