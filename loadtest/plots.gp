# plots.gp -- the load-test report's PNG plots, one message each.
#
#   gnuplot -e "dir='REPORT_DIR'; labels='global-none local'; \
#               array rss_note[2] = ['global-none: ...', 'local: ...']; \
#               array heap_note[2] = ['global-none: ...', 'local: ...']; rates='7699 7565'; \
#               growth='global-none-growth shared-128-growth'; p999='12.4 10.5'" \
#       loadtest/plots.gp
#
# loadtest/report.py runs it with these set from the run. It reads
# REPORT_DIR/stats-LABEL.csv (written by loadtest/run.py, one row per /stats
# sample, with a header row naming the columns) and writes into REPORT_DIR:
#
#   rss.png     RSS over requests served: one panel per scope of `labels`,
#               each with its own scale (from 0), titled with rss_note[i]
#   heap.png    the same for the allocator's heap bytes (heap_note[i])
#   live.png    live instances over time, every scope of `labels` on one
#               log axis
#   hits.png    cumulative hit ratio over time
#   rate.png    requests per second of each scope (`rates`, wrk's), bars
#   growth.png  the growth runs (`growth`, distinct keys; only when set):
#               RSS over requests served, and each run's p99.9 (`p999`, ms)
#               as bars, global and shared side by side in the order run
#
# With verbose set, it prints what each panelled plot holds (for the tests).
# The growth runs are kept out of the other plots: millions of entries in
# 60 s would flatten every other scope at the bottom of a shared axis.

if (!exists("dir")) dir = "."
if (!exists("labels") || !exists("rss_note") || !exists("heap_note")) {
    print "plots.gp: set labels, rss_note and heap_note (see the top of the file)"; exit status 2
}
if (!exists("growth")) growth = ""
n = words(labels)

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

csv(l) = sprintf("%s/stats-%s.csv", dir, l)
lbl(i) = word(labels, i)
title_of(what, i) = (what eq "rss") ? rss_note[i] : heap_note[i]
MiB = 1048576.0
ratio(h, m) = (h + m > 0) ? h / (h + m) : 0

# ------------------------------------------- small multiples: one panel per scope
pow10(x) = 10 ** floor(log10(x))
nice_step(x) = (x <= 0) ? 1 : (x / pow10(x) < 2 ? 1 : (x / pow10(x) < 5 ? 2 : 5)) * pow10(x)
cols = (n >= 3) ? 3 : n
rows = int((n + cols - 1) / cols)
set terminal pngcairo size 1200, (rows * 300 + 60) font ",10" noenhanced
do for [what in "rss heap"] {
    set output sprintf("%s/%s.png", dir, what)
    set multiplot layout rows, cols title (what eq "rss" ? \
        "Resident memory (RSS, MiB) over requests served: one panel per scope, each with its own scale" : \
        "Heap bytes in use (MiB, from the allocator) over requests served: one panel per scope, each with its own scale") \
        font ",12"
    unset key
    set format x "%.0s%c"
    set xrange [0:*]
    set yrange [0:*]
    set ylabel "MiB"
    set xlabel "requests served"
    if (exists("verbose")) { print sprintf("%s.png: %d panels: %s", what, n, labels) }
    do for [i = 1:n] {
        set title title_of(what, i)
        # About four tics whatever the scope's count (1, 2 or 5 x 10^k apart).
        stats csv(lbl(i)) using (column("requests")) nooutput
        set xtics nice_step(STATS_max / 4)
        plot csv(lbl(i)) using (column("requests")):(column(what . "_bytes") / MiB) \
             linewidth 2 lt i dt solid
    }
    unset multiplot
}
set xtics autofreq
set xrange [*:*]
set yrange [*:*]
set key outside right top
set terminal pngcairo size 1100,650 font ",11" noenhanced

# ------------------------------------------------------------ one axis, every scope
set output dir . "/live.png"
set title "Live SlowAdder instances over time (log scale)"
set xlabel "seconds since load started"
set format x "%g"
set ylabel "live instances"
set logscale y
set yrange [1:*]
# Samples with 0 live instances (idle, and shared most of the time, whose
# hits free their instance at once) have no place on a log axis: left out.
plot for [i = 1:n] csv(lbl(i)) using (column("t_s")):(column("live")) linewidth 2 title lbl(i)
unset logscale y
set yrange [*:*]

set output dir . "/hits.png"
set title "Cache hit ratio over time (cumulative: hits / (hits + misses))"
set ylabel "hit ratio"
set yrange [-0.02:1.02]
plot for [i = 1:n] csv(lbl(i)) using (column("t_s")):(ratio(column("hits"), column("misses"))) \
     linewidth 2 title lbl(i)
set yrange [*:*]

# --------------------------------------------------------------- bars: requests/s
if (exists("rates")) {
    set output dir . "/rate.png"
    set title "Requests per second under load (wrk's), per scope"
    unset key
    set xlabel ""
    set ylabel "requests/s"
    set format y "%.0s%c"
    set style fill solid 0.8 noborder
    set boxwidth 0.7
    set xrange [0.4:n + 0.6]
    set yrange [0:*]
    set xtics rotate by -30 nomirror
    set xtics ()
    do for [i = 1:n] { set xtics add (lbl(i) i) }
    set grid noxtics ytics
    set datafile nocolumnheaders  # or the first bar, read as a header, is lost
    set offsets 0, 0, graph 0.08, 0  # room for the figures over the bars
    plot sample [i = 1:n:1] '+' using (i):(real(word(rates, int(i)))):(int(i)) with boxes lc variable, \
         [i = 1:n:1] '+' using (i):(real(word(rates, int(i)))):(sprintf("%.0f", real(word(rates, int(i))))) \
         with labels offset 0, 0.7
    set datafile columnheaders
    set offsets
    set xtics norotate
    set xtics autofreq
    set grid xtics ytics
    set format y "%g"
    set xrange [*:*]
    set yrange [*:*]
}

# ---------------------------------------------------------- the growth runs apart
if (words(growth) > 0) {
    m = words(growth)
    set terminal pngcairo size 1200,520 font ",10" noenhanced
    set output dir . "/growth.png"
    set multiplot layout 1, 2 title \
        "Growth runs (distinct keys, no delay): global without a bound grows by millions of entries; the claim: its p99.9 within 2x of the shared run's after it" \
        font ",12"
    if (exists("verbose")) { print sprintf("growth.png: %d runs: %s", m, growth) }
    set key inside left top
    set title "RSS (MiB) over requests served"
    set xlabel "requests served"
    set ylabel "MiB"
    set format x "%.0s%c"
    set xrange [0:*]
    set yrange [0:*]
    # global runs in reds, shared runs in blues, a shade for each repeat.
    reds = "0xd62728 0xff7f0e 0x8c564b 0xe377c2"
    blues = "0x1f77b4 0x17becf 0x9467bd 0x7f7f7f"
    shade(w, j) = int(word(w, 1 + (int((j - 1) / 2) % 4)))
    gcolour(j) = (strstrt(word(growth, j), "global") == 1) ? shade(reds, j) : shade(blues, j)
    plot for [j = 1:m] csv(word(growth, j)) using (column("requests")):(column("rss_bytes") / MiB) \
         linewidth 2 lc rgb gcolour(j) title word(growth, j)
    set title "p99.9 latency (ms, wrk's) of each run, in the order run"
    unset key
    set xlabel ""
    set ylabel "ms"
    set format x "%g"
    set style fill solid 0.8 noborder
    set boxwidth 0.7
    set xrange [0.4:m + 0.6]
    set yrange [0:*]
    set xtics rotate by -30 nomirror
    set xtics ()
    do for [j = 1:m] { set xtics add (word(growth, j) j) }
    set grid noxtics ytics
    set datafile nocolumnheaders
    set offsets 0, 0, graph 0.08, 0
    plot sample [j = 1:m:1] '+' using (j):(real(word(p999, int(j)))):(gcolour(int(j))) \
         with boxes lc rgb variable, \
         [j = 1:m:1] '+' using (j):(real(word(p999, int(j)))):(sprintf("%.1f", real(word(p999, int(j))))) \
         with labels offset 0, 0.7
    unset multiplot
}
