# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Flagger's load tester gates: open, close and read them for one canary.

The load tester keeps one approval gate and one rollback gate per canary, in memory and
without authentication: ``/gate/check`` answers 200 while the approval gate is open
(Flagger's confirm-rollout, confirm-traffic-increase and confirm-promotion webhooks all
ask it), ``/rollback/check`` answers 200 while a rollback is requested.
"""

from __future__ import annotations

import json

from ansible.module_utils.six.moves.urllib.error import HTTPError
from ansible.module_utils.urls import open_url


class GateError(Exception):
    pass


class LoadTester:
    def __init__(self, url, timeout=10, opener=open_url):
        if not url:
            raise GateError("loadtester_url is required to open or close Flagger's gates")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.opener = opener

    def _post(self, path, name, namespace):
        body = json.dumps({"name": name, "namespace": namespace}).encode()
        try:
            response = self.opener(self.url + path, data=body, method="POST", timeout=self.timeout,
                                   headers={"Content-Type": "application/json"})
            return response.getcode()
        except HTTPError as error:
            return error.code
        except Exception as error:  # pylint: disable=broad-except
            raise GateError("load tester at %s did not answer %s for %s/%s: %s" % (
                self.url, path, namespace, name, error))

    def gate_is_open(self, name, namespace):
        return self._post("/gate/check", name, namespace) == 200

    def rollback_requested(self, name, namespace):
        return self._post("/rollback/check", name, namespace) == 200

    def _set(self, path, name, namespace):
        code = self._post(path, name, namespace)
        if code != 202 and code != 200:
            raise GateError("load tester at %s answered %d to %s for %s/%s" % (self.url, code, path, namespace, name))

    def open_gate(self, name, namespace):
        self._set("/gate/open", name, namespace)

    def close_gate(self, name, namespace):
        self._set("/gate/close", name, namespace)

    def request_rollback(self, name, namespace):
        self._set("/rollback/open", name, namespace)

    def clear_rollback(self, name, namespace):
        self._set("/rollback/close", name, namespace)
