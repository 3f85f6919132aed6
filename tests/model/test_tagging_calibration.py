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


# A site where a person tagged a VAV's unnamed temperature and humidity as the
# discharge air's, not the zone's the rules assume by default.
VAV = {"equip_tags": {"vav", "equip"}}
DISCHARGE = {"point", "discharge", "air", "sensor"}
SITE = examples(
    ("Temp", {"unit": "°F", **VAV}, DISCHARGE | {"temp"}),
    ("Tmp", {"unit": "°F", **VAV}, DISCHARGE | {"temp"}),
    ("RH", {"unit": "%RH", **VAV}, DISCHARGE | {"humidity"}),
)


def test_share_right_is_smoothed_toward_the_written_confidence() -> None:
    table = calibrate_confidence(SITE, prior_weight=0.0 + 1.0)
    # default-section added zone (wrong) and air (right) to all three: 3 of 6.
    written = RULE_CONFIDENCE["default-section"]
    assert table["default-section"] == pytest.approx((3 + 1.0 * written) / (6 + 1.0))
    # Every written rule has a value, measured or not, except the uncalibrated ones.
    assert set(RULE_CONFIDENCE) - UNCALIBRATED_RULES <= set(table)
    assert not set(table) & UNCALIBRATED_RULES


def test_per_tag_shares_are_keyed_rule_slash_tag() -> None:
    table = calibrate_confidence(SITE, per_tag=True)
    assert table["default-section/zone"] < table["default-section"] < table["default-section/air"]
    plain = calibrate_confidence(SITE)
    assert not any("/" in key for key in plain)


def test_ignored_tags_are_not_counted() -> None:
    counted = calibrate_confidence(SITE, prior_weight=1.0)
    ignored = calibrate_confidence(SITE, prior_weight=1.0, ignore={"zone", "air"})
    assert ignored["default-section"] == RULE_CONFIDENCE["default-section"]  # no example left
    assert counted["default-section"] < ignored["default-section"]


def test_recalibrated_suggestion_flags_what_the_measure_doubts() -> None:
    suggestion = explain_point_tags("Temp", unit="°F", **VAV)  # type: ignore[arg-type]
    assert not suggestion.needs_review
    table = calibrate_confidence(SITE, per_tag=True)
    doubted = recalibrate(suggestion, table)
    assert doubted.tags == suggestion.tags
    assert doubted.low_confidence == {"zone"}
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
    assert confidence_of("default-section", "zone") == MEASURED_CONFIDENCE.get(
        "default-section/zone", MEASURED_CONFIDENCE["default-section"]
    )
    assert confidence_of("fallback", "sensor") == RULE_CONFIDENCE["fallback"]
    assert confidence_of("object-type", "sensor") == RULE_CONFIDENCE["object-type"]
    assert all(0.0 < value <= 1.0 for value in MEASURED_CONFIDENCE.values())
    assert not {key.split("/")[0] for key in MEASURED_CONFIDENCE} & UNCALIBRATED_RULES


def test_a_guess_the_evaluation_set_disagrees_with_is_for_review() -> None:
    # kWh alone as a running total: measured wrong on most points that have it.
    suggestion = explain_point_tags("Energy Reg", unit="kWh")
    assert suggestion.reasons["hisTotalized"].rule == "unit-guess"
    assert "hisTotalized" in suggestion.low_confidence
    assert suggestion.needs_review


def test_a_rule_never_wrong_is_still_not_certain() -> None:
    sure = examples(
        *[("Zone Temp", {"unit": "°F"}, {"point", "zone", "air", "temp", "sensor"})] * 50
    )
    table = calibrate_confidence(sure, per_tag=True)
    assert table["word"] == 0.99
    assert table["word/temp"] == 0.99
