# ovnfwd — see README.md. `make demo` and `make test` are the two entry points.
SHELL := /bin/bash
GO ?= go
BIN := bin/ovnfwd
TESTBED := integration/testbed.sh
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
GOFLAGS_BUILD := -trimpath -ldflags "-X main.version=$(VERSION)"
# Integration tests share one real bed: run them one package at a time.
INTEGRATION_TIMEOUT ?= 20m

.PHONY: all build deps vet fmt generate test test-unit test-integration test-cluster fuzz fuzz-ci bench-outage bench-outage-quick \
        testbed-up testbed-single-up testbed-down testbed-status testbed-cluster-up testbed-incus-up test-incus testbed-incus-cluster-up test-incus-cluster testbed-ovn25-up test-ovn25 testbed-raft-up test-raft demo bench bench-quick bench-cluster clean

all: build

deps:
	$(GO) mod download

build: deps
	$(GO) build $(GOFLAGS_BUILD) -o $(BIN) ./cmd/ovnfwd

vet:
	$(GO) vet ./...
	$(GO) vet -tags integration ./integration/...
	$(GO) vet -tags benchprof ./cmd/ovnfwd
	$(GO) vet -tags bedbench ./engine
	$(GO) vet -tags bench ./integration/benchtool
	$(GO) vet -tags 'integration outagebench' ./integration/...

fmt:
	gofmt -l -w $$(git ls-files '*.go')

generate:
	$(GO) generate ./ovn/...

# Every test: unit tests with the race detector, the integration tests
# against the single-member bed (the faster mode; brought up if it is not
# running), then every integration test again on the three-member LXD
# cluster bed, with the cluster's own tests (the bed is switched to cluster
# mode for them and taken down after), then the compatibility jobs,
# then the single-member suite against a Raft OVN central over ssl.
test: deps vet test-unit fuzz-ci testbed-single-up test-integration test-cluster test-incus test-incus-cluster test-ovn25 test-raft

test-unit:
	$(GO) test -race -count=1 ./...
	$(GO) test -count=1 -tags bench ./integration/benchtool

# Fuzzing: every go test -fuzz target for FUZZTIME each (scripts/fuzz.sh);
# their seed corpora (*/testdata/fuzz/) already run in test-unit.
FUZZTIME ?= 30s
fuzz:
	bash scripts/fuzz.sh $(FUZZTIME)

fuzz-ci:
	bash scripts/fuzz.sh 5s

test-integration: build
	OVNFWD_BIN=$(CURDIR)/$(BIN) $(GO) test -tags integration -count=1 -p 1 -timeout $(INTEGRATION_TIMEOUT) -v -skip TestCluster ./integration/...

# The test bed: a three-member LXD 5.0.2 cluster (see testbed-cluster-up).
testbed-up: testbed-cluster-up

# The single-member bed, the faster mode: one LXD beside three chassis (a
# bed of another mode left up by test-cluster or by hand is taken down
# first: the modes share the namespaces). TB_STACK=incus and TB_OVN=25.03
# pick the stack by hand, as testbed-incus-up and testbed-ovn25-up do.
testbed-single-up:
	@if grep -qs '^TB_MODE=cluster\|^TB_STACK=incus\|^TB_OVN=25\|^TB_CENTRAL=raft' integration/.testbed/env || [ -n "$${TB_STACK:-}$${TB_OVN:-}$${TB_CENTRAL:-}" ]; then bash $(TESTBED) down; fi
	bash $(TESTBED) up

# The single-member bed on Incus 6.0 LTS (bookworm-backports) instead of
# LXD 5.0.2: the same OVN central and chassis, Incus in chassis 1.
testbed-incus-up:
	bash $(TESTBED) down
	TB_STACK=incus bash $(TESTBED) up

# The tests of ovnfwd's BGP speaker against BIRD alone (stop, kill, freeze,
# graceful restart, SB loss): they do not depend on the LXD/Incus stack or
# the OVN version, so the compatibility and raft jobs leave them to the
# single-member and cluster phases.
SPEAKER_ONLY := TestBGPStopAndKill|TestBGPGracefulRestart|TestBGPRoutesSurviveSBLoss

# The compatibility job (issue 18): the single-member integration suite
# against Incus, as the LXD suite runs it (but SPEAKER_ONLY).
test-incus: build testbed-incus-up
	OVNFWD_BIN=$(CURDIR)/$(BIN) OVNFWD_REQUIRE_STACK=incus $(GO) test -tags integration -count=1 -p 1 -timeout $(INTEGRATION_TIMEOUT) -v -skip 'TestCluster|$(SPEAKER_ONLY)' ./integration/...
	bash $(TESTBED) down

# The three-member cluster bed on Incus 6.0 LTS: one incusd per chassis
# namespace, joined with Incus's own tokens, the same physical uplink,
# router, client and busybox image as testbed-cluster-up.
testbed-incus-cluster-up:
	bash $(TESTBED) down
	TB_MODE=cluster TB_STACK=incus bash $(TESTBED) up

# The compatibility job (issue 18): the cluster's own tests (TestCluster*:
# one writer, takeover, restarts, traffic through forwards and gateway
# failover) on the Incus cluster.
test-incus-cluster: build testbed-incus-cluster-up
	OVNFWD_BIN=$(CURDIR)/$(BIN) OVNFWD_REQUIRE_CLUSTER=1 OVNFWD_REQUIRE_STACK=incus $(GO) test -tags integration -count=1 -p 1 -timeout $(INTEGRATION_TIMEOUT) -v -run 'TestCluster' ./integration/...
	bash $(TESTBED) down

# The single-member bed with OVN 25.03 and OVS 3.5 (Debian trixie, from a
# debootstrap root cached in integration/.testbed-cache/trixie) under LXD.
testbed-ovn25-up:
	bash $(TESTBED) down
	TB_OVN=25.03 bash $(TESTBED) up

# The compatibility job (issue 18): the single-member suite on OVN 25.03
# (but SPEAKER_ONLY).
test-ovn25: build testbed-ovn25-up
	OVNFWD_BIN=$(CURDIR)/$(BIN) OVNFWD_REQUIRE_OVN=25.03 $(GO) test -tags integration -count=1 -p 1 -timeout $(INTEGRATION_TIMEOUT) -v -skip 'TestCluster|$(SPEAKER_ONLY)' ./integration/...
	bash $(TESTBED) down

# The single-member bed with a Raft OVN central (issue 13): NB and SB are
# 3-member OVSDB clusters (Raft on 127.0.0.1 tcp ports), ovnfwd reaches them
# over ssl with the bed's own CA and CN-only certificates.
testbed-raft-up:
	bash $(TESTBED) down
	TB_CENTRAL=raft bash $(TESTBED) up

# The single-member suite through ssl against the Raft central, with the
# raft tests (TestRaft*: leader kill -9 during repair and under the daemon,
# certificates); OVNFWD_REQUIRE_CENTRAL makes it fail on another bed. Left
# to the other phases: route state (TestBGP*, TestRoute*, TestARP*: the
# central's topology does not enter it) and the 10,000-forward crash test
# (TestRaftLeaderKillDuringRepair is its raft counterpart).
test-raft: build testbed-raft-up
	OVNFWD_BIN=$(CURDIR)/$(BIN) OVNFWD_REQUIRE_CENTRAL=raft $(GO) test -tags integration -count=1 -p 1 -timeout $(INTEGRATION_TIMEOUT) -v -skip 'TestCluster|TestCrashMidRepair|TestBGP|TestRoute|TestARP' ./integration/...
	bash $(TESTBED) down

# The three-member LXD cluster bed (one LXD per chassis namespace, physical
# uplink on a shared segment, router and client namespaces, real containers).
testbed-cluster-up:
	bash $(TESTBED) down
	TB_MODE=cluster bash $(TESTBED) up

# Every integration test on the cluster bed: the cluster's own (TestCluster*)
# and the single-member suite, which runs there as member 1 (chassis 1).
test-cluster: build testbed-cluster-up
	OVNFWD_BIN=$(CURDIR)/$(BIN) OVNFWD_REQUIRE_CLUSTER=1 $(GO) test -tags integration -count=1 -p 1 -timeout $(INTEGRATION_TIMEOUT) -v ./integration/...
	bash $(TESTBED) down

testbed-down:
	bash $(TESTBED) down

testbed-status:
	bash $(TESTBED) status

# Installs everything, brings up the bed, and runs ovnfwd's main job on it.
demo: build testbed-single-up
	bash integration/demo.sh $(CURDIR)/$(BIN)

bench: build testbed-single-up
	bash integration/bench.sh full $(CURDIR)/$(BIN)

# Issue 16: one member's daemon vs three at idle (NB transactions, northd CPU).
bench-cluster: build testbed-cluster-up
	bash integration/bench-cluster.sh $(CURDIR)/$(BIN)

# Issue 17: traffic outage through a forward while the active gateway is
# killed (-9) and restarted, per mode (LXD alone, ovnfwd L2, ovnfwd BGP).
OUTAGE_KILLS ?= 10
OUTAGE_MODES ?= lxd,l2,bgp
bench-outage: build testbed-cluster-up
	OVNFWD_BIN=$(CURDIR)/$(BIN) OVNFWD_REQUIRE_CLUSTER=1 OUTAGE_KILLS=$(OUTAGE_KILLS) OUTAGE_MODES=$(OUTAGE_MODES) \
	  OUTAGE_REPORT=$(CURDIR)/integration/outage-results.md \
	  $(GO) test -tags 'integration outagebench' -count=1 -p 1 -timeout 45m -v -run TestOutageBench ./integration/
	bash $(TESTBED) down

bench-outage-quick:
	$(MAKE) bench-outage OUTAGE_KILLS=3

bench-quick: build testbed-single-up
	bash integration/bench.sh quick $(CURDIR)/$(BIN)

clean:
	rm -rf bin
