"""Rule confidences measured on tagged points, instead of written down.

Each rule class (``word``, ``section``, ``default-section``...) has a
confidence in :data:`~.evidence.RULE_CONFIDENCE`. :func:`calibrate_confidence`
replaces it by how often that rule's tags were right on points a person tagged
(a site's own, or another building's), pulled toward the prior confidence when
the rule made few tags there; :func:`recalibrate` re-reads a suggestion with
such a table, so ``needs_review`` flags the tags the measure says are unsure.

The benchmark (``benchmarks/tagging.py``) calibrates per fold: the confidence
used on a held-out building is what the rules earned on the *other* buildings.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from opencrate.model.tagging.evidence import RULE_CONFIDENCE, TagReason, TagSuggestion

__all__ = ["UNCALIBRATED_RULES", "calibrate_confidence", "recalibrate"]

# Rules that are guesses by design, not claims to measure: "nothing decides"
# (fallback), a soft point the name does not explain, and the evidence no
# evaluation set carries (object types, site conventions). They keep their
# written confidence, so what they add is always reviewed or always trusted.
# No measured confidence goes above this (see calibrate_confidence).
_CEILING = 0.99

UNCALIBRATED_RULES: frozenset[str] = frozenset(
    {"fallback", "soft-point", "object-type", "object-address", "convention", "equip-points"}
)


def calibrate_confidence(
    examples: Iterable[tuple[TagSuggestion, Iterable[str]]],
    *,
    prior: Mapping[str, float] = RULE_CONFIDENCE,
    prior_weight: float = 5.0,
    ignore: Iterable[str] = (),
    per_tag: bool = False,
) -> Mapping[str, float]:
    """Per rule class, the share of its tags that were right, smoothed toward ``prior``.

    ``examples`` are ``(suggestion, expected_tags)`` pairs: what the rules said
    about a point and the tags a person gave it. A rule that made ``n`` tags of
    which ``k`` were right gets ``(k + w * prior) / (n + w)`` with
    ``w = prior_weight``: a rule seen only a few times stays near its written
    confidence; and at most 0.99, as a rule never wrong on these points is
    still not certain on the next. Tags in ``ignore`` (runtime markers such as ``his``) are not
    counted. Every rule of ``prior`` is in the result, except
    :data:`UNCALIBRATED_RULES` (left out: they keep their written confidence).

    With ``per_tag``, each (rule, tag) pair is also measured, under the key
    ``"rule/tag"`` (``"word/hot"``), smoothed toward its rule's share: a rule
    that is right on most tags may still be unsure of one (``implied/air``).

    Raises :class:`ValueError` when ``prior_weight`` is negative, or zero while
    a rule of ``prior`` has no example (its share would be undefined).
    """
    if prior_weight < 0:
        raise ValueError(f"prior_weight must be zero or more, got {prior_weight}")
    skip = frozenset(ignore)
    made: Counter[str] = Counter()
    right: Counter[str] = Counter()
    made_by_tag: Counter[tuple[str, str]] = Counter()
    right_by_tag: Counter[tuple[str, str]] = Counter()
    for suggestion, expected in examples:
        wanted = frozenset(expected)
        for tag, reason in suggestion.reasons.items():
            if tag in skip or reason.rule in UNCALIBRATED_RULES:
                continue
            made[reason.rule] += 1
            right[reason.rule] += tag in wanted
            made_by_tag[reason.rule, tag] += 1
            right_by_tag[reason.rule, tag] += tag in wanted
    table: dict[str, float] = {}
    for rule in {*prior, *made} - UNCALIBRATED_RULES:
        written = prior.get(rule, 0.5)
        if made[rule] + prior_weight == 0:
            raise ValueError(f"rule {rule!r} has no example and prior_weight is 0")
        share = (right[rule] + prior_weight * written) / (made[rule] + prior_weight)
        table[rule] = min(share, _CEILING)
    if per_tag:
        for (rule, tag), count in made_by_tag.items():
            share = (right_by_tag[rule, tag] + prior_weight * table[rule]) / (count + prior_weight)
            table[f"{rule}/{tag}"] = min(share, _CEILING)
    return MappingProxyType(table)


def recalibrate(
    suggestion: TagSuggestion,
    confidences: Mapping[str, float],
    *,
    review_threshold: float | None = None,
) -> TagSuggestion:
    """``suggestion`` with each tag's confidence taken from ``confidences``.

    A tag's confidence is ``confidences["rule/tag"]`` when present (see
    ``per_tag``), else ``confidences["rule"]``; rules missing from
    ``confidences`` keep the confidence they had. The tags and words are
    unchanged, and the threshold too unless ``review_threshold`` is given, so
    ``needs_review`` and ``low_confidence`` follow the new table.
    """
    reasons = {
        tag: TagReason(
            tag=tag,
            rule=reason.rule,
            detail=reason.detail,
            confidence=confidences.get(
                f"{reason.rule}/{tag}", confidences.get(reason.rule, reason.confidence)
            ),
        )
        for tag, reason in suggestion.reasons.items()
    }
    return TagSuggestion(
        tags=suggestion.tags,
        reasons=reasons,
        words=suggestion.words,
        unknown=suggestion.unknown,
        review_threshold=(
            suggestion.review_threshold if review_threshold is None else review_threshold
        ),
    )
