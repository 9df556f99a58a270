import gzip
import io
import json
import tarfile
from urllib.error import HTTPError

import pytest

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
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
        if method == "HEAD":
            raise HTTPError(url, 404, "Not Found", {}, None)
        if method == "POST":
            return FakeResponse(202, {"Location": "/v2/stefanprodan/podinfo/blobs/uploads/abc?_state=x"})
        return FakeResponse(201)

    digest = registry.push_tag("http://127.0.0.1:5000", "stefanprodan/podinfo", "6.8.0", open_url=open_url)
    config, manifest = registry.image_blobs("6.8.0")
    assert digest == registry.digest_of(manifest)
    # A blob the registry lacks (HEAD answers 404) is uploaded, then the manifest is put.
    calls = [call for call in calls if call[0] != "HEAD"]
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
    ("podinfo\n", "1.0", "not a valid image name"),
    ("podinfo", "1.0\n", "not a valid tag"),
    ("podinfo", "-bad", "not a valid tag"),
    ("podinfo", "", "not a valid tag"),
])
def test_bad_names_are_refused_before_any_request(repository, tag, message):
    with pytest.raises(registry.RegistryError, match=message):
        registry.push_tag("http://127.0.0.1:5000", repository, tag, open_url=lambda *a, **k: pytest.fail("sent"))


def image_params(**overrides):
    params = dict(registry_url="http://127.0.0.1:18305", repository="stefanprodan/podinfo", tags=["6.8.0"], timeout=10)
    params.update(overrides)
    return params


@pytest.mark.parametrize("overrides, message", [
    (dict(registry_url="http://pusher:hunter2-secret@127.0.0.1:18305"), "registry_url may not carry credentials"),
    (dict(registry_url="127.0.0.1:18305"), "registry_url must be an address starting with http:// or https://"),
    (dict(repository="ghcr.io/x:1"), "repository must be an image name in the registry"),
    (dict(repository="stefanprodan/podinfo\n"), "repository must be an image name in the registry"),
    (dict(tags=["6.8.0\n"]), "tags[0] must be an image tag"),
    (dict(tags=[]), "tags must name at least one tag"),
    (dict(tags=["6.8.0", "6.8.0 beta"]), "tags[1] must be an image tag"),
    (dict(tags=["a" * 129]), "tags[0] must be an image tag"),
    (dict(timeout=-1), "timeout must be between 1 and 3600 seconds, got -1"),
])
def test_options_are_refused_before_the_registry_is_asked(overrides, message):
    with pytest.raises(CollectionError) as error:
        registry.check_options(image_params(**overrides))
    assert message in str(error.value) and "hunter2-secret" not in str(error.value)
    assert str(error.value).startswith("sim_image_tag ")


def test_valid_options_pass():
    assert registry.check_options(image_params(tags=["6.8.0", "v1_2.3-rc.1"], timeout=3600)) is None


def test_a_registry_error_never_shows_the_credentials_of_the_address():
    from ansible.module_utils.six.moves.urllib.error import URLError

    def open_url(url, **kwargs):
        raise URLError("connection refused to http://pusher:hunter2-secret@127.0.0.1:18305")

    with pytest.raises(registry.RegistryError) as error:
        registry.list_tags("http://pusher:hunter2-secret@127.0.0.1:18305", "podinfo", open_url=open_url)
    assert "hunter2-secret" not in str(error.value) and "http://***@127.0.0.1:18305/v2/podinfo" in str(error.value)


def test_an_address_http_client_refuses_is_a_registry_error_not_a_crash():
    from http.client import InvalidURL

    def open_url(url, **kwargs):
        raise InvalidURL("URL can't contain control characters. %r (found at least '\\n')" % url)

    with pytest.raises(registry.RegistryError, match="^GET http://127.0.0.1:5000/v2/podinfo/tags/list: URL can't"):
        registry.list_tags("http://127.0.0.1:5000", "podinfo", open_url=open_url)


def test_a_blob_the_registry_has_is_not_uploaded_again():
    calls = []

    def open_url(url, method, data, headers, timeout, follow_redirects):
        calls.append(method)
        return FakeResponse(200 if method == "HEAD" else 201)

    registry.push_tag("http://127.0.0.1:5000", "stefanprodan/podinfo", "6.8.0", open_url=open_url)
    assert calls == ["HEAD", "PUT"]


def test_a_layer_is_the_same_bytes_for_the_same_files():
    files = [("/bin/app", b"\x7fELF binary", 0o755), ("/etc/app.conf", b"a=1\n", 0o644)]
    first, diff_id = registry.layer_from_files(files)
    again, _diff_id = registry.layer_from_files(list(reversed(files)))
    assert first == again
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(first))) as archive:
        members = {member.name: member for member in archive.getmembers()}
        assert sorted(members) == ["bin", "bin/app", "etc", "etc/app.conf"]
        assert members["bin/app"].mode == 0o755 and members["bin/app"].mtime == 0 and members["bin/app"].uid == 0
        assert archive.extractfile("etc/app.conf").read() == b"a=1\n"
    assert diff_id == registry.digest_of(gzip.decompress(first))


def test_an_image_of_files_names_its_layer_and_runtime_settings():
    config, layers = registry.image_from_files([("/app", b"x", 0o755)], entrypoint=["/app"], env=["A=1"], user="65534")
    parsed = json.loads(config)
    assert parsed["config"]["Entrypoint"] == ["/app"] and parsed["config"]["User"] == "65534"
    assert parsed["rootfs"]["diff_ids"] == [registry.layer_from_files([("/app", b"x", 0o755)])[1]]
    manifest = json.loads(registry.image_manifest(config, layers))
    assert manifest["layers"][0]["digest"] == registry.digest_of(layers[0])
    assert manifest["config"]["digest"] == registry.digest_of(config)


def test_the_digest_of_a_tag_the_registry_lacks_is_none():
    def open_url(url, method, data, headers, timeout, follow_redirects):
        raise HTTPError(url, 404, "Not Found", {}, None)

    assert registry.tag_digest("http://127.0.0.1:5000", "ghcr.io/x/app", "v1", open_url=open_url) is None

    def answers(url, method, data, headers, timeout, follow_redirects):
        assert method == "HEAD" and url == "http://127.0.0.1:5000/v2/ghcr.io/x/app/manifests/v1"
        return FakeResponse(200, {"Docker-Content-Digest": "sha256:ab"})

    assert registry.tag_digest("http://127.0.0.1:5000", "ghcr.io/x/app", "v1", open_url=answers) == "sha256:ab"
