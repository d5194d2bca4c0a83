"""Signs requests with botocore's SigV4Auth for the sigv4 package tests.

Reads a JSON list of requests on stdin and writes the signed URL and headers
of each as a JSON list on stdout. Exits 3 when botocore cannot be imported,
which the Go test reports as a skip.
"""
import json
import sys

try:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
except ImportError as err:
    print(f"botocore not importable: {err}", file=sys.stderr)
    sys.exit(3)

out = []
for spec in json.load(sys.stdin):
    req = AWSRequest(
        method=spec["method"],
        url=spec["url"],
        params=[tuple(p) for p in spec.get("params") or []],
        data=spec["body"].encode(),
        headers=spec.get("headers") or {},
    )
    creds = Credentials(spec["key"], spec["secret"], spec.get("token"))
    SigV4Auth(creds, spec["service"], spec["region"]).add_auth(req)
    prepared = req.prepare()
    out.append({"url": prepared.url, "headers": dict(prepared.headers.items())})
json.dump(out, sys.stdout)
