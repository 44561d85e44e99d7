package analysis

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Values is a list of metric values that survives JSON: finite numbers are
// written as numbers, NaN and ±Inf as the strings "NaN", "+Inf" and "-Inf"
// (as Prometheus writes them), which encoding/json would otherwise refuse,
// failing the activity that records the measurement.
type Values []float64

// MarshalJSON implements json.Marshaler.
func (v Values) MarshalJSON() ([]byte, error) {
	if v == nil {
		return []byte("null"), nil
	}
	b := []byte{'['}
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		switch {
		case math.IsNaN(x):
			b = append(b, `"NaN"`...)
		case math.IsInf(x, 1):
			b = append(b, `"+Inf"`...)
		case math.IsInf(x, -1):
			b = append(b, `"-Inf"`...)
		default:
			b = strconv.AppendFloat(b, x, 'g', -1, 64)
		}
	}
	return append(b, ']'), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (v *Values) UnmarshalJSON(data []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("decode values: %w", err)
	}
	if raw == nil {
		*v = nil
		return nil
	}
	out := make(Values, len(raw))
	for i, r := range raw {
		var s string
		if err := json.Unmarshal(r, &s); err == nil {
			x, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return fmt.Errorf("decode value %d: %q is not a number", i, s)
			}
			out[i] = x
			continue
		}
		if err := json.Unmarshal(r, &out[i]); err != nil {
			return fmt.Errorf("decode value %d: %w", i, err)
		}
	}
	*v = out
	return nil
}
