"""The input battery of the git side: git_release, canary_rollout and platform_repo.

Each case is one malformed option (issue 17): the task must fail before it reaches git,
the API server or a file, name the option, and show no credential it was given. The
tests after ``CASES`` check that valid options still get past the checks (they then
reach out: the closed world refuses the connection), so the checks are not over-strict.
"""

import os
import tempfile

import pytest
from battery import Case, check, kube, run

REPO = "https://git.example/platform.git"
IMAGE = "ghcr.io/stefanprodan/podinfo"
TOKEN = "ghp_0123456789abcdefABCDEF0123456789"


def release(**args):
    """git_release's options: valid, then ``args`` laid over them (None removes one)."""
    options = kube(name="podinfo", namespace="test", repo_url=REPO, path="apps/staging", images={IMAGE: "6.7.1"})
    options.update(args)
    return {key: value for key, value in options.items() if value is not None}


def rollout(**args):
    options = kube(name="podinfo", namespace="test", images={"podinfo": "%s:6.7.1" % IMAGE})
    options.update(args)
    return {key: value for key, value in options.items() if value is not None}


def tree(**args):
    options = dict(repo_url=REPO, files={"apps/staging/app.yaml": "kind: ConfigMap\n"})
    options.update(args)
    return {key: value for key, value in options.items() if value is not None}


def _working_copy_with_a_link():
    """A working copy (a ``.git`` directory is enough) whose ``apps`` is a link out of it."""
    top = tempfile.mkdtemp(prefix="battery-git-")
    workdir = os.path.join(top, "checkout")
    os.makedirs(os.path.join(workdir, ".git"))
    with open(os.path.join(workdir, ".git", "config"), "w") as handle:
        handle.write('[remote "origin"]\n\turl = %s\n' % REPO)
    os.makedirs(os.path.join(top, "elsewhere"))
    os.symlink(os.path.join(top, "elsewhere"), os.path.join(workdir, "apps"))
    other = os.path.join(top, "project")
    os.makedirs(os.path.join(other, ".git"))
    with open(os.path.join(other, ".git", "config"), "w") as handle:
        handle.write('[core]\n\tbare = false\n[remote "origin"]\n\turl = https://git.example/my-project.git\n')
    return workdir, other


LINKED, FOREIGN = _working_copy_with_a_link()


def _directory_with_files():
    """A directory that holds files and no working copy (a project, a home): never a workdir."""
    top = tempfile.mkdtemp(prefix="battery-git-")
    with open(os.path.join(top, "notes.txt"), "w") as handle:
        handle.write("mine\n")
    return top


NOT_A_WORKING_COPY = _directory_with_files()
A_FILE = os.path.join(NOT_A_WORKING_COPY, "notes.txt")
MANY = 1001
RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: what follows it reads backwards

BAD_PATHS = [
    ("", "empty"), ("/etc/passwd", "absolute"), ("~/x.yaml", "home"), ("../outside.yaml", "climbs out"),
    ("apps/../../x.yaml", "climbs out through a directory"), (".git/config", "git's config (fsmonitor)"),
    (".GIT/hooks/pre-commit", ".git in capitals"), ("apps/.git/config", "a nested .git"), ("a\x00b", "NUL"),
    ("a\nb.yaml", "line break"), (".", "the top"), ("x" * 300, "a name over 255 bytes"),
]

REMOTE_WITH_TOKEN = "https://git:%s@github.com/org/repo//deploy" % TOKEN
POLICY_WITH_LINE_BREAK = {"name": IMAGE, "newTag": "1", "$imagepolicy": "flux-system:podinfo\n"}
DIGEST_WITH_LINE_BREAK = {"name": IMAGE, "digest": "sha256:%s\n" % ("a" * 64)}
POLICY_WITHOUT_NAMESPACE = {"name": IMAGE, "newTag": "1", "$imagepolicy": "podinfo"}

CASES = []

# --- git_release: the repository -------------------------------------------------------
CASES += [
    Case("git_release", release(repo_url="https://git:%s@git.example/platform.git" % TOKEN), "repo_url",
         "credentials in the URL", secrets=(TOKEN,)),
    Case("git_release", release(repo_url="https://%s@git.example/platform.git" % TOKEN), "repo_url",
         "a token as the URL's user", secrets=(TOKEN,)),
    Case("git_release", release(repo_url="ssh://git.example/platform.git"), "repo_url", "a scheme git_release "
         "cannot authenticate"),
    Case("git_release", release(repo_url="git.example/platform.git"), "repo_url", "no scheme"),
    Case("git_release", release(repo_url=""), "repo_url", "empty"),
    Case("git_release", release(repo_url="https:///platform.git"), "repo_url", "no host"),
    Case("git_release", release(repo_url="https://git.example:99999/platform.git"), "repo_url", "port out of range"),
    Case("git_release", release(repo_url="https://git.example/plat form.git"), "repo_url", "a space"),
    Case("git_release", release(repo_url="https://git.example/p.git\n--upload-pack=touch /tmp/x"), "repo_url",
         "a line break and an option"),
    Case("git_release", release(branch="main branch"), "branch", "a space"),
    Case("git_release", release(branch=""), "branch", "empty"),
    Case("git_release", release(branch="feature/../main"), "branch", "'..'"),
    Case("git_release", release(branch="-delete"), "branch", "an option"),
    Case("git_release", release(branch="main.lock"), "branch", ".lock"),
    Case("git_release", release(branch="refs/heads/main"), "branch", "the full ref"),
    Case("git_release", release(branch="ma*"), "branch", "a wildcard"),
    Case("git_release", release(branch="HEAD"), "branch", "HEAD"),
    Case("git_release", release(branch="main@{1}"), "branch", "a reflog"),
    Case("git_release", release(git_username="us:er"), "git_username", "a colon"),
    Case("git_release", release(git_username=""), "git_username", "empty"),
    Case("git_release", release(git_password="line\nX-Injected: 1"), "git_password", "a header injected",
         secrets=("X-Injected",)),
    Case("git_release", release(author_name="Mallory\nSigned-off-by: root"), "author_name", "a line break"),
    Case("git_release", release(author_name=""), "author_name", "empty"),
    Case("git_release", release(author_email="a@b>\n"), "author_email", "'>' and a line break"),
    Case("git_release", release(author_email="x" * 300), "author_email", "too long"),
    Case("git_release", release(workdir=""), "workdir", "empty"),
    Case("git_release", release(workdir="/"), "workdir", "the root"),
    Case("git_release", release(workdir="~"), "workdir", "the home directory"),
    Case("git_release", release(workdir=FOREIGN), "workdir", "another repository's working copy"),
]

# --- the working copy, the identity, hidden characters (both git tasks) -------------------
CASES += [
    Case("git_release", release(workdir="//"), "workdir", "the root, spelt //"),
    Case("git_release", release(workdir="/tmp/../"), "workdir", "the root through .."),
    Case("git_release", release(workdir="/etc"), "workdir", "a system directory"),
    Case("git_release", release(workdir="/etc/gitops"), "workdir", "inside a system directory"),
    Case("git_release", release(workdir="/gitops-checkout"), "workdir", "right under the root (its lock in /)"),
    Case("git_release", release(workdir=NOT_A_WORKING_COPY), "workdir", "a directory of files, no working copy"),
    Case("git_release", release(workdir=A_FILE), "workdir", "a file"),
    Case("git_release", release(workdir="/tmp/x\u200by"), "workdir", "a zero-width space"),
    Case("platform_repo", tree(workdir="//"), "workdir", "the root, spelt //"),
    Case("platform_repo", tree(workdir="/etc"), "workdir", "a system directory"),
    Case("platform_repo", tree(workdir="/usr/local/platform"), "workdir", "inside a system directory"),
    Case("platform_repo", tree(workdir="/srv"), "workdir", "right under the root (its lock in /)"),
    Case("platform_repo", tree(workdir=NOT_A_WORKING_COPY), "workdir", "a directory of files, no working copy"),
    Case("platform_repo", tree(workdir=A_FILE), "workdir", "a file"),
    Case("git_release", release(requested_by="Jane %sevil" % RLO), "requested_by", "a right-to-left override"),
    Case("git_release", release(requested_by="Jane\u200bDoe"), "requested_by", "a zero-width space"),
    Case("git_release", release(requested_by="Jane\x1b[31mDoe"), "requested_by", "a terminal escape"),
    Case("git_release", release(author_name="Mallory %s" % RLO), "author_name", "a right-to-left override"),
    Case("git_release", release(author_name="Mallory\x7f"), "author_name", "DEL"),
    Case("git_release", release(author_email="a\u2066@example.com"), "author_email", "a directional isolate"),
    Case("git_release", release(author_email="a@example.com\u2028"), "author_email", "a line separator"),
    Case("git_release", release(git_username="git%s" % RLO), "git_username", "a right-to-left override"),
    Case("git_release", release(git_username="git\ufeff"), "git_username", "a byte order mark"),
    Case("git_release", release(git_password="token\x7fvalue"), "git_password", "DEL"),
    Case("git_release", release(git_password="token\tvalue"), "git_password", "a tab"),
    Case("platform_repo", tree(commit_message="Update %s" % RLO), "commit_message", "a right-to-left override"),
    Case("platform_repo", tree(commit_message="Update\x1b]8;;http://x\x07"), "commit_message", "a terminal escape"),
    Case("platform_repo", tree(commit_message="Update\r"), "commit_message", "a carriage return"),
    Case("platform_repo", tree(author_name="Mallory %s" % RLO), "author_name", "a right-to-left override"),
    Case("platform_repo", tree(git_username="\u200b"), "git_username", "a zero-width space"),
    Case("platform_repo", tree(git_password="x\x7f"), "git_password", "DEL"),
]

# --- git_release: what changes -----------------------------------------------------------
CASES += [Case("git_release", release(path=path), "path", why) for path, why in BAD_PATHS]
CASES += [
    Case("git_release", release(images={}, values=[]), "images", "nothing to release"),
    Case("git_release", release(images={IMAGE: "6.7.1 "}), "images", "a tag with a space"),
    Case("git_release", release(images={IMAGE: "v" * 302}), "images", "a 302-character tag"),
    Case("git_release", release(images={IMAGE: ""}), "images", "an empty tag"),
    Case("git_release", release(images={IMAGE: 6.1}), "images", "a number"),
    Case("git_release", release(images={IMAGE: None}), "images", "null"),
    Case("git_release", release(images={IMAGE: "-rc1"}), "images", "a tag starting with '-'"),
    Case("git_release", release(images={IMAGE: "Bad Ref::!!"}), "images", "not a reference"),
    Case("git_release", release(images={IMAGE: "GHCR.io/Stefan/PodInfo:1"}), "images", "capitals in the repository"),
    Case("git_release", release(images={IMAGE: "%s@sha256:abc" % IMAGE}), "images", "a short digest"),
    Case("git_release", release(images={"Not An Image": "1.0"}), "images", "a name that is no repository"),
    Case("git_release", release(images={"ghcr.io/*": "1.0"}), "images", "a wildcard for a name"),
    Case("git_release", release(images={"": "1.0"}), "images", "an empty name"),
    Case("git_release", release(values=[{"file": "apps/staging/env.yaml", "path": "spec.replicas"}]), "values",
         "no value"),
    Case("git_release", release(values=[{"file": "apps/staging/env.yaml", "path": "spec.replicas", "value": None}]),
         "values", "a null value"),
    Case("git_release", release(values=[{"file": "../x.yaml", "path": "a", "value": 1}]), "values", "a file outside"),
    Case("git_release", release(values=[{"file": ".git/config", "path": "core.fsmonitor", "value": "touch /tmp/x"}]),
         "values", "git's config"),
    Case("git_release", release(values=[{"file": "/etc/hosts", "path": "a", "value": 1}]), "values", "absolute"),
    Case("git_release", release(values=[{"file": "", "path": "a", "value": 1}]), "values", "an empty file"),
    Case("git_release", release(values=[{"file": "a.yaml", "path": "", "value": 1}]), "values", "an empty path"),
    Case("git_release", release(values=[{"file": "a.yaml", "path": "spec..x[", "value": 1}]), "values",
         "a path that does not parse"),
    Case("git_release", release(values=[{"file": "a.yaml", "path": "a", "value": 1, "vaule": 2}]), "values",
         "an unknown key"),
    Case("git_release", release(values=[{"file": "a.yaml", "path": "a", "value": 1, "kind": "deployment x"}]),
         "values", "a kind that is no kind"),
    Case("git_release", release(values=[["spec.replicas", 3]]), "values", "not a mapping"),
    Case("git_release", release(kustomization="Apps"), "kustomization", "capitals"),
    Case("git_release", release(kustomization="apps*"), "kustomization", "a wildcard"),
    Case("git_release", release(kustomization=""), "kustomization", "empty"),
    Case("git_release", release(kustomization_namespace="x" * 64), "kustomization_namespace", "over 63"),
    Case("git_release", release(kustomization_namespace="flux_system"), "kustomization_namespace", "an underscore"),
    Case("git_release", release(image_automation="Staging!"), "image_automation", "not a name"),
    Case("git_release", release(image_automation="staging", values=[{"file": "a.yaml", "path": "a", "value": 1}]),
         "image_automation", "values with image automation"),
    Case("git_release", release(requested_by="me\nSigned-off-by: root"), "requested_by", "a line break"),
    Case("git_release", release(requested_by=""), "requested_by", "empty"),
    Case("git_release", release(images={IMAGE: "6.7.1\n"}), "images", "a tag with a trailing line break"),
    Case("git_release", release(images={IMAGE: "%s:6.7.1\n" % IMAGE}), "images",
         "a reference with a trailing line break"),
    Case("git_release", release(images={IMAGE + "\n": "6.7.1"}), "images", "a name with a trailing line break"),
    Case("git_release", release(images={IMAGE: "6.7.\u0661"}), "images", "an Arabic-Indic digit in the tag"),
    Case("git_release", release(images={}, values=[{"file": "a.yaml", "path": "a", "value": 1,
                                                    "kind": "Deployment\n"}]), "values",
         "a kind with a trailing line break"),
    Case("git_release", release(image_automation="staging\n"), "image_automation", "a trailing line break"),
    Case("git_release", release(kustomization="apps\n"), "kustomization", "a trailing line break"),
    Case("git_release", release(namespace="test\n"), "namespace", "a trailing line break"),
    Case("git_release", release(images={"ghcr.io/app/x%d" % index: "1" for index in range(MANY)}), "images",
         "%d images" % MANY),
    Case("git_release", release(images={}, values=[{"file": "a.yaml", "path": "a", "value": index}
                                                   for index in range(MANY)]), "values", "%d values" % MANY),
]

# --- git_release: the app, the numbers, the engine's options ------------------------------
CASES += [
    Case("git_release", release(name="PodInfo"), "name", "capitals"),
    Case("git_release", release(name="p" * 254), "name", "over 253"),
    Case("git_release", release(name="podinfo-*"), "name", "a wildcard"),
    Case("git_release", release(name=""), "name", "empty"),
    Case("git_release", release(namespace="Test"), "namespace", "capitals"),
    Case("git_release", release(namespace="t" * 64), "namespace", "over 63"),
    Case("git_release", release(namespace="a.b"), "namespace", "a dot"),
    Case("git_release", release(wait_timeout=0), "wait_timeout", "zero"),
    Case("git_release", release(wait_timeout=-1), "wait_timeout", "negative"),
    Case("git_release", release(wait_timeout=10 ** 12), "wait_timeout", "huge"),
    Case("git_release", release(wait_timeout="soon"), "wait_timeout", "not a number"),
    Case("git_release", release(flux_timeout=0), "flux_timeout", "zero"),
    Case("git_release", release(flux_timeout=-30), "flux_timeout", "negative"),
    Case("git_release", release(flux_timeout=10 ** 9), "flux_timeout", "huge"),
    Case("git_release", release(approval_timeout=0), "approval_timeout", "zero"),
    Case("git_release", release(approval_timeout=10 ** 10), "approval_timeout", "huge"),
    Case("git_release", release(prometheus_url="http://admin:%s@prometheus:9090" % TOKEN), "prometheus_url",
         "credentials in the URL", secrets=(TOKEN,)),
    Case("git_release", release(prometheus_url="prometheus:9090"), "prometheus_url", "no scheme"),
    Case("git_release", release(loadtester_url="ftp://loadtester"), "loadtester_url", "not http"),
    Case("git_release", release(mesh_provider="gatewayapi"), "mesh_provider", "a provider Flagger does not know"),
    Case("git_release", release(mesh_provider=""), "mesh_provider", "empty"),
    Case("git_release", release(in_flight="queue"), "in_flight", "not a choice"),
    Case("git_release", release(approval="yes"), "approval", "not a choice"),
    Case("git_release", release(metric_window="skip"), "metric_window", "not a choice"),
    Case("git_release", release(revert_on_rollback="maybe"), "revert_on_rollback", "not a boolean"),
    Case("git_release", release(brnach="main"), "brnach", "an unknown option"),
    Case("git_release", release(env={"A": "1"}), "env", "an option git_release does not take"),
    Case("git_release", release(host="https://admin:%s@kube.example:6443" % TOKEN), "host",
         "credentials in the API server's URL", secrets=(TOKEN,)),
]

# --- canary_rollout ------------------------------------------------------------------------
CASES += [
    Case("canary_rollout", rollout(images={"podinfo": "Bad Ref::!!"}), "images", "not a reference"),
    Case("canary_rollout", rollout(images={"podinfo": "%s:%s" % (IMAGE, "v" * 302)}), "images", "a 302-character tag"),
    Case("canary_rollout", rollout(images={"podinfo": "%s:6.7.1 " % IMAGE}), "images", "a trailing space"),
    Case("canary_rollout", rollout(images={"podinfo": ""}), "images", "empty"),
    Case("canary_rollout", rollout(images={"podinfo": 5}), "images", "a number"),
    Case("canary_rollout", rollout(images={"Pod Info": "%s:1" % IMAGE}), "images", "a container name with a space"),
    Case("canary_rollout", rollout(images={"c" * 64: "%s:1" % IMAGE}), "images", "a container name over 63"),
    Case("canary_rollout", rollout(images={"podinfo": "https://ghcr.io/stefanprodan/podinfo:1"}), "images",
         "a URL for an image"),
    Case("canary_rollout", rollout(images={}, env={"A\nB": "x"}), "env", "a line break in a name"),
    Case("canary_rollout", rollout(images={}, env={"": "x"}), "env", "an empty name"),
    Case("canary_rollout", rollout(images={}, env={"A=B": "x"}), "env", "'=' in a name"),
    Case("canary_rollout", rollout(images={}, env={"DEBUG": True}), "env", "a boolean"),
    Case("canary_rollout", rollout(images={}, env={"X": None}), "env", "null"),
    Case("canary_rollout", rollout(images={}, env={"X": {"a": 1}}), "env", "a mapping"),
    Case("canary_rollout", rollout(env_container="Pod Info", env={"A": "1"}), "env_container", "not a name"),
    Case("canary_rollout", rollout(images={}, annotations={"bad key!": "x"}), "annotations", "a key with '!'"),
    Case("canary_rollout", rollout(images={}, annotations={"Example.COM/x": "x"}), "annotations",
         "a prefix with capitals"),
    Case("canary_rollout", rollout(images={}, annotations={"a" * 64: "x"}), "annotations", "a name over 63"),
    Case("canary_rollout", rollout(images={}, annotations={"x": 3}), "annotations", "a number"),
    Case("canary_rollout", rollout(name="Podinfo"), "name", "capitals"),
    Case("canary_rollout", rollout(name="*"), "name", "a wildcard"),
    Case("canary_rollout", rollout(name=None), "name", "missing"),
    Case("canary_rollout", rollout(namespace="Test"), "namespace", "capitals"),
    Case("canary_rollout", rollout(namespace="n" * 64), "namespace", "over 63"),
    Case("canary_rollout", rollout(name="podinfo", images={}, label_selector="app=podinfo"), "label_selector",
         "with a name"),
    Case("canary_rollout", rollout(name=None, images={}, label_selector="app=x\nfoo"), "label_selector",
         "a line break"),
    Case("canary_rollout", rollout(name=None, images={}, label_selector="  "), "label_selector", "blank"),
    Case("canary_rollout", rollout(wait_timeout=0), "wait_timeout", "zero"),
    Case("canary_rollout", rollout(wait_timeout=-5), "wait_timeout", "negative"),
    Case("canary_rollout", rollout(timeout=10 ** 15), "wait_timeout", "huge, through the alias"),
    Case("canary_rollout", rollout(approval_timeout=-1), "approval_timeout", "negative"),
    Case("canary_rollout", rollout(loadtester_url="http://user:%s@loadtester" % TOKEN), "loadtester_url",
         "credentials in the URL", secrets=(TOKEN,)),
    Case("canary_rollout", rollout(loadtester_url="flagger-loadtester.test:80"), "loadtester_url", "no scheme"),
    Case("canary_rollout", rollout(prometheus_url="http://prometheus:0"), "prometheus_url", "port zero"),
    Case("canary_rollout", rollout(mesh_provider="smi"), "mesh_provider", "a provider Flagger does not know"),
    Case("canary_rollout", rollout(in_flight="later"), "in_flight", "not a choice"),
    Case("canary_rollout", rollout(imagse={"podinfo": "x:1"}), "imagse", "an unknown option"),
    Case("canary_rollout", rollout(namespace="test\n"), "namespace", "a trailing line break"),
    Case("canary_rollout", rollout(name="podinfo\n"), "name", "a trailing line break"),
    Case("canary_rollout", rollout(images={"podinfo": "%s:6.7.1\n" % IMAGE}), "images", "a trailing line break"),
    Case("canary_rollout", rollout(images={"podinfo\n": "%s:6.7.1" % IMAGE}), "images",
         "a container name with a trailing line break"),
    Case("canary_rollout", rollout(images={}, annotations={"example.com/x\n": "1"}), "annotations",
         "a key with a trailing line break"),
    Case("canary_rollout", rollout(images={}, env={"A\n": "x"}), "env", "a name with a trailing line break"),
    Case("canary_rollout", rollout(env_container="podinfo\n", images={}, env={"A": "1"}), "env_container",
         "a trailing line break"),
    Case("canary_rollout", rollout(name=None, images={}, label_selector="app=*"), "label_selector",
         "a wildcard for a value"),
    Case("canary_rollout", rollout(name=None, images={}, label_selector="app in ("), "label_selector",
         "a set never closed"),
    Case("canary_rollout", rollout(name=None, images={}, label_selector="=podinfo"), "label_selector", "no key"),
    Case("canary_rollout", rollout(name=None, images={}, label_selector="app==a b"), "label_selector",
         "a space in a value"),
    Case("canary_rollout", rollout(name=None, images={}, label_selector="Team/App=x"), "label_selector",
         "a prefix with capitals"),
    Case("canary_rollout", rollout(name=None, images={}, label_selector="app=x,"), "label_selector",
         "a trailing comma"),
    Case("canary_rollout", rollout(name=None, images={}, label_selector="app=%sx" % RLO), "label_selector",
         "a right-to-left override"),
    Case("canary_rollout", rollout(images={"c%d" % index: "%s:1" % IMAGE for index in range(MANY)}), "images",
         "%d images" % MANY),
    Case("canary_rollout", rollout(images={}, env={"E%d" % index: "1" for index in range(MANY)}), "env",
         "%d variables" % MANY),
    Case("canary_rollout", rollout(images={}, annotations={"a%d" % index: "1" for index in range(MANY)}),
         "annotations", "%d annotations" % MANY),
]

# --- platform_repo -------------------------------------------------------------------------
CASES += [Case("platform_repo", tree(files={path: "x: 1\n"}), "files", why) for path, why in BAD_PATHS]
CASES += [Case("platform_repo", tree(seed_files={path: "x: 1\n"}), "seed_files", why)
          for path, why in BAD_PATHS[:6]]
CASES += [Case("platform_repo", tree(remove=[path]), "remove", why) for path, why in BAD_PATHS[:8]]
CASES += [
    Case("platform_repo", tree(files={"apps/x.yaml": 3}), "files", "not text"),
    Case("platform_repo", tree(files={"apps/x.yaml": None}), "files", "null"),
    Case("platform_repo", tree(files={"apps/x.yaml": "a"}, remove=["apps/x.yaml"]), "remove",
         "written and removed"),
    Case("platform_repo", tree(workdir=LINKED, files={"apps/x.yaml": "a: 1\n"}), "files",
         "a path through a symbolic link of the working copy"),
    Case("platform_repo", tree(workdir=LINKED, files={}, kustomizations={"apps/kustomization.yaml": {
        "resources": ["x"]}}), "kustomizations", "a kustomization through a symbolic link"),
    Case("platform_repo", tree(workdir=FOREIGN), "workdir", "another repository's working copy"),
    Case("platform_repo", tree(kustomizations={".git/kustomization.yaml": {"resources": ["x"]}}), "kustomizations",
         "inside .git"),
    Case("platform_repo", tree(kustomizations={"apps/staging/app.yaml": {"resources": ["x"]}}), "kustomizations",
         "not a kustomization file"),
    Case("platform_repo", tree(kustomizations={"apps/kustomization.yaml": {"resourcse": ["x"]}}), "kustomizations",
         "an unknown list"),
    Case("platform_repo", tree(kustomizations={"apps/kustomization.yaml": {"resources": "x"}}), "kustomizations",
         "not a list"),
    Case("platform_repo", tree(kustomizations={"apps/kustomization.yaml": {"resources": [""]}}), "kustomizations",
         "an empty resource"),
    Case("platform_repo", tree(kustomizations={"apps/kustomization.yaml": {"resources": [REMOTE_WITH_TOKEN]}}),
         "kustomizations", "credentials in a remote resource", secrets=(TOKEN,)),
    Case("platform_repo", tree(kustomizations={"apps/kustomization.yaml": {"images": [
        {"name": IMAGE, "newTag": "1.0 beta"}]}}), "kustomizations", "a tag with a space"),
    Case("platform_repo", tree(kustomizations={"apps/kustomization.yaml": {"images": [
        {"name": IMAGE, "newTag": 1.1}]}}), "kustomizations", "a tag that is a number"),
    Case("platform_repo", tree(kustomizations={"apps/kustomization.yaml": {"images": [
        {"name": "Bad Name", "newTag": "1"}]}}), "kustomizations", "an image name that is no repository"),
    Case("platform_repo", tree(kustomizations={"apps/kustomization.yaml": {"images": [
        {"name": IMAGE, "newTag": "1", "newtag": "2"}]}}), "kustomizations", "an unknown image field"),
    Case("platform_repo", tree(kustomizations={"apps/kustomization.yaml": {"images": [
        {"name": IMAGE, "digest": "sha256:zz"}]}}), "kustomizations", "a digest that is none"),
    Case("platform_repo", tree(kustomizations={"apps/kustomization.yaml": {"images": [POLICY_WITHOUT_NAMESPACE]}}),
         "kustomizations", "a policy without its namespace"),
    Case("platform_repo", tree(kustomizations={"apps/kustomization.yaml": {"patches": [{"paht": "x.yaml"}]}}),
         "kustomizations", "a patch naming nothing"),
    Case("platform_repo", tree(kustomizations_absent={"../kustomization.yaml": {"resources": ["x"]}}),
         "kustomizations_absent", "outside the repository"),
    Case("platform_repo", tree(commit_message=""), "commit_message", "empty"),
    Case("platform_repo", tree(commit_message="a\x00b"), "commit_message", "NUL"),
    Case("platform_repo", tree(repo_url="https://git:%s@git.example/platform.git" % TOKEN), "repo_url",
         "credentials in the URL", secrets=(TOKEN,)),
    Case("platform_repo", tree(repo_url="ftp://git.example/platform.git"), "repo_url", "not http"),
    Case("platform_repo", tree(branch="a b"), "branch", "a space"),
    Case("platform_repo", tree(branch="../main"), "branch", "'..'"),
    Case("platform_repo", tree(author_email="a\nb"), "author_email", "a line break"),
    Case("platform_repo", tree(git_username="a:b"), "git_username", "a colon"),
    Case("platform_repo", tree(workdir="/"), "workdir", "the root"),
    Case("platform_repo", tree(files="apps/x.yaml"), "files", "not a mapping"),
    Case("platform_repo", tree(fiels={}), "fiels", "an unknown option"),
    Case("platform_repo", tree(kustomizations={"apps/kustomization.yaml": {"resources": ["/etc/passwd"]}}),
         "kustomizations", "an absolute resource"),
    Case("platform_repo", tree(kustomizations={"apps/kustomization.yaml": {"resources": ["../../../../etc/passwd"]}}),
         "kustomizations", "a resource climbing above the top"),
    Case("platform_repo", tree(kustomizations={"apps/kustomization.yaml": {"resources": ["../.git/config"]}}),
         "kustomizations", "a resource in .git"),
    Case("platform_repo", tree(kustomizations={"kustomization.yaml": {"resources": ["apps/.GIT/hooks"]}}),
         "kustomizations", "a resource in .git, in capitals"),
    Case("platform_repo", tree(kustomizations={"kustomization.yaml": {"resources": ["../platform/apps"]}}),
         "kustomizations", "a resource beside the repository"),
    Case("platform_repo", tree(kustomizations={"apps/staging/kustomization.yaml": {"components": [
        "../../../shared"]}}), "kustomizations", "a component climbing above the top"),
    Case("platform_repo", tree(kustomizations={"apps/kustomization.yaml": {"resources": ["~/manifests"]}}),
         "kustomizations", "a resource in the home directory"),
    Case("platform_repo", tree(kustomizations={"apps/kustomization.yaml": {"patches": [{"path": "/etc/shadow"}]}}),
         "kustomizations", "an absolute patch"),
    Case("platform_repo", tree(kustomizations={"apps/kustomization.yaml": {"patches": [
        {"path": "../../secrets.yaml"}]}}), "kustomizations", "a patch climbing above the top"),
    Case("platform_repo", tree(kustomizations={"apps/kustomization.yaml": {"images": [
        {"name": IMAGE, "newTag": "1\n"}]}}), "kustomizations", "a tag with a trailing line break"),
    Case("platform_repo", tree(kustomizations={"apps/kustomization.yaml": {"images": [POLICY_WITH_LINE_BREAK]}}),
         "kustomizations", "a policy with a trailing line break"),
    Case("platform_repo", tree(kustomizations={"apps/kustomization.yaml": {"images": [DIGEST_WITH_LINE_BREAK]}}),
         "kustomizations", "a digest with a trailing line break"),
    Case("platform_repo", tree(files={"apps/x%d.yaml" % index: "a: 1\n" for index in range(MANY)}), "files",
         "%d files" % MANY),
    Case("platform_repo", tree(seed_files={"apps/x%d.yaml" % index: "a: 1\n" for index in range(MANY)}),
         "seed_files", "%d seed files" % MANY),
    Case("platform_repo", tree(remove=["apps/x%d" % index for index in range(MANY)]), "remove", "%d paths" % MANY),
    Case("platform_repo", tree(kustomizations={"apps/k%d/kustomization.yaml" % index: {"resources": ["x"]}
                                               for index in range(MANY)}), "kustomizations",
         "%d kustomizations" % MANY),
    Case("platform_repo", tree(kustomizations={"apps/kustomization.yaml": {"resources": [
        "r%d" % index for index in range(MANY)]}}), "kustomizations", "%d resources" % MANY),
    Case("platform_repo", tree(kustomizations_absent={"apps/k%d/kustomization.yaml" % index: {"resources": ["x"]}
                                                      for index in range(MANY)}), "kustomizations_absent",
         "%d kustomizations" % MANY),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_refused_up_front(case):
    check(case)


# --- valid inputs still get past the checks ------------------------------------------------

@pytest.mark.parametrize("target,args", [
    ("git_release", release()),
    ("git_release", release(images={IMAGE: "%s:6.7.1@sha256:%s" % (IMAGE, "a" * 64)})),
    ("git_release", release(images={}, values=[{"file": "apps/staging/podinfo-env.yaml", "value": "5",
                                                "path": "spec.template.spec.containers[name=podinfo].env"
                                                        "[name=ERROR_FRACTION].value", "kind": "Deployment"}])),
    ("git_release", release(repo_url="file:///srv/git/platform.git", branch="release/2026.12", wait_timeout=604800)),
    ("git_release", release(image_automation="staging", kustomization="apps-staging", requested_by="Jane Doe")),
    ("canary_rollout", rollout()),
    ("canary_rollout", rollout(images={}, env={"ERROR_FRACTION": "5", "LOG.LEVEL": 3, "1ST": "a"},
                               annotations={"example.com/release": "42"}, env_container="podinfo")),
    ("canary_rollout", rollout(name=None, images={}, label_selector="app in (web, api)", namespace=None)),
    ("canary_rollout", rollout(mesh_provider="gatewayapi:v1beta1", loadtester_url="http://flagger-loadtester.test/",
                               prometheus_url="http://127.0.0.1:9090")),
    ("platform_repo", tree()),
    ("platform_repo", tree(files={}, seed_files={"apps/staging/podinfo-env.yaml": "x: 1\n"},
                           remove=["apps/old"], kustomizations={"apps/staging/kustomization.yaml": {
                               "resources": ["../base/podinfo"], "patches": [{"path": "podinfo-env.yaml"}],
                               "images": [{"name": IMAGE, "newTag": "6.7.0",
                                           "$imagepolicy": "flux-system:podinfo"}]}})),
    ("platform_repo", tree(workdir=LINKED, files={"clusters/staging/apps.yaml": "x: 1\n"})),
    ("platform_repo", tree(workdir=tempfile.mkdtemp(prefix="battery-git-empty-"))),
    ("platform_repo", tree(workdir=os.path.join(NOT_A_WORKING_COPY, "checkout"), commit_message="Update\n\n\tJosé")),
    ("platform_repo", tree(author_name="José Müller", author_email="jose@example.com", files={},
                           kustomizations={"apps/staging/kustomization.yaml": {
                               "resources": ["../../infrastructure/base", "../base/podinfo",
                                             "https://github.com/org/repo//deploy?ref=v1.0",
                                             "github.com/org/repo/deploy?ref=v1.0"],
                               "components": ["../../components/mesh"],
                               "patches": [{"path": "../../patches/replicas.yaml"}]}},
                           kustomizations_absent={"apps/kustomization.yaml": {"resources": ["../../../old"]}})),
    ("platform_repo", tree(files={"apps/x%d.yaml" % index: "a: 1\n" for index in range(1000)})),
    ("git_release", release(requested_by="José Müller (AWX job 42)", author_name="Jane Doe")),
    ("git_release", release(workdir=os.path.join(NOT_A_WORKING_COPY, "checkout"))),
    ("canary_rollout", rollout(name=None, images={}, label_selector="app in (web, api),!legacy,tier!=db",
                               namespace=None)),
    ("canary_rollout", rollout(name=None, images={}, label_selector="example.com/team=checkout")),
])
def test_valid_options_get_past_the_checks(target, args):
    outcome = run(Case(target, args, ""))
    assert outcome.failed and outcome.reached and not outcome.raw, (outcome.msg, outcome.reached)
