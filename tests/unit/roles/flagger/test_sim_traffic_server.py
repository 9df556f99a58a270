"""The flagger role's traffic process (files/sim_traffic.py) as a proxy, on loopback.

A real HTTP server and a real proxy client (urllib with a proxy, as Go and curl use
http_proxy: absolute-form requests); the cluster is replaced by a Service table and a
registry filled by hand, and the load tester by a small server that echoes.
"""

import importlib.util
import json
import os
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.gitops.progressive.plugins.module_utils.sim import routing, traffic

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
SCRIPT = os.path.join(ROOT, "roles", "flagger", "files", "sim_traffic.py")


def load_script():
    spec = importlib.util.spec_from_file_location("sim_traffic", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pod(name, labels, error):
    return {"metadata": {"name": name, "namespace": "test", "uid": name, "labels": labels,
                         "ownerReferences": [{"kind": "ReplicaSet", "name": "podinfo-6b7"}]},
            "spec": {"containers": [{"name": "app", "image": "ghcr.io/stefanprodan/podinfo:6.7.1",
                                     "env": [{"name": "ERROR_FRACTION", "value": str(error)}]}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}


class EchoLoadTester(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        data = json.dumps({"path": self.path, "host": self.headers["Host"], "body": body.decode(),
                           "proxy_header": self.headers.get("Proxy-Connection")}).encode()
        self.send_response(202 if self.path == "/gate/open" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def serve(server):
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def proxy():
    script = load_script()
    registry = traffic.Registry(clock=lambda: 0.0)
    registry.sync({"test/a": pod("podinfo-6b7-a", {"app": "podinfo", "pod-template-hash": "6b7"}, 75)})
    services = {("test", "podinfo-canary"): {"spec": {"selector": {"app": "podinfo"}, "ports": [{"port": 9898}]}}}
    loadtester = serve(ThreadingHTTPServer(("127.0.0.1", 0), EchoLoadTester))
    handler = script.make_handler(registry, 10.0, lambda namespace, name: services.get((namespace, name)),
                                  "127.0.0.1:%d" % loadtester.server_address[1], "flagger-loadtester",
                                  routing.AppAnswers())
    server = serve(ThreadingHTTPServer(("127.0.0.1", 0), handler))
    address = "http://127.0.0.1:%d" % server.server_address[1]
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": address}))
    yield address, opener
    server.shutdown()
    loadtester.shutdown()
    server.server_close()
    loadtester.server_close()


def call(opener, url, data=None):
    try:
        with opener.open(urllib.request.Request(url, data=data), timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_the_load_tester_is_reached_by_its_in_cluster_name(proxy):
    _address, opener = proxy
    status, body = call(opener, "http://flagger-loadtester.test/", data=b'{"name": "podinfo"}')
    echoed = json.loads(body)
    assert status == 200 and echoed["path"] == "/" and echoed["body"] == '{"name": "podinfo"}'
    assert echoed["host"].startswith("127.0.0.1:") and echoed["proxy_header"] is None
    status, _body = call(opener, "http://flagger-loadtester.other.svc.cluster.local/gate/open", data=b"{}")
    assert status == 202


def test_an_app_answers_like_podinfo_with_its_error_fraction(proxy):
    _address, opener = proxy
    statuses = [call(opener, "http://podinfo-canary.test:9898/token", data=b"test")[0] for _turn in range(8)]
    assert statuses == [200, 500, 500, 500] * 2
    status, body = call(opener, "http://podinfo-canary.test:9898/token", data=b"test")
    token = json.loads(body)
    assert status == 200 and token["token"] and token["workload"] == "podinfo"
    assert token["image"] == "ghcr.io/stefanprodan/podinfo:6.7.1"


def test_unknown_services_get_a_502_that_says_why(proxy):
    _address, opener = proxy
    status, body = call(opener, "http://podinfo-canary.nowhere:9898/")
    assert status == 502 and "no Service 'podinfo-canary' in namespace 'nowhere'" in body
    status, body = call(opener, "http://www.example.com/")
    assert status == 502 and "not an in-cluster address" in body


def test_the_simulators_own_endpoints_still_answer(proxy):
    address, _opener = proxy
    plain = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    assert call(plain, address + "/healthz") == (200, "ok\n")
    assert "istio_requests_total" in call(plain, address + "/metrics")[1]
    (workload,) = json.loads(call(plain, address + "/workloads")[1])
    assert workload["pod"] == "podinfo-6b7-a" and workload["error_percent"] == 75.0
