# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a user gives a module, checked before anything is read or written.

One vocabulary for every module and action plugin: each check takes the option's name
(or its path, such as ``files["a/b"]``) and the value, and returns the problems it finds,
each a sentence that names the option and quotes the value (credentials in addresses
redacted). ``Inputs`` collects them for one object and raises one ``InputError`` listing
them all, so a task fails once, naming everything wrong, before its first request::

    inputs = Inputs("flux_suspend")
    inputs.name("name", params["name"])
    inputs.namespace("namespace", params["namespace"])
    inputs.done()

Values that are valid but dangerous (replacing Vault's ``default`` policy, a role bound to
every service account) are refused by the module that knows them, naming the option that
says the user means it; ``Inputs.dangerous`` words those errors the same way everywhere.

``mask_url_credentials`` gives Ansible the credentials found in any address among a
module's parameters, so they are masked in every message and in the logged arguments
(``invocation.module_args``), whether or not the module then refuses them.
"""

from __future__ import annotations

import math
import re
import unicodedata

from ansible.module_utils.six.moves.urllib.parse import urlsplit

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError


class InputError(CollectionError):
    """Options that cannot be used as given; the message names each one and the object."""


# -- names -----------------------------------------------------------------------------------

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?\Z")

NAME_KINDS = {
    # kind: (pattern, longest, what it is)
    "label": (_DNS1123_LABEL, 63, "a DNS-1123 label (at most 63 lower case letters, digits and '-', "
              "starting and ending with a letter or digit)"),
    "subdomain": (_DNS1123_SUBDOMAIN, 253, "a DNS-1123 subdomain (at most 253 lower case letters, digits, '-' "
                  "and '.', each part starting and ending with a letter or digit)"),
    "dns1035": (_DNS1035_LABEL, 63, "a DNS-1035 label (at most 63 lower case letters, digits and '-', "
                "starting with a letter, ending with a letter or digit)"),
}

_WILDCARDS = ("*", "?", "[")


def quote(value, limit=80):
    """``value`` as an error quotes it: repr, cut to ``limit`` characters, credentials redacted."""
    text = repr(redact_urls(value) if isinstance(value, str) else value)
    return text if len(text) <= limit else "%s...(%d characters)" % (text[:limit], len(str(value)))


def name_problems(option, value, kind="subdomain", required=True):
    """A Kubernetes object name (``subdomain``), namespace or label value (``label``), or Service name (``dns1035``)."""
    if value is None or value == "":
        return ["%s is required and may not be empty" % option] if required or value == "" else []
    if not isinstance(value, str):
        return ["%s must be a string, got %s" % (option, type(value).__name__)]
    pattern, longest, what = NAME_KINDS[kind]
    if any(mark in value for mark in _WILDCARDS):
        return ["%s must name one object, not a pattern: %s has a wildcard; %s is %s"
                % (option, quote(value), option, what)]
    if len(value) > longest or not pattern.match(value):
        return ["%s must be %s, got %s" % (option, what, quote(value))]
    return []


def namespace_problems(option, value, required=True):
    return name_problems(option, value, kind="label", required=required)


# -- text that shows as written, and sizes ------------------------------------------------------

# Unicode categories a reader does not see as written: control (Cc), format (Cf: the
# right-to-left override U+202E, zero-width spaces), lone surrogates, line and paragraph separators.
_HIDDEN_CATEGORIES = ("Cc", "Cf", "Cs", "Zl", "Zp")


def hidden_characters(text, allowed=""):
    """The characters of ``text`` (but those in ``allowed``) that would not show as written in
    a commit, a log or a terminal, as ``U+202E, U+000A``; "" when there are none. A right-to-left
    override makes a commit message or an author read as something else than it is."""
    found = sorted({char for char in text if char not in allowed
                    and unicodedata.category(char) in _HIDDEN_CATEGORIES})
    return ", ".join("U+%04X" % ord(char) for char in found)


# The most entries one list or mapping of a task may hold: far more than any repository layout
# or release needs, few enough that a runaway loop is refused before its first write.
MOST_ENTRIES = 1000


def too_many(option, value, most=MOST_ENTRIES):
    """A list or mapping of more than ``most`` entries: one problem naming ``option`` (a loop
    run away, not a repository layout or a release), before each entry is looked at."""
    if isinstance(value, (list, tuple, dict)) and len(value) > most:
        return ["%s has %d entries; at most %d are taken in one task" % (option, len(value), most)]
    return []


# -- numbers ---------------------------------------------------------------------------------

def number_problems(option, value, minimum=None, maximum=None, unit=""):
    """A whole number in [minimum, maximum]; ``unit`` (``seconds``) words the range."""
    if value is None:
        return []
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            (isinstance(value, float) and (not math.isfinite(value) or value != int(value))):
        return ["%s must be a whole number%s, got %s" % (option, " of %s" % unit if unit else "", quote(value))]
    unit = " %s" % unit if unit else ""
    if minimum is not None and maximum is not None and not minimum <= value <= maximum:
        return ["%s must be between %s and %s%s, got %s" % (option, minimum, maximum, unit, quote(value))]
    if minimum is not None and value < minimum:
        return ["%s must be at least %s%s, got %s" % (option, minimum, unit, quote(value))]
    if maximum is not None and value > maximum:
        return ["%s must be at most %s%s, got %s" % (option, maximum, unit, quote(value))]
    return []


def port_problems(option, value):
    return number_problems(option, value, 1, 65535)


# -- image references (github.com/distribution/reference's grammar) --------------------------

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = r"(?:%s(?:\.%s)*|\[[a-fA-F0-9:]+\])" % (_DOMAIN_PART, _DOMAIN_PART)
_DOMAIN = r"%s(?::[0-9]+)?" % _HOST
_NAME = r"(?:%s/)?%s(?:/%s)*" % (_DOMAIN, _COMPONENT, _COMPONENT)
TAG = re.compile(r"^[\w][\w.-]{0,127}\Z", re.ASCII)
_DIGEST = r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(r"^(?P<name>%s)(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>%s))?\Z" % (_NAME, _DIGEST),
                        re.ASCII)
REPOSITORY = re.compile(r"^%s\Z" % _NAME)
NAME_TOTAL_MAX = 255


def image_problems(option, value):
    """An image reference (``[registry/]path[:tag][@digest]``) as containerd and Kubernetes parse it."""
    if not isinstance(value, str) or not value:
        return ["%s must be an image reference such as registry.example/app:1.2.3, got %s" % (option, quote(value))]
    match = _REFERENCE.match(value)
    if not match:
        return ["%s is not an image reference (repository in lower case, then :tag of at most 128 letters, "
                "digits, '_', '.' and '-', or @sha256:digest): %s" % (option, quote(value))]
    if len(match.group("name")) > NAME_TOTAL_MAX:
        return ["%s: the repository name is longer than %d characters: %s" % (option, NAME_TOTAL_MAX, quote(value))]
    return []


def tag_problems(option, value):
    if not isinstance(value, str) or not TAG.match(value):
        return ["%s must be an image tag (at most 128 letters, digits, '_', '.' and '-', not starting with "
                "'.' or '-'), got %s" % (option, quote(value))]
    return []


# -- git -------------------------------------------------------------------------------------

_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


def branch_problems(option, value):
    """A branch name git accepts (``git check-ref-format --branch``'s rules)."""
    if not isinstance(value, str) or not value:
        return ["%s must be a branch name, got %s" % (option, quote(value))]
    parts = value.split("/")
    bad = (_REF_FORBIDDEN.search(value) or ".." in value or "@{" in value or value == "@"
           or value.startswith("-") or value.endswith("/") or value.endswith(".") or value.endswith(".lock")
           or value.startswith("refs/") or len(value) > 255
           or any(not part or part.startswith(".") or part.endswith(".lock") for part in parts))
    if bad:
        return ["%s is not a branch name git accepts (no spaces, '..', '~^:?*[\\', '@{', leading '-' or '.' "
                "in a part, '.lock' ending; the short name, not refs/heads/...): %s" % (option, quote(value))]
    return []


# Files in the tree that git itself acts on: .gitmodules brings submodule addresses (and
# their commands) into every clone, .gitattributes names filter and diff drivers.
_GIT_CONTROL_FILES = (".gitmodules", ".gitattributes")


def repo_path_problems(option, value, allow_root=False):
    """A path inside the platform repository: relative, no ``..``, nothing under ``.git``."""
    if not isinstance(value, str) or (not value and not allow_root):
        return ["%s must be a path inside the repository, got %s" % (option, quote(value))]
    if "\x00" in value or "\n" in value or "\r" in value:
        return ["%s may not hold NUL or line breaks: %s" % (option, quote(value))]
    if value.startswith("/") or value.startswith("~"):
        return ["%s must be relative to the repository's top, not absolute: %s" % (option, quote(value))]
    parts = [part for part in value.split("/") if part not in ("", ".")]
    if ".." in parts:
        return ["%s may not climb out with '..': %s" % (option, quote(value))]
    if any(part.lower() == ".git" for part in parts):
        return ["%s may not be in git's own directory .git (git would run what it finds there): %s"
                % (option, quote(value))]
    if any(part.lower() in _GIT_CONTROL_FILES for part in parts):
        return ["%s may not be one of the files git acts on (%s: submodule addresses, filters): %s"
                % (option, ", ".join(sorted(_GIT_CONTROL_FILES)), quote(value))]
    if not parts and not allow_root:
        return ["%s names the repository's top, not a file: %s" % (option, quote(value))]
    if len(value) > 4096 or any(len(part.encode("utf-8")) > 255 for part in parts):
        return ["%s is too long for a file name: %s" % (option, quote(value))]
    return []


# -- addresses -------------------------------------------------------------------------------

# The userinfo of an address runs to the authority's last '@' (a password may hold '@').
_URL_IN_TEXT = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://)([^/?#\s'\"]+)@")
# ``user:password@host`` with no scheme (MySQL's ``user:password@tcp(host)/``), at the start
# of a value, a word or a fragment; never an image's ``name:tag@sha256:digest``.
_BARE_USERINFO = re.compile(r"(?:^|(?<=[#\s]))([^\s/?#'\":@]+:[^\s/?#'\"@]+)@(?![a-z0-9]+:[0-9a-fA-F]{32,})")
# A query, fragment or keyword parameter that carries a secret (``?access_token=``,
# ``&X-Amz-Signature=``, libpq's ``password=``); ``{{password}}`` placeholders are none.
_SECRET_PARAMETER = re.compile(
    r"(?i)(^|[?&#;\s])([\w.-]*(?:password|passwd|pwd|token|secret|signature|sig|credential|api[_-]?key))"
    r"=(?!\{\{)([^&#;\s'\"]+)")
# Shorter secrets are masked only within their address: masking a word of three letters
# everywhere would garble every message.
_SHORTEST_MASKED = 4


def redact_url(url):
    """``url`` without the credentials it may carry (``user:password@host`` becomes ``***@host``)."""
    return redact_urls(url)


def redact_urls(text):
    """``text`` with the credentials of every address in it replaced by ``***``: userinfo (with
    or without a scheme) and parameters that carry a secret."""
    if not isinstance(text, str):
        return text
    if "@" in text:
        text = _URL_IN_TEXT.sub(r"\1***@", text)
        text = _BARE_USERINFO.sub("***@", text)
    if "=" in text:
        text = _SECRET_PARAMETER.sub(r"\1\2=***", text)
    return text


def url_credentials(value):
    """The secrets an address carries: its ``user:password`` and password, a token given as the
    user, and the values of parameters that carry a secret.

    A short user name alone (``git@``) is no secret, and masking a common word would garble
    every message; one of 16 characters or more is taken for a token. Template placeholders
    (``{{password}}``) are none.
    """
    if not isinstance(value, str):
        return []
    found = []
    userinfos = [match.group(2) for match in _URL_IN_TEXT.finditer(value)] if "@" in value else []
    userinfos += [match.group(1) for match in _BARE_USERINFO.finditer(value)
                  if "://" not in match.group(1)] if "@" in value else []
    for userinfo in userinfos:
        user, _sep, password = userinfo.partition(":")
        if password:
            found.append(userinfo)
            if len(password) >= _SHORTEST_MASKED:
                found.append(password)
        elif len(user) >= 16:
            found.append(user)
    found.extend(match.group(3) for match in _SECRET_PARAMETER.finditer(value)
                 if len(match.group(3)) >= _SHORTEST_MASKED)
    return [secret for secret in found if secret and "{{" not in secret]


def url_problems(option, value, schemes=("http", "https"), required=True, credentials_option=None):
    """An address with one of ``schemes`` and a host, with no credentials in it.

    ``credentials_option``: where credentials belong instead (named in the error).
    """
    if value is None or value == "":
        return ["%s is required and may not be empty" % option] if required or value == "" else []
    if not isinstance(value, str):
        return ["%s must be an address, got %s" % (option, type(value).__name__)]
    if re.search(r"[\x00-\x20\x7f]", value):
        return ["%s may not hold spaces or control characters: %s" % (option, quote(value))]
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return ["%s is not a valid address (its port is not a number from 1 to 65535?): %s" % (option, quote(value))]
    if parts.scheme not in schemes:
        return ["%s must be an address starting with %s, got %s"
                % (option, " or ".join("%s://" % scheme for scheme in schemes), quote(value))]
    if not parts.hostname and parts.scheme != "file":
        return ["%s has no host: %s" % (option, quote(value))]
    if port == 0:
        return ["%s: port 0 cannot be reached: %s" % (option, quote(value))]
    if "@" in parts.netloc or url_credentials(value):
        return ["%s may not carry credentials (they would be logged and stored with the address); %s: %s"
                % (option, "give them in %s" % credentials_option if credentials_option else "remove them",
                   quote(value))]
    return []


def mask_url_credentials(module, params=None):
    """Have Ansible mask every credential found in an address among ``params`` (the module's).

    Ansible replaces each value of ``module.no_log_values`` in the result, its messages and
    ``invocation.module_args``.
    """
    for value in strings_in(module.params if params is None else params):
        for secret in url_credentials(value):
            module.no_log_values.add(secret)


def masking(module_class=None):
    """``module_class`` (AnsibleModule by default) masking credentials in addresses as soon as
    its options are read: before Ansible checks them, so that its own argument errors (a
    wrong type in another option) and their logged arguments never show them either."""
    if module_class is None:
        from ansible.module_utils.basic import AnsibleModule as module_class

    class Masking(module_class):
        def _load_params(self):
            super()._load_params()
            mask_url_credentials(self)

    Masking.__name__ = Masking.__qualname__ = module_class.__name__
    return Masking


def masked_module(**kwargs):
    """An AnsibleModule made with ``kwargs`` that masks credentials in addresses (see masking)."""
    return masking()(**kwargs)


def strings_in(value):
    """Every string in ``value``, however deep: keys and values of mappings, items of lists."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings_in(key)
            yield from strings_in(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from strings_in(item)


# -- local directories -----------------------------------------------------------------------

# Directories a task that writes (and on ``absent`` removes) its state must never be given.
SYSTEM_DIRECTORIES = ("/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/opt", "/proc", "/root",
                      "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var")


def state_dir_problems(option, value, required=True):
    """A directory of the task's own: absolute, not ``/``, a system directory or the home directory itself."""
    import os

    if value is None or value == "":
        return ["%s is required and may not be empty" % option] if required or value == "" else []
    if not isinstance(value, str) or "\x00" in value or "\n" in value:
        return ["%s must be a directory path on one line, got %s" % (option, quote(value))]
    path = os.path.expanduser(value)
    if not os.path.isabs(path):
        return ["%s must be an absolute path, got %s" % (option, quote(value))]
    resolved = os.path.realpath(path)
    if resolved in SYSTEM_DIRECTORIES or resolved == os.path.realpath(os.path.expanduser("~")):
        return ["%s may not be %s itself (the task writes its files there and removes them): %s"
                % (option, resolved, quote(value))]
    return []


# -- durations -------------------------------------------------------------------------------

def duration_problems(option, value, minimum=None, maximum=None):
    """A Go duration (``30s``, ``1m30s``, ``1h``): the grammar Flux, Flagger and Vault read."""
    from ansible_collections.gitops.progressive.plugins.module_utils.flagger.model import (
        DurationError, go_duration_seconds)

    if not isinstance(value, str):
        return ["%s must be a duration such as 30s, 5m or 1h, got %s" % (option, quote(value))]
    try:
        seconds = go_duration_seconds(value)
    except DurationError as error:
        return ["%s: %s" % (option, error)]
    if minimum is not None and seconds < minimum:
        return ["%s must be at least %ss, got %s" % (option, minimum, quote(value))]
    if maximum is not None and seconds > maximum:
        return ["%s must be at most %ss, got %s" % (option, maximum, quote(value))]
    return []


# -- one object's inputs ---------------------------------------------------------------------

class Inputs:
    """The problems found in one object's options; ``done()`` raises them together."""

    def __init__(self, subject):
        self.subject = subject
        self.problems = []

    def add(self, problems):
        self.problems.extend(problems)
        return not problems

    def name(self, option, value, kind="subdomain", required=True):
        return self.add(name_problems(option, value, kind=kind, required=required))

    def namespace(self, option, value, required=True):
        return self.add(namespace_problems(option, value, required=required))

    def number(self, option, value, minimum=None, maximum=None, unit=""):
        return self.add(number_problems(option, value, minimum, maximum, unit))

    def port(self, option, value):
        return self.add(port_problems(option, value))

    def image(self, option, value):
        return self.add(image_problems(option, value))

    def tag(self, option, value):
        return self.add(tag_problems(option, value))

    def branch(self, option, value):
        return self.add(branch_problems(option, value))

    def repo_path(self, option, value, allow_root=False):
        return self.add(repo_path_problems(option, value, allow_root))

    def url(self, option, value, schemes=("http", "https"), required=True, credentials_option=None):
        return self.add(url_problems(option, value, schemes, required, credentials_option))

    def state_dir(self, option, value, required=True):
        return self.add(state_dir_problems(option, value, required))

    def duration(self, option, value, minimum=None, maximum=None):
        return self.add(duration_problems(option, value, minimum, maximum))

    def not_empty(self, option, value):
        if isinstance(value, str) and not value.strip():
            return self.add(["%s may not be empty or blank" % option])
        return True

    def dangerous(self, option, what, consent):
        """A valid but dangerous value, refused unless ``consent`` (an option's name) is set."""
        return self.add(["%s: %s; set %s: true if that is meant" % (option, what, consent)])

    def done(self):
        if self.problems:
            count = len(self.problems)
            listed = "; ".join(self.problems)
            message = "%s: %s" % (self.subject, listed) if count == 1 else \
                "%s: %d problems: %s" % (self.subject, count, listed)
            raise InputError(message, problems=list(self.problems))
