#!/usr/bin/env bash
# A/B of two cores on the same machine, one run right after the other: P1 (one stream, JMH, the
# sluice contender only) and P3 (footprint of an idle open stream, JDK 21+), alternating A and B
# for each round so that drifting load hits both alike. Prints each score and the B/A ratios.
#
#   bench/ab.sh OLD_REF [NEW_REF] [--rounds N]
#
# OLD_REF and NEW_REF are git refs (NEW_REF defaults to the work tree); each is built into its own
# benchmarks.jar from a scratch worktree. Raw lines go to bench/target/ab/results.tsv.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

old_ref=${1:?usage: bench/ab.sh OLD_REF [NEW_REF] [--rounds N]}
shift
new_ref=""
rounds=2
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) shift; rounds="$1" ;;
    *) new_ref="$1" ;;
  esac
  shift
done

find_jdk() { for d in $1; do if [ -x "$d/bin/java" ]; then echo "$d"; return; fi; done; }
jdk17=${JDK17_HOME:-$(find_jdk "/usr/lib/jvm/java-17-openjdk-amd64 /usr/lib/jvm/java-17-openjdk* /usr/lib/jvm/temurin-17*")}
jdk21=${JDK21_HOME:-$(find_jdk "/usr/lib/jvm/temurin-25* /usr/lib/jvm/temurin-2[1-9]* /usr/lib/jvm/java-2[1-9]*")}

out="$root/bench/target/ab"
rm -rf "$out"
mkdir -p "$out"
tsv="$out/results.tsv"
: >"$tsv"

build() { # $1: label, $2: ref or "" for the work tree; prints the jar path
  local label="$1" ref="$2" dir
  if [ -z "$ref" ]; then
    dir="$root"
  else
    dir="$out/src-$label"
    git worktree add -q --detach "$dir" "$ref" || exit 1
  fi
  (cd "$dir" && JAVA_HOME="$jdk17" mvn -B -q -pl bench -am package -DskipTests -Djcstress.skip=true) >&2 || exit 1
  cp "$dir/bench/target/benchmarks.jar" "$out/$label.jar"
  if [ -n "$ref" ]; then git worktree remove --force "$dir"; fi
  echo "$out/$label.jar"
}

echo "== building A ($old_ref) and B (${new_ref:-work tree})"
jar_a=$(build A "$old_ref")
jar_b=$(build B "$new_ref")

p1() { # $1: label, $2: jar, $3: java, $4: jdk label
  "$3" -Dbench.out="$out/p1.tmp" -cp "$2" dev.sluice.bench.JmhMain P1Throughput -p contender=sluice \
    -f 1 -wi 2 -i 4 -w 1s -r 1s -jvm "$3" >>"$out/log.txt" 2>&1
  awk -F'\t' -v l="$1" -v j="$4" '$6=="tokens_per_s" {print "P1\t" j "\t" l "\t" $7}' "$out/p1.tmp" >>"$tsv"
  rm -f "$out/p1.tmp"
}
p3() { # $1: label, $2: jar
  "$jdk21/bin/java" -Dbench.out="$out/p3.tmp" -Xms4g -Xmx4g -XX:+UseG1GC -cp "$2" \
    dev.sluice.bench.Footprint --contender sluice --streams 100000 --warmup 20000 >>"$out/log.txt" 2>&1
  awk -F'\t' -v l="$1" '$6=="bytes_per_stream" {print "P3\tjdk25\t" l "\t" $7}' "$out/p3.tmp" >>"$tsv"
  rm -f "$out/p3.tmp"
}

echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$rounds"); do
  echo "== round $r"
  for side in A B; do
    jar=$jar_a; [ "$side" = B ] && jar=$jar_b
    p1 "$side" "$jar" "$jdk17/bin/java" jdk17
    [ -n "$jdk21" ] && p1 "$side" "$jar" "$jdk21/bin/java" jdk25
    [ -n "$jdk21" ] && p3 "$side" "$jar"
  done
done
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"

# Mean per (axis, jdk, side), then B/A.
awk -F'\t' '
  { k = $1 "\t" $2; s[k "\t" $3] += $4; n[k "\t" $3]++; keys[k] = 1 }
  END {
    printf "%-4s %-6s %16s %16s %8s\n", "axis", "jdk", "A", "B", "B/A"
    for (k in keys) {
      a = s[k "\tA"] / n[k "\tA"]; b = s[k "\tB"] / n[k "\tB"]
      split(k, f, "\t")
      printf "%-4s %-6s %16.0f %16.0f %8.2f\n", f[1], f[2], a, b, b / a
    }
  }' "$tsv"
echo "(P1: tokens/s, higher is better; P3: bytes per idle open stream, lower is better)"
