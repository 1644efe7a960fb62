// Package suite runs the upstream Gateway API conformance suite against Portico.
//
// It is driven by conformance/run.ts, which brings up the local cluster, starts
// Portico in Kubernetes mode and passes the flags of the upstream suite
// (sigs.k8s.io/gateway-api/conformance/utils/flags) after -args. This file only
// fills in what Portico always wants when a flag was not given: the
// implementation block of the report and the profiles Portico aims at.
// Supported features are not set here: the suite infers them from the
// GatewayClass status, so the report states exactly what Portico claims.
package suite

import (
	"os"
	"testing"

	"sigs.k8s.io/gateway-api/conformance"
	confv1 "sigs.k8s.io/gateway-api/conformance/apis/v1"
	"sigs.k8s.io/gateway-api/conformance/utils/suite"
)

// profiles are the Gateway profiles Portico claims; mesh is out of scope.
var profiles = []suite.ConformanceProfileName{
	suite.GatewayHTTPConformanceProfileName,
	suite.GatewayGRPCConformanceProfileName,
	suite.GatewayTLSConformanceProfileName,
	suite.GatewayTCPConformanceProfileName,
	suite.GatewayUDPConformanceProfileName,
}

func TestConformance(t *testing.T) {
	opts := conformance.DefaultOptions(t)
	if opts.Implementation.Organization == "" {
		opts.Implementation = confv1.Implementation{
			Organization: "portico",
			Project:      "portico",
			URL:          "https://github.com/portico-dev/portico",
			Version:      envOr("PORTICO_VERSION", "v0.1.0"),
			Contact:      []string{"@portico-dev/maintainers"},
		}
	}
	if len(opts.ConformanceProfiles) == 0 {
		opts.ConformanceProfiles = profiles
	}
	conformance.RunConformanceWithOptions(t, opts)
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
