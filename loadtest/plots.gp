# plots.gp -- the load-test report's PNG plots, one line per scope.
#
#   gnuplot -e "dir='REPORT_DIR'; labels='global-128 global-none local shared off'; zoom_mib=16" \
#       loadtest/plots.gp
#
# Reads REPORT_DIR/stats-LABEL.csv (written by loadtest/run.py, one row per
# /stats sample, with a header row naming the columns) and writes into
# REPORT_DIR: rss.png (RSS over requests served), rss-zoom.png (the same up
# to zoom_mib MiB, where the flat scopes can be told apart), heap.png (heap
# bytes over requests served), live.png (live instances over time, log
# scale) and hits.png (cumulative hit ratio over time).

if (!exists("dir")) dir = "."
if (!exists("labels")) { print "plots.gp: set labels='...'"; exit status 2 }

set datafile separator comma
set datafile columnheaders
set terminal pngcairo size 1100,650 font ",11" noenhanced
set grid
set key outside right top
set style data lines
# gnuplot has 8 colours before it cycles; the scopes past 8 get dashed lines
# of their own colours so that no two scopes look alike.
set linetype 9 lc rgb "#000000" dt 2
set linetype 10 lc rgb "#d62728" dt 2
set linetype 11 lc rgb "#1f77b4" dt 3
set linetype 12 lc rgb "#8c564b" dt 3
set linetype 13 lc rgb "#7f7f7f" dt 2
set linetype 14 lc rgb "#bcbd22" dt 3
set linetype cycle 14

csv(i) = sprintf("%s/stats-%s.csv", dir, word(labels, i))
lbl(i) = word(labels, i)
MiB = 1048576.0
ratio(h, m) = (h + m > 0) ? h / (h + m) : 0

set output dir . "/rss.png"
set title "Resident memory (RSS) over requests served"
set xlabel "requests served"
set ylabel "RSS (MiB)"
set format x "%.0s%c"
plot for [i = 1:words(labels)] csv(i) using (column("requests")):(column("rss_bytes") / MiB) \
     linewidth 2 title lbl(i)

if (exists("zoom_mib")) {
    set output dir . "/rss-zoom.png"
    set title sprintf("RSS over requests served, zoomed to 0-%g MiB", zoom_mib)
    set yrange [0:zoom_mib]
    plot for [i = 1:words(labels)] csv(i) using (column("requests")):(column("rss_bytes") / MiB) \
         linewidth 2 title lbl(i)
    set yrange [*:*]
}

set output dir . "/heap.png"
set title "Heap bytes in use (from the allocator) over requests served"
set ylabel "heap (MiB)"
plot for [i = 1:words(labels)] csv(i) using (column("requests")):(column("heap_bytes") / MiB) \
     linewidth 2 title lbl(i)

set output dir . "/live.png"
set title "Live SlowAdder instances over time (log scale)"
set xlabel "seconds since load started"
set format x "%g"
set ylabel "live instances"
set logscale y
set yrange [1:*]
# Samples with 0 live instances (idle, and shared most of the time, whose
# hits free their instance at once) have no place on a log axis: left out.
plot for [i = 1:words(labels)] csv(i) using (column("t_s")):(column("live")) \
     linewidth 2 title lbl(i)
unset logscale y
set yrange [*:*]

set output dir . "/hits.png"
set title "Cache hit ratio over time (cumulative: hits / (hits + misses))"
set ylabel "hit ratio"
set yrange [-0.02:1.02]
plot for [i = 1:words(labels)] csv(i) using (column("t_s")):(ratio(column("hits"), column("misses"))) \
     linewidth 2 title lbl(i)
