# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sim_image task: an image of files, pushed under its real name unless the registry has it."""

from __future__ import annotations

import os
import re
import subprocess

from ansible_collections.gitops.progressive.plugins.module_utils.inputs import Inputs
from ansible_collections.gitops.progressive.plugins.module_utils.sim.registry import (
    RegistryError,
    digest_of,
    image_from_files,
    image_manifest,
    push_image,
    tag_digest,
)

# A reference with its registry host and a tag: ghcr.io/gitops-progressive/demo-app:v1.0.0.
_REFERENCE = re.compile(r"^(?P<repository>[a-z0-9.-]+(?::\d+)?/[a-z0-9._/-]+):(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})\Z")
_MODE = re.compile(r"^0?[0-7]{3,4}\Z")


def parse_reference(image):
    """``(repository in the registry, tag)`` of ``host/path:tag``; ValueError otherwise."""
    match = _REFERENCE.match(image or "") if isinstance(image, str) else None
    if not match or "." not in match.group("repository").split("/")[0] or "//" in image or ".." in image:
        raise ValueError("image must name a registry host, a path and a tag, like "
                         "ghcr.io/gitops-progressive/demo-app:v1.0.0, got %r" % (image,))
    return match.group("repository"), match.group("tag")


def check_options(params):
    inputs = Inputs("sim_image %s" % params.get("image"))
    inputs.url("registry_url", params["registry_url"])
    try:
        parse_reference(params["image"])
    except ValueError as error:
        inputs.add([str(error)])
    if not params["files"]:
        inputs.add(["files must name at least one file"])
    for index, entry in enumerate(params["files"] or []):
        if not str(entry.get("dest") or "").startswith("/") or ".." in str(entry.get("dest")).split("/"):
            inputs.add(["files[%d].dest must be an absolute path in the image without '..', got %r"
                        % (index, entry.get("dest"))])
        if not _MODE.match(str(entry.get("mode"))):
            inputs.add(["files[%d].mode must be an octal mode like 0755, got %r" % (index, entry.get("mode"))])
    inputs.number("timeout", params["timeout"], 1, 3600, "seconds")
    inputs.done()


# One line of ldd's answer: "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)", or the
# loader itself, "/lib64/ld-linux-x86-64.so.2 (0x...)"; the vDSO has no file.
_LDD_LINE = re.compile(r"^\s*(?:(?P<name>\S+) => (?P<path>\S+|not found)|(?P<loader>/\S+))(?: \(0x[0-9a-f]+\))?\s*$")


def parse_ldd(text, where):
    """The files ``ldd`` says a program loads (its loader first where ldd lists it), absolute
    paths; ``[]`` for a static program. A library ldd cannot find is an error naming it."""
    paths, missing = [], []
    for line in text.splitlines():
        match = _LDD_LINE.match(line)
        if not match:
            continue
        if match.group("loader"):
            paths.append(match.group("loader"))
        elif match.group("path") == "not found":
            missing.append(match.group("name"))
        else:
            paths.append(match.group("path"))
    if missing:
        raise RegistryError("%s needs %s, which this machine does not have" % (where, ", ".join(missing)))
    return list(dict.fromkeys(paths))


# Where the image's loader finds libraries with no ld.so.cache and no LD_LIBRARY_PATH: its
# default directories (the multiarch ones on Debian). A library elsewhere would be copied
# where nothing looks for it.
_LOADER_DIRECTORY = re.compile(r"^/(usr/)?lib(32|64)?(/[a-z0-9_]+-linux-gnu[a-z0-9_]*)?\Z")


def shared_libraries(program, where):
    """The shared libraries ``program`` loads, as the controller's loader resolves them by its
    defaults (``ldd`` without the caller's ``LD_*`` variables; for programs from this machine's
    own packages: ldd may run the program's loader). A library outside the loader's default
    directories is refused: in the image nothing would look for it there."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith("LD_")}
    try:
        run = subprocess.run(["ldd", "--", program], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=30, check=False, env=dict(environ, LC_ALL="C"))
    except (OSError, subprocess.TimeoutExpired) as error:
        raise RegistryError("%s: ldd %s failed: %s" % (where, program, error))
    if run.returncode != 0:
        if "not a dynamic executable" in run.stdout:
            return []
        raise RegistryError("%s: ldd %s failed: %s" % (where, program, run.stdout.strip()[-300:]))
    libraries = parse_ldd(run.stdout, "%s: %s" % (where, program))
    outside = [path for path in libraries if not _LOADER_DIRECTORY.match(os.path.dirname(path))]
    if outside:
        raise RegistryError("%s: %s loads %s from outside the loader's default directories (/lib, /usr/lib and their "
                            "multiarch directories), where nothing in the image would look" % (
                                where, program, ", ".join(outside)))
    return libraries


def _read(path, where):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        raise RegistryError("%s %s: %s" % (where, path, error.strerror))


def build(params):
    """``(config, layers)`` of the image the options describe. A file with ``libraries`` brings
    the shared libraries it loads, each at the path the loader looks for it (a file named in
    ``files`` wins over a library at the same path)."""
    files, libraries = [], {}
    for index, entry in enumerate(params["files"]):
        where = "sim_image %s: files[%d].src" % (params["image"], index)
        files.append((entry["dest"], _read(entry["src"], where), int(entry["mode"], 8)))
        if entry.get("libraries"):
            for library in shared_libraries(entry["src"], where):
                libraries.setdefault(library, (library, _read(library, where + " library"), 0o755))
    named = set(dest for dest, _data, _mode in files)
    files += [entry for path, entry in sorted(libraries.items()) if path not in named]
    env = ["%s=%s" % (key, value) for key, value in sorted((params["env"] or {}).items())]
    return image_from_files(files, entrypoint=params["entrypoint"], cmd=params["cmd"], env=env,
                            user=params["user"], labels={str(k): str(v) for k, v in (params["labels"] or {}).items()})


def ensure_image(params, check_mode=False):
    """The sim_image task. In check mode, files not built yet or a registry not started yet
    (a first run's check) mean the image would be pushed."""
    check_options(params)
    repository, tag = parse_reference(params["image"])
    try:
        config, layers = build(params)
    except RegistryError:
        if check_mode:
            return dict(changed=True, repository=repository, digest="")
        raise
    digest = digest_of(image_manifest(config, layers))
    try:
        present = tag_digest(params["registry_url"], repository, tag, timeout=params["timeout"])
    except RegistryError:
        if not check_mode:
            raise
        present = None
    changed = present != digest
    if changed and not check_mode:
        digest = push_image(params["registry_url"], repository, tag, config, layers, timeout=params["timeout"])
    return dict(changed=changed, repository=repository, digest=digest)
