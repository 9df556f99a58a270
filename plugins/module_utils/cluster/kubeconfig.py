# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Taking one cluster out of a kubeconfig file that may hold others.

A user may point ``kubeconfig`` at a file shared with other clusters (``~/.kube/config``,
or one file for staging and production). Deleting the cluster removes only its own
cluster, context and user entries; the file goes only when nothing is left in it.

A ``current-context`` that named the removed context is emptied rather than moved to
another context: silently switching the user's default to some other cluster (perhaps
production) is worse than no default.
"""

from __future__ import annotations

import os
import tempfile

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError

SECTIONS = (("clusters", "cluster"), ("contexts", "context"), ("users", "user"))


class KubeconfigError(CollectionError):
    """A kubeconfig that cannot be read or written; names the file."""


def load(path):
    """The parsed kubeconfig, or None when the file does not exist."""
    import yaml

    try:
        with open(path) as handle:
            text = handle.read()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise KubeconfigError("kubeconfig %s: cannot read it: %s" % (path, error.strerror))
    try:
        config = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as error:
        raise KubeconfigError("kubeconfig %s: not valid YAML, left as it is: %s" % (path, error))
    if not isinstance(config, dict):
        raise KubeconfigError("kubeconfig %s: not a kubeconfig (a %s at the top), left as it is" % (
            path, type(config).__name__))
    return config


def plan_removal(config, entries):
    """What removing ``entries`` would do to ``config`` (pure; ``config`` is not changed).

    ``entries`` maps a section (``clusters``, ``contexts``, ``users``) to the names this
    cluster wrote there. Returns ``(new_config, removed, empty)``: ``removed`` maps each
    section to the names that were there, ``empty`` says that no cluster, context or
    user is left (the file can go).
    """
    new = dict(config)
    removed = {}
    for section, _key in SECTIONS:
        names = set(entries.get(section) or ())
        kept, gone = [], []
        for item in config.get(section) or []:
            name = item.get("name") if isinstance(item, dict) else None
            if name in names:
                gone.append(name)
            else:
                kept.append(item)
        if gone:
            removed[section] = gone
            new[section] = kept
    if new.get("current-context") and new["current-context"] in (removed.get("contexts") or []):
        new["current-context"] = ""
    empty = not any(new.get(section) for section, _key in SECTIONS)
    return new, removed, empty


def remove_entries(path, entries, check_mode=False, owned=True):
    """Remove this cluster's entries from the kubeconfig at ``path``.

    Returns ``(removed, deleted)``: the names removed by section, and whether the file
    was deleted because nothing else was left. ``owned=False`` (the cluster was already
    absent) leaves a file without any of its entries alone, even an empty one, so that
    deleting twice changes nothing. In check mode nothing is written.
    """
    config = load(path)
    if config is None:
        return {}, False
    new, removed, empty = plan_removal(config, entries)
    if not removed and not owned:
        return {}, False
    if empty:
        if not check_mode:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            except OSError as error:
                raise KubeconfigError("kubeconfig %s: cannot delete it: %s" % (path, error.strerror))
        return removed, True
    if removed and not check_mode:
        write(path, new)
    return removed, False


def write(path, config):
    """Replace the file in one step (no half-written kubeconfig), owner-only (0600)."""
    import yaml

    directory = os.path.dirname(path) or "."
    try:
        descriptor, scratch = tempfile.mkstemp(prefix=".kubeconfig-", dir=directory)
    except OSError as error:
        raise KubeconfigError("kubeconfig %s: cannot write it: %s" % (path, error.strerror))
    try:
        with os.fdopen(descriptor, "w") as handle:
            yaml.safe_dump(config, handle, default_flow_style=False, sort_keys=False)
        os.chmod(scratch, 0o600)
        os.replace(scratch, path)
    except OSError as error:
        try:
            os.unlink(scratch)
        except OSError:
            pass
        raise KubeconfigError("kubeconfig %s: cannot write it: %s" % (path, error.strerror))
