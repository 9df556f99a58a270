# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one base of the collection's Kubernetes modules.

kubernetes.core's ``AnsibleK8SModule`` with what every module here repeated around it:
the connection options (kubernetes.core's, so ``module_defaults: group/...`` and
``K8S_AUTH_*`` work the same), the shared wait options with the module's own defaults
(documented by the ``gitops.progressive.wait`` fragment), a ``wait_timeout`` refused before
anything is sent, the collection's API client, and one way to end: a ``CollectionError``
becomes one ``fail_json`` with its message and details, anything else is a bug and keeps
its traceback.

A module is then its documentation, its own options and one call::

    module = KubeModule(dict(name=dict(type="str", required=True)), wait=False, wait_timeout=180,
                        subject=lambda params: "canary %s" % params["name"])
    module.run(lambda: do_it(module.client(), module.params, module.check_mode))
"""

from __future__ import annotations

from ansible_collections.gitops.progressive.plugins.module_utils.args import check_wait_timeout, wait_argument_spec
from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.kube.api import Kube
from ansible_collections.gitops.progressive.plugins.module_utils.kube.client import auth_argument_spec


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
    a string or a function of the params, named when ``wait_timeout`` is refused. Other
    keyword arguments go to ``AnsibleModule`` (``required_by``, ``mutually_exclusive``, ...);
    ``supports_check_mode`` is True unless given.
    """

    def __init__(self, argument_spec, wait=None, wait_timeout=None, subject=None, **kwargs):
        # Imported here, as kubernetes.core is needed only when a module runs.
        from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule

        kwargs.setdefault("supports_check_mode", True)
        self.module = AnsibleK8SModule(argument_spec=kube_argument_spec(argument_spec, wait, wait_timeout), **kwargs)
        self._client = None
        if wait_timeout is not None:
            problem = check_wait_timeout(self.params, subject(self.params) if callable(subject) else subject)
            if problem:
                self.fail(problem)

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
