"""Measure the auto-tagger against the Haystack tag evaluation set.

Usage::

    .venv/bin/python benchmarks/tagging.py [EVAL_JSON] [--misses N] [--rounds N]
        [--no-h3-renames] [--write-calibration]

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
* Haystack 3 markers on the expected side are read as their Haystack 4
  renames (:data:`H3_RENAMES`: ``rooftop`` is ``rtu``, ``co2`` is
  ``co2 concentration``).
* Records with non-empty ``review_flags`` are skipped (their expected tags
  contradict their own name).

Points are scored under three inputs: ``full`` (the display name, without the
equipment prefix), ``raw`` (only the abbreviated controller name, the hard
case) and ``full+raw`` (both, as when a discovered object has a description).
Every point also gets its equipment's *suggested* tags as context (never the
expected ones). Equipment is scored twice: on every tag, and without the AHU/VAV
configuration choices that no name carries (``hotWaterHeating``, ``singleDuct``,
``vavZone``...; haystack-reference §4); its points' suggested tags are evidence.

Three figures per dataset, side by side:

* ``rules``: the rules alone. They come from the Haystack 4 defs and a general
  abbreviation table and learn nothing from this set, so this figure is the same
  whichever dataset is held out.
* ``in-sample``: the rules plus conventions (:mod:`opencrate.model.tagging.conventions`)
  learned on all four datasets, the held-out one included: what tuning on the
  set would earn.
* ``leave-out``: the rules plus conventions learned on the *other* three
  datasets only (leave-one-building-out): nothing was fitted to the dataset
  being scored. The ``ALL`` row of this column pools the four held-out folds.

``--misses N`` prints the N most frequent missed and extra tags, to guide work
on the vocabulary (never to special-case records).

``CONFIDENCE`` shows, per rule class, its written confidence, the shipped
(measured) one, and the one measured on the *other* datasets for each held-out
dataset; then how well ``needs_review`` separates the points that have a wrong
tag, held out, with the written, the shipped (in-sample) and the per-fold
measured confidences. ``--write-calibration`` regenerates the shipped table
(``opencrate/model/tagging/measured.py``) from all four datasets.
``--no-h3-renames`` scores the authors' Haystack 3 markers as written.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import Any

from attrs import define, field

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from opencrate.model.tagging import tokens, words  # noqa: E402
from opencrate.model.tagging.abbreviations import CANONICAL_WORDS  # noqa: E402
from opencrate.model.tagging.calibration import calibrate_confidence, recalibrate  # noqa: E402
from opencrate.model.tagging.conventions import (  # noqa: E402
    Conventions,
    TaggedExample,
    equip_features,
    learn_conventions,
    point_features,
)
from opencrate.model.tagging.evidence import RULE_CONFIDENCE, TagSuggestion  # noqa: E402
from opencrate.model.tagging.measured import MEASURED_CONFIDENCE  # noqa: E402
from opencrate.model.tagging.tokens import clear_caches  # noqa: E402
from opencrate.model.tags import (  # noqa: E402
    explain_point_tags,
    suggest_equip_tags,
    suggest_point_tags,
)

# The shared reference sits beside the repository (or two levels up from a worktree).
_EVAL_NAME = Path("shared") / "reference" / "haystack-tag-eval.json"
_EVAL_PLACES = (REPO_ROOT.parent / _EVAL_NAME, REPO_ROOT.parent.parent / _EVAL_NAME)
DEFAULT_EVAL = next((p for p in _EVAL_PLACES if p.exists()), _EVAL_PLACES[0])

UNSCORED = frozenset({"his", "cur", "writable", "point", "equip", "site"})
UNSCORED_SUGGESTED = frozenset({"supply"})
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
        "pressureDependent",
        "pressureIndependent",
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


# Haystack 3 markers some authors still write, as Haystack 4 spells them
# (haystack-reference §1, Changes3to4.fandoc): Carytown's ``rooftop`` is ``rtu``,
# Utah's bare ``co2`` is ``co2 concentration``. The tagger emits Haystack 4 only.
H3_RENAMES: dict[str, frozenset[str]] = {
    "rooftop": frozenset({"rtu"}),
    "co2": frozenset({"co2", "concentration"}),
}


def expected_tags(record: dict[str, Any], drop: Iterable[str] = ()) -> frozenset[str]:
    """The authors' tags, Haystack 3 renames spelled as Haystack 4, less the unscored."""
    given = set(record["expected_tags"])
    for old, new in H3_RENAMES.items():
        if old in given:
            given |= new
    nonstandard = set(record.get("nonstandard_tags") or ()) - {
        tag for new in H3_RENAMES.values() for tag in new
    }
    return frozenset(given) - UNSCORED - nonstandard - set(drop)


@define
class Case:
    """One scored input: what the rules said, the features, what the authors gave."""

    dataset: str
    got: frozenset[str]
    features: frozenset[str]
    expected: frozenset[str]


Folds = dict[str, dict[tuple[str, str], Score]]


def point_cases(records: list[dict[str, Any]]) -> dict[str, list[Case]]:
    """Per input mode (full, raw, full+raw), one case per point."""
    cases: dict[str, list[Case]] = collections.defaultdict(list)
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
        for mode, (name, raw_name) in inputs.items():
            suggested = suggest_point_tags(name, raw_name=raw_name, **common)
            features = point_features(
                [n for n in (name, raw_name) if n], unit=record.get("unit"), equip_tags=context
            )
            got = suggested - UNSCORED - UNSCORED_SUGGESTED
            cases[mode].append(Case(record["dataset"], got, features, expected))
    return cases


def point_suggestion(record: dict[str, Any]) -> frozenset[str]:
    """A point's suggested tags from its display and controller names, as equipment evidence."""
    return suggest_point_tags(
        display_name(record),
        raw_name=record.get("raw_name"),
        unit=record.get("unit"),
        value_kind=record.get("value_kind"),
        equip_tags=equip_context(record),
    )


def equip_cases(
    records: list[dict[str, Any]], points: list[dict[str, Any]]
) -> dict[str, list[Case]]:
    """Per scoring (all tags, no config), one case per equipment."""
    by_equip: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for point in points:
        if point.get("equip_name"):
            by_equip[point["equip_name"]].append(point)
    cases: dict[str, list[Case]] = collections.defaultdict(list)
    for record in records:
        point_tags = [point_suggestion(p) for p in by_equip.get(record["name"], [])]
        suggested = suggest_equip_tags(record["name"], points=point_tags)
        got = suggested - UNSCORED - UNSCORED_SUGGESTED
        features = equip_features(record["name"], point_tags=point_tags)
        for mode, drop in (("all tags", frozenset()), ("no config", CONFIGURATION_CHOICES)):
            expected = expected_tags(record, drop)
            cases[mode].append(Case(record["dataset"], got - drop, features, expected))
    return cases


def score_folds(build: Callable[[str | None], dict[str, list[Case]]]) -> Folds:
    """Score every case three ways, keyed by fold, then (mode, dataset).

    ``rules``: the rules alone; ``in``: plus conventions learned on every
    dataset (in-sample); ``loo``: for each dataset, conventions learned on the
    *other* datasets only, and the case rebuilt without the vocabulary that
    only that dataset's names taught (:data:`SEEN_IN_ONE`); ``loo-rules``: that
    vocabulary removed, no conventions (the tagger as shipped, held out).
    ``build(held_out)`` makes the cases, with that dataset's vocabulary
    removed (``None``: the full vocabulary).
    """
    folds: Folds = {
        name: collections.defaultdict(Score) for name in ("rules", "in", "loo", "loo-rules")
    }
    full = build(None)
    datasets = sorted({case.dataset for cases in full.values() for case in cases})
    rebuilt = {}
    for held_out in datasets:
        with without_vocabulary(held_out):
            rebuilt[held_out] = build(held_out)
    for mode, mode_cases in full.items():
        everything = learn(mode_cases)
        for case in mode_cases:
            for fold, conventions in (("rules", Conventions()), ("in", everything)):
                got, _ = conventions.apply(case.features, case.got)
                for dataset in (case.dataset, "ALL"):
                    folds[fold][(mode, dataset)].add(case.expected, got)
        for held_out in datasets:
            conventions = learn([c for c in mode_cases if c.dataset != held_out])
            for case in rebuilt[held_out].get(mode, []):
                if case.dataset != held_out:
                    continue
                got, _ = conventions.apply(case.features, case.got)
                for dataset in (case.dataset, "ALL"):
                    folds["loo"][(mode, dataset)].add(case.expected, got)
                    folds["loo-rules"][(mode, dataset)].add(case.expected, case.got)
    return folds


# Vocabulary traced to one dataset's names only, with no general source we
# know of (a vendor's point list, a standard, plain English): removed from
# that dataset's leave-out fold. Everything else in the abbreviation table is
# a common BMS abbreviation (SAT, CHWS, Clg, Dmpr, Stpt...) or plain English.
SEEN_IN_ONE: dict[str, tuple[frozenset[str], frozenset[tuple[str, str]]]] = {
    "alpha": (frozenset({"cmnd", "desired", "reading", "dd"}), frozenset()),
    "bravo": (
        frozenset({"leav"}),
        frozenset({("humidity", "enable"), ("humidity", "valve")}),
    ),
    "carytown": (frozenset(), frozenset()),
    "utah": (
        # ctp and med are common (CTP-1, Hi/Med/Lo fan speeds) but were added
        # after reading Utah's misses: out of its fold all the same.
        frozenset({"chr", "ghw", "economize", "closed", "cp", "ctp", "med"}),
        frozenset({("chiller", "water"), ("humidify", "command")}),
    ),
}


@contextmanager
def without_vocabulary(dataset: str) -> Iterator[None]:
    """Run with :data:`SEEN_IN_ONE`'s entries for ``dataset`` taken out of the tables."""
    keys, pairs = SEEN_IN_ONE.get(dataset, (frozenset(), frozenset()))
    saved = (tokens.ABBREVIATIONS, tokens._KNOWN, tokens._FUZZY_INDEX, tokens._REWRITES)
    saved_words = words.ABBREVIATIONS
    table = MappingProxyType({k: v for k, v in tokens.ABBREVIATIONS.items() if k not in keys})
    try:
        tokens.ABBREVIATIONS = words.ABBREVIATIONS = table  # type: ignore[misc]
        tokens._KNOWN = frozenset(table) | CANONICAL_WORDS  # type: ignore[misc]
        tokens._FUZZY_INDEX = tokens._build_fuzzy_index()  # type: ignore[misc]
        tokens._REWRITES = {  # type: ignore[misc]
            pair: words_ for pair, words_ in saved[3].items() if pair not in pairs
        }
        tokens.clear_caches()
        yield
    finally:
        tokens.ABBREVIATIONS, tokens._KNOWN, tokens._FUZZY_INDEX, tokens._REWRITES = saved  # type: ignore[misc]
        words.ABBREVIATIONS = saved_words  # type: ignore[misc]
        tokens.clear_caches()


# A convention must hold in this many buildings (datasets) of the training folds.
MIN_SOURCES = 2


def learn(cases: list[Case]) -> Conventions:
    examples = [
        TaggedExample(features=c.features, suggested=c.got, expected=c.expected, source=c.dataset)
        for c in cases
    ]
    return learn_conventions(examples, min_sources=MIN_SOURCES)


def print_table(title: str, folds: Folds, *, functions: bool) -> None:
    print(f"\n{title}")
    columns = (
        ("rules", "rules"),
        ("in", "in-sample"),
        ("loo", "leave-out"),
        ("loo-rules", "out, rules"),
    )
    header = f"{'input':<10} {'dataset':<9} {'n':>4}"
    for _, label in columns:
        header += f" | {label:>10} P {'R':>5}"
    if functions:
        header += f" | {'fn in':>5} {'fn out':>6}"
    print(header)
    print("-" * len(header))
    keys = sorted(folds["rules"], key=lambda k: (k[0], k[1] == "ALL", k[1]))
    for key in keys:
        line = f"{key[0]:<10} {key[1]:<9} {folds['rules'][key].records:>4}"
        for fold, _ in columns:
            score = folds[fold][key]
            line += f" | {score.precision:>12.3f} {score.recall:>5.3f}"
        if functions:
            inside, out = folds["in"][key], folds["loo"][key]
            line += (
                f" | {inside.function_ok / inside.records:>5.3f}"
                f" {out.function_ok / out.records:>6.3f}"
            )
        print(line)


def print_misses(scores: dict[tuple[str, str], Score], count: int) -> None:
    for (mode, dataset), score in sorted(scores.items()):
        if dataset != "ALL":
            continue
        print(f"\n[{mode}] most missed: {score.missed.most_common(count)}")
        print(f"[{mode}] most extra:  {score.extra.most_common(count)}")


def explain_record(record: dict[str, Any]) -> TagSuggestion:
    """The explained suggestion for a point from its display and controller names."""
    return explain_point_tags(
        display_name(record),
        raw_name=record.get("raw_name"),
        unit=record.get("unit"),
        value_kind=record.get("value_kind"),
        equip_tags=equip_context(record),
    )


@define
class ReviewScore:
    """How well ``needs_review`` separates the points with a wrong tag."""

    flagged: int = 0
    flagged_wrong: int = 0
    kept: int = 0
    kept_wrong: int = 0

    def add(self, suggestion: TagSuggestion, expected: frozenset[str]) -> None:
        wrong = bool(suggestion.tags - UNSCORED - UNSCORED_SUGGESTED - expected)
        if suggestion.needs_review:
            self.flagged += 1
            self.flagged_wrong += wrong
        else:
            self.kept += 1
            self.kept_wrong += wrong

    def line(self) -> str:
        total = self.flagged + self.kept
        flagged = self.flagged_wrong / self.flagged if self.flagged else 0
        kept = self.kept_wrong / self.kept if self.kept else 0
        return (
            f"flagged {self.flagged:>3} of {total:>3}: {flagged:>4.0%} of them have a wrong"
            f" tag, {kept:>4.0%} of the others"
        )


def print_confidence(records: list[dict[str, Any]]) -> None:
    """Per rule class, how often its tags are right, and whether needs_review finds the
    points with a wrong tag: with the shipped confidences, and calibrated per fold (the
    confidence used on a dataset is what each rule earned on the *other* datasets)."""
    ignore = UNSCORED | UNSCORED_SUGGESTED
    datasets = sorted({r["dataset"] for r in records})
    pooled = [(explain_record(r), expected_tags(r)) for r in records]
    made: collections.Counter[str] = collections.Counter()
    right: collections.Counter[str] = collections.Counter()
    for suggestion, expected in pooled:
        for tag, reason in suggestion.reasons.items():
            if tag not in ignore:
                made[reason.rule] += 1
                right[reason.rule] += tag in expected
    folds: dict[str, Any] = {}
    shipped, calibrated, written = ReviewScore(), ReviewScore(), ReviewScore()
    per_fold: dict[str, tuple[ReviewScore, ReviewScore]] = {}
    for held_out in datasets:
        training = [
            pair for pair, r in zip(pooled, records, strict=True) if r["dataset"] != held_out
        ]
        folds[held_out] = calibrate_confidence(training, ignore=ignore, per_tag=True)
        with without_vocabulary(held_out):
            scored = [
                (explain_record(r), expected_tags(r)) for r in records if r["dataset"] == held_out
            ]
        fold_scores = per_fold.setdefault(held_out, (ReviewScore(), ReviewScore()))
        for suggestion, expected in scored:
            for score in (shipped, fold_scores[0]):
                score.add(suggestion, expected)
            for score in (calibrated, fold_scores[1]):
                score.add(recalibrate(suggestion, folds[held_out]), expected)
            written.add(recalibrate(suggestion, RULE_CONFIDENCE), expected)
    print(
        "\nCONFIDENCE (full+raw names): rule, written, shipped (measured on all four),"
        " measured on the other datasets (held out: " + ", ".join(datasets) + "),"
        " tags, share right (all)"
    )
    for rule in sorted(made, key=lambda r: -RULE_CONFIDENCE[r]):
        fold_values = " ".join(
            f"{folds[d][rule]:.2f}" if rule in folds[d] else "  - " for d in datasets
        )
        ship = MEASURED_CONFIDENCE.get(rule, RULE_CONFIDENCE[rule])
        print(
            f"  {rule:<15} {RULE_CONFIDENCE[rule]:.2f} {ship:.2f} | {fold_values} |"
            f" {made[rule]:>5} {right[rule] / made[rule]:>6.3f}"
        )
    print("  needs_review, held out (vocabulary of the dataset removed):")
    for held_out in datasets:
        ship, cal = per_fold[held_out]
        print(f"    {held_out:<9} shipped (in-sample) {ship.line()}")
        print(f"    {'':<9} other datasets      {cal.line()}")
    print(f"    {'ALL':<9} shipped (in-sample) {shipped.line()}")
    print(f"    {'':<9} other datasets      {calibrated.line()}")
    print(f"    {'':<9} written (no data)   {written.line()}")


MEASURED_MODULE = REPO_ROOT / "opencrate" / "model" / "tagging" / "measured.py"


def write_calibration(records: list[dict[str, Any]], path: Path = MEASURED_MODULE) -> None:
    """Write the shipped measured confidences: every rule (and rule/tag) on all four datasets.

    This is the one thing fitted on the whole set; the benchmark's per-fold
    calibration (``print_confidence``) never reads it, so the leave-out figures
    say how well such a table carries to a building it was not measured on.
    """
    table = calibrate_confidence(
        [(explain_record(r), expected_tags(r)) for r in records],
        ignore=UNSCORED | UNSCORED_SUGGESTED,
        per_tag=True,
    )
    lines = [
        '"""How often each tagging rule was right: generated, do not edit.',
        "",
        "Written by ``python benchmarks/tagging.py --write-calibration`` from the",
        "points of ``haystack-tag-eval.json`` (display and controller names): per rule",
        'class, and per rule and tag (``"word/hot"``), the share of its tags the authors',
        "also gave, smoothed toward the written confidence",
        "(:func:`~opencrate.model.tagging.calibration.calibrate_confidence`). Rules not",
        "listed keep :data:`~opencrate.model.tagging.evidence.RULE_CONFIDENCE`.",
        '"""',
        "",
        "from collections.abc import Mapping",
        "from types import MappingProxyType",
        "from typing import Final",
        "",
        "MEASURED_CONFIDENCE: Final[Mapping[str, float]] = MappingProxyType(",
        "    {",
    ]
    for key in sorted(table):
        lines.append(f'        "{key}": {table[key]:.2f},')
    lines += ["    }", ")", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {len(table)} measured confidences to {path}")


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
    parser.add_argument(
        "--no-h3-renames",
        action="store_true",
        help="score the authors' Haystack 3 markers (rooftop, bare co2) as written",
    )
    parser.add_argument(
        "--write-calibration",
        action="store_true",
        help="write opencrate/model/tagging/measured.py from all four datasets, then exit",
    )
    args = parser.parse_args(argv)
    records = json.loads(args.eval_json.read_text(encoding="utf-8"))
    kept = [r for r in records if not r.get("review_flags")]
    points = [r for r in kept if r["kind"] == "point"]
    equips = [r for r in kept if r["kind"] == "equip"]
    if args.no_h3_renames:
        H3_RENAMES.clear()
    if args.write_calibration:
        write_calibration(points)
        return
    print(
        f"{args.eval_json.name}: {len(records)} records, {len(records) - len(kept)} skipped "
        f"(review_flags), {len(points)} points, {len(equips)} equipment"
    )
    point_folds = score_folds(lambda held_out: point_cases(points))
    equip_folds = score_folds(lambda held_out: equip_cases(equips, points))
    renamed = sum(1 for r in kept if set(r["expected_tags"]) & set(H3_RENAMES))
    if H3_RENAMES:
        shown = ", ".join(f"{old} -> {' '.join(sorted(new))}" for old, new in H3_RENAMES.items())
        print(f"expected side: Haystack 3 {shown} ({renamed} records; --no-h3-renames: as written)")
    for dataset, (keys, pairs) in sorted(SEEN_IN_ONE.items()):
        if keys or pairs:
            shown = sorted(keys) + [" ".join(pair) for pair in sorted(pairs)]
            print(f"leave-out {dataset}: also without {', '.join(shown)}")
    print_table(
        "POINTS (micro-averaged; fn = sensor/cmd/sp exactly right)", point_folds, functions=True
    )
    print_table("EQUIPMENT", equip_folds, functions=False)
    print_confidence(points)
    print_speed(points, max(1, args.rounds))
    if args.misses:
        print_misses(point_folds["loo"], args.misses)
        print_misses(equip_folds["loo"], args.misses)


if __name__ == "__main__":
    main()
