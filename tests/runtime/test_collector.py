from __future__ import annotations

import gc

from opencrate.runtime import collector


def test_tune_freezes_start_up_and_spaces_full_collections_and_undo_restores_both() -> None:
    before = gc.get_threshold()
    survivor: list[object] = [object()]  # a list: tracked by the collector
    undo = collector.tune()
    try:
        assert gc.get_threshold() == (before[0], before[1], collector.FULL_COLLECTION_EVERY)
        assert gc.get_freeze_count() > 0
        # What existed is out of every collection; what comes later is collected as usual.
        assert not any(o is survivor for o in gc.get_objects())
        later: list[object] = []
        later.append(later)  # a cycle made after start-up
        assert any(o is later for o in gc.get_objects())
    finally:
        undo()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    assert any(o is survivor for o in gc.get_objects())
