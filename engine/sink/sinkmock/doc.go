// Package sinkmock holds go.uber.org/mock mocks of sink.Sink and
// sink.Processor, so that processor and runner tests can script a sink's
// answers call by call. Regenerate with `go generate ./engine/sink/sinkmock`
// after changing the interfaces (mockgen: go install go.uber.org/mock/mockgen).
package sinkmock

//go:generate mockgen -destination=mock.go -package=sinkmock -typed github.com/sluicehq/sluice/engine/sink Sink,Processor
