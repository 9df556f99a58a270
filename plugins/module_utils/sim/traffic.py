# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The traffic simulator: mesh telemetry for pods that KWOK runs only on paper.

Every pod that is Running and Ready receives requests at a steady rate from the moment
the simulator first saw it ready. What those requests do is read from the pod's own
template, the way teams make a test release healthy or failing:

- ``ERROR_FRACTION`` (env var on any container): percent of requests answered 5xx;
- ``LATENCY_MS`` (env var): the typical latency; requests spread evenly from half to one
  and a half times it;
- ``VAULT_ADDR`` and ``VAULT_ROLE`` (env vars, with the pod's service account,
  ``VAULT_DATABASE_ROLE``, ``VAULT_AUTH_MOUNT`` and ``VAULT_DATABASE_MOUNT``): the app
  needs Vault to answer; the in-cluster proxy then logs
  in as the pod's service account and gets database credentials before it answers for
  the app (``PodTraffic.vault``, ``sim/routing.py``).

Counts are a pure function of elapsed time (no random numbers, no background ticker):
at each scrape the simulator computes each pod's totals from ``rate * seconds ready``.
A new revision means new pods and so new series, just as with a real mesh.

The series have the names and labels Flagger's built-in checks query:
Istio (``istio_requests_total``, ``istio_request_duration_milliseconds``), Linkerd
(``response_total``, ``response_latency_ms``), the plain HTTP ones the ``kubernetes``
provider uses (``http_request_duration_seconds``) and ingress-nginx's
(``nginx_ingress_controller_requests``, ``nginx_ingress_controller_response_duration_seconds``)
for the pods behind each Ingress of class ``nginx`` (:func:`nginx_routes`).

This file is the pure part (what a pod's traffic is, the exposition, the registry of
serving pods); the process that watches the pods and serves ``/metrics`` is the flagger
role's ``files/sim_traffic.py``, which also answers for in-cluster addresses with the
same registry (``sim/routing.py``).
"""

from __future__ import annotations

import threading
import time

ISTIO_BUCKETS_MS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
LINKERD_BUCKETS_MS = (1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 1000, 2000, 5000, 10000)
HTTP_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DEFAULT_LATENCY_MS = 25.0


class PodTraffic:
    """One ready pod: who it is, what its template says, since when it serves."""

    __slots__ = ("namespace", "pod", "workload", "error_percent", "latency_ms", "since", "labels", "image", "vault")

    def __init__(self, namespace, pod, workload, error_percent, latency_ms, since, labels=None, image="", vault=None):
        self.namespace = namespace
        self.pod = pod
        self.workload = workload
        self.error_percent = error_percent
        self.latency_ms = latency_ms
        self.since = since
        self.labels = dict(labels or {})
        self.image = image
        # VaultNeed, or None when the app does not use Vault.
        self.vault = vault

    def matches(self, namespace, selector):
        """Whether a Service in ``namespace`` with this ``selector`` (a label map) picks this pod."""
        return (self.namespace == namespace and bool(selector)
                and all(self.labels.get(key) == value for key, value in selector.items()))


def _env_number(pod, name, default, low, high):
    for container in (pod.get("spec") or {}).get("containers") or []:
        for env in container.get("env") or []:
            if env.get("name") == name and env.get("value") not in (None, ""):
                try:
                    return min(high, max(low, float(env["value"])))
                except ValueError:
                    return default
    return default


class VaultNeed(tuple):
    """What an app asks Vault for: ``(address, namespace, service_account, auth_role,
    database_role, auth_mount, database_mount, transit_key, transit_mount)``; no transit
    key, no transit."""

    __slots__ = ()

    def __new__(cls, address, namespace, service_account, auth_role, database_role, auth_mount="kubernetes",
                database_mount="database", transit_key=None, transit_mount="transit"):
        return tuple.__new__(cls, (address, namespace, service_account, auth_role, database_role, auth_mount,
                                   database_mount, transit_key, transit_mount))

    address = property(lambda self: self[0])
    namespace = property(lambda self: self[1])
    service_account = property(lambda self: self[2])
    auth_role = property(lambda self: self[3])
    database_role = property(lambda self: self[4])
    auth_mount = property(lambda self: self[5])
    database_mount = property(lambda self: self[6])
    transit_key = property(lambda self: self[7])
    transit_mount = property(lambda self: self[8])


def _env_text(pod, name):
    for container in (pod.get("spec") or {}).get("containers") or []:
        for env in container.get("env") or []:
            if env.get("name") == name and env.get("value"):
                return env["value"]
    return None


def vault_need(pod):
    """The pod's VaultNeed (from VAULT_ADDR and VAULT_ROLE, and the VAULT_* variables the
    apps role sets beside them), or None."""
    address, role = _env_text(pod, "VAULT_ADDR"), _env_text(pod, "VAULT_ROLE")
    if not address or not role:
        return None
    spec = pod.get("spec") or {}
    return VaultNeed(address, (pod.get("metadata") or {}).get("namespace"),
                     spec.get("serviceAccountName") or "default", role,
                     _env_text(pod, "VAULT_DATABASE_ROLE") or role, _env_text(pod, "VAULT_AUTH_MOUNT") or "kubernetes",
                     _env_text(pod, "VAULT_DATABASE_MOUNT") or "database", _env_text(pod, "VAULT_TRANSIT_KEY"),
                     _env_text(pod, "VAULT_TRANSIT_MOUNT") or "transit")


def workload_of(pod):
    """The workload a pod belongs to: its Deployment's name, else its owner's, else its own."""
    metadata = pod.get("metadata") or {}
    owners = metadata.get("ownerReferences") or []
    template_hash = (metadata.get("labels") or {}).get("pod-template-hash")
    for owner in owners:
        if owner.get("kind") == "ReplicaSet" and template_hash and owner["name"].endswith("-" + template_hash):
            return owner["name"][: -len(template_hash) - 1]
    if owners:
        return owners[0].get("name")
    return metadata.get("name")


def is_serving(pod):
    status = pod.get("status") or {}
    if status.get("phase") != "Running" or (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    return any(condition.get("type") == "Ready" and condition.get("status") == "True"
               for condition in status.get("conditions") or [])


def image_of(pod):
    """The image of the pod's first container (the app, in a podinfo-like pod)."""
    for container in (pod.get("spec") or {}).get("containers") or []:
        return container.get("image") or ""
    return ""


def traffic_for(pod, now):
    metadata = pod["metadata"]
    return PodTraffic(metadata.get("namespace"), metadata.get("name"), workload_of(pod),
                      _env_number(pod, "ERROR_FRACTION", 0.0, 0.0, 100.0),
                      _env_number(pod, "LATENCY_MS", DEFAULT_LATENCY_MS, 0.0, 600000.0), now,
                      labels=metadata.get("labels") or {}, image=image_of(pod), vault=vault_need(pod))


def counts(traffic, rps, now):
    """``(total, errors)`` requests served so far, exact fractions of elapsed time."""
    total = rps * max(0.0, now - traffic.since)
    return total, total * traffic.error_percent / 100.0


def bucket_counts(total, latency, buckets):
    """Cumulative histogram counts for ``total`` requests spread evenly over
    ``[latency/2, 3*latency/2]``."""
    low, high = latency * 0.5, latency * 1.5
    result = []
    for bound in buckets:
        if high <= low:
            share = 1.0 if bound >= latency else 0.0
        else:
            share = min(1.0, max(0.0, (bound - low) / (high - low)))
        result.append(total * share)
    return result


def _labels(**labels):
    return "{%s}" % ",".join('%s="%s"' % (key, str(value).replace("\\", "\\\\").replace('"', '\\"'))
                             for key, value in labels.items())


def _histogram(lines, name, labels, total, latency, buckets, scale=1.0):
    for bound, count in zip(buckets, bucket_counts(total, latency, buckets)):
        lines.append("%s_bucket%s %.6f" % (name, _labels(le=_format_bound(bound), **labels), count))
    lines.append("%s_bucket%s %.6f" % (name, _labels(le="+Inf", **labels), total))
    lines.append("%s_sum%s %.6f" % (name, _labels(**labels), total * latency))
    lines.append("%s_count%s %.6f" % (name, _labels(**labels), total))


def _format_bound(bound):
    return ("%g" % bound)


NGINX_CANARY = "nginx.ingress.kubernetes.io/canary"
NGINX_CLASS = "nginx"


class NginxRoute:
    """Requests ingress-nginx sends to a Service's pods for an Ingress.

    ``ingress`` is the main Ingress's name (a canary Ingress's traffic is counted under
    the Ingress it is the canary of, as ingress-nginx does); ``canary`` is the canary
    upstream (``<namespace>-<service>-<port>``) or empty.
    """

    __slots__ = ("namespace", "ingress", "service", "canary", "selector")

    def __init__(self, namespace, ingress, service, canary, selector):
        self.namespace, self.ingress, self.service, self.canary, self.selector = (
            namespace, ingress, service, canary, dict(selector))


def _is_nginx(ingress):
    spec = ingress.get("spec") or {}
    annotations = (ingress.get("metadata") or {}).get("annotations") or {}
    return (spec.get("ingressClassName") or annotations.get("kubernetes.io/ingress.class")) == NGINX_CLASS


def _hosts(ingress):
    return {rule.get("host") or "*" for rule in (ingress.get("spec") or {}).get("rules") or []}


def _backends(ingress):
    for rule in (ingress.get("spec") or {}).get("rules") or []:
        for path in (rule.get("http") or {}).get("paths") or []:
            service = (path.get("backend") or {}).get("service") or {}
            if service.get("name"):
                port = service.get("port") or {}
                yield service["name"], port.get("number") or port.get("name") or ""


def nginx_routes(ingresses, find_service):
    """The NginxRoutes of the Ingresses of class nginx.

    A canary Ingress (``nginx.ingress.kubernetes.io/canary: "true"``) belongs to the
    ordinary Ingress of its namespace that serves one of its hosts (else the one named
    like it without ``-canary``). ``find_service(namespace, name)`` returns the Service
    or None; Services without a selector are skipped.
    """
    nginx = [item for item in ingresses if _is_nginx(item)]
    routes = []
    for ingress in nginx:
        metadata = ingress.get("metadata") or {}
        namespace, name = metadata.get("namespace"), metadata.get("name")
        canary = ((metadata.get("annotations") or {}).get(NGINX_CANARY) or "").lower() == "true"
        main = name
        if canary:
            owners = [other["metadata"]["name"] for other in nginx
                      if other["metadata"].get("namespace") == namespace
                      and ((other["metadata"].get("annotations") or {}).get(NGINX_CANARY) or "").lower() != "true"
                      and _hosts(other) & _hosts(ingress)]
            main = owners[0] if owners else (name[: -len("-canary")] if name.endswith("-canary") else name)
        for service_name, port in sorted(set(_backends(ingress)), key=str):
            service = find_service(namespace, service_name) or {}
            selector = (service.get("spec") or {}).get("selector") or {}
            if selector:
                routes.append(NginxRoute(namespace, main, service_name,
                                         "%s-%s-%s" % (namespace, service_name, port) if canary else "", selector))
    # One series per (namespace, ingress, service, canary): several Ingresses or paths to
    # one Service must not repeat a series (Prometheus rejects the whole scrape then).
    unique = {}
    for route in routes:
        unique.setdefault((route.namespace, route.ingress, route.service, route.canary), route)
    return list(unique.values())


def _render_nginx(lines, pods, routes, rps, now):
    for route in routes:
        for traffic in sorted(pods, key=lambda item: item.pod):
            if not traffic.matches(route.namespace, route.selector):
                continue
            total, errors = counts(traffic, rps, now)
            labels = dict(namespace=route.namespace, ingress=route.ingress, service=route.service,
                          canary=route.canary, pod=traffic.pod)
            lines.append("nginx_ingress_controller_requests%s %.6f" % (_labels(status="200", **labels), total - errors))
            lines.append("nginx_ingress_controller_requests%s %.6f" % (_labels(status="500", **labels), errors))
            lines.append("nginx_ingress_controller_response_duration_seconds_sum%s %.6f" % (
                _labels(**labels), total * traffic.latency_ms / 1000.0))
            lines.append("nginx_ingress_controller_response_duration_seconds_count%s %.6f" % (_labels(**labels), total))
            lines.append("nginx_ingress_controller_response_duration_seconds_bucket%s %.6f" % (
                _labels(le="+Inf", **labels), total))


def render(pods, rps, now, nginx=()):
    """The Prometheus text exposition of every serving pod's traffic (``nginx``: the
    NginxRoutes, for ingress-nginx's series)."""
    lines = [
        "# TYPE istio_requests_total counter",
        "# TYPE istio_request_duration_milliseconds histogram",
        "# TYPE response_total counter",
        "# TYPE response_latency_ms histogram",
        "# TYPE http_request_duration_seconds histogram",
        "# TYPE nginx_ingress_controller_requests counter",
        "# TYPE nginx_ingress_controller_response_duration_seconds histogram",
    ]
    for traffic in sorted(pods, key=lambda item: (item.namespace, item.pod)):
        total, errors = counts(traffic, rps, now)
        good = total - errors
        istio = dict(reporter="destination", destination_workload=traffic.workload,
                     destination_workload_namespace=traffic.namespace,
                     destination_service_name=traffic.workload, pod=traffic.pod)
        lines.append("istio_requests_total%s %.6f" % (_labels(response_code="200", **istio), good))
        lines.append("istio_requests_total%s %.6f" % (_labels(response_code="500", **istio), errors))
        _histogram(lines, "istio_request_duration_milliseconds", istio, total, traffic.latency_ms,
                   ISTIO_BUCKETS_MS)
        linkerd = dict(namespace=traffic.namespace, deployment=traffic.workload, pod=traffic.pod,
                       direction="inbound")
        lines.append("response_total%s %.6f" % (_labels(classification="success", status_code="200", **linkerd), good))
        lines.append("response_total%s %.6f" % (_labels(classification="failure", status_code="500", **linkerd), errors))
        _histogram(lines, "response_latency_ms", linkerd, total, traffic.latency_ms, LINKERD_BUCKETS_MS)
        http = dict(kubernetes_namespace=traffic.namespace, kubernetes_pod_name=traffic.pod)
        lines.append("http_request_duration_seconds_count%s %.6f" % (_labels(status="200", **http), good))
        lines.append("http_request_duration_seconds_count%s %.6f" % (_labels(status="500", **http), errors))
        latency_seconds = traffic.latency_ms / 1000.0
        for bound, count in zip(HTTP_BUCKETS_S, bucket_counts(total, latency_seconds, HTTP_BUCKETS_S)):
            lines.append("http_request_duration_seconds_bucket%s %.6f" % (
                _labels(le=_format_bound(bound), **http), count))
        lines.append("http_request_duration_seconds_bucket%s %.6f" % (_labels(le="+Inf", **http), total))
    _render_nginx(lines, pods, nginx, rps, now)
    return "\n".join(lines) + "\n"


class Registry:
    """Serving pods by uid, kept current from the pod watch."""

    def __init__(self, clock=time.time):
        self.clock = clock
        self.lock = threading.Lock()
        self.pods = {}

    def sync(self, objects):
        """Reconcile with the watched pods (``{key: pod}``); keep ``since`` of known pods."""
        now = self.clock()
        with self.lock:
            serving = {}
            for pod in objects.values():
                if not is_serving(pod):
                    continue
                uid = pod["metadata"].get("uid") or pod["metadata"]["name"]
                serving[uid] = self.pods.get(uid) or traffic_for(pod, now)
            self.pods = serving

    def snapshot(self):
        with self.lock:
            return list(self.pods.values())

    def selected(self, namespace, selector):
        """The serving pods a Service's selector picks, by name."""
        return sorted((item for item in self.snapshot() if item.matches(namespace, selector)),
                      key=lambda item: item.pod)


def describe(pods):
    """What the simulator knows of each serving pod, as plain data (its ``/workloads``)."""
    return [dict(namespace=item.namespace, pod=item.pod, workload=item.workload, image=item.image,
                 labels=item.labels, error_percent=item.error_percent, latency_ms=item.latency_ms)
            for item in sorted(pods, key=lambda item: (item.namespace, item.pod))]
