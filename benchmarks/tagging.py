"""Measure the auto-tagger against the Haystack tag evaluation set.

Usage::

    .venv/bin/python benchmarks/tagging.py [EVAL_JSON] [--misses N]

``EVAL_JSON`` defaults to ``../shared/reference/haystack-tag-eval.json``
relative to the repository root. The set holds real points and equipment from
Project Haystack example buildings (alpha, bravo, carytown) and the State of
Utah tagging workbook, with the tags their authors gave them.

Scoring (architecture §4): micro-averaged precision and recall over tag sets.

* Left out of both sides: ``his``, ``cur``, ``writable`` (runtime facts a name
  cannot tell) and the entity markers ``point``/``equip``/``site`` (the node type
  says those, not the name).
* Left out of the expected side: the tags the eval itself lists as
  ``nonstandard_tags`` (``relief``, ``primary``, ``sump``...): they are not
  Haystack 4 vocabulary, which is all the tagger emits.
* Left out of the suggested side: ``supply``, the one non-Haystack tag the
  tagger emits on purpose (seed 000's rules).
* Records with non-empty ``review_flags`` are skipped (their expected tags
  contradict their own name).

Rows marked ``/strict`` apply only the letter of architecture §4 (leave out
``his``, ``cur``, ``writable``, ``point``; nothing else), for comparison.

Points are scored under three inputs: ``full`` (the display name, without the
equipment prefix), ``raw`` (only the abbreviated controller name, the hard
case) and ``full+raw`` (both, as when a discovered object has a description).
Every point also gets its equipment's *suggested* tags as context (never the
expected ones). Equipment is scored twice: on every tag, and without the AHU/VAV
configuration choices that no name carries (``hotWaterHeating``, ``singleDuct``,
``vavZone``...; haystack-reference §4).

``--misses N`` prints the N most frequent missed and extra tags, to guide work
on the vocabulary (never to special-case records).
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from attrs import define, field

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from opencrate.model.tagging.tokens import clear_caches  # noqa: E402
from opencrate.model.tags import suggest_equip_tags, suggest_point_tags  # noqa: E402

DEFAULT_EVAL = REPO_ROOT / ".." / "shared" / "reference" / "haystack-tag-eval.json"

UNSCORED = frozenset({"his", "cur", "writable", "point", "equip", "site"})
UNSCORED_SUGGESTED = frozenset({"supply"})
# The letter of architecture §4 alone: only these four left out, nothing else.
UNSCORED_STRICT = frozenset({"his", "cur", "writable", "point"})
CONFIGURATION_CHOICES = frozenset(
    {
        "hotWaterHeating",
        "elecHeating",
        "steamHeating",
        "naturalGasHeating",
        "dxHeating",
        "coolingOnly",
        "chilledWaterCooling",
        "dxCooling",
        "heatingOnly",
        "airCooling",
        "waterCooling",
        "constantAirVolume",
        "variableAirVolume",
        "vavZone",
        "directZone",
        "chilledBeamZone",
        "multiZone",
        "singleDuct",
        "dualDuct",
        "tripleDuct",
        "fanPowered",
        "thermostat",
        "siteMeter",
        "submeterOf",
    }
)


@define
class Score:
    records: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    function_ok: int = 0
    missed: collections.Counter[str] = field(factory=collections.Counter)
    extra: collections.Counter[str] = field(factory=collections.Counter)

    def add(self, expected: frozenset[str], got: frozenset[str]) -> None:
        self.records += 1
        self.tp += len(expected & got)
        self.fp += len(got - expected)
        self.fn += len(expected - got)
        functions = {"sensor", "cmd", "sp"}
        self.function_ok += expected & functions == got & functions
        self.missed.update(expected - got)
        self.extra.update(got - expected)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def display_name(record: dict[str, Any]) -> str:
    """The point's own name: the record name without its equipment's name in front."""
    name: str = record["name"]
    equip = record.get("equip_name")
    if equip and name.startswith(equip + " ") and len(name) > len(equip) + 1:
        return name[len(equip) + 1 :]
    return name


def equip_context(record: dict[str, Any]) -> frozenset[str]:
    equip = record.get("equip_name") or record.get("equip_context")
    return suggest_equip_tags(equip) if equip else frozenset()


def expected_tags(record: dict[str, Any], drop: Iterable[str] = ()) -> frozenset[str]:
    nonstandard = set(record.get("nonstandard_tags") or ())
    return frozenset(record["expected_tags"]) - UNSCORED - nonstandard - set(drop)


def score_points(records: list[dict[str, Any]]) -> dict[tuple[str, str], Score]:
    scores: dict[tuple[str, str], Score] = collections.defaultdict(Score)
    for record in records:
        expected = expected_tags(record)
        context = equip_context(record)
        common = {
            "unit": record.get("unit"),
            "value_kind": record.get("value_kind"),
            "object_type": record.get("object_type"),
            "equip_tags": context,
        }
        raw = record.get("raw_name")
        inputs: dict[str, tuple[str, str | None]] = {"full": (display_name(record), None)}
        if raw:
            inputs["raw"] = (raw, None)
            inputs["full+raw"] = (display_name(record), raw)
        strict_expected = frozenset(record["expected_tags"]) - UNSCORED_STRICT
        for mode, (name, raw_name) in inputs.items():
            suggested = suggest_point_tags(name, raw_name=raw_name, **common)
            got = suggested - UNSCORED - UNSCORED_SUGGESTED
            for dataset in (record["dataset"], "ALL"):
                scores[(mode, dataset)].add(expected, got)
            scores[(f"{mode}/strict", "ALL")].add(strict_expected, suggested - UNSCORED_STRICT)
    return scores


def score_equips(records: list[dict[str, Any]]) -> dict[tuple[str, str], Score]:
    scores: dict[tuple[str, str], Score] = collections.defaultdict(Score)
    for record in records:
        got = suggest_equip_tags(record["name"]) - UNSCORED - UNSCORED_SUGGESTED
        for mode, drop in (("all tags", frozenset()), ("no config", CONFIGURATION_CHOICES)):
            expected = expected_tags(record, drop)
            for dataset in (record["dataset"], "ALL"):
                scores[(mode, dataset)].add(expected, got - drop)
    return scores


def print_table(title: str, scores: dict[tuple[str, str], Score], *, functions: bool) -> None:
    print(f"\n{title}")
    header = f"{'input':<15} {'dataset':<9} {'n':>4} {'precision':>9} {'recall':>7} {'F1':>6}"
    if functions:
        header += f" {'function':>8}"
    print(header)
    print("-" * len(header))
    for (mode, dataset), score in sorted(
        scores.items(), key=lambda kv: (kv[0][0], kv[0][1] == "ALL", kv[0][1])
    ):
        line = (
            f"{mode:<15} {dataset:<9} {score.records:>4} {score.precision:>9.3f}"
            f" {score.recall:>7.3f} {score.f1:>6.3f}"
        )
        if functions:
            line += f" {score.function_ok / score.records:>8.3f}"
        print(line)


def print_misses(scores: dict[tuple[str, str], Score], count: int) -> None:
    for (mode, dataset), score in sorted(scores.items()):
        if dataset != "ALL" or mode.endswith("/strict"):
            continue
        print(f"\n[{mode}] most missed: {score.missed.most_common(count)}")
        print(f"[{mode}] most extra:  {score.extra.most_common(count)}")


def print_speed(records: list[dict[str, Any]], rounds: int) -> None:
    """Time suggest_point_tags over every point name, cold (empty caches) and warm."""
    calls = [
        (name, record.get("unit"), record.get("value_kind"))
        for record in records
        for name in (display_name(record), record.get("raw_name"))
        if name
    ]

    def one_pass() -> float:
        start = time.perf_counter()
        for name, unit, kind in calls:
            suggest_point_tags(name, unit=unit, value_kind=kind)
        return time.perf_counter() - start

    clear_caches()
    cold = one_pass()
    warm = min(one_pass() for _ in range(rounds))
    print(
        f"\nSPEED: {len(calls)} point names; cold (empty caches) {cold / len(calls) * 1e6:.1f} µs"
        f"/name, warm {warm / len(calls) * 1e6:.1f} µs/name ({len(calls) / warm:,.0f} names/s)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("eval_json", nargs="?", type=Path, default=DEFAULT_EVAL)
    parser.add_argument("--misses", type=int, default=0, help="print the N most missed/extra tags")
    parser.add_argument("--rounds", type=int, default=5, help="timing passes (best is printed)")
    args = parser.parse_args(argv)
    records = json.loads(args.eval_json.read_text(encoding="utf-8"))
    kept = [r for r in records if not r.get("review_flags")]
    points = [r for r in kept if r["kind"] == "point"]
    equips = [r for r in kept if r["kind"] == "equip"]
    print(
        f"{args.eval_json.name}: {len(records)} records, {len(records) - len(kept)} skipped "
        f"(review_flags), {len(points)} points, {len(equips)} equipment"
    )
    point_scores = score_points(points)
    equip_scores = score_equips(equips)
    print_table(
        "POINTS (micro-averaged; function = sensor/cmd/sp exactly right)",
        point_scores,
        functions=True,
    )
    print_table("EQUIPMENT", equip_scores, functions=False)
    print_speed(points, max(1, args.rounds))
    if args.misses:
        print_misses(point_scores, args.misses)
        print_misses(equip_scores, args.misses)


if __name__ == "__main__":
    main()
