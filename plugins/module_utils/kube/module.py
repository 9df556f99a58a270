# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one base of the collection's Kubernetes modules.

kubernetes.core's ``AnsibleK8SModule`` with what every module here repeated around it:
the connection options (kubernetes.core's, so ``module_defaults: group/...`` and
``K8S_AUTH_*`` work the same), the shared wait options with the module's own defaults
(documented by the ``gitops.progressive.wait`` fragment), credentials in any address among
the options masked in every message and in the logged arguments, a ``wait_timeout`` and
the module's own ``inputs`` check refused before anything is sent, the collection's API
client, and one way to end: a ``CollectionError`` becomes one ``fail_json`` with its
message and details, anything else is a bug and keeps its traceback.

A module is then its documentation, its own options and one call::

    module = KubeModule(dict(name=dict(type="str", required=True)), wait=False, wait_timeout=180,
                        subject=lambda params: "canary %s" % params["name"], inputs=check_canary_options)
    module.run(lambda: do_it(module.client(), module.params, module.check_mode))
"""

from __future__ import annotations

import re

from ansible_collections.gitops.progressive.plugins.module_utils.args import check_wait_timeout, wait_argument_spec
from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.inputs import masking, quote
from ansible_collections.gitops.progressive.plugins.module_utils.kube.api import Kube
from ansible_collections.gitops.progressive.plugins.module_utils.kube.client import auth_argument_spec


_LABEL_NAME = r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_LABEL_PREFIX = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*"
_LABEL_KEY = re.compile(r"^(?:%s/)?%s\Z" % (_LABEL_PREFIX, _LABEL_NAME))
_LABEL_VALUE = re.compile(r"^(?:%s)?\Z" % _LABEL_NAME)
# Spaces only: a line break or tab in a selector is a slip of the template, not a separator.
_REQUIREMENT = re.compile(r"^ *(?P<not>!)? *(?P<key>[^ !=<>(),]+) *(?:(?P<op>==|=|!=|<|>) *(?P<value>[^ (),]*)"
                          r"| +(?P<set>in|notin) *\((?P<values>[^()]*)\))? *\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _requirements(selector):
    """``selector`` split at the commas that are not inside ``in (...)``."""
    parts, depth, current = [], 0, ""
    for char in selector:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return parts + [current]


def label_selector_problems(option, selectors):
    """The problems of a ``label_selectors`` option, each naming ``option[i]``.

    Kubernetes' selector grammar (``key``, ``!key``, ``key=value``, ``key!=value``,
    ``key in (a,b)``, ``key notin (a)``, ``key>1``), checked here so that a typo is not
    sent as a query that matches nothing, or answered 400 after the task began.
    """
    problems = []
    for index, selector in enumerate(selectors or []):
        where = "%s[%d]" % (option, index)
        if not isinstance(selector, str) or not selector.strip():
            problems.append("%s may not be empty (it would select everything)" % where)
            continue
        if _CONTROL.search(selector):
            problems.append("%s may not hold line breaks, tabs or other control characters: %s"
                            % (where, quote(selector)))
            continue
        for requirement in _requirements(selector):
            problem = _requirement_problem(requirement)
            if problem:
                problems.append("%s is not a label selector (%s): %s" % (where, problem, quote(selector)))
                break
    return problems


def _requirement_problem(requirement):
    match = _REQUIREMENT.match(requirement)
    if not match:
        return "write key, !key, key=value, key!=value, key in (a,b) or key notin (a,b)"
    key = match.group("key")
    if len(key) > 316 or not _LABEL_KEY.match(key) or len(key.rpartition("/")[0]) > 253:
        return "%r is not a label key: [prefix/]name, the name at most 63 letters, digits, '-', '_' and '.'" % key
    if match.group("not") and (match.group("op") or match.group("set")):
        return "'!' only goes before a key alone"
    values = [match.group("value")] if match.group("op") else \
        [value.strip(" ") for value in match.group("values").split(",")] if match.group("set") else []
    if match.group("op") in ("<", ">") and not re.match(r"^-?[0-9]+\Z", values[0]):
        return "%s needs a whole number" % match.group("op")
    if match.group("set") and not any(values):
        return "%s needs at least one value" % match.group("set")
    for value in values:
        if not _LABEL_VALUE.match(value):
            return "%r is not a label value: at most 63 letters, digits, '-', '_' and '.'" % value
    return None


def kube_argument_spec(argument_spec, wait=None, wait_timeout=None):
    """The connection options, the wait options when the module has a ``wait_timeout``, then its own.

    ``wait_timeout`` None: the module does not wait. ``wait`` None (with a ``wait_timeout``):
    it always waits, so it has no ``wait`` option, only the bound.
    """
    spec = auth_argument_spec()
    if wait_timeout is not None:
        spec.update(wait_argument_spec(wait=wait, wait_timeout=wait_timeout))
    elif wait is not None:
        raise ValueError("a module with a wait option needs a wait_timeout default too")
    spec.update(argument_spec)
    return spec


class KubeModule:
    """An ``AnsibleK8SModule`` with the collection's options, client and failure handling.

    ``argument_spec``: the module's own options. ``wait`` / ``wait_timeout``: the defaults of
    the shared wait options (see kube_argument_spec). ``subject``: what the module works on,
    a string or a function of the params, named when ``wait_timeout`` is refused.
    ``inputs``: a function of the params that raises a CollectionError (module_utils/inputs.py
    ``InputError``) for options that cannot be used, called before anything is read or
    written. Other keyword arguments go to ``AnsibleModule`` (``required_by``,
    ``mutually_exclusive``, ...); ``supports_check_mode`` is True unless given.
    """

    def __init__(self, argument_spec, wait=None, wait_timeout=None, subject=None, inputs=None, **kwargs):
        # Imported here, as kubernetes.core is needed only when a module runs.
        from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule

        kwargs.setdefault("supports_check_mode", True)
        kwargs.setdefault("module_class", masking())
        self.module = AnsibleK8SModule(argument_spec=kube_argument_spec(argument_spec, wait, wait_timeout), **kwargs)
        self._client = None
        if wait_timeout is not None:
            problem = check_wait_timeout(self.params, subject(self.params) if callable(subject) else subject)
            if problem:
                self.fail(problem)
        if inputs is not None:
            try:
                inputs(self.params)
            except CollectionError as error:
                self.fail(str(error), **error.details)

    @property
    def params(self):
        return self.module.params

    @property
    def check_mode(self):
        return self.module.check_mode

    @property
    def diff_mode(self):
        return self.module._diff

    def client(self):
        """The collection's API access (kube/api.py Kube) from the connection options, made once."""
        if self._client is None:
            self._client = Kube.from_module(self.module)
        return self._client

    def warn(self, message):
        self.module.warn(message)

    def fail(self, msg, **details):
        self.module.fail_json(msg=msg, **details)

    def run(self, work):
        """``work()``'s result as the task's; a CollectionError from it as the task's one failure."""
        try:
            result = work()
        except CollectionError as error:
            self.fail(str(error), **error.details)
        else:
            self.module.exit_json(**result)
