"""Site conventions: tag corrections learned from points a person has already tagged.

The rules of :mod:`.points` and :mod:`.equips` come from the Haystack 4 defs
and a general abbreviation table; they know nothing of one building's habits
(Utah writes ``relief`` where Haystack says ``exhaust``; one integrator tags a
VAV's reheat valve ``hot water`` and another does not). A
:class:`Conventions` holds such habits as plain corrections, *when a feature
is present, add (or remove) a tag*, learned by :func:`learn_conventions` from
examples a person tagged: the rules' own suggestion beside the tags the
person gave.

A feature is a string: ``w:<word>`` for a canonical word of the name
(``w:relief``), ``u:<unit>`` for the folded unit, ``e:<tag>`` for a tag of the
parent equipment, ``t:<tag>`` for a tag the rules suggested. A correction is
kept only when the examples agree on it (enough of them, few against it):
the learner is deterministic and never memorises a single record.

Pure data and pure functions: no I/O.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Sequence
from typing import Final, Literal

from attrs import frozen

from opencrate.model.tagging.vocabulary import fold_unit
from opencrate.model.tagging.words import read_name

__all__ = [
    "Conventions",
    "Correction",
    "TaggedExample",
    "equip_features",
    "learn_conventions",
    "point_features",
]

_FUNCTIONS: Final = frozenset({"sensor", "cmd", "sp"})
# Tags no name can tell and no convention should move.
_NEVER_LEARNED: Final = frozenset({"point", "equip", "site", "his", "cur", "writable"})


@frozen(kw_only=True)
class Correction:
    """When ``feature`` is present, ``action`` ``tag``.

    ``support`` is how many examples had the feature and a say on the tag;
    ``precision`` the share of them that agreed with the correction.
    """

    feature: str
    tag: str
    action: Literal["add", "remove"]
    support: int
    precision: float

    @property
    def rule(self) -> str:
        sign = "+" if self.action == "add" else "-"
        return f"convention {self.feature} -> {sign}{self.tag}"


@frozen(kw_only=True)
class TaggedExample:
    """One point or equipment a person tagged.

    ``features``: the features of the thing (see the module docstring);
    ``suggested``: what the rules suggested; ``expected``: what the person gave;
    ``source``: where it came from (a building, a dataset), for ``min_sources``.
    """

    features: frozenset[str]
    suggested: frozenset[str]
    expected: frozenset[str]
    source: str = ""


@frozen(kw_only=True)
class Conventions:
    """A set of learned corrections, applied in order (strongest first)."""

    corrections: tuple[Correction, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.corrections)

    def apply(
        self, features: Iterable[str], tags: frozenset[str]
    ) -> tuple[frozenset[str], tuple[tuple[Correction, str], ...]]:
        """The corrected tags, and each correction applied with the tag it moved.

        A correction that adds a function marker (``sensor``/``cmd``/``sp``)
        replaces the function the rules chose, so a point still has exactly one.
        Of two corrections that disagree on one tag, the first (strongest) wins.
        """
        present = frozenset(features) | {f"t:{tag}" for tag in tags}
        result = set(tags)
        decided: set[str] = set()
        applied: list[tuple[Correction, str]] = []
        for correction in self.corrections:
            tag = correction.tag
            if tag in decided or correction.feature not in present:
                continue
            if correction.action == "add" and tag not in result:
                if tag in _FUNCTIONS:
                    if not result & _FUNCTIONS or _FUNCTIONS & decided:
                        continue
                    decided |= result & _FUNCTIONS
                    result -= _FUNCTIONS
                result.add(tag)
            elif correction.action == "remove" and tag in result and tag not in _FUNCTIONS:
                result.discard(tag)
            else:
                continue
            decided.add(tag)
            applied.append((correction, tag))
        return frozenset(result), tuple(applied)


def point_features(
    names: Iterable[str], *, unit: str | None = None, equip_tags: Iterable[str] = ()
) -> frozenset[str]:
    """The features of a point for :class:`Conventions`: its words, unit and equipment tags."""
    features: set[str] = set()
    for name in names:
        if name and name.strip():
            parsed = read_name(name, what="point name")
            features.update(f"w:{word}" for word in parsed.written)
    if unit:
        features.add(f"u:{fold_unit(unit)}")
    features.update(f"e:{tag}" for tag in equip_tags if tag not in _NEVER_LEARNED)
    return frozenset(features)


def equip_features(name: str, *, point_tags: Iterable[frozenset[str]] = ()) -> frozenset[str]:
    """The features of equipment: its name's words and the tags its points carry (``p:<tag>``)."""
    features = {f"w:{word}" for word in read_name(name, what="equipment name").written}
    for tags in point_tags:
        features.update(f"p:{tag}" for tag in tags if tag not in _NEVER_LEARNED)
    return frozenset(features)


def learn_conventions(
    examples: Sequence[TaggedExample],
    *,
    min_support: int = 4,
    min_precision: float = 0.9,
    min_gain: int = 3,
    min_sources: int = 1,
) -> Conventions:
    """Learn the corrections the examples agree on.

    For each feature and tag: among the examples with the feature whose
    suggestion lacks the tag, ``add`` is kept when at least ``min_support``
    of them expected it, at least ``min_precision`` of those with a say did,
    and it gains at least ``min_gain`` right tags over the wrong ones it would
    add; ``remove`` likewise for a suggested tag that was not expected. With
    ``min_sources`` above 1, a correction must also be backed by examples from
    that many sources (buildings): one building's habit is not a convention.
    Deterministic: the order of ``examples`` does not matter.

    Raises ``ValueError`` when ``min_precision`` is not in (0, 1] or
    ``min_support`` is below 1.
    """
    if not 0.0 < min_precision <= 1.0:
        raise ValueError(f"min_precision must be in (0, 1], got {min_precision}")
    if min_support < 1:
        raise ValueError(f"min_support must be at least 1, got {min_support}")
    # (feature, tag) -> [agree, disagree] for adding and for removing.
    add_votes: dict[tuple[str, str], list[int]] = collections.defaultdict(lambda: [0, 0])
    remove_votes: dict[tuple[str, str], list[int]] = collections.defaultdict(lambda: [0, 0])
    # (action, feature, tag) -> the sources whose examples back the correction.
    backers: dict[tuple[str, str, str], set[str]] = collections.defaultdict(set)
    for example in examples:
        features = example.features | {f"t:{tag}" for tag in example.suggested}
        candidates = example.expected - example.suggested - _NEVER_LEARNED
        for feature in features:
            for tag in candidates:
                add_votes[(feature, tag)][0] += 1
                backers[("add", feature, tag)].add(example.source)
            for tag in example.suggested - _NEVER_LEARNED:
                votes = remove_votes[(feature, tag)]
                wrong = tag not in example.expected
                votes[0 if wrong else 1] += 1
                if wrong:
                    backers[("remove", feature, tag)].add(example.source)
    # Disagreement on adding: the feature was there, the tag was not suggested
    # and not expected either.
    totals: collections.Counter[str] = collections.Counter()
    lacking: collections.Counter[tuple[str, str]] = collections.Counter()
    for example in examples:
        features = example.features | {f"t:{tag}" for tag in example.suggested}
        totals.update(features)
        for feature in features:
            for tag in example.suggested:
                lacking[(feature, tag)] += 1  # had it already: no say on adding
    corrections: list[Correction] = []
    limits = (min_support, min_precision, min_gain)
    for (feature, tag), (agree, _) in add_votes.items():
        if len(backers[("add", feature, tag)]) < min_sources:
            continue
        if tag in _FUNCTIONS and not feature.startswith(("w:", "u:", "t:")):
            continue  # a function is the name's grammar, not a neighbour's tag
        said = totals[feature] - lacking[(feature, tag)]
        _keep(corrections, feature, tag, "add", agree, said - agree, limits)
    for (feature, tag), (agree, against) in remove_votes.items():
        if len(backers[("remove", feature, tag)]) < min_sources:
            continue
        if tag in _FUNCTIONS:
            continue
        _keep(corrections, feature, tag, "remove", agree, against, limits)
    corrections.sort(key=lambda c: (-(c.support * c.precision), -c.precision, c.feature, c.tag))
    return Conventions(corrections=tuple(corrections))


def _keep(
    out: list[Correction],
    feature: str,
    tag: str,
    action: Literal["add", "remove"],
    agree: int,
    against: int,
    limits: tuple[int, float, int],
) -> None:
    min_support, min_precision, min_gain = limits
    said = agree + against
    if agree < min_support or said == 0:
        return
    precision = agree / said
    if precision >= min_precision and agree - against >= min_gain:
        out.append(
            Correction(feature=feature, tag=tag, action=action, support=said, precision=precision)
        )
