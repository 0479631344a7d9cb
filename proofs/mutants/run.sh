#!/usr/bin/env bash
# Runs the concurrency mutants of core against the proof suite.
#
#   proofs/mutants/run.sh                       every mutant (NN-*.sh beside this script)
#   proofs/mutants/run.sh 01 09 14              the mutants whose names start with these prefixes
#   STAGES="core proofs" proofs/mutants/run.sh  only some stages (default: core jcstress proofs)
#
# For each mutant: copies the repository's working tree (no target/, no .git) to a scratch directory,
# applies the mutant's edit to core/src/main/java/dev/sluice/, and runs
#   core      core's unit tests (SoakTest left out)          mvn -pl core test
#   jcstress  the jcstress suite in sanity mode                mvn -pl jcstress-tests -am verify -Djcstress.mode=sanity
#   proofs    the proofs module: the Fray explorations and the jqwik model test (its own execution)
# then prints which tests killed it: tests that fail on the mutant but not on the unmutated baseline
# (run first, once per invocation, unless BASELINE=dir points at an earlier baseline run).
# A mutant whose edit no longer fits core prints NOT-APPLIED: re-target it (see README.md).
# Results: proofs/mutants/results/<mutant>/ (logs, failing tests) and results/summary.txt.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
results="$here/results"
stages="${STAGES:-core jcstress proofs}"
scratch_root="${SCRATCH:-/tmp/sluice-mutants.$$}"
mvn_opts=(-B -Dstyle.color=never)
mkdir -p "$results" "$scratch_root"

snapshot="$scratch_root/snapshot"
copy_tree() { # copy_tree DEST: a copy of the snapshot taken at start (later edits to the repo do not leak in)
  rm -rf "$1"; mkdir -p "$1"
  (cd "$snapshot" && tar -cf - .) | (cd "$1" && tar -xf -)
}
mkdir -p "$snapshot"
(cd "$repo" && tar --exclude=./.git --exclude='*/target' --exclude=./proofs/mutants/results -cf - .) | (cd "$snapshot" && tar -xf -)

failing_surefire() { # failing_surefire REPORT_DIR -> Class#method per failing test
  python3 - "$1" <<'PY'
import sys, glob, xml.etree.ElementTree as ET
for f in sorted(glob.glob(sys.argv[1] + "/TEST-*.xml")):
    try:
        root = ET.parse(f).getroot()
    except Exception:
        continue
    for tc in root.iter("testcase"):
        if tc.find("failure") is not None or tc.find("error") is not None:
            print("%s#%s" % (tc.get("classname", "?").split(".")[-1], tc.get("name", "?").split("(")[0]))
PY
}

run_stages() { # run_stages TREE OUTDIR -> OUTDIR/failures.txt (one killer per line)
  local tree="$1" out="$2"
  mkdir -p "$out"; : > "$out/failures.txt"
  for stage in $stages; do
    case "$stage" in
      core)
        (cd "$tree" && timeout 1200 mvn "${mvn_opts[@]}" -pl core test -Dtest='!SoakTest' -Dsurefire.failIfNoSpecifiedTests=false) > "$out/core.log" 2>&1
        rc=$?
        failing_surefire "$tree/core/target/surefire-reports" | sed 's/^/core: /' >> "$out/failures.txt"
        if [ $rc -ne 0 ] && ! grep -q '^core: ' "$out/failures.txt"; then echo "core: BUILD-OR-TIMEOUT(rc=$rc)" >> "$out/failures.txt"; fi
        ;;
      jcstress)
        (cd "$tree" && timeout 1800 mvn "${mvn_opts[@]}" -pl jcstress-tests -am verify -DskipTests -Djcstress.mode=sanity) > "$out/jcstress.log" 2>&1
        rc=$?
        grep -oE '\[(FAILED|ERROR)\] +dev\.sluice\.[A-Za-z0-9_.$]+' "$out/jcstress.log" | sed -E 's/.*dev\.sluice\./jcstress: /' | sort -u >> "$out/failures.txt"
        if [ $rc -ne 0 ] && ! grep -q '^jcstress: ' "$out/failures.txt"; then echo "jcstress: FAILED-OR-TIMEOUT(rc=$rc)" >> "$out/failures.txt"; fi
        ;;
      proofs)
        (cd "$tree" && timeout 1800 mvn "${mvn_opts[@]}" -pl proofs -am verify -Dtest='dev.sluice.proofs.*ExplorationTest' -Dsurefire.failIfNoSpecifiedTests=false) > "$out/proofs.log" 2>&1
        rc=$?
        failing_surefire "$tree/proofs/target/surefire-reports" | sed 's/^/proofs: /' >> "$out/failures.txt"
        if [ $rc -ne 0 ] && ! grep -q '^proofs: ' "$out/failures.txt"; then echo "proofs: BUILD-OR-TIMEOUT(rc=$rc)" >> "$out/failures.txt"; fi
        ;;
      *) echo "unknown stage $stage" >&2; exit 2 ;;
    esac
  done
}

apply_mutant() { # apply_mutant TREE MUTANT_FILE
  local dir="$1/core/src/main/java/dev/sluice"
  ( cd "$dir" && replace() { python3 "$here/replace.py" "$@"; } && set -e && . "$2" )
}

# Which mutants
mutants=()
if [ $# -eq 0 ]; then
  for f in "$here"/[0-9][0-9]-*.sh; do mutants+=("$f"); done
else
  for p in "$@"; do for f in "$here"/"$p"*.sh; do [ -f "$f" ] && mutants+=("$f"); done; done
fi

# Baseline
if [ -n "${BASELINE:-}" ]; then
  base="$BASELINE"
else
  base="$results/baseline"
  echo "== baseline (unmutated) ..."
  copy_tree "$scratch_root/baseline"
  t0=$(date +%s); run_stages "$scratch_root/baseline" "$base"; echo "   $(( $(date +%s) - t0 )) s; fails already: $(wc -l < "$base/failures.txt")"
  rm -rf "$scratch_root/baseline"
fi

summary="$results/summary.txt"
for m in "${mutants[@]}"; do
  name="$(basename "$m" .sh)"
  desc="$(sed -n 's/^# desc: //p' "$m" | head -1)"
  out="$results/$name"; rm -rf "$out"; mkdir -p "$out"
  tree="$scratch_root/$name"
  copy_tree "$tree"
  if ! apply_mutant "$tree" "$m" > "$out/apply.log" 2>&1; then
    line="$name  NOT-APPLIED (re-target it: $(tail -1 "$out/apply.log"))"
  else
    (cd "$tree" && diff -ru "$snapshot/core/src/main/java/dev/sluice" core/src/main/java/dev/sluice) > "$out/mutant.diff"
    if [ ! -s "$out/mutant.diff" ]; then
      line="$name  NO-OP on this core (nothing to kill)"
    else
      t0=$(date +%s)
      run_stages "$tree" "$out"
      killers="$(grep -vxF -f "$base/failures.txt" "$out/failures.txt" | paste -sd, - | sed 's/,/, /g')"
      secs=$(( $(date +%s) - t0 ))
      if [ -n "$killers" ]; then line="$name  KILLED by: $killers  (${secs}s)"; else line="$name  SURVIVED  (${secs}s)"; fi
    fi
  fi
  rm -rf "$tree"
  echo "$line   # $desc"
  echo "$(date -u +%FT%TZ) $line   # $desc" >> "$summary"
done
rm -rf "$snapshot"; rmdir "$scratch_root" 2>/dev/null || true
