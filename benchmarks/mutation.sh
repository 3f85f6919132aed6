#!/usr/bin/env bash
# Mutation testing of the modules whose tests must bite: the fan-out under the event
# bus (opencrate/runtime/fanout.py), the persistence filters
# (opencrate/components/history/filters.py) and the persistence extensions
# (opencrate/components/history/extensions.py). Prints each module's score, killed / total.
#
#   benchmarks/mutation.sh                      # the whole run, at most 15 minutes
#   MUTMUT_TIME_LIMIT=300 benchmarks/mutation.sh
#   MUTMUT_KEEP=1 benchmarks/mutation.sh         # keep the work copy (mutmut show NAME there)
#   PYTHON=/path/to/venv/bin/python benchmarks/mutation.sh
#
# Needs mutmut 3.8.1 (MUTMUT_VERSION). It is no dependency of the package nor of
# '.[test]': when the chosen Python lacks that version, the script pip-installs it there.
# What to mutate and which tests to run is [tool.mutmut] in pyproject.toml.
#
# mutmut runs in a throw-away copy of the tree (opencrate/, tests/, pyproject.toml), so it
# never writes into the work tree and every run starts clean. The run is bounded: the whole
# `mutmut run` gets MUTMUT_TIME_LIMIT seconds (900), each mutant mutmut's own time limit.
# Mutants still unchecked when time runs out are counted as not killed.
#
# Score: killed (a test failed, or the mutant timed out) over total, where total leaves out
# the equivalent mutants listed in EQUIVALENT below (no test can tell them from the
# original; each has its reason). Exit status 1 when a module is under MUTMUT_MIN_SCORE (90).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$PWD"
python="${PYTHON:-python3}"
mutmut_version="${MUTMUT_VERSION:-3.8.1}"
time_limit="${MUTMUT_TIME_LIMIT:-900}"
min_score="${MUTMUT_MIN_SCORE:-90}"
children="${MUTMUT_CHILDREN:-$(nproc)}"

# Equivalent mutants, one a line: name <TAB> the mutated line <TAB> why no test can kill it.
# mutmut numbers the mutants of a function in order, so an edit of the function renumbers
# them: an entry whose mutant no longer has that line counts as not killed (and is named).
f=opencrate.runtime.fanout
e=opencrate.components.history.extensions
EQUIVALENT="\
$f.xǁSubscriptionǁ__init____mutmut_8	self._closed = None	only read for its truth (None is false as False is) until close() sets True
$f.xǁSubscriptionǁ__init____mutmut_10	self._missed = None	only read for its truth until _offer sets it to 1, never added to while false
$f.xǁSubscriptionǁ_offer__mutmut_20	self._missed = None	(after a Lagged report) as above: false until _offer sets it to 1
$f.xǁSubscriptionǁreceive_batch__mutmut_3	if len(queue) < max_items:	with exactly max_items queued both branches take the same items in order and leave the queue empty
$e.xǁPersistenceExtensionsǁminimum_between__mutmut_4	return await self._extreme(point_id, begin_ms, end_ms, high=None)	high is only read for its truth (here and in window_extreme of the SQLite, memory and PostgreSQL services), and None is false as False is
$e.xǁPersistenceExtensionsǁ_series__mutmut_23	values.insert(1, first.value)	only changes the order of the series' values, whose one reader (the unweighted variance) takes math.fsum of their squared distances over their count: exact, so order-free
"

if ! "$python" -c "import importlib.metadata as m, sys; sys.exit(m.version('mutmut') != '$mutmut_version')" 2>/dev/null; then
    echo "== installing mutmut==$mutmut_version into $("$python" -c 'import sys; print(sys.prefix)')"
    "$python" -m pip install --quiet "mutmut==$mutmut_version"
fi
# `python -m mutmut` imports mutmut twice (mutmut warns); its console script does not.
mutmut="$("$python" -c 'import os, sys; print(os.path.join(os.path.dirname(sys.executable), "mutmut"))')"

work="$(mktemp -d "${TMPDIR:-/tmp}/opencrate-mutation.XXXXXX")"
if [[ -n "${MUTMUT_KEEP:-}" ]]; then
    echo "== work copy kept in $work"
else
    trap 'rm -rf "$work"' EXIT
fi
# The tracked files only (no caches, no data/), as a commit would have them plus local edits.
git -C "$repo" ls-files -z --cached --others --exclude-standard -- opencrate tests pyproject.toml \
    | (cd "$repo" && xargs -0 cp --parents -t "$work")

cd "$work"
# Imports must find the mutated copy, never the work tree or an editable install of it.
unset PYTHONPATH
echo "== mutmut $mutmut_version run in $work (at most ${time_limit}s, $children children)"
started=$SECONDS
status=0
timeout --signal=INT --kill-after=30 "$time_limit" "$mutmut" run --max-children "$children" \
    >"$work/run.log" 2>&1 || status=$?
elapsed=$((SECONDS - started))
if [[ $status -eq 124 ]]; then
    echo "mutmut run stopped after ${time_limit}s: unchecked mutants count as not killed"
elif [[ $status -ne 0 ]]; then
    tail -n 40 "$work/run.log" >&2
    echo "mutmut run failed (exit $status); its log: $work/run.log" >&2
    [[ -n "${MUTMUT_KEEP:-}" ]] || cp "$work/run.log" "${TMPDIR:-/tmp}/opencrate-mutation-run.log"
    exit 2
fi
echo "   done in ${elapsed}s"

"$mutmut" results --all true >"$work/results.txt"
[[ -z "${MUTMUT_VERBOSE:-}" ]] || cat "$work/results.txt"

EQUIVALENT="$EQUIVALENT" "$python" - "$work/results.txt" "$min_score" "$mutmut" <<'PY'
"""Per-module score from `mutmut results --all true` ("    name: status" lines)."""

import os
import subprocess
import sys
from collections import Counter, defaultdict

results_path, min_score, mutmut = sys.argv[1], float(sys.argv[2]), sys.argv[3]
equivalent = {}
stale = []
for line in os.environ["EQUIVALENT"].splitlines():
    if not line.strip():
        continue
    name, mutated, reason = line.split("\t")
    diff = subprocess.run(
        [mutmut, "show", name], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    if any(d.startswith("+") and d[1:].strip() == mutated for d in diff):
        equivalent[name] = f"{mutated}: {reason}"
    else:
        stale.append(f"{name} (expected: {mutated})")

MODULES = (
    "opencrate.runtime.fanout",
    "opencrate.components.history.filters",
    "opencrate.components.history.extensions",
)
KILLED = {"killed", "timeout", "caught by type check"}
by_module: dict[str, Counter[str]] = defaultdict(Counter)
survivors: dict[str, list[str]] = defaultdict(list)
for line in open(results_path, encoding="utf-8"):
    name, sep, status = line.strip().rpartition(": ")
    if not sep:
        continue
    module = next((m for m in MODULES if name.startswith(m + ".")), None)
    if module is None:
        continue
    if name in equivalent:
        by_module[module]["equivalent"] += 1
        continue
    by_module[module]["killed" if status in KILLED else status] += 1
    if status not in KILLED:
        survivors[module].append(f"{name}: {status}")

low = False
print()
for module in MODULES:
    counts = by_module[module]
    total = sum(n for status, n in counts.items() if status != "equivalent")
    killed = counts["killed"]
    score = 100.0 * killed / total if total else 0.0
    low |= score < min_score
    others = ", ".join(
        f"{n} {status}" for status, n in sorted(counts.items()) if status != "killed"
    )
    print(f"{module}: {killed} / {total} killed = {score:.1f} %" + (f" ({others})" if others else ""))
for module in MODULES:
    if survivors[module]:
        print(f"\nnot killed in {module}:")
        for entry in survivors[module]:
            print("   ", entry)
if equivalent:
    print("\nequivalent (left out of the totals):")
    for name, reason in equivalent.items():
        print(f"    {name}: {reason}")
if stale:
    print("\nlisted as equivalent, but the mutant has changed (counted as not killed):")
    for entry in stale:
        print("   ", entry)
if os.environ.get("MUTMUT_SHOW"):
    for module in MODULES:
        for entry in survivors[module]:
            subprocess.run([mutmut, "show", entry.partition(": ")[0]], check=False)
sys.exit(1 if low else 0)
PY
