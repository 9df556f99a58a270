# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the Vault modules are given, checked before Vault is asked anything or a file is written.

Each module's options go through one function here (:func:`check_init`,
:func:`check_config`, :func:`check_app_credentials`), which collects every problem with
``module_utils/inputs.py``'s :class:`Inputs` and raises them together, each naming its
option (``policies[0].name``) and the object. Vault's own grammars are kept here: names
of roles, keys and policies (``framework.GenericNameRegex``), mount paths, and durations
(``parseutil.ParseDurationSecond``: seconds, ``<n>d`` or a Go duration, so ``"1 hour"``
is refused).

Values Vault takes but that give away more than meant are refused unless the option that
says the user means it is set (:data:`CONSENTS`): replacing the built-in ``default``
policy, a Kubernetes auth role bound to every service account or namespace, a policy
granting ``sudo`` or covering every path, and unseal keys written in clear.

:func:`vault_module` makes the module with every credential found in an address among
its parameters masked from the start, so neither Ansible's own argument errors nor the
logged arguments show it.
"""

from __future__ import annotations

import os
import re

from ansible_collections.gitops.progressive.plugins.module_utils.inputs import (
    NAME_KINDS,
    Inputs,
    mask_url_credentials,
    name_problems,
    quote,
    redact_url,
    redact_urls,
    url_credentials,
)
from ansible_collections.gitops.progressive.plugins.module_utils.vault import policy as vault_policy
from ansible_collections.gitops.progressive.plugins.module_utils.vault.client import VaultError
from ansible_collections.gitops.progressive.plugins.module_utils.vault.config import seconds

# framework.GenericNameRegex: the name of a role, a transit key, a database connection.
# \Z, not $: "$" lets a trailing line break through ("default\n" is not "default").
_VAULT_NAME = re.compile(r"^\w(?:[\w.-]*\w)?\Z", re.ASCII)
# A policy's name: Vault keeps it in lower case, so capitals would name another policy.
_POLICY_NAME = re.compile(r"^[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?\Z")
_MOUNT_PART = re.compile(r"^[\w.-]+\Z", re.ASCII)
_PLUGIN = re.compile(r"^[A-Za-z0-9][\w.-]*\Z", re.ASCII)
# A Kubernetes auth role's bound names: Vault's strutil.GlobbedStringsMatch takes a '*' at
# the start, the end or both of an entry; anywhere else it is a plain character.
_GLOB_NAME = {"subdomain": re.compile(r"^\*?[a-z0-9.-]+\*?\Z"), "label": re.compile(r"^\*?[a-z0-9-]+\*?\Z")}
# libpq's keyword form as libpq reads it: spaces around '=' and a value in single quotes
# (``password = 'a b'``), which the address patterns of inputs.py do not take for a parameter.
_KEYWORD_SECRET = re.compile(r"(?i)((?:^|[\s?&;])[\w.-]*(?:password|passwd|pwd)\s*=\s*)(?!\{\{)"
                             r"('(?:[^'\\]|\\.)*'?|[^\s&;]+)")
LONGEST_NAME = 128
# Paths Vault keeps for itself: no secrets engine may be mounted there.
RESERVED_MOUNTS = ("sys", "auth", "cubbyhole", "identity")
# Built-in policies: root and response-wrapping cannot be written at all, default can.
IMMUTABLE_POLICIES = ("root", "response-wrapping")
LONGEST_TTL = 10 * 365 * 86400
MOST_KEY_SHARES = 255

CONSENTS = dict(
    allow_default_policy_change="replace Vault's built-in default policy, which every token holds",
    allow_wildcard_bindings="bind a Kubernetes auth role to every service account or every namespace ('*')",
    allow_sudo_policies="grant the sudo capability (root-protected paths: seal, audit devices, auth methods)",
    allow_wildcard_policy_paths="write a policy whose path is only wildcards ('*', '+/*'), covering every path",
    allow_system_paths="let a token write where it can give itself any policy or take Vault over (sys/policy, "
                       "sys/auth, sys/mounts and the like, auth/ roles and users, identity/)",
)


def vault_module(argument_spec, **kwargs):
    """community.hashi_vault's module, with the credentials of every address among its
    parameters masked as soon as they are read: Ansible's argument errors (raised while the
    module is made) and its logged arguments never show them."""
    from ansible_collections.community.hashi_vault.plugins.module_utils._hashi_vault_module import HashiVaultModule

    class VaultModule(HashiVaultModule):
        def _load_params(self):
            super()._load_params()
            mask_url_credentials(self, without_placeholders(self.params))
            self.no_log_values.update(keyword_secrets(self.params))
            # Ansible works out the no_log values in one pass that stops at the first option of
            # the wrong shape (a section that is not a list of dicts), and then shows every
            # secret in the logged arguments of its error: take them here, whatever the shapes.
            self.no_log_values.update(no_log_values(self.argument_spec, self.params))

        def fail_json(self, msg, **kwargs):
            # Ansible fails an argument error with the first problem only, and for a section
            # that is not a list of dicts that is a bare "dictionary requested" from its no_log
            # pass, naming nothing: give every problem, the one naming the option with it.
            errors = getattr(getattr(self, "validation_result", None), "errors", None)
            if errors and not hasattr(self, "adapter"):
                more = [error.msg for error in errors if error.msg not in msg]
                msg = "; ".join([msg] + list(dict.fromkeys(more)))
            super().fail_json(msg=msg, **kwargs)

    return VaultModule(argument_spec=argument_spec, **kwargs)


def no_log_values(spec, params):
    """The values of ``spec``'s no_log options (and suboptions) in ``params``, of any shape."""
    found = set()
    if not isinstance(params, dict):
        return found
    for name, option in spec.items():
        value = params.get(name)
        if option.get("no_log") and isinstance(value, (str, int, float)) and not isinstance(value, bool) \
                and str(value):
            found.add(str(value))
        elif option.get("no_log") and isinstance(value, dict):
            found.update(str(item) for item in value.values() if isinstance(item, (str, int, float)) and str(item))
        if option.get("options"):
            for entry in value if isinstance(value, list) else [value]:
                found.update(no_log_values(option["options"], entry))
    return found


def keyword_secrets(value):
    """The passwords of libpq's keyword form (``password = 'a b'``) in ``value``, however deep;
    those of 4 characters or more, as inputs.url_credentials does."""
    if isinstance(value, dict):
        return [secret for item in value.values() for secret in keyword_secrets(item)]
    if isinstance(value, (list, tuple)):
        return [secret for item in value for secret in keyword_secrets(item)]
    if not isinstance(value, str):
        return []
    found = []
    for match in _KEYWORD_SECRET.finditer(value):
        found.extend(secret for secret in (match.group(2), match.group(2).strip("'")) if len(secret) >= 4)
    return found


def without_placeholders(value):
    """``value`` without Vault's ``{{username}}``/``{{password}}`` templates, which are no secrets."""
    if isinstance(value, str):
        return re.sub(r"\{\{\s*\w+\s*\}\}", "", value)
    if isinstance(value, dict):
        return {key: without_placeholders(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [without_placeholders(item) for item in value]
    return value


# -- the grammars --------------------------------------------------------------------------

def vault_name_problems(option, value, pattern=_VAULT_NAME, what="a Vault name"):
    """A role, key, connection or policy name: one name, not a path or a pattern."""
    if not isinstance(value, str) or not value.strip():
        return ["%s may not be empty" % option if isinstance(value, str) or value is None
                else "%s must be a name, got %s" % (option, type(value).__name__)]
    if any(mark in value for mark in ("*", "?", "[", "+")):
        return ["%s must name one object, not a pattern: %s" % (option, quote(value))]
    if "/" in value:
        return ["%s is a name, not a path (no '/'): %s" % (option, quote(value))]
    if len(value) > LONGEST_NAME or not pattern.match(value):
        return ["%s must be %s (at most %d letters, digits, '_', '.' and '-', starting and ending with a letter, "
                "digit or '_'), got %s" % (option, what, LONGEST_NAME, quote(value))]
    return []


def policy_name_problems(option, value):
    problems = vault_name_problems(option, value, _POLICY_NAME, "a policy name in lower case (Vault lowers it)")
    if not problems and value in IMMUTABLE_POLICIES:
        problems.append("%s: Vault's built-in %s policy cannot be written: %s" % (option, value, quote(value)))
    return problems


def mount_problems(option, value, engine=False):
    """A mount path (``transit``, ``team-a/database``); one leading or trailing '/' is dropped."""
    if not isinstance(value, str) or not value.strip("/").strip():
        return ["%s must be a mount path such as transit, got %s" % (option, quote(value))]
    parts = value.strip("/").split("/")
    if any(mark in value for mark in ("*", "?", "[", "+")):
        return ["%s must be one mount path, not a pattern: %s" % (option, quote(value))]
    if any(part in ("", ".", "..") or not _MOUNT_PART.match(part) for part in parts) or len(value) > LONGEST_NAME:
        return ["%s must be a mount path of letters, digits, '_', '.' and '-' parts joined by '/' (no empty, '.' or "
                "'..' part, at most %d characters), got %s" % (option, LONGEST_NAME, quote(value))]
    if engine and parts[0] in RESERVED_MOUNTS:
        return ["%s: Vault keeps %s/ for itself; no secrets engine can be mounted there: %s"
                % (option, parts[0], quote(value))]
    return []


def ttl_problems(option, value):
    """A Vault duration: seconds (``3600``), ``<n>d``, or a Go duration (``1h30m``); not ``1 hour``."""
    if value is None:
        return []
    if isinstance(value, str) and not value.strip():
        return ["%s may not be empty (leave it out for Vault's default)" % option]
    try:
        found = seconds(value, option)
    except VaultError as error:
        return [str(error)]
    if found < 0:
        return ["%s may not be negative, got %s" % (option, quote(value))]
    if found > LONGEST_TTL:
        return ["%s must be at most 10 years (%d s), got %s" % (option, LONGEST_TTL, quote(value))]
    return []


def ttl_order_problems(shorter_option, shorter, longer_option, longer):
    """``shorter`` no longer than ``longer`` (a default TTL and its maximum), both valid."""
    if shorter is None or longer is None or ttl_problems(shorter_option, shorter) or \
            ttl_problems(longer_option, longer):
        return []
    low, high = seconds(shorter), seconds(longer)
    if high and low > high:
        return ["%s (%s) is longer than %s (%s): Vault refuses it" % (shorter_option, shorter, longer_option, longer)]
    return []


def file_problems(option, value, required=True):
    """A file the module writes secrets to: absolute, not a symlink nor under one, not in .git,
    its directory there or creatable."""
    if value is None or value == "":
        return ["%s is required and may not be empty" % option] if required or value == "" else []
    if not isinstance(value, str) or not value.strip():
        return ["%s must be a file's path, got %s" % (option, quote(value))]
    if "\x00" in value or "\n" in value:
        return ["%s may not hold NUL or line breaks: %s" % (option, quote(value))]
    if not os.path.isabs(value):
        return ["%s must be an absolute path (a relative one depends on where the module runs): %s"
                % (option, quote(value))]
    parts = value.split(os.sep)
    if any(part.lower() == ".git" for part in parts):
        return ["%s may not be in a git directory (.git): %s" % (option, quote(value))]
    if ".." in parts:
        return ["%s may not climb with '..' (through a symbolic link it lands elsewhere): %s" % (option, quote(value))]
    if os.path.islink(value):
        return ["%s is a symbolic link; give the file itself, so that the secrets go where it says: %s"
                % (option, quote(value))]
    if os.path.isdir(value):
        return ["%s is a directory, not a file: %s" % (option, quote(value))]
    directory = os.path.dirname(value)
    while not os.path.lexists(directory):
        directory = os.path.dirname(directory)
    # Only the last part was checked above: a directory on the way that is a symbolic link
    # sends the secrets elsewhere just the same.
    if os.path.realpath(directory) != os.path.normpath(directory):
        return ["%s is under a symbolic link (%s is really %s); give the real path, so that the secrets go "
                "where it says: %s" % (option, directory, os.path.realpath(directory), quote(value))]
    if not os.path.isdir(directory):
        return ["%s cannot be created: %s is not a directory" % (option, directory)]
    if not os.path.exists(value) and not os.access(directory, os.W_OK | os.X_OK):
        return ["%s cannot be created: no permission to write in %s" % (option, directory)]
    return []


def policy_dangers(text):
    """What a policy's text grants beyond one app's paths: the consent options it needs, read
    from the policy as Vault parses it (``vault/policy.py``)."""
    return vault_policy.dangers(text)


def policy_text_problems(option, text):
    if not isinstance(text, str) or not text.strip():
        return ["%s may not be empty: a policy without a path grants nothing" % option]
    try:
        rules = vault_policy.rules(vault_policy.read(text))
    except vault_policy.PolicyError as error:
        return ["%s is neither JSON nor HCL Vault can read: %s" % (option, error)]
    if not rules:
        return ['%s grants nothing: it has no path "..." { capabilities = [...] } rule' % option]
    return []


# -- connection ----------------------------------------------------------------------------

def connection(module, inputs):
    """community.hashi_vault's connection options (its defaults and environment applied) and
    the address; True when they can be used."""
    try:
        module.connection_options.process_connection_options()
    except (ValueError, TypeError) as error:
        return inputs.add(["the connection options: %s" % redact_url(str(error))])
    url = module.adapter.get_option("url")
    good = inputs.url("url", url, credentials_option="the auth options (token, token_path/token_file)")
    timeout = module.params.get("timeout")
    good = inputs.number("timeout", timeout, 1, 3600, "seconds") and good
    ca_cert = module.params.get("ca_cert")
    if ca_cert and not os.path.exists(ca_cert):
        good = inputs.add(["ca_cert: no such file %s" % quote(ca_cert)])
    return good


def subject(module, name):
    return "%s (Vault at %s)" % (name, redact_url(module.adapter.get_option("url")) or "(no address)")


def finish(inputs, module, name):
    """Raise the problems found, naming the module and Vault's address."""
    inputs.subject = subject(module, name)
    inputs.done()


# -- vault_init ----------------------------------------------------------------------------

def check_init(module):
    params = module.params
    inputs = Inputs("vault_init")
    connection(module, inputs)
    inputs.add(file_problems("keys_file", params["keys_file"]))
    inputs.add(file_problems("token_file", params["token_file"], required=False))
    if params["token_file"] and params["token_file"] == params["keys_file"]:
        inputs.add(["token_file and keys_file are the same file %s" % quote(params["keys_file"])])
    shares, threshold = params["key_shares"], params["key_threshold"]
    shares_ok = inputs.number("key_shares", shares, 1, MOST_KEY_SHARES)
    if inputs.number("key_threshold", threshold, 1, MOST_KEY_SHARES) and shares_ok:
        if threshold > shares:
            inputs.add(["key_threshold must be between 1 and key_shares (%d), got %d" % (shares, threshold)])
        elif threshold == 1 and shares > 1:
            inputs.add(["key_threshold must be more than 1 when key_shares is more than 1 (Vault refuses one key "
                        "of several), got 1 of %d" % shares])
    password = params["keys_file_password"]
    if password is not None and not password.strip() and params["keys_in_clear"] is not True:
        inputs.add(["keys_file_password is blank: give the password, or leave it out and set keys_in_clear: true"])
    elif not (password or "").strip() and not params["keys_in_clear"] and params["keys_file"] \
            and not os.path.lexists(params["keys_file"]):
        inputs.dangerous("keys_file", "without keys_file_password a new Vault's unseal keys and root token would be "
                         "written to %s in clear" % params["keys_file"], "keys_in_clear")
    finish(inputs, module, "vault_init")


# -- vault_config --------------------------------------------------------------------------

def check_config(module):
    params = module.params
    inputs = Inputs("vault_config")
    connection(module, inputs)
    try:
        module.authenticator.validate()
    except (ValueError, TypeError, NotImplementedError, OSError) as error:
        inputs.add(["auth_method %s: %s" % (params.get("auth_method"), redact_url(str(error)))])
    if module.params.get("token"):
        # The token auth method copies a token read from token_path/token_file into the
        # parameters after no_log was worked out: mask it in the invocation too.
        module.no_log_values.add(module.params["token"])
    consent = {name: bool(params.get(name)) for name in CONSENTS}
    _engines(inputs, params["secrets_engines"])
    for index, method in enumerate(params["auth_methods"]):
        where = "auth_methods[%d]" % index
        inputs.add(mount_problems(where + ".path", method["path"]))
        inputs.add(_plugin_problems(where + ".type", method["type"]))
    _policies(inputs, params["policies"], consent)
    for index, key in enumerate(params["transit_keys"]):
        where = "transit_keys[%d]" % index
        inputs.add(vault_name_problems(where + ".name", key["name"]))
        inputs.add(mount_problems(where + ".mount", key["mount"]))
        inputs.add(_plugin_problems(where + ".type", key["type"]))
    _connections(inputs, params["database_connections"])
    _database_roles(inputs, params["database_roles"])
    _kubernetes_auth(inputs, params["kubernetes_auth"])
    _kubernetes_roles(inputs, params["kubernetes_roles"], consent)
    for section, key in (("secrets_engines", ("path",)), ("auth_methods", ("path",)), ("policies", ("name",)),
                         ("transit_keys", ("mount", "name")), ("database_connections", ("mount", "name")),
                         ("database_roles", ("mount", "name")), ("kubernetes_auth", ("mount",)),
                         ("kubernetes_roles", ("mount", "name"))):
        inputs.add(_twice(section, params[section], key))
    finish(inputs, module, "vault_config")


def _plugin_problems(option, value):
    if not isinstance(value, str) or not _PLUGIN.match(value) or len(value) > LONGEST_NAME:
        return ["%s must be a plugin or type name such as transit, database or kv-v2, got %s" % (option, quote(value))]
    return []


def _twice(section, entries, key):
    """The same object given twice in a section: which one is meant is unclear."""
    seen, problems = {}, []
    for index, entry in enumerate(entries):
        identity = tuple(str(entry.get(part) or "").strip("/") for part in key)
        if identity in seen:
            problems.append("%s[%d] is %s again (as %s[%d]): give each object once"
                            % (section, index, "/".join(identity), section, seen[identity]))
        seen.setdefault(identity, index)
    return problems


def _engines(inputs, engines):
    for index, engine in enumerate(engines):
        where = "secrets_engines[%d]" % index
        inputs.add(mount_problems(where + ".path", engine["path"], engine=True))
        inputs.add(_plugin_problems(where + ".type", engine["type"]))
        inputs.add(ttl_problems(where + ".default_lease_ttl", engine["default_lease_ttl"]))
        inputs.add(ttl_problems(where + ".max_lease_ttl", engine["max_lease_ttl"]))
        inputs.add(ttl_order_problems(where + ".default_lease_ttl", engine["default_lease_ttl"],
                                      where + ".max_lease_ttl", engine["max_lease_ttl"]))


def _policies(inputs, policies, consent):
    for index, policy in enumerate(policies):
        where = "policies[%d]" % index
        if not inputs.add(policy_name_problems(where + ".name", policy["name"])):
            continue
        if policy["name"] == "default" and not consent["allow_default_policy_change"]:
            inputs.dangerous(where + ".name", "policy default is Vault's built-in policy, held by every token; "
                             "this would %s" % CONSENTS["allow_default_policy_change"], "allow_default_policy_change")
        if not inputs.add(policy_text_problems(where + ".policy", policy["policy"])):
            continue
        for needed in policy_dangers(policy["policy"]):
            if not consent[needed]:
                inputs.dangerous(where + ".policy", "policy %s would %s" % (policy["name"], CONSENTS[needed]), needed)


def _connections(inputs, connections):
    for index, connection_ in enumerate(connections):
        where = "database_connections[%d]" % index
        inputs.add(vault_name_problems(where + ".name", connection_["name"]))
        inputs.add(mount_problems(where + ".mount", connection_["mount"]))
        inputs.add(_plugin_problems(where + ".plugin_name", connection_["plugin_name"]))
        url = connection_["connection_url"]
        if not isinstance(url, str) or not url.strip() or re.search(r"[\x00-\x1f\x7f]", url):
            inputs.add(["%s.connection_url must be the database's address on one line, got %s" % (where, quote(url))])
        elif carries_password(url):
            inputs.add(["%s.connection_url may not carry a password (it is returned and logged with the address); "
                        "write {{username}} and {{password}} in it and give the password in %s.password: %s"
                        % (where, where, quote(_KEYWORD_SECRET.sub(r"\1***", url)))])
        for option in ("username", "password"):
            if connection_[option] is not None and not connection_[option].strip():
                inputs.add(["%s.%s may not be empty or blank (leave it out instead)" % (where, option)])
        for position, role in enumerate(connection_["allowed_roles"] or []):
            if not isinstance(role, str) or not role.strip() or "/" in role:
                inputs.add(["%s.allowed_roles[%d] must be a role name (or a glob of names), got %s"
                            % (where, position, quote(role))])


def carries_password(url):
    """Whether a database's address carries a secret: ``user:password@`` (with a scheme or
    MySQL's ``user:password@tcp(...)``) or a parameter (``?password=``, libpq's
    ``password = '...'``), Vault's ``{{username}}``/``{{password}}`` templates aside."""
    if _KEYWORD_SECRET.search(url):
        return True
    url = without_placeholders(url)
    if url_credentials(url):
        return True
    # url_credentials leaves out a parameter's secret shorter than 4 characters (masking
    # such a word everywhere would garble the messages): redact_urls still finds it.
    # Without '@', redact_urls looks at the parameters only, not at a user name alone.
    unsigned = url.replace("@", " ")
    return redact_urls(unsigned) != unsigned


def _database_roles(inputs, roles):
    for index, role in enumerate(roles):
        where = "database_roles[%d]" % index
        inputs.add(vault_name_problems(where + ".name", role["name"]))
        inputs.add(mount_problems(where + ".mount", role["mount"]))
        inputs.add(vault_name_problems(where + ".db_name", role["db_name"]))
        for field in ("creation_statements", "revocation_statements"):
            statements = role[field]
            if field == "creation_statements" and not statements:
                inputs.add(["%s.%s may not be empty: Vault would create no account" % (where, field)])
            for position, statement in enumerate(statements or []):
                if not isinstance(statement, str) or not statement.strip():
                    inputs.add(["%s.%s[%d] may not be empty or blank" % (where, field, position)])
        inputs.add(ttl_problems(where + ".default_ttl", role["default_ttl"]))
        inputs.add(ttl_problems(where + ".max_ttl", role["max_ttl"]))
        inputs.add(ttl_order_problems(where + ".default_ttl", role["default_ttl"], where + ".max_ttl",
                                      role["max_ttl"]))


def _kubernetes_auth(inputs, configs):
    for index, config in enumerate(configs):
        where = "kubernetes_auth[%d]" % index
        inputs.add(mount_problems(where + ".mount", config["mount"]))
        inputs.url(where + ".kubernetes_host", config["kubernetes_host"],
                   credentials_option=where + ".token_reviewer_jwt")
        ca = config["kubernetes_ca_cert"]
        if ca and "-----BEGIN CERTIFICATE-----" not in ca:
            inputs.add(["%s.kubernetes_ca_cert must be a PEM certificate (-----BEGIN CERTIFICATE-----), got %s"
                        % (where, quote(ca[:40]))])
        if config["token_reviewer_jwt"] is not None and not config["token_reviewer_jwt"].strip():
            inputs.add(["%s.token_reviewer_jwt may not be empty or blank (leave it out instead)" % where])


def _kubernetes_roles(inputs, roles, consent):
    for index, role in enumerate(roles):
        where = "kubernetes_roles[%d]" % index
        inputs.add(vault_name_problems(where + ".name", role["name"]))
        inputs.add(mount_problems(where + ".mount", role["mount"]))
        everything = []
        for field, kind in (("bound_service_account_names", "subdomain"),
                            ("bound_service_account_namespaces", "label")):
            bound = role[field]
            if not bound:
                inputs.add(["%s.%s may not be empty: nobody could log in" % (where, field)])
            for position, name in enumerate(bound or []):
                option = "%s.%s[%d]" % (where, field, position)
                if isinstance(name, str) and name and not name.strip("*"):
                    everything.append(field)
                    if len(bound) > 1:
                        inputs.add(["%s: '*' stands for every name; Vault refuses it beside other names" % option])
                else:
                    inputs.add(bound_name_problems(option, name, kind))
        if len(everything) == 2:
            inputs.add(["%s: bound_service_account_names and bound_service_account_namespaces cannot both be '*' "
                        "(Vault refuses a role any service account anywhere could log in with)" % where])
        elif everything and not consent["allow_wildcard_bindings"]:
            inputs.dangerous("%s.%s" % (where, everything[0]), "Kubernetes auth role %s would %s"
                             % (role["name"], CONSENTS["allow_wildcard_bindings"]), "allow_wildcard_bindings")
        for position, policy in enumerate(role["token_policies"] or []):
            inputs.add(policy_name_problems("%s.token_policies[%d]" % (where, position), policy)
                       if policy != "root" else
                       ["%s.token_policies[%d]: a login cannot be given the root policy" % (where, position)])
        inputs.add(ttl_problems(where + ".token_ttl", role["token_ttl"]))
        inputs.add(ttl_problems(where + ".token_max_ttl", role["token_max_ttl"]))
        inputs.add(ttl_order_problems(where + ".token_ttl", role["token_ttl"], where + ".token_max_ttl",
                                      role["token_max_ttl"]))
        if role["audience"] is not None and not role["audience"].strip():
            inputs.add(["%s.audience may not be empty or blank (leave it out instead)" % where])


def bound_name_problems(option, value, kind):
    """A service account name (``subdomain``) or namespace (``label``) a Kubernetes auth role
    is bound to, or a glob of them with '*' at the start or the end (``web-*``), as Vault
    matches them."""
    if not isinstance(value, str) or "*" not in value:
        return name_problems(option, value, kind)
    if not _GLOB_NAME[kind].match(value) or len(value) > NAME_KINDS[kind][1]:
        return ["%s must be %s, or one with '*' at its start or end (Vault takes '*' nowhere else), got %s"
                % (option, NAME_KINDS[kind][2], quote(value))]
    return []


# -- vault_app_credentials -----------------------------------------------------------------

def check_app_credentials(module):
    params = module.params
    inputs = Inputs("vault_app_credentials")
    connection(module, inputs)
    kubeconfig = params["kubeconfig"]
    if kubeconfig is not None and (not kubeconfig.strip() or not os.path.isfile(kubeconfig)):
        inputs.add(["kubeconfig: no such file %s" % quote(kubeconfig)])
    if params["context"] is not None and not params["context"].strip():
        inputs.add(["context may not be empty or blank (leave it out for the kubeconfig's current context)"])
    inputs.name("service_account", params["service_account"])
    inputs.namespace("service_account_namespace", params["service_account_namespace"])
    for position, audience in enumerate(params["audiences"] or []):
        if not isinstance(audience, str) or not audience.strip():
            inputs.add(["audiences[%d] may not be empty or blank" % position])
    for option in ("auth_mount", "database_mount", "transit_mount"):
        inputs.add(mount_problems(option, params[option]))
    for option in ("auth_role", "database_role"):
        inputs.add(vault_name_problems(option, params[option]))
    if params["transit_key"] is not None:
        inputs.add(vault_name_problems("transit_key", params["transit_key"]))
    inputs.subject = "%s for service account %s/%s" % (
        subject(module, "vault_app_credentials"), quote(params["service_account_namespace"], 70),
        quote(params["service_account"], 70))
    inputs.done()
