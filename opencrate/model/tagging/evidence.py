"""Why a tag was suggested: the rule, what it read, and how sure it is.

The point and equipment rules add tags to a :class:`TagSet`, a set that
remembers, for each tag, the rule that was running when it was added (set by
``with tags.rule(...)``). The result is a :class:`TagSuggestion`: the tags, a
:class:`TagReason` for each, and ``needs_review`` when any tag's confidence
is below the review threshold, so a caller that creates nodes (the BACnet
accept flow) can flag the point for a person instead of applying the tags
silently.

Confidence is a number in [0, 1]: for the rules the evaluation set
exercises, how often that rule's tag was right there
(:data:`~.measured.MEASURED_CONFIDENCE`, written by ``benchmarks/tagging.py
--write-calibration``; the benchmark checks it leave-one-building-out); for the
others, the written ranking :data:`RULE_CONFIDENCE` (a word the abbreviation
table spells out is surer than the fallback "anything else is a sensor"). The
classes and their values are listed in ``docs/reference/tagging.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Final

from attrs import field, frozen

from opencrate.model.tagging.measured import MEASURED_CONFIDENCE

__all__ = [
    "DEFAULT_REVIEW_THRESHOLD",
    "RULE_CONFIDENCE",
    "TagReason",
    "TagSet",
    "TagSuggestion",
    "confidence_of",
]

# Below this, a suggested tag wants a person's eye (see TagSuggestion.needs_review).
DEFAULT_REVIEW_THRESHOLD: Final = 0.6

# Rule class -> confidence of the tags it adds. The names are what --explain prints.
RULE_CONFIDENCE: Final[Mapping[str, float]] = MappingProxyType(
    {
        "object-type": 0.95,  # AI/BI/AO/BO, Modbus input register or coil
        "word": 0.95,  # a word of the name, context-free (Temp -> temp)
        "object-address": 0.85,  # the name starts with an object address (AI3, BO-2)
        "grammar": 0.9,  # the name's grammar (Stpt at the end -> sp; Status -> sensor)
        "section": 0.85,  # supply/return read for air or water
        "unit": 0.85,  # the unit names the quantity (kWh -> energy)
        "qualifier": 0.8,  # cooling vs cool, occupied -> occ
        "implied": 0.8,  # what the words imply (CO2 -> air; a water qualifier -> water)
        "equip-points": 0.8,  # equipment kind from the points it has
        "convention": 0.75,  # a site convention learned from tagged points
        "equip-context": 0.7,  # what a point inherits from its equipment
        "subject": 0.7,  # the equipment a point is about (Chiller Status)
        "default-section": 0.6,  # a VAV's damper is its discharge damper
        "unit-guess": 0.6,  # what a unit usually means (kWh is usually a running total)
        "function-guess": 0.55,  # function from weak evidence (a Bool naming a component)
        "soft-point": 0.55,  # AV/BV/MSV with nothing in the name: sp
        "fallback": 0.4,  # nothing in the name decides: sensor
    }
)


def confidence_of(rule: str, tag: str) -> float:
    """The confidence of ``tag`` added by ``rule``: as measured, else as written.

    :data:`~.measured.MEASURED_CONFIDENCE` holds how often each rule (and each
    rule's tag) was right on the evaluation set; rules it does not measure keep
    :data:`RULE_CONFIDENCE`.
    """
    measured = MEASURED_CONFIDENCE.get(f"{rule}/{tag}")
    if measured is None:
        measured = MEASURED_CONFIDENCE.get(rule)
    return RULE_CONFIDENCE[rule] if measured is None else measured


@frozen(kw_only=True)
class TagReason:
    """Why one tag was suggested: ``rule`` (a key of :data:`RULE_CONFIDENCE`),
    ``detail`` (what it read, in words) and ``confidence``."""

    tag: str
    rule: str
    detail: str
    confidence: float


def _frozen_reasons(reasons: Mapping[str, TagReason]) -> Mapping[str, TagReason]:
    return MappingProxyType(dict(reasons))


@frozen(kw_only=True)
class TagSuggestion:
    """The tags suggested for one point or piece of equipment, with their reasons.

    ``words`` is how the name was read (canonical words, in order); ``unknown``
    the words of the name the tables did not know. ``needs_review`` is true when a tag
    is less sure than ``review_threshold`` or the name had no word the tables
    know: a caller creating nodes should flag them, not apply them silently.
    """

    tags: frozenset[str]
    reasons: Mapping[str, TagReason] = field(converter=_frozen_reasons)
    words: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()
    review_threshold: float = DEFAULT_REVIEW_THRESHOLD

    @property
    def confidence(self) -> float:
        """The least confidence of any tag (1.0 when every tag is a given)."""
        return min((reason.confidence for reason in self.reasons.values()), default=1.0)

    @property
    def low_confidence(self) -> frozenset[str]:
        """The tags less sure than the review threshold."""
        return frozenset(
            tag for tag, reason in self.reasons.items() if reason.confidence < self.review_threshold
        )

    @property
    def needs_review(self) -> bool:
        return bool(self.low_confidence) or (bool(self.unknown) and not self._known_words)

    @property
    def _known_words(self) -> bool:
        return any(word not in self.unknown for word in self.words)

    def explain(self) -> list[str]:
        """Human-readable lines: how the name was read, then one line per tag."""
        lines = [f"read as: {' '.join(self.words) or '-'}"]
        if self.unknown:
            lines.append(f"unknown words: {' '.join(self.unknown)}")
        for tag in sorted(self.reasons, key=lambda t: (-self.reasons[t].confidence, t)):
            reason = self.reasons[tag]
            flag = "  (review)" if reason.confidence < self.review_threshold else ""
            lines.append(f"{tag:<14} {reason.confidence:.2f}  {reason.rule}: {reason.detail}{flag}")
        verdict = "needs review" if self.needs_review else "ok to apply"
        lines.append(f"verdict: {verdict} (threshold {self.review_threshold:.2f})")
        return lines


class _RuleScope:
    """``with tags.rule(...)``: a plain class, as the rules enter a few dozen per name."""

    __slots__ = ("_saved", "_scope", "_tags")

    def __init__(self, tags: TagSet, scope: tuple[str, str]) -> None:
        self._tags = tags
        self._scope = scope
        self._saved = scope

    def __enter__(self) -> TagSet:
        self._saved = self._tags._current
        self._tags._current = self._scope
        return self._tags

    def __exit__(self, *exc: object) -> None:
        self._tags._current = self._saved


class TagSet(set[str]):
    """A set of tags that remembers which rule added each one.

    Every way of adding (``add``, ``update``, ``|=``) records the rule set by
    the innermost :meth:`rule` block; removing a tag forgets its reason. A
    tag added again keeps its first (strongest-first rules run first) reason.
    """

    def __init__(self, tags: Iterable[str] = (), *, rule: str = "word", detail: str = "") -> None:
        super().__init__()
        self.reasons: dict[str, TagReason] = {}
        self._current: tuple[str, str] = (rule, detail)
        self.update(tags)

    def rule(self, rule: str, detail: str = "") -> _RuleScope:
        """Attribute the tags added inside the ``with`` block to ``rule`` (a RULE_CONFIDENCE key).

        Raises ``KeyError`` for a rule that is not in :data:`RULE_CONFIDENCE`.
        """
        if rule not in RULE_CONFIDENCE:
            raise KeyError(f"unknown tagging rule {rule!r}")
        return _RuleScope(self, (rule, detail))

    def add(self, tag: str, /) -> None:
        if tag not in self:
            rule, detail = self._current
            self.reasons[tag] = TagReason(
                tag=tag, rule=rule, detail=detail, confidence=confidence_of(rule, tag)
            )
            super().add(tag)

    def add_because(self, tag: str, rule: str, detail: str) -> None:
        """Add ``tag`` with its own reason, whatever block is running."""
        with self.rule(rule, detail):
            self.add(tag)

    def merge(self, other: TagSet) -> None:
        """Add ``other``'s tags with their own reasons (tags already here keep theirs)."""
        for tag in other:
            if tag not in self:
                self.reasons[tag] = other.reasons[tag]
                super().add(tag)

    def update(self, *others: Iterable[str]) -> None:
        for other in others:
            for tag in other:
                self.add(tag)

    def __ior__(self, other: Iterable[str]) -> TagSet:  # type: ignore[override,misc]
        self.update(other)
        return self

    def discard(self, tag: object, /) -> None:
        if isinstance(tag, str):
            self.reasons.pop(tag, None)
        super().discard(tag)

    def remove(self, tag: str, /) -> None:
        self.reasons.pop(tag, None)
        super().remove(tag)

    def difference_update(self, *others: Iterable[object]) -> None:
        for other in others:
            for tag in list(other):
                self.discard(tag)

    def __isub__(self, other: Iterable[object]) -> TagSet:
        self.difference_update(other)
        return self

    def suggestion(
        self,
        *,
        words: Iterable[str] = (),
        unknown: Iterable[str] = (),
        review_threshold: float = DEFAULT_REVIEW_THRESHOLD,
    ) -> TagSuggestion:
        """Freeze into a :class:`TagSuggestion`."""
        return TagSuggestion(
            tags=frozenset(self),
            reasons={tag: self.reasons[tag] for tag in self},
            words=tuple(words),
            unknown=tuple(unknown),
            review_threshold=review_threshold,
        )
