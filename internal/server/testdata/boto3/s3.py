"""boto3's S3 client against fhirlake's S3 API: buckets, objects, ranged reads, listings,
a managed multipart upload (upload_fileobj above its 8 MB threshold) and cross-account refusal.

Usage: s3.py ENDPOINT OTHER_KEY OTHER_SECRET. Prints one line per check, exits non-zero on failure.
"""
import hashlib
import io
import os
import sys

import boto3
import botocore

endpoint, other_key, other_secret = sys.argv[1:4]


def client(key, secret, **cfg):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        config=botocore.config.Config(**cfg))


s3 = client("test", "test", s3={"addressing_style": "path"})
s3.create_bucket(Bucket="boto-bkt")
assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["boto-bkt"]
s3.put_object(Bucket="boto-bkt", Key="a/one.ndjson", Body=b'{"resourceType":"Patient"}\n')
s3.put_object(Bucket="boto-bkt", Key="a/two words.ndjson", Body=b"0123456789")
assert s3.get_object(Bucket="boto-bkt", Key="a/two words.ndjson", Range="bytes=2-4")["Body"].read() == b"234"
print("objects ok")

data = os.urandom(9 * 1024 * 1024 + 123)
s3.upload_fileobj(io.BytesIO(data), "boto-bkt", "big/blob.bin")
got = s3.get_object(Bucket="boto-bkt", Key="big/blob.bin")["Body"].read()
assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest(), len(got)
print("multipart ok")

page = s3.list_objects_v2(Bucket="boto-bkt", Delimiter="/")
assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["a/", "big/"], page
keys = []
for page in s3.get_paginator("list_objects_v2").paginate(Bucket="boto-bkt", PaginationConfig={"PageSize": 1}):
    keys += [o["Key"] for o in page.get("Contents", [])]
assert keys == ["a/one.ndjson", "a/two words.ndjson", "big/blob.bin"], keys
v1 = s3.list_objects(Bucket="boto-bkt", Prefix="a/")
assert [o["Key"] for o in v1["Contents"]] == ["a/one.ndjson", "a/two words.ndjson"], v1
print("listing ok")

other = client(other_key, other_secret)
try:
    other.get_object(Bucket="boto-bkt", Key="a/one.ndjson")
    raise SystemExit("another account read the object")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "AccessDenied", e.response
print("cross-account refused")

vh = client("test", "test", s3={"addressing_style": "path"})
vh.delete_objects(Bucket="boto-bkt", Delete={"Objects": [{"Key": k} for k in keys]})
vh.delete_bucket(Bucket="boto-bkt")
assert vh.list_buckets()["Buckets"] == []
print("cleanup ok")
