package gateway

import "github.com/coalmine-dev/coalmine/gateway/admin"

// The admin API's documents are defined once, in gateway/admin, which
// routers and metric providers import without the data plane. The server
// serves the same types under these names.
type (
	Backend     = admin.Backend
	HeaderMatch = admin.HeaderMatch
	Segment     = admin.Segment
	RouteState  = admin.RouteState
	RouteList   = admin.RouteList
	RouteUpdate = admin.RouteUpdate
	ErrorBody   = admin.ErrorBody
	Sticky      = admin.Sticky
	Duration    = admin.Duration
	Histogram   = admin.Histogram
	Moments     = admin.Moments
	Counts      = admin.Counts
	Quantiles   = admin.Quantiles
	Window      = admin.Window
	Series      = admin.Series
	Stats       = admin.Stats
)

// Roles, limits and paths of the admin API, from gateway/admin.
const (
	MaxBasisPoints = admin.MaxBasisPoints
	RoleStable     = admin.RoleStable
	RoleCanary     = admin.RoleCanary
	RoleShadow     = admin.RoleShadow
	RoleSentinel   = admin.RoleSentinel
	PathRoutes     = admin.PathRoutes
	PathStats      = admin.PathStats
)

// LatencyBucketsSeconds are the latency histogram's bucket bounds, from gateway/admin.
var LatencyBucketsSeconds = admin.LatencyBucketsSeconds
