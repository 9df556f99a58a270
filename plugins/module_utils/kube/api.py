# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's one way to the Kubernetes API.

Every request goes through :class:`Kube`: kubernetes.core's client (its auth options,
kubeconfig and ``K8S_AUTH_*`` handling) and that client's raw ``request`` to a resource
path. The kinds the collection works on are few and fixed (:class:`Resource`), so they
need no discovery, which costs a dozen requests on a cold cache (``canary_info`` makes
two requests in all); only the manifests of a Flux path, whose kinds are not known in
advance, are looked up, once per group version (:meth:`Kube.resource_for`).

Errors are raised here, where the request is sent, as :class:`ApiError` with a message
that names what was being done and to which object; ``404`` on a read or a delete is
not an error but ``None`` / ``False``. Every request has a client-side timeout, so a
dead connection is never waited on for longer than asked.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError

FIELD_MANAGER = "gitops.progressive"
# (connect, read) seconds for requests that are not watches.
REQUEST_TIMEOUT = (10, 60)


@dataclass(frozen=True)
class Resource:
    """A kind at a fixed path: ``/apis/<group_version>/[namespaces/<ns>/]<plural>``."""

    group_version: str
    kind: str
    plural: str
    namespaced: bool = True

    def path(self, namespace=None, name=None):
        prefix = "/api/" if "/" not in self.group_version else "/apis/"
        path = prefix + self.group_version
        if self.namespaced and namespace:
            path += "/namespaces/%s" % namespace
        path += "/" + self.plural
        return path + ("/%s" % name if name else "")

    def describe(self, namespace=None, name=None):
        if name:
            return "%s %s" % (self.kind, "%s/%s" % (namespace, name) if namespace else name)
        return "%ss%s" % (self.kind, " in namespace %s" % namespace if namespace else "")


CANARY = Resource("flagger.app/v1beta1", "Canary", "canaries")
METRIC_TEMPLATE = Resource("flagger.app/v1beta1", "MetricTemplate", "metrictemplates")
EVENT = Resource("v1", "Event", "events")
NODE = Resource("v1", "Node", "nodes", namespaced=False)
POD = Resource("v1", "Pod", "pods")
SERVICE = Resource("v1", "Service", "services")
SECRET = Resource("v1", "Secret", "secrets")
SERVICE_ACCOUNT = Resource("v1", "ServiceAccount", "serviceaccounts")
INGRESS = Resource("networking.k8s.io/v1", "Ingress", "ingresses")
NAMESPACE = Resource("v1", "Namespace", "namespaces", namespaced=False)
DEPLOYMENT = Resource("apps/v1", "Deployment", "deployments")
LEASE = Resource("coordination.k8s.io/v1", "Lease", "leases")
DAEMONSET = Resource("apps/v1", "DaemonSet", "daemonsets")
WORKLOADS = {"Deployment": DEPLOYMENT, "DaemonSet": DAEMONSET}


class ApiError(CollectionError):
    """A request the API server refused, or could not be sent.

    ``status`` is the HTTP status, or None when the server did not answer at all
    (connection refused, reset, timed out): then ``unreachable`` is True.
    """

    def __init__(self, message, status=None, reason=None):
        super().__init__(message, status=status)
        self.status = status
        self.reason = reason

    @property
    def unreachable(self):
        return self.status is None

    @property
    def gone(self):
        return self.status == 410


def server_message(error):
    """What the API server said in an error response, or the error itself."""
    body = getattr(error, "body", None)
    if body:
        try:
            return json.loads(body).get("message") or str(body)[:500]
        except (ValueError, AttributeError, TypeError):
            return str(body)[:500]
    return getattr(error, "reason", None) or str(error)


def api_error(error, doing, obj):
    """An ApiError with one clear message from a client or transport exception."""
    status = getattr(error, "status", None)
    if status is None:
        return ApiError("%s %s: the API server did not answer: %s" % (doing, obj, error))
    return ApiError("%s %s: the API server answered %s: %s" % (doing, obj, status, server_message(error)),
                    status=status, reason=getattr(error, "reason", None))


def _transport_errors():
    """The exceptions that mean "no answer" (imported late: the client is optional)."""
    errors = [OSError]
    try:
        import urllib3.exceptions

        errors.append(urllib3.exceptions.HTTPError)
    except ImportError:  # pragma: no cover - urllib3 comes with the kubernetes client
        pass
    return tuple(errors)


def _api_exceptions():
    try:
        from kubernetes.client.rest import ApiException

        return (ApiException,)
    except ImportError:  # pragma: no cover
        return ()


class Kube:
    """Requests on kubernetes.core's client; see the module docstring."""

    def __init__(self, k8s_client):
        # kubernetes.core's K8SClient wraps a DynamicClient; a DynamicClient is taken as is.
        from_core = type(k8s_client).__name__ == "K8SClient"
        self.dynamic = k8s_client.client if from_core else k8s_client
        self.requests = 0
        # The API server's clock minus ours, from the Date of its last answer (None: no answer yet).
        # Server timestamps (lastTransitionTime, a Lease's renewTime) are compared with server_now(),
        # never with this machine's clock, which may be off by any amount.
        self.clock_offset = None

    # Construction from the three places a client's settings come from.
    @classmethod
    def from_module(cls, module):
        from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client

        return cls(_connect(lambda: get_api_client(module=module)))

    @classmethod
    def from_args(cls, args):
        """From task arguments (an action plugin on the controller)."""
        from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
        from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client

        settings = {key: value for key, value in args.items() if key in AUTH_ARG_SPEC and value is not None}
        return cls(_connect(lambda: get_api_client(**settings)))

    @classmethod
    def from_kubeconfig(cls, kubeconfig, context=None):
        from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client

        return cls(_connect(lambda: get_api_client(kubeconfig=kubeconfig, context=context)))

    # The one place a request is sent.
    def _send(self, method, path, doing, obj, body=None, timeout=REQUEST_TIMEOUT, **params):
        params = {key: value for key, value in params.items() if value is not None}
        self.requests += 1
        try:
            return self.dynamic.request(method, path, body=body, serialize=False, _request_timeout=timeout, **params)
        except _api_exceptions() + _transport_errors() as error:
            raise api_error(error, doing, obj)

    def request(self, method, path, doing, obj, body=None, timeout=REQUEST_TIMEOUT, **params):
        """Send a request and return its decoded JSON body."""
        response = self._send(method, path, doing, obj, body=body, timeout=timeout, **params)
        self._note_server_date(response)
        try:
            data = response.data
        except _transport_errors() as error:
            raise api_error(error, doing, obj)
        return json.loads(data.decode("utf-8") if isinstance(data, bytes) else data)

    def _note_server_date(self, response):
        headers = getattr(response, "headers", None) or {}
        date = headers.get("Date") if hasattr(headers, "get") else None
        if not date:
            return
        try:
            self.clock_offset = parsedate_to_datetime(date).timestamp() - time.time()
        except (TypeError, ValueError, OverflowError):
            return

    def server_now(self):
        """The API server's time now (timezone-aware), as its last answer's Date says; a
        cheap request asks for it when nothing was asked yet. Date has a resolution of one
        second, which is plenty for comparisons with the server's own timestamps."""
        if self.clock_offset is None:
            self.request("GET", "/version", "reading", "the API server's version")
        return datetime.fromtimestamp(time.time() + (self.clock_offset or 0.0), timezone.utc)

    def get(self, resource, namespace, name):
        """The object, or None when it does not exist."""
        try:
            return self.request("GET", resource.path(namespace, name), "reading", resource.describe(namespace, name))
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    def list(self, resource, namespace=None, label_selector=None, field_selector=None, timeout=REQUEST_TIMEOUT):
        """``(items, resourceVersion)``; each item carries its kind and apiVersion."""
        body = self.request("GET", resource.path(namespace), "listing", resource.describe(namespace),
                            timeout=timeout, label_selector=label_selector, field_selector=field_selector)
        items = body.get("items") or []
        for item in items:
            item.setdefault("kind", resource.kind)
            item.setdefault("apiVersion", resource.group_version)
        return items, (body.get("metadata") or {}).get("resourceVersion")

    def watch(self, resource, namespace=None, label_selector=None, field_selector=None, resource_version=None,
              timeout_seconds=60):
        """Yield ``(type, object)`` watch events until the server ends the watch.

        ``timeout_seconds`` bounds the watch on both sides: the server ends it then, and
        a connection silent for that long (half open, a dead server) raises ApiError
        instead of blocking.
        """
        obj = resource.describe(namespace)
        response = self._send("GET", resource.path(namespace), "watching", obj,
                              timeout=(10, timeout_seconds + 1), watch=True, resource_version=resource_version,
                              timeout_seconds=timeout_seconds, allow_watch_bookmarks=True,
                              label_selector=label_selector, field_selector=field_selector)
        try:
            for line in _lines(response):
                event = json.loads(line)
                yield event.get("type"), event.get("object") or {}
        except _transport_errors() as error:
            raise api_error(error, "watching", obj)
        except ValueError as error:
            raise ApiError("watching %s: the API server sent a line that is not JSON: %s" % (obj, error))
        finally:
            _close(response)

    def source(self, resource, namespace=None, name=None, label_selector=None):
        """``(lister, watcher)`` for the wait engine (kube/wait.py)."""
        field_selector = "metadata.name=%s" % name if name else None

        def lister(timeout):
            return self.list(resource, namespace, label_selector, field_selector, timeout=(10, timeout))

        def watcher(resource_version, timeout):
            return self.watch(resource, namespace, label_selector, field_selector, resource_version, timeout)

        return lister, watcher

    def resource_for(self, api_version, kind):
        """The Resource of any kind, from its group version's resource list (one request
        per group version, remembered). For objects the collection does not know in
        advance, such as the manifests in a Flux path; None when the server lacks the kind."""
        cache = self.__dict__.setdefault("_resources", {})
        if api_version not in cache:
            prefix = "/api/" if "/" not in api_version else "/apis/"
            try:
                body = self.request("GET", prefix + api_version, "discovering", "API %s" % api_version)
            except ApiError as error:
                if error.status != 404:
                    raise
                body = {}
            cache[api_version] = {entry["kind"]: Resource(api_version, entry["kind"], entry["name"],
                                                          bool(entry.get("namespaced")))
                                  for entry in body.get("resources") or [] if "/" not in entry["name"]}
        return cache[api_version].get(kind)

    def apply(self, resource, obj, dry_run=False, field_manager=FIELD_MANAGER):
        """Server-side apply of ``obj`` (field manager gitops.progressive); returns the result."""
        namespace, name = obj["metadata"].get("namespace"), obj["metadata"]["name"]
        return self.request("PATCH", resource.path(namespace, name),
                            "applying" if not dry_run else "applying (dry run)", resource.describe(namespace, name),
                            body=obj, content_type="application/apply-patch+yaml", field_manager=field_manager,
                            force_conflicts=True, dry_run="All" if dry_run else None)

    def patch(self, resource, namespace, name, patch, dry_run=False, patch_type="strategic"):
        content_type = {"strategic": "application/strategic-merge-patch+json",
                        "merge": "application/merge-patch+json"}[patch_type]
        return self.request("PATCH", resource.path(namespace, name), "changing", resource.describe(namespace, name),
                            body=patch, content_type=content_type, field_manager=FIELD_MANAGER,
                            dry_run="All" if dry_run else None)

    def create(self, resource, obj, dry_run=False, timeout=REQUEST_TIMEOUT):
        """Create ``obj``; ApiError with status 409 when it exists already."""
        namespace = obj["metadata"].get("namespace")
        return self.request("POST", resource.path(namespace), "creating",
                            resource.describe(namespace, obj["metadata"]["name"]), body=obj, timeout=timeout,
                            field_manager=FIELD_MANAGER, dry_run="All" if dry_run else None)

    def replace(self, resource, obj, timeout=REQUEST_TIMEOUT):
        """Replace ``obj`` as read: its resourceVersion makes a concurrent change a 409, not a lost write."""
        namespace, name = obj["metadata"].get("namespace"), obj["metadata"]["name"]
        return self.request("PUT", resource.path(namespace, name), "replacing", resource.describe(namespace, name),
                            body=obj, timeout=timeout, field_manager=FIELD_MANAGER)

    def delete(self, resource, namespace, name, dry_run=False, resource_version=None, timeout=REQUEST_TIMEOUT):
        """True if it was there to delete; with ``resource_version``, only that version of it (409 otherwise)."""
        body = {"preconditions": {"resourceVersion": resource_version}} if resource_version else None
        try:
            self.request("DELETE", resource.path(namespace, name), "deleting", resource.describe(namespace, name),
                         body=body, timeout=timeout, dry_run="All" if dry_run else None)
            return True
        except ApiError as error:
            if error.status == 404:
                return False
            raise


def _connect(make):
    """kubernetes.core's client, with its configuration problems as one clear error."""
    try:
        return make()
    except CollectionError:
        raise
    except Exception as error:  # pylint: disable=broad-except
        # get_api_client raises CoreException, ConfigException, FileNotFoundError, ...
        raise ApiError("connecting to the API server: %s" % error)


def _lines(response):
    """Newline-delimited chunks of a streamed response, as they arrive."""
    pending = b""
    for chunk in response.stream(amt=None, decode_content=False):
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            if line.strip():
                yield line.decode("utf-8")
    if pending.strip():
        yield pending.decode("utf-8")


def _close(response):
    for method in ("close", "release_conn"):
        try:
            getattr(response, method)()
        except Exception:  # pylint: disable=broad-except
            pass
