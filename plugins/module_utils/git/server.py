# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A smart-HTTP git server on loopback: Debian's ``git http-backend`` behind a small
HTTP front, which authenticates every request and, after each successful push, notifies
webhooks (Flux's notification-controller ``Receiver``), the way GitHub or GitLab call a
webhook on push.

- It binds a loopback address only (``serve`` refuses anything else).
- Every request but ``/healthz`` needs HTTP basic authentication against one
  ``user:password`` line read from a 0600 file; nothing is readable or writable without
  it. ``git http-backend`` enables ``receive-pack`` for authenticated users.
- Webhooks come from a file too, one ``<url> [<secret>]`` line per hook (the file holds
  secrets: 0600). After a push each hook gets one GitHub-style ``push`` event per updated
  ref (``X-GitHub-Event: push``, a JSON body with ``ref``, ``before``, ``after``,
  ``repository`` and ``pusher``), signed like GitHub signs it when the line has a secret:
  ``X-Hub-Signature-256: sha256=<HMAC-SHA256 of the body with the secret, hex>``, which
  Flux's ``github`` Receiver checks against its Secret's ``token``. Hooks are called in
  the background with a short timeout and never block or fail a push.

Used by ``roles/flux/files/git_http.py``; no Ansible imports.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import os
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ansible.module_utils.urls import open_url

NOTIFY_TIMEOUT = 5
BACKEND = "/usr/lib/git-core/git-http-backend"


def is_loopback(host):
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def read_credentials(path):
    with open(path) as handle:
        user, _colon, password = handle.read().strip().partition(":")
    if not user or not password:
        raise ValueError("%s must hold one user:password line" % path)
    return user, password


def read_hooks(path):
    """``[(url, secret or None), ...]`` from the hooks file: ``<url> [<secret>]`` per line,
    blank lines and ``#`` comments skipped."""
    if not path or not os.path.exists(path):
        return []
    hooks = []
    with open(path) as handle:
        for line in handle:
            fields = line.split()
            if fields and not fields[0].startswith("#"):
                hooks.append((fields[0], fields[1] if len(fields) > 1 else None))
    return hooks


def sign(body, secret):
    """GitHub's ``X-Hub-Signature-256`` value of ``body`` (bytes) with ``secret``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def ref_updates(request):
    """``[(old, new, ref), ...]`` of a ``git-receive-pack`` request body: the pkt-lines
    before the first flush (``<old> <new> <ref>``, capabilities after a NUL on the first).
    Empty when the body is not that."""
    updates, offset = [], 0
    while offset + 4 <= len(request):
        try:
            size = int(request[offset:offset + 4], 16)
        except ValueError:
            return []
        if size == 0:
            return updates
        if size < 4 or offset + size > len(request):
            return []
        line = request[offset + 4:offset + size].split(b"\0", 1)[0].strip().decode("utf-8", "replace")
        fields = line.split(" ")
        if len(fields) == 3:
            updates.append(tuple(fields))
        offset += size
    return updates


def push_events(repository, pusher, request):
    """The GitHub-style ``push`` payloads of one push: one per updated ref, or one without
    a ref when the request could not be read."""
    base = {"repository": {"name": repository.rsplit("/", 1)[-1].rsplit(".git", 1)[0], "full_name": repository},
            "pusher": {"name": pusher}}
    updates = ref_updates(request)
    if not updates:
        return [dict(base, ref="", before="", after="")]
    return [dict(base, ref=ref, before=old, after=new) for old, new, ref in updates]


def webhook_request(payload, secret=None, event="push"):
    """``(body, headers)`` of one webhook delivery, signed when ``secret`` is given."""
    body = json.dumps(payload, sort_keys=True).encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/gitops-progressive",
               "X-GitHub-Event": event, "X-GitHub-Delivery": str(uuid.uuid4())}
    if secret:
        headers["X-Hub-Signature-256"] = sign(body, secret)
    return body, headers


def authorised(header, user, password):
    if not header or not header.startswith("Basic "):
        return None
    try:
        given_user, _colon, given_password = base64.b64decode(header[6:]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    ok = hmac.compare_digest(given_user.encode(), user.encode()) & hmac.compare_digest(
        given_password.encode(), password.encode())
    return given_user if ok else None


def parse_cgi(output):
    """``(status, headers, body)`` of a CGI response."""
    head, _sep, body = output.partition(b"\r\n\r\n")
    if not _sep:
        head, _sep, body = output.partition(b"\n\n")
    status, headers = 200, []
    for line in head.decode("latin-1").splitlines():
        name, _colon, value = line.partition(":")
        if name.lower() == "status":
            status = int(value.split()[0])
        elif name:
            headers.append((name.strip(), value.strip()))
    return status, headers, body


def notify(hooks, payloads, log):
    """POST each payload to each hook (``(url, secret)``, see ``webhook_request``), in a
    daemon thread; results go to ``log``."""
    def send():
        for url, secret in hooks:
            for payload in payloads:
                body, headers = webhook_request(payload, secret)
                try:
                    response = open_url(url, data=body, method="POST", timeout=NOTIFY_TIMEOUT, headers=headers)
                    log("notified a push hook (%s): HTTP %d" % ("signed" if secret else "unsigned", response.status))
                    response.close()
                except (OSError, ValueError) as error:
                    log("push hook failed: %s" % error)
    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


class GitHandler(BaseHTTPRequestHandler):
    server_version = "gitops-progressive-git/1"
    # Set on the server: root, user, password, hooks_file, log.

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        self.server.log("%s %s" % (self.address_string(), format % args))

    def do_GET(self):
        self._handle()

    def do_POST(self):
        self._handle()

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self):
        path, _q, query = self.path.partition("?")
        if path == "/healthz":
            return self._reply(200, b"ok\n", [("Content-Type", "text/plain")])
        user = authorised(self.headers.get("Authorization"), self.server.user, self.server.password)
        if user is None:
            return self._reply(401, b"authentication required\n", [
                ("WWW-Authenticate", 'Basic realm="gitops.progressive git"'), ("Content-Type", "text/plain")])
        body = self._body() if self.command == "POST" else b""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": self.server.root, "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command, "PATH_INFO": path, "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": user, "REMOTE_ADDR": self.client_address[0],
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        }
        result = subprocess.run([BACKEND], input=body, capture_output=True, env=env, check=False)
        if result.returncode != 0 and not result.stdout:
            self.server.log("git http-backend failed: %s" % result.stderr.decode(errors="replace").strip())
            return self._reply(500, b"git http-backend failed\n", [("Content-Type", "text/plain")])
        status, headers, payload = parse_cgi(result.stdout)
        self._reply(status, payload, headers)
        if self.command == "POST" and path.endswith("/git-receive-pack") and status == 200:
            repository = path[:-len("/git-receive-pack")].strip("/")
            notify(read_hooks(self.server.hooks_file), push_events(repository, user, body), self.server.log)
        return None


def serve(root, listen, credentials_file, hooks_file=None, log=None):
    host, _colon, port = listen.rpartition(":")
    host = host.strip("[]")
    if not is_loopback(host):
        raise ValueError("listen: %s is not a loopback address; the git server serves 127.0.0.1 only" % host)
    server = ThreadingHTTPServer((host, int(port)), GitHandler)
    server.root = os.path.abspath(root)
    server.user, server.password = read_credentials(credentials_file)
    server.hooks_file = hooks_file
    server.log = log or (lambda line: (sys.stderr.write(line + "\n"), sys.stderr.flush()))
    return server
