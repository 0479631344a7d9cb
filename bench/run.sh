#!/usr/bin/env bash
# Runs the whole benchmark suite (P1-P5, Sluice beside every peer) and writes bench/RESULTS.md.
#
#   bench/run.sh            full run, about 12-15 minutes on 2 cores
#   bench/run.sh --quick    smoke run, under 2 minutes after the build: proves every axis works
#   --no-build              reuse bench/target/benchmarks.jar
#   --with-jdk17-10k        also run P2/P5 at 10,000 streams on JDK 17 (20,000 platform threads:
#                           opening them alone takes 0.5-1 minute per contender here; +5-10 min)
#   --out FILE              write the report elsewhere (default bench/RESULTS.md)
#
# JDK 17 runs with platform threads; a JDK 21+ found beside it (or $JDK21_HOME) runs with virtual
# threads. Each harness runs in its own JVM with a fixed heap; raw lines go to
# bench/target/results/results.tsv and every JVM's output to bench/target/results/log.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

quick=false
build=true
jdk17_10k=false
report="$root/bench/RESULTS.md"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=true ;;
    --no-build) build=false ;;
    --with-jdk17-10k) jdk17_10k=true ;;
    --out) shift; report="$1" ;;
    *) echo "usage: bench/run.sh [--quick] [--no-build] [--out FILE]" >&2; exit 2 ;;
  esac
  shift
done

find_jdk() { # $1: glob patterns; prints the first JDK home found
  for d in $1; do
    if [ -x "$d/bin/java" ]; then echo "$d"; return; fi
  done
}
jdk17=${JDK17_HOME:-$(find_jdk "/usr/lib/jvm/java-17-openjdk-amd64 /usr/lib/jvm/java-17-openjdk* /usr/lib/jvm/temurin-17*")}
jdk21=${JDK21_HOME:-$(find_jdk "/usr/lib/jvm/temurin-25* /usr/lib/jvm/temurin-2[1-9]* /usr/lib/jvm/java-2[1-9]*")}
if [ -z "$jdk17" ]; then jdk17=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")"); fi
java17="$jdk17/bin/java"
java21=""
if [ -n "$jdk21" ]; then java21="$jdk21/bin/java"; fi

jar="$root/bench/target/benchmarks.jar"
if $build; then
  echo "== building bench/target/benchmarks.jar"
  JAVA_HOME="$jdk17" mvn -B -q -pl bench -am package -DskipTests || exit 1
fi
[ -f "$jar" ] || { echo "missing $jar: build first" >&2; exit 1; }

out="$root/bench/target/results"
rm -rf "$out"
mkdir -p "$out"
tsv="$out/results.tsv"
log="$out/log.txt"
: >"$tsv"
start=$(date +%s)
load_before=$(cut -d" " -f1-3 /proc/loadavg)
failures=0

# run LABEL TIMEOUT_S JAVA JVM_ARGS... -- MAIN ARGS...
run() {
  local label="$1" limit="$2" java="$3"
  shift 3
  local t0
  t0=$(date +%s)
  printf '== %-58s' "$label"
  echo "== $label: $java $*" >>"$log"
  if timeout --kill-after=10 "$limit" "$java" -Dbench.out="$tsv" "$@" >>"$log" 2>&1; then
    echo " $(($(date +%s) - t0)) s"
  else
    echo " FAILED ($(($(date +%s) - t0)) s, see $log)"
    failures=$((failures + 1))
    echo "FAILED: $label" >>"$out/failures.txt"
  fi
}

contenders="sluice abq submission-publisher reactor spsc"
cp="-cp $jar"

if $quick; then
  p1_17="-f 1 -wi 1 -i 1 -w 1s -r 1s"; p1_21="$p1_17"
  p5_counts="1,100,1000"; p5_min=300000; p5_warm=300; p5_window=3000
  p3_streams=10000; p3_warm=5000; p3_fit=0
  p4_samples=100; p4_load=1000; p4_load_samples=50
else
  p1_17="-f 2 -wi 2 -i 4 -w 1s -r 1s"; p1_21="-f 1 -wi 2 -i 4 -w 1s -r 1s"
  p5_counts="1,10,100,1000,10000"; p5_min=1000000; p5_warm=2000; p5_window=8000
  p3_streams=100000; p3_warm=20000; p3_fit=1000000
  p4_samples=500; p4_load=10000; p4_load_samples=300
fi

# P1: JMH, every contender in its own forks.
run "P1 JDK 17" 600 "$java17" $cp dev.sluice.bench.JmhMain P1Throughput $p1_17 -jvm "$java17"
if [ -n "$java21" ]; then
  run "P1 JDK 21+" 600 "$java21" $cp dev.sluice.bench.JmhMain P1Throughput $p1_21 -jvm "$java21"
fi

# P2 + P5: many streams, one JVM per contender and JDK.
p5_counts_17="$p5_counts"
if ! $quick && ! $jdk17_10k; then p5_counts_17="${p5_counts%,10000}"; fi
for c in $contenders; do
  run "P2/P5 JDK 17 $c" 300 "$java17" -Xms2g -Xmx2g -Xss256k $cp dev.sluice.bench.ManyStreams \
    --contender "$c" --counts "$p5_counts_17" --min-tokens "$p5_min" --warmup-ms "$p5_warm" --max-wave-ms "$p5_window"
done
if [ -n "$java21" ]; then
  for c in $contenders; do
    run "P2/P5 JDK 21+ $c" 300 "$java21" -Xms2g -Xmx2g $cp dev.sluice.bench.ManyStreams \
      --contender "$c" --counts "$p5_counts" --min-tokens "$p5_min" --warmup-ms "$p5_warm" --max-wave-ms "$p5_window"
  done
fi

# P3: footprint on virtual threads (an idle stream is a parked virtual thread).
if [ -n "$java21" ]; then
  for c in sluice abq-minimal abq submission-publisher reactor spsc; do
    run "P3 JDK 21+ $c, $p3_streams idle streams" 300 "$java21" -Xms4g -Xmx4g -XX:+UseG1GC $cp \
      dev.sluice.bench.Footprint --contender "$c" --streams "$p3_streams" --warmup "$p3_warm"
  done
  if [ "$p3_fit" -gt 0 ]; then
    for c in sluice; do # peers: estimated from bytes/stream in the report (a 1M fit takes ~2.5 min)
      run "P3 JDK 21+ $c, $p3_fit streams in -Xmx2g" 300 "$java21" -Xmx2g -XX:+UseG1GC $cp \
        dev.sluice.bench.Footprint --contender "$c" --fit "$p3_fit" --warmup "$p3_warm"
    done
  fi
fi

# P4: cancel latency, idle on both JDKs, loaded on 21+.
run "P4 JDK 17 unpark floor" 120 "$java17" -Xmx1g $cp dev.sluice.bench.CancelLatency --contender floor --samples "$p4_samples"
for c in $contenders; do
  run "P4 JDK 17 $c idle" 180 "$java17" -Xmx1g $cp dev.sluice.bench.CancelLatency --contender "$c" --samples "$p4_samples"
done
if [ -n "$java21" ]; then
  run "P4 JDK 21+ unpark floor" 120 "$java21" -Xmx1g $cp dev.sluice.bench.CancelLatency --contender floor --samples "$p4_samples"
  for c in $contenders; do
    run "P4 JDK 21+ $c idle" 180 "$java21" -Xmx1g $cp dev.sluice.bench.CancelLatency --contender "$c" --samples "$p4_samples"
  done
  for c in $contenders; do
    run "P4 JDK 21+ $c, $p4_load busy streams" 240 "$java21" -Xmx2g $cp dev.sluice.bench.CancelLatency \
      --contender "$c" --samples "$p4_load_samples" --load "$p4_load"
  done
fi

# The report.
cmd="bench/run.sh"
$quick && cmd="$cmd --quick"
$jdk17_10k && cmd="$cmd --with-jdk17-10k"
meta="$out/meta.txt"
{
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "quick=$quick"
  echo "command=\`$cmd\`"
  echo "machine=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr)"
  echo "cpus=$(nproc)"
  echo "memory=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "load_before=$load_before"
  echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "jdk17=$("$java17" -version 2>&1 | sed -n 2p)"
  [ -n "$java21" ] && echo "jdk25=$("$java21" -version 2>&1 | sed -n 2p)"
  echo "duration_s=$(($(date +%s) - start))"
  echo "failures=$failures"
  [ -n "${BENCH_NOTE:-}" ] && echo "note=$BENCH_NOTE"
} >"$meta"
"$java17" -cp "$jar" dev.sluice.bench.Report "$tsv" "$meta" "$report" || exit 1
echo "== wrote $report in $(($(date +%s) - start)) s, $failures failure(s)"
[ "$failures" -eq 0 ]
