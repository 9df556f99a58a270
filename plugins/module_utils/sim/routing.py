# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""In-cluster addresses on the simulated platform: where a request for ``<svc>.<ns>`` goes.

Canary specs name in-cluster addresses (``http://flagger-loadtester.test/``,
``http://podinfo-canary.test:9898/``). On the simulated platform Flagger and its load
tester run on the host, where those names do not resolve. The traffic simulator is also
an HTTP proxy (loopback only) that both use through ``http_proxy``; for every proxied
request it asks :func:`route` what to do:

- the load tester's Service name (``flagger-loadtester`` unless configured), in any
  namespace: forward to the local load tester;
- any other Service: answer the way the app would, from the ready pods its selector
  picks in the registry the simulator keeps for the metrics (:class:`AppAnswers`),
  with that workload's ``ERROR_FRACTION`` honoured by a counter (75 % is exactly three
  500s in every four answers, no randomness);
- anything else (no namespace, no such Service, a port the Service does not have, an
  address that is not a Service): a 502 that says why.

Everything here is pure: the Service look-up and the pods come in as functions and
lists, so the decisions are unit-tested without a server.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from fractions import Fraction

DEFAULT_LOADTESTER_SERVICE = "flagger-loadtester"
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_CLUSTER_SUFFIXES = (".svc.cluster.local", ".svc")


class RouteError(Exception):
    """A request the proxy cannot route; the message is the 502's body."""

    status = 502


@dataclass(frozen=True)
class Target:
    """``<service>.<namespace>:<port>`` as a request named it (namespace None if it did not)."""

    service: str
    namespace: str | None
    port: int

    def __str__(self):
        if self.namespace:
            return "%s.%s:%d" % (self.service, self.namespace, self.port)
        return "%s:%d" % (self.service, self.port)


def parse_authority(authority, default_port=80):
    """The Target of ``host[:port]``; RouteError when it is not a Service address.

    Accepted: ``svc``, ``svc.ns``, ``svc.ns.svc``, ``svc.ns.svc.cluster.local``, each
    with an optional port; names as Kubernetes spells them (DNS-1123 labels).
    """
    host, port = authority.strip(), default_port
    if host.startswith("["):
        raise RouteError("%s is an IP address, not an in-cluster Service name" % authority)
    if ":" in host:
        host, _colon, port_text = host.rpartition(":")
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise RouteError("%r has no valid port" % authority)
        port = int(port_text)
    host = host.lower().rstrip(".")
    for suffix in _CLUSTER_SUFFIXES:
        if host.endswith(suffix):
            host = host[: -len(suffix)]
            break
    labels = host.split(".")
    if re.match(r"^[0-9.]+$", host):
        raise RouteError("%s is an IP address, not an in-cluster Service name" % authority)
    if len(labels) > 2 or not all(_LABEL.match(label) for label in labels):
        raise RouteError("%s is not an in-cluster address: the simulated platform's proxy routes "
                         "<service>.<namespace>[.svc[.cluster.local]][:port] only" % authority)
    return Target(labels[0], labels[1] if len(labels) == 2 else None, port)


@dataclass(frozen=True)
class ToLoadTester:
    """Forward the request to the local load tester."""


@dataclass(frozen=True)
class ToApp:
    """Answer as the app behind ``service`` would, from one of ``pods`` (PodTraffic)."""

    service: str  # namespace/name
    pods: tuple = field(default=())


def route(target, find_service, selected, loadtester_service=DEFAULT_LOADTESTER_SERVICE):
    """What to do with a request for ``target``: ToLoadTester, ToApp, or RouteError.

    ``find_service(namespace, name)`` returns the Service object or None;
    ``selected(namespace, selector)`` returns the ready pods a selector picks.
    """
    if target.service == loadtester_service:
        return ToLoadTester()
    if not target.namespace:
        raise RouteError("%s names no namespace: on the simulated platform use <service>.<namespace> "
                         "(only the load tester, %s, is found without one)" % (target, loadtester_service))
    key = "%s/%s" % (target.namespace, target.service)
    service = find_service(target.namespace, target.service)
    if service is None:
        raise RouteError("no Service %s: no Service %r in namespace %r (or no such namespace)"
                         % (target, target.service, target.namespace))
    spec = service.get("spec") or {}
    ports = [port.get("port") for port in spec.get("ports") or []]
    if target.port not in ports:
        raise RouteError("Service %s has no port %d (its ports: %s)"
                         % (key, target.port, ", ".join(str(port) for port in ports) or "none"))
    selector = spec.get("selector") or {}
    if not selector:
        raise RouteError("Service %s has no selector: the simulated platform answers only for "
                         "Services that select pods" % key)
    pods = tuple(selected(target.namespace, selector))
    if not pods:
        error = RouteError("Service %s selects no ready pod (selector %s)" % (
            key, ",".join("%s=%s" % item for item in sorted(selector.items()))))
        error.status = 503
        raise error
    return ToApp(key, pods)


class ErrorCounter:
    """Which answers fail, for a workload's ERROR_FRACTION, without random numbers.

    Answer ``n`` (from 0) of a workload fails when ``floor((n + 1) * p / 100)`` passes
    ``floor(n * p / 100)``: with 75 % that is answers 1, 2, 3 of every 4; with 20 % one
    in five; 0 % never; 100 % always. A counter is kept per workload and error
    fraction, so a new revision with another fraction starts its own sequence.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.served = {}

    def next_fails(self, key, percent):
        share = Fraction(percent).limit_denominator(1000000) / 100
        with self.lock:
            served = self.served.get((key, percent), 0)
            self.served[(key, percent)] = served + 1
        return int((served + 1) * share) > int(served * share)


def image_version(image):
    """``6.7.0`` for ``ghcr.io/stefanprodan/podinfo:6.7.0`` (``latest`` without a tag)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else "latest"


class AppAnswers:
    """podinfo-like answers for a Service's pods: ``/``, ``/healthz``, ``/readyz``,
    ``/version``, ``POST /token``; each JSON body names the pod, its workload and image.

    Pods answer in turn (one counter per Service); every answer first asks the
    workload's ErrorCounter whether it is one of the failing ones (500). A pod whose app
    needs Vault (``pod.vault``) answers 503 with Vault's error while ``vault_check(need)``
    (``(ok, message)``, see :class:`VaultChecks`) says Vault does not serve it.
    """

    def __init__(self, errors=None, vault_check=None):
        self.errors = errors or ErrorCounter()
        self.vault_check = vault_check
        self.lock = threading.Lock()
        self.turns = {}

    def answer(self, to_app, method, path):
        """``(status, body)``: the body is a dict to send as JSON."""
        with self.lock:
            turn = self.turns.get(to_app.service, 0)
            self.turns[to_app.service] = turn + 1
        pod = to_app.pods[turn % len(to_app.pods)]
        version = image_version(pod.image)
        about = dict(service=to_app.service, namespace=pod.namespace, workload=pod.workload, pod=pod.pod,
                     image=pod.image, simulated=True)
        if self.errors.next_fails("%s/%s" % (pod.namespace, pod.workload), pod.error_percent):
            return 500, dict(about, error="simulated failure: ERROR_FRACTION=%g%% on %s/%s"
                             % (pod.error_percent, pod.namespace, pod.workload))
        if pod.vault is not None and self.vault_check is not None:
            served, message = self.vault_check(pod.vault)
            if not served:
                return 503, dict(about, error="the app cannot get its database credentials: %s" % message)
        path = path.split("?", 1)[0].rstrip("/") or "/"
        if path in ("/healthz", "/readyz"):
            return (200, dict(about, status="OK")) if method in ("GET", "HEAD") else _not_allowed(about, method, path)
        if path == "/version":
            return (200, dict(about, version=version, commit="simulated")) if method in ("GET", "HEAD") \
                else _not_allowed(about, method, path)
        if path == "/token":
            if method != "POST":
                return _not_allowed(about, method, path)
            return 200, dict(about, token="simulated.%s.%s" % (pod.workload, version), expires_at="2099-01-01T00:00:00Z")
        if path == "/":
            return 200, dict(about, hostname=pod.pod, version=version, message="greetings from podinfo v%s" % version)
        return 404, dict(about, error="404 page not found: %s" % path)


class VaultChecks:
    """Whether Vault serves an app, asked at most once per ``ttl`` seconds per VaultNeed.

    ``ask(need)`` logs in and gets credentials as the app would, and raises with the
    reason when it cannot. Requests for the same app while it is being asked wait for that
    answer (a lock per need), and an answer counts from when it came, so the traffic of
    many requests asks Vault once per ``ttl``."""

    def __init__(self, ask, ttl=5.0, clock=None):
        import time

        self.ask = ask
        self.ttl = ttl
        self.clock = clock or time.monotonic
        self.lock = threading.Lock()
        self.locks = {}
        self.known = {}

    def __call__(self, need):
        with self.lock:
            need_lock = self.locks.setdefault(need, threading.Lock())
        with need_lock:
            known = self.known.get(need)
            if known and self.clock() - known[0] < self.ttl:
                return known[1]
            try:
                self.ask(need)
                verdict = (True, "")
            except Exception as error:  # pylint: disable=broad-except
                verdict = (False, str(error))
            self.known[need] = (self.clock(), verdict)
            return verdict


def _not_allowed(about, method, path):
    return 405, dict(about, error="method %s not allowed on %s" % (method, path))
