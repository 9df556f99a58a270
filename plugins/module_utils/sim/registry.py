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

import hashlib
import json
import re
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
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "digest": digest_of(config), "size": len(config)},
        "layers": [],
    }, sort_keys=True).encode()
    return config, manifest


def digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_tag(registry_url, repository, tag, open_url=None, timeout=10):
    """Push the minimal image as ``repository:tag`` to ``registry_url`` (``http://host:port``);
    returns the manifest's digest."""
    if not _NAME.match(repository or ""):
        raise RegistryError("repository %r is not a valid image name" % repository)
    if not _TAG.match(tag or ""):
        raise RegistryError("tag %r is not a valid tag" % tag)
    if open_url is None:
        from ansible.module_utils.urls import open_url
    base = registry_url.rstrip("/") + "/"
    config, manifest = image_blobs(tag)
    digest = digest_of(config)
    status, headers, _body = _request(open_url, "POST", urljoin(base, "v2/%s/blobs/uploads/" % repository),
                                      data=b"", timeout=timeout)
    location = {key.lower(): value for key, value in headers.items()}.get("location")
    if status != 202 or not location:
        raise RegistryError("POST %s: expected 202 with a Location, got %d" % (repository, status))
    upload = urljoin(base, location)
    upload += ("&" if "?" in upload else "?") + "digest=" + digest
    _request(open_url, "PUT", upload, data=config,
             headers={"Content-Type": "application/octet-stream"}, timeout=timeout)
    _request(open_url, "PUT", urljoin(base, "v2/%s/manifests/%s" % (repository, tag)), data=manifest,
             headers={"Content-Type": MANIFEST_TYPE}, timeout=timeout)
    return digest_of(manifest)


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
