# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The simulated platform's git server (see module_utils/git/server.py), run by the flux role."""

import argparse

from ansible_collections.gitops.progressive.plugins.module_utils.git.server import serve


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", required=True, help="directory holding the bare repositories")
    parser.add_argument("--listen", default="127.0.0.1:18300", help="loopback host:port")
    parser.add_argument("--credentials-file", required=True, help="0600 file with one user:password line")
    parser.add_argument("--hooks-file",
                        help="0600 file with the webhooks to call after each push, one '<url> [<secret>]' line each; "
                             "a hook with a secret gets GitHub's HMAC signature (X-Hub-Signature-256)")
    args = parser.parse_args()
    server = serve(args.root, args.listen, args.credentials_file, args.hooks_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
