package server_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/healthlake"
	"github.com/aws/aws-sdk-go-v2/service/healthlake/types"
)

// TestInvalidInputs sends, through the Go SDK (which checks almost nothing itself), inputs that
// break each kind of model constraint of each operation, and expects a ValidationException whose
// message names the member.
func TestInvalidInputs(t *testing.T) {
	t.Parallel()
	ts := start(t, newConfig(t))
	c := ts.client("us-east-1")
	ctx := context.Background()
	id := createActive(t, c, "valid")
	arn := "arn:aws:healthlake:us-east-1:000000000000:datastore/fhir/" + id
	out := &types.OutputDataConfigMemberS3Configuration{Value: types.S3Configuration{S3Uri: aws.String("s3://bucket-out/x/"), KmsKeyId: aws.String("key-1")}}
	in := &types.InputDataConfigMemberS3Uri{Value: "s3://bucket-in/x/"}
	role := aws.String("arn:aws:iam::000000000000:role/import")
	long := strings.Repeat("a", 300)
	cases := []struct {
		name   string
		member string
		call   func() error
	}{
		{"create/name length", "datastoreName", func() error {
			_, err := c.CreateFHIRDatastore(ctx, &healthlake.CreateFHIRDatastoreInput{DatastoreTypeVersion: types.FHIRVersionR4, DatastoreName: &long})
			return err
		}},
		{"create/name pattern", "datastoreName", func() error {
			_, err := c.CreateFHIRDatastore(ctx, &healthlake.CreateFHIRDatastoreInput{DatastoreTypeVersion: types.FHIRVersionR4, DatastoreName: aws.String("bad,name")})
			return err
		}},
		{"create/version enum", "datastoreTypeVersion", func() error {
			_, err := c.CreateFHIRDatastore(ctx, &healthlake.CreateFHIRDatastoreInput{DatastoreTypeVersion: "R5"})
			return err
		}},
		{"create/token pattern", "clientToken", func() error {
			_, err := c.CreateFHIRDatastore(ctx, &healthlake.CreateFHIRDatastoreInput{DatastoreTypeVersion: types.FHIRVersionR4, ClientToken: aws.String("no spaces")})
			return err
		}},
		{"create/cmk enum", "cmkType", func() error {
			_, err := c.CreateFHIRDatastore(ctx, &healthlake.CreateFHIRDatastoreInput{DatastoreTypeVersion: types.FHIRVersionR4,
				SseConfiguration: &types.SseConfiguration{KmsEncryptionConfig: &types.KmsEncryptionConfig{CmkType: "MINE"}}})
			return err
		}},
		{"create/customer key missing", "kmsKeyId", func() error {
			_, err := c.CreateFHIRDatastore(ctx, &healthlake.CreateFHIRDatastoreInput{DatastoreTypeVersion: types.FHIRVersionR4,
				SseConfiguration: &types.SseConfiguration{KmsEncryptionConfig: &types.KmsEncryptionConfig{CmkType: types.CmkTypeCmCmk}}})
			return err
		}},
		{"create/lambda pattern", "idpLambdaArn", func() error {
			_, err := c.CreateFHIRDatastore(ctx, &healthlake.CreateFHIRDatastoreInput{DatastoreTypeVersion: types.FHIRVersionR4,
				IdentityProviderConfiguration: &types.IdentityProviderConfiguration{AuthorizationStrategy: types.AuthorizationStrategySmartOnFhir, IdpLambdaArn: aws.String("nope")}})
			return err
		}},
		{"create/tag key length", "key", func() error {
			_, err := c.CreateFHIRDatastore(ctx, &healthlake.CreateFHIRDatastoreInput{DatastoreTypeVersion: types.FHIRVersionR4,
				Tags: []types.Tag{{Key: aws.String(""), Value: aws.String("v")}}})
			return err
		}},
		{"describe/id length", "datastoreId", func() error {
			_, err := c.DescribeFHIRDatastore(ctx, &healthlake.DescribeFHIRDatastoreInput{DatastoreId: aws.String(strings.Repeat("a", 33))})
			return err
		}},
		{"delete/id pattern", "datastoreId", func() error {
			_, err := c.DeleteFHIRDatastore(ctx, &healthlake.DeleteFHIRDatastoreInput{DatastoreId: aws.String("a,b")})
			return err
		}},
		{"list stores/max results", "maxResults", func() error {
			_, err := c.ListFHIRDatastores(ctx, &healthlake.ListFHIRDatastoresInput{MaxResults: aws.Int32(0)})
			return err
		}},
		{"list stores/status enum", "datastoreStatus", func() error {
			_, err := c.ListFHIRDatastores(ctx, &healthlake.ListFHIRDatastoresInput{Filter: &types.DatastoreFilter{DatastoreStatus: "SLEEPING"}})
			return err
		}},
		{"list stores/token ascii", "nextToken", func() error {
			_, err := c.ListFHIRDatastores(ctx, &healthlake.ListFHIRDatastoresInput{NextToken: aws.String("é")})
			return err
		}},
		{"start import/job name", "jobName", func() error {
			_, err := c.StartFHIRImportJob(ctx, &healthlake.StartFHIRImportJobInput{DatastoreId: &id, DataAccessRoleArn: role,
				InputDataConfig: in, JobOutputDataConfig: out, JobName: aws.String("a(b)")})
			return err
		}},
		{"start import/s3 uri", "s3Uri", func() error {
			_, err := c.StartFHIRImportJob(ctx, &healthlake.StartFHIRImportJobInput{DatastoreId: &id, DataAccessRoleArn: role,
				InputDataConfig: &types.InputDataConfigMemberS3Uri{Value: "https://x"}, JobOutputDataConfig: out})
			return err
		}},
		{"start import/role", "dataAccessRoleArn", func() error {
			_, err := c.StartFHIRImportJob(ctx, &healthlake.StartFHIRImportJobInput{DatastoreId: &id, DataAccessRoleArn: aws.String("arn:aws:iam::1:user/x"),
				InputDataConfig: in, JobOutputDataConfig: out})
			return err
		}},
		{"start import/kms key", "kmsKeyId", func() error {
			_, err := c.StartFHIRImportJob(ctx, &healthlake.StartFHIRImportJobInput{DatastoreId: &id, DataAccessRoleArn: role, InputDataConfig: in,
				JobOutputDataConfig: &types.OutputDataConfigMemberS3Configuration{Value: types.S3Configuration{S3Uri: aws.String("s3://bucket-out/"), KmsKeyId: aws.String("bad key!")}}})
			return err
		}},
		{"start import/level enum", "validationLevel", func() error {
			_, err := c.StartFHIRImportJob(ctx, &healthlake.StartFHIRImportJobInput{DatastoreId: &id, DataAccessRoleArn: role,
				InputDataConfig: in, JobOutputDataConfig: out, ValidationLevel: "STRICT"})
			return err
		}},
		{"describe import/job id", "jobId", func() error {
			_, err := c.DescribeFHIRImportJob(ctx, &healthlake.DescribeFHIRImportJobInput{DatastoreId: &id, JobId: aws.String(strings.Repeat("f", 40))})
			return err
		}},
		{"list import/max results", "maxResults", func() error {
			_, err := c.ListFHIRImportJobs(ctx, &healthlake.ListFHIRImportJobsInput{DatastoreId: &id, MaxResults: aws.Int32(501)})
			return err
		}},
		{"list import/status enum", "jobStatus", func() error {
			_, err := c.ListFHIRImportJobs(ctx, &healthlake.ListFHIRImportJobsInput{DatastoreId: &id, JobStatus: "DONE"})
			return err
		}},
		{"list import/name", "jobName", func() error {
			_, err := c.ListFHIRImportJobs(ctx, &healthlake.ListFHIRImportJobsInput{DatastoreId: &id, JobName: aws.String("semi;colon")})
			return err
		}},
		{"start export/s3 uri", "s3Uri", func() error {
			_, err := c.StartFHIRExportJob(ctx, &healthlake.StartFHIRExportJobInput{DatastoreId: &id, DataAccessRoleArn: role,
				OutputDataConfig: &types.OutputDataConfigMemberS3Configuration{Value: types.S3Configuration{S3Uri: aws.String("s3://UPPER/"), KmsKeyId: aws.String("k")}}})
			return err
		}},
		{"describe export/datastore id", "datastoreId", func() error {
			_, err := c.DescribeFHIRExportJob(ctx, &healthlake.DescribeFHIRExportJobInput{DatastoreId: aws.String("x!"), JobId: aws.String("j")})
			return err
		}},
		{"list export/max results", "maxResults", func() error {
			_, err := c.ListFHIRExportJobs(ctx, &healthlake.ListFHIRExportJobsInput{DatastoreId: &id, MaxResults: aws.Int32(-1)})
			return err
		}},
		{"tag/arn pattern", "resourceARN", func() error {
			_, err := c.TagResource(ctx, &healthlake.TagResourceInput{ResourceARN: aws.String("arn:aws:s3:::bucket"), Tags: []types.Tag{}})
			return err
		}},
		{"tag/value pattern", "value", func() error {
			_, err := c.TagResource(ctx, &healthlake.TagResourceInput{ResourceARN: &arn, Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("a%b")}}})
			return err
		}},
		{"tag/too many", "tags", func() error {
			tags := make([]types.Tag, 201)
			for i := range tags {
				tags[i] = types.Tag{Key: aws.String(strings.Repeat("k", i%100+1)), Value: aws.String("v")}
			}
			_, err := c.TagResource(ctx, &healthlake.TagResourceInput{ResourceARN: &arn, Tags: tags})
			return err
		}},
		{"untag/key length", "tagKeys", func() error {
			_, err := c.UntagResource(ctx, &healthlake.UntagResourceInput{ResourceARN: &arn, TagKeys: []string{strings.Repeat("k", 129)}})
			return err
		}},
		{"list tags/arn length", "resourceARN", func() error {
			_, err := c.ListTagsForResource(ctx, &healthlake.ListTagsForResourceInput{ResourceARN: aws.String(arn + strings.Repeat("x", 1000))})
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.call()
			var ve *types.ValidationException
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want ValidationException", err)
			}
			if !strings.Contains(ve.ErrorMessage(), tc.member) {
				t.Errorf("message %q does not name %s", ve.ErrorMessage(), tc.member)
			}
		})
	}
	_ = time.Second
}
