"""Project Haystack 4 auto-tagging from point and equipment names.

See ``docs/reference/tagging.md``. The public entry points are re-exported by
:mod:`opencrate.model.tags`.
"""
