"""Make the docs site that `antsibull-docs sphinx-init` laid out buildable here, offline:
references into Ansible's own docs (common return values, action plugins, the configuration
settings, community.okd's k8s_auth that kubernetes.core's auth options name) resolve through a
small inventory of their docs.ansible.com addresses, written here, instead of one fetched from
docs.ansible.com (not reachable); every other reference must resolve in the site itself, and
sphinx-build treats any warning as an error (build.sh's -W).

    python hack/docs_site.py SITE_DIR            (before the build)
    python hack/docs_site.py --check SITE_DIR    (after it: a page per module and role and per guide page, none malformed)
"""

import os
import re
import sys
import zlib

ANSIBLE_DOCS = "https://docs.ansible.com/projects/ansible/devel/"
# label -> (page and anchor under ANSIBLE_DOCS, title)
LABELS = {
    "common_return_values": ("reference_appendices/common_return_values.html#common-return-values",
                             "Return Values"),
    "action_plugins": ("plugins/action.html#action-plugins", "Action plugins"),
    "ansible_configuration_settings": ("reference_appendices/config.html#ansible-configuration-settings",
                                       "Ansible Configuration Settings"),
    "ansible_collections.community.okd.k8s_auth_module": (
        "collections/community/okd/k8s_auth_module.html#ansible-collections-community-okd-k8s-auth-module",
        "community.okd.k8s_auth module"),
}


def inventory():
    """A Sphinx objects.inv (version 2) holding LABELS as std:label entries."""
    header = "# Sphinx inventory version 2\n# Project: Ansible\n# Version: devel\n" \
             "# The remainder of this file is compressed using zlib.\n"
    body = "".join("%s std:label -1 %s %s\n" % (label, target, title) for label, (target, title) in sorted(LABELS.items()))
    return header.encode() + zlib.compress(body.encode())


def main(site):
    path = os.path.join(site, "ansible_devel.inv")
    with open(path, "wb") as handle:
        handle.write(inventory())
    conf = os.path.join(site, "conf.py")
    with open(conf) as handle:
        text = handle.read()
    mapping = "intersphinx_mapping = {\n    'ansible_devel': (%r, %r),\n}\n" % (ANSIBLE_DOCS, path)
    text, count = re.subn(r"intersphinx_mapping = \{.*?\n\}\n", lambda match: mapping, text, flags=re.S)
    if count != 1:
        raise SystemExit("%s: no intersphinx_mapping to replace" % conf)
    with open(conf, "w") as handle:
        handle.write(text)


def check(site, root=os.path.dirname(os.path.dirname(os.path.abspath(__file__)))):
    """Every module and role has its page, and none is antsibull-docs' page for malformed docs."""
    pages = os.path.join(site, "build", "html", "collections", "gitops", "progressive")
    wanted = ["%s_module.html" % name[:-3] for name in os.listdir(os.path.join(root, "plugins", "modules"))
              if name.endswith(".py")]
    wanted += ["%s_role.html" % name for name in os.listdir(os.path.join(root, "roles"))
               if os.path.isdir(os.path.join(root, "roles", name, "meta"))]
    with open(os.path.join(root, "docs", "docsite", "extra-docs.yml"), encoding="utf-8") as handle:
        guide = re.findall(r"^\s+- ([a-z0-9_-]+)\s*$", handle.read(), re.MULTILINE)
    wanted += [os.path.join("docsite", "%s.html" % name) for name in guide]
    missing = [page for page in wanted if not os.path.isfile(os.path.join(pages, page))]
    malformed = [page for page in wanted if page not in missing
                 and "was malformed" in open(os.path.join(pages, page), encoding="utf-8").read()]
    if missing or malformed:
        raise SystemExit("docs site: missing pages %s, malformed %s" % (missing, malformed))
    print("docs site: %d module and role pages, %d guide pages" % (len(wanted) - len(guide), len(guide)))


if __name__ == "__main__":
    if sys.argv[1] == "--check":
        check(sys.argv[2])
    else:
        main(sys.argv[1])
