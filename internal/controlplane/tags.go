package controlplane

import (
	"context"
	"errors"
	"strings"

	"github.com/fhirlake/fhirlake/internal/store"
)

// datastoreIDFromARN returns the data store id of a tagging ARN of the caller's tenant. The model's
// pattern has already checked the shape (…:datastore/fhir/<32 chars>); an ARN of another account or
// region names nothing the caller can see.
func datastoreIDFromARN(t store.Tenant, arn string) (string, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[3] != t.Region || parts[4] != t.AccountID {
		return "", notFoundErr("Resource %s does not exist", arn)
	}
	return strings.TrimPrefix(parts[5], "datastore/fhir/"), nil
}

type tagResourceInput struct {
	ResourceARN string   `json:"ResourceARN"`
	Tags        []tag    `json:"Tags"`
	TagKeys     []string `json:"TagKeys"`
}

func (s *Service) tagTarget(ctx context.Context, body []byte) (store.Tenant, string, tagResourceInput, error) {
	var in tagResourceInput
	t, err := tenant(ctx)
	if err != nil {
		return t, "", in, err
	}
	if err := decode(body, &in); err != nil {
		return t, "", in, err
	}
	id, err := datastoreIDFromARN(t, in.ResourceARN)
	return t, id, in, err
}

func (s *Service) tagError(err error, arn string) error {
	if errors.Is(err, store.ErrNotFound) {
		return notFoundErr("Resource %s does not exist", arn)
	}
	return err
}

func (s *Service) tagResource(ctx context.Context, body []byte) (any, error) {
	t, id, in, err := s.tagTarget(ctx, body)
	if err != nil {
		return nil, err
	}
	existing, err := s.store.TagsList(ctx, t, id)
	if err != nil {
		return nil, s.tagError(err, in.ResourceARN)
	}
	keys := map[string]bool{}
	for _, tg := range existing {
		keys[tg.Key] = true
	}
	tags := make([]store.Tag, len(in.Tags))
	for i, tg := range in.Tags {
		tags[i] = store.Tag{Key: tg.Key, Value: tg.Value}
		keys[tg.Key] = true
	}
	if len(keys) > 200 {
		return nil, validationErr("a resource can have at most 200 tags")
	}
	return struct{}{}, s.tagError(s.store.TagsPut(ctx, t, id, tags), in.ResourceARN)
}

func (s *Service) untagResource(ctx context.Context, body []byte) (any, error) {
	t, id, in, err := s.tagTarget(ctx, body)
	if err != nil {
		return nil, err
	}
	return struct{}{}, s.tagError(s.store.TagsDelete(ctx, t, id, in.TagKeys), in.ResourceARN)
}

func (s *Service) listTags(ctx context.Context, body []byte) (any, error) {
	t, id, in, err := s.tagTarget(ctx, body)
	if err != nil {
		return nil, err
	}
	tags, err := s.store.TagsList(ctx, t, id)
	if err != nil {
		return nil, s.tagError(err, in.ResourceARN)
	}
	out := struct {
		Tags []tag `json:"Tags"`
	}{Tags: []tag{}}
	for _, tg := range tags {
		out.Tags = append(out.Tags, tag{Key: tg.Key, Value: tg.Value})
	}
	return out, nil
}
