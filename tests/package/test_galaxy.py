"""The collection as Galaxy and Automation Hub receive it: built from a checkout that a run
has left things in (caches, Ansible's home, bytecode), the tarball holds only the collection,
and galaxy-importer (what Galaxy runs on upload) imports it with no error.

Run by ``hack/run.sh package`` (part of ``make test``), inside the project's environment.
"""

import json
import os
import re
import shutil
import subprocess
import tarfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# What a build may ship at its top level: the collection, its docs, its tests and scenarios,
# the example inventories and what an execution environment reads (meta/execution-environment.yml).
SHIPPED = {"FILES.json", "MANIFEST.json", "README.md", "LICENSE", "LICENSES", "changelogs", "docs", "extensions",
           "inventories", "meta", "playbooks", "plugins", "requirements", "roles", "tests"}
# Left in a used checkout: none of it may reach the tarball.
LEFTOVERS = [".pytest_cache/v/cache/lastfailed", ".ansible/collections/x", "plugins/modules/__pycache__/canary.cpython-311.pyc",
             "roles/apps/.ansible/tmp", "tests/output/junit.xml", "gitops-progressive-0.0.1.tar.gz", ".build/x", ".venv/x"]


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    """A build of the tracked tree plus the leftovers of a used checkout."""
    checkout = tmp_path_factory.mktemp("checkout")
    tracked = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                             check=True).stdout.decode().split("\0")
    for name in filter(None, tracked):
        source = os.path.join(ROOT, name)
        if os.path.isfile(source):
            os.makedirs(os.path.dirname(str(checkout / name)), exist_ok=True)
            shutil.copy2(source, str(checkout / name))
    for name in LEFTOVERS:
        path = checkout / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("left by a run\n")
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(["ansible-galaxy", "collection", "build", "--output-path", str(out), str(checkout)], check=True,
                   capture_output=True)
    built = [name for name in os.listdir(str(out)) if name.endswith(".tar.gz")]
    assert len(built) == 1, built
    return str(out / built[0])


def members(path):
    with tarfile.open(path) as archive:
        return archive.getnames()


def test_the_tarball_ships_only_the_collection(tarball):
    names = members(tarball)
    assert {name.split("/")[0] for name in names} <= SHIPPED, sorted({name.split("/")[0] for name in names} - SHIPPED)
    left = [name for name in names for leftover in LEFTOVERS if name == leftover or "__pycache__" in name
            or name.endswith(".pyc") or "/.ansible/" in name + "/"]
    assert not left, left
    for required in ("LICENSE", "LICENSES/GPL-3.0-or-later.txt", "README.md", "meta/runtime.yml"):
        assert required in names, required


def test_the_license_is_the_gpl_3_text_the_headers_cite(tarball):
    with tarfile.open(tarball) as archive:
        for name in ("LICENSE", "LICENSES/GPL-3.0-or-later.txt"):
            text = archive.extractfile(name).read().decode()
            assert text.lstrip().startswith("GNU GENERAL PUBLIC LICENSE") and "Version 3, 29 June 2007" in text, name
            assert "END OF TERMS AND CONDITIONS" in text, name


def test_every_role_has_a_readme(tarball):
    names = members(tarball)
    roles = {name.split("/")[1] for name in names if name.startswith("roles/") and name.count("/") >= 2}
    assert roles and all("roles/%s/README.md" % role in names for role in roles), sorted(roles)


def test_galaxy_importer_imports_it(tarball, tmp_path):
    config = tmp_path / "galaxy-importer.cfg"
    # What Galaxy runs, less ansible-test (in a container image from a registry not reachable here;
    # `make sanity` runs it on the same tree). ansible-lint runs offline.
    config.write_text("[galaxy-importer]\nRUN_ANSIBLE_TEST = False\nRUN_ANSIBLE_LINT = True\n"
                      "OFFLINE_ANSIBLE_LINT = True\nCHECK_CHANGELOG = True\n")
    env = dict(os.environ, GALAXY_IMPORTER_CONFIG=str(config), HOME=str(tmp_path))
    done = subprocess.run(["python", "-m", "galaxy_importer.main", "--print-result", tarball], capture_output=True,
                          text=True, env=env, cwd=str(tmp_path), check=False, timeout=900)
    output = done.stdout + done.stderr
    errors = [line for line in output.splitlines() if line.startswith("ERROR")]
    assert done.returncode == 0 and not errors, errors or output[-4000:]
    result = json.loads(done.stdout[done.stdout.index("{"):])
    kinds = {entry["content_type"] for entry in result["contents"]}
    assert kinds >= {"role", "module", "action", "doc_fragments", "module_utils", "playbook"}, kinds
    warnings = [line for line in output.splitlines() if line.startswith("WARNING")]
    assert not warnings, warnings


def test_the_docs_lint_clean(tmp_path):
    """antsibull-docs on the collection's plugin and role docs (what the docs site is built from):
    no error (a role spec's default is a real value or left out, never prose)."""
    env = dict(os.environ, HOME=str(tmp_path))
    done = subprocess.run(["antsibull-docs", "lint-collection-docs", "--plugin-docs", "."], capture_output=True,
                          text=True, env=env, cwd=ROOT, check=False, timeout=900)
    assert done.returncode == 0 and not done.stdout.strip(), (done.stdout + done.stderr)[-4000:]


def test_the_changelog_fragments_lint_clean():
    done = subprocess.run(["antsibull-changelog", "lint"], capture_output=True, text=True, cwd=ROOT, check=False,
                          timeout=300)
    assert done.returncode == 0 and not done.stdout.strip(), (done.stdout + done.stderr)[-4000:]


def test_the_declared_dependency_ranges_start_at_the_versions_the_tests_run_with():
    """What galaxy.yml promises is what is tested: each range's lower bound is the version in this
    environment (the ``ansible`` package's), and that version is inside the range."""
    import yaml
    from ansible.module_utils.compat.version import LooseVersion

    with open(os.path.join(ROOT, "galaxy.yml")) as handle:
        dependencies = yaml.safe_load(handle)["dependencies"]
    import ansible_collections

    for name, spec in dependencies.items():
        namespace, collection = name.split(".")
        manifest = None
        for base in ansible_collections.__path__:
            candidate = os.path.join(base, namespace, collection, "MANIFEST.json")
            if os.path.isfile(candidate):
                manifest = candidate
                break
        assert manifest, "%s is not installed in the test environment" % name
        with open(manifest) as handle:
            tested = json.load(handle)["collection_info"]["version"]
        bounds = dict(re.match(r"^\s*(>=|<=|<|>|==|!=)\s*(\S+)\s*$", part).groups() for part in spec.split(","))
        assert bounds.get(">=") == tested, "%s: the range %s does not start at the tested %s" % (name, spec, tested)
        assert "<" in bounds and LooseVersion(tested) < LooseVersion(bounds["<"]), (name, spec, tested)
