# Sourced by the benchmark scripts: `rate CMD...` prints the lines per second of CMD reading
# $DATA ($N lines) on stdin, the best of $RUNS runs.
rate() {
  local start end best=0 r
  for _ in $(seq "$RUNS"); do
    start=$(date +%s.%N)
    "$@" < "$DATA" > /dev/null
    end=$(date +%s.%N)
    r=$(awk -v n="$N" -v s="$start" -v e="$end" 'BEGIN { printf "%.0f", n / (e - s) }')
    [ "$r" -gt "$best" ] && best=$r
  done
  echo "$best"
}
