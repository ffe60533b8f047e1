#!/usr/bin/env python3
"""Minimal clients (stdlib only) of the cloud emulators the remote tests use, for
scripts/gcs-server.sh, scripts/azure-server.sh and the tests' listings.

    emulator-check.py gcs-ready ENDPOINT BUCKET     create BUCKET if missing; exit 0 when it exists
    emulator-check.py gcs-ls    ENDPOINT BUCKET [PREFIX]
    emulator-check.py az-ready  ENDPOINT CONTAINER  (Azurite's well-known account and key)
    emulator-check.py az-ls     ENDPOINT CONTAINER [PREFIX]

`ls` prints `<size>\\t<key>` for every object below PREFIX. GCS: fake-gcs-server's JSON API,
no authentication. Azure: Shared Key signed requests to Azurite (path-style
`http://host:port/devstoreaccount1`).
"""

import base64
import datetime
import hashlib
import hmac
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

AZ_ACCOUNT = "devstoreaccount1"
AZ_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
TIMEOUT = 5


def _open(req):
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def gcs_ready(endpoint, bucket):
    status, _ = _open(urllib.request.Request(f"{endpoint}/storage/v1/b/{bucket}"))
    if status == 200:
        return True
    body = json.dumps({"name": bucket}).encode()
    req = urllib.request.Request(
        f"{endpoint}/storage/v1/b", data=body, method="POST",
        headers={"Content-Type": "application/json"})
    status, _ = _open(req)
    return status in (200, 409)


def gcs_ls(endpoint, bucket, prefix):
    token = None
    while True:
        q = {"prefix": prefix}
        if token:
            q["pageToken"] = token
        url = f"{endpoint}/storage/v1/b/{bucket}/o?" + urllib.parse.urlencode(q)
        status, body = _open(urllib.request.Request(url))
        if status != 200:
            return False
        doc = json.loads(body)
        for item in doc.get("items", []):
            print(f"{item['size']}\t{item['name']}")
        token = doc.get("nextPageToken")
        if not token:
            return True


def _az_request(endpoint, method, path, query):
    """A Shared Key signed request; `path` below the account (`/container`)."""
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT")
    headers = {"x-ms-date": date, "x-ms-version": "2021-08-06"}
    url_path = urllib.parse.urlparse(endpoint).path.rstrip("/") + path
    canon_headers = "".join(f"{k}:{v}\n" for k, v in sorted(headers.items()))
    canon_resource = f"/{AZ_ACCOUNT}{url_path}" + "".join(
        f"\n{k.lower()}:{v}" for k, v in sorted(query.items()))
    # Content-Length is signed as empty when it is 0 (versions since 2015-02-21).
    to_sign = f"{method}\n\n\n\n\n\n\n\n\n\n\n\n{canon_headers}{canon_resource}"
    sig = base64.b64encode(hmac.new(base64.b64decode(AZ_KEY), to_sign.encode(),
                                    hashlib.sha256).digest()).decode()
    headers["Authorization"] = f"SharedKey {AZ_ACCOUNT}:{sig}"
    if method == "PUT":
        headers["Content-Length"] = "0"
    url = endpoint.rstrip("/") + path + ("?" + urllib.parse.urlencode(query) if query else "")
    # No body: urllib would add a Content-Type, which the signature does not cover.
    req = urllib.request.Request(url, method=method, headers=headers)
    return _open(req)


def az_ready(endpoint, container):
    status, _ = _az_request(endpoint, "PUT", f"/{container}", {"restype": "container"})
    return status in (201, 409)


def az_ls(endpoint, container, prefix):
    marker = ""
    while True:
        q = {"comp": "list", "prefix": prefix, "restype": "container"}
        if marker:
            q["marker"] = marker
        status, body = _az_request(endpoint, "GET", f"/{container}", q)
        if status != 200:
            return False
        root = ET.fromstring(body)
        for blob in root.iter("Blob"):
            name = blob.findtext("Name")
            size = blob.findtext("Properties/Content-Length")
            print(f"{size}\t{name}")
        marker = root.findtext("NextMarker") or ""
        if not marker:
            return True


def main(argv):
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, endpoint, holder = argv[1], argv[2], argv[3]
    prefix = argv[4] if len(argv) > 4 else ""
    try:
        ok = {
            "gcs-ready": lambda: gcs_ready(endpoint, holder),
            "gcs-ls": lambda: gcs_ls(endpoint, holder, prefix),
            "az-ready": lambda: az_ready(endpoint, holder),
            "az-ls": lambda: az_ls(endpoint, holder, prefix),
        }[cmd]()
    except KeyError:
        print(__doc__, file=sys.stderr)
        return 2
    except (OSError, ValueError, ET.ParseError):
        return 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
