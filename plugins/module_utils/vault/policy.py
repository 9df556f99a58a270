# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Vault policies read the way Vault reads them, to judge what they grant before one is written.

A policy is HCL (version 1, Vault's parser) or JSON. A pattern over the raw text is fooled
by everything the parser undoes: a JSON escape (``"su\\u0064o"``), a comment inside a list
(``["update", # ]`` and ``"sudo"]`` on the next line), a block comment. So the text is read
here into what Vault sees: JSON with :func:`json.loads`, HCL by a small reader of the
subset policies use (``path "<p>" { capabilities = [...] }``, its comments dropped and its
strings' escapes decoded). Both give objects as tuples of (key, value) pairs, which keeps a
key given twice (Vault applies both), and lists as lists.

:func:`dangers` then names the consents a policy needs: ``sudo`` anywhere,
a path of wildcards only, or writing where a token can give itself any policy or take
Vault over (:data:`SYSTEM_PATHS`).
"""

from __future__ import annotations

import json
import re


class PolicyError(ValueError):
    """A policy Vault could not parse; the message says where."""


_ESCAPE = re.compile(r'\\(?:[abfnrtv\\"\']|[0-7]{3}|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8})')
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"',
            "'": "'"}
_WORD = re.compile(r"[A-Za-z0-9_.+-]+")
_HEREDOC = re.compile(r"<<(-?)([A-Za-z_][\w-]*)[ \t]*\n")
_PUNCTUATION = "{}[]=,:"

# Where writing lets a token give itself or another any policy, or take Vault over: the
# policies, auth methods and mounts themselves, the auth methods' roles and users (auth/),
# the identities policies hang on (identity/). A prefix ending in '/' covers what is under it;
# one without covers every path starting with it (sys/auth and sys/auth/kubernetes).
SYSTEM_PATHS = ("sys/policy", "sys/policies/", "sys/auth", "sys/mounts", "sys/remount", "sys/raw", "sys/audit",
                "sys/plugins/", "sys/config/", "sys/generate-root", "sys/rekey", "sys/replication/",
                "sys/storage/", "sys/namespaces", "auth/", "identity/")
# Paths under those that only act on the caller's own token (Vault's default policy grants
# them), or on OIDC tokens: no policy is given by writing there.
_SELF_SERVICE = ("auth/token/lookup-self", "auth/token/renew-self", "auth/token/revoke-self", "auth/token/create",
                 "auth/token/renew", "auth/token/lookup", "auth/token/revoke", "auth/token/renew-accessor",
                 "auth/token/lookup-accessor", "auth/token/revoke-accessor")
_SELF_SERVICE_UNDER = ("identity/oidc/",)
WRITES = frozenset(("create", "update", "patch", "delete"))
# The old `policy = "..."` form, as Vault expands it.
_OLD_POLICIES = {"deny": {"deny"}, "read": {"read", "list"}, "write": {"create", "read", "update", "delete", "list"},
                 "sudo": {"create", "read", "update", "delete", "list", "sudo"}}


# -- reading ---------------------------------------------------------------------------------

def read(text):
    """The policy as Vault parses it: JSON when it is JSON, else HCL."""
    try:
        return json.loads(text, object_pairs_hook=tuple)
    except ValueError:
        pass
    return _Reader(list(_tokens(text))).document()


def _tokens(text):
    """(kind, value, line) for each token: kind is ``string``, ``word`` or a punctuation mark."""
    position, line, end = 0, 1, len(text)
    while position < end:
        char = text[position]
        if char == "\n":
            line, position = line + 1, position + 1
        elif char.isspace():
            position += 1
        elif char == "#" or text.startswith("//", position):
            newline = text.find("\n", position)
            position = end if newline < 0 else newline
        elif text.startswith("/*", position):
            close = text.find("*/", position + 2)
            if close < 0:
                raise PolicyError("line %d: a /* comment is not closed" % line)
            line += text.count("\n", position, close)
            position = close + 2
        elif char == '"':
            value, after = _string(text, position, line)
            yield "string", value, line
            line += text.count("\n", position, after)
            position = after
        elif text.startswith("<<", position):
            value, after = _heredoc(text, position, line)
            yield "string", value, line
            line += text.count("\n", position, after)
            position = after
        elif char in _PUNCTUATION:
            yield char, char, line
            position += 1
        else:
            word = _WORD.match(text, position)
            if not word:
                raise PolicyError("line %d: unexpected %r" % (line, char))
            yield "word", word.group(), line
            position = word.end()


def _string(text, start, line):
    """The decoded value of the string opening at ``start``, and where it ends. As HCL's
    scanner does, quotes inside a ``${...}`` do not close it; what is inside is kept as is."""
    out, position, braces = [], start + 1, 0
    while True:
        if position >= len(text) or (text[position] == "\n" and not braces):
            raise PolicyError("line %d: a string is not closed" % line)
        char = text[position]
        if char == '"' and not braces:
            return "".join(out), position + 1
        if not braces and text.startswith("${", position):
            braces, step = 1, 2
        elif braces:
            braces += (char == "{") - (char == "}")
            step = 1
        elif char == "\\":
            escape = _ESCAPE.match(text, position)
            if not escape:
                raise PolicyError("line %d: unknown escape %r in a string" % (line, text[position:position + 2]))
            out.append(_unescape(escape.group(), line))
            position = escape.end()
            continue
        else:
            step = 1
        out.append(text[position:position + step])
        position += step


def _unescape(escape, line):
    if len(escape) == 2:
        return _ESCAPES[escape[1]]
    try:
        return chr(int(escape[1:], 8) if escape[1].isdigit() else int(escape[2:], 16))
    except (ValueError, OverflowError):
        raise PolicyError("line %d: %s is no character" % (line, escape))


def _heredoc(text, start, line):
    opening = _HEREDOC.match(text, start)
    if not opening:
        raise PolicyError("line %d: a heredoc (<<) without its marker" % line)
    indented, marker = opening.group(1), opening.group(2)
    lines, position = [], opening.end()
    while position < len(text):
        newline = text.find("\n", position)
        stop = len(text) if newline < 0 else newline
        current = text[position:stop]
        if (current.strip() if indented else current) == marker:
            return "\n".join(lines) + "\n", stop
        lines.append(current)
        position = stop + 1
    raise PolicyError("line %d: the heredoc %s is not closed" % (line, marker))


class _Reader:
    """HCL's object lists over the tokens: ``key ... { ... }`` and ``key = value``, items
    separated by new lines or commas, lists in brackets with commas."""

    def __init__(self, tokens):
        self.tokens = tokens
        self.at = 0

    def peek(self):
        if self.at < len(self.tokens):
            return self.tokens[self.at]
        return ("end", "the end", self.tokens[-1][2] if self.tokens else 1)

    def take(self, *kinds):
        kind, value, line = self.peek()
        if kind not in kinds:
            raise PolicyError("line %d: expected %s, got %s" % (line, " or ".join(kinds), value))
        self.at += 1
        return value

    def document(self):
        return self.items("end")

    def items(self, closing):
        pairs = []
        while self.peek()[0] != closing:
            if self.peek()[0] == "end":
                raise PolicyError("line %d: a { is not closed" % self.peek()[2])
            keys = [self.take("word", "string")]
            while self.peek()[0] in ("word", "string"):
                keys.append(self.take("word", "string"))
            if self.peek()[0] in ("=", ":"):
                self.at += 1
                value = self.value()
            else:
                value = self.object()
            for key in reversed(keys[1:]):
                value = ((key, value),)
            pairs.append((keys[0], value))
            if self.peek()[0] == ",":
                self.at += 1
        return tuple(pairs)

    def object(self):
        self.take("{")
        pairs = self.items("}")
        self.take("}")
        return pairs

    def value(self):
        kind = self.peek()[0]
        if kind == "{":
            return self.object()
        if kind != "[":
            return self.take("string", "word")
        self.take("[")
        values = []
        while self.peek()[0] != "]":
            values.append(self.value())
            if self.peek()[0] != ",":
                break
            self.at += 1
        self.take("]")
        return values


# -- judging ---------------------------------------------------------------------------------

def rules(document):
    """(path, capabilities) of each rule; capabilities None where they are not names (taken
    for every capability)."""
    found = []
    for key, value in _pairs(document):
        if not isinstance(key, str) or key.lower() != "path":
            continue
        for entry in value if isinstance(value, list) else [value]:
            for path, body in _pairs(entry):
                found.append((str(path), _capabilities(body)))
    return found


def _pairs(value):
    return value if isinstance(value, tuple) else ()


def _capabilities(body):
    granted = set()
    if not isinstance(body, tuple):
        return None
    for key, value in body:
        key = key.lower() if isinstance(key, str) else key
        if key == "capabilities":
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                return None
            granted.update(item.strip().lower() for item in value)
        elif key == "policy":
            if not isinstance(value, str) or value.strip().lower() not in _OLD_POLICIES:
                return None
            granted.update(_OLD_POLICIES[value.strip().lower()])
    return granted


def strings(value):
    """Every string in the document, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from strings(item)


def may_reach(pattern, prefix):
    """Whether a path the policy's ``pattern`` matches may start with ``prefix``: Vault's
    ``+`` stands for one path segment and a trailing ``*`` for anything after it."""
    segments = pattern.lstrip("/").split("/")
    wanted = prefix.split("/")
    for index, want in enumerate(wanted):
        if index >= len(segments):
            return False
        segment, last = segments[index], index == len(segments) - 1
        if last and segment.endswith("*"):
            stem = segment[:-1]
            return "+" in stem or want.startswith(stem) or (index == len(wanted) - 1 and stem.startswith(want))
        if "+" in segment:
            continue
        if index == len(wanted) - 1:
            return segment.startswith(want)
        if segment != want:
            return False
    return True


def _self_service(path):
    path = path.lstrip("/")
    return path in _SELF_SERVICE or any(path.startswith(under) for under in _SELF_SERVICE_UNDER)


def dangers(text):
    """The consent options the policy ``text`` needs, in a stable order; PolicyError when it
    cannot be read."""
    document = read(text)
    found = rules(document)
    needed = []
    if any(item.strip().lower() == "sudo" for item in strings(document)) or \
            any(granted is None or "sudo" in granted for _path, granted in found):
        needed.append("allow_sudo_policies")
    if any(not path.replace("*", "").replace("+", "").strip("/") for path, _granted in found):
        needed.append("allow_wildcard_policy_paths")
    if any((granted is None or granted & WRITES) and "deny" not in (granted or ()) and not _self_service(path)
           and any(may_reach(path, prefix) for prefix in SYSTEM_PATHS) for path, granted in found):
        needed.append("allow_system_paths")
    return needed
