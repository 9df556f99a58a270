# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The simulated platform's traffic process: mesh telemetry, and the in-cluster proxy.

One process, one listener on loopback, one registry of ready pods (followed with the
collection's watch engine):

- origin-form requests are the simulator's own endpoints: ``/metrics`` (what
  Prometheus scrapes, module_utils/sim/traffic.py; ingress-nginx's series come from the
  Ingresses and Services listed at each scrape), ``/workloads`` (what it knows, as
  JSON), ``/healthz``;
- absolute-form requests (``GET http://podinfo-canary.test:9898/ HTTP/1.1``) are proxy
  requests from Flagger and the load tester, which run with ``http_proxy`` pointing
  here; module_utils/sim/routing.py decides: forward to the local load tester, answer
  like the app from the Service's ready pods, or a 502 that says why.

The flagger role runs it with ansible_playbook_python and a PYTHONPATH where this
collection is importable as ansible_collections.gitops.progressive:
``sim_traffic.py --kubeconfig FILE --listen 127.0.0.1:19100 --loadtester 127.0.0.1:18888``
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from ansible_collections.gitops.progressive.plugins.module_utils.sim import routing, traffic

# Headers that belong to one connection, not to the request (RFC 9110 7.6.1).
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
              "te", "trailer", "transfer-encoding", "upgrade"}
# A load tester task (a pre-rollout bash command) may run for a long time; Flagger's own
# webhook timeout is what bounds the caller.
LOADTESTER_TIMEOUT = 3600


def follow_pods(registry, kube, stop):
    """Keep ``registry`` in step with every pod in the cluster until ``stop`` is set."""
    from ansible_collections.gitops.progressive.plugins.module_utils.kube.api import POD
    from ansible_collections.gitops.progressive.plugins.module_utils.kube.wait import WaitTimeout, wait_for

    lister, watcher = kube.source(POD)
    while not stop.is_set():
        try:
            # A predicate that never completes; the registry follows every change.
            wait_for(lister, watcher, lambda objects: None, timeout=300,
                     on_change=lambda objects, _verdict: registry.sync(objects))
        except WaitTimeout:
            continue
        except Exception as error:  # pylint: disable=broad-except
            # The API server restarts or refuses for a while: say so, start over.
            print("sim_traffic: following pods: %s" % error, file=sys.stderr, flush=True)
            stop.wait(1)


def service_finder(kube):
    from ansible_collections.gitops.progressive.plugins.module_utils.kube.api import SERVICE

    def find_service(namespace, name):
        try:
            return kube.get(SERVICE, namespace, name)
        except Exception as error:  # pylint: disable=broad-except
            raise routing.RouteError("cannot read Service %s/%s: %s" % (namespace, name, error))

    return find_service


def nginx_finder(kube):
    """The NginxRoutes of the cluster's Ingresses now (none, and a line on stderr, on error)."""
    from ansible_collections.gitops.progressive.plugins.module_utils.kube.api import INGRESS, SERVICE

    def find_routes():
        try:
            ingresses = kube.list(INGRESS)[0]
            if not ingresses:
                return []
            services = {(item["metadata"]["namespace"], item["metadata"]["name"]): item
                        for item in kube.list(SERVICE)[0]}
        except Exception as error:  # pylint: disable=broad-except
            print("sim_traffic: reading Ingresses: %s" % error, file=sys.stderr, flush=True)
            return []
        return traffic.nginx_routes(ingresses, lambda namespace, name: services.get((namespace, name)))

    return find_routes


def make_handler(registry, rps, find_service, loadtester, loadtester_service, answers, find_routes=list):
    loadtester_host, _colon, loadtester_port = loadtester.rpartition(":")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the name http.server wants)
            self.handle_request()

        do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET  # noqa: N815

        def do_CONNECT(self):  # noqa: N802
            self.send_text(405, "gitops.progressive sim proxy: only http:// in-cluster addresses are proxied, "
                                "not CONNECT %s\n" % self.path)

        def handle_request(self):
            if self.path.startswith("http://"):
                self.proxy()
            else:
                self.local()

        def body(self):
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def send_bytes(self, status, data, kind, headers=()):
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def send_text(self, status, text):
            self.send_bytes(status, text.encode(), "text/plain; charset=utf-8")

        def local(self):
            if self.path.startswith("/metrics"):
                self.send_bytes(200, traffic.render(registry.snapshot(), rps, registry.clock(), find_routes()).encode(),
                                "text/plain; version=0.0.4")
            elif self.path.startswith("/workloads"):
                self.send_bytes(200, json.dumps(traffic.describe(registry.snapshot()), indent=1).encode(),
                                "application/json")
            elif self.path.startswith("/healthz"):
                self.send_text(200, "ok\n")
            else:
                self.send_text(404, "not found\n")

        def proxy(self):
            url = urlsplit(self.path)
            payload = self.body()
            try:
                target = routing.parse_authority(url.netloc)
                decision = routing.route(target, find_service, registry.selected, loadtester_service)
            except routing.RouteError as error:
                self.send_text(error.status, "gitops.progressive sim proxy: %s\n" % error)
                return
            path = url.path or "/"
            if url.query:
                path += "?" + url.query
            if isinstance(decision, routing.ToLoadTester):
                self.forward(path, payload)
            else:
                status, body = answers.answer(decision, self.command, path)
                self.send_bytes(status, (json.dumps(body) + "\n").encode(), "application/json")

        def forward(self, path, payload):
            headers = {name: value for name, value in self.headers.items() if name.lower() not in HOP_BY_HOP}
            headers["Host"] = loadtester
            connection = http.client.HTTPConnection(loadtester_host, int(loadtester_port), timeout=LOADTESTER_TIMEOUT)
            try:
                connection.request(self.command, path, body=payload, headers=headers)
                response = connection.getresponse()
                data = response.read()
            except OSError as error:
                self.send_text(502, "gitops.progressive sim proxy: the load tester at %s did not answer: %s\n"
                               % (loadtester, error))
                return
            finally:
                connection.close()
            passed = [(name, value) for name, value in response.getheaders()
                      if name.lower() not in HOP_BY_HOP | {"content-length", "content-type"}]
            self.send_bytes(response.status, data, response.getheader("Content-Type") or "text/plain", passed)

        def log_message(self, *args):
            pass

    return Handler


def vault_asker(kube):
    """What an app that needs Vault does before it answers: log in to Vault as its service
    account (a TokenRequest token, Kubernetes auth), get its database credentials and, with
    a transit key, encrypt and decrypt a value with it (the login token is revoked at once,
    and the credentials with it)."""

    def ask(need):
        import hvac

        from ansible_collections.gitops.progressive.plugins.module_utils.vault import credentials

        client = hvac.Client(url=need.address, timeout=5)
        credentials.issue(client, need.address,
                          lambda: credentials.service_account_token(kube, need.namespace, need.service_account,
                                                                    seconds=600),
                          "%s/%s" % (need.namespace, need.service_account), need.auth_mount, need.auth_role,
                          need.database_mount, need.database_role, revoke=True,
                          transit_key=need.transit_key, transit_mount=need.transit_mount)

    return ask


def main(argv=None):
    parser = argparse.ArgumentParser(description="Simulated mesh telemetry and in-cluster proxy for a KWOK cluster")
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--listen", default="127.0.0.1:19100")
    parser.add_argument("--rps", type=float, default=20.0, help="requests per second per ready pod")
    parser.add_argument("--loadtester", default="127.0.0.1:18888", help="host:port of the local load tester")
    parser.add_argument("--loadtester-service", default=routing.DEFAULT_LOADTESTER_SERVICE,
                        help="Service name that means the load tester, in any namespace")
    args = parser.parse_args(argv)
    host, port = args.listen.rsplit(":", 1)

    from ansible_collections.gitops.progressive.plugins.module_utils.kube.api import Kube

    kube = Kube.from_kubeconfig(args.kubeconfig)
    registry = traffic.Registry()
    stop = threading.Event()
    threading.Thread(target=follow_pods, args=(registry, kube, stop), daemon=True).start()
    handler = make_handler(registry, args.rps, service_finder(kube), args.loadtester, args.loadtester_service,
                           routing.AppAnswers(vault_check=routing.VaultChecks(vault_asker(kube))), nginx_finder(kube))
    server = ThreadingHTTPServer((host, int(port)), handler)
    server.daemon_threads = True
    try:
        server.serve_forever()
    finally:
        stop.set()


if __name__ == "__main__":
    main()
