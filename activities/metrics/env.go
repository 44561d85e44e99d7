package metrics

import (
	"fmt"
	"net/http"
	"sort"

	"github.com/coalmine-dev/coalmine/activities/api"
)

// secretHeaders sets on h the headers whose values come from the named
// environment variables, and a bearer token from tokenEnv when it is set.
// The values are read at call time; errors name only the variables, never
// their values.
func secretHeaders(h http.Header, getenv func(string) string, tokenEnv string, fromEnv map[string]string) error {
	if tokenEnv != "" {
		v, err := secret(getenv, tokenEnv)
		if err != nil {
			return err
		}
		h.Set("Authorization", "Bearer "+v)
	}
	names := make([]string, 0, len(fromEnv))
	for name := range fromEnv {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		v, err := secret(getenv, fromEnv[name])
		if err != nil {
			return fmt.Errorf("header %s: %w", name, err)
		}
		h.Set(name, v)
	}
	return nil
}

// secret reads the environment variable env, which must be set.
func secret(getenv func(string) string, env string) (string, error) {
	v := getenv(env)
	if v == "" {
		return "", fmt.Errorf("read environment variable %s: %w: %w", env, ErrMissingSecret, api.ErrInvalidConfig)
	}
	return v, nil
}
