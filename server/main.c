/* main.c -- memoscope: start, serve until SIGTERM or SIGINT, stop cleanly. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "adder.h"
#include "config.h"
#include "daemon.h"
#include "guard.h"
#include "history.h"
#include "proc.h"
#include "probe.h"
#include "scope.h"
#include "stats.h"
#include "table.h"
#include "timer.h"

#define GRACE_MS 10000 /* requests in flight get this long to finish */
#define TIMER_SPARE 64 /* timer slots beyond one per connection */

/* Every connection is a file descriptor: take all the kernel allows us. */
static void raiseFileLimit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv) {
    config cfg;
    switch (configParse(&cfg, argc, argv, stdout, stderr)) {
    case CONFIG_OK:
        break;
    case CONFIG_EXIT:
        return 0;
    case CONFIG_PROBE:
        return probeRun(cfg.bind, cfg.port, cfg.probe_path, stdout, stderr) ? 0 : 1;
    case CONFIG_ERROR:
        return 2;
    }

    /* Signals are taken by sigwait below, never by a handler: block them
     * before any thread starts so that every thread inherits the mask. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    raiseFileLimit();

    statsSettingsWriter writer = configStatsWriter(&cfg);
    statsInit(&writer);
    procInit();
    guardSettings guard = configGuardSettings(&cfg);
    if (!guardStart(&guard, "/", stderr))
        return 2; /* a guard that cannot mean anything here: named on stderr */
    scopeSettings scope = configScopeSettings(&cfg);
    if (!scopeInit(&scope)) {
        fprintf(stderr, "memoscope: out of memory\n");
        return 1;
    }
    if (!timerStart((size_t)cfg.max_connections + TIMER_SPARE)) {
        fprintf(stderr, "memoscope: cannot start the timer thread\n");
        scopeShutdown();
        return 1;
    }
    if (!scopeSweepStart()) {
        fprintf(stderr, "memoscope: cannot start the cache sweep\n");
        timerStop();
        scopeShutdown();
        return 1;
    }
    calcSettings calc = configCalcSettings(&cfg);
    const httpRoutes *routes = routesStart(&calc);
    httpSettings http = configHttpSettings(&cfg);
    unsigned port;
    if (!routes || !httpStart(&http, routes, &port)) {
        routesStop();
        scopeSweepStop();
        timerStop();
        scopeShutdown();
        return 1;
    }
    /* The live page's ten minutes of history; without it the page starts empty. */
    if (!historyStart())
        fprintf(stderr, "memoscope: no history thread: the live page starts with empty charts\n");
    configDescribe(&cfg, port, stderr);

    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "memoscope: %s, stopping: finishing requests in flight\n",
            sig == SIGTERM ? "SIGTERM" : "SIGINT");

    scopeSweepStop(); /* before httpStop hurries every timer */
    httpStop(GRACE_MS);
    routesStop();
    historyStop();
    guardStop();
    timerStop();
    scopeShutdown();
    adderShutdown();
    fprintf(stderr, "memoscope: stopped cleanly\n");
    return 0;
}
