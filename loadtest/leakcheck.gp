# leakcheck.gp -- the leak check's plot: memory over requests served, the
# fitted line after warm-up, the warm-up shaded. loadtest/leakcheck.py runs it:
#
#   gnuplot -e "dir='DIR'; title='...'; series='anon'; total_name='RSS'; anon='1'; \
#               a='INTERCEPT'; b='SLOPE'; warm='REQUESTS'" loadtest/leakcheck.gp
#
# Reads DIR/samples.csv (t_s, requests, bad_responses, total_bytes,
# anon_bytes) and writes DIR/leakcheck.svg. The fitted series is anon_bytes
# when anon='1', else total_bytes; the other one is drawn thin, for context.

if (!exists("dir")) { print "leakcheck.gp: set dir='...'"; exit status 2 }

set datafile separator comma
set datafile columnheaders
set terminal svg size 960,540 dynamic font "sans,13" noenhanced background rgb "white"
set output dir . "/leakcheck.svg"
set grid lc rgb "#dddddd"
set key below
set title title
set xlabel "requests served"
set ylabel "MiB"
set format x "%.0f"
set xrange [0:*]

MiB = 1048576.0
fa = real(a); fb = real(b); fw = real(warm)
fitcol = (anon eq "1") ? "anon_bytes" : "total_bytes"
fitted(x) = (x >= fw) ? (fa + fb * x) / MiB : NaN

set object 1 rect from 0, graph 0 to fw, graph 1 behind fc rgb "#f1e4c8" fs solid 0.6 noborder
set label 1 "warm-up" at fw, graph 0.96 right offset -0.5, 0 tc rgb "#8a6d3b" front
set samples 400

if (anon eq "1") {
    plot dir . "/samples.csv" using (column("requests")):(column("total_bytes") / MiB) \
             with lines lw 1 lc rgb "#9aa5b1" title total_name, \
         dir . "/samples.csv" using (column("requests")):(column(fitcol) / MiB) \
             with linespoints lw 1.5 pt 7 ps 0.35 lc rgb "#1f5fa8" title series . " (fitted)", \
         fitted(x) with lines lw 2.5 dt 2 lc rgb "#c0392b" title "fit after warm-up"
} else {
    plot dir . "/samples.csv" using (column("requests")):(column(fitcol) / MiB) \
             with linespoints lw 1.5 pt 7 ps 0.35 lc rgb "#1f5fa8" title series . " (fitted)", \
         fitted(x) with lines lw 2.5 dt 2 lc rgb "#c0392b" title "fit after warm-up"
}
