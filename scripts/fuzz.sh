#!/usr/bin/env bash
# Run every Go fuzz target of the module for a bounded time each.
#
#   scripts/fuzz.sh [FUZZTIME] [TARGET-REGEX]
#
# FUZZTIME is go test's -fuzztime (default 30s; CI: 5s; "1000x" counts
# executions). TARGET-REGEX limits the targets run (e.g. 'ParsePeer|LBName').
# Targets are found as `func FuzzXxx(f *testing.F)` in *_test.go files; each
# runs alone (go test -fuzz takes one target of one package). Environment:
# FUZZ_PARALLEL (default 2) workers per target.
#
# Exits 1 when any target fails: a crasher or a broken property. Go writes
# the failing input to <package>/testdata/fuzz/<Target>/<hash>; the output
# names it. Fix the bug, rename the file to say what it is, and commit it:
# `go test` then runs it as a regression example.
set -euo pipefail

fuzztime=${1:-30s}
filter=${2:-.}
parallel=${FUZZ_PARALLEL:-2}
cd "$(dirname "$0")/.."

mapfile -t targets < <(
	find . -name '*_test.go' -not -path './.git/*' -not -path './vendor/*' -print0 |
		xargs -0 grep -HoE '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' |
		sed -E 's#^\./(.*)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]+)\(.*#\1 \2#' |
		sort -u | grep -E "$filter" || true
)
if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz.sh: no fuzz target matches '$filter'" >&2
	exit 2
fi

failed=()
for t in "${targets[@]}"; do
	pkg=${t% *} name=${t#* }
	echo "=== $name (./$pkg, $fuzztime)"
	log=$(mktemp)
	for try in 1 2 3; do
		if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -parallel "$parallel" "./$pkg" >"$log" 2>&1; then
			tail -n 1 "$log"
			break
		fi
		# Go's fuzzing engine sometimes ends a run that hit -fuzztime
		# with "context deadline exceeded" and no failing input (seen on
		# a loaded 2-core machine): not a finding, so run it again. A
		# real failure always writes its input ("Failing input written").
		if ! grep -q 'Failing input written' "$log" && grep -q 'context deadline exceeded' "$log" && [ "$try" -lt 3 ]; then
			echo "    (go's fuzzing engine stopped with \"context deadline exceeded\" and no failing input; run again)"
			continue
		fi
		cat "$log"
		failed+=("$name (./$pkg)")
		break
	done
	rm -f "$log"
done

if [ ${#failed[@]} -gt 0 ]; then
	echo
	echo "fuzz.sh: ${#failed[@]} of ${#targets[@]} targets failed:"
	printf '  %s\n' "${failed[@]}"
	git status --short -- '*/testdata/fuzz/*' 2>/dev/null | sed 's/^/  new input: /' || true
	exit 1
fi
echo "fuzz.sh: ${#targets[@]} targets, no failure ($fuzztime each)"
