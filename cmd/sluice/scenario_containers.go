//go:build containers

package main

// Scenario 8 (collectors as Docker containers) links the Docker client;
// only binaries built with -tags containers carry it.
import _ "github.com/sluicehq/sluice/scenarios/containers"
