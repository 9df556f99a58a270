import json

import pytest

from ansible_collections.gitops.progressive.plugins.module_utils.sim import registry


class FakeResponse:
    def __init__(self, code, headers=None, body=b""):
        self.code, self.headers, self.body = code, headers or {}, body

    def getcode(self):
        return self.code

    def read(self):
        return self.body


def test_a_tag_is_pushed_as_blob_then_manifest():
    calls = []

    def open_url(url, method, data, headers, timeout, follow_redirects):
        calls.append((method, url, data, headers.get("Content-Type")))
        if method == "POST":
            return FakeResponse(202, {"Location": "/v2/stefanprodan/podinfo/blobs/uploads/abc?_state=x"})
        return FakeResponse(201)

    digest = registry.push_tag("http://127.0.0.1:5000", "stefanprodan/podinfo", "6.8.0", open_url=open_url)
    config, manifest = registry.image_blobs("6.8.0")
    assert digest == registry.digest_of(manifest)
    assert [call[0] for call in calls] == ["POST", "PUT", "PUT"]
    assert calls[1][1] == ("http://127.0.0.1:5000/v2/stefanprodan/podinfo/blobs/uploads/abc?_state=x&digest=%s"
                           % registry.digest_of(config))
    assert calls[1][2] == config
    assert calls[2][1] == "http://127.0.0.1:5000/v2/stefanprodan/podinfo/manifests/6.8.0"
    assert calls[2][3] == registry.MANIFEST_TYPE
    assert json.loads(manifest)["config"]["digest"] == registry.digest_of(config)
    # Each tag is its own image.
    assert registry.image_blobs("6.8.1")[1] != manifest


@pytest.mark.parametrize("repository, tag, message", [
    ("Podinfo", "1.0", "not a valid image name"),
    ("podinfo", "-bad", "not a valid tag"),
    ("podinfo", "", "not a valid tag"),
])
def test_bad_names_are_refused_before_any_request(repository, tag, message):
    with pytest.raises(registry.RegistryError, match=message):
        registry.push_tag("http://127.0.0.1:5000", repository, tag, open_url=lambda *a, **k: pytest.fail("sent"))
