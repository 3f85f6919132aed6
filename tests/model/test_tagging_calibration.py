"""Rule confidences measured on tagged points (opencrate/model/tagging/calibration.py)."""

from __future__ import annotations

import pytest

from opencrate.model.tagging.calibration import (
    UNCALIBRATED_RULES,
    calibrate_confidence,
    recalibrate,
)
from opencrate.model.tagging.evidence import RULE_CONFIDENCE, confidence_of
from opencrate.model.tagging.measured import MEASURED_CONFIDENCE
from opencrate.model.tags import TagSuggestion, explain_point_tags


def examples(
    *pairs: tuple[str, dict[str, object], set[str]],
) -> list[tuple[TagSuggestion, set[str]]]:
    return [(explain_point_tags(name, **kwargs), expected) for name, kwargs, expected in pairs]  # type: ignore[arg-type]


# A site where a person tagged two VAV dampers and a zone temperature, and
# does not want the default discharge section on dampers.
VAV = {"equip_tags": {"vav", "equip"}}
SITE = examples(
    ("Damper Position", {"unit": "%", **VAV}, {"point", "damper", "cmd"}),
    ("Damper Pos", {"unit": "%", **VAV}, {"point", "damper", "cmd"}),
    ("Zone Temp", {"unit": "°F"}, {"point", "zone", "air", "temp", "sensor"}),
)


def test_share_right_is_smoothed_toward_the_written_confidence() -> None:
    table = calibrate_confidence(SITE, prior_weight=0.0 + 1.0)
    # default-section added discharge and air to both dampers: 0 of 4 right.
    written = RULE_CONFIDENCE["default-section"]
    assert table["default-section"] == pytest.approx((0 + 1.0 * written) / (4 + 1.0))
    # Every written rule has a value, measured or not, except the uncalibrated ones.
    assert set(RULE_CONFIDENCE) - UNCALIBRATED_RULES <= set(table)
    assert not set(table) & UNCALIBRATED_RULES


def test_per_tag_shares_are_keyed_rule_slash_tag() -> None:
    table = calibrate_confidence(SITE, per_tag=True)
    assert "default-section/discharge" in table
    assert table["default-section/discharge"] < RULE_CONFIDENCE["default-section"]
    plain = calibrate_confidence(SITE)
    assert not any("/" in key for key in plain)


def test_ignored_tags_are_not_counted() -> None:
    counted = calibrate_confidence(SITE, prior_weight=1.0)
    ignored = calibrate_confidence(SITE, prior_weight=1.0, ignore={"discharge", "air"})
    assert ignored["default-section"] == RULE_CONFIDENCE["default-section"]  # no example left
    assert counted["default-section"] < ignored["default-section"]


def test_recalibrated_suggestion_flags_what_the_measure_doubts() -> None:
    suggestion = explain_point_tags("Damper Position", unit="%", **VAV)  # type: ignore[arg-type]
    table = calibrate_confidence(SITE, per_tag=True)
    doubted = recalibrate(suggestion, table, review_threshold=0.5)
    assert doubted.tags == suggestion.tags
    assert {"discharge", "air"} <= doubted.low_confidence
    assert doubted.needs_review
    # Rules missing from the table keep their confidence (point: object-type).
    assert doubted.reasons["point"].confidence == suggestion.reasons["point"].confidence


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prior_weight": -1.0}, "prior_weight must be zero or more"),
        ({"prior_weight": 0.0}, "has no example and prior_weight is 0"),
    ],
)
def test_bad_calibration_arguments_are_named(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        calibrate_confidence(SITE, **kwargs)


def test_shipped_confidences_are_the_measured_ones() -> None:
    # Measured rules take their measured value; the rest keep the written ranking.
    assert (
        confidence_of("default-section", "discharge")
        == MEASURED_CONFIDENCE["default-section/discharge"]
    )
    assert confidence_of("fallback", "sensor") == RULE_CONFIDENCE["fallback"]
    assert confidence_of("object-type", "sensor") == RULE_CONFIDENCE["object-type"]
    assert all(0.0 < value <= 1.0 for value in MEASURED_CONFIDENCE.values())
    assert not {key.split("/")[0] for key in MEASURED_CONFIDENCE} & UNCALIBRATED_RULES


def test_a_terminal_units_default_damper_section_is_for_review() -> None:
    # Measured right less than half the time: the default section is flagged.
    suggestion = explain_point_tags("Damper Position", unit="%", **VAV)  # type: ignore[arg-type]
    assert suggestion.reasons["discharge"].rule == "default-section"
    assert "discharge" in suggestion.low_confidence
    assert suggestion.needs_review
