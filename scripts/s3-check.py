#!/usr/bin/env python3
"""Minimal S3 client (stdlib only, AWS Signature V4) used by scripts/s3-server.sh.

    s3-check.py ready  ENDPOINT BUCKET ACCESS_KEY SECRET_KEY
        exit 0 when a signed HEAD of the bucket answers 200, 1 otherwise
    s3-check.py smoke  ENDPOINT BUCKET ACCESS_KEY SECRET_KEY
        PUT, LIST, GET and DELETE one object; exit 0 when all of them behave
    s3-check.py ls     ENDPOINT BUCKET ACCESS_KEY SECRET_KEY [PREFIX]
        print the keys (and sizes) below PREFIX

Path-style requests, region us-east-1, unsigned payload hash (UNSIGNED-PAYLOAD is accepted
by SeaweedFS and AWS for plain HTTP requests as well).
"""

import datetime
import hashlib
import hmac
import sys
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

REGION = "us-east-1"


def _sign(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def request(endpoint, access, secret, method, path, query=None, body=b""):
    """One signed request; returns (status, body bytes). Never raises for HTTP errors."""
    u = urllib.parse.urlsplit(endpoint)
    host = u.netloc
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = now.strftime("%Y%m%d")
    payload_hash = hashlib.sha256(body).hexdigest()
    query = query or {}
    canon_query = "&".join(
        f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
        for k, v in sorted(query.items())
    )
    canon_path = urllib.parse.quote(path, safe="/-_.~")
    headers = {"host": host, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date}
    signed = ";".join(sorted(headers))
    canon_headers = "".join(f"{k}:{headers[k]}\n" for k in sorted(headers))
    creq = "\n".join([method, canon_path, canon_query, canon_headers, signed, payload_hash])
    scope = f"{day}/{REGION}/s3/aws4_request"
    sts = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()]
    )
    k = _sign(("AWS4" + secret).encode(), day)
    k = _sign(k, REGION)
    k = _sign(k, "s3")
    k = _sign(k, "aws4_request")
    sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    auth = f"AWS4-HMAC-SHA256 Credential={access}/{scope}, SignedHeaders={signed}, Signature={sig}"
    url = f"{u.scheme}://{host}{canon_path}" + (f"?{canon_query}" if canon_query else "")
    req = urllib.request.Request(url, data=body if method == "PUT" else None, method=method)
    req.add_header("x-amz-date", amz_date)
    req.add_header("x-amz-content-sha256", payload_hash)
    req.add_header("Authorization", auth)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def list_keys(endpoint, bucket, access, secret, prefix=""):
    keys = []
    token = None
    while True:
        q = {"list-type": "2", "prefix": prefix}
        if token:
            q["continuation-token"] = token
        st, body = request(endpoint, access, secret, "GET", f"/{bucket}", q)
        if st != 200:
            raise RuntimeError(f"list {bucket}/{prefix}: HTTP {st}: {body[:300]!r}")
        root = ET.fromstring(body)
        ns = root.tag.split("}")[0] + "}" if root.tag.startswith("{") else ""
        for c in root.findall(f"{ns}Contents"):
            keys.append((c.findtext(f"{ns}Key"), int(c.findtext(f"{ns}Size") or 0)))
        if (root.findtext(f"{ns}IsTruncated") or "false") == "true":
            token = root.findtext(f"{ns}NextContinuationToken")
        else:
            return keys


def main(argv):
    if len(argv) < 6:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, endpoint, bucket, access, secret = argv[1:6]
    try:
        if cmd == "ready":
            st, _ = request(endpoint, access, secret, "HEAD", f"/{bucket}")
            return 0 if st == 200 else 1
        if cmd == "ls":
            prefix = argv[6] if len(argv) > 6 else ""
            for k, size in list_keys(endpoint, bucket, access, secret, prefix):
                print(f"{size}\t{k}")
            return 0
        if cmd == "get":
            st, body = request(endpoint, access, secret, "GET", f"/{bucket}/{argv[6]}")
            if st != 200:
                print(f"GET failed: HTTP {st}", file=sys.stderr)
                return 1
            sys.stdout.buffer.write(body)
            return 0
        if cmd == "smoke":
            key = "smoke/hello.txt"
            data = b"hello from scripts/s3-check.py\n" * 1000
            st, body = request(endpoint, access, secret, "PUT", f"/{bucket}/{key}", body=data)
            if st != 200:
                print(f"PUT failed: HTTP {st}: {body[:300]!r}", file=sys.stderr)
                return 1
            if (key, len(data)) not in list_keys(endpoint, bucket, access, secret, "smoke/"):
                print("LIST does not show the object", file=sys.stderr)
                return 1
            st, body = request(endpoint, access, secret, "GET", f"/{bucket}/{key}")
            if st != 200 or body != data:
                print(f"GET failed: HTTP {st}, {len(body)} bytes", file=sys.stderr)
                return 1
            st, body = request(endpoint, access, secret, "DELETE", f"/{bucket}/{key}")
            if st not in (200, 204):
                print(f"DELETE failed: HTTP {st}: {body[:300]!r}", file=sys.stderr)
                return 1
            st, _ = request(endpoint, "wrong-key", "wrong-secret", "GET", f"/{bucket}/{key}")
            if st != 403:
                print(f"a request with a wrong key answered HTTP {st}, not 403", file=sys.stderr)
                return 1
            print("s3 smoke test ok: PUT/LIST/GET/DELETE, wrong key rejected")
            return 0
    except (OSError, RuntimeError, ET.ParseError) as e:
        if cmd != "ready":
            print(f"{cmd}: {e}", file=sys.stderr)
        return 1
    print(f"unknown command {cmd!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
