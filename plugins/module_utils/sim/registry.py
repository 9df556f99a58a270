# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Push a tag to an OCI registry over the distribution API, the way a CI pipeline's
``docker push`` would, without a container engine.

The image is minimal and real: an OCI image config naming the tag, no layers, and an OCI
manifest pointing at it (the simulated nodes never pull it; image-reflector-controller
only lists tags). Used against the simulated platform's loopback registry.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tarfile
from http.client import InvalidURL

from ansible.module_utils.six.moves.urllib.parse import urljoin

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.inputs import Inputs, redact_url, redact_urls

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
_NAME = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*\Z")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")
# The distribution API's limit on a repository name (with the registry's host, 255).
NAME_MAX = 255
# Seconds per request: long enough for any registry, short of a task that hangs for a day.
TIMEOUT_MAX = 3600


class RegistryError(CollectionError):
    """The registry refused or did not answer; the message names the request (credentials redacted)."""


def check_options(params):
    """Refuse sim_image_tag's options (InputError) before the registry is asked anything.

    The registry is one that takes anonymous pushes: credentials in ``registry_url`` are
    refused (and masked by the module), never sent or shown.
    """
    inputs = Inputs("sim_image_tag %s" % redact_url("%s/%s" % (params["registry_url"], params["repository"])))
    inputs.url("registry_url", params["registry_url"])
    repository = params["repository"]
    if not isinstance(repository, str) or not _NAME.match(repository) or len(repository) > NAME_MAX:
        inputs.add(["repository must be an image name in the registry, lower-case path components such as "
                    "stefanprodan/podinfo (no registry host, tag or digest), got %r" % (repository,)])
    tags = params["tags"]
    if not tags:
        inputs.add(["tags must name at least one tag"])
    for index, tag in enumerate(tags or []):
        inputs.tag("tags[%d]" % index, tag)
    inputs.number("timeout", params["timeout"], 1, TIMEOUT_MAX, "seconds")
    inputs.done()


def _request(open_url, method, url, data=None, headers=None, timeout=10):
    from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError

    try:
        response = open_url(url, method=method, data=data, headers=headers or {}, timeout=timeout,
                            follow_redirects="none")
        return response.getcode(), dict(response.headers), response.read()
    except HTTPError as error:
        body = error.read().decode("utf-8", "replace")[:300] if hasattr(error, "read") else ""
        raise RegistryError("%s %s: HTTP %d %s" % (method, redact_url(url), error.code, redact_urls(body.strip())))
    except (URLError, OSError, InvalidURL) as error:
        # InvalidURL (a ValueError): http.client refuses an address with a control character in it.
        raise RegistryError("%s %s: %s" % (method, redact_url(url), redact_urls(str(getattr(error, "reason", error)))))


def image_blobs(tag):
    """``(config bytes, manifest bytes)`` of the minimal image for ``tag``."""
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": []},
        "history": [{"created_by": "gitops.progressive: tag %s" % tag, "empty_layer": True}],
    }, sort_keys=True).encode()
    return config, image_manifest(config)


def digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"


def layer_from_files(files):
    """``(gzipped tar, diff_id)`` of one layer holding ``files``: ``(path in the image, bytes,
    mode)`` each, owned by root, every time stamp 0, so the same files give the same digest."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        directories = set()
        for path, _data, _mode in files:
            parts = path.strip("/").split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                directories.add("/".join(parts[:depth]))
        for directory in sorted(directories):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            archive.addfile(info)
        for path, data, mode in sorted(files):
            info = tarfile.TarInfo(path.strip("/"))
            info.size, info.mode = len(data), mode
            archive.addfile(info, io.BytesIO(data))
    tar = raw.getvalue()
    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb", mtime=0) as compressed:
        compressed.write(tar)
    return packed.getvalue(), digest_of(tar)


def host_architecture():
    """This machine's architecture as OCI names it: the binaries in an image are built for it."""
    import platform

    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}.get(
        machine, machine)


def image_from_files(files, entrypoint=(), cmd=(), env=(), user="", labels=None, exposed_ports=()):
    """``(config bytes, [layer bytes])`` of a one-layer image of ``files`` (see layer_from_files)."""
    layer, diff_id = layer_from_files(files)
    runtime = {"Entrypoint": list(entrypoint), "Cmd": list(cmd), "Env": list(env), "Labels": dict(labels or {}),
               "ExposedPorts": {port: {} for port in exposed_ports}}
    if user:
        runtime["User"] = user
    config = json.dumps({
        "architecture": host_architecture(), "os": "linux", "config": runtime,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "gitops.progressive: image from files"}],
    }, sort_keys=True).encode()
    return config, [layer]


def _check_name(repository, tag):
    if not _NAME.match(repository or ""):
        raise RegistryError("repository %r is not a valid image name" % repository)
    if not _TAG.match(tag or ""):
        raise RegistryError("tag %r is not a valid tag" % tag)


def _upload(open_url, base, repository, blob, timeout):
    """Upload one blob unless the registry has it; returns its digest."""
    digest = digest_of(blob)
    try:
        _request(open_url, "HEAD", urljoin(base, "v2/%s/blobs/%s" % (repository, digest)), timeout=timeout)
        return digest
    except RegistryError as error:
        if ": HTTP 404" not in str(error):
            raise
    status, headers, _body = _request(open_url, "POST", urljoin(base, "v2/%s/blobs/uploads/" % repository),
                                      data=b"", timeout=timeout)
    location = {key.lower(): value for key, value in headers.items()}.get("location")
    if status != 202 or not location:
        raise RegistryError("POST %s: expected 202 with a Location, got %d" % (repository, status))
    upload = urljoin(base, location)
    upload += ("&" if "?" in upload else "?") + "digest=" + digest
    _request(open_url, "PUT", upload, data=blob, headers={"Content-Type": "application/octet-stream"},
             timeout=timeout)
    return digest


def image_manifest(config, layers=()):
    """The OCI manifest (bytes) of an image: the same config and layers give the same digest."""
    return json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "digest": digest_of(config), "size": len(config)},
        "layers": [{"mediaType": LAYER_TYPE, "digest": digest_of(layer), "size": len(layer)} for layer in layers],
    }, sort_keys=True).encode()


def tag_digest(registry_url, repository, tag, open_url=None, timeout=10):
    """The manifest digest the registry holds for ``repository:tag``, or None when it has none."""
    _check_name(repository, tag)
    if open_url is None:
        from ansible.module_utils.urls import open_url
    url = "%s/v2/%s/manifests/%s" % (registry_url.rstrip("/"), repository, tag)
    try:
        _status, headers, _body = _request(open_url, "HEAD", url, headers={"Accept": MANIFEST_TYPE}, timeout=timeout)
    except RegistryError as error:
        if ": HTTP 404" in str(error):
            return None
        raise
    return {key.lower(): value for key, value in headers.items()}.get("docker-content-digest")


def push_image(registry_url, repository, tag, config, layers=(), open_url=None, timeout=10):
    """Push an image (its config bytes and gzipped layers) as ``repository:tag``; returns the
    manifest's digest."""
    _check_name(repository, tag)
    if open_url is None:
        from ansible.module_utils.urls import open_url
    base = registry_url.rstrip("/") + "/"
    for blob in [config] + list(layers):
        _upload(open_url, base, repository, blob, timeout)
    manifest = image_manifest(config, layers)
    _request(open_url, "PUT", urljoin(base, "v2/%s/manifests/%s" % (repository, tag)), data=manifest,
             headers={"Content-Type": MANIFEST_TYPE}, timeout=timeout)
    return digest_of(manifest)


def push_tag(registry_url, repository, tag, open_url=None, timeout=10):
    """Push the minimal image as ``repository:tag`` to ``registry_url`` (``http://host:port``);
    returns the manifest's digest."""
    _check_name(repository, tag)
    config, _manifest = image_blobs(tag)
    return push_image(registry_url, repository, tag, config, (), open_url=open_url, timeout=timeout)


def list_tags(registry_url, repository, open_url=None, timeout=10, missing_ok=False):
    """The tags of ``repository``; with ``missing_ok`` a repository never pushed has none."""
    if not _NAME.match(repository or ""):
        raise RegistryError("repository %r is not a valid image name" % repository)
    if open_url is None:
        from ansible.module_utils.urls import open_url
    try:
        _status, _headers, body = _request(open_url, "GET", "%s/v2/%s/tags/list" % (
            registry_url.rstrip("/"), repository), timeout=timeout)
    except RegistryError as error:
        if missing_ok and " HTTP 404 " in str(error):
            return []
        raise
    return json.loads(body.decode()).get("tags") or []
