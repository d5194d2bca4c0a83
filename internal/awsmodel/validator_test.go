package awsmodel

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Values that satisfy their patterns, reused across cases.
const (
	storeID   = "6407b9ae4c2def3cb6f1a46a0c599ec0"
	jobID     = "c0fddbf76f238297632d4aebdbfc9ddf"
	token     = "3a1f3c6e-8d2b-4c55-9f0e-2b7d1c9e4a10"
	roleARN   = "arn:aws:iam::123456789012:role/HealthLakeAccess"
	kmsKey    = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	lambdaARN = "arn:aws:lambda:us-east-1:123456789012:function:smart-idp"
	storeARN  = "arn:aws:healthlake:us-east-1:123456789012:datastore/fhir/" + storeID
)

// body builds a JSON body; it only names what the Sprintf calls are for.
func body(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// notNull and friends spell the constraint wordings once.
const notNull = "Member must not be null"

func minLen(n int) string {
	return fmt.Sprintf("Member must have length greater than or equal to %d", n)
}
func maxLen(n int) string { return fmt.Sprintf("Member must have length less than or equal to %d", n) }
func pattern(p string) string {
	return "Member must satisfy regular expression pattern: " + p
}
func enum(vals string) string { return "Member must satisfy enum value set: [" + vals + "]" }

const (
	idPattern      = `^([\p{L}\p{Z}\p{N}_.:/=+\-%@]*)$`
	tagPattern     = `^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`
	tokenPattern   = `^[a-zA-Z0-9-]+$`
	roleARNPattern = `^arn:aws(-[^:]+)?:iam::[0-9]{12}:role/.+$`
	s3URIPattern   = `^s3://[a-z0-9][\.\-a-z0-9]{1,61}[a-z0-9](/.*)?$`
	kmsPattern     = `^(arn:aws((-us-gov)|(-iso)|(-iso-b)|(-cn))?:kms:)?([a-z]{2}-[a-z]+(-[a-z]+)?-\d:)?(\d{12}:)?(((key/)?[a-zA-Z0-9-_]+)|(alias/[a-zA-Z0-9:/_-]+))$`
	lambdaPattern  = `^arn:aws:lambda:[a-z]{2}-[a-z]+-\d{1}:\d{12}:function:[a-zA-Z0-9\-_\.]+(:(\$LATEST|[a-zA-Z0-9\-_]+))?$`
	arnPattern     = `^arn:aws((-us-gov)|(-iso)|(-iso-b)|(-cn))?:healthlake:[a-z0-9-]+:\d{12}:datastore\/fhir\/.{32}$`
	nextPattern    = `^\p{ASCII}{0,8192}$`
	jobStatuses    = "SUBMITTED, QUEUED, IN_PROGRESS, COMPLETED_WITH_ERRORS, COMPLETED, FAILED, CANCEL_SUBMITTED, CANCEL_IN_PROGRESS, CANCEL_COMPLETED, CANCEL_FAILED"
	exactlyOne     = "Member must have exactly one member set"
)

// tagList returns a JSON array of n valid tags.
func tagList(n int) string {
	tags := make([]string, n)
	for i := range tags {
		tags[i] = fmt.Sprintf(`{"Key":"k%d","Value":"v"}`, i)
	}
	return "[" + strings.Join(tags, ",") + "]"
}

// keyList returns a JSON array of n valid tag keys.
func keyList(n int) string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf(`"k%d"`, i)
	}
	return "[" + strings.Join(keys, ",") + "]"
}

func fe(path, constraint string) FieldError { return FieldError{Path: path, Constraint: constraint} }

type validateCase struct {
	name string
	op   string
	body string
	// want lists the expected failures; nil means the body is valid.
	want []FieldError
	// message, when set, is the exact expected ValidationError message.
	message string
	// serialization expects a SerializationError instead.
	serialization bool
}

var (
	importOK = body(`{"JobName":"import-1","InputDataConfig":{"S3Uri":"s3://my-bucket/input/"},`+
		`"JobOutputDataConfig":{"S3Configuration":{"S3Uri":"s3://my-bucket/output/","KmsKeyId":%q}},`+
		`"DatastoreId":%q,"DataAccessRoleArn":%q,"ClientToken":%q,"ValidationLevel":"structure-only"}`,
		kmsKey, storeID, roleARN, token)
	exportOK = body(`{"JobName":"export-1","OutputDataConfig":{"S3Configuration":{"S3Uri":"s3://my-bucket/export/","KmsKeyId":"alias/my-key"}},`+
		`"DatastoreId":%q,"DataAccessRoleArn":%q,"ClientToken":%q}`, storeID, roleARN, token)
	createOK = body(`{"DatastoreName":"my store","DatastoreTypeVersion":"R4",`+
		`"SseConfiguration":{"KmsEncryptionConfig":{"CmkType":"CUSTOMER_MANAGED_KMS_KEY","KmsKeyId":%q}},`+
		`"PreloadDataConfig":{"PreloadDataType":"SYNTHEA"},"ClientToken":%q,"Tags":[{"Key":"env","Value":"test"}],`+
		`"IdentityProviderConfiguration":{"AuthorizationStrategy":"SMART_ON_FHIR_V1","FineGrainedAuthorizationEnabled":true,`+
		`"Metadata":"{\"issuer\":\"https://idp.example\"}","IdpLambdaArn":%q}}`, kmsKey, token, lambdaARN)
)

func validateCases() []validateCase {
	return []validateCase{
		// CreateFHIRDatastore
		{name: "full", op: "CreateFHIRDatastore", body: createOK},
		{name: "minimal", op: "CreateFHIRDatastore", body: `{"DatastoreTypeVersion":"R4","Unknown":{"x":[1]},"DatastoreName":null}`},
		{name: "type version missing", op: "CreateFHIRDatastore", body: `{"DatastoreName":"x"}`,
			want:    []FieldError{fe("datastoreTypeVersion", notNull)},
			message: "1 validation error detected: Value null at 'datastoreTypeVersion' failed to satisfy constraint: Member must not be null"},
		{name: "type version enum", op: "CreateFHIRDatastore", body: `{"DatastoreTypeVersion":"R5"}`,
			want:    []FieldError{fe("datastoreTypeVersion", enum("R4"))},
			message: "1 validation error detected: Value 'R5' at 'datastoreTypeVersion' failed to satisfy constraint: Member must satisfy enum value set: [R4]"},
		{name: "name empty", op: "CreateFHIRDatastore", body: `{"DatastoreTypeVersion":"R4","DatastoreName":""}`,
			want: []FieldError{fe("datastoreName", minLen(1))}},
		{name: "name pattern", op: "CreateFHIRDatastore", body: `{"DatastoreTypeVersion":"R4","DatastoreName":"a,b"}`,
			want:    []FieldError{fe("datastoreName", pattern(idPattern))},
			message: "1 validation error detected: Value 'a,b' at 'datastoreName' failed to satisfy constraint: Member must satisfy regular expression pattern: " + idPattern},
		{name: "name too long counted in characters", op: "CreateFHIRDatastore",
			body: `{"DatastoreTypeVersion":"R4","DatastoreName":"` + strings.Repeat("é", 257) + `"}`,
			want: []FieldError{fe("datastoreName", maxLen(256))},
			message: "1 validation error detected: Value '" + strings.Repeat("é", 100) + "...' at 'datastoreName' failed to satisfy constraint: " +
				"Member must have length less than or equal to 256"},
		{name: "name of 256 characters", op: "CreateFHIRDatastore",
			body: `{"DatastoreTypeVersion":"R4","DatastoreName":"` + strings.Repeat("é", 256) + `"}`},
		{name: "client token pattern", op: "CreateFHIRDatastore", body: `{"DatastoreTypeVersion":"R4","ClientToken":"a b"}`,
			want: []FieldError{fe("clientToken", pattern(tokenPattern))}},
		{name: "client token empty", op: "CreateFHIRDatastore", body: `{"DatastoreTypeVersion":"R4","ClientToken":""}`,
			want: []FieldError{fe("clientToken", minLen(1)), fe("clientToken", pattern(tokenPattern))}},
		{name: "client token too long", op: "CreateFHIRDatastore",
			body: `{"DatastoreTypeVersion":"R4","ClientToken":"` + strings.Repeat("a", 65) + `"}`,
			want: []FieldError{fe("clientToken", maxLen(64))}},
		{name: "sse nested required", op: "CreateFHIRDatastore", body: `{"DatastoreTypeVersion":"R4","SseConfiguration":{}}`,
			want: []FieldError{fe("sseConfiguration.kmsEncryptionConfig", notNull)}},
		{name: "sse cmk enum and key pattern", op: "CreateFHIRDatastore",
			body: `{"DatastoreTypeVersion":"R4","SseConfiguration":{"KmsEncryptionConfig":{"CmkType":"CM_CMK","KmsKeyId":"key with spaces"}}}`,
			want: []FieldError{
				fe("sseConfiguration.kmsEncryptionConfig.cmkType", enum("CUSTOMER_MANAGED_KMS_KEY, AWS_OWNED_KMS_KEY")),
				fe("sseConfiguration.kmsEncryptionConfig.kmsKeyId", pattern(kmsPattern)),
			}},
		{name: "preload enum", op: "CreateFHIRDatastore", body: `{"DatastoreTypeVersion":"R4","PreloadDataConfig":{"PreloadDataType":"synthea"}}`,
			want: []FieldError{fe("preloadDataConfig.preloadDataType", enum("SYNTHEA"))}},
		{name: "tag value missing and key pattern", op: "CreateFHIRDatastore",
			body: `{"DatastoreTypeVersion":"R4","Tags":[{"Key":"ok","Value":"ok"},{"Key":"50%"}]}`,
			want: []FieldError{fe("tags.2.member.key", pattern(tagPattern)), fe("tags.2.member.value", notNull)},
			message: "2 validation errors detected: Value '50%' at 'tags.2.member.key' failed to satisfy constraint: Member must satisfy regular expression pattern: " +
				tagPattern + "; Value null at 'tags.2.member.value' failed to satisfy constraint: Member must not be null"},
		{name: "too many tags", op: "CreateFHIRDatastore", body: `{"DatastoreTypeVersion":"R4","Tags":` + tagList(201) + `}`,
			want: []FieldError{fe("tags", maxLen(200))}},
		{name: "identity provider", op: "CreateFHIRDatastore",
			body: `{"DatastoreTypeVersion":"R4","IdentityProviderConfiguration":{"IdpLambdaArn":"arn:aws:lambda:us-east-1:1:function:f"}}`,
			want: []FieldError{
				fe("identityProviderConfiguration.authorizationStrategy", notNull),
				fe("identityProviderConfiguration.idpLambdaArn", minLen(49)),
				fe("identityProviderConfiguration.idpLambdaArn", pattern(lambdaPattern)),
			}},
		{name: "boolean as string", op: "CreateFHIRDatastore",
			body:          `{"DatastoreTypeVersion":"R4","IdentityProviderConfiguration":{"AuthorizationStrategy":"AWS_AUTH","FineGrainedAuthorizationEnabled":"true"}}`,
			serialization: true},
		{name: "tags as object", op: "CreateFHIRDatastore", body: `{"DatastoreTypeVersion":"R4","Tags":{"Key":"a","Value":"b"}}`, serialization: true},
		{name: "wrong kind wins over constraint failures", op: "CreateFHIRDatastore", body: `{"DatastoreName":"","Tags":[1]}`, serialization: true},

		// DeleteFHIRDatastore, DescribeFHIRDatastore
		{name: "valid", op: "DeleteFHIRDatastore", body: `{"DatastoreId":"` + storeID + `"}`},
		{name: "id missing", op: "DeleteFHIRDatastore", body: `{}`, want: []FieldError{fe("datastoreId", notNull)}},
		{name: "id null", op: "DeleteFHIRDatastore", body: `{"DatastoreId":null}`, want: []FieldError{fe("datastoreId", notNull)}},
		{name: "id too long", op: "DeleteFHIRDatastore", body: `{"DatastoreId":"` + storeID + `0"}`,
			want:    []FieldError{fe("datastoreId", maxLen(32))},
			message: "1 validation error detected: Value '" + storeID + "0' at 'datastoreId' failed to satisfy constraint: Member must have length less than or equal to 32"},
		{name: "id number", op: "DeleteFHIRDatastore", body: `{"DatastoreId":42}`, serialization: true},
		{name: "valid", op: "DescribeFHIRDatastore", body: `{"DatastoreId":"` + storeID + `"}`},
		{name: "id empty", op: "DescribeFHIRDatastore", body: `{"DatastoreId":""}`, want: []FieldError{fe("datastoreId", minLen(1))}},
		{name: "id pattern", op: "DescribeFHIRDatastore", body: `{"DatastoreId":"a'b"}`,
			want: []FieldError{fe("datastoreId", pattern(idPattern))}},
		{name: "id array", op: "DescribeFHIRDatastore", body: `{"DatastoreId":["a"]}`, serialization: true},

		// DescribeFHIRImportJob, DescribeFHIRExportJob
		{name: "valid", op: "DescribeFHIRImportJob", body: `{"DatastoreId":"` + storeID + `","JobId":"` + jobID + `"}`},
		{name: "both missing", op: "DescribeFHIRImportJob", body: `{}`,
			want: []FieldError{fe("datastoreId", notNull), fe("jobId", notNull)},
			message: "2 validation errors detected: Value null at 'datastoreId' failed to satisfy constraint: Member must not be null; " +
				"Value null at 'jobId' failed to satisfy constraint: Member must not be null"},
		{name: "job id too long", op: "DescribeFHIRImportJob", body: `{"DatastoreId":"` + storeID + `","JobId":"` + jobID + `x"}`,
			want: []FieldError{fe("jobId", maxLen(32))}},
		{name: "valid", op: "DescribeFHIRExportJob", body: `{"DatastoreId":"` + storeID + `","JobId":"` + jobID + `"}`},
		{name: "job id missing and pattern", op: "DescribeFHIRExportJob", body: `{"DatastoreId":"a;b"}`,
			want: []FieldError{fe("datastoreId", pattern(idPattern)), fe("jobId", notNull)}},
		{name: "job id bool", op: "DescribeFHIRExportJob", body: `{"DatastoreId":"a","JobId":true}`, serialization: true},

		// ListFHIRDatastores
		{name: "empty", op: "ListFHIRDatastores", body: `{}`},
		{name: "full", op: "ListFHIRDatastores",
			body: `{"Filter":{"DatastoreName":"x","DatastoreStatus":"ACTIVE","CreatedBefore":1700000000.123,"CreatedAfter":"2024-10-13T19:00:00Z"},"NextToken":"","MaxResults":500}`},
		{name: "max results zero", op: "ListFHIRDatastores", body: `{"MaxResults":0}`,
			want:    []FieldError{fe("maxResults", "Member must have value greater than or equal to 1")},
			message: "1 validation error detected: Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{name: "max results too big", op: "ListFHIRDatastores", body: `{"MaxResults":501}`,
			want:    []FieldError{fe("maxResults", "Member must have value less than or equal to 500")},
			message: "1 validation error detected: Value '501' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 500"},
		{name: "max results string", op: "ListFHIRDatastores", body: `{"MaxResults":"10"}`, serialization: true},
		{name: "max results fraction", op: "ListFHIRDatastores", body: `{"MaxResults":1.5}`, serialization: true},
		{name: "max results overflow", op: "ListFHIRDatastores", body: `{"MaxResults":4294967296}`, serialization: true},
		{name: "status enum", op: "ListFHIRDatastores", body: `{"Filter":{"DatastoreStatus":"active"}}`,
			want: []FieldError{fe("filter.datastoreStatus", enum("CREATING, ACTIVE, DELETING, DELETED, CREATE_FAILED"))},
			message: "1 validation error detected: Value 'active' at 'filter.datastoreStatus' failed to satisfy constraint: " +
				"Member must satisfy enum value set: [CREATING, ACTIVE, DELETING, DELETED, CREATE_FAILED]"},
		{name: "next token not ascii", op: "ListFHIRDatastores", body: `{"NextToken":"naïve"}`,
			want: []FieldError{fe("nextToken", pattern(nextPattern))}},
		{name: "next token too long", op: "ListFHIRDatastores", body: `{"NextToken":"` + strings.Repeat("a", 8193) + `"}`,
			want: []FieldError{fe("nextToken", maxLen(8192)), fe("nextToken", pattern(nextPattern))}},
		{name: "next token at limit", op: "ListFHIRDatastores", body: `{"NextToken":"` + strings.Repeat("a", 8192) + `"}`},
		{name: "timestamp words", op: "ListFHIRDatastores", body: `{"Filter":{"CreatedBefore":"yesterday"}}`, serialization: true},
		{name: "timestamp bool", op: "ListFHIRDatastores", body: `{"Filter":{"CreatedAfter":true}}`, serialization: true},
		{name: "filter string", op: "ListFHIRDatastores", body: `{"Filter":"ACTIVE"}`, serialization: true},

		// ListFHIRImportJobs, ListFHIRExportJobs
		{name: "full", op: "ListFHIRImportJobs",
			body: `{"DatastoreId":"` + storeID + `","NextToken":"abc","MaxResults":1,"JobName":"import-1","JobStatus":"COMPLETED_WITH_ERRORS","SubmittedBefore":1700000000,"SubmittedAfter":"2024-10-13T19:00:00.5+02:00"}`},
		{name: "all constraints", op: "ListFHIRImportJobs",
			body: `{"MaxResults":-1,"JobName":"` + strings.Repeat("j", 65) + `","JobStatus":"DONE"}`,
			want: []FieldError{
				fe("datastoreId", notNull),
				fe("maxResults", "Member must have value greater than or equal to 1"),
				fe("jobName", maxLen(64)),
				fe("jobStatus", enum(jobStatuses)),
			}},
		{name: "submitted before string number", op: "ListFHIRImportJobs", body: `{"DatastoreId":"a","SubmittedBefore":"1700000000"}`, serialization: true},
		{name: "full", op: "ListFHIRExportJobs",
			body: `{"DatastoreId":"` + storeID + `","MaxResults":100,"JobStatus":"CANCEL_FAILED","SubmittedAfter":1.7e9}`},
		{name: "job name pattern and status", op: "ListFHIRExportJobs", body: `{"DatastoreId":"a","JobName":"my job!","JobStatus":""}`,
			want: []FieldError{fe("jobName", pattern(idPattern)), fe("jobStatus", enum(jobStatuses))}},
		{name: "status number", op: "ListFHIRExportJobs", body: `{"DatastoreId":"a","JobStatus":1}`, serialization: true},

		// ListTagsForResource
		{name: "valid", op: "ListTagsForResource", body: `{"ResourceARN":"` + storeARN + `"}`},
		{name: "missing", op: "ListTagsForResource", body: `{"resourceArn":"` + storeARN + `"}`,
			want: []FieldError{fe("resourceARN", notNull)}},
		{name: "short id", op: "ListTagsForResource", body: `{"ResourceARN":"` + storeARN[:len(storeARN)-1] + `"}`,
			want: []FieldError{fe("resourceARN", pattern(arnPattern))}},
		{name: "too long", op: "ListTagsForResource", body: `{"ResourceARN":"` + strings.Repeat("x", 1012) + `"}`,
			want: []FieldError{fe("resourceARN", maxLen(1011)), fe("resourceARN", pattern(arnPattern))}},

		// StartFHIRImportJob
		{name: "valid", op: "StartFHIRImportJob", body: importOK},
		{name: "empty", op: "StartFHIRImportJob", body: `{}`,
			want: []FieldError{fe("inputDataConfig", notNull), fe("jobOutputDataConfig", notNull), fe("datastoreId", notNull), fe("dataAccessRoleArn", notNull)},
			message: "4 validation errors detected: " +
				"Value null at 'inputDataConfig' failed to satisfy constraint: Member must not be null; " +
				"Value null at 'jobOutputDataConfig' failed to satisfy constraint: Member must not be null; " +
				"Value null at 'datastoreId' failed to satisfy constraint: Member must not be null; " +
				"Value null at 'dataAccessRoleArn' failed to satisfy constraint: Member must not be null"},
		{name: "kms key missing", op: "StartFHIRImportJob",
			body: strings.Replace(importOK, `,"KmsKeyId":"`+kmsKey+`"`, "", 1),
			want: []FieldError{fe("jobOutputDataConfig.s3Configuration.kmsKeyId", notNull)},
			message: "1 validation error detected: Value null at 'jobOutputDataConfig.s3Configuration.kmsKeyId' failed to satisfy constraint: " +
				"Member must not be null"},
		{name: "union with no member", op: "StartFHIRImportJob",
			body: strings.Replace(importOK, `{"S3Uri":"s3://my-bucket/input/"}`, `{"S3Uri":null}`, 1),
			want: []FieldError{fe("inputDataConfig", exactlyOne)},
			message: "1 validation error detected: Value '{S3Uri=null}' at 'inputDataConfig' failed to satisfy constraint: " +
				"Member must have exactly one member set"},
		{name: "union with two members", op: "StartFHIRImportJob",
			body: strings.Replace(importOK, `{"S3Uri":"s3://my-bucket/input/"}`, `{"S3Uri":"s3://my-bucket/input/","S3Prefix":"x"}`, 1),
			want: []FieldError{fe("inputDataConfig", exactlyOne)}},
		{name: "union with unknown member only", op: "StartFHIRImportJob",
			body: strings.Replace(importOK, `{"S3Configuration":`, `{"S3Config":`, 1),
			want: []FieldError{fe("jobOutputDataConfig", exactlyOne)}},
		{name: "union type marker ignored", op: "StartFHIRImportJob",
			body: strings.Replace(importOK, `{"S3Uri":`, `{"__type":"S3Uri","S3Uri":`, 1)},
		{name: "s3 uri pattern and level enum", op: "StartFHIRImportJob",
			body: strings.NewReplacer("s3://my-bucket/input/", "https://my-bucket/input/", "structure-only", "STRICT").Replace(importOK),
			want: []FieldError{fe("inputDataConfig.s3Uri", pattern(s3URIPattern)), fe("validationLevel", enum("strict, structure-only, minimal"))}},
		{name: "role arn", op: "StartFHIRImportJob", body: strings.Replace(importOK, roleARN, "arn:aws:iam::1:role/x", 1),
			want: []FieldError{fe("dataAccessRoleArn", pattern(roleARNPattern))}},
		{name: "role arn short", op: "StartFHIRImportJob", body: strings.Replace(importOK, roleARN, "role", 1),
			want: []FieldError{fe("dataAccessRoleArn", minLen(20)), fe("dataAccessRoleArn", pattern(roleARNPattern))}},
		{name: "client token", op: "StartFHIRImportJob", body: strings.Replace(importOK, token, "{token}", 1),
			want: []FieldError{fe("clientToken", pattern(tokenPattern))}},
		{name: "union as string", op: "StartFHIRImportJob",
			body: strings.Replace(importOK, `{"S3Uri":"s3://my-bucket/input/"}`, `"s3://my-bucket/input/"`, 1), serialization: true},

		// StartFHIRExportJob
		{name: "valid", op: "StartFHIRExportJob", body: exportOK},
		{name: "s3 configuration empty", op: "StartFHIRExportJob",
			body: strings.Replace(exportOK, `"S3Uri":"s3://my-bucket/export/","KmsKeyId":"alias/my-key"`, "", 1),
			want: []FieldError{fe("outputDataConfig.s3Configuration.s3Uri", notNull), fe("outputDataConfig.s3Configuration.kmsKeyId", notNull)}},
		{name: "union empty", op: "StartFHIRExportJob", body: `{"OutputDataConfig":{},"DatastoreId":"a","DataAccessRoleArn":"` + roleARN + `"}`,
			want:    []FieldError{fe("outputDataConfig", exactlyOne)},
			message: "1 validation error detected: Value '{}' at 'outputDataConfig' failed to satisfy constraint: Member must have exactly one member set"},
		{name: "kms key pattern", op: "StartFHIRExportJob", body: strings.Replace(exportOK, "alias/my-key", "alias/my key", 1),
			want: []FieldError{fe("outputDataConfig.s3Configuration.kmsKeyId", pattern(kmsPattern))}},
		{name: "job name too long", op: "StartFHIRExportJob", body: strings.Replace(exportOK, "export-1", strings.Repeat("e", 65), 1),
			want: []FieldError{fe("jobName", maxLen(64))}},
		{name: "s3 configuration array", op: "StartFHIRExportJob",
			body: `{"OutputDataConfig":{"S3Configuration":[]},"DatastoreId":"a","DataAccessRoleArn":"` + roleARN + `"}`, serialization: true},

		// TagResource
		{name: "valid", op: "TagResource", body: `{"ResourceARN":"` + storeARN + `","Tags":[{"Key":"team","Value":""}]}`},
		{name: "no tags", op: "TagResource", body: `{"ResourceARN":"` + storeARN + `","Tags":[]}`},
		{name: "tags missing", op: "TagResource", body: `{"ResourceARN":"` + storeARN + `"}`, want: []FieldError{fe("tags", notNull)}},
		{name: "tag null", op: "TagResource", body: `{"ResourceARN":"` + storeARN + `","Tags":[null]}`,
			want: []FieldError{fe("tags.1.member", notNull)}},
		{name: "key too long and value pattern", op: "TagResource",
			body: `{"ResourceARN":"` + storeARN + `","Tags":[{"Key":"` + strings.Repeat("k", 129) + `","Value":"a&b"}]}`,
			want: []FieldError{fe("tags.1.member.key", maxLen(128)), fe("tags.1.member.value", pattern(tagPattern))}},
		{name: "too many tags", op: "TagResource", body: `{"ResourceARN":"` + storeARN + `","Tags":` + tagList(201) + `}`,
			want: []FieldError{fe("tags", maxLen(200))}},
		{name: "tag item string", op: "TagResource", body: `{"ResourceARN":"` + storeARN + `","Tags":["team=a"]}`, serialization: true},

		// UntagResource
		{name: "valid", op: "UntagResource", body: `{"ResourceARN":"` + storeARN + `","TagKeys":["team","env"]}`},
		{name: "keys missing", op: "UntagResource", body: `{"ResourceARN":"` + storeARN + `"}`, want: []FieldError{fe("tagKeys", notNull)}},
		{name: "key empty", op: "UntagResource", body: `{"ResourceARN":"` + storeARN + `","TagKeys":["ok",""]}`,
			want:    []FieldError{fe("tagKeys.2.member", minLen(1))},
			message: "1 validation error detected: Value '' at 'tagKeys.2.member' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{name: "too many keys", op: "UntagResource", body: `{"ResourceARN":"` + storeARN + `","TagKeys":` + keyList(201) + `}`,
			want: []FieldError{fe("tagKeys", maxLen(200))}},
		{name: "key number", op: "UntagResource", body: `{"ResourceARN":"` + storeARN + `","TagKeys":[7]}`, serialization: true},
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	v := New()
	covered := map[string]bool{}
	for _, tc := range validateCases() {
		covered[tc.op] = true
		t.Run(tc.op+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			err := v.Validate(tc.op, []byte(tc.body))
			switch {
			case tc.serialization:
				var se *SerializationError
				if !errors.As(err, &se) {
					t.Fatalf("Validate() = %v, want a *SerializationError", err)
				}
			case tc.want == nil:
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
			default:
				var ve *ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("Validate() = %v, want a *ValidationError", err)
				}
				if diff := cmp.Diff(tc.want, ve.Fields); diff != "" {
					t.Errorf("Fields mismatch (-want +got):\n%s\nmessage: %s", diff, ve.Message)
				}
				if tc.message != "" && ve.Message != tc.message {
					t.Errorf("Message:\n got %s\nwant %s", ve.Message, tc.message)
				}
			}
		})
	}
	for _, op := range Operations() {
		if !covered[op] {
			t.Errorf("no cases for operation %s", op)
		}
	}
}

func TestValidateNotAnObject(t *testing.T) {
	t.Parallel()
	v := New()
	bodies := []string{``, ` `, `null`, `[]`, `"{}"`, `42`, `{`, `{"DatastoreId":}`, `{} {}`, `{}x`}
	for _, op := range Operations() {
		for _, b := range bodies {
			err := v.Validate(op, []byte(b))
			var se *SerializationError
			if !errors.As(err, &se) {
				t.Errorf("Validate(%s, %q) = %v, want a *SerializationError", op, b, err)
			}
		}
	}
}

func TestValidateUnknownOperation(t *testing.T) {
	t.Parallel()
	err := New().Validate("CreateFHIRDataStore", []byte(`{}`))
	if !errors.Is(err, ErrUnknownOperation) {
		t.Fatalf("Validate() = %v, want ErrUnknownOperation", err)
	}
}

func TestValidateMessageBounds(t *testing.T) {
	t.Parallel()
	// 300 invalid keys: every failure is in Fields, the message lists the
	// first maxMessageErrors and echoes at most maxValueRunes per value.
	keys := make([]string, 300)
	for i := range keys {
		keys[i] = `"` + strings.Repeat("%", 1000) + `"`
	}
	b := `{"ResourceARN":"` + storeARN + `","TagKeys":[` + strings.Join(keys, ",") + `]}`
	err := New().Validate("UntagResource", []byte(b))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Validate() = %v, want a *ValidationError", err)
	}
	if got, want := len(ve.Fields), 1+2*300; got != want {
		t.Errorf("len(Fields) = %d, want %d", got, want)
	}
	if !strings.HasPrefix(ve.Message, "601 validation errors detected: Value '[") {
		t.Errorf("Message starts %.80q", ve.Message)
	}
	if got := strings.Count(ve.Message, "failed to satisfy constraint"); got != maxMessageErrors {
		t.Errorf("message lists %d failures, want %d", got, maxMessageErrors)
	}
	if strings.Contains(ve.Message, strings.Repeat("%", maxValueRunes+1)) {
		t.Errorf("message echoes more than %d characters of a value", maxValueRunes)
	}
}

func TestOperations(t *testing.T) {
	t.Parallel()
	want := []string{
		"CreateFHIRDatastore", "DeleteFHIRDatastore", "DescribeFHIRDatastore", "DescribeFHIRExportJob",
		"DescribeFHIRImportJob", "ListFHIRDatastores", "ListFHIRExportJobs", "ListFHIRImportJobs",
		"ListTagsForResource", "StartFHIRExportJob", "StartFHIRImportJob", "TagResource", "UntagResource",
	}
	if diff := cmp.Diff(want, Operations()); diff != "" {
		t.Errorf("Operations() mismatch (-want +got):\n%s", diff)
	}
}

func FuzzValidate(f *testing.F) {
	ops := Operations()
	for i, tc := range validateCases() {
		if i%3 == 0 { // a sample keeps the seed corpus small
			f.Add(uint8(indexOf(ops, tc.op)), []byte(tc.body))
		}
	}
	f.Add(uint8(0), []byte(`{"Tags":[{"Key":{"a":[1,{"b":null}]}}],"DatastoreTypeVersion":[[[]]]}`))
	f.Add(uint8(5), []byte(`{"MaxResults":1e999,"Filter":{"CreatedBefore":-1e999}}`))
	v := New()
	f.Fuzz(func(t *testing.T, op uint8, body []byte) {
		err := v.Validate(ops[int(op)%len(ops)], body)
		var (
			ve *ValidationError
			se *SerializationError
		)
		switch {
		case err == nil, errors.As(err, &se):
		case errors.As(err, &ve):
			if len(ve.Fields) == 0 || ve.Message == "" {
				t.Fatalf("empty ValidationError: %#v", ve)
			}
		default:
			t.Fatalf("Validate() = %v, want nil or a typed error", err)
		}
	})
}

func indexOf(ops []string, op string) int {
	for i, o := range ops {
		if o == op {
			return i
		}
	}
	return 0
}

func TestValidateExcept(t *testing.T) {
	t.Parallel()
	v := New()
	body := []byte(`{"DatastoreId":"0123456789abcdef0123456789abcdef","OutputDataConfig":{"S3Configuration":{"S3Uri":"s3://bucket/p"}}}`)
	optional := []string{"outputDataConfig.s3Configuration.kmsKeyId", "dataAccessRoleArn"}
	if err := v.Validate("StartFHIRExportJob", body); err == nil {
		t.Fatal("Validate accepted an export without KmsKeyId and DataAccessRoleArn")
	}
	if err := v.ValidateExcept("StartFHIRExportJob", body, optional...); err != nil {
		t.Errorf("ValidateExcept with both optional: %v", err)
	}
	bad := []byte(`{"DatastoreId":"0123456789abcdef0123456789abcdef","JobName":"no,commas","OutputDataConfig":{"S3Configuration":{"S3Uri":"s3://bucket/p"}}}`)
	err := v.ValidateExcept("StartFHIRExportJob", bad, optional...)
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Fields) != 1 || ve.Fields[0].Path != "jobName" {
		t.Errorf("a bad JobName under ValidateExcept: %v, want one jobName failure", err)
	}
	if err := v.ValidateExcept("StartFHIRExportJob", body, "dataAccessRoleArn"); err == nil {
		t.Errorf("ValidateExcept made a member optional that it was not given")
	}
}
