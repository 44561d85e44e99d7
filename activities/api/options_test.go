package api

import (
	"reflect"
	"testing"
	"time"
)

// TestLookOptions: a look that waits for its due time keeps its worker's
// death noticed within shortHeartbeat of that time, is retried until it
// is measured, and a look due now has the options of its activity type.
func TestLookOptions(t *testing.T) {
	for _, name := range []string{NameMeasure, NameMeasureLooks} {
		if got, want := LookOptions(name, 0), Options(name); !reflect.DeepEqual(got, want) {
			t.Errorf("%s due now: %+v, want %+v", name, got, want)
		}
		wait := time.Minute
		o := LookOptions(name, wait)
		if o.HeartbeatTimeout != wait+shortHeartbeat {
			t.Errorf("%s: heartbeat timeout %s, want %s", name, o.HeartbeatTimeout, wait+shortHeartbeat)
		}
		if want := Options(name).StartToCloseTimeout + wait; o.StartToCloseTimeout != want {
			t.Errorf("%s: start-to-close %s, want %s", name, o.StartToCloseTimeout, want)
		}
		if o.RetryPolicy.MaximumAttempts != 0 || o.ScheduleToCloseTimeout <= o.StartToCloseTimeout {
			t.Errorf("%s: attempts %d within %s, want unlimited attempts bounded past one start-to-close", name, o.RetryPolicy.MaximumAttempts, o.ScheduleToCloseTimeout)
		}
	}
}
