# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One release per app at a time, across controllers: a coordination.k8s.io/v1 Lease.

The Lease lives in the app's namespace, named after its canary. Its holder says who and
where (user, host, PID, the AWX job when there is one), so a refused release names it.
It is renewed while the release runs (a thread, every third of its duration) and deleted
on every way out; a Lease whose holder stopped renewing it (a controller that died) is
taken over once it has expired, judged by the API server's clock, never this machine's.
Writes carry the resourceVersion read, so two takers race on the server, not here.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import threading
import time
from datetime import datetime, timedelta, timezone

from ansible_collections.gitops.progressive.plugins.module_utils.kube.api import LEASE, ApiError
from ansible_collections.gitops.progressive.plugins.module_utils.release.errors import ReleaseError

LEASE_SECONDS = 60
# A renewal that takes longer than this is given up and tried again soon: one slow request
# must not let the Lease expire (a request's own timeout is a minute).
RENEW_TIMEOUT = (5, 10)
RENEW_RETRY = 2.0
PREFIX = "gitops-progressive-release-"
HOLDER_ANNOTATION = "gitops.progressive/holder"


def lease_name(app):
    return (PREFIX + app)[:253]


def holder(environ=None, awx=None):
    """Who runs this release and where: shown to anyone the Lease refuses and named in its
    commits. ``awx`` is what AWX passes as extra variables (``awx_job_id``, ``awx_user_name``,
    or their ``tower_`` names); AWX also sets ``JOB_ID`` in the job's environment."""
    environ = os.environ if environ is None else environ
    awx = awx or {}
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    who = {"user": user, "host": socket.gethostname(), "pid": os.getpid()}
    job = environ.get("JOB_ID") or awx.get("awx_job_id") or awx.get("tower_job_id")
    if job:
        who["awx_job"] = str(job)
    awx_user = awx.get("awx_user_name") or awx.get("tower_user_name")
    if awx_user:
        who["awx_user"] = str(awx_user)
    return who


def describe_holder(who):
    text = "%s@%s pid %s" % (who.get("user", "?"), who.get("host", "?"), who.get("pid", "?"))
    return text + (" (%s)" % describe_awx(who) if who.get("awx_job") else "")


def describe_awx(who):
    """"AWX job 42 launched by alice" (or without the user when AWX did not pass it)."""
    return "AWX job %s" % who["awx_job"] + (" launched by %s" % who["awx_user"] if who.get("awx_user") else "")


def micro_time(moment):
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_micro_time(text):
    if not text:
        return None
    for layout in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(text, layout).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    return None


def expires_at(lease):
    spec = lease.get("spec") or {}
    renewed = parse_micro_time(spec.get("renewTime") or spec.get("acquireTime"))
    if renewed is None:
        return None
    return renewed + timedelta(seconds=spec.get("leaseDurationSeconds") or LEASE_SECONDS)


class ReleaseLease:
    """The Lease of app ``namespace/app``; ``acquire()`` then ``release()`` (idempotent)."""

    def __init__(self, kube, namespace, app, who=None, seconds=LEASE_SECONDS, on_problem=None):
        self.kube, self.namespace, self.app = kube, namespace, app
        self.name = lease_name(app)
        self.who = who or holder()
        self.identity = describe_holder(self.who)
        self.seconds = seconds
        self.on_problem = on_problem or (lambda message: None)
        self.held = None  # the Lease as last written by us
        self.attempted = False  # a write to take it was sent (its answer may not have come back)
        self.renewed_at = None  # monotonic time of the last renewal the server confirmed
        self.lost = None  # why it is no longer ours, when that happened
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._renewer = None

    def describe(self):
        return "Lease %s/%s" % (self.namespace, self.name)

    def _body(self, now, acquired, resource_version=None):
        metadata = {"name": self.name, "namespace": self.namespace,
                    "labels": {"app.kubernetes.io/managed-by": "gitops.progressive"},
                    "annotations": {HOLDER_ANNOTATION: json.dumps(self.who, sort_keys=True)}}
        if resource_version:
            metadata["resourceVersion"] = resource_version
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata,
                "spec": {"holderIdentity": self.identity, "leaseDurationSeconds": self.seconds,
                         "acquireTime": micro_time(acquired), "renewTime": micro_time(now)}}

    def refusal(self, lease, now):
        """The error for a Lease another release holds and keeps renewing, or None when it can be taken."""
        spec = lease.get("spec") or {}
        if not spec.get("holderIdentity"):
            return None
        end = expires_at(lease)
        if end is not None and end <= now:
            return None
        return ReleaseError(
            "%s/%s: another release of this app is running, held by %s since %s (%s, renewed %s); "
            "nothing was written. Wait for it to end, or for the Lease to expire %d s after its holder "
            "stops renewing it" % (self.namespace, self.app, spec.get("holderIdentity"),
                                   spec.get("acquireTime") or "?", self.describe(), spec.get("renewTime") or "?",
                                   spec.get("leaseDurationSeconds") or self.seconds),
            holder=spec.get("holderIdentity"), since=spec.get("acquireTime"))

    def check(self):
        """Refuse now if another release holds the Lease (check mode: nothing is written)."""
        lease = self.kube.get(LEASE, self.namespace, self.name)
        if lease is not None:
            problem = self.refusal(lease, self.kube.server_now())
            if problem is not None:
                raise problem

    def acquire(self):
        """Take the Lease, or refuse naming its holder; then keep renewing it."""
        for _attempt in range(3):
            lease = self.kube.get(LEASE, self.namespace, self.name)
            now = self.kube.server_now()
            try:
                if lease is None:
                    self.attempted = True
                    self.held = self.kube.create(LEASE, self._body(now, now))
                else:
                    problem = self.refusal(lease, now)
                    if problem is not None:
                        raise problem
                    self.attempted = True
                    self.held = self.kube.replace(LEASE, self._body(now, now, lease["metadata"]["resourceVersion"]))
                self.renewed_at = time.monotonic()
            except ApiError as error:
                if error.status == 409:
                    continue  # another taker wrote it first: read again and judge that
                raise
            self._renewer = threading.Thread(target=self._renew_loop, name="lease-renewer", daemon=True)
            self._renewer.start()
            return self.held
        raise ReleaseError("%s/%s: the %s changed under three attempts to take it; another release "
                           "is starting: try again" % (self.namespace, self.app, self.describe()))

    def _renew_loop(self):
        pause = self.seconds / 3.0
        while not self._stop.wait(pause):
            try:
                self.renew()
                pause = self.seconds / 3.0
            except Exception as error:  # pylint: disable=broad-except
                # A thread must not die silently: the problem reaches the task's warnings,
                # and the renewal is tried again soon, well before the Lease expires.
                self.on_problem("could not renew %s (trying again): %s" % (self.describe(), error))
                pause = RENEW_RETRY

    def ensure_held(self, what):
        """Refuse ``what`` (a write) when the Lease is no longer this release's: taken over,
        deleted, or not renewed for longer than it lasts (another release may hold it now)."""
        if self.lost:
            raise ReleaseError("%s/%s: not %s: %s" % (self.namespace, self.app, what, self.lost), lease_lost=True)
        if self.renewed_at is not None and time.monotonic() - self.renewed_at >= self.seconds:
            raise ReleaseError("%s/%s: not %s: %s was not renewed for %d s, so another release may hold it now" % (
                self.namespace, self.app, what, self.describe(), time.monotonic() - self.renewed_at),
                lease_lost=True)

    def renew(self):
        with self._lock:
            if self.held is None:
                return
            spec = self.held["spec"]
            acquired = parse_micro_time(spec.get("acquireTime")) or self.kube.server_now()
            body = self._body(self.kube.server_now(), acquired, self.held["metadata"]["resourceVersion"])
            try:
                self.held = self.kube.replace(LEASE, body, timeout=RENEW_TIMEOUT)
                self.renewed_at = time.monotonic()
            except ApiError as error:
                if error.status in (404, 409):
                    self.lost = "%s was deleted or taken over by another release" % self.describe()
                    self.held = None
                    self.on_problem(self.lost)
                    return
                raise

    def release(self):
        """Stop renewing and delete the Lease if it is still ours (bounded: two short requests)."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=15)
        with self._lock:
            held, self.held = self.held, None
        if held is None and self.attempted and not self.lost:
            # Taken, but interrupted before the answer came back: ours if it names us.
            current = self.kube.get(LEASE, self.namespace, self.name)
            if current is not None and (current.get("spec") or {}).get("holderIdentity") == self.identity:
                held = current
        if held is None:
            return False
        try:
            return self.kube.delete(LEASE, self.namespace, self.name,
                                    resource_version=held["metadata"]["resourceVersion"], timeout=RENEW_TIMEOUT)
        except ApiError as error:
            if error.status == 409:
                return False  # renewed or taken by someone else since: not ours to delete
            raise
