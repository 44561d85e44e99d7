package api

import (
	"errors"
	"fmt"
	"testing"
)

func TestKindOf(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		want      *Kind
		permanent bool
	}{
		{"no error", nil, nil, false},
		{"no kind", errors.New("connection reset"), nil, false},
		{"router auth at the end of the chain", fmt.Errorf("set weight: read route voice: HTTP 401: %w", ErrRouterAuth), ErrRouterAuth, true},
		{"unreachable, wrapped again", fmt.Errorf("setWeight on gateway router: %w", fmt.Errorf("dial: %w", ErrRouterUnreachable)), ErrRouterUnreachable, false},
		{"the standard library's unsupported", fmt.Errorf("mirror: %w", errors.ErrUnsupported), unsupported, true},
		{"invalid configuration beside another error", fmt.Errorf("%w: %w", errors.New("bad url"), ErrInvalidConfig), ErrInvalidConfig, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := KindOf(tt.err)
			if k != tt.want {
				t.Fatalf("KindOf = %v, want %v", k, tt.want)
			}
			if k != nil && k.Permanent() != tt.permanent {
				t.Errorf("%s permanent = %v, want %v", k.ErrorType(), k.Permanent(), tt.permanent)
			}
		})
	}
}
