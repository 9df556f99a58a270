# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The demo app that real pods of the rehearsal platform run: this project's own, not podinfo.

podinfo (``github.com/stefanprodan/podinfo``) cannot be fetched through the Go module proxy
(its v6 tags carry no ``/v6`` module path), so the rehearsal platform runs a small app of
its own that answers like it: JSON on ``/``, ``/healthz`` and ``/readyz`` for probes,
``/version``, ``/status/<code>``, and Prometheus counters on ``/metrics``. Its image is
published as ``ghcr.io/gitops-progressive/demo-app``, never under podinfo's name.

``--error-rate`` (or ``ERROR_RATE``) makes an exact fraction of the answers on ``/`` a 500:
request *n* fails when ``floor(n * rate)`` grows, so 0.25 fails every fourth request,
and what Flagger measures can be compared with what the app was told to fail.
``--delay`` (or ``DELAY``, a Go duration) slows every answer on ``/``.
"""

from __future__ import annotations

DEMO_APP_VERSION = "v1.0.0"
DEMO_APP_IMAGE = "ghcr.io/gitops-progressive/demo-app"

DEMO_APP_MAIN = r'''package main

import (
    "encoding/json"
    "flag"
    "fmt"
    "log"
    "net/http"
    "os"
    "strconv"
    "strings"
    "sync"
    "time"
)

// The rehearsal platform's demo app (gitops.progressive): answers like podinfo, and fails
// an exact fraction of its answers on / when told to.
type app struct {
    version   string
    errorRate float64
    delay     time.Duration
    hostname  string

    mu       sync.Mutex
    requests uint64
    byCode   map[int]uint64
}

func (a *app) count(code int) {
    a.mu.Lock()
    a.byCode[code]++
    a.mu.Unlock()
}

// failNext reports whether the next request on / is one of the failing fraction.
func (a *app) failNext() bool {
    a.mu.Lock()
    defer a.mu.Unlock()
    a.requests++
    n := float64(a.requests)
    return int64(n*a.errorRate) > int64((n-1)*a.errorRate)
}

func (a *app) answer(w http.ResponseWriter, code int, body interface{}) {
    w.Header().Set("Content-Type", "application/json")
    w.Header().Set("X-App-Version", a.version)
    w.WriteHeader(code)
    _ = json.NewEncoder(w).Encode(body)
    a.count(code)
}

func (a *app) root(w http.ResponseWriter, r *http.Request) {
    if a.delay > 0 {
        time.Sleep(a.delay)
    }
    if a.failNext() {
        a.answer(w, http.StatusInternalServerError, map[string]string{"error": "failing by --error-rate", "version": a.version})
        return
    }
    a.answer(w, http.StatusOK, map[string]string{"hostname": a.hostname, "version": a.version,
        "message": "greetings from the gitops.progressive demo app"})
}

func (a *app) status(w http.ResponseWriter, r *http.Request) {
    code, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/status/"))
    if err != nil || code < 200 || code > 599 {
        code = http.StatusBadRequest
    }
    a.answer(w, code, map[string]int{"status": code})
}

func (a *app) metrics(w http.ResponseWriter, r *http.Request) {
    w.Header().Set("Content-Type", "text/plain; version=0.0.4")
    fmt.Fprintln(w, "# HELP demo_app_http_requests_total Answers by status code.")
    fmt.Fprintln(w, "# TYPE demo_app_http_requests_total counter")
    a.mu.Lock()
    defer a.mu.Unlock()
    for code, total := range a.byCode {
        fmt.Fprintf(w, "demo_app_http_requests_total{code=\"%d\",version=%q} %d\n", code, a.version, total)
    }
}

func env(name, fallback string) string {
    if value := os.Getenv(name); value != "" {
        return value
    }
    return fallback
}

func main() {
    a := &app{byCode: map[int]uint64{}}
    port := flag.Int("port", 9898, "port to listen on")
    flag.StringVar(&a.version, "version", env("APP_VERSION", "1.0.0"), "version to report")
    errorRate := flag.Float64("error-rate", 0, "fraction of answers on / that are a 500 (0 to 1)")
    delay := flag.Duration("delay", 0, "delay of every answer on /")
    flag.Parse()
    a.errorRate, a.delay = *errorRate, *delay
    if value := os.Getenv("ERROR_RATE"); value != "" {
        if parsed, err := strconv.ParseFloat(value, 64); err == nil {
            a.errorRate = parsed
        } else {
            log.Fatalf("ERROR_RATE: %v", err)
        }
    }
    if value := os.Getenv("DELAY"); value != "" {
        if parsed, err := time.ParseDuration(value); err == nil {
            a.delay = parsed
        } else {
            log.Fatalf("DELAY: %v", err)
        }
    }
    if a.errorRate < 0 || a.errorRate > 1 {
        log.Fatalf("--error-rate must be between 0 and 1, not %v", a.errorRate)
    }
    a.hostname, _ = os.Hostname()
    mux := http.NewServeMux()
    mux.HandleFunc("/", a.root)
    mux.HandleFunc("/status/", a.status)
    mux.HandleFunc("/metrics", a.metrics)
    for _, path := range []string{"/healthz", "/readyz"} {
        mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) { a.answer(w, http.StatusOK, map[string]string{"status": "OK"}) })
    }
    mux.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) { a.answer(w, http.StatusOK, map[string]string{"version": a.version}) })
    log.Printf("demo app %s on :%d, error rate %v, delay %v", a.version, *port, a.errorRate, a.delay)
    log.Fatal(http.ListenAndServe(fmt.Sprintf(":%d", *port), mux))
}
'''


# The sandbox ("pause") container of a real node's pods: holds the pod's namespaces, reaps
# the zombies it inherits, exits on SIGINT or SIGTERM. This project's own (Kubernetes'
# pause is C, built with its own toolchain); published as ghcr.io/gitops-progressive/pause.
PAUSE_VERSION = "v1.0.0"
PAUSE_IMAGE = "ghcr.io/gitops-progressive/pause"

PAUSE_MAIN = r'''package main

import (
    "os"
    "os/signal"
    "syscall"
    "time"
)

func main() {
    stop := make(chan os.Signal, 1)
    signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
    go func() {
        for {
            var status syscall.WaitStatus
            if _, err := syscall.Wait4(-1, &status, 0, nil); err != nil {
                time.Sleep(time.Second)
            }
        }
    }()
    <-stop
}
'''
