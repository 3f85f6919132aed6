"""Project Haystack 4 auto-tagging: the public entry points.

The implementation lives in :mod:`opencrate.model.tagging` (vocabulary tables,
tokenizer, point and equipment rules); see ``docs/reference/tagging.md``.
"""

from __future__ import annotations

from opencrate.model.tagging.conventions import Conventions, TaggedExample, learn_conventions
from opencrate.model.tagging.equips import explain_equip_tags, suggest_equip_tags
from opencrate.model.tagging.evidence import DEFAULT_REVIEW_THRESHOLD, TagReason, TagSuggestion
from opencrate.model.tagging.nodes import explain_node
from opencrate.model.tagging.points import explain_point_tags, suggest_point_tags

__all__ = [
    "DEFAULT_REVIEW_THRESHOLD",
    "Conventions",
    "TagReason",
    "TagSuggestion",
    "TaggedExample",
    "explain_equip_tags",
    "explain_node",
    "explain_point_tags",
    "learn_conventions",
    "suggest_equip_tags",
    "suggest_point_tags",
]
