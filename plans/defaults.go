package plans

import "time"

// Defaults, in one place so that `coalmine plan` can show them and the
// documentation can name them.
const (
	DefaultGatewayTokenEnv       = "COALMINE_GATEWAY_TOKEN"
	DefaultNamespace             = "default"
	DefaultVerifyInterval        = 30 * time.Second
	DefaultProgressDeadline      = 10 * time.Minute
	DefaultApprovalTimeout       = 24 * time.Hour
	DefaultScaleDownDelay        = 30 * time.Second
	DefaultInterval              = time.Minute
	DefaultFailureLimit          = 0
	DefaultInconclusiveLimit     = 0
	DefaultConsecutiveErrorLimit = 4
	DefaultProviderTimeout       = 30 * time.Second
	DefaultJudgeTimeout          = 60 * time.Second
	DefaultJudgeSamples          = 5
	DefaultJudgeMaxTokens        = 20000
	DefaultQuantile              = 0.95
	DefaultAlpha                 = 0.05
	DefaultMinEffect             = 0.1
	DefaultMinSamples            = 100
	// DefaultNoDataIntervals is noDataTimeout's default in metric intervals.
	DefaultNoDataIntervals = 5
)

// ApplyDefaults fills every field the plan left out with its default. It is
// idempotent and leaves given values alone.
func ApplyDefaults(p *RolloutPlan) {
	s := &p.Spec
	if w := s.Workload; w != nil {
		setString(&w.Namespace, DefaultNamespace)
		setDuration(&w.ProgressDeadline, DefaultProgressDeadline)
	}
	t := &s.Traffic
	if t.VerifyInterval == nil {
		t.VerifyInterval = &Duration{DefaultVerifyInterval}
	}
	if b := t.Block; b != nil {
		b.ApplyDefaults(s)
	}
	for i := range s.Steps {
		if a := s.Steps[i].Approval; a != nil {
			setDuration(&a.Timeout, DefaultApprovalTimeout)
			setString(&a.OnTimeout, OnTimeoutRollback)
			if n := s.Notifications; n != nil && n.Slack != nil {
				setString(&a.Channel, n.Slack.Channel)
			}
		}
	}
	if s.Rollback == nil {
		s.Rollback = &Rollback{}
	}
	setDuration(&s.Rollback.ScaleDownDelay, DefaultScaleDownDelay)
	if n := s.Notifications; n != nil && n.Slack != nil && len(n.Slack.Events) == 0 {
		n.Slack.Events = []string{EventStarted, EventGate, EventApproved, EventPromoted, EventAborted, EventRolledBack, EventInconclusive, EventTrafficRestored}
	}
	for name, tmpl := range s.AnalysisTemplates {
		for i := range tmpl.Metrics {
			metricDefaults(&tmpl.Metrics[i], s)
		}
		s.AnalysisTemplates[name] = tmpl
	}
}

// WorkloadNamespace is the namespace the traffic blocks default to: the
// workload's, else DefaultNamespace.
func (s *Spec) WorkloadNamespace() string {
	if w := s.Workload; w != nil && w.Namespace != "" {
		return w.Namespace
	}
	return DefaultNamespace
}

func metricDefaults(m *Metric, s *Spec) {
	setDuration(&m.Interval, DefaultInterval)
	setInt(&m.FailureLimit, DefaultFailureLimit)
	setInt(&m.InconclusiveLimit, DefaultInconclusiveLimit)
	setInt(&m.ConsecutiveErrorLimit, DefaultConsecutiveErrorLimit)
	setDuration(&m.NoDataTimeout, DefaultNoDataIntervals*m.Interval.Duration)
	setString(&m.OnFailure, OnFailureRollback)
	if cmp := m.Compare; cmp != nil {
		setString(&cmp.Method, CompareConfidence)
		if cmp.Alpha == 0 {
			cmp.Alpha = DefaultAlpha
		}
	}
	if b := m.Provider.Block; b != nil {
		b.ApplyDefaults(s)
	}
	if sq := m.Sequential; sq != nil {
		if sq.Alpha == 0 {
			sq.Alpha = DefaultAlpha
		}
		if sq.MinEffect == 0 {
			sq.MinEffect = DefaultMinEffect
		}
		if sq.MinSamples == 0 {
			sq.MinSamples = DefaultMinSamples
		}
	}
}

func setString(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

func setDuration(p *Duration, v time.Duration) {
	if p.Duration == 0 {
		p.Duration = v
	}
}

func setInt(p **int, v int) {
	if *p == nil {
		*p = &v
	}
}
