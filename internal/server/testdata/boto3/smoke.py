"""boto3 against fhirlake: the calls a Python user makes, with botocore's own parsing.

Usage: smoke.py ENDPOINT S3DIR. Prints one line per check and exits non-zero on the first failure.
"""
import json
import os
import sys
import time

import boto3
import botocore

endpoint, s3dir = sys.argv[1], sys.argv[2]
hl = boto3.client("healthlake", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test")

ds = hl.create_fhir_datastore(DatastoreName="boto3", DatastoreTypeVersion="R4")
dsid = ds["DatastoreId"]
assert ds["DatastoreStatus"] == "CREATING", ds
hl.get_waiter("fhir_datastore_active").wait(DatastoreId=dsid, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
props = hl.describe_fhir_datastore(DatastoreId=dsid)["DatastoreProperties"]
assert props["DatastoreStatus"] == "ACTIVE" and hasattr(props["CreatedAt"], "year"), props
print("datastore ok")

os.makedirs(os.path.join(s3dir, "py-in", "p"), exist_ok=True)
os.makedirs(os.path.join(s3dir, "py-out"), exist_ok=True)
with open(os.path.join(s3dir, "py-in", "p", "Patient.ndjson"), "w") as f:
    f.write(json.dumps({"resourceType": "Patient", "id": "py1", "gender": "other"}) + "\n")
    f.write("{not json\n")
job = hl.start_fhir_import_job(
    DatastoreId=dsid, InputDataConfig={"S3Uri": "s3://py-in/p/"},
    JobOutputDataConfig={"S3Configuration": {"S3Uri": "s3://py-out/", "KmsKeyId": "alias/x"}},
    DataAccessRoleArn="arn:aws:iam::000000000000:role/r", ValidationLevel="structure-only")
hl.get_waiter("fhir_import_job_completed").wait(DatastoreId=dsid, JobId=job["JobId"], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
p = hl.describe_fhir_import_job(DatastoreId=dsid, JobId=job["JobId"])["ImportJobProperties"]
assert p["JobStatus"] == "COMPLETED_WITH_ERRORS", p
r = p["JobProgressReport"]
assert r["TotalNumberOfResourcesImported"] == 1 and r["TotalNumberOfResourcesWithCustomerError"] == 1, r
assert p["ValidationLevel"] == "structure-only" and hasattr(p["SubmitTime"], "year"), p
print("import ok")

# Seconds-precision timestamps, as boto3 sends them, and a loop on NextToken that must end.
jobs, token, pages = [], None, 0
while True:
    kw = {"DatastoreId": dsid, "MaxResults": 1, "SubmittedAfter": int(time.time()) - 3600}
    if token:
        kw["NextToken"] = token
    out = hl.list_fhir_import_jobs(**kw)
    jobs += out["ImportJobPropertiesList"]
    pages += 1
    if "NextToken" not in out:
        break
    token = out["NextToken"]
assert len(jobs) == 1 and pages == 1, (jobs, pages)
print("list ok")

for call, kwargs, code in [
    (hl.describe_fhir_datastore, {"DatastoreId": "0" * 32}, "ResourceNotFoundException"),
    (hl.list_fhir_import_jobs, {"DatastoreId": dsid, "JobStatus": "NOPE"}, "ValidationException"),
]:
    try:
        call(**kwargs)
        raise AssertionError("no error")
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == code, e.response
assert isinstance(hl.exceptions.ResourceNotFoundException, type)
print("errors ok")
