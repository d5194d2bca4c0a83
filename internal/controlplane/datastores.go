package controlplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/fhirlake/fhirlake/internal/awsjson"
	"github.com/fhirlake/fhirlake/internal/store"
)

// Wire shapes of the data-store operations (member names as in the model).

type kmsEncryptionConfig struct {
	CmkType  string `json:"CmkType"`
	KmsKeyID string `json:"KmsKeyId,omitempty"`
}

type sseConfiguration struct {
	KmsEncryptionConfig *kmsEncryptionConfig `json:"KmsEncryptionConfig"`
}

type preloadDataConfig struct {
	PreloadDataType string `json:"PreloadDataType"`
}

type identityProviderConfiguration struct {
	AuthorizationStrategy           string  `json:"AuthorizationStrategy"`
	FineGrainedAuthorizationEnabled bool    `json:"FineGrainedAuthorizationEnabled"`
	Metadata                        *string `json:"Metadata,omitempty"`
	IdpLambdaArn                    *string `json:"IdpLambdaArn,omitempty"`
}

type tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

type createDatastoreInput struct {
	DatastoreName                 string                         `json:"DatastoreName,omitempty"`
	DatastoreTypeVersion          string                         `json:"DatastoreTypeVersion"`
	SseConfiguration              *sseConfiguration              `json:"SseConfiguration,omitempty"`
	PreloadDataConfig             *preloadDataConfig             `json:"PreloadDataConfig,omitempty"`
	ClientToken                   string                         `json:"ClientToken,omitempty"`
	Tags                          []tag                          `json:"Tags,omitempty"`
	IdentityProviderConfiguration *identityProviderConfiguration `json:"IdentityProviderConfiguration,omitempty"`
}

type datastoreSummary struct {
	DatastoreID       string `json:"DatastoreId"`
	DatastoreArn      string `json:"DatastoreArn"`
	DatastoreStatus   string `json:"DatastoreStatus"`
	DatastoreEndpoint string `json:"DatastoreEndpoint"`
}

// datastoreConfig is what the store keeps of the creation options, echoed by Describe.
type datastoreConfig struct {
	SseConfiguration              *sseConfiguration              `json:"SseConfiguration,omitempty"`
	PreloadDataConfig             *preloadDataConfig             `json:"PreloadDataConfig,omitempty"`
	IdentityProviderConfiguration *identityProviderConfiguration `json:"IdentityProviderConfiguration,omitempty"`
}

type datastoreProperties struct {
	DatastoreID                   string                         `json:"DatastoreId"`
	DatastoreArn                  string                         `json:"DatastoreArn"`
	DatastoreName                 string                         `json:"DatastoreName,omitempty"`
	DatastoreStatus               string                         `json:"DatastoreStatus"`
	CreatedAt                     *awsjson.Time                  `json:"CreatedAt,omitempty"`
	DatastoreTypeVersion          string                         `json:"DatastoreTypeVersion"`
	DatastoreEndpoint             string                         `json:"DatastoreEndpoint"`
	SseConfiguration              *sseConfiguration              `json:"SseConfiguration,omitempty"`
	PreloadDataConfig             *preloadDataConfig             `json:"PreloadDataConfig,omitempty"`
	IdentityProviderConfiguration *identityProviderConfiguration `json:"IdentityProviderConfiguration,omitempty"`
	ErrorCause                    json.RawMessage                `json:"ErrorCause,omitempty"`
}

func (s *Service) arn(d store.Datastore) string {
	return fmt.Sprintf("arn:aws:healthlake:%s:%s:datastore/fhir/%s", d.Region, d.AccountID, d.ID)
}

// Endpoint returns the FHIR base URL of a data store, with its trailing slash.
func (s *Service) Endpoint(id string) string {
	return s.opt.PublicURL + "/datastore/" + id + "/r4/"
}

func (s *Service) summary(d store.Datastore) datastoreSummary {
	return datastoreSummary{DatastoreID: d.ID, DatastoreArn: s.arn(d), DatastoreStatus: string(d.Status), DatastoreEndpoint: s.Endpoint(d.ID)}
}

func (s *Service) properties(d store.Datastore) datastoreProperties {
	p := datastoreProperties{
		DatastoreID: d.ID, DatastoreArn: s.arn(d), DatastoreName: d.Name, DatastoreStatus: string(d.Status),
		CreatedAt: awsjson.NewTime(d.CreatedAt), DatastoreTypeVersion: d.TypeVersion, DatastoreEndpoint: s.Endpoint(d.ID),
		ErrorCause: d.ErrorCause,
	}
	var cfg datastoreConfig
	if len(d.Config) > 0 {
		if err := json.Unmarshal(d.Config, &cfg); err != nil {
			s.opt.Logger.Error("bad stored datastore config", "datastore", d.ID, "err", err)
		}
	}
	p.SseConfiguration, p.PreloadDataConfig, p.IdentityProviderConfiguration = cfg.SseConfiguration, cfg.PreloadDataConfig, cfg.IdentityProviderConfiguration
	if p.IdentityProviderConfiguration == nil {
		p.IdentityProviderConfiguration = &identityProviderConfiguration{AuthorizationStrategy: "AWS_AUTH"}
	}
	return p
}

func (s *Service) createDatastore(ctx context.Context, body []byte) (any, error) {
	t, err := tenant(ctx)
	if err != nil {
		return nil, err
	}
	var in createDatastoreInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := checkCreateOptions(&in); err != nil {
		return nil, err
	}
	token := in.ClientToken
	in.ClientToken = ""
	hash := requestHash(in)
	cfg, _ := json.Marshal(datastoreConfig{in.SseConfiguration, in.PreloadDataConfig, in.IdentityProviderConfiguration})
	now := s.opt.Now()
	d := store.Datastore{
		Tenant: t, ID: s.newID(), Name: in.DatastoreName, Status: store.DatastoreCreating, CreatedAt: now,
		TypeVersion: in.DatastoreTypeVersion, Config: cfg, ClientToken: token, RequestHash: hash,
		ReadyAt: now.Add(s.opt.CreateDelay),
	}
	if in.PreloadDataConfig != nil && in.PreloadDataConfig.PreloadDataType == "SYNTHEA" {
		// The store stays CREATING until its sample is loaded (see PreloadPending).
		d.ReadyAt = preloadHold
	}
	tags := make([]store.Tag, len(in.Tags))
	for i, tg := range in.Tags {
		tags[i] = store.Tag{Key: tg.Key, Value: tg.Value}
	}
	// The store checks the ClientToken first, then the quota, in the transaction that inserts.
	got, created, err := s.store.DatastoreCreate(ctx, d, tags, s.opt.MaxDatastores)
	if errors.Is(err, store.ErrLimitExceeded) {
		return nil, validationErr("data store quota exceeded: an account may have %d data stores per region", s.opt.MaxDatastores)
	}
	if err != nil {
		return nil, err
	}
	if !created && got.RequestHash != hash {
		return nil, validationErr("ClientToken %s was already used with different parameters", token)
	}
	if created {
		// A new store answers CREATING even when its delay is zero, as HealthLake does.
		got.Status = store.DatastoreCreating
	}
	return s.summary(got), nil
}

// checkCreateOptions applies the rules of the creation options that the model cannot express.
func checkCreateOptions(in *createDatastoreInput) error {
	if sse := in.SseConfiguration; sse != nil && sse.KmsEncryptionConfig != nil {
		k := sse.KmsEncryptionConfig
		if k.CmkType == "CUSTOMER_MANAGED_KMS_KEY" && k.KmsKeyID == "" {
			return validationErr("1 validation error detected: Value null at 'sseConfiguration.kmsEncryptionConfig.kmsKeyId' failed to satisfy constraint: Member must not be null when CmkType is CUSTOMER_MANAGED_KMS_KEY")
		}
	}
	if idp := in.IdentityProviderConfiguration; idp != nil {
		smart := idp.AuthorizationStrategy == "SMART_ON_FHIR" || idp.AuthorizationStrategy == "SMART_ON_FHIR_V1"
		if smart && (idp.IdpLambdaArn == nil || idp.Metadata == nil) {
			return validationErr("identityProviderConfiguration: IdpLambdaArn and Metadata are required for %s", idp.AuthorizationStrategy)
		}
		if idp.Metadata != nil && !json.Valid([]byte(*idp.Metadata)) {
			return validationErr("identityProviderConfiguration.metadata must be a JSON document")
		}
	}
	return nil
}

// preloadHold is the ReadyAt of a SYNTHEA-preloaded store until its sample data is loaded.
var preloadHold = time.Date(9999, time.January, 1, 0, 0, 0, 0, time.UTC)

// PreloadPending reports whether d is a SYNTHEA-preloaded store still waiting for its sample
// data; whoever loads it then sets the store ready (store.DatastoreSetReady).
func PreloadPending(d store.Datastore) bool {
	return d.Status == store.DatastoreCreating && d.ReadyAt.Equal(preloadHold)
}

type datastoreIDInput struct {
	DatastoreID string `json:"DatastoreId"`
}

func (s *Service) datastore(ctx context.Context, t store.Tenant, id string) (store.Datastore, error) {
	d, err := s.store.DatastoreGet(ctx, t, id)
	if errors.Is(err, store.ErrNotFound) {
		return d, notFoundErr("Datastore %s does not exist", id)
	}
	return d, err
}

func (s *Service) describeDatastore(ctx context.Context, body []byte) (any, error) {
	t, err := tenant(ctx)
	if err != nil {
		return nil, err
	}
	var in datastoreIDInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	d, err := s.datastore(ctx, t, in.DatastoreID)
	if err != nil {
		return nil, err
	}
	return struct {
		DatastoreProperties datastoreProperties `json:"DatastoreProperties"`
	}{s.properties(d)}, nil
}

func (s *Service) deleteDatastore(ctx context.Context, body []byte) (any, error) {
	t, err := tenant(ctx)
	if err != nil {
		return nil, err
	}
	var in datastoreIDInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	d, err := s.store.DatastoreDelete(ctx, t, in.DatastoreID, s.opt.Now().Add(s.opt.CreateDelay))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, notFoundErr("Datastore %s does not exist", in.DatastoreID)
	case errors.Is(err, store.ErrConflict):
		return nil, conflictErr("Datastore %s cannot be deleted now: it is transitioning, deleted, or has unfinished jobs", in.DatastoreID)
	case err != nil:
		return nil, err
	}
	d.Status = store.DatastoreDeleting
	return s.summary(d), nil
}

type datastoreFilter struct {
	DatastoreName   string        `json:"DatastoreName"`
	DatastoreStatus string        `json:"DatastoreStatus"`
	CreatedBefore   *awsjson.Time `json:"CreatedBefore"`
	CreatedAfter    *awsjson.Time `json:"CreatedAfter"`
}

type listDatastoresInput struct {
	Filter     *datastoreFilter `json:"Filter"`
	NextToken  string           `json:"NextToken"`
	MaxResults *int             `json:"MaxResults"`
}

func (s *Service) listDatastores(ctx context.Context, body []byte) (any, error) {
	t, err := tenant(ctx)
	if err != nil {
		return nil, err
	}
	var in listDatastoresInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	p := store.DatastoreListParams{Tenant: t, Limit: pageSize(in.MaxResults)}
	f := in.Filter
	if f == nil {
		f = &datastoreFilter{}
	}
	p.Name, p.Status = f.DatastoreName, store.DatastoreStatus(f.DatastoreStatus)
	if f.CreatedBefore != nil {
		p.CreatedBefore = &f.CreatedBefore.Time
	}
	if f.CreatedAfter != nil {
		p.CreatedAfter = &f.CreatedAfter.Time
	}
	scope := pageScope{Kind: "datastores", Tenant: t.AccountID + "/" + t.Region, Filter: requestHash(f)}
	if p.After, err = s.decodeToken(in.NextToken, scope); err != nil {
		return nil, err
	}
	p.Limit++
	rows, err := s.store.DatastoreList(ctx, p)
	if err != nil {
		return nil, err
	}
	out := struct {
		DatastorePropertiesList []datastoreProperties `json:"DatastorePropertiesList"`
		NextToken               string                `json:"NextToken,omitempty"`
	}{DatastorePropertiesList: []datastoreProperties{}}
	if len(rows) == p.Limit {
		rows = rows[:len(rows)-1]
		last := rows[len(rows)-1]
		out.NextToken = s.encodeToken(scope, store.PageKey{Time: last.CreatedAt, ID: last.ID})
	}
	for _, d := range rows {
		out.DatastorePropertiesList = append(out.DatastorePropertiesList, s.properties(d))
	}
	return out, nil
}
