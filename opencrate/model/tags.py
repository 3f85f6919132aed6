"""Project Haystack 4 auto-tagging: the public entry points.

The implementation lives in :mod:`opencrate.model.tagging` (vocabulary tables,
tokenizer, point and equipment rules); see ``docs/reference/tagging.md``.
"""

from __future__ import annotations

from opencrate.model.tagging.equips import suggest_equip_tags
from opencrate.model.tagging.points import suggest_point_tags

__all__ = ["suggest_equip_tags", "suggest_point_tags"]
