"""kube/api.py against a real HTTP server on loopback: errors, 404s, watch streams, dead connections."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.gitops.progressive.plugins.module_utils.kube import api
from ansible_collections.gitops.progressive.plugins.module_utils.kube.wait import wait_for

CANARY = {"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
          "metadata": {"name": "podinfo", "namespace": "test", "resourceVersion": "5"}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    release = threading.Event()

    def log_message(self, *args):
        pass

    def _json(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def do_GET(self):  # noqa: N802
        path, _sep, query = self.path.partition("?")
        if path.endswith("/canaries/missing"):
            self._json(404, {"kind": "Status", "code": 404, "message": 'canaries "missing" not found'})
        elif path.endswith("/canaries/podinfo"):
            self._json(200, CANARY)
        elif path.endswith("/explode"):
            self._json(500, {"kind": "Status", "code": 500, "message": "etcdserver: leader changed"})
        elif path.endswith("/canaries") and "watch=True" in query or "watch=true" in query:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for version in ("6", "7"):
                metadata = dict(CANARY["metadata"], resourceVersion=version)
                event = {"type": "MODIFIED", "object": dict(CANARY, metadata=metadata)}
                self._chunk(json.dumps(event).encode() + b"\n")
            self.release.wait(30)  # then silent: a half-open connection as the client sees it
        elif path.endswith("/canaries"):
            self._json(200, {"kind": "CanaryList", "metadata": {"resourceVersion": "5"}, "items": [CANARY]})
        elif path.endswith("/silent"):
            self.release.wait(30)  # accepts, never answers


class Dynamic:
    """What Kube needs of kubernetes.core's DynamicClient: its request method, on a real ApiClient."""

    def __init__(self, api_client):
        self.client = api_client

    from kubernetes.dynamic.client import DynamicClient

    request = DynamicClient.request


@pytest.fixture
def kube():
    import kubernetes

    Handler.release = threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    configuration = kubernetes.client.Configuration()
    configuration.host = "http://127.0.0.1:%d" % server.server_address[1]
    try:
        yield api.Kube(Dynamic(kubernetes.client.ApiClient(configuration)))
    finally:
        Handler.release.set()
        server.shutdown()
        server.server_close()


def test_paths_need_no_discovery():
    assert api.CANARY.path("test", "podinfo") == "/apis/flagger.app/v1beta1/namespaces/test/canaries/podinfo"
    assert api.NODE.path("ignored") == "/api/v1/nodes"
    assert api.EVENT.path() == "/api/v1/events"


def test_a_missing_object_is_none_not_an_error(kube):
    assert kube.get(api.CANARY, "test", "missing") is None
    assert kube.get(api.CANARY, "test", "podinfo")["metadata"]["name"] == "podinfo"


def test_a_server_error_names_what_was_done_and_what_the_server_said(kube):
    with pytest.raises(api.ApiError) as error:
        kube.request("GET", "/apis/x/v1/explode", "reading", "Thing test/x")
    assert error.value.status == 500 and not error.value.unreachable
    assert str(error.value) == "reading Thing test/x: the API server answered 500: etcdserver: leader changed"


def test_a_watch_streams_events_then_a_silent_connection_ends_in_time(kube):
    started = time.monotonic()
    seen = []
    with pytest.raises(api.ApiError) as error:
        for event_type, obj in kube.watch(api.CANARY, "test", resource_version="5", timeout_seconds=2):
            seen.append((event_type, obj["metadata"]["resourceVersion"]))
    assert seen == [("MODIFIED", "6"), ("MODIFIED", "7")]
    assert error.value.unreachable and "did not answer" in str(error.value)
    assert time.monotonic() - started < 6


def test_a_server_that_never_answers_is_not_waited_on_past_the_timeout(kube):
    started = time.monotonic()
    with pytest.raises(api.ApiError):
        list(kube.watch(api.Resource("v1", "Thing", "silent"), "test", timeout_seconds=1))
    assert time.monotonic() - started < 5


def test_the_wait_engine_keeps_its_deadline_over_a_half_open_watch(kube):
    """The real transport under the engine: the watch goes silent, the wait still ends on time."""
    lister, watcher = kube.source(api.CANARY, "test", "podinfo")
    started = time.monotonic()
    with pytest.raises(Exception) as error:
        wait_for(lister, watcher, lambda objects: None, 3)
    assert type(error.value).__name__ == "WaitTimeout"
    assert time.monotonic() - started < 3 + 2
